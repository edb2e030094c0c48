"""One bucket hash (the HMGET values, `limiter.layout.BUCKET_FIELDS` order) as a `BucketRow`.

Every rule the script applies to stored state is checked here (`build_row`),
and the level is computed as of Redis time with `limiter.model`, the rules'
one place in Python: a row shows what `RedisLimiter.peek` would see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from pydantic import ValidationError

from dashboard.core.protocol import BucketRow, ShadowRow
from dashboard.core.rates import Rates
from limiter.config import BucketConfig
from limiter.model import MAX_SAFE_INT, Level, Settings, ceil_div, change, refill, refilled


class ReadError(Exception):
    """A bucket hash that the script would refuse; the message is the reason."""


# --------------------------------------------------------------------------- values


def _lua_int(raw: object, lo: int) -> int:
    """A stored number as the script's ``int()`` reads it: plain decimal digits, in [lo, 2**53)."""
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, (bytes, str)) and raw.isascii() and raw.isdigit():
        value = int(raw)
    else:
        text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)
        raise ReadError(f"field value {text[:40]!r} is not a plain whole number")
    if value < lo or value > MAX_SAFE_INT:
        raise ReadError(f"field value {value} is out of range")
    return value


@dataclass(frozen=True, slots=True)
class _Config:
    settings: Settings
    config: BucketConfig


_config_cache: dict[tuple[object, ...], _Config | str] = {}


def _config_of(raw: tuple[object, object, object, object]) -> _Config:
    """Stored settings, validated once per distinct value (most buckets share a few)."""
    hit = _config_cache.get(raw)
    if hit is None:
        hit = _build_config(raw)
        if len(_config_cache) > 10_000:
            _config_cache.clear()  # hostile data must not grow it forever
        _config_cache[raw] = hit
    if isinstance(hit, str):
        raise ReadError(hit)
    return hit


def _build_config(raw: tuple[object, object, object, object]) -> _Config | str:
    try:
        mt, b, rc, iv = (_lua_int(raw[0], 1), _lua_int(raw[1], 0), _lua_int(raw[2], 1), _lua_int(raw[3], 1000))
    except ReadError:
        return "stored settings are not valid integers (max_tokens>=1 burst>=0 refill_count>=1 interval_us>=1000)"
    settings = Settings(mt, b, rc, iv)
    if settings.ceiling > MAX_SAFE_INT or ceil_div(settings.ceiling, rc) * iv > MAX_SAFE_INT:
        return "stored settings exceed 2^53"
    try:
        return _Config(settings, BucketConfig.from_settings(settings))
    except ValidationError as exc:
        return f"stored settings are not valid: {exc.errors()[0]['msg']}"


def _optional(raw: object) -> object:
    return b"0" if raw is None else raw


def _other_default(raw: object) -> BucketConfig | None:
    """The ``other_default`` field ("<max_tokens> <burst> <refill_count> <interval_us>"); None if absent."""
    if raw is None or raw == b"" or raw == "":
        return None
    parts = raw.split() if isinstance(raw, (bytes, str)) else ()
    if len(parts) != 4:
        raise ReadError("has a malformed other_default field; it was not written by tbdash")
    return _config_of(tuple(parts)).config  # type: ignore[arg-type]



