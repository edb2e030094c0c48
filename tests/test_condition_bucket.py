"""ConditionBucket: the model in one process, FIFO blocking, live changes, close.

Most tests run on a fake clock, moved by the test. Waits still sleep in real
time, so after moving the clock the test "pokes" the bucket with
``reconfigure(same config)``, which changes nothing and wakes every waiter to
look again. Tests on the real clock assert counts and generous bounds only.
"""

from __future__ import annotations

import math
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limiter import model
from limiter.condition import ConditionBucket
from limiter.config import BucketConfig
from limiter.errors import BucketClosed, TokensExceedCeiling

SEC = 1_000_000  # µs
JOIN = 10.0  # seconds a thread may take to finish before the test calls it stuck


class FakeClock:
    def __init__(self, start: int = 1_000 * SEC) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, us: int) -> None:
        self.now += us


class Call(threading.Thread):
    """Run one call in a thread; keep its result or exception."""

    def __init__(self, fn, *args, **kwargs) -> None:
        super().__init__(daemon=True)
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.result = self.error = None

    def run(self) -> None:
        try:
            self.result = self.fn(*self.args, **self.kwargs)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def outcome(self):
        self.join(JOIN)
        assert not self.is_alive(), "the call is still blocked"
        return self.error if self.error is not None else self.result


def wait_until(predicate, timeout: float = JOIN) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.002)


def queue_in_order(bucket: ConditionBucket, calls: list[Call]) -> None:
    """Start the calls one by one, each only once the previous one is queued."""
    for call in calls:
        queued = bucket.waiting
        call.start()
        wait_until(lambda: bucket.waiting == queued + 1)


def poke(bucket: ConditionBucket) -> None:
    bucket.reconfigure(bucket.config)


def cfg(max_tokens=10, burst=0, refill_count=1, refill_interval=1.0) -> BucketConfig:
    return BucketConfig(max_tokens=max_tokens, burst=burst, refill_count=refill_count, refill_interval=refill_interval)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def no_thread_left_behind():
    """Every test's threads have finished by its end: the bucket starts none of its own."""
    before = threading.active_count()
    yield
    wait_until(lambda: threading.active_count() <= before, timeout=JOIN)


# -- the model, non-blocking -----------------------------------------------------


def test_new_bucket_starts_at_max_tokens_and_takes_all_or_nothing(clock):
    bucket = ConditionBucket(cfg(max_tokens=5, burst=3), clock=clock)
    assert bucket.tokens == 5
    assert bucket.config == cfg(max_tokens=5, burst=3)
    assert bucket.try_acquire(3)
    assert not bucket.try_acquire(3)  # only 2 left: nothing is taken
    assert bucket.tokens == 2
    assert bucket.try_acquire(2)
    assert bucket.tokens == 0


