"""RedisBackend: read-only refuses every mutation; unreachable Redis names the server; no textual import."""

from __future__ import annotations

import subprocess
import sys

import pytest
import redis.asyncio

from dashboard.core.backend import RedisBackend, info_of
from dashboard.core.errors import ReadOnlyError
from dashboard.core.protocol import LoadSpec
from limiter import BucketConfig, RedisUnavailable
from limiter.connect import connect, parse_url

DEFAULT = BucketConfig(max_tokens=10, burst=5, refill_count=1, refill_interval=3600)


def test_headless_layer_imports_without_textual() -> None:
    code = (
        "import sys\n"
        "import dashboard.core.backend, dashboard.core.demo, dashboard.core.history, dashboard.cli\n"
        "import dashboard.core.discovery, dashboard.core.poller, dashboard.core.loadgen, dashboard.core.audit\n"
        "assert not any(m == 'textual' or m.startswith('textual.') for m in sys.modules), 'textual imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


async def test_read_only_refuses_every_mutation(async_redis_client: redis.asyncio.Redis) -> None:
    backend = RedisBackend(async_redis_client, prefix="tb", default=DEFAULT, read_only=True)
    calls = [
        lambda: backend.configure("u", DEFAULT),
        lambda: backend.unconfigure("u"),
        lambda: backend.reset("u"),
        lambda: backend.delete("u"),
    ]
    for call in calls:
        with pytest.raises(ReadOnlyError, match="read-only"):
            await call()
    with pytest.raises(ReadOnlyError):
        backend.load(LoadSpec("u", rate=10, duration=1))
    assert await async_redis_client.dbsize() == 0  # nothing was written, not even the audit stream
    snapshot = await backend.poll()  # reading still works
    assert snapshot.buckets == ()


async def test_connect_fills_info(async_redis_client: redis.asyncio.Redis, redis_url: str) -> None:
    spec = parse_url(redis_url)
    backend = RedisBackend(async_redis_client, info=info_of(spec))
    info = await backend.connect()
    assert info.mode == "standalone" and info.version.count(".") == 2
    assert info.server == f"{spec.hosts[0].host}:{spec.hosts[0].port}"


async def test_unreachable_redis_names_the_server_not_the_password() -> None:
    url = "redis://:canary-pw-1234@127.0.0.1:1/0"
    spec = parse_url(url)
    backend = RedisBackend(connect(spec, asyncio=True, connect_timeout=0.5), info=info_of(spec))
    with pytest.raises(RedisUnavailable) as caught:
        await backend.poll()
    assert "127.0.0.1:1" in str(caught.value) and "canary" not in str(caught.value)
    await backend.aclose()


async def test_sentinel_backend_names_the_primary(sentinel_group) -> None:
    spec = parse_url(sentinel_group.url)
    backend = RedisBackend(connect(spec, asyncio=True), prefix="tb", default=DEFAULT, info=info_of(spec))
    try:
        info = await backend.connect()
        primary = sentinel_group.current_primary()
        assert primary is not None and info.server == f"{primary.host}:{primary.port}"
        await backend.configure("s{1}", DEFAULT)
        assert [r.user for r in (await backend.poll()).buckets] == ["s{1}"]
        await backend.delete("s{1}")
    finally:
        await backend.aclose()


class _StaleReadBackend(RedisBackend):
    """A backend whose read of the bucket happened just before the bucket expired.

    Its `bucket()` answers with a row taken earlier; Redis itself is real, and by
    the time the write runs the key is gone (as after an idle expiry).
    """

    stale_row = None

    async def bucket(self, user):  # type: ignore[override]
        return self.stale_row


async def test_a_bucket_that_expires_between_the_read_and_the_write_is_not_recreated(
    async_redis_client: redis.asyncio.Redis,
) -> None:
    backend = _StaleReadBackend(async_redis_client, prefix="tb", default=DEFAULT)
    from limiter import AsyncRedisLimiter

    lim = AsyncRedisLimiter(async_redis_client, prefix="tb", default=DEFAULT)
    await lim.try_acquire("gone")
    backend.stale_row = await RedisBackend.bucket(backend, "gone")
    assert backend.stale_row is not None
    await async_redis_client.delete("tb:{gone}")  # it expired

    from dashboard.core.errors import NoSuchBucket

    for call in (
        lambda: backend.configure("gone", BucketConfig(max_tokens=99), create=False),
        lambda: backend.reset("gone"),
        lambda: backend.delete("gone"),
    ):
        with pytest.raises(NoSuchBucket):
            await call()
    assert await async_redis_client.exists("tb:{gone}") == 0
    assert await async_redis_client.exists("tb:audit") == 0
    await backend.aclose()