def build_row(
    user: str,
    values: Sequence[object],
    pttl: int,
    now_us: int,
    default: Settings | None,
    rates: Rates | None,
    shadow_rates: Rates | None = None,
) -> BucketRow:
    """A `BucketRow` from the HMGET values (`limiter.layout.BUCKET_FIELDS` order); raises `ReadError`."""
    tokens_raw, anchor_raw, mt, b, rc, iv, operator_raw, granted_raw, denied_raw = values[:9]
    changes_raw, other_raw = (values[9], values[10]) if len(values) > 9 else (None, None)
    if tokens_raw is None and anchor_raw is None and mt is None:
        raise ReadError("is a hash without bucket fields; it was not written by tbdash")
    if tokens_raw is None or anchor_raw is None or mt is None or b is None or rc is None or iv is None:
        raise ReadError("has missing or non-numeric fields; it was not written by tbdash")
    cfg = _config_of((mt, b, rc, iv))
    try:
        tokens, anchor = _lua_int(tokens_raw, 0), _lua_int(anchor_raw, 0)
        operator = _lua_int(_optional(operator_raw), 0)
        granted, denied = _lua_int(_optional(granted_raw), 0), _lua_int(_optional(denied_raw), 0)
        changes = _lua_int(_optional(changes_raw), 0)
    except ReadError:
        raise ReadError("has missing or non-numeric fields; it was not written by tbdash") from None
    if operator > 1:
        raise ReadError("has missing or non-numeric fields; it was not written by tbdash")
    settings, config = cfg.settings, cfg.config
    if tokens > settings.ceiling:
        raise ReadError("holds more tokens than its ceiling; it was not written by tbdash")
    level = Level(tokens, anchor)
    if default is not None and operator == 0 and settings != default:
        # peek's rule: the caller's default replaces stored settings, settled first.
        level = change(level, settings, default, now_us)
        settings = default
        config = BucketConfig.from_settings(default)
    level = refill(level, settings, now_us)
    other = _other_default(other_raw)
    shadow = shadow_row(user, values[11], now_us, shadow_rates) if len(values) > 11 and values[11] is not None else None
    gps, dps = rates.update(user, granted, denied, now_us) if rates is not None else (None, None)
    return BucketRow(
        user=user,
        tokens=level.tokens,
        config=config,
        granted=granted,
        denied=denied,
        overridden=operator == 1,
        ttl_ms=pttl if pttl >= 0 else None,
        grants_per_s=gps,
        denials_per_s=dps,
        default_changes=changes,
        other_default=other,
        shadow=shadow,
        anchor_us=level.anchor_us,
    )


def shadow_row(user: str, raw: object, now_us: int, rates: Rates | None) -> ShadowRow:
    """The ``shadow`` field ("<max_tokens> <burst> <refill_count> <interval_us> <tokens> <anchor_us> <granted> <denied>")
    as the script reads it, its level refilled to ``now_us``; raises `ReadError` for what the script would refuse."""
    parts = raw.split() if isinstance(raw, (bytes, str)) else ()
    if len(parts) != 8:
        raise ReadError("has a corrupt shadow field; it was not written by tbdash")
    try:
        cfg = _config_of(tuple(parts[:4]))  # type: ignore[arg-type]
        tokens, anchor, granted, denied = (_lua_int(v, 0) for v in parts[4:])
    except ReadError:
        raise ReadError("has a corrupt shadow field; it was not written by tbdash") from None
    if tokens > cfg.settings.ceiling:
        raise ReadError("has a corrupt shadow field; it was not written by tbdash")
    gps, dps = rates.update(user, granted, denied, now_us) if rates is not None else (None, None)
    return ShadowRow(refill(Level(tokens, anchor), cfg.settings, now_us).tokens, cfg.config, granted, denied, gps, dps)


def tokens_now(tokens: int, anchor_us: int, settings: Settings, now_us: int) -> int:
    """The tokens of ``refill(Level(tokens, anchor_us), settings, now_us)``, without building `Level` objects
    (`limiter.model.refilled`, the rule's one statement, on plain integers: the poll's hot loop calls it so)."""
    return refilled(tokens, anchor_us, settings.ceiling, settings.refill_count, settings.interval_us, now_us)[0]


_ROW_SLOTS = tuple(
    getattr(BucketRow, name).__set__
    for name in ("user", "tokens", "config", "granted", "denied", "overridden", "ttl_ms", "grants_per_s", "denials_per_s",
                 "default_changes", "other_default", "shadow", "anchor_us")
)


def new_row(
    user: str,
    tokens: int,
    config: BucketConfig,
    granted: int,
    denied: int,
    overridden: bool,
    ttl_ms: int | None,
    grants_per_s: float | None,
    denials_per_s: float | None,
    default_changes: int = 0,
    other_default: BucketConfig | None = None,
    shadow: ShadowRow | None = None,
    anchor_us: int | None = None,
) -> BucketRow:
    """``BucketRow(...)`` (positional) at a third of the cost.

    A frozen dataclass sets each field through ``object.__setattr__``; filling
    the slots directly is the same object, 100,000 times a poll cheaper. A
    test checks it equals the normal constructor.
    """
    row = object.__new__(BucketRow)
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12 = _ROW_SLOTS
    s0(row, user)
    s1(row, tokens)
    s2(row, config)
    s3(row, granted)
    s4(row, denied)
    s5(row, overridden)
    s6(row, ttl_ms)
    s7(row, grants_per_s)
    s8(row, denials_per_s)
    s9(row, default_changes)
    s10(row, other_default)
    s11(row, shadow)
    s12(row, anchor_us)
    return row
