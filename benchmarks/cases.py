"""What is measured: the two groups of cases, each led by its floor.

Every case is configured for the same generous rate, one million per second
(a bucket of one million tokens refilled at 1,000 per millisecond for the
token buckets, "1000000/second" for the window limiters), so that at the
speeds reached here nearly every call is a grant: the benchmark compares the
grant path. All threads of a case hit ONE key (contended), the usual shape of
a per-user or per-endpoint limit under load. Each case has its own key.

Redis group: one ``redis.Redis`` client (one connection pool) on a private
server. The floor, INCRBY, tbdash and pyrate-limiter call that very client;
``limits`` is handed the same connection pool (``RedisStorage(url,
connection_pool=client.connection_pool)``), i.e. the same client class with
the same connections.

pyrate-limiter is called in its default (blocking) mode. Its non-blocking mode
(``try_acquire(..., blocking=False)``) refuses a call outright, without asking
the bucket, whenever another thread holds the Limiter's lock; under 8 threads
most calls come back False that way (see README), so its "ops/s" there would
count cheap refusals. With limits this generous the blocking mode never waits.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Callable

import redis

from benchmarks.floors import LockBucket
from benchmarks.harness import Case, Make, Prepared

RATE = 1_000_000  # grants per second allowed by every limiter
LIMITS_RATE = "1000000/second"
KEY = "bench"


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _tbdash_config(max_tokens: int = RATE, refill_count: int = RATE // 1000, interval: float = 0.001):
    from limiter import BucketConfig

    return BucketConfig(max_tokens=max_tokens, burst=0, refill_count=refill_count, refill_interval=interval)


def _condition_bucket_class() -> type | None:
    try:
        from limiter.condition import ConditionBucket
    except ImportError:
        return None
    return ConditionBucket


# --------------------------------------------------------------------------- Redis


def redis_cases(client: redis.Redis, url: str) -> tuple[list[Case], list[str]]:
    """The Redis group (floor first) and notes about cases that could not be built."""
    notes: list[str] = []
    cases: list[Case] = []

    def floor() -> Prepared:
        sha = client.script_load("return 1")
        return functools.partial(client.evalsha, sha, 0), None

    cases.append(Case("redis.floor_evalsha", "floor: `EVALSHA` of `return 1` (same client)", floor, role="floor"))

    cases.append(
        Case(
            "redis.incrby",
            "`INCRBY` (context: one plain command)",
            lambda: (functools.partial(client.incrby, f"{KEY}:incrby", 1), None),
            role="context",
        )
    )

    def tbdash(user: str, cfg_kwargs: dict) -> Make:
        def make() -> Prepared:
            from limiter import RedisLimiter

            lim = RedisLimiter(client, prefix="bench", default=_tbdash_config(**cfg_kwargs))
            lim.delete(user)
            return functools.partial(lim.try_acquire, user), None

        return make

    cases.append(Case("redis.tbdash", "**tbdash `RedisLimiter.try_acquire`**", tbdash("grants", {}), role="tbdash"))
    cases.append(
        Case(
            "redis.tbdash_denied",
            "tbdash `try_acquire`, denial-heavy (1 token, 1/s)",
            tbdash("denials", {"max_tokens": 1, "refill_count": 1, "interval": 1.0}),
            role="context",
        )
    )

    try:
        import limits
        from limits.storage import RedisStorage
        from limits.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

        item = limits.parse(LIMITS_RATE)

        def limits_case(strategy: type) -> Make:
            def make() -> Prepared:
                storage = RedisStorage(url, connection_pool=client.connection_pool, key_prefix="bench_limits")
                limiter = strategy(storage)
                limiter.clear(item, KEY)
                return functools.partial(limiter.hit, item, KEY), None

            return make

        cases.append(Case("redis.limits_moving", "limits `MovingWindowRateLimiter` (RedisStorage)", limits_case(MovingWindowRateLimiter), role="rival"))
        cases.append(
            Case("redis.limits_sliding", "limits `SlidingWindowCounterRateLimiter` (RedisStorage)", limits_case(SlidingWindowCounterRateLimiter), role="rival")
        )
    except ImportError as exc:
        notes.append(f"limits skipped: {exc}")

    try:
        from pyrate_limiter import Duration, Limiter, Rate, RedisBucket

        def pyrate_log() -> Prepared:
            client.delete("bench_pyrate:log")
            bucket = RedisBucket.init([Rate(RATE, Duration.SECOND)], client, "bench_pyrate:log")
            limiter = Limiter(bucket)
            return functools.partial(limiter.try_acquire, KEY), limiter.close

        cases.append(Case("redis.pyrate_bucket", "pyrate-limiter `RedisBucket` (sliding log)", pyrate_log, role="rival"))
    except ImportError as exc:
        notes.append(f"pyrate-limiter RedisBucket skipped: {exc}")

    try:
        from pyrate_limiter import Duration, Limiter, Rate, RedisStateStore, StateBucket, TokenBucket

        def pyrate_tb() -> Prepared:
            client.delete("bench_pyrate:tb")
            store = RedisStateStore(client, "bench_pyrate:tb")
            limiter = Limiter(StateBucket([Rate(RATE, Duration.SECOND)], algorithm=TokenBucket(), store=store))
            return functools.partial(limiter.try_acquire, KEY), limiter.close

        cases.append(Case("redis.pyrate_tokenbucket", "pyrate-limiter `TokenBucket` (`RedisStateStore`)", pyrate_tb, role="rival"))
    except ImportError as exc:
        notes.append(f"pyrate-limiter TokenBucket/RedisStateStore skipped (pyrate-limiter 4.x only): {exc}")

    return cases, notes


# --------------------------------------------------------------------------- in process


def memory_cases() -> tuple[list[Case], list[str]]:
    notes: list[str] = []
    cases: list[Case] = []

    cases.append(
        Case(
            "memory.floor_lock",
            "floor: minimal `Lock` + `monotonic` bucket",
            lambda: (LockBucket(RATE, RATE).try_acquire, None),
            role="floor",
        )
    )

    condition_bucket = _condition_bucket_class()
    if condition_bucket is not None:

        def condition() -> Prepared:
            bucket = condition_bucket(_tbdash_config())
            return bucket.try_acquire, bucket.close

        cases.append(Case("memory.tbdash", "**tbdash `ConditionBucket.try_acquire`**", condition, role="tbdash"))
    else:
        notes.append("tbdash ConditionBucket skipped: limiter.condition is not there yet")

    try:
        import token_bucket

        def falconry() -> Prepared:
            limiter = token_bucket.Limiter(RATE, RATE, token_bucket.MemoryStorage())
            return functools.partial(limiter.consume, KEY), None

        cases.append(Case("memory.token_bucket", "falconry `token-bucket` (MemoryStorage)", falconry, role="other"))
    except ImportError as exc:
        notes.append(f"token-bucket skipped: {exc}")

    try:
        import limits
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

        item = limits.parse(LIMITS_RATE)

        def limits_case(strategy: type) -> Make:
            def make() -> Prepared:
                storage = MemoryStorage()
                # MemoryStorage runs an expiry timer thread; cancel it afterwards.
                return functools.partial(strategy(storage).hit, item, KEY), lambda: storage.timer.cancel()

            return make

        cases.append(Case("memory.limits_moving", "limits `MovingWindowRateLimiter` (MemoryStorage)", limits_case(MovingWindowRateLimiter), role="rival"))
        cases.append(
            Case("memory.limits_sliding", "limits `SlidingWindowCounterRateLimiter` (MemoryStorage)", limits_case(SlidingWindowCounterRateLimiter), role="rival")
        )
    except ImportError as exc:
        notes.append(f"limits skipped: {exc}")

    try:
        from pyrate_limiter import Duration, InMemoryBucket, Limiter, Rate

        def pyrate_memory() -> Prepared:
            limiter = Limiter(InMemoryBucket([Rate(RATE, Duration.SECOND)]))
            return functools.partial(limiter.try_acquire, KEY), limiter.close

        cases.append(Case("memory.pyrate_bucket", "pyrate-limiter `InMemoryBucket` (sliding log)", pyrate_memory, role="rival"))
    except ImportError as exc:
        notes.append(f"pyrate-limiter InMemoryBucket skipped: {exc}")

    try:
        from pyrate_limiter import Duration, Limiter, Rate, StateBucket, TokenBucket

        def pyrate_tb() -> Prepared:
            limiter = Limiter(StateBucket([Rate(RATE, Duration.SECOND)], algorithm=TokenBucket()))
            return functools.partial(limiter.try_acquire, KEY), limiter.close

        cases.append(Case("memory.pyrate_tokenbucket", "pyrate-limiter `TokenBucket` (`StateBucket`, in memory)", pyrate_tb, role="rival"))
    except ImportError as exc:
        notes.append(f"pyrate-limiter TokenBucket skipped (pyrate-limiter 4.x only): {exc}")

    return cases, notes
