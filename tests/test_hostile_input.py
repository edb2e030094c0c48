"""Bad data under the prefix and hostile input, on standalone and on Cluster, on every server version.

- Bad data at scale: hundreds of keys of the wrong type or with missing,
  non-numeric or absurd fields, mixed with good buckets. Every operation on a
  bad key raises `CorruptBucket` (even with on_error="allow": bad data is not an
  outage), the key is byte-for-byte unchanged (DUMP), good buckets are not
  disturbed, and ``peek_many`` returns the errors in place.
- Hostile user ids: braces, colons, spaces, unicode, newlines, NUL bytes, 10 KB
  ids: one key each, one slot (no CROSSSLOT), the id recovered from the key.
- Settings at the integer limits are exact (stored fields are plain decimal
  integers, no float drift); settings that would overflow are rejected by
  validation with a message that names the problem.
"""

from __future__ import annotations

import re
import time

import pytest
import redis
from redis.cluster import RedisCluster

from faults_helpers import FROZEN
from limiter import BucketConfig, CorruptBucket, LimiterError, RedisLimiter, TokensExceedCeiling
from limiter.keys import user_of
from limiter.model import MAX_SAFE_INT as M

DECIMAL = re.compile(rb"^\d+$")
SHAPES = {
    b"req": re.compile(rb"^\S+ [01] \d+$"),  # request id, allowed, wait_us
    b"default": re.compile(rb"^\d+ \d+ \d+ \d+ \d+$"),  # the caller's default and idle_ms, as sent
}


@pytest.fixture(params=["standalone", "cluster"])
def client(request, redis_binary):
    """A client on the shared standalone server or the shared cluster (of each binary), emptied first."""
    return request.getfixturevalue("redis_client" if request.param == "standalone" else "cluster_client")


def all_keys(client) -> list[bytes]:
    if isinstance(client, RedisCluster):
        return list(client.scan_iter(match="*", count=1000, target_nodes=RedisCluster.PRIMARIES))
    return list(client.scan_iter(match="*", count=1000))


def assert_plain_integers(client, key: str | bytes) -> dict[bytes, bytes]:
    """Every stored field of a bucket is a plain decimal integer (``req`` and ``default`` have their own shapes)."""
    fields = client.hgetall(key)
    assert fields, key
    for name, value in fields.items():
        pattern = SHAPES.get(name, DECIMAL)
        assert pattern.match(value), f"{key!r}: field {name!r} = {value!r}"
    return fields


# --------------------------------------------------------------------------- bad data

GOOD = {"tokens": "3", "anchor_us": "1", "max_tokens": "5", "burst": "0", "refill_count": "1", "interval_us": "1000000"}


def _hash(**changes: str | None) -> dict[str, str]:
    fields = {**GOOD, **changes}
    return {k: v for k, v in fields.items() if v is not None}


SEEDS = {
    "string": lambda r, k: r.set(k, "hello"),
    "list": lambda r, k: r.rpush(k, "a", "b"),
    "set": lambda r, k: r.sadd(k, "tokens"),
    "zset": lambda r, k: r.zadd(k, {"tokens": 1.0}),
    "stream": lambda r, k: r.xadd(k, {"tokens": "3"}),
    "foreign-hash": lambda r, k: r.hset(k, mapping={"somebody": "else"}),
    "only-counters": lambda r, k: r.hset(k, mapping={"granted": "4", "denied": "1"}),
    "no-tokens": lambda r, k: r.hset(k, mapping=_hash(tokens=None)),
    "no-anchor": lambda r, k: r.hset(k, mapping=_hash(anchor_us=None)),
    "no-settings": lambda r, k: r.hset(k, mapping={"tokens": "1", "anchor_us": "1"}),
    "no-interval": lambda r, k: r.hset(k, mapping=_hash(interval_us=None)),
    "tokens-word": lambda r, k: r.hset(k, mapping=_hash(tokens="many")),
    "tokens-empty": lambda r, k: r.hset(k, mapping=_hash(tokens="")),
    "tokens-negative": lambda r, k: r.hset(k, mapping=_hash(tokens="-1")),
    "tokens-fraction": lambda r, k: r.hset(k, mapping=_hash(tokens="2.5")),
    "tokens-nan": lambda r, k: r.hset(k, mapping=_hash(tokens="nan")),
    "tokens-inf": lambda r, k: r.hset(k, mapping=_hash(tokens="inf")),
    "tokens-over-ceiling": lambda r, k: r.hset(k, mapping=_hash(tokens="99")),
    "max-absurd": lambda r, k: r.hset(k, mapping=_hash(max_tokens="1e300")),
    "max-2^53": lambda r, k: r.hset(k, mapping=_hash(max_tokens=str(2**53))),
    "max-huge": lambda r, k: r.hset(k, mapping=_hash(max_tokens="9" * 40)),
    "max-zero": lambda r, k: r.hset(k, mapping=_hash(max_tokens="0", tokens="0")),
    "ceiling-overflow": lambda r, k: r.hset(k, mapping=_hash(max_tokens=str(M), burst="1")),
    "count-zero": lambda r, k: r.hset(k, mapping=_hash(refill_count="0")),
    "interval-sub-ms": lambda r, k: r.hset(k, mapping=_hash(interval_us="999")),
    "interval-negative": lambda r, k: r.hset(k, mapping=_hash(interval_us="-1000000")),
    "fill-time-overflow": lambda r, k: r.hset(k, mapping=_hash(max_tokens=str(2**40), interval_us=str(2**20))),
    "operator-2": lambda r, k: r.hset(k, mapping=_hash(operator="2")),
    "operator-word": lambda r, k: r.hset(k, mapping=_hash(operator="yes")),
    "granted-word": lambda r, k: r.hset(k, mapping=_hash(granted="lots")),
    "denied-negative": lambda r, k: r.hset(k, mapping=_hash(denied="-3")),
    "anchor-fraction": lambda r, k: r.hset(k, mapping=_hash(anchor_us="1.5")),
}

