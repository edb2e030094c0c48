"""One deadline per decision: what a script call may take, connect, send, retry and reply together.

The deadline of a limiter's calls is, in order of precedence:

1. ``deadline=`` given to the limiter (seconds);
2. the client's ``socket_timeout`` (redis-py's per-reply timeout: the time the
   user already chose for "Redis did not answer");
3. none, when the client has no socket timeout either (a warning says so: a
   stalled Redis would then block every call).

Read from the client's settings, never written to them: the limiter does not
change how the client runs its other commands. `pool_size` is how many script
calls the limiter lets run at once on that client (its pool's
``max_connections``), so its own calls never exhaust the pool.
"""

from __future__ import annotations

import math
from typing import Any

REDIS_PY_POOL_SIZE = 100  # redis-py 8's default max_connections (pools and cluster nodes)


def connection_kwargs(client: Any) -> dict[str, Any]:
    """The settings every connection of ``client`` is made with ({} if unknown)."""
    pool = getattr(client, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None)
    if kwargs is None:
        # redis.cluster.RedisCluster keeps them on its nodes manager,
        # redis.asyncio.cluster.RedisCluster on itself.
        holder = getattr(client, "nodes_manager", client)
        kwargs = getattr(holder, "connection_kwargs", None)
    return kwargs if isinstance(kwargs, dict) else {}


def check_deadline(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    if isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or not math.isfinite(deadline) or deadline <= 0:
        raise ValueError(f"deadline must be a number of seconds > 0, or None (got {deadline!r})")
    return float(deadline)


def decision_deadline(client: Any, explicit: float | None) -> float | None:
    """Seconds one decision may take (see the module docstring); None: no deadline."""
    if explicit is not None:
        return check_deadline(explicit)
    timeout = connection_kwargs(client).get("socket_timeout")
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0:
        return float(timeout)
    return None


def pool_size(client: Any) -> int:
    """How many connections the client's pool (or each Cluster node's) may open."""
    size = getattr(getattr(client, "connection_pool", None), "max_connections", None)
    if size is None:
        size = connection_kwargs(client).get("max_connections")
    if isinstance(size, int) and size > 0:
        return size
    return REDIS_PY_POOL_SIZE
