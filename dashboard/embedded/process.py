"""One private redis-server process: a free loopback port or a unix socket, no persistence, stopped by its pid."""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from dashboard.embedded.binaries import RedisBinary, RedisServerError, default_redis_server

LOOPBACK = "127.0.0.1"

_Server = TypeVar("_Server", bound="EmbeddedRedis")


class RedisStartError(RedisServerError):
    """A server did not come up in time; the message carries the log tail."""


# --------------------------------------------------------------------------- ports


def free_port() -> int:
    """A currently free loopback port. Another process may take it before the server binds: the server retries then."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- registry

_LIVE: set[EmbeddedRedis] = set()
_LIVE_LOCK = threading.Lock()


@atexit.register
def _stop_everything() -> None:
    """Interpreter exit: stop every server nobody stopped (a failed test, a crash)."""
    with _LIVE_LOCK:
        leftovers = list(_LIVE)
    stop_all(leftovers, grace=2.0)


def stop_all(processes: Iterable[EmbeddedRedis], grace: float = 5.0) -> None:
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


def no_retry() -> Retry:
    # Startup probes must fail fast; redis-py 8 would otherwise back off and retry 10 times.
    return Retry(NoBackoff(), 0)


# --------------------------------------------------------------------------- one server


class EmbeddedRedis:
    """One private redis-server process on a free loopback port (or a unix socket).

    ``start()`` returns once it answers; ``stop()`` ends it (by pid) and removes
    its directory. Also a context manager.
    """

    kind = "redis"

    def __init__(
        self,
        binary: RedisBinary | None = None,
        *,
        port: int | None = None,
        unix_socket: bool = False,
        startup_timeout: float = 20.0,
    ) -> None:
        self.binary = binary or default_redis_server()
        self.host = LOOPBACK
        self.port = 0 if unix_socket else (port or 0)
        self.unix_socket: str | None = None
        self.startup_timeout = startup_timeout
        self._want_unix = unix_socket
        self._port_pinned = port is not None  # pinned ports are never swapped on a bind race
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._command_line: list[str] = []

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
        if self.unix_socket:
            return f"unix://{self._userinfo()}{self.unix_socket}"
        return f"redis://{self._userinfo()}{self.host}:{self.port}/0"

    def _userinfo(self) -> str:
        return ""  # the embedded server has no password

    def _state(self) -> str:
        return "running" if self.alive else "stopped"

    def __repr__(self) -> str:
        where = self.unix_socket or f"{self.host}:{self.port}"
        return f"<{type(self).__name__} {self.binary.label} {where} pid={self.pid} {self._state()}>"

    def client(self, **kwargs: Any) -> redis.Redis:
        """A new redis-py client for this server (the caller closes it)."""
        kwargs.setdefault("socket_timeout", 5)
        kwargs.setdefault("socket_connect_timeout", 5)
        if self.unix_socket:
            return redis.Redis(unix_socket_path=self.unix_socket, **kwargs)
        return redis.Redis(host=self.host, port=self.port, **kwargs)

    def log_tail(self, lines: int = 25) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # ---- lifecycle

    def start(self: _Server) -> _Server:
        self._launch()
        self.wait_ready()
        return self

    def stop(self, grace: float = 5.0) -> None:
        stop_all([self], grace=grace)

    def __enter__(self: _Server) -> _Server:
        if not self.alive:
            self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # ---- what to run (subclasses add to these)

    def _config_args(self) -> list[str]:
        args = ["--bind", LOOPBACK, "--port", str(self.port), "--daemonize", "no"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self._dir)]
        # 7.0 syncs replicas diskless after a 5 s delay by default: no reason to wait.
        args += ["--repl-diskless-sync-delay", "0"]
        if self.unix_socket:
            args += ["--unixsocket", self.unix_socket, "--unixsocketperm", "700"]
        return args

    def _command(self) -> list[str]:
        return [self.binary.path, *self._config_args()]

    def _free_port(self) -> int:
        return free_port()

    # ---- internals

    def _prepare(self) -> None:
        """Create the directory and pick the port/socket before the first launch."""
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix=f"tbdash-{self.kind}-"))
            if self._want_unix:
                self.unix_socket = self._socket_path()
        if self.port == 0 and not self._want_unix:
            self.port = self._free_port()

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
        with _LIVE_LOCK:
            _LIVE.add(self)

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
            with self.client(socket_timeout=1, socket_connect_timeout=1, retry=no_retry()) as probe:
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
        self._signal_group(signal.SIGCONT)  # a stopped (SIGSTOP) server only acts on SIGTERM once continued

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
        with _LIVE_LOCK:
            _LIVE.discard(self)
