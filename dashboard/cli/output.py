"""How the CLI writes: aligned tables, ASCII-safe JSON, and foreign text always escaped.

Text tbdash did not write (user ids, key names, audit fields, server messages)
goes through `dashboard.core.untrusted`: `shown` for text, `json_fields` for
JSON, so no control, bidi or undecodable byte reaches a terminal or a pipe.
"""

from __future__ import annotations

from typing import Any, Sequence

from rich.cells import cell_len

from dashboard.core.export import json_text as dumps  # one ASCII-safe JSON writer for the CLI and the exports
from dashboard.core.untrusted import is_utf8, json_fields, shown

__all__ = ["dumps", "json_fields", "json_safe", "shown", "table"]


def json_safe(value: Any) -> Any:
    """``value`` (foreign JSON, e.g. an audit entry's old/new) with every string valid Unicode.

    A string holding undecodable bytes (surrogateescape) is shown escaped; the
    rest is kept as it is.
    """
    if isinstance(value, str):
        return value if is_utf8(value) else shown(value)
    if isinstance(value, dict):
        return {json_safe(str(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * max(0, width - cell_len(text))
    return gap + text if right else text + gap


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    """Aligned columns, by terminal cells (wide characters count two); cells must already be safe (`shown`)."""
    widths = [max([cell_len(h)] + [cell_len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(_pad(h, w, r) for h, w, r in zip(headers, widths, right)).rstrip()]
    lines += ["  ".join(_pad(c, w, r) for c, w, r in zip(row, widths, right)).rstrip() for row in rows]
    return lines


def value_text(value: object) -> str:
    """One setting or state value as the CLI prints it (foreign values escaped)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return shown(str(value))
