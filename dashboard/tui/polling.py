"""Poll pacing: the refresh-interval steps and the retry backoff (pure, no widgets)."""

from __future__ import annotations

import asyncio

from redis import exceptions as rexc

from limiter.errors import RedisUnavailable

INTERVAL_STEPS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
BACKOFF_FIRST = 0.5
BACKOFF_CAP = 10.0


def step_interval(current: float, direction: int) -> float:
    """The next step faster (direction -1) or slower (+1) than ``current``."""
    if direction < 0:
        faster = [s for s in INTERVAL_STEPS if s < current - 1e-9]
        return faster[-1] if faster else INTERVAL_STEPS[0]
    slower = [s for s in INTERVAL_STEPS if s > current + 1e-9]
    return slower[0] if slower else INTERVAL_STEPS[-1]


def backoff(failures: int) -> float:
    """Seconds to wait before retry number ``failures`` (1, 2, …): 0.5, 1, 2, 4, 8, 10, 10, …"""
    return min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** max(0, failures - 1))


def is_disconnect(exc: BaseException) -> bool:
    """Redis could not be reached (vs. a poll that failed for another reason)."""
    if isinstance(exc, PermissionError):  # e.g. the core's ReadOnlyError: Redis is fine
        return False
    return isinstance(
        exc,
        (RedisUnavailable, rexc.ConnectionError, rexc.TimeoutError, ConnectionError, TimeoutError, asyncio.TimeoutError, OSError),
    )


def describe(exc: BaseException) -> str:
    """One line for the banner: what went wrong and where, never a class name, a client repr or a timeout
    for what was a refusal (`dashboard.core.failures.explain`)."""
    from dashboard.core.errors import CoreError
    from dashboard.core.failures import explain
    from dashboard.core.untrusted import shown

    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) and not isinstance(exc, rexc.RedisError) and not str(exc):
        return "the poll timed out"
    if isinstance(exc, CoreError):  # the core's own messages (read-only, no such bucket, ...)
        return shown(str(exc).strip().splitlines()[0]) if str(exc).strip() else type(exc).__name__
    return explain(exc).text
