"""Durations as an operator types them — ``0.5``, ``250ms``, ``2s``, ``1m``, ``1h`` — for config.toml, the CLI and the forms.

It lives here, below the core, so a settings field can parse exactly what a
CLI flag or a form parses (`dashboard.core.inputs` re-exports `parse_seconds`).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_DURATION = re.compile(r"([-+]?[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)(us|µs|ms|s|min|m|h)?")


def parse_seconds(raw: str) -> float:
    """``1``, ``0.25``, ``250ms``, ``1.5s``, ``2m``, ``1h`` → seconds (range checks are the caller's)."""
    text = raw.strip().lower().replace(" ", "")
    if not text:
        raise ValueError("required")
    match = _DURATION.fullmatch(text)
    if not match:
        raise ValueError("must be a duration: seconds (0.5) or with a unit (250ms, 2s, 1m)")
    value = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if not math.isfinite(value):
        raise ValueError("must be a finite duration")
    return value


def _duration(value: Any) -> Any:
    """A settings value: a TOML number (seconds) as it is, a string parsed by `parse_seconds`."""
    if isinstance(value, str):
        try:
            return parse_seconds(value)
        except ValueError as exc:
            shown = value if len(value) <= 40 else value[:37] + "..."
            raise ValueError(f"{exc} (got {shown!r})") from None
    if isinstance(value, bool):
        raise ValueError(f"must be a duration: seconds (0.5) or with a unit (250ms, 2s, 1m) (got {value!r})")
    return value


# A settings field in seconds that also takes "250ms", "30s", "1m", "1h" (range checks via Field(ge=, le=)).
Duration = Annotated[float, BeforeValidator(_duration)]
