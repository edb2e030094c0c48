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
    """One line for the banner."""
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) and not str(exc):
        return "the poll timed out"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    return f"{name}: {text}" if text and not isinstance(exc, RedisUnavailable) else (text or name)
