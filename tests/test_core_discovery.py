"""Discovery: SCAN finds every bucket (brace user ids too), reports every other key under the prefix."""

from __future__ import annotations

import redis.asyncio

from dashboard.core.discovery import classify, discover, discover_sync
from dashboard.core.protocol import InvalidKey
from limiter import BucketConfig, RedisLimiter
from limiter.keys import bucket_key

CFG = BucketConfig(max_tokens=5, refill_count=1, refill_interval=3600)
ODD_USERS = ["plain", "a{b}c", "{x}", "}{", "{", "}", "with space", "ünïcødé", "colon:in:id", "x" * 300]


def test_classify_dedupes_and_filters_foreign_names() -> None:
    names = [b"tb:{a}", b"tb:{a}", b"other:{a}", b"tb:audit", b"tb:junk", b"tb:{}", "tb:{s}", "tb:strjunk"]
    found = classify("tb", names)
    assert found.users == ["a", "s"]
    assert found.keys == [b"tb:{a}", "tb:{s}"]
    assert [k.key for k in found.invalid] == ["tb:junk", "tb:{}", "tb:strjunk"]
    assert all("expected tb:{<user>}" in k.reason for k in found.invalid)


def test_classify_keeps_undecodable_bytes() -> None:
    found = classify("tb", [b"tb:{\xff\xfe}", b"tb:\xff"])
    assert found.users == ["\udcff\udcfe"]  # surrogateescape: the key can be rebuilt exactly
    assert found.invalid == [InvalidKey("tb:\\xff", found.invalid[0].reason)]


async def test_discovers_buckets_and_every_kind_of_invalid_key(async_redis_client: redis.asyncio.Redis, redis_client) -> None:
    limiter = RedisLimiter(redis_client, prefix="tb", default=CFG)
    for user in ODD_USERS:
        limiter.try_acquire(user)
    # Bad names under the prefix, of every type; they must be listed, not crash anything.
    redis_client.set("tb:string", "x")
    redis_client.rpush("tb:list", "x")
    redis_client.sadd("tb:set", "x")
    redis_client.zadd("tb:zset", {"x": 1})
    redis_client.hset("tb:hash", "x", "1")
    redis_client.xadd("tb:stream", {"x": "1"})
    redis_client.xadd("tb:audit", {"who": "me"})  # the audit stream is not a bucket and not invalid
    redis_client.set("tbx:{alice}", "x")  # another prefix: not ours
    redis_client.set("elsewhere", "x")

    found = await discover(async_redis_client, "tb", count=3)  # small COUNT: many SCAN rounds
    assert sorted(found.users) == sorted(ODD_USERS)
    assert {bucket_key("tb", u).encode() for u in ODD_USERS} == set(found.keys)
    assert sorted(k.key for k in found.invalid) == ["tb:hash", "tb:list", "tb:set", "tb:stream", "tb:string", "tb:zset"]

    sync_found = discover_sync(redis_client, "tb")
    assert sorted(sync_found.users) == sorted(ODD_USERS)
    assert len(sync_found.invalid) == 6


async def test_discovery_on_decode_responses_client(redis_url: str, redis_client) -> None:
    RedisLimiter(redis_client, prefix="tb", default=CFG).try_acquire("a{b}")
    redis_client.set("tb:junk", "x")
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        found = await discover(client, "tb")
    finally:
        await client.aclose()
    assert found.users == ["a{b}"]
    assert [k.key for k in found.invalid] == ["tb:junk"]
