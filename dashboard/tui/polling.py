"""Poll pacing: the refresh-interval steps, the retry backoff, and the probe that notices a server coming back (no widgets)."""

from __future__ import annotations

import asyncio

from redis import exceptions as rexc

from dashboard.core.errors import CoreError
from dashboard.core.failures import explain
from dashboard.core.untrusted import shown
from limiter.errors import RedisUnavailable

INTERVAL_STEPS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
BACKOFF_FIRST = 0.5
BACKOFF_CAP = 10.0
# While Redis is unreachable, a bare TCP connect (no command, no AUTH) this often tells
# when it is back, so the next poll need not wait out the backoff.
PROBE_EVERY = 1.0


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
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) and not isinstance(exc, rexc.RedisError) and not str(exc):
        return "the poll timed out"
    if isinstance(exc, CoreError):  # the core's own messages (read-only, no such bucket, ...)
        return shown(str(exc).strip().splitlines()[0]) if str(exc).strip() else type(exc).__name__
    return explain(exc).text


def probe_address(server: str) -> tuple[str, int] | str | None:
    """Where to probe: ``(host, port)``, a unix socket path, or None when ``server`` names no one address
    (a Cluster's "3 primaries", a Sentinel service before its primary is known)."""
    if server.startswith("unix:"):
        return server[len("unix:") :] or None
    host, sep, port = server.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not host or any(c in host for c in " ,/"):
        return None
    return host, int(port)


async def reachable(address: tuple[str, int] | str, timeout: float = PROBE_EVERY) -> bool:
    """Does anything accept a connection there? Opened and closed at once: the server sees no command."""
    try:
        if isinstance(address, str):
            _, writer = await asyncio.wait_for(asyncio.open_unix_connection(address), timeout)
        else:
            _, writer = await asyncio.wait_for(asyncio.open_connection(*address), timeout)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True
