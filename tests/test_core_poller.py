"""The poller: levels as of Redis time equal `peek`, bad data becomes InvalidKey, rates from deltas."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.core.poller import Poller, Rates, new_row, tokens_now
from dashboard.core.protocol import BucketRow
from limiter import BucketConfig, RedisLimiter
from limiter.model import MAX_SAFE_INT, Level, Settings, refill

SLOW = BucketConfig(max_tokens=10, burst=5, refill_count=1, refill_interval=3600)  # no tick during a test
OTHER = BucketConfig(max_tokens=20, burst=0, refill_count=2, refill_interval=1800)
GOOD = {"tokens": 3, "anchor_us": 9 * 10**15,  # anchored in the future: no refill
        "max_tokens": 5, "burst": 0, "refill_count": 1, "interval_us": 3_600_000_000, "operator": 1, "granted": 2, "denied": 0}


def _by_user(rows: tuple[BucketRow, ...]) -> dict[str, BucketRow]:
    return {row.user: row for row in rows}


@settings(max_examples=400, deadline=None)
@given(
    tokens=st.integers(0, 1000),
    anchor=st.integers(0, 10**12),
    max_tokens=st.integers(1, 500),
    burst=st.integers(0, 500),
    count=st.integers(1, 50),
    interval=st.integers(1000, 10**7),
    now=st.integers(0, 10**12),
)
def test_tokens_now_is_model_refill(tokens: int, anchor: int, max_tokens: int, burst: int, count: int, interval: int, now: int) -> None:
    s = Settings(max_tokens, burst, count, interval)
    tokens = min(tokens, s.ceiling)
    assert tokens_now(tokens, anchor, s, now) == refill(Level(tokens, anchor), s, now).tokens


def test_new_row_is_the_constructor() -> None:
    args: tuple[Any, ...] = ("u", 3, SLOW, 4, 5, True, None, 1.5, None)
    assert new_row(*args) == BucketRow(*args)
    assert hash(new_row(*args)) == hash(BucketRow(*args))


def test_rates_from_counter_deltas() -> None:
    rates = Rates()
    assert rates.update("a", 10, 5, 1_000_000) == (None, None)  # first sight
    rates.finish()
    assert rates.update("a", 20, 5, 3_000_000) == (5.0, 0.0)  # 10 grants in 2 s
    rates.finish()
    assert rates.update("a", 2, 9, 4_000_000) == (None, 4.0)  # granted went down: a reset
    rates.finish()
    rates.finish()  # a poll without "a": forgotten
    assert rates.update("a", 3, 9, 5_000_000) == (None, None)


async def test_poll_equals_peek(async_redis_client: redis.asyncio.Redis, redis_client) -> None:
    limiter = RedisLimiter(redis_client, prefix="tb", default=SLOW)
    limiter.try_acquire("fresh")
    for _ in range(7):
        limiter.try_acquire("drained")
    for _ in range(20):
        limiter.try_acquire("empty")
    limiter.configure("operator{1}", OTHER)
    limiter.try_acquire("operator{1}", 3)
    snapshot = await Poller(async_redis_client, "tb").poll()
    rows = _by_user(snapshot.buckets)
    assert set(rows) == {"fresh", "drained", "empty", "operator{1}"}
    for user, row in rows.items():
        state = limiter.peek(user)
        assert state is not None
        assert (row.tokens, row.config, row.granted, row.denied, row.overridden) == (
            state.tokens, state.config, state.granted, state.denied, state.overridden
        ), user
    assert rows["empty"].tokens == 0 and rows["empty"].denied == 10  # a new bucket holds max_tokens
    assert rows["operator{1}"].ttl_ms is None  # operator settings persist
    assert rows["fresh"].ttl_ms is not None and rows["fresh"].ttl_ms > 0
    assert snapshot.invalid == ()
    assert snapshot.redis_time_us > 0


async def test_poll_with_a_default_applies_peeks_rule(async_redis_client: redis.asyncio.Redis, redis_client) -> None:
    # Written by a service whose default is SLOW; peeked by one whose default is OTHER.
    writer = RedisLimiter(redis_client, prefix="tb", default=SLOW)
    for _ in range(4):
        writer.try_acquire("u")
    reader = RedisLimiter(redis_client, prefix="tb", default=OTHER)
    row = _by_user((await Poller(async_redis_client, "tb", default=OTHER).poll()).buckets)["u"]
    state = reader.peek("u")
    assert state is not None
    assert (row.tokens, row.config) == (state.tokens, state.config) == (6, OTHER)
    stored = _by_user((await Poller(async_redis_client, "tb").poll()).buckets)["u"]
    assert (stored.tokens, stored.config) == (6, SLOW)  # default=None: the stored settings


async def test_bad_hashes_become_invalid_keys_without_breaking_the_rest(async_redis_client: redis.asyncio.Redis, redis_client) -> None:
    limiter = RedisLimiter(redis_client, prefix="tb", default=SLOW)
    bad: dict[str, dict[str, Any] | None] = {
        "non_numeric": GOOD | {"tokens": "lots"},
        "negative": GOOD | {"burst": -1},
        "too_full": GOOD | {"tokens": 6},
        "huge": GOOD | {"max_tokens": 2**60},
        "operator_2": GOOD | {"operator": 2},
        "interval_0": GOOD | {"interval_us": 0},
        "crlf": GOOD | {"tokens": "5\r\n$1\r\n6"},  # must not desynchronise the replies after it
        "no_fields": {"something": "else"},
        "missing": {k: v for k, v in GOOD.items() if k != "anchor_us"},
        "not_plain": GOOD | {"tokens": "2.0", "granted": "1e1"},  # numbers to Lua, but the script never writes them
    }
    users = []
    for i, (name, fields) in enumerate(bad.items()):
        users.append(f"ok{i}")
        limiter.try_acquire(f"ok{i}")
        redis_client.hset(f"tb:{{{name}}}", mapping=fields)
    redis_client.set("tb:{wrong_type}", "x")

    for chunk in (3, 10_000):  # batches that split anywhere, and one batch
        snapshot = await Poller(async_redis_client, "tb", chunk=chunk).poll()
        rows = _by_user(snapshot.buckets)
        assert set(rows) == set(users)
        assert all(rows[u].tokens == 9 and rows[u].granted == 1 for u in users)
        reasons = {k.key: k.reason for k in snapshot.invalid}
        assert set(reasons) == {f"tb:{{{name}}}" for name in bad} | {"tb:{wrong_type}"}
        assert "not a hash (string)" in reasons["tb:{wrong_type}"]
        assert "without bucket fields" in reasons["tb:{no_fields}"]
        assert "more tokens than its ceiling" in reasons["tb:{too_full}"]
        assert "exceed 2^53" in reasons["tb:{huge}"] or "not valid" in reasons["tb:{huge}"]


async def test_rates_between_polls(async_redis_client: redis.asyncio.Redis, redis_client) -> None:
    limiter = RedisLimiter(redis_client, prefix="tb", default=SLOW)
    limiter.try_acquire("a")
    poller = Poller(async_redis_client, "tb")
    first = _by_user((await poller.poll()).buckets)["a"]
    assert first.grants_per_s is None and first.denials_per_s is None
    for _ in range(30):
        limiter.try_acquire("a")  # 9 more grants, 21 denials
    second = _by_user((await poller.poll()).buckets)["a"]
    assert second.grants_per_s is not None and second.grants_per_s > 0
    assert second.denials_per_s is not None and second.denials_per_s > 0
    limiter.delete("a")
    limiter.try_acquire("a")  # counters start again: no rate for this poll
    third = _by_user((await poller.poll()).buckets)["a"]
    assert third.grants_per_s is None


async def test_poll_on_cluster_covers_every_primary(cluster_group, cluster_client) -> None:
    from limiter.connect import connect

    limiter = RedisLimiter(cluster_client, prefix="tb", default=SLOW)
    users = [f"user{i}" for i in range(60)] + ["a{b}c"]
    for user in users:
        limiter.try_acquire(user, 2)
    cluster_client.set("tb:{junk}", "x")
    client = connect(cluster_group.url, asyncio=True)
    try:
        snapshot = await Poller(client, "tb").poll()
    finally:
        await client.aclose()
    rows = _by_user(snapshot.buckets)
    assert set(rows) == set(users)
    assert all(row.tokens == 8 for row in rows.values())
    assert [k.key for k in snapshot.invalid] == ["tb:{junk}"]
    slots = {cluster_client.keyslot(f"tb:{{{u}}}") for u in users}
    nodes = {cluster_client.nodes_manager.get_node_from_slot(s).name for s in slots}
    assert len(nodes) == 3  # the users really were spread over all primaries


@pytest.mark.parametrize("maximum", [MAX_SAFE_INT])
async def test_values_at_the_integer_limit(async_redis_client: redis.asyncio.Redis, redis_client, maximum: int) -> None:
    redis_client.hset("tb:{big}", mapping=GOOD | {"max_tokens": maximum - 1, "burst": 1, "tokens": maximum, "refill_count": maximum, "interval_us": 1000})
    snapshot = await Poller(async_redis_client, "tb").poll()
    assert [r.tokens for r in snapshot.buckets] == [maximum]


@pytest.mark.parametrize("protocol", [2, 3])
async def test_script_written_buckets_take_the_fast_path(redis_server, redis_client, protocol: int) -> None:
    """Every bucket the script wrote is read by the one-regex path, whichever RESP the client speaks.

    redis-py 8 speaks RESP3 by default, whose nulls (``_``) the fast path once did
    not know: every poll then fell back to the general parser (the soak's CPU).
    """
    limiter = RedisLimiter(redis_client, prefix="tb", default=SLOW)
    for user in ("a", "b{1}", "c"):
        limiter.try_acquire(user)
    limiter.configure("op", OTHER)
    client = redis.asyncio.Redis.from_url(redis_server.url, protocol=protocol, socket_timeout=5)
    try:
        poller = Poller(client, "tb")
        keys = sorted(redis_client.keys("tb:*"))
        read = await poller.read(keys)
        assert [type(values) for values in read.values] == [tuple] * len(keys)
        rows = _by_user((await poller.poll()).buckets)
        assert set(rows) == {"a", "b{1}", "c", "op"} and rows["a"].granted == 1
    finally:
        await client.aclose()
