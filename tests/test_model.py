"""Pure unit tests of the reference model (limiter/model.py): integer time, no clock."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from limiter import model
from limiter.model import Level, Settings

S = 1_000_000  # one second in µs
T0 = 50 * S  # an arbitrary start instant


def s(max_tokens=10, burst=0, refill_count=1, interval_us=S) -> Settings:
    return Settings(max_tokens, burst, refill_count, interval_us)


# -- refill --------------------------------------------------------------------


def test_fresh_bucket_holds_max_tokens_not_burst():
    level = model.fresh(s(max_tokens=7, burst=5), T0)
    assert level == Level(7, T0)


def test_ticks_are_discrete():
    cfg = s(refill_count=3)
    level = Level(0, T0)
    assert model.refill(level, cfg, T0 + S - 1).tokens == 0  # a tick is all or nothing
    assert model.refill(level, cfg, T0 + S).tokens == 3
    assert model.refill(level, cfg, T0 + 2 * S - 1).tokens == 3
    assert model.refill(level, cfg, T0 + 2 * S).tokens == 6


def test_partial_interval_carries_over():
    cfg = s()
    level = model.refill(Level(0, T0), cfg, T0 + 2 * S + S // 2)
    assert level == Level(2, T0 + 2 * S)  # the anchor keeps the elapsed half interval
    after_take = model.take(level, cfg, 2, T0 + 2 * S + S // 2).level
    # the next token comes at 3 s, not at 2.5 s + 1 s
    assert model.refill(after_take, cfg, T0 + 3 * S - 1).tokens == 0
    assert model.refill(after_take, cfg, T0 + 3 * S).tokens == 1


def test_tokens_never_exceed_the_ceiling():
    cfg = s(max_tokens=5, burst=2, refill_count=4)
    level = Level(5, T0)
    assert model.refill(level, cfg, T0 + S).tokens == 7  # 5 + 4 capped at 7
    assert model.refill(level, cfg, T0 + 1000 * S).tokens == 7


def test_full_bucket_does_not_bank_ticks():
    cfg = s(max_tokens=3)
    full = model.refill(Level(3, T0), cfg, T0 + 100 * S)
    assert full == Level(3, T0 + 100 * S)
    # A burst after a long idle is the ceiling, then the ordinary rate; nothing saved up.
    drained = model.take(full, cfg, 3, T0 + 100 * S).level
    assert model.take(drained, cfg, 1, T0 + 100 * S).allowed is False
    assert model.refill(drained, cfg, T0 + 101 * S - 1).tokens == 0
    assert model.refill(drained, cfg, T0 + 101 * S).tokens == 1


def test_bucket_that_fills_mid_idle_restarts_its_tick_at_now():
    cfg = s(max_tokens=2)
    level = model.refill(Level(0, T0), cfg, T0 + 5 * S + S // 2)  # full since T0 + 2 s
    assert level == Level(2, T0 + 5 * S + S // 2)


def test_clock_stepping_back_adds_nothing():
    cfg = s()
    assert model.refill(Level(1, T0), cfg, T0 - 10 * S) == Level(1, T0)


# -- take and wait_us ------------------------------------------------------------


def test_take_is_all_or_nothing():
    cfg = s(max_tokens=5)
    out = model.take(Level(3, T0), cfg, 4, T0)
    assert out.allowed is False
    assert out.level == Level(3, T0)  # nothing taken
    assert out.wait_us == S
    out = model.take(Level(3, T0), cfg, 3, T0)
    assert out == model.Outcome(True, Level(0, T0), 0)


def test_wait_us_is_exact_with_carry_over():
    cfg = s(refill_count=2, interval_us=10_000)
    level = Level(0, T0)
    now = T0 + 3_000  # 3 ms into the first tick
    assert model.wait_us(level, cfg, 1, now) == 7_000
    assert model.wait_us(level, cfg, 2, now) == 7_000
    assert model.wait_us(level, cfg, 3, now) == 17_000
    assert model.wait_us(Level(5, T0), cfg, 5, now) == 0


def test_full_in_us():
    cfg = s(max_tokens=4, burst=2, refill_count=2)
    assert model.full_in_us(Level(1, T0), cfg, T0 + S // 4) == 3 * S - S // 4
    assert model.full_in_us(Level(6, T0), cfg, T0) == 0


# -- change --------------------------------------------------------------------


def test_change_clamps_to_new_ceiling():
    new = s(max_tokens=4)
    level = model.change(Level(10, T0), s(max_tokens=10), new, T0 + S // 2)
    assert level == Level(4, T0 + S // 2)  # full: its tick starts now


def test_change_settles_at_old_settings_first():
    old, new = s(), s(refill_count=5, interval_us=2 * S)
    level = model.change(Level(0, T0), old, new, T0 + S + S // 2)
    assert level.tokens == 1  # the old rate paid its one whole tick
    # Half of the old tick had elapsed: half of the new 2 s tick has, so it ends 1 s after the change.
    assert level.anchor_us == T0 + S // 2
    assert model.refill(level, new, T0 + 2 * S + S // 2 - 1).tokens == 1
    assert model.refill(level, new, T0 + 2 * S + S // 2).tokens == 6


def test_change_of_rate_keeps_the_elapsed_fraction_rounded_down():
    old, new = s(interval_us=3_000), s(interval_us=1_000)
    # 2,000 of 3,000 µs elapsed is 666.67 of 1,000: 666, never 667.
    level = model.change(Level(0, T0), old, new, T0 + 2_000)
    assert level == Level(0, T0 + 2_000 - 666)
    back = model.change(level, new, old, T0 + 2_000)
    assert back == Level(0, T0 + 2_000 - 1_998)  # 666 of 1,000 is 1,998 of 3,000: never more


def test_alternating_defaults_still_refill():
    """The issue-8 case: 1 per 1 s and 2 per 2 s, alternating on every call, 10 calls a second."""
    a, b = s(max_tokens=5, refill_count=1, interval_us=S), s(max_tokens=5, refill_count=2, interval_us=2 * S)
    level, settings, granted = Level(0, T0), a, 0
    for step in range(1, 61):
        now = T0 + step * (S // 10)
        new = b if settings is a else a
        level = model.change(level, settings, new, now)
        settings = new
        out = model.take(level, settings, 1, now)
        level, granted = out.level, granted + out.allowed
    assert granted in (5, 6)  # what one service alone gets in 6 s (the old rule gave 0)


def test_a_full_bucket_still_anchors_at_now():
    level = model.change(Level(3, T0), s(max_tokens=3), s(max_tokens=3, interval_us=7 * S), T0 + S // 3)
    assert level == Level(3, T0 + S // 3)


def test_a_clock_that_stepped_back_counts_as_at_most_one_tick_not_begun():
    old, new = s(interval_us=1_000), s(interval_us=4_000)
    level = model.change(Level(0, T0 + 10 * S), old, new, T0)  # anchor 10 s in the future
    assert level == Level(0, T0 + 4_000)
    assert model.change(Level(0, T0 + 500), old, new, T0) == Level(0, T0 + 2_000)


def test_change_with_same_rate_keeps_the_partial_tick():
    old, new = s(max_tokens=10), s(max_tokens=20, burst=3)
    level = model.change(Level(0, T0), old, new, T0 + S // 2)
    assert level == Level(0, T0)
    assert model.refill(level, new, T0 + S).tokens == 1


def test_raising_the_ceiling_grants_nothing():
    level = model.change(Level(10, T0), s(max_tokens=10), s(max_tokens=20), T0 + 5 * S)
    assert level.tokens == 10


# -- properties ------------------------------------------------------------------

settings_st = st.builds(
    Settings,
    max_tokens=st.integers(1, 20),
    burst=st.integers(0, 10),
    refill_count=st.integers(1, 5),
    interval_us=st.sampled_from([1_000, 1_001, 7_919, 10_000, S]),
)


@st.composite
def settings_and_level(draw):
    cfg = draw(settings_st)
    tokens = draw(st.integers(0, cfg.ceiling))
    anchor = T0 - draw(st.integers(0, 3 * cfg.interval_us))
    return cfg, Level(tokens, anchor)


@given(settings_and_level(), st.data())
@settings(max_examples=300)
def test_wait_us_is_exactly_when_take_succeeds(case, data):
    cfg, level = case
    n = data.draw(st.integers(1, cfg.ceiling))
    now = T0
    out = model.take(level, cfg, n, now)
    if out.allowed:
        assert out.wait_us == 0
        return
    assert out.wait_us > 0
    assert model.take(level, cfg, n, now + out.wait_us).allowed
    assert not model.take(level, cfg, n, now + out.wait_us - 1).allowed


@given(settings_and_level(), st.integers(0, 10 * S), st.integers(0, 10 * S))
def test_refill_composes(case, d1, d2):
    cfg, level = case
    t1, t2 = T0 + d1, T0 + d1 + d2
    assert model.refill(model.refill(level, cfg, t1), cfg, t2) == model.refill(level, cfg, t2)


@given(settings_st, st.lists(st.tuples(st.integers(0, 3 * S), st.integers(1, 30)), max_size=60))
@settings(max_examples=200)
def test_grants_never_exceed_the_exactness_bound(cfg, steps):
    level, now, granted = model.fresh(cfg, T0), T0, 0
    for dt, n in steps:
        now += dt
        n = min(n, cfg.ceiling)
        out = model.take(level, cfg, n, now)
        level = out.level
        if out.allowed:
            granted += n
        assert granted <= cfg.max_tokens + (now - T0) // cfg.interval_us * cfg.refill_count
        assert 0 <= level.tokens <= cfg.ceiling


@given(settings_and_level(), settings_st, st.integers(0, 5 * S), st.integers(0, 5 * S))
def test_change_never_exceeds_what_either_setting_would_pay(case, new, d1, d2):
    old, level = case
    t1 = T0 + d1
    changed = model.change(level, old, new, t1)
    assert changed.tokens == min(model.refill(level, old, t1).tokens, new.ceiling)
    later = model.refill(changed, new, t1 + d2)
    # The new settings may finish the tick in progress, as the same fraction of their own tick.
    settled = model.refill(level, old, t1)
    carried = (t1 - settled.anchor_us) * new.interval_us // old.interval_us
    ticks = (d2 + carried) // new.interval_us
    assert changed.anchor_us <= t1
    assert later.tokens <= min(new.ceiling, changed.tokens + ticks * new.refill_count)


INTERVALS = [1_000, 1_001, 1_500, 2_000, 3_000, 7_919, S, 2 * S]


@given(st.sampled_from(INTERVALS), st.lists(st.tuples(st.integers(0, 3 * S), st.sampled_from(INTERVALS)), max_size=80))
@settings(max_examples=300)
def test_no_sequence_of_changes_starves_a_bucket_or_pays_early(first, steps):
    """Ticks paid under any sequence of rate changes, against the real time spent under each rate.

    One token per tick and a ceiling never reached, so tokens count ticks. With
    T the sum over the steps of (time under a rate / its interval): never more
    than floor(T) ticks (no change brings a tick earlier), and each change loses
    less than one microsecond of the new tick, so at least floor(T - sum of
    1 / new interval): time spent under any rates always pays, callers that
    alternate on every call included.
    """
    cfg = Settings(10**12, 0, 1, first)
    level, now = Level(0, T0), T0
    elapsed_ticks, lost = Fraction(0), Fraction(0)
    for dt, interval in steps:
        now += dt
        elapsed_ticks += Fraction(dt, cfg.interval_us)
        new = Settings(10**12, 0, 1, interval)
        level = model.change(level, cfg, new, now)
        lost += Fraction(1, interval)
        cfg = new
    paid = model.refill(level, cfg, now).tokens
    assert paid <= elapsed_ticks
    assert paid >= int(elapsed_ticks - lost)
