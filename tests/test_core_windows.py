"""Windows of grants and denials: the ring arithmetic on a fake clock, then counters read from a real Redis over polls."""

from __future__ import annotations

import bisect
import random

import pytest

from dashboard.core.poller import Poller
from dashboard.core.protocol import BucketRow
from dashboard.core.windows import SLOTS_PER_WINDOW, WINDOWS, WindowStore
from limiter import BucketConfig, RedisLimiter

CFG = BucketConfig(max_tokens=5, burst=0, refill_count=1, refill_interval=3600)


def row(user: str, granted: int, denied: int, tokens: int = 1) -> BucketRow:
    return BucketRow(user, tokens, CFG, granted, denied, False, None)


def update(store: WindowStore, ms: int, rows: list[BucketRow]) -> None:
    store.update(ms * 1000, rows)  # the store's clock is Redis time in microseconds


class Reference:
    """Every poll's counters, kept whole: what the store's answers must agree with."""

    def __init__(self) -> None:
        self.times: list[int] = []
        self.values: list[tuple[int, int]] = []  # (granted, denied) at each poll

    def add(self, ms: int, granted: int, denied: int) -> None:
        self.times.append(ms)
        self.values.append((granted, denied))

    def exactly_at(self, ms: int) -> tuple[int, int]:
        """The counters at ``ms``, which the polls must pin down: the same at the polls either side of it."""
        before = bisect.bisect_right(self.times, ms) - 1
        after = bisect.bisect_left(self.times, ms)
        assert before >= 0 and after < len(self.times)
        assert self.values[before] == self.values[after], f"the counters moved around {ms}: the span is a guess"
        return self.values[before]


