"""Shared tools of the topology, fault, hostile-input and ACL/TLS tests.

Not a test module (no ``test_`` prefix): the test files import it by name (pytest
puts ``tests/`` on ``sys.path``), and so do the child processes the exactness
tests spawn. Everything here talks to real servers started by the fixtures.

What lives here:
- ``Tally``: thread-safe counts of outcomes, errors, the slowest call, and the
  unavailable window (first error -> first good decision) of a run under faults;
- ``bound`` / ``redis_now_us``: SPEC §2's exactness bound, timed with Redis ``TIME``
  on the node that holds the key;
- ``hammer`` / ``simultaneous``: drive a limiter from many threads;
- cluster helpers: which primary holds a key, moving a slot with live keys;
- ``make_certs`` / ``binary_supports_tls``: a private CA for the TLS tests;
- ``client_from_recipe``: rebuild a client inside a spawned process.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

from support.servers import wait_until as _wait_until
from limiter import BucketConfig, RedisLimiter
from limiter.errors import RedisUnavailable

FROZEN = dict(refill_count=1, refill_interval=3600.0)  # no refill within a test

# Short, explicit timeouts and one jittered retry: what limiter.connect gives a
# service by default (DEFAULT_RETRIES = 1), so the fault tests see what users see.
FAST = dict(socket_timeout=0.3, socket_connect_timeout=0.3)


def fast_retry() -> Retry:
    return Retry(ExponentialWithJitterBackoff(base=0.02, cap=0.2), 1)


def report(name: str, **figures: Any) -> None:
    """Print one line of figures (visible with ``pytest -s``), for the README."""
    shown = " ".join(f"{k}={_fmt(v)}" for k, v in figures.items())
    print(f"\nFIGURE {name}: {shown}", flush=True)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


# --------------------------------------------------------------------------- bounds and clocks


def bound(cfg: BucketConfig, elapsed_us: int) -> int:
    """SPEC §2: most grants a new bucket may give over ``elapsed_us`` microseconds."""
    return cfg.max_tokens + (elapsed_us // cfg.interval_us) * cfg.refill_count


def _time_us(reply: Any) -> int:
    seconds, micros = reply
    return int(seconds) * 1_000_000 + int(micros)


def redis_now_us(client: Any, key: str | None = None) -> int:
    """Redis ``TIME`` in microseconds, on the node that holds ``key`` (Cluster) or the primary."""
    if isinstance(client, RedisCluster):
        node = client.get_node_from_key(key) if key is not None else client.get_default_node()
        return _time_us(client.execute_command("TIME", target_nodes=node))
    return _time_us(client.time())


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll ``check`` until truthy; Redis errors count as "not yet"; AssertionError at the deadline."""
    return _wait_until(check, timeout, what, interval, error=AssertionError)


# --------------------------------------------------------------------------- running load


@dataclass
class Tally:
    """Outcomes of many concurrent limiter calls, with timing (thread-safe)."""

    granted: int = 0
    denied: int = 0
    fallback: Counter = field(default_factory=Counter)  # fail_mode -> count
    errors: Counter = field(default_factory=Counter)  # exception type name -> count
    unexpected: list[str] = field(default_factory=list)  # tracebacks of errors that are not RedisUnavailable
    per_user: Counter = field(default_factory=Counter)  # user -> grants
    slowest: float = 0.0
    calls: int = 0
    first_error: float | None = None  # monotonic time of the first failed call (error or fallback)
    last_error: float | None = None
    first_good_after_error: float | None = None  # end of the first good call that started after first_error
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, user: str, call: Callable[[], Any]) -> Any:
        started = time.monotonic()
        try:
            decision = call()
        except RedisUnavailable as exc:
            self._done(started, error=type(exc).__name__)
            return None
        except Exception as exc:  # noqa: BLE001 - every other error is a finding
            self._done(started, error=type(exc).__name__, trace="".join(traceback.format_exception(exc)))
            return None
        if decision.fail_mode is not None:
            self._done(started, fail_mode=decision.fail_mode)
        else:
            self._done(started, user=user, allowed=decision.allowed)
        return decision

    def _done(self, started: float, *, user: str | None = None, allowed: bool | None = None,
              error: str | None = None, trace: str | None = None, fail_mode: str | None = None) -> None:
        now = time.monotonic()
        with self._lock:
            self.calls += 1
            self.slowest = max(self.slowest, now - started)
            if error is not None or fail_mode is not None:
                if error is not None:
                    self.errors[error] += 1
                if trace is not None and len(self.unexpected) < 5:
                    self.unexpected.append(trace)
                if fail_mode is not None:
                    self.fallback[fail_mode] += 1
                if self.first_error is None:
                    self.first_error = started
                self.last_error = now
                return
            if allowed:
                self.granted += 1
                self.per_user[user] += 1
            else:
                self.denied += 1
            # Only a call that *started* after the first failure proves recovery: a
            # reply already on its way when the fault hit says nothing about it.
            if self.first_error is not None and self.first_good_after_error is None and started >= self.first_error:
                self.first_good_after_error = now

    @property
    def failed(self) -> int:
        return sum(self.errors.values()) + sum(self.fallback.values())

    @property
    def window(self) -> float | None:
        """Seconds from the first failed call to the first good decision after it."""
        if self.first_error is None or self.first_good_after_error is None:
            return None
        return self.first_good_after_error - self.first_error


