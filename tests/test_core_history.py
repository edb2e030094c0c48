"""History ring buffers: bounded per user and in users, fed from snapshots, forgetting the gone."""

from __future__ import annotations

from dashboard.core.history import HistoryStore
from dashboard.core.protocol import BucketRow, Snapshot
from limiter import BucketConfig

CFG = BucketConfig(max_tokens=10, burst=5)


def snap(t: float, **levels: int) -> Snapshot:
    rows = tuple(BucketRow(u, n, CFG, 0, 0, False, None) for u, n in levels.items())
    return Snapshot(taken_at=0.0, redis_time_us=int(t * 1_000_000), buckets=rows, invalid=(), poll_seconds=0.0, latency_ms=0.0)


def test_ring_keeps_the_last_samples_oldest_first() -> None:
    store = HistoryStore(length=3)
    for t in range(5):
        store.feed(snap(t, a=t))
    h = store.get("a")
    assert (h.times, h.tokens, h.ceiling) == ([2.0, 3.0, 4.0], [2, 3, 4], 15)
    assert store.get("nobody").tokens == []


def test_users_gone_for_long_are_forgotten() -> None:
    store = HistoryStore(length=10, forget_after=5)
    store.feed(snap(0, a=1, b=1))
    store.feed(snap(3, a=2))
    assert set(store.users()) == {"a", "b"}
    store.feed(snap(6, a=3))
    assert store.users() == ["a"]


def test_user_cap_and_watched_users() -> None:
    store = HistoryStore(length=10, max_users=2)
    store.feed(snap(0, a=1, b=1, c=1))
    assert sorted(store.users()) == ["a", "b"]  # first come, first served
    store.watch(["c"])
    store.feed(snap(1, a=2, b=2, c=2))
    assert "c" in store and len(store) == 2  # room made for the watched user
    assert store.get("c").tokens == [2]


def test_a_bucket_in_preview_keeps_its_shadow_level_beside_each_sample_bounded_like_the_rest() -> None:
    from dashboard.core.protocol import ShadowRow

    tight = BucketConfig(max_tokens=4, burst=1)
    store = HistoryStore(length=3)

    def feed(t: float, tokens: int, shadow: int | None) -> None:
        row = BucketRow("a", tokens, CFG, 0, 0, False, None, shadow=None if shadow is None else ShadowRow(shadow, tight, 0, 0))
        store.feed(Snapshot(taken_at=0.0, redis_time_us=int(t * 1_000_000), buckets=(row,), invalid=(), poll_seconds=0.0, latency_ms=0.0))

    feed(0, 9, None)
    assert store.get("a").shadow == [] and store.get("a").shadow_ceiling is None  # never in preview: nothing kept
    feed(1, 8, 3)
    feed(2, 7, 2)
    h = store.get("a")
    assert (h.tokens, h.shadow, h.shadow_ceiling) == ([9, 8, 7], [None, 3, 2], 5)  # aligned with the times
    for t in range(3, 10):
        feed(t, 6, 1)
    h = store.get("a")
    assert len(h.times) == len(h.shadow) == 3 and h.shadow == [1, 1, 1]  # the ring bounds the shadow too
    feed(10, 6, None)  # discarded: the newest sample has none
    assert store.get("a").shadow == [1, 1, None]


def test_samples_keep_each_polls_rates_and_ceiling_and_the_ring_stays_bounded() -> None:
    from dashboard.core.protocol import BucketRow, Snapshot
    from limiter.config import BucketConfig

    small, large = BucketConfig(max_tokens=10, burst=0, refill_count=1, refill_interval=1.0), BucketConfig(max_tokens=40, burst=0, refill_count=1, refill_interval=1.0)
    store = HistoryStore(length=3)
    polls = [(5, small, None, None), (4, small, 1.0, 0.0), (20, large, 2.5, 3.0), (10, large, 0.5, 7.0)]
    for i, (tokens, config, gps, dps) in enumerate(polls):
        row = BucketRow("a", tokens, config, 0, 0, False, None, gps, dps)
        store.feed(Snapshot(float(i), (i + 1) * 1_000_000, (row,), (), 0.0, 0.0))
        assert store.latest("a") is row
    history = store.get("a")
    assert history.tokens == [4, 20, 10] and history.ceilings == [10, 40, 40]  # the last three polls only
    assert history.grants_per_s == [1.0, 2.5, 0.5] and history.denials_per_s == [0.0, 3.0, 7.0]
    store.feed(Snapshot(9.0, 9_000_000, (), (), 0.0, 0.0))
    assert store.latest("a") is None  # gone from the newest poll
