"""The edit and load forms' helpers (pure functions, no widgets).

Parsing and validation live in `dashboard.core.inputs`, shared with the CLI so
the same value is accepted, or refused in the same words, in both; they are
re-exported here under their old names for the screens.
"""

from __future__ import annotations

from dashboard.core.inputs import (
    BUCKET_FIELDS,
    LOAD_FIELDS,
    MAX_LOAD_CONCURRENCY,
    MAX_LOAD_DURATION,
    MAX_LOAD_RATE,
    config_message,
    parse_int,
    parse_number,
    parse_seconds,
    validate_bucket,
    validate_load,
)
from limiter.config import BucketConfig

__all__ = [
    "BUCKET_FIELDS",
    "LOAD_FIELDS",
    "MAX_LOAD_CONCURRENCY",
    "MAX_LOAD_DURATION",
    "MAX_LOAD_RATE",
    "changes",
    "config_fields",
    "default_load",
    "parse_int",
    "parse_number",
    "parse_seconds",
    "validate_bucket",
    "validate_load",
]

_pydantic_message = config_message  # the old private name


def config_fields(config: BucketConfig) -> dict[str, str]:
    """How each setting is prefilled in the form."""
    return {
        "max_tokens": str(config.max_tokens),
        "burst": str(config.burst),
        "refill_count": str(config.refill_count),
        "refill_interval": f"{config.refill_interval:g}",
    }


def changes(old: BucketConfig, new: BucketConfig) -> list[tuple[str, str, str]]:
    """(field, old, new) for every setting that differs."""
    before, after = config_fields(old), config_fields(new)
    rows = [(f, before[f], after[f]) for f in BUCKET_FIELDS if getattr(old, f) != getattr(new, f)]
    for i, (f, b, a) in enumerate(rows):
        if f == "refill_interval":
            rows[i] = (f, f"{b}s", f"{a}s")
    return rows


def default_load(ceiling: int, rate_per_second: float) -> dict[str, str]:
    """A first load that shows something: 1.5 × what the bucket can give over 10 s (so it drains and denies)."""
    rate = min(5000.0, max(1.0, 1.5 * (ceiling / 10 + rate_per_second)))
    rate_text = f"{rate:.0f}" if rate >= 10 else f"{rate:g}"
    return {"rate": rate_text, "duration": "10", "concurrency": "4", "tokens": "1"}
