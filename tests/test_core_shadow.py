"""The dashboard's core on shadow settings: poll rows carry the shadow (level as `peek` sees it,
counters, rates from deltas), a corrupt shadow field is an InvalidKey, `bucket` reads it too,
and the Backend's shadow changes are audited and refused in read-only mode."""

from __future__ import annotations

import pytest
import redis.asyncio

from dashboard.core.backend import RedisBackend
from dashboard.core.errors import NoSuchBucket, ReadOnlyError
from dashboard.core.poller import Poller
from limiter import BucketConfig, RedisLimiter

SLOW = BucketConfig(max_tokens=10, burst=5, refill_count=1, refill_interval=3600)
PREVIEW = BucketConfig(max_tokens=3, refill_count=1, refill_interval=3600)


@pytest.fixture
async def aclient(redis_server):
    client = redis.asyncio.Redis.from_url(redis_server.url, socket_timeout=5)
    yield client
    await client.aclose()


async def test_poll_rows_carry_the_shadow_as_peek_sees_it(redis_client, aclient) -> None:
    lim = RedisLimiter(redis_client, default=SLOW)
    lim.try_acquire("plain")
    lim.configure("p", PREVIEW, shadow=True)
    poller = Poller(aclient, "token_bucket")
    first = {row.user: row for row in (await poller.poll()).buckets}
    assert first["plain"].shadow is None
    assert (first["p"].shadow.tokens, first["p"].shadow.config, first["p"].shadow.grants_per_s) == (3, PREVIEW, None)
    for _ in range(5):
        lim.try_acquire("p")
    rows = {row.user: row for row in (await poller.poll()).buckets}
    shadow, state = rows["p"].shadow, lim.peek("p").shadow
    assert (shadow.tokens, shadow.config, shadow.granted, shadow.denied) == (state.tokens, state.config, 3, 2)
    assert shadow.grants_per_s > 0 and shadow.denials_per_s > 0  # deltas between the two polls
    assert rows["p"].granted == 5 and rows["p"].tokens == 5


@pytest.mark.parametrize("value", [b"3 0 1", b"3 0 1 3600000000 4 0 0 0", b"3 0 1 3600000000 1 0 0 x", b"0 0 1 1000 0 0 0 0"])
async def test_a_corrupt_shadow_field_is_an_invalid_key(redis_client, aclient, value) -> None:
    lim = RedisLimiter(redis_client, default=SLOW)
    lim.try_acquire("bad")
    redis_client.hset(lim.key("bad"), "shadow", value)
    snapshot = await Poller(aclient, "token_bucket").poll()
    assert snapshot.buckets == () and [k.reason for k in snapshot.invalid] == ["has a corrupt shadow field; it was not written by tbdash"]


async def test_backend_shadow_changes_are_audited_and_no_ops_are_not(redis_client, aclient) -> None:
    RedisLimiter(redis_client, default=SLOW).try_acquire("svc")
    backend = RedisBackend(aclient, default=BucketConfig(max_tokens=99))  # tbdash's own default differs from the service's
    entry = await backend.shadow("svc", PREVIEW)
    assert entry.action == "shadow" and entry.new["shadow_max_tokens"] == 3
    row = await backend.bucket("svc")
    assert row.config == SLOW and row.default_changes == 0  # the service's settings stay in force, no disagreement
    assert await backend.shadow("svc", PREVIEW) is None
    entry = await backend.promote("svc")
    assert (entry.old["max_tokens"], entry.new["max_tokens"], entry.new["overridden"]) == (10, 3, True)
    assert await backend.promote("svc") is None and await backend.discard_shadow("svc") is None
    with pytest.raises(NoSuchBucket):
        await backend.shadow("nobody", PREVIEW)
    assert await backend.bucket("nobody") is None
    assert [e.action for e in await backend.audit()] == ["promote", "shadow"]


async def test_read_only_backend_refuses_before_touching_redis(redis_client, aclient) -> None:
    backend = RedisBackend(aclient, default=SLOW, read_only=True)
    for call in (lambda: backend.shadow("u", PREVIEW, create=True), lambda: backend.promote("u"), lambda: backend.discard_shadow("u")):
        with pytest.raises(ReadOnlyError):
            await call()
    assert redis_client.keys("*") == []