OPERATIONS = {
    "try_acquire": lambda lim, u: lim.try_acquire(u),
    "acquire": lambda lim, u: lim.acquire(u, timeout=1),
    "peek": lambda lim, u: lim.peek(u),
    "configure": lambda lim, u: lim.configure(u, BucketConfig(max_tokens=9, **FROZEN)),
    "unconfigure": lambda lim, u: lim.unconfigure(u),
    "reset": lambda lim, u: lim.reset(u),
    # delete: see test_delete_refuses_data_it_did_not_write
}


def test_bad_data_at_scale_is_refused_untouched_and_good_buckets_carry_on(client):
    lim = RedisLimiter(client, default=BucketConfig(max_tokens=5, **FROZEN), on_error="allow")
    copies = 6  # every kind of bad data, six times over: ~200 bad keys among ~200 good ones
    bad = {f"bad-{kind}-{i}": kind for kind in SEEDS for i in range(copies)}
    good = [f"good-{i}" for i in range(len(bad))]
    for user, kind in bad.items():
        SEEDS[kind](client, lim.key(user))
    for user in good:
        assert lim.try_acquire(user).allowed
    dumps = {user: client.dump(lim.key(user)) for user in bad}
    good_before = {s.user: (s.tokens, s.granted, s.denied) for s in lim.peek_many(good)}

    refused = 0
    for user, kind in bad.items():
        ops = OPERATIONS if user.endswith("-0") else {"try_acquire": OPERATIONS["try_acquire"]}
        for name, op in ops.items():
            with pytest.raises(CorruptBucket) as err:
                op(lim, user)
            assert err.value.key == lim.key(user), (kind, name)
            assert "not written by tbdash" in str(err.value), (kind, name, str(err.value))
            refused += 1
        assert client.dump(lim.key(user)) == dumps[user], f"{kind}: the key was changed"

    # peek_many over good, bad and missing users mixed: each answer in its place.
    mixed = [u for pair in zip(good, bad) for u in pair] + ["nobody"]
    states = lim.peek_many(mixed)
    for user, state in zip(mixed, states):
        if user in bad:
            assert isinstance(state, CorruptBucket) and state.key == lim.key(user), user
        elif user == "nobody":
            assert state is None
        else:
            assert (state.tokens, state.granted, state.denied) == good_before[user], user
    assert all(client.dump(lim.key(u)) == dumps[u] for u in bad)
    assert all(lim.try_acquire(u).allowed for u in good)  # good buckets carry on
    print(f"\nFIGURE bad data: {len(bad)} bad keys ({len(SEEDS)} kinds), {len(good)} good, {refused} calls refused, 0 written")


# Regression (found by this test, fixed in bfb3487): delete ran before the "hash
# without bucket fields" check, so a foreign hash (or one holding only counters)
# under the prefix was silently DELeted, while every other operation, and delete
# itself on every other kind of bad data, refuses it with CorruptBucket.
def test_delete_refuses_data_it_did_not_write(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=5, **FROZEN))
    wrong = []
    for kind, seed in SEEDS.items():
        key = lim.key(f"victim-{kind}")
        seed(redis_client, key)
        before = redis_client.dump(key)
        try:
            lim.delete(f"victim-{kind}")
            wrong.append(f"{kind}: deleted")
        except CorruptBucket:
            if redis_client.dump(key) != before:
                wrong.append(f"{kind}: changed")
    assert wrong == []