def test_windows_count_exactly_the_span_they_report_over_two_hours_of_irregular_polls() -> None:
    rnd = random.Random(11)
    store, ref = WindowStore(), Reference()
    now, granted, denied = 1_000_000_000, 0, 0
    first = now + 500
    for _ in range(5_000):
        now += rnd.choice((500, 1000, 1000, 1000, 2000, 3000)) if ref.times else 500
        phase = (now // 600_000) % 3  # busy, idle, throttled stretches of 10 minutes
        if phase == 0:
            granted += rnd.randrange(0, 5)
        elif phase == 2:
            granted += rnd.randrange(0, 2)
            denied += rnd.randrange(0, 4)
        update(store, now, [row("a", granted, denied)])
        ref.add(now, granted, denied)
        for window in WINDOWS:
            count = store.count("a", window)
            assert count is not None
            span_ms = round(count.span_s * 1000)
            g0, d0 = ref.exactly_at(now - span_ms)
            assert (count.granted, count.denied) == (granted - g0, denied - d0)
            if now - first < window * 1000:
                assert count.partial and span_ms == now - first
            else:
                slot = window * 1000 / SLOTS_PER_WINDOW
                assert not count.partial
                assert window * 1000 <= span_ms <= window * 1000 + slot + 3000
        # Bounded: at most a window's slots plus two samples per window, whatever the run's length.
        assert store.samples("a") <= len(WINDOWS) * (SLOTS_PER_WINDOW + 2)


def test_an_idle_bucket_keeps_one_sample_per_window_and_costs_nothing() -> None:
    store = WindowStore()
    for second in range(7200):
        update(store, second * 1000 + 1, [row("idle", 7, 3)])
    assert store.samples("idle") == len(WINDOWS)
    count = store.count("idle", 60)
    assert count is not None and (count.granted, count.denied, count.span_s, count.partial) == (0, 0, 60.0, False)


def test_a_window_older_than_the_history_is_partial_with_its_real_span() -> None:
    store = WindowStore()
    update(store, 10_000, [row("a", 100, 50)])  # counters from before the dashboard started: never counted
    update(store, 30_000, [row("a", 104, 51)])
    update(store, 32_500, [row("a", 110, 52)])
    for window in WINDOWS:
        count = store.count("a", window)
        assert count is not None
        assert (count.granted, count.denied, count.span_s, count.partial) == (10, 2, 22.5, True)


def test_a_counter_that_goes_down_starts_the_history_again_never_negative() -> None:
    store = WindowStore()
    update(store, 0, [row("a", 50, 20)])
    update(store, 61_000, [row("a", 60, 30)])
    update(store, 62_000, [row("a", 2, 1)])  # deleted and made again between polls
    count = store.count("a", 60)
    assert count is not None and (count.granted, count.denied, count.span_s, count.partial) == (0, 0, 0.0, True)
    update(store, 70_000, [row("a", 5, 4)])
    count = store.count("a", 60)
    assert count is not None and (count.granted, count.denied, count.span_s, count.partial) == (3, 3, 8.0, True)
    update(store, 71_000, [row("a", 5, 0)])  # only one counter went down: still a new bucket
    count = store.count("a", 300)
    assert count is not None and (count.granted, count.denied) == (0, 0)


def test_a_bucket_missing_from_a_poll_is_forgotten() -> None:
    store = WindowStore()
    update(store, 0, [row("a", 1, 1), row("b", 1, 1)])
    update(store, 1000, [row("b", 2, 1)])
    assert "a" not in store and store.count("a", 60) is None and len(store) == 1
    update(store, 2000, [row("a", 9, 9), row("b", 2, 1)])  # back: a history of its own from here
    count = store.count("a", 60)
    assert count is not None and count.partial and (count.granted, count.span_s) == (0, 0.0)


def test_a_change_between_samples_widens_the_span_instead_of_guessing() -> None:
    store = WindowStore(windows=(60,))  # slots of 5 s
    update(store, 0, [row("a", 0, 0)])
    update(store, 61_000, [row("a", 0, 0)])
    update(store, 62_000, [row("a", 1, 0)])  # sampled (a new slot)
    update(store, 63_000, [row("a", 2, 0)])  # same slot: not sampled, the sample's values end at 62 s
    update(store, 66_000, [row("a", 2, 0)])  # next slot: sampled
    update(store, 123_000, [row("a", 3, 0)])  # the window starts at 63 s, between the 62 s and 66 s samples
    count = store.count("a", 60)
    assert count is not None and not count.partial
    assert (count.granted, count.span_s) == (2, 61.0)  # exactly the grants after 62 s, and it says 61 s


def test_top_throttled_orders_by_denials_then_ratio_and_leaves_out_buckets_without_any() -> None:
    store = WindowStore()
    update(store, 0, [row("a", 0, 0), row("b", 0, 0), row("c", 0, 0), row("d", 0, 0)])
    update(store, 1000, [row("a", 10, 5), row("b", 0, 5), row("c", 100, 0), row("d", 1, 9)])
    top = store.top_throttled(60)
    assert [(t.user, t.count.denied, t.count.deny_ratio) for t in top] == [("d", 9, 0.9), ("b", 5, 1.0), ("a", 5, 5 / 15)]
    assert [t.user for t in store.top_throttled(60, limit=1)] == ["d"]
    for second in range(2, 200):
        update(store, second * 1000, [row("a", 10, 5), row("b", 0, 5), row("c", 100 + second, 0), row("d", 1, 9 + (second > 150))])
    assert [t.user for t in store.top_throttled(60)] == ["d"]  # a's and b's denials are older than the window
    assert {t.user for t in store.top_throttled(3600)} == {"a", "b", "d"}


def test_a_clock_that_goes_back_clears_the_store() -> None:
    store = WindowStore()
    update(store, 100_000, [row("a", 5, 5)])
    update(store, 100_000, [row("a", 9, 9)])  # two polls in one microsecond: both count
    count = store.count("a", 60)
    assert count is not None and (count.granted, count.denied) == (4, 4)
    update(store, 50_000, [row("a", 6, 6)])
    count = store.count("a", 60)
    assert count is not None and count.partial and (count.granted, count.denied, count.span_s) == (0, 0, 0.0)


def test_windows_longer_than_kept_are_refused() -> None:
    store = WindowStore()
    update(store, 0, [row("a", 0, 0)])
    with pytest.raises(ValueError, match="longer than the longest"):
        store.count("a", 7200)
    count = store.count("a", 120)  # between two kept windows: answered from the 5 min one
    assert count is not None and count.window_s == 120
    with pytest.raises(ValueError):
        WindowStore(windows=())


async def test_counters_over_real_polls(async_redis_client, redis_client) -> None:
    limiter = RedisLimiter(redis_client, default=CFG)
    poller = Poller(async_redis_client, "token_bucket")
    store = WindowStore()
    limiter.try_acquire("alice")
    for _ in range(3):
        limiter.try_acquire("bob")
    first = await poller.poll()
    store.feed(first)
    for _ in range(7):  # 4 grants, then 3 denials
        limiter.try_acquire("alice")
    second = await poller.poll()
    store.feed(second)
    alice = store.count("alice", 60)
    assert alice is not None
    assert (alice.granted, alice.denied, alice.partial) == (4, 3, True)
    assert alice.span_s == (second.redis_time_us - first.redis_time_us) / 1_000_000
    assert [t.user for t in store.top_throttled(60)] == ["alice"]

    limiter.delete("bob")  # counters gone; the bucket comes back with new ones, lower than before
    limiter.try_acquire("bob")
    third = await poller.poll()
    store.feed(third)
    bob = store.count("bob", 300)
    assert bob is not None and (bob.granted, bob.denied, bob.span_s, bob.partial) == (0, 0, 0.0, True)
    limiter.try_acquire("bob")
    store.feed(await poller.poll())
    bob = store.count("bob", 300)
    assert bob is not None and (bob.granted, bob.denied) == (1, 0)

    limiter.delete("alice")
    store.feed(await poller.poll())
    assert "alice" not in store and store.top_throttled(60) == []
