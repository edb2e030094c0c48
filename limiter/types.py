"""What the Redis limiter returns: `Decision` for an acquire, `BucketState` for a peek."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from limiter.config import BucketConfig


class Decision(NamedTuple):
    """The answer to one acquire.

    ``remaining``: tokens left after this call (refill applied as of Redis time).
    ``retry_after``: seconds until ``n`` tokens will be there; 0.0 when allowed.
    ``limit``: the bucket's ceiling (``max_tokens + burst``).
    ``fail_mode``: set only when Redis was unreachable and ``on_error`` chose the answer.
    ``shadow_allowed``: what the bucket's shadow settings would have answered; None
    when it has none (or the answer did not come from Redis).

    A named tuple (cheap to build on the hot path); true when allowed.
    """

    allowed: bool
    remaining: int
    retry_after: float
    limit: int
    fail_mode: str | None = None
    shadow_allowed: bool | None = None

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True, slots=True)
class ShadowState:
    """A bucket's shadow settings (a preview) as of the same Redis time as its `BucketState`.

    ``tokens``: the shadow bucket's own level, refill applied; ``granted`` and
    ``denied``: what the shadow settings answered to the acquires since it was set.
    """

    tokens: int
    config: BucketConfig
    granted: int
    denied: int
    anchor_us: int = 0  # the shadow's clock anchor (its current tick started then)


@dataclass(frozen=True, slots=True)
class BucketState:
    """A read-only view of one bucket as of Redis time ``now_us``."""

    user: str
    tokens: int
    config: BucketConfig
    granted: int
    denied: int
    overridden: bool  # operator settings are in force (and persist)
    now_us: int
    anchor_us: int
    ttl_ms: int | None = None  # None: the state persists; filled by the dashboard's poller
    # Callers that disagree: how many times a caller's default replaced a different
    # stored default, and the last default so replaced (None if it never happened).
    default_changes: int = 0
    other_default: BucketConfig | None = None
    shadow: ShadowState | None = None  # shadow settings being previewed, if any