# Regression (found by this test, fixed in bfb3487): Lua's tonumber() accepts
# hex, surrounding spaces, a plus sign, fractions and exponents that happen to be
# whole ("0x3", " 3", "3.0", "3e0", "+3"), so a hash tbdash never wrote passed
# as a bucket and was rewritten. The script only ever writes plain decimal
# integers; anything else is foreign data and must be CorruptBucket, untouched.
def test_stored_numbers_that_are_not_plain_decimal_integers_are_corrupt(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=5, **FROZEN))
    accepted = []
    for field in ["tokens", "anchor_us", "max_tokens", "interval_us", "granted", "operator"]:
        for value in ["0x3", " 3", "3 ", "3.0", "3e0", "+3", "-0"]:
            user = f"lax-{field}-{value}"
            key = lim.key(user)
            redis_client.hset(key, mapping=_hash(**{field: value}))
            before = redis_client.dump(key)
            try:
                lim.try_acquire(user)
                accepted.append((field, value, "written" if redis_client.dump(key) != before else "read"))
            except CorruptBucket:
                assert redis_client.dump(key) == before
    assert accepted == []


# --------------------------------------------------------------------------- hostile user ids

HOSTILE_IDS = [
    "{a}", "a}b{", "}", "{", "{}", "}{", "x{y}z", "{{x}}", "a:b:c", ":", "::{::}::",
    "with space", " ", "  leading and trailing  ", "ünïcødé ✓", "日本語のユーザー", "emoji 🚀🔥",
    "line\nbreak", "crlf\r\nin it", "tab\tin it", "nul\x00byte", "\x00", "glob*?[]\\",
    "token_bucket:{nested}", "%s%n", "u" * 10_240, "ü" * 10_240,
]


def test_hostile_user_ids_each_stay_one_key_in_one_slot(client):
    lim = RedisLimiter(client, default=BucketConfig(max_tokens=2, **FROZEN))
    for user in HOSTILE_IDS:
        assert [lim.try_acquire(user).allowed for _ in range(3)] == [True, True, False], repr(user)
        state = lim.configure(user, BucketConfig(max_tokens=3, **FROZEN))  # one key, one slot: no CROSSSLOT
        assert state.tokens == 0 and state.overridden
    keys = all_keys(client)
    assert len(keys) == len(HOSTILE_IDS)
    assert sorted(user_of("token_bucket", k) for k in keys) == sorted(HOSTILE_IDS)
    for state, user in zip(lim.peek_many(HOSTILE_IDS), HOSTILE_IDS):
        assert state.user == user and state.granted == 2 and state.denied == 1
    for user in HOSTILE_IDS:
        lim.delete(user)
    assert all_keys(client) == []


def test_user_ids_that_cannot_be_encoded_are_refused_before_redis(client):
    lim = RedisLimiter(client, default=BucketConfig(max_tokens=2, **FROZEN))
    for bad in ["lone \ud800 surrogate", "", None, 42, b"bytes"]:
        with pytest.raises(ValueError):
            lim.try_acquire(bad)
    assert all_keys(client) == []


def test_prefixes_that_would_break_the_key_scheme_are_refused(redis_client):
    for prefix in ["", "a{b", "a}b", "p*", "p?", "p[x]", " p", "p "]:
        with pytest.raises(ValueError, match="prefix"):
            RedisLimiter(redis_client, prefix=prefix, default=BucketConfig(max_tokens=1))


# --------------------------------------------------------------------------- integer limits


