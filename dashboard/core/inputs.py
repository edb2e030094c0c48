"""What an operator types, parsed and validated once for the CLI and the dashboard's forms.

Pure functions, no widgets, no argparse. Each validator returns the value or
a dict of messages keyed by field name ("" for a whole-form problem), so a
form shows each message next to its field and the CLI prefixes it with the
flag: the same bad value reads the same in both. Bucket settings are judged
by `limiter.BucketConfig` itself, so neither can accept what the library
refuses; load requests by the load generator's own `check_spec`.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

from pydantic import ValidationError

from dashboard.core.errors import LoadSpecError
from dashboard.core.loadgen import MAX_CONCURRENCY, MAX_DURATION, MAX_RATE, check_spec
from dashboard.core.protocol import LoadSpec
from dashboard.settings.durations import parse_seconds  # one duration syntax for config.toml, flags and forms
from limiter.config import BucketConfig

BUCKET_FIELDS = ("max_tokens", "burst", "refill_count", "refill_interval")
LOAD_FIELDS = ("rate", "duration", "concurrency", "tokens")

# The load generator's own limits, under the names the forms use.
MAX_LOAD_RATE, MAX_LOAD_DURATION, MAX_LOAD_CONCURRENCY = MAX_RATE, MAX_DURATION, MAX_CONCURRENCY


def parse_int(raw: str) -> int:
    """A whole number; ``_`` and ``,`` may group digits (``10_000``, ``10,000``)."""
    text = raw.strip().replace("_", "").replace(",", "")
    if not text:
        raise ValueError("required")
    if not re.fullmatch(r"[-+]?[0-9]+", text):
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


def config_message(error: Mapping[str, object]) -> str:
    """A pydantic error of `BucketConfig` in the words the forms and the CLI use."""
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    message = re.sub(r"^Input should be ", "must be ", message)
    message = message.replace("greater than or equal to", "at least").replace("less than or equal to", "at most")
    return message


def validate_bucket(raw: Mapping[str, str], base: BucketConfig | None = None) -> tuple[BucketConfig | None, dict[str, str]]:
    """Settings typed as strings → a `BucketConfig`, or messages by field ("" is a whole-form message).

    A field missing from ``raw`` keeps its value from ``base`` (the CLI changes
    only the flags given); without ``base`` every field is required.
    """
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for field in BUCKET_FIELDS:
        if field not in raw and base is not None:
            values[field] = getattr(base, field)
            continue
        parse = parse_seconds if field == "refill_interval" else parse_int
        try:
            values[field] = parse(raw.get(field, ""))
        except ValueError as exc:
            errors[field] = str(exc)
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
            errors.setdefault(field, config_message(error))
        return None, errors
    return (None, errors) if errors else (config, {})


def validate_load(raw: Mapping[str, str], *, user: str, ceiling: int | None) -> tuple[LoadSpec | None, dict[str, str]]:
    """A load request typed as strings → a `LoadSpec`, or messages by field.

    ``ceiling`` (max_tokens + burst of the bucket) refuses a request size that
    can never be granted; None when it is not known yet (the CLI, before it connects).
    """
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
        elif ceiling is not None and tokens > ceiling:
            errors["tokens"] = f"can never be granted: the ceiling is {ceiling}"
    except ValueError as exc:
        errors["tokens"] = str(exc)
    if errors:
        return None, errors
    spec = LoadSpec(user=user, rate=rate, duration=duration, concurrency=concurrency, tokens=tokens)
    try:
        check_spec(spec)  # the load generator's own check: never accept what it refuses
    except LoadSpecError as exc:
        if exc.field not in LOAD_FIELDS:
            return None, {"rate": str(exc)}
        return None, {exc.field: str(exc).removeprefix(exc.field).strip()}
    return spec, {}


def validate_limit(raw: str, *, most: int) -> tuple[int | None, str]:
    """A count of entries to show: a whole number from 1 to ``most``; (value, "") or (None, message)."""
    try:
        value = parse_int(raw)
    except ValueError as exc:
        return None, str(exc)
    if not 1 <= value <= most:
        return None, f"must be 1 … {most:,}"
    return value, ""