def hammer(
    limiter: Any,
    users: list[str],
    *,
    threads: int,
    stop: threading.Event,
    tally: Tally,
    pause: float = 0.0,
) -> list[threading.Thread]:
    """Start ``threads`` threads calling ``try_acquire`` round-robin over ``users`` until ``stop``."""

    def run(index: int) -> None:
        i = index
        while not stop.is_set():
            user = users[i % len(users)]
            i += threads
            tally.record(user, lambda: limiter.try_acquire(user))
            if pause:
                time.sleep(pause)

    workers = [threading.Thread(target=run, args=(i,), daemon=True, name=f"hammer-{i}") for i in range(threads)]
    for w in workers:
        w.start()
    return workers


def join_all(workers: Iterable[threading.Thread], timeout: float) -> list[str]:
    """Join every thread within ``timeout`` seconds in all; the names of those still running."""
    deadline = time.monotonic() + timeout
    for w in workers:
        w.join(max(0.0, deadline - time.monotonic()))
    return [w.name for w in workers if w.is_alive()]


def simultaneous(call: Callable[[], Any], callers: int = 100) -> list[Any]:
    """Run ``call`` from ``callers`` threads released together by a barrier; the results."""
    barrier = threading.Barrier(callers)
    results: list[Any] = []
    lock = threading.Lock()

    def caller() -> None:
        barrier.wait()
        result = call()
        with lock:
            results.append(result)

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    for t in threads:
        t.start()
    stuck = join_all(threads, 60)
    assert not stuck, f"{len(stuck)} callers never returned"
    return results


# --------------------------------------------------------------------------- processes


def client_from_recipe(recipe: tuple[Any, ...]) -> Any:
    """A client built from plain data, so a spawned process can rebuild it.

    ``("redis", url)``, ``("sentinel", [(host, port), ...], service_name)`` or
    ``("cluster", [(host, port), ...])``.
    """
    kind = recipe[0]
    if kind == "redis":
        return redis.Redis.from_url(recipe[1], socket_timeout=5, socket_connect_timeout=5)
    if kind == "sentinel":
        sentinel = Sentinel(recipe[1], sentinel_kwargs={"socket_timeout": 2}, socket_timeout=5, socket_connect_timeout=5)
        return sentinel.master_for(recipe[2])
    if kind == "cluster":
        return RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in recipe[1]], socket_timeout=5, socket_connect_timeout=5)
    raise ValueError(f"unknown client recipe {kind!r}")


def process_hammer(recipe: tuple[Any, ...], user: str, threads: int, seconds: float, cfg_json: str, go: Any, out: Any) -> None:
    """Child process body: ``threads`` threads acquire ``user`` for ``seconds``.

    Puts (granted, denied, failed, unexpected tracebacks, first Redis TIME, last
    Redis TIME): every grant of this process happened between the two times.
    """
    cfg = BucketConfig.model_validate_json(cfg_json)
    client = client_from_recipe(recipe)
    lim = RedisLimiter(client, default=cfg)
    key = lim.key(user)
    lim.peek(user)  # connect (and read the slot map) before the start signal
    go.wait()
    first_us = redis_now_us(client, key)
    end = time.monotonic() + seconds
    tally = Tally()

    def run() -> None:
        while time.monotonic() < end:
            tally.record(user, lambda: lim.try_acquire(user))

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    last_us = redis_now_us(client, key)
    out.put((tally.granted, tally.denied, tally.failed, tally.unexpected[:1], first_us, last_us))
    client.close()