def test_refill_is_discrete_and_carries_over(clock):
    bucket = ConditionBucket(cfg(max_tokens=4, refill_count=2), clock=clock)
    assert bucket.try_acquire(4)
    clock.advance(SEC - 1)
    assert bucket.tokens == 0
    clock.advance(1)
    assert bucket.tokens == 2
    clock.advance(SEC // 2)
    assert bucket.try_acquire(2)
    clock.advance(SEC // 2)  # the half tick before the take still counts
    assert bucket.tokens == 2


def test_idle_full_bucket_banks_nothing_beyond_the_ceiling(clock):
    bucket = ConditionBucket(cfg(max_tokens=3, burst=2), clock=clock)
    assert bucket.try_acquire(1)
    clock.advance(1_000 * SEC)
    assert bucket.tokens == 5
    assert bucket.try_acquire(5)
    assert not bucket.try_acquire(1)
    assert bucket.retry_after(1) == 1.0


def test_retry_after_is_exact(clock):
    bucket = ConditionBucket(cfg(max_tokens=5, refill_count=2, refill_interval=0.01), clock=clock)
    assert bucket.retry_after(5) == 0.0
    assert bucket.try_acquire(5)
    clock.advance(3_000)
    assert bucket.retry_after(1) == 0.007
    assert bucket.retry_after(3) == 0.017


def test_n_is_validated_at_once(clock):
    bucket = ConditionBucket(cfg(max_tokens=3, burst=2), clock=clock)
    for bad in (0, -1):
        with pytest.raises(ValueError):
            bucket.try_acquire(bad)
        with pytest.raises(ValueError):
            bucket.acquire(bad)
    with pytest.raises(TypeError):
        bucket.try_acquire(1.5)
    assert bucket.try_acquire(3)
    # Never an endless wait for more than the ceiling, even with no timeout.
    for call in (lambda: bucket.try_acquire(6), lambda: bucket.acquire(6), lambda: bucket.acquire(6, timeout=1)):
        err = Call(call)
        err.start()
        exc = err.outcome()
        assert isinstance(exc, TokensExceedCeiling)
        assert (exc.n, exc.ceiling) == (6, 5)
    assert bucket.waiting == 0


def test_timeout_forms(clock):
    bucket = ConditionBucket(cfg(max_tokens=1), clock=clock)
    with pytest.raises(ValueError):
        bucket.acquire(1, timeout=math.nan)
    assert bucket.acquire(1, timeout=0)
    assert not bucket.acquire(1, timeout=0)
    assert not bucket.acquire(1, timeout=-5)  # negative: do not wait, like 0
    clock.advance(SEC)
    assert bucket.acquire(1, timeout=math.inf)  # infinite: like None


def test_repr_shows_level_and_waiters(clock):
    bucket = ConditionBucket(cfg(max_tokens=5, burst=2), clock=clock)
    assert bucket.try_acquire(5)
    waiter = Call(bucket.acquire, 1)
    queue_in_order(bucket, [waiter])
    assert "tokens=0/7" in repr(bucket) and "waiters=1" in repr(bucket)
    bucket.close()
    assert isinstance(waiter.outcome(), BucketClosed)
    assert "closed" in repr(bucket) and "waiters=0" in repr(bucket)


# -- timeouts: refuse at once when the wait cannot fit -----------------------------


def test_timeout_too_short_returns_false_without_sleeping_real_clock():
    bucket = ConditionBucket(cfg(max_tokens=1, refill_interval=3600))
    assert bucket.try_acquire()
    started = time.monotonic()
    assert bucket.acquire(1, timeout=10) is False
    assert time.monotonic() - started < 1.0  # it would have slept 10 s
    assert bucket.waiting == 0


def test_timeout_is_compared_with_the_exact_wait(clock):
    bucket = ConditionBucket(cfg(max_tokens=2), clock=clock)
    assert bucket.try_acquire(2)
    clock.advance(SEC // 4)
    # 1 token needs 0.75 s; a timeout 1 µs short is refused at once (the fake
    # clock never moves by itself, so a wrong implementation would hang here).
    refused = Call(bucket.acquire, 1, timeout=0.749999)
    refused.start()
    assert refused.outcome() is False
    exact = Call(bucket.acquire, 1, timeout=0.75)  # exactly enough: it waits
    queue_in_order(bucket, [exact])
    clock.advance(SEC * 3 // 4)
    poke(bucket)
    assert exact.outcome() is True


def test_timeout_counts_the_waiters_ahead(clock):
    bucket = ConditionBucket(cfg(max_tokens=3), clock=clock)
    assert bucket.try_acquire(3)
    first = Call(bucket.acquire, 2)  # served at 2 s
    queue_in_order(bucket, [first])
    assert bucket.retry_after(1) == 3.0  # behind `first`, not 1.0
    assert bucket.acquire(1, timeout=2.9) is False  # alone it would fit; behind `first` it cannot
    second = Call(bucket.acquire, 1, timeout=3.0)
    queue_in_order(bucket, [second])
    assert bucket.retry_after(1) == 4.0
    clock.advance(2 * SEC)
    poke(bucket)
    assert first.outcome() is True
    clock.advance(SEC)
    poke(bucket)
    assert second.outcome() is True


def test_waiter_doomed_by_reconfigure_gives_up_at_once_and_next_is_served(clock):
    bucket = ConditionBucket(cfg(max_tokens=2), clock=clock)
    assert bucket.try_acquire(2)
    head = Call(bucket.acquire, 2, timeout=2.0)  # fits: served at 2 s
    behind = Call(bucket.acquire, 1)
    queue_in_order(bucket, [head, behind])
    clock.advance(SEC + SEC // 2)  # one token is there
    bucket.reconfigure(cfg(max_tokens=2, refill_interval=10.0))  # the second now comes at 11.5 s
    assert head.outcome() is False  # gave up without waiting for its deadline
    assert behind.outcome() is True  # woken, and takes the token the head left
    assert bucket.tokens == 0


def test_unreachable_waiter_ahead_does_not_count_against_later_ones(clock):
    bucket = ConditionBucket(cfg(max_tokens=4), clock=clock)
    assert bucket.try_acquire(4)
    big = Call(bucket.acquire, 4, timeout=10.0)
    small = Call(bucket.acquire, 1, timeout=5.0)  # behind `big`: served at 5 s
    queue_in_order(bucket, [big, small])
    # Now `big` needs 40 s and gives up; `small` alone needs 10 s: also out of reach.
    bucket.reconfigure(cfg(max_tokens=4, refill_interval=10.0))
    assert big.outcome() is False
    assert small.outcome() is False
    # With a rate where `small` fits only without `big` ahead, it is served.
    bucket.reconfigure(cfg(max_tokens=4))
    big = Call(bucket.acquire, 4, timeout=10.0)  # 4 s
    small = Call(bucket.acquire, 1, timeout=10.0)  # 5 s
    queue_in_order(bucket, [big, small])
    bucket.reconfigure(cfg(max_tokens=4, refill_interval=3.0))  # big: 12 s, out; small: 3 s
    assert big.outcome() is False
    clock.advance(3 * SEC)
    poke(bucket)
    assert small.outcome() is True


def test_waiter_behind_gives_up_at_once_while_the_head_keeps_waiting(clock):
    bucket = ConditionBucket(cfg(max_tokens=2), clock=clock)
    assert bucket.try_acquire(2)
    head = Call(bucket.acquire, 1)  # no deadline
    behind = Call(bucket.acquire, 1, timeout=5.0)  # served at 2 s
    queue_in_order(bucket, [head, behind])
    bucket.reconfigure(cfg(max_tokens=2, refill_interval=10.0))  # now at 20 s: out of reach
    assert behind.outcome() is False  # at once: the fake clock never reaches its deadline
    assert bucket.waiting == 1
    bucket.close()
    assert isinstance(head.outcome(), BucketClosed)


def test_a_waiter_told_to_give_up_is_not_counted_ahead_of_others(clock):
    # White box: holding the bucket's lock keeps the woken waiters from running,
    # so two changes land before anyone looks (a race that is rare but real).
    bucket = ConditionBucket(cfg(max_tokens=3), clock=clock)
    assert bucket.try_acquire(3)
    big = Call(bucket.acquire, 2, timeout=100.0)  # served at 2 s
    small = Call(bucket.acquire, 1, timeout=3.0)  # served at 3 s: just fits
    queue_in_order(bucket, [big, small])
    clock.advance(SEC + SEC // 2)  # one token is there
    with bucket._cond:
        bucket.reconfigure(cfg(max_tokens=1))  # big cannot ever fit: it must leave
        # Back up, at a slower rate: big would now fit (at 3.5 s) and, if it
        # stayed, push small to 5.5 s. But big is leaving, so small takes the token.
        bucket.reconfigure(cfg(max_tokens=3, refill_interval=2.0))
    assert big.outcome() is False  # told to leave, it leaves, although it fits again
    assert small.outcome() is True


# -- FIFO ----------------------------------------------------------------------


def test_waiters_are_served_in_arrival_order(clock):
    bucket = ConditionBucket(cfg(max_tokens=10), clock=clock)
    assert bucket.try_acquire(10)
    order: list[int] = []
    needs = [3, 1, 2, 1, 3, 1]

    def waiter(i: int) -> bool:
        ok = bucket.acquire(needs[i])
        order.append(i)
        return ok

    calls = [Call(waiter, i) for i in range(len(needs))]
    queue_in_order(bucket, calls[:5])
    served_by_tick = {3: 1, 4: 2, 6: 3, 7: 4, 10: 5, 11: 6}  # cumulative needs 3, 4, 6, 7, 10, 11
    for tick in range(1, 12):
        clock.advance(SEC)
        if tick < 3:
            # Tokens are there for the waiters asking 1, but the head asks 3:
            # nobody may jump ahead of it, try_acquire included.
            assert bucket.tokens == tick
            assert not bucket.try_acquire(1)
            assert not bucket.acquire(1, timeout=0)
        if tick == 2:
            queue_in_order(bucket, calls[5:])  # a newcomer asking 1 queues too (a wait that fits)
        poke(bucket)
        expected = max((v for k, v in served_by_tick.items() if k <= tick), default=0)
        wait_until(lambda: len(order) >= expected)
    assert [c.outcome() for c in calls] == [True] * len(needs)
    assert order == list(range(len(needs)))
    assert bucket.tokens == 0


def test_fifo_on_the_real_clock():
    # Queue while no refill can come (so the arrival order is certain), then let it flow.
    bucket = ConditionBucket(cfg(max_tokens=4, refill_interval=3600))
    assert bucket.try_acquire(4)
    order: list[int] = []
    needs = [2, 1, 3, 1, 2, 1]

    def waiter(i: int) -> None:
        assert bucket.acquire(needs[i])
        order.append(i)

    calls = [Call(waiter, i) for i in range(len(needs))]
    queue_in_order(bucket, calls)
    bucket.reconfigure(cfg(max_tokens=4, refill_interval=0.02))
    for call in calls:
        assert call.outcome() is None
    assert order == list(range(len(needs)))


# -- no spinning ---------------------------------------------------------------


def test_waiters_sleep_instead_of_polling():
    reads = 0

    def counting_clock() -> int:
        nonlocal reads
        reads += 1
        return time.monotonic_ns() // 1000

    bucket = ConditionBucket(cfg(max_tokens=5, refill_interval=3600), clock=counting_clock)
    assert bucket.try_acquire(5)
    calls = [Call(bucket.acquire, 1) for _ in range(5)]
    queue_in_order(bucket, calls)
    reads_before = reads
    bucket.reconfigure(cfg(max_tokens=5, refill_interval=0.05))
    assert [c.outcome() for c in calls] == [True] * 5  # about 0.25 s of waiting
    # Each grant wakes each waiter a few times at most; a polling loop reads the clock thousands of times.
    assert reads - reads_before < 200


# -- reconfigure ------------------------------------------------------------------


def test_reconfigure_wakes_waiters_with_the_new_rate():
    bucket = ConditionBucket(cfg(max_tokens=2, refill_interval=3600))
    assert bucket.try_acquire(2)
    calls = [Call(bucket.acquire, 1), Call(bucket.acquire, 2)]
    queue_in_order(bucket, calls)
    bucket.reconfigure(cfg(max_tokens=2, refill_count=3, refill_interval=0.01))
    assert [c.outcome() for c in calls] == [True, True]
    assert bucket.config.refill_interval == 0.01


def test_reconfigure_below_a_waiters_n_raises_in_that_waiter(clock):
    bucket = ConditionBucket(cfg(max_tokens=5), clock=clock)
    assert bucket.try_acquire(5)
    too_big = Call(bucket.acquire, 5)
    fits = Call(bucket.acquire, 1)
    queue_in_order(bucket, [too_big, fits])
    bucket.reconfigure(cfg(max_tokens=3))
    exc = too_big.outcome()
    assert isinstance(exc, TokensExceedCeiling) and exc.ceiling == 3
    clock.advance(SEC)
    poke(bucket)
    assert fits.outcome() is True
    with pytest.raises(TokensExceedCeiling):
        bucket.try_acquire(4)


def test_reconfigure_settles_then_clamps(clock):
    bucket = ConditionBucket(cfg(max_tokens=10), clock=clock)
    bucket.reconfigure(cfg(max_tokens=4))
    assert bucket.tokens == 4  # clamped
    bucket.reconfigure(cfg(max_tokens=20))
    assert bucket.tokens == 4  # a higher ceiling grants nothing
    assert bucket.try_acquire(4)
    clock.advance(SEC + SEC // 2)
    bucket.reconfigure(cfg(max_tokens=20, refill_count=5, refill_interval=2.0))
    assert bucket.tokens == 1  # the old rate paid its whole tick, not the half one
    # The half old tick carries over as half a new (2 s) tick: 1 s more, not 2.
    clock.advance(SEC - 1)
    assert bucket.tokens == 1
    clock.advance(1)
    assert bucket.tokens == 6


def test_settings_alternating_on_every_change_still_refill(clock):
    """Issue 8 §1 in one process: 1 per 1 s and 2 per 2 s, switched ten times a second for 6 s."""
    one, two = cfg(max_tokens=5, refill_count=1, refill_interval=1.0), cfg(max_tokens=5, refill_count=2, refill_interval=2.0)
    bucket = ConditionBucket(one, clock=clock)
    assert bucket.try_acquire(5)
    granted = 0
    for step in range(60):
        clock.advance(SEC // 10)
        bucket.reconfigure(two if step % 2 == 0 else one)
        granted += bucket.try_acquire()
    assert granted in (5, 6)  # what 6 s at one token a second pays; 0 when a change restarted the tick


# -- close -----------------------------------------------------------------------


def test_close_releases_every_waiter_and_refuses_later_calls():
    before = threading.active_count()
    bucket = ConditionBucket(cfg(max_tokens=1, refill_interval=3600))
    assert bucket.try_acquire()
    calls = [Call(bucket.acquire, 1) for _ in range(3)] + [Call(bucket.acquire, 1, timeout=36_000) for _ in range(2)]
    queue_in_order(bucket, calls)
    bucket.close()
    assert all(isinstance(c.outcome(), BucketClosed) for c in calls)
    assert bucket.waiting == 0
    for call in (bucket.try_acquire, bucket.acquire, lambda: bucket.acquire(1, timeout=0)):
        with pytest.raises(BucketClosed):
            call()
    assert bucket.tokens == 0  # still readable
    bucket.close()  # idempotent
    assert threading.active_count() == before


def test_context_manager_closes():
    before = threading.active_count()
    with ConditionBucket(cfg(max_tokens=3)) as bucket:
        assert threading.active_count() == before  # no background thread
        assert bucket.acquire(2)
    assert bucket.closed
    with pytest.raises(BucketClosed):
        bucket.try_acquire()


# -- exactness under many threads ------------------------------------------------


def test_hundred_threads_share_five_tokens_exactly():
    bucket = ConditionBucket(cfg(max_tokens=5, refill_interval=3600))
    start = threading.Barrier(100)

    def worker(i: int) -> bool:
        start.wait()
        return bucket.try_acquire() if i % 2 else bucket.acquire(1, timeout=1.0)

    calls = [Call(worker, i) for i in range(100)]
    for call in calls:
        call.start()
    results = [c.outcome() for c in calls]
    assert results.count(True) == 5
    assert results.count(False) == 95


def test_hundred_blocked_threads_share_five_tokens_exactly():
    bucket = ConditionBucket(cfg(max_tokens=5, refill_interval=3600))
    calls = [Call(bucket.acquire, 1) for _ in range(100)]
    for call in calls:
        call.start()
    wait_until(lambda: bucket.waiting == 95)
    bucket.close()
    results = [c.outcome() for c in calls]
    assert results.count(True) == 5
    assert sum(isinstance(r, BucketClosed) for r in results) == 95


def test_grants_stay_within_the_exactness_bound_and_close_to_it():
    config = cfg(max_tokens=5, burst=20, refill_count=2, refill_interval=0.01)
    interval_us = config.interval_us
    grants: list[tuple[int, int]] = []  # (µs just after the grant, tokens)
    go = threading.Event()
    bucket_box: list[ConditionBucket] = []

    def blocking(i: int) -> None:
        go.wait()
        bucket, n = bucket_box[0], 1 + i % 2
        while True:
            try:
                bucket.acquire(n)
            except BucketClosed:
                return
            grants.append((time.monotonic_ns() // 1000, n))

    def impatient(i: int) -> None:
        go.wait()
        bucket, n = bucket_box[0], 1 + i % 3
        while True:
            try:
                ok = bucket.acquire(n, timeout=0.02) if i % 2 else bucket.try_acquire(n)
            except BucketClosed:
                return
            if ok:
                grants.append((time.monotonic_ns() // 1000, n))
            else:
                time.sleep(0.001)

    threads = [Call(blocking, i) for i in range(12)] + [Call(impatient, i) for i in range(6)]
    for thread in threads:
        thread.start()
    t0 = time.monotonic_ns() // 1000
    bucket_box.append(ConditionBucket(config))
    go.set()
    time.sleep(1.0)
    bucket_box[0].close()
    t1 = time.monotonic_ns() // 1000
    for thread in threads:
        assert thread.outcome() is None
    total = 0
    for at, n in sorted(grants):  # every grant happened before it was recorded
        total += n
        assert total <= config.max_tokens + (at - t0) // interval_us * config.refill_count
    bound = config.max_tokens + (t1 - t0) // interval_us * config.refill_count
    assert total <= bound
    assert total >= 0.8 * bound, (total, bound)


# -- against the model ----------------------------------------------------------

configs = st.builds(
    cfg,
    max_tokens=st.integers(1, 8),
    burst=st.integers(0, 4),
    refill_count=st.integers(1, 3),
    refill_interval=st.sampled_from([0.001, 0.0015, 0.007, 1.0]),
)
ops = st.one_of(
    st.tuples(st.just("advance"), st.integers(0, 3_000)),
    st.tuples(st.just("take"), st.integers(1, 13)),
    st.tuples(st.just("acquire0"), st.integers(1, 13)),
    st.tuples(st.just("reconfigure"), configs),
)


@given(configs, st.lists(ops, max_size=40))
@settings(max_examples=150, deadline=None)
def test_matches_the_model_on_a_fake_clock(config, steps):
    clock = FakeClock()
    bucket = ConditionBucket(config, clock=clock)
    current = config.settings()
    level = model.fresh(current, clock())
    for op, arg in steps:
        if op == "advance":
            clock.advance(arg)
        elif op == "reconfigure":
            new = arg.settings()
            level = model.change(level, current, new, clock())
            current = new
            bucket.reconfigure(arg)
        elif arg > current.ceiling:
            with pytest.raises(TokensExceedCeiling):
                bucket.try_acquire(arg) if op == "take" else bucket.acquire(arg, timeout=0)
        else:
            out = model.take(level, current, arg, clock())
            level = out.level
            assert bucket.retry_after(arg) == out.wait_us / SEC
            got = bucket.try_acquire(arg) if op == "take" else bucket.acquire(arg, timeout=0)
            assert got == out.allowed
        assert bucket.tokens == model.refill(level, current, clock()).tokens


# -- wake-ups --------------------------------------------------------------------


def test_a_grant_wakes_only_the_waiter_whose_turn_it_is(clock):
    """Issue 8 §4: every grant used to wake every waiter (notify_all); now one wake-up per grant.

    A fake clock and hour-long ticks: no waiter's own timer fires during the
    test, so every wake-up counted was caused by the bucket. One poke when the
    tokens are there wakes the head; each grant then wakes exactly the next.
    """
    waiters = 8
    bucket = ConditionBucket(cfg(max_tokens=waiters, refill_count=waiters, refill_interval=3600.0), clock=clock)
    assert bucket.try_acquire(waiters)
    calls = [Call(bucket.acquire, 1) for _ in range(waiters)]
    queue_in_order(bucket, calls)
    assert bucket._wakeups == 0  # newcomers wake nobody
    clock.advance(3600 * SEC)
    poke(bucket)
    assert [call.outcome() for call in calls] == [True] * waiters
    assert bucket._wakeups == waiters  # notify_all on every grant: 19 here before issue 8


def test_a_waiter_giving_up_wakes_only_those_it_lets_go_first(clock):
    bucket = ConditionBucket(cfg(max_tokens=1, refill_count=1, refill_interval=3600.0), clock=clock)
    assert bucket.try_acquire(1)
    head = Call(bucket.acquire, 1, timeout=2 * 3600)
    others = [Call(bucket.acquire, 1) for _ in range(4)]
    queue_in_order(bucket, [head, *others])
    woken = bucket._wakeups
    bucket.reconfigure(cfg(max_tokens=1, refill_count=1, refill_interval=10_000.0))  # head's wait is now out of reach
    assert head.outcome() is False
    wait_until(lambda: bucket.waiting == 4)
    assert bucket._wakeups - woken == 1  # only the head, which had to give up
    bucket.close()
    assert all(isinstance(call.outcome(), BucketClosed) for call in others)


def _model_plan(bucket: ConditionBucket, tickets, now: int):
    """The queue's prediction written with limiter.model, for comparison with the bucket's own."""
    settings, level, t, plan = bucket.config.settings(), model.Level(bucket._tokens, bucket._anchor), now, []
    for n, deadline, doomed in tickets:
        plan.append(None)
        if doomed or n > settings.ceiling:
            continue
        due = t
        outcome = model.take(level, settings, n, due)
        if not outcome.allowed:
            due += outcome.wait_us
            outcome = model.take(outcome.level, settings, n, due)
            assert outcome.allowed
        if deadline is None or due <= deadline:
            level, t, plan[-1] = outcome.level, due, due
    return plan


@given(
    st.builds(cfg, max_tokens=st.integers(1, 12), burst=st.integers(0, 6), refill_count=st.integers(1, 4),
              refill_interval=st.sampled_from([0.001, 0.0015, 0.01, 1.0])),
    st.integers(0, 18), st.integers(-3 * SEC, 3 * SEC),
    st.lists(st.tuples(st.integers(1, 20), st.one_of(st.none(), st.integers(0, 5 * SEC)), st.booleans()), max_size=12),
)
@settings(max_examples=300, deadline=None)
def test_plan_is_the_model(config, tokens, anchor_offset, tickets):
    from limiter.condition import _Ticket

    clock = FakeClock()
    bucket = ConditionBucket(config, clock=clock)
    now = clock.now
    bucket._tokens, bucket._anchor = min(tokens, config.ceiling), now + anchor_offset
    queued = []
    for n, deadline, doomed in tickets:
        ticket = _Ticket(n, None if deadline is None else now + deadline, None)
        ticket.doomed = doomed
        queued.append(ticket)
    bucket._queue.extend(queued)
    expected = _model_plan(bucket, [(t.n, t.deadline_us, t.doomed) for t in queued], now)
    assert [bucket._plan(now)[t] for t in queued] == expected
