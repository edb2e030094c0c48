"""``python -m benchmarks --profile``: where the time of tbdash's ``try_acquire`` goes.

Single thread. Three views:

1. A cost ladder: variants that add one thing at a time between the floor and
   the real call, measured interleaved (every variant once per round, many
   short rounds) and reported as the fastest round: noise only ever adds time,
   so the minimum is the best estimate of a call's own cost. For Redis, the server's
   own time per call (``INFO commandstats``, reset around each batch) is shown
   beside the client's, which separates the Lua work from the client work.
2. The Python pieces on their own (no I/O), e.g. building the request id or
   the ``Decision``.
3. cProfile of the real call, top functions by own time.

The variants are measuring devices only (scripts and helpers written here);
nothing in ``limiter/`` is changed.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import threading
import time
from collections.abc import Callable

from benchmarks.floors import TYPICAL_TOKEN_BUCKET_LUA

# The typical token-bucket script (benchmarks/floors.py): the Redis floor.
MINIMAL_BUCKET_LUA = TYPICAL_TOKEN_BUCKET_LUA

# The Redis commands of token_bucket.lua's lean path for one granted consume within a
# tick (no expiry to move), with no Lua logic around them, and a constant reply of its
# shape. The gap between this and the real script is the cost of its Lua logic.
COMMANDS_ONLY_LUA = """
local t = redis.call('TIME')
local h = redis.call('HMGET', KEYS[1], 'tokens', 'anchor_us', 'default', 'operator', 'granted', 'denied')
redis.call('HSET', KEYS[1], 'tokens', '999999', 'granted', '1', 'req', ARGV[4] .. ' 1 0')
return '0 1 999999 0 1000000 1732870000000000'
"""

# A constant reply with the shape of peek's (13 integers), and a
# slim one with just what a Decision needs (allowed, remaining, wait, ceiling).
THIRTEEN_INTS_LUA = "return {0, 1, 999999, 0, 1000000, 0, 1000, 1000, 123456, 0, 0, 1732870000000000, 1732870000000000}"
FOUR_INTS_LUA = "return {1, 999999, 0, 1000000}"


def _per_call_us(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def _ladder(
    variants: list[tuple[str, Callable[[], object]]],
    calls: int,
    rounds: int,
    server_us: Callable[[Callable[[], float]], tuple[float, float | None]] | None = None,
) -> list[tuple[str, float, float | None]]:
    """(label, client µs/call, server µs/call or None): the fastest of the interleaved rounds."""
    client: dict[str, list[float]] = {label: [] for label, _ in variants}
    server: dict[str, list[float]] = {label: [] for label, _ in variants}
    for label, fn in variants:  # warm-up
        _per_call_us(fn, max(1, calls // 4))
    for r in range(rounds):
        order = variants[r % len(variants):] + variants[: r % len(variants)]
        for label, fn in order:
            if server_us is None:
                client[label].append(_per_call_us(fn, calls))
            else:
                c_us, s_us = server_us(lambda fn=fn: _per_call_us(fn, calls))
                client[label].append(c_us)
                if s_us is not None:
                    server[label].append(s_us)
    return [(label, min(client[label]), min(server[label]) if server[label] else None) for label, _ in variants]


def _ladder_table(rows: list[tuple[str, float, float | None]], with_server: bool) -> str:
    base = rows[0][1]
    head = "| variant (1 thread; fastest round) | µs/call | + vs floor | × floor |" + (" server µs/call |" if with_server else "")
    sep = "|---|---:|---:|---:|" + ("---:|" if with_server else "")
    lines = [head, sep]
    for label, us, s_us in rows:
        line = f"| {label} | {us:.2f} | {us - base:+.2f} | {base / us:.2f} |"
        if with_server:
            line += " – |" if s_us is None else f" {s_us:.1f} |"
        lines.append(line)
    return "\n".join(lines)


def _pieces_table(pieces: list[tuple[str, Callable[[], object]]], calls: int, rounds: int) -> str:
    rows = _ladder(pieces, calls, rounds)
    lines = ["| piece (no I/O; fastest round) | µs/call |", "|---|---:|"]
    lines += [f"| {label} | {us:.3f} |" for label, us, _ in rows]
    return "\n".join(lines)


def _cprofile(fn: Callable[[], object], calls: int, top: int = 14) -> str:
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(calls):
        fn()
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    text = buf.getvalue()
    # Keep the table part only.
    at = text.find("ncalls")
    return "```\n" + f"{calls} calls\n" + (text[at:] if at >= 0 else text).rstrip() + "\n```"


# --------------------------------------------------------------------------- Redis


def redis_profile(client, quick: bool = False) -> str:
    from limiter import BucketConfig, RedisLimiter, script
    from limiter.types import Decision

    calls, rounds = (100, 3) if quick else (100, 30)
    cfg = BucketConfig(max_tokens=1_000_000, refill_count=1000, refill_interval=0.001)
    lim = RedisLimiter(client, prefix="bench_profile", default=cfg)
    for user in ("raw_noid", "raw_id", "full"):
        lim.delete(user)
    client.script_load(script.SOURCE)
    sha_one = client.script_load("return 1")
    sha_13 = client.script_load(THIRTEEN_INTS_LUA)
    sha_4 = client.script_load(FOUR_INTS_LUA)
    sha_min = client.script_load(MINIMAL_BUCKET_LUA)
    sha_cmds = client.script_load(COMMANDS_ONLY_LUA)
    key = lim.key("raw_id")
    args = lim._args("acquire", 1, lim._ids.next())  # the ARGV of a consume
    s = cfg.settings()
    min_args = (s.ceiling, s.refill_count, s.interval_us, 1)

    variants: list[tuple[str, Callable[[], object]]] = [
        ("floor: EVALSHA `return 1`, no keys or args, 1-int reply", lambda: client.evalsha(sha_one, 0)),
        ("`return 1` with tbdash's key + 12 args", lambda: client.evalsha(sha_one, 1, key, *args)),
        ("a constant 4-int reply (a slim acquire reply), key + 12 args", lambda: client.evalsha(sha_4, 1, key, *args)),
        ("a constant 13-int reply (peek's shape), key + tbdash's args", lambda: client.evalsha(sha_13, 1, key, *args)),
        ("minimal Lua token bucket (TIME, HMGET/HSET 2 fields, PEXPIRE; 4 args, 2-int reply)", lambda: client.evalsha(sha_min, 1, "bench_profile:min", *min_args)),
        (
            "token_bucket.lua's Redis commands alone (no Lua logic), key + args, its reply",
            lambda: client.evalsha(sha_cmds, 1, "bench_profile:cmds", *lim._args("acquire", 1, lim._ids.next())),
        ),
        (
            "token_bucket.lua via client.evalsha, no request id",
            lambda: client.evalsha(script.SHA, 1, lim.key("raw_noid"), *lim._args("acquire", 1, "")),
        ),
        (
            "token_bucket.lua via client.evalsha, with request id",
            lambda: client.evalsha(script.SHA, 1, key, *lim._args("acquire", 1, lim._ids.next())),
        ),
        ("RedisLimiter.try_acquire", lambda: lim.try_acquire("full")),
    ]

    def with_server_time(run: Callable[[], float]) -> tuple[float, float | None]:
        client.config_resetstat()
        client_us = run()
        stats = client.info("commandstats")
        ev = stats.get("cmdstat_evalsha")
        return client_us, (ev["usec_per_call"] if ev else None)

    ladder = _ladder(variants, calls, rounds, with_server_time)

    reply = client.evalsha(script.SHA, 1, key, *lim._args("acquire", 1, ""))
    pool = client.connection_pool
    conn = pool.get_connection()
    pool.release(conn)

    def pool_roundtrip() -> None:
        c = pool.get_connection()
        pool.release(c)

    retry = conn.retry
    sha_bytes, key_bytes = script.SHA.encode(), key.encode()
    args_bytes = [str(a).encode() for a in args]
    pieces: list[tuple[str, Callable[[], object]]] = [
        ("script.check_n(1)", lambda: script.check_n(1)),
        ("RequestIds.next() (request id)", lim._ids.next),
        ("RedisLimiter.key(user)", lambda: lim.key("full")),
        ("_args('acquire', 1, id)", lambda: lim._args("acquire", 1, "0123456789abcdef")),
        ("script.decision_of(acquire reply)", lambda: script.decision_of(reply, 1, "full")),
        ("Decision(...) alone (frozen slots dataclass)", lambda: Decision(True, 5, 0.0, 10)),
        ("a plain tuple of the same 4 values", lambda: (True, 5, 0.0, 10)),
        ("redis-py: pack EVALSHA with key + 12 args", lambda: conn.pack_command("EVALSHA", script.SHA, 1, key, *args)),
        ("redis-py: pack EVALSHA with key + 12 args pre-encoded as bytes", lambda: conn.pack_command("EVALSHA", sha_bytes, b"1", key_bytes, *args_bytes)),
        ("redis-py: pack EVALSHA with no args", lambda: conn.pack_command("EVALSHA", sha_one, 0)),
        ("redis-py: pool get + release connection", pool_roundtrip),
        ("redis-py: Retry.call_with_retry (no failure)", lambda: retry.call_with_retry(lambda: None, lambda e: None)),
    ]
    pieces_text = _pieces_table(pieces, 5_000 if quick else 10_000, 3 if quick else 20)

    prof = _cprofile(lambda: lim.try_acquire("full"), 500 if quick else 2000)
    for user in ("raw_noid", "raw_id", "full"):
        lim.delete(user)
    client.delete("bench_profile:min", "bench_profile:cmds")
    return "\n".join(
        [
            "#### Redis: cost ladder (client µs/call from the caller; server µs/call from INFO commandstats)",
            "",
            _ladder_table(ladder, with_server=True),
            "",
            "#### Redis: client-side pieces",
            "",
            pieces_text,
            "",
            "#### Redis: cProfile of RedisLimiter.try_acquire (top by own time)",
            "",
            prof,
        ]
    )


# --------------------------------------------------------------------------- in process


class _InlinedSketch:
    """A measuring device, not a bucket to use: how fast ``try_acquire`` can be
    while keeping ConditionBucket's semantics on the non-blocking path.

    It runs ``limiter.model.take`` inlined (discrete ticks, carried-over partial
    tick, a full bucket does not bank ticks, integer µs) on plain int attributes,
    under the RLock a Condition would wrap (entered directly, not through
    Condition's Python-level ``__enter__``), refuses while waiters are queued,
    and checks ``n``, ``closed`` and the ceiling. No ``Level``/``Outcome``
    objects are built.
    """

    __slots__ = ("_lock", "_queue", "_closed", "_tokens", "_anchor", "_ceiling", "_count", "_interval")

    def __init__(self, cfg) -> None:
        s = cfg.settings()
        self._lock = threading.RLock()  # would be the lock of the bucket's Condition
        self._queue: list = []
        self._closed = False
        self._ceiling, self._count, self._interval = s.ceiling, s.refill_count, s.interval_us
        self._tokens, self._anchor = s.max_tokens, time.monotonic_ns() // 1000

    def try_acquire(self, n: int = 1) -> bool:
        if n.__class__ is not int or n < 1:
            raise ValueError("n must be a whole number >= 1")
        with self._lock:
            if self._closed or n > self._ceiling:
                raise RuntimeError("closed, or n above the ceiling")
            if self._queue:
                return False
            now = time.monotonic_ns() // 1000
            tokens = self._tokens
            if tokens >= self._ceiling:
                self._anchor = now  # full: no banked ticks
            else:
                ticks = (now - self._anchor) // self._interval
                if ticks > 0:
                    tokens += ticks * self._count
                    if tokens >= self._ceiling:
                        tokens, self._anchor = self._ceiling, now
                    else:
                        self._anchor += ticks * self._interval
            if tokens >= n:
                self._tokens = tokens - n
                return True
            self._tokens = tokens
            return False


def condition_profile(quick: bool = False) -> str:
    try:
        from limiter.condition import ConditionBucket
    except ImportError:
        return "_ConditionBucket profile skipped: limiter.condition is not there yet_"
    from limiter import BucketConfig, model

    from benchmarks.floors import LockBucket

    calls, rounds = (20_000, 3) if quick else (20_000, 30)
    cfg = BucketConfig(max_tokens=1_000_000, refill_count=1000, refill_interval=0.001)
    floor = LockBucket(1_000_000, 1_000_000)
    bucket = ConditionBucket(cfg)
    settings = cfg.settings()
    level = model.Level(500_000, time.monotonic_ns() // 1000)
    lock, rlock, cond = threading.Lock(), threading.RLock(), threading.Condition()

    def with_lock() -> None:
        with lock:
            pass

    def with_rlock() -> None:
        with rlock:
            pass

    def with_cond() -> None:
        with cond:
            pass

    now = time.monotonic_ns() // 1000
    sketch = _InlinedSketch(cfg)
    variants: list[tuple[str, Callable[[], object]]] = [
        ("floor: Lock + monotonic bucket", floor.try_acquire),
        ("ConditionBucket.try_acquire", bucket.try_acquire),
        ("sketch: the same integer refill inlined under an RLock (see profiling.py)", sketch.try_acquire),
    ]
    ladder = _ladder(variants, calls, rounds)
    pieces = [
        ("`with threading.Lock()`", with_lock),
        ("`with threading.RLock()`", with_rlock),
        ("`with threading.Condition()` (Python-level __enter__/__exit__)", with_cond),
        ("time.monotonic()", time.monotonic),
        ("bucket._clock() (monotonic_ns() // 1000 in a function)", bucket._clock),
        ("model.check_n(1)", lambda: model.check_n(1)),
        ("bucket._check_open(1)", lambda: bucket._check_open(1)),
        ("model.Level(...) (frozen slots dataclass)", lambda: model.Level(5, 7)),
        ("model.refill(level, settings, now)", lambda: model.refill(level, settings, now + 1500)),
        ("model.take(level, settings, 1, now)", lambda: model.take(level, settings, 1, now + 1500)),
    ]
    pieces_text = _pieces_table(pieces, 10_000, 3 if quick else 20)
    prof = _cprofile(bucket.try_acquire, 20_000 if quick else 100_000)
    bucket.close()
    return "\n".join(
        [
            "#### ConditionBucket: floor vs try_acquire",
            "",
            _ladder_table(ladder, with_server=False),
            "",
            "#### ConditionBucket: pieces",
            "",
            pieces_text,
            "",
            "#### ConditionBucket: cProfile of try_acquire (top by own time)",
            "",
            prof,
        ]
    )


def run(client, quick: bool = False, progress: Callable[[str], None] = lambda _: None) -> str:
    progress("profiling RedisLimiter.try_acquire")
    redis_text = redis_profile(client, quick)
    progress("profiling ConditionBucket.try_acquire")
    cond_text = condition_profile(quick)
    return "\n".join(["### Profile: where tbdash's try_acquire spends its time", "", redis_text, "", cond_text])