def test_settings_at_the_integer_limits_are_exact(client):
    lim = RedisLimiter(client, default=BucketConfig(max_tokens=M, refill_count=M, refill_interval=0.001))
    big = lim.try_acquire("max", M)
    assert big.allowed and big.remaining == 0 and big.limit == M
    time.sleep(0.003)
    one = lim.try_acquire("max", 1)
    assert one.allowed and one.remaining == M - 1  # one tick refilled all 2**53-1; no float drift
    fields = assert_plain_integers(client, lim.key("max"))
    assert fields[b"tokens"] == str(M - 1).encode() and fields[b"max_tokens"] == str(M).encode()

    # A ceiling of 2**53-1 reached through burst.
    burst = RedisLimiter(client, prefix="burst", default=BucketConfig(max_tokens=1, burst=M - 1, refill_count=M, refill_interval=0.001))
    assert burst.try_acquire("b").remaining == 0
    time.sleep(0.003)
    full = burst.try_acquire("b", M)
    assert full.allowed and full.remaining == 0
    assert_plain_integers(client, burst.key("b"))

    # The longest tick there is (2**53 microseconds, ~285 years): exact waits, a sane TTL.
    slow_cfg = BucketConfig(max_tokens=1, refill_count=1, refill_interval=9_007_199_254.0)
    slow = RedisLimiter(client, prefix="slow", default=slow_cfg)
    assert slow.try_acquire("s").allowed
    denied = slow.try_acquire("s")
    assert not denied.allowed
    assert slow_cfg.interval_us - 5_000_000 < round(denied.retry_after * 1_000_000) <= slow_cfg.interval_us
    fields = assert_plain_integers(client, slow.key("s"))
    assert fields[b"interval_us"] == str(slow_cfg.interval_us).encode()
    assert client.pttl(slow.key("s")) > 9_007_199_254_000 - 60_000

    # A live change to the limit and back again.
    state = lim.configure("max", BucketConfig(max_tokens=1, burst=M - 1, refill_count=M, refill_interval=0.001))
    assert state.config.ceiling == M
    lim.unconfigure("max")
    assert_plain_integers(client, lim.key("max"))
    for key in all_keys(client):
        assert_plain_integers(client, key)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(max_tokens=M + 1), "max_tokens"),
        (dict(max_tokens=1, burst=M + 1), "burst"),
        (dict(max_tokens=1, refill_count=M + 1), "refill_count"),
        (dict(max_tokens=M, burst=1), "max_tokens + burst must be at most"),
        (dict(max_tokens=M // 2 + 1, burst=M // 2 + 1), "max_tokens + burst must be at most"),
        (dict(max_tokens=2**40, refill_count=1, refill_interval=1.0), "refills too slowly"),
        (dict(max_tokens=M, refill_count=1, refill_interval=0.001), "refills too slowly"),
        (dict(max_tokens=1, refill_interval=1e10), "too long"),
        (dict(max_tokens=1, refill_interval=2.0**63), "too long"),
        (dict(max_tokens=1, refill_interval=0.0005), "at least 0.001"),
        (dict(max_tokens=1, refill_interval=0), "at least 0.001"),
        (dict(max_tokens=1, refill_interval=-1), "at least 0.001"),
        (dict(max_tokens=1, refill_interval=float("nan")), "refill_interval"),
        (dict(max_tokens=1, refill_interval=float("inf")), "refill_interval"),
        (dict(max_tokens=0), "max_tokens"),
        (dict(max_tokens=1, burst=-1), "burst"),
        (dict(max_tokens=1, refill_count=0), "refill_count"),
        (dict(max_tokens=2.5), "whole number"),
        (dict(max_tokens=True), "boolean"),
        (dict(max_tokens=1, refill_interval="soon"), "refill_interval"),
    ],
)
def test_settings_that_would_overflow_are_rejected_with_a_clear_message(settings, message):
    with pytest.raises(ValueError) as err:
        BucketConfig(**settings)
    assert message in str(err.value)


# Regression (found by this test, fixed in bfb3487): n above 2**53-1 is "larger
# than the ceiling" (SPEC §2: an error at once, TokensExceedCeiling); the script
# used to answer "n must be a whole number >= 1", a plain LimiterError that
# callers catching TokensExceedCeiling miss.
def test_n_beyond_the_integer_limit_exceeds_the_ceiling(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=5, **FROZEN))
    lim.try_acquire("n")
    for n in [M + 1, 2**64, 10**40]:
        with pytest.raises(TokensExceedCeiling) as err:
            lim.try_acquire("n", n)
        assert err.value.ceiling == 5
    assert lim.peek("n").tokens == 4 and lim.peek("n").denied == 0


def test_n_at_the_integer_limit_is_a_plain_ceiling_error(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=5, **FROZEN))
    with pytest.raises(TokensExceedCeiling):
        lim.try_acquire("n", M)
    with pytest.raises(LimiterError):
        lim.acquire("n", M, timeout=10)


# Regression (found by this test, fixed in bfb3487): idle_ttl was checked only
# for < 0. A huge one was accepted and then every call failed with the
# misleading "idle_ms must be a whole number >= 0"; inf raised OverflowError and
# nan "cannot convert float NaN to integer".
def test_idle_ttl_out_of_range_is_rejected_when_the_limiter_is_built():
    unconnected = redis.Redis(port=1)  # the constructor must decide without Redis
    for idle_ttl in [1e13, float("inf"), float("nan"), -1]:
        with pytest.raises(ValueError, match="idle_ttl"):
            RedisLimiter(unconnected, default=BucketConfig(max_tokens=5), idle_ttl=idle_ttl)


def test_largest_idle_ttl_works(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=5, refill_interval=0.01), idle_ttl=M // 1000)
    assert lim.try_acquire("t").allowed
    assert redis_client.pttl(lim.key("t")) > (M // 1000) * 1000 - 60_000
