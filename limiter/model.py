"""The reference bucket model: pure integer functions of (settings, level, now).

`ConditionBucket` runs these functions directly; `limiter/lua/token_bucket.lua`
is a line-for-line port of them, and a differential test holds the two equal.
Time is in microseconds; tokens are whole numbers.

Refill is discrete: every ``interval_us``, ``refill_count`` tokens arrive.
The ``anchor_us`` of a level is the instant its current tick started, so the
part of an interval already elapsed carries over. A full bucket does not bank
ticks: once full, the anchor moves to ``now``. A change of settings keeps the
fraction of the current tick already elapsed (`change`).
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_SAFE_INT = 2**53 - 1  # largest integer a Lua (double) number holds exactly


@dataclass(frozen=True, slots=True)
class Settings:
    max_tokens: int
    burst: int
    refill_count: int
    interval_us: int

    @property
    def ceiling(self) -> int:
        return self.max_tokens + self.burst


@dataclass(frozen=True, slots=True)
class Level:
    tokens: int
    anchor_us: int


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


class InvalidTokenCount(ValueError, TypeError):
    """``n`` is not a whole number (a bool, a float, a string...): a TypeError and a ValueError."""


def check_n(n: int) -> int:
    """The one rule for ``n``, in both buckets: a whole number >= 1 (``int``, never ``bool``)."""
    if n.__class__ is not int:  # the usual case costs one comparison
        if isinstance(n, bool) or not isinstance(n, int):
            raise InvalidTokenCount(f"n must be a whole number >= 1 (got {n!r})")
    if n < 1:
        raise ValueError(f"n must be a whole number >= 1 (got {n!r})")
    return n


def fresh(settings: Settings, now_us: int) -> Level:
    """A new bucket: ``max_tokens`` tokens, its first tick starting now."""
    return Level(settings.max_tokens, now_us)


def refilled(tokens: int, anchor_us: int, ceiling: int, refill_count: int, interval_us: int, now_us: int) -> tuple[int, int]:
    """The refill rule on plain integers: ``(tokens, anchor_us)`` at ``now_us``.

    Whole ticks since the anchor are added, capped at the ceiling; a full
    bucket's tick starts at ``now_us`` (it banks nothing). The one statement of
    the rule in Python: `refill` and `ConditionBucket` use it, the Lua script
    and the dashboard's poller are ports of it held equal by tests.
    """
    if tokens >= ceiling:
        return ceiling, now_us
    elapsed = now_us - anchor_us
    if elapsed < interval_us:  # also a clock that stepped back: nothing arrives
        return tokens, anchor_us
    ticks = elapsed // interval_us
    tokens += ticks * refill_count
    if tokens >= ceiling:
        return ceiling, now_us
    return tokens, anchor_us + ticks * interval_us


def refill(level: Level, settings: Settings, now_us: int) -> Level:
    """The level at ``now_us``: whole ticks since the anchor added, capped at the ceiling."""
    return Level(*refilled(level.tokens, level.anchor_us, settings.ceiling, settings.refill_count, settings.interval_us, now_us))


def wait_us(level: Level, settings: Settings, n: int, now_us: int) -> int:
    """Microseconds from ``now_us`` until a refilled ``level`` holds ``n`` tokens (0 if it does)."""
    missing = n - level.tokens
    if missing <= 0:
        return 0
    ticks = ceil_div(missing, settings.refill_count)
    return level.anchor_us + ticks * settings.interval_us - now_us


def full_in_us(level: Level, settings: Settings, now_us: int) -> int:
    """Microseconds from ``now_us`` until a refilled ``level`` reaches the ceiling."""
    return wait_us(level, settings, settings.ceiling, now_us)


@dataclass(frozen=True, slots=True)
class Outcome:
    allowed: bool
    level: Level
    wait_us: int  # 0 when allowed


def take(level: Level, settings: Settings, n: int, now_us: int) -> Outcome:
    """All-or-nothing: take ``n`` tokens from the level refilled to ``now_us``.

    ``n`` must not exceed the ceiling; callers reject that before asking.
    """
    current = refill(level, settings, now_us)
    if current.tokens >= n:
        return Outcome(True, Level(current.tokens - n, current.anchor_us), 0)
    return Outcome(False, current, wait_us(current, settings, n, now_us))


def scaled_elapsed(elapsed_us: int, old: Settings, new: Settings) -> int:
    """``floor(elapsed × new_interval / old_interval)``: the same fraction of a tick, in new microseconds.

    Floor is the conservative direction: the first tick under the new settings
    never comes earlier than the fraction already elapsed allows. The Lua
    script computes the same exact integer (the product can exceed 2**53).
    """
    return elapsed_us * new.interval_us // old.interval_us


def change(level: Level, old: Settings, new: Settings, now_us: int) -> Level:
    """Settle at the old settings up to now, then switch: no tokens granted or taken retroactively.

    Tokens are clamped to the new ceiling; a bucket full under the new settings
    starts its tick at now. Otherwise the fraction of the current tick already
    elapsed carries into the first tick under the new settings (SPEC §2), so
    callers that alternate settings on every call still see the bucket refill,
    and no change brings a tick earlier than that fraction allows.

    A clock that stepped back (the anchor is in the future) counts as at most
    one tick not yet begun. The anchor stays within [0, 2**53), like every
    stored integer.
    """
    settled = refill(level, old, now_us)
    tokens = min(settled.tokens, new.ceiling)
    if tokens >= new.ceiling:
        return Level(tokens, now_us)
    elapsed = max(now_us - settled.anchor_us, -old.interval_us)
    anchor = now_us - scaled_elapsed(elapsed, old, new)
    return Level(tokens, min(max(anchor, 0), MAX_SAFE_INT))


# --------------------------------------------------------------------------- shadow settings


@dataclass(frozen=True, slots=True)
class Shadow:
    """A preview beside the enforced bucket: its own settings, level and counters (SPEC §2).

    It never decides an answer; it counts what its settings would have answered.
    """

    settings: Settings
    level: Level
    granted: int = 0
    denied: int = 0


def shadow_start(level: Level, enforced: Settings, settings: Settings, now_us: int) -> Shadow:
    """A shadow set at ``now_us``: the enforced level changed to ``settings`` exactly as `change` would, counters at 0."""
    return Shadow(settings, change(level, enforced, settings, now_us))


def shadow_take(shadow: Shadow, n: int, now_us: int) -> tuple[bool, Shadow]:
    """The shadow's answer to an acquire of ``n`` (one the enforced bucket took up), and the shadow after it.

    Its own refill, all or nothing; an ``n`` above its ceiling is a denial
    (the enforced bucket, whose ceiling allowed the call, is what answers).
    """
    current = refill(shadow.level, shadow.settings, now_us)
    if current.tokens >= n:
        return True, Shadow(shadow.settings, Level(current.tokens - n, current.anchor_us), shadow.granted + 1, shadow.denied)
    return False, Shadow(shadow.settings, current, shadow.granted, shadow.denied + 1)


def shadow_reset(shadow: Shadow, now_us: int) -> Shadow:
    """A reset refills the shadow too, to its own ``max_tokens``; its counters stay."""
    return Shadow(shadow.settings, fresh(shadow.settings, now_us), shadow.granted, shadow.denied)


def promote(level: Level, enforced: Settings, shadow: Shadow, now_us: int) -> Level:
    """The enforced level once the shadow's settings are promoted: a live change to them (settled first).

    The shadow's own tokens are not carried over: promoting changes the
    settings of the real bucket, as `change` does, and drops the shadow.
    """
    return change(level, enforced, shadow.settings, now_us)