def processes_and_threads(recipe: tuple[Any, ...], cfg: BucketConfig, *, user: str = "shared",
                          processes: int = 2, threads: int = 4, seconds: float = 1.5) -> tuple[int, int, int, int]:
    """``processes`` x ``threads`` callers on one user; returns (granted, denied, bound, errors).

    The bound is timed with Redis TIME on the key's node: from the earliest
    start to the latest end that any process read, which covers every grant.
    """
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    out, go = ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=process_hammer, args=(recipe, user, threads, seconds, cfg.model_dump_json(), go, out))
        for _ in range(processes)
    ]
    for p in procs:
        p.start()
    go.set()
    try:
        results = [out.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    for r in results:
        assert not r[3], f"a child process saw an unexpected error:\n{r[3][0]}"
    elapsed_us = max(r[5] for r in results) - min(r[4] for r in results)
    return sum(r[0] for r in results), sum(r[1] for r in results), bound(cfg, elapsed_us), sum(r[2] for r in results)


# --------------------------------------------------------------------------- cluster


def cluster_node_id(node: Any) -> str:
    with node.client() as c:
        raw = c.execute_command("CLUSTER MYID")
    return raw.decode() if isinstance(raw, bytes) else raw


def keys_on(node: Any, pattern: str = "*") -> list[bytes]:
    """Every key one server holds (SCAN on that node alone)."""
    with node.client() as c:
        return list(c.scan_iter(match=pattern, count=1000))


def slot_owner(group: Any, slot: int) -> Any:
    """The primary process that serves ``slot`` (as the first primary sees it)."""
    with group.primaries[0].client() as c:
        for start, end, *nodes in c.execute_command("CLUSTER SLOTS"):
            if int(start) <= slot <= int(end):
                port = int(nodes[0][1])
                return next(p for p in group.primaries if p.port == port)
    raise AssertionError(f"slot {slot} is not served")


def migrate_slot(group: Any, slot: int, source: Any, target: Any, *, batch: int = 10, pause: float = 0.0) -> int:
    """Move ``slot`` from ``source`` to ``target`` by hand, as redis-cli --cluster reshard does.

    IMPORTING on the target, MIGRATING on the source, MIGRATE the keys in small
    batches (``pause`` seconds between batches keeps the slot half-moved for a
    while, so clients meet ASK), then SETSLOT NODE on the target, the source and
    every other primary. Returns the number of keys moved.
    """
    source_id, target_id = cluster_node_id(source), cluster_node_id(target)
    moved = 0
    with source.client(socket_timeout=10) as src, target.client(socket_timeout=10) as dst:
        dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", source_id)
        src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", target_id)
        while True:
            keys = src.execute_command("CLUSTER GETKEYSINSLOT", slot, batch)
            if not keys:
                break
            src.execute_command("MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", *keys)
            moved += len(keys)
            if pause:
                time.sleep(pause)
        dst.execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)
        src.execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)
    for other in group.primaries:
        if other is not source and other is not target:
            with other.client() as c:
                c.execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)
    return moved


def errorstats(nodes: Iterable[Any]) -> Counter:
    """INFO errorstats summed over ``nodes``: {"MOVED": n, "ASK": n, ...}."""
    total: Counter = Counter()
    for node in nodes:
        with node.client() as c:
            for name, value in c.info("errorstats").items():
                total[name.removeprefix("errorstat_")] += int(value["count"])
    return total


# --------------------------------------------------------------------------- TLS


def binary_supports_tls(path: str) -> bool:
    """Whether this redis-server was built with TLS (BUILD_TLS=yes).

    A TLS build accepts ``--tls-port`` and exits because it listens nowhere; a
    build without TLS rejects the directive as unknown.
    """
    out = subprocess.run([path, "--port", "0", "--tls-port", "0"], capture_output=True, text=True, timeout=15)
    text = out.stdout + out.stderr
    return "Bad directive" not in text


@dataclass
class Certs:
    ca: Path
    ca_key: Path
    cert: Path
    key: Path
    other_ca: Path  # a CA that did not sign the server certificate


def make_certs(directory: Path, *, server_names: Iterable[str] = ("localhost",), server_ips: Iterable[str] = ("127.0.0.1",)) -> Certs:
    """A private CA, a server certificate it signs (for the given names), and an unrelated CA."""
    directory.mkdir(parents=True, exist_ok=True)

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True, timeout=60)

    def ca(name: str) -> tuple[Path, Path]:
        ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN=tbdash test {name}",
            "-keyout", f"{name}.key", "-out", f"{name}.crt")
        return directory / f"{name}.crt", directory / f"{name}.key"

    ca_crt, ca_key = ca("ca")
    other_crt, _ = ca("other-ca")
    san = ",".join([*(f"DNS:{n}" for n in server_names), *(f"IP:{ip}" for ip in server_ips)])
    (directory / "ext.cnf").write_text(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=tbdash test server", "-keyout", "server.key", "-out", "server.csr")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "ext.cnf", "-out", "server.crt")
    os.chmod(directory / "server.key", 0o600)
    return Certs(ca_crt, ca_key, directory / "server.crt", directory / "server.key", other_crt)
