"""What is measured: the two groups of cases, each led by its floor.

Every case is configured for the same generous rate, one million per second
(a bucket of one million tokens refilled at 1,000 per millisecond for the
token buckets, "1000000/second" for the window limiters), so that at the
speeds reached here nearly every call is a grant: the benchmark compares the
grant path. All threads of a case hit ONE key (contended), the usual shape of
a per-user or per-endpoint limit under load. Each case has its own key.

Redis group: one ``redis.Redis`` client (one connection pool) on a private
server. The floor is a typical token-bucket script (`floors.TYPICAL_TOKEN_BUCKET_LUA`)
through that client's ``evalsha``; INCRBY, tbdash and pyrate-limiter use that very
client (tbdash's limiter opens its own connections from its settings); ``limits``
is handed the same connection pool (``RedisStorage(url,
connection_pool=client.connection_pool)``), i.e. the same client class with
the same connections. ``try_acquire_many`` sends 64 users in one pipeline; its
ops/s counts acquires.

Async group: CONCURRENCY coroutines on one event loop, each making calls one
after the other, so CONCURRENCY calls are in flight all along (a service with
that many concurrent requests); tbdash's are coalesced into pipelines,
``limits``' and plain ``redis.asyncio``'s each use a connection of their own.
Beside the same sync floor, so the ratios compare with it.

pyrate-limiter is called in its default (blocking) mode. Its non-blocking mode
(``try_acquire(..., blocking=False)``) refuses a call outright, without asking
the bucket, whenever another thread holds the Limiter's lock; under 8 threads
most calls come back False that way (see README), so its "ops/s" there would
count cheap refusals. With limits this generous the blocking mode never waits.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
from collections.abc import Callable

import redis

from benchmarks.floors import TYPICAL_TOKEN_BUCKET_LUA, LockBucket
from benchmarks.harness import Case, Make, Prepared

RATE = 1_000_000  # grants per second allowed by every limiter
LIMITS_RATE = "1000000/second"
KEY = "bench"
BATCH = 64  # users per try_acquire_many
CONCURRENCY = 64  # coroutines at once in the async group
WORKER_CALLS = 16  # calls each of them makes, one after the other, per op


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


def typical_floor(client: redis.Redis) -> Case:
    """The Redis floor: `floors.TYPICAL_TOKEN_BUCKET_LUA` through ``client``'s own ``evalsha``."""

    def make() -> Prepared:
        sha = client.script_load(TYPICAL_TOKEN_BUCKET_LUA)
        client.delete(f"{KEY}:typical")
        return functools.partial(client.evalsha, sha, 1, f"{KEY}:typical", RATE, RATE // 1000, 1000, 1), None

    return Case("redis.floor_typical", "floor: a typical token-bucket script (`EVALSHA`, same client)", make, role="floor")


def redis_cases(client: redis.Redis, url: str) -> tuple[list[Case], list[str]]:
    """The Redis group (floor first) and notes about cases that could not be built."""
    notes: list[str] = []
    cases: list[Case] = [typical_floor(client)]

    def return_one() -> Prepared:
        sha = client.script_load("return 1")
        return functools.partial(client.evalsha, sha, 0), None

    cases.append(Case("redis.evalsha_return_1", "`EVALSHA` of `return 1` (context: a script that does nothing)", return_one, role="context"))
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
            return functools.partial(lim.try_acquire, user), lim.close

        return make

    cases.append(Case("redis.tbdash", "**tbdash `RedisLimiter.try_acquire`**", tbdash("grants", {}), role="tbdash"))

    def tbdash_many() -> Prepared:
        from limiter import RedisLimiter

        lim = RedisLimiter(client, prefix="bench", default=_tbdash_config())
        requests = [(f"many-{i}", 1) for i in range(BATCH)]
        for user, _ in requests:
            lim.delete(user)

        def op() -> int:
            return sum(d.allowed for d in lim.try_acquire_many(requests))

        return op, lim.close

    cases.append(
        Case("redis.tbdash_many", f"**tbdash `try_acquire_many`, {BATCH} users** (per acquire)", tbdash_many, role="batch", per_op=BATCH)
    )
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


def async_cases(client: redis.Redis, url: str) -> tuple[list[Case], list[str]]:
    """Async, CONCURRENCY coroutines at once on one event loop (one op: each makes WORKER_CALLS calls), beside the sync floor."""
    notes: list[str] = []
    cases: list[Case] = [typical_floor(client)]
    port = int(url.rsplit(":", 1)[1])

    def burst(make_client: Callable[[], object], make_call: Callable[[object], Callable[[], object]], close: str = "aclose") -> Make:
        def make() -> Prepared:
            loop = asyncio.new_event_loop()
            aclient = make_client()
            call = make_call(aclient)

            async def worker() -> int:
                granted = 0
                for _ in range(WORKER_CALLS):
                    granted += bool(await call())
                return granted

            async def many() -> int:  # CONCURRENCY calls in flight all along, not in lock-step bursts
                return sum(await asyncio.gather(*(worker() for _ in range(CONCURRENCY))))

            def finish() -> None:
                closer = getattr(aclient, close, None)
                if closer is not None:
                    loop.run_until_complete(closer())
                loop.close()

            return (lambda: loop.run_until_complete(many())), finish

        return make

    def tbdash_call(aclient: object) -> Callable[[], object]:
        from limiter import AsyncRedisLimiter

        lim = AsyncRedisLimiter(aclient, prefix="bench_async", default=_tbdash_config())
        return functools.partial(lim.try_acquire, "grants")

    def plain_client() -> object:
        import redis.asyncio

        return redis.asyncio.Redis(host="127.0.0.1", port=port)

    cases.append(
        Case("async.tbdash", f"**tbdash `AsyncRedisLimiter.try_acquire`, {CONCURRENCY} at once**", burst(plain_client, tbdash_call),
             role="async", per_op=CONCURRENCY * WORKER_CALLS)
    )

    def typical_call(aclient: object) -> Callable[[], object]:
        sync_sha = client.script_load(TYPICAL_TOKEN_BUCKET_LUA)
        return functools.partial(aclient.evalsha, sync_sha, 1, f"{KEY}:typical-async", RATE, RATE // 1000, 1000, 1)  # type: ignore[attr-defined]

    cases.append(
        Case("async.typical", f"the typical script through `redis.asyncio`, {CONCURRENCY} at once (context)", burst(plain_client, typical_call),
             role="context", per_op=CONCURRENCY * WORKER_CALLS)
    )

    try:
        import limits
        from limits.aio.storage import RedisStorage as AsyncRedisStorage
        from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

        item = limits.parse(LIMITS_RATE)

        def limits_async(strategy: type) -> Make:
            holder: dict[str, object] = {}

            def storage() -> object:
                holder["storage"] = AsyncRedisStorage(f"async+redis://127.0.0.1:{port}", implementation="redispy", key_prefix="bench_limits_aio")
                return holder["storage"]

            def call(aclient: object) -> Callable[[], object]:
                return functools.partial(strategy(aclient).hit, item, KEY)

            return burst(storage, call, close="_no_close")

        for name, strategy in (("moving", MovingWindowRateLimiter), ("sliding", SlidingWindowCounterRateLimiter)):
            cases.append(
                Case(f"async.limits_{name}", f"limits async `{strategy.__name__}` (RedisStorage, redis.asyncio), {CONCURRENCY} at once",
                     limits_async(strategy), role="async rival", per_op=CONCURRENCY * WORKER_CALLS)
            )
    except ImportError as exc:
        notes.append(f"limits async skipped: {exc}")
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
