"""Parsing and validation of the edit and load forms (pure functions, no widgets).

Each returns the value or a dict of error messages keyed by field name, so the
screens can show every error next to its field. Bucket settings are validated
by `limiter.BucketConfig` itself: the form and the library cannot disagree.
"""

from __future__ import annotations

import math
import re

from pydantic import ValidationError

from dashboard.core.protocol import LoadSpec
from limiter.config import BucketConfig

BUCKET_FIELDS = ("max_tokens", "burst", "refill_count", "refill_interval")
LOAD_FIELDS = ("rate", "duration", "concurrency", "tokens")

MAX_LOAD_RATE = 50_000.0  # the load generator's own limits (dashboard.core.loadgen)
MAX_LOAD_DURATION = 3600.0
MAX_LOAD_CONCURRENCY = 1000

_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_seconds(raw: str) -> float:
    """``1``, ``0.25``, ``250ms``, ``1.5s``, ``2m``, ``1h`` → seconds."""
    text = raw.strip().lower().replace(" ", "")
    match = re.fullmatch(r"([0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)(us|µs|ms|s|min|m|h)?", text)
    if not match:
        raise ValueError("must be a duration: seconds (0.5) or with a unit (250ms, 2s, 1m)")
    value = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if not math.isfinite(value):
        raise ValueError("must be a finite duration")
    return value


def parse_int(raw: str) -> int:
    text = raw.strip().replace("_", "").replace(",", "")
    if not text:
        raise ValueError("required")
    if not re.fullmatch(r"[-+]?[0-9]+", text):
        if re.fullmatch(r"[-+]?[0-9]*\.[0-9]+", text):
            raise ValueError("must be a whole number")
        raise ValueError("must be a whole number")
    return int(text)


def parse_number(raw: str) -> float:
    text = raw.strip().replace("_", "").replace(",", "")
    if not text:
        raise ValueError("required")
    try:
        value = float(text)
    except ValueError:
        raise ValueError("must be a number") from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _pydantic_message(error: dict) -> str:
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    message = re.sub(r"^Input should be ", "must be ", message)
    message = message.replace("greater than or equal to", "at least").replace("less than or equal to", "at most")
    return message


def validate_bucket(raw: dict[str, str]) -> tuple[BucketConfig | None, dict[str, str]]:
    """The form's strings → a `BucketConfig`, or errors by field ("" is a whole-form error)."""
    errors: dict[str, str] = {}
    values: dict[str, object] = {}
    for field in ("max_tokens", "burst", "refill_count"):
        try:
            values[field] = parse_int(raw.get(field, ""))
        except ValueError as exc:
            errors[field] = str(exc)
    try:
        values["refill_interval"] = parse_seconds(raw.get("refill_interval", ""))
    except ValueError as exc:
        errors["refill_interval"] = str(exc)
    # Fields that did not parse get a harmless stand-in, so BucketConfig still judges the others.
    stand_in = {"max_tokens": 1, "burst": 0, "refill_count": 1, "refill_interval": 1.0}
    try:
        config = BucketConfig(**{f: values.get(f, stand_in[f]) for f in BUCKET_FIELDS})
    except ValidationError as exc:
        for error in exc.errors():
            loc = error.get("loc") or ("",)
            field = str(loc[0]) if loc and loc[0] in BUCKET_FIELDS else ""
            if field == "" and errors:
                continue  # a whole-form rule says nothing useful until every field parses
            errors.setdefault(field, _pydantic_message(error))
        return None, errors
    return (None, errors) if errors else (config, {})


def validate_load(raw: dict[str, str], *, user: str, ceiling: int) -> tuple[LoadSpec | None, dict[str, str]]:
    """The load form's strings → a `LoadSpec`, or errors by field."""
    errors: dict[str, str] = {}
    rate = duration = 0.0
    concurrency = tokens = 0
    try:
        rate = parse_number(raw.get("rate", ""))
        if not 0 < rate <= MAX_LOAD_RATE:
            errors["rate"] = f"must be more than 0 and at most {MAX_LOAD_RATE:,.0f} requests/s"
    except ValueError as exc:
        errors["rate"] = str(exc)
    try:
        duration = parse_seconds(raw.get("duration", ""))
        if not 0 < duration <= MAX_LOAD_DURATION:
            errors["duration"] = "must be more than 0 and at most 1h"
    except ValueError as exc:
        errors["duration"] = str(exc)
    try:
        concurrency = parse_int(raw.get("concurrency", ""))
        if not 1 <= concurrency <= MAX_LOAD_CONCURRENCY:
            errors["concurrency"] = f"must be 1 … {MAX_LOAD_CONCURRENCY}"
    except ValueError as exc:
        errors["concurrency"] = str(exc)
    try:
        tokens = parse_int(raw.get("tokens", ""))
        if tokens < 1:
            errors["tokens"] = "must be at least 1"
        elif tokens > ceiling:
            errors["tokens"] = f"can never be granted: the ceiling is {ceiling}"
    except ValueError as exc:
        errors["tokens"] = str(exc)
    if errors:
        return None, errors
    spec = LoadSpec(user=user, rate=rate, duration=duration, concurrency=concurrency, tokens=tokens)
    try:  # the load generator's own check, so the form never accepts what it would refuse
        from dashboard.core.loadgen import check_spec
    except ImportError:  # pragma: no cover - the core is part of the package
        return spec, {}
    try:
        check_spec(spec)
    except ValueError as exc:
        message = str(exc)
        field = next((f for f in LOAD_FIELDS if message.startswith(f"{f} must")), None)
        if field is None:
            return None, {"rate": message}
        return None, {field: message.removeprefix(field).strip()}
    return spec, {}


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
