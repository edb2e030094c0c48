"""The load generator: open-loop count, grants and denials, cancellation with a partial report."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio

from dashboard.core.backend import RedisBackend
from dashboard.core.errors import LoadSpecError
from dashboard.core.loadgen import Histogram, OpenLoopLoad as LoadRun, check_spec
from dashboard.core.protocol import LoadSpec
from limiter import BucketConfig

SMALL = BucketConfig(max_tokens=5, burst=0, refill_count=1, refill_interval=3600)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (LoadSpec("u", rate=0, duration=1), "rate"),
        (LoadSpec("u", rate=float("inf"), duration=1), "rate"),
        (LoadSpec("u", rate=10**6, duration=1), "rate"),
        (LoadSpec("u", rate=10, duration=-1), "duration"),
        (LoadSpec("u", rate=10, duration=10**6), "duration"),
        (LoadSpec("u", rate=10, duration=1, concurrency=0), "concurrency"),
        (LoadSpec("u", rate=10, duration=1, concurrency=5000), "concurrency"),
        (LoadSpec("u", rate=10, duration=1, tokens=0), "tokens"),
        (LoadSpec("", rate=10, duration=1), "user"),
        (LoadSpec("u", rate=0.1, duration=1), "rate x duration"),
    ],
)
def test_spec_limits(spec: LoadSpec, field: str) -> None:
    with pytest.raises(LoadSpecError, match=f"^{field}"):
        check_spec(spec)


def test_histogram_percentiles() -> None:
    h = Histogram()
    assert h.percentile_ms(0.5) is None
    for ms in range(1, 101):
        h.add(ms / 1000)
    p50, p99 = h.percentile_ms(0.5), h.percentile_ms(0.99)
    assert p50 is not None and p99 is not None
    assert 50 <= p50 <= 50 * 1.03 and 99 <= p99 <= 99 * 1.03  # bucket upper edges, ~2 % wide


async def test_load_sends_the_requested_count_with_grants_and_denials(async_redis_client: redis.asyncio.Redis) -> None:
    backend = RedisBackend(async_redis_client, prefix="tb", default=SMALL)
    spec = LoadSpec("u{1}", rate=200, duration=0.5, concurrency=4)
    reports = [p async for p in backend.load(spec)]
    final = reports[-1]
    assert final.done and not final.cancelled and all(not p.done for p in reports[:-1])
    assert final.target == 100 and final.sent == 100  # open loop: exactly rate x duration
    assert (final.granted, final.denied, final.errors) == (5, 95, 0)
    assert final.p50_ms is not None and final.p99_ms is not None and final.p50_ms <= final.p99_ms
    state = await backend.peek("u{1}")
    assert state is not None and (state.granted, state.denied) == (5, 95)


async def test_cancel_gives_a_partial_report(async_redis_client: redis.asyncio.Redis) -> None:
    backend = RedisBackend(async_redis_client, prefix="tb", default=SMALL)
    run = backend.load(LoadSpec("u", rate=100, duration=60))
    reports = []
    async for progress in run:
        reports.append(progress)
        if len(reports) == 2:
            run.cancel()
    final = reports[-1]
    assert final.done and final.cancelled and final is run.final
    assert 0 < final.sent < final.target == 6000
    assert final.sent == final.granted + final.denied + final.errors  # in-flight ones answered


async def test_closing_the_iterator_stops_the_run(async_redis_client: redis.asyncio.Redis) -> None:
    backend = RedisBackend(async_redis_client, prefix="tb", default=SMALL)
    run = backend.load(LoadSpec("u", rate=100, duration=60))
    async for _ in run:
        break
    await run.aclose()
    assert run.final is not None and run.final.cancelled and run.final.sent < 6000
    sent = run.final.sent
    await asyncio.sleep(0.1)
    assert run.sent == sent  # nothing keeps sending


async def test_task_cancellation_stops_the_run(async_redis_client: redis.asyncio.Redis) -> None:
    backend = RedisBackend(async_redis_client, prefix="tb", default=SMALL)
    run = backend.load(LoadSpec("u", rate=100, duration=60))
    started = asyncio.Event()

    async def consume() -> None:
        async for _ in run:
            started.set()

    task = asyncio.ensure_future(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert run.final is not None and run.final.cancelled


async def test_slow_answers_queue_instead_of_slowing_the_offered_load() -> None:
    # Not a fake Redis: a deliberately slow callable, to show the pacing is open-loop.
    class Answer:
        allowed, fail_mode = True, None

    async def slow(user: str, n: int) -> Answer:
        await asyncio.sleep(0.05)
        return Answer()

    run = LoadRun(slow, LoadSpec("u", rate=200, duration=0.5, concurrency=2))
    final = [p async for p in run][-1]
    assert final.sent == final.granted == 100
    assert final.queued > 0  # 2 workers x 20/s cannot keep up with 200/s: requests waited
    assert final.lag_p99_ms is not None and final.p50_ms is not None and final.lag_p99_ms > final.p50_ms
