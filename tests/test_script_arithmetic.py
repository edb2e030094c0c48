"""The script's exact integer arithmetic on large values, against Python's (both server versions).

Lua numbers are doubles: integers are exact only below 2**53, and a change of
refill rate computes ``floor(elapsed × new_interval / old_interval)``, whose
product can reach 2**106. ``mul_div`` in token_bucket.lua builds it exactly;
these tests run that very block of the script on its own (cut out between its
BEGIN/END markers) and the whole script through ``configure``.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from limiter import BucketConfig, RedisLimiter, model, script
from limiter.model import MAX_SAFE_INT, Level, Settings

_BLOCK = script.SOURCE[script.SOURCE.index("-- BEGIN mul_div") : script.SOURCE.index("-- END mul_div")]
HARNESS = (
    f"local MAX_SAFE = {MAX_SAFE_INT}\n"
    + _BLOCK
    + """
local out = {}
for i = 1, #ARGV, 3 do
  local q, r = mul_div(tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]))
  out[#out + 1] = string.format('%d %d', q, r)
end
return out
"""
)

# Values where doubles go wrong: near 2**53, powers of two and their neighbours, small ones.
edgy = st.one_of(
    st.integers(1, MAX_SAFE_INT),
    st.integers(0, 60).map(lambda k: min(MAX_SAFE_INT, 2**k)),
    st.integers(1, 53).flatmap(lambda k: st.integers(-3, 3).map(lambda d: max(1, min(MAX_SAFE_INT, 2**k + d)))),
    st.integers(MAX_SAFE_INT - 1000, MAX_SAFE_INT),
    st.integers(1, 10_000),
)


@st.composite
def triple(draw):
    b, c = draw(edgy), draw(edgy)
    a = draw(st.one_of(st.integers(0, c), st.sampled_from([0, c, c - 1 if c > 1 else 0])))
    return a, b, c


HYPOTHESIS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@given(st.lists(triple(), min_size=1, max_size=60))
@HYPOTHESIS
def test_mul_div_is_exact_beyond_2_53(redis_client, triples):
    args = [str(x) for t in triples for x in t]
    replies = redis_client.eval(HARNESS, 0, *args)
    for (a, b, c), reply in zip(triples, replies):
        q, r = map(int, reply.split())
        assert (q, r) == divmod(a * b, c), (a, b, c)


def test_mul_div_known_hard_cases(redis_client):
    m = MAX_SAFE_INT
    cases = [(m - 1, m, m), (m, m, m), (2**52 + 1, 2**52 + 3, 2**53 - 1), (3, m, 7), (m // 3, 2**53 - 2, m - 2), (0, m, m), (1, 1, 1)]
    replies = redis_client.eval(HARNESS, 0, *[str(x) for t in cases for x in t])
    assert [tuple(map(int, r.split())) for r in replies] == [divmod(a * b, c) for a, b, c in cases]


def _seed(client, key: str, interval_us: int, anchor_us: int) -> None:
    """A bucket with operator settings (one token, never full here) whose tick started at anchor_us."""
    client.hset(key, mapping={"tokens": 0, "anchor_us": anchor_us, "max_tokens": 1, "burst": 0,
                              "refill_count": 1, "interval_us": interval_us, "operator": 1})


@st.composite
def big_change(draw):
    old = draw(st.one_of(st.integers(1_000, MAX_SAFE_INT), st.integers(40, 53).map(lambda k: min(MAX_SAFE_INT, 2**k))))
    new = draw(st.one_of(st.integers(1_000, MAX_SAFE_INT), st.integers(40, 53).map(lambda k: min(MAX_SAFE_INT, 2**k - 1))))
    fraction = draw(st.floats(0, 1, exclude_max=True))
    return old, new, fraction


@given(big_change())
@HYPOTHESIS
def test_configure_with_huge_intervals_matches_the_model(redis_client, case):
    """The whole script: a live change between intervals up to 2**53 µs, the elapsed part up to ~2**50."""
    old_us, new_us, fraction = case
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=1))
    now_guess = int(redis_client.time()[0]) * 1_000_000
    elapsed = min(int(old_us * fraction), now_guess)  # the anchor cannot be before the epoch
    key = lim.key("big")
    _seed(redis_client, key, old_us, now_guess - elapsed)
    before = redis_client.hgetall(key)
    reply = lim._call("big", "configure", f"1 0 1 {new_us}".encode(), b"1")
    now = int(reply[script.NOW_US])
    expected = model.change(Level(0, int(before[b"anchor_us"])), Settings(1, 0, 1, old_us), Settings(1, 0, 1, new_us), now)
    assert (int(reply[script.TOKENS]), int(reply[script.ANCHOR_US])) == (expected.tokens, expected.anchor_us)
    assert 0 <= expected.anchor_us <= MAX_SAFE_INT


@pytest.mark.parametrize("anchor_ahead_us", [1, 999, 1_000, 10**12])
def test_a_clock_that_stepped_back_matches_the_model(redis_client, anchor_ahead_us):
    """An anchor in the future (a failover to a server whose clock is behind) changes like the model says."""
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=1))
    key = lim.key("back")
    now_guess = int(redis_client.time()[0]) * 1_000_000 + 10**6
    _seed(redis_client, key, 1_000, now_guess + anchor_ahead_us)
    anchor = int(redis_client.hget(key, "anchor_us"))
    reply = lim._call("back", "configure", b"1 0 1 4000", b"1")
    now = int(reply[script.NOW_US])
    expected = model.change(Level(0, anchor), Settings(1, 0, 1, 1_000), Settings(1, 0, 1, 4_000), now)
    assert int(reply[script.ANCHOR_US]) == expected.anchor_us
