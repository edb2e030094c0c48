"""Accuracy, not speed: how many calls a saturated bucket admits against SPEC §2's bound.

Eight threads call ``try_acquire`` as fast as they can for about ``seconds``
on one bucket of 50 tokens refilled 5 per 10 ms (500/s), far below what the
threads ask for. Over a run of T seconds a new bucket may grant at most
``max_tokens + floor(T / refill_interval) × refill_count``. T is measured on
the bucket's own clock and on the outside of the run (Redis ``TIME`` for the
Redis bucket, ``time.monotonic_ns`` for the Condition bucket, read before the
bucket exists and after the last call returns), so the bound is never
understated. A correct bucket admits no more than that bound.

"Close to it" is judged on an inner span that the bucket certainly covered:
from the first reply any thread got (the bucket exists by then) to the start
of the last call. A saturated bucket must have handed out the bound of that
span, less at most one tick (the tokens that arrived after the last call).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

MAX_TOKENS, REFILL_COUNT, INTERVAL_S = 50, 5, 0.010
THREADS = 8


@dataclass
class AccuracyResult:
    name: str
    threads: int
    seconds: float  # outer span: from before the bucket existed to after the last call
    calls: int
    admitted: int
    bound: int  # SPEC §2's bound over the outer span: admitted must not exceed it
    expected: int  # the bound over the inner span (first reply .. start of the last call)
    counter: int | None = None  # the bucket's own grant counter, where it has one

    @property
    def fraction(self) -> float:
        return self.admitted / self.bound

    @property
    def within(self) -> bool:
        return self.admitted <= self.bound and (self.counter is None or self.counter == self.admitted)

    @property
    def close(self) -> bool:
        # Saturated, the bucket hands out every token of the inner span except
        # those of the tick still running when the last call starts.
        return self.admitted >= self.expected - REFILL_COUNT

    @property
    def ok(self) -> bool:
        return self.within and self.close

    def as_dict(self) -> dict:
        return {**asdict(self), "fraction": self.fraction, "within_bound": self.within, "close": self.close, "ok": self.ok}


def _bound(elapsed_us: int) -> int:
    return MAX_TOKENS + (max(0, elapsed_us) // round(INTERVAL_S * 1_000_000)) * REFILL_COUNT


@dataclass
class _Run:
    calls: int
    grants: int
    first_reply_us: int  # earliest end of any thread's first call: the bucket exists by then
    last_start_us: int  # latest start of any call: the bucket's last decision is after it


def _hammer(call: Callable[[], object], seconds: float, clock_us: Callable[[], int]) -> _Run:
    """THREADS threads calling ``call`` until ``seconds`` have passed."""
    stop = clock_us() + round(seconds * 1_000_000)
    barrier = threading.Barrier(THREADS)
    totals: list[tuple[int, int, int, int]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        calls = grants = 0
        first_end = last_start = -1
        try:
            barrier.wait()
            while True:
                begin = clock_us()
                if begin >= stop:
                    break
                ok = call()
                if first_end < 0:
                    first_end = clock_us()
                last_start = begin
                calls += 1
                if ok:
                    grants += 1
        except BaseException as exc:
            errors.append(exc)
        totals.append((calls, grants, first_end, last_start))

    workers = [threading.Thread(target=worker) for _ in range(THREADS)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise RuntimeError(f"accuracy run failed: {errors[0]!r}") from errors[0]
    return _Run(
        calls=sum(t[0] for t in totals),
        grants=sum(t[1] for t in totals),
        first_reply_us=min(t[2] for t in totals if t[2] >= 0),
        last_start_us=max(t[3] for t in totals),
    )


def _config():
    from limiter import BucketConfig

    return BucketConfig(max_tokens=MAX_TOKENS, burst=0, refill_count=REFILL_COUNT, refill_interval=INTERVAL_S)


def redis_accuracy(client, seconds: float) -> AccuracyResult:
    """The Redis bucket. Its clock is Redis TIME; the client's time.time_ns reads the
    same host clock (loopback server), which only the inner span relies on."""
    from limiter import RedisLimiter

    lim = RedisLimiter(client, prefix="bench_accuracy", default=_config())
    lim.delete("acc")

    def redis_now_us() -> int:
        sec, usec = client.time()
        return sec * 1_000_000 + usec

    t0 = redis_now_us()  # before the bucket exists
    run = _hammer(lambda: lim.try_acquire("acc"), seconds, lambda: time.time_ns() // 1000)
    t1 = redis_now_us()
    state = lim.peek("acc")
    counter = state.granted if state is not None else None
    lim.delete("acc")
    return AccuracyResult(
        "tbdash RedisLimiter", THREADS, (t1 - t0) / 1e6, run.calls, run.grants,
        _bound(t1 - t0), _bound(run.last_start_us - run.first_reply_us), counter,
    )


def condition_accuracy(seconds: float) -> AccuracyResult | None:
    try:
        from limiter.condition import ConditionBucket
    except ImportError:
        return None

    def clock_us() -> int:  # the bucket's own clock
        return time.monotonic_ns() // 1000

    t0 = clock_us()  # before the bucket exists
    bucket = ConditionBucket(_config())
    try:
        run = _hammer(bucket.try_acquire, seconds, clock_us)
        t1 = clock_us()
    finally:
        bucket.close()
    return AccuracyResult(
        "tbdash ConditionBucket", THREADS, (t1 - t0) / 1e6, run.calls, run.grants,
        _bound(t1 - t0), _bound(run.last_start_us - run.first_reply_us),
    )
