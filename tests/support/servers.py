"""Redis servers for the tests: the product's `EmbeddedRedis` plus passwords, replication, cluster mode and faults.

``RedisProcess`` adds what only tests need: ``requirepass`` (kept out of argv),
``replicaof``, cluster mode, ``DEBUG``, extra arguments, and fault injection
(``pause()``/``resume()`` = SIGSTOP/SIGCONT, ``kill()`` = SIGKILL, ``restart()``
on the same port with empty data). ``SentinelProcess`` is one sentinel.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import redis

from dashboard.embedded import (
    LOOPBACK,
    EmbeddedRedis,
    RedisBinary,
    RedisServerError,
    RedisStartError,
    free_port,
    no_retry,
    stop_all,
)

__all__ = ["LOOPBACK", "RedisProcess", "SentinelProcess", "cluster_free_port", "no_retry", "stop_all", "userinfo", "wait_until"]

CLUSTER_BUS_OFFSET = 10000  # 6.2 has no `cluster-port`: the bus is always port + 10000

_T = TypeVar("_T")


def cluster_free_port() -> int:
    """A free loopback port whose cluster bus port (+10000) is free too."""
    for _ in range(100):
        port = free_port()
        bus = port + CLUSTER_BUS_OFFSET
        if bus <= 65535 and _port_is_free(bus):
            return port
    raise RedisServerError("could not find a free loopback port")


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def wait_until(
    check: Callable[[], _T | None],
    timeout: float,
    what: str,
    interval: float = 0.05,
    error: type[Exception] = RedisStartError,
) -> _T:
    """Poll ``check`` until it returns a truthy value; Redis errors count as "not yet"; ``error`` at the deadline."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
            if result:
                return result
            last = result
        except (redis.RedisError, OSError) as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise error(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def conf_quote(value: str) -> str:
    """A redis.conf string literal (secrets go in a file, never on the command line)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def userinfo(password: str | None) -> str:
    return f":{quote(password, safe='')}@" if password else ""


class RedisProcess(EmbeddedRedis):
    """`EmbeddedRedis` with a password, replication, cluster mode, DEBUG, extra args and fault injection."""

    def __init__(
        self,
        binary: RedisBinary | None = None,
        *,
        port: int | None = None,
        unix_socket: bool = False,
        password: str | None = None,
        replica_of: tuple[str, int] | None = None,
        cluster: bool = False,
        cluster_node_timeout_ms: int = 2000,
        debug_command: bool = False,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 20.0,
    ) -> None:
        super().__init__(binary, port=port, unix_socket=unix_socket, startup_timeout=startup_timeout)
        self.password = password
        self.replica_of = replica_of
        self.cluster = cluster
        self.cluster_node_timeout_ms = cluster_node_timeout_ms
        self.debug_command = debug_command
        self.extra_args = list(extra_args)
        self._paused = False

    @property
    def paused(self) -> bool:
        return self._paused

    def _userinfo(self) -> str:
        # The url then carries the password: do not print it (``repr`` hides it).
        return userinfo(self.password)

    def _state(self) -> str:
        return "paused" if self._paused else super()._state()

    def client(self, **kwargs: Any) -> redis.Redis:
        if self.password is not None:
            kwargs.setdefault("password", self.password)
        return super().client(**kwargs)

    # ---- faults

    def kill(self) -> None:
        """SIGKILL, like a crash. The directory stays, so ``restart()`` works."""
        self._signal_group(signal.SIGKILL)
        if self._proc is not None:
            self._proc.wait()
        self._paused = False

    def pause(self) -> None:
        """SIGSTOP: the port stays open but nothing answers (a hung server)."""
        self._signal_group(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        self._signal_group(signal.SIGCONT)
        self._paused = False

    def restart(self) -> RedisProcess:
        """Stop (if running) and start again on the same port. Data is gone (no persistence)."""
        if self.alive:
            self._send_terminate()
            self._reap(time.monotonic() + 5.0)
        self._port_pinned = True
        self.start()
        return self

    # ---- what to run

    def _config_args(self) -> list[str]:
        args = super()._config_args()
        if self.replica_of:
            args += ["--replicaof", self.replica_of[0], str(self.replica_of[1])]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{self.port}.conf"]
            args += ["--cluster-node-timeout", str(self.cluster_node_timeout_ms)]
        if self.debug_command and self.binary.at_least(7, 0):
            args += ["--enable-debug-command", "yes"]  # 6.2 allows DEBUG always, and rejects this flag
        return args + self.extra_args

    def _command(self) -> list[str]:
        args = self._config_args()
        if self.password is None:
            return [self.binary.path, *args]
        pw = conf_quote(self.password)  # masterauth: a primary may become a replica
        conf = self._write_private(f"{self.kind}.conf", f"requirepass {pw}\nmasterauth {pw}\n")
        return [self.binary.path, str(conf), *args]

    def _free_port(self) -> int:
        return cluster_free_port() if self.cluster else super()._free_port()

    def _write_private(self, name: str, text: str) -> Path:
        assert self._dir is not None
        path = self._dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        return path

    def _send_terminate(self) -> None:
        super()._send_terminate()
        self._paused = False


class SentinelProcess(RedisProcess):
    """``redis-server sentinel.conf --sentinel`` watching one primary."""

    kind = "sentinel"

    def __init__(
        self,
        binary: RedisBinary | None = None,
        *,
        service_name: str,
        primary: tuple[str, int],
        quorum: int = 2,
        primary_password: str | None = None,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
        startup_timeout: float = 20.0,
    ) -> None:
        super().__init__(binary, startup_timeout=startup_timeout)
        self.service_name = service_name
        self.primary = primary
        self.quorum = quorum
        self.primary_password = primary_password
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms

    def _command(self) -> list[str]:
        assert self._dir is not None
        conf = self._dir / "sentinel.conf"
        # Sentinel rewrites its file (myid, discovered peers): write it once, so a
        # restarted sentinel keeps what it learnt, like a real one.
        if not conf.exists():
            self._write_private(conf.name, self._sentinel_conf())
        return [self.binary.path, str(conf), "--sentinel"]

    def _sentinel_conf(self) -> str:
        name = self.service_name
        lines = [
            f"port {self.port}",
            f"bind {LOOPBACK}",
            "daemonize no",
            f"dir {conf_quote(str(self._dir))}",
            # Directives accepted by both 6.2 and 7.0.
            f"sentinel monitor {name} {self.primary[0]} {self.primary[1]} {self.quorum}",
            f"sentinel down-after-milliseconds {name} {self.down_after_ms}",
            f"sentinel failover-timeout {name} {self.failover_timeout_ms}",
            f"sentinel parallel-syncs {name} 1",
        ]
        if self.primary_password is not None:
            lines.append(f"sentinel auth-pass {name} {conf_quote(self.primary_password)}")
        return "\n".join(lines) + "\n"

    def _lost_bind_race(self) -> bool:
        lost = super()._lost_bind_race()
        if lost and self._dir is not None:
            (self._dir / "sentinel.conf").unlink(missing_ok=True)  # the port is written in it
        return lost
