"""`tbdash set` changes what exists and audits what changed: a no-op writes nothing, a missing bucket is refused.

The same rules hold on the dashboard's edit path (`RedisBackend`), which the CLI goes through.
"""

from __future__ import annotations

import pytest
import redis.asyncio

from dashboard.cli import main
from dashboard.core.backend import RedisBackend
from dashboard.core.errors import NoSuchBucket
from dashboard.core.protocol import ConnectionInfo
from limiter import BucketConfig, RedisLimiter

SLOW = BucketConfig(max_tokens=10, burst=5, refill_count=1, refill_interval=3600)
AUDIT = "token_bucket:audit"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(client) -> dict[bytes, bytes | None]:
    """Every key with its exact serialized value: any write shows."""
    return {key: client.dump(key) for key in sorted(client.keys("*"))}


@pytest.fixture
def seeded(redis_client) -> RedisLimiter:
    limiter = RedisLimiter(redis_client, default=SLOW)
    limiter.configure("op", BucketConfig(max_tokens=20, burst=0, refill_count=2, refill_interval=30))
    limiter.try_acquire("svc")  # a bucket with the service's settings, no operator settings
    return limiter


def test_a_no_op_set_writes_nothing_and_says_so(capsys, redis_client, redis_url: str, seeded: RedisLimiter) -> None:
    """Was: exit 0 and a new audit record "no change" (and a write to the bucket)."""
    before = snapshot(redis_client)
    for argv in (["--max-tokens", "20"], ["--burst", "0", "--refill-interval", "30s"], ["--refill-count", "2", "--max-tokens", "20"]):
        code, out, err = run(capsys, "--url", redis_url, "set", "op", *argv)
        assert (code, err) == (0, "")
        assert out == "op: has these operator settings already; nothing changed, nothing audited\n"
    code, out, _ = run(capsys, "--url", redis_url, "set", "op", "--max-tokens", "20", "--json")
    assert code == 0 and '"changed": false' in out
    assert snapshot(redis_client) == before  # no audit stream, no write to the bucket


def test_default_on_a_bucket_without_operator_settings_is_a_no_op(capsys, redis_client, redis_url: str, seeded: RedisLimiter) -> None:
    before = snapshot(redis_client)
    code, out, _ = run(capsys, "--url", redis_url, "set", "svc", "--default")
    assert code == 0 and "nothing changed, nothing audited" in out
    assert snapshot(redis_client) == before


def test_the_same_settings_made_operator_settings_is_a_change(capsys, redis_client, redis_url: str, seeded: RedisLimiter) -> None:
    """Equal values on a bucket that has none are a change: they become operator settings (persistent)."""
    code, out, _ = run(capsys, "--url", redis_url, "set", "svc", "--max-tokens", "10")
    assert code == 0 and "overridden       no -> yes" in out
    assert redis_client.xlen(AUDIT) == 1


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["set", "typo-user", "--max-tokens", "200"], "--create makes it"),
        (["set", "ghost", "--delete", "--yes"], "nothing to delete"),
        (["set", "nobody", "--default"], "nothing to unconfigure"),
        (["set", "nobody", "--reset"], "nothing to reset"),
    ],
)
def test_a_user_with_no_bucket_is_refused_and_nothing_is_written(capsys, redis_client, redis_url: str, seeded: RedisLimiter, argv, needle) -> None:
    """Was: exit 0, a persistent operator bucket for a typo, and audit records for buckets that never existed."""
    before = snapshot(redis_client)
    code, out, err = run(capsys, "--url", redis_url, *argv)
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1 and f"no bucket '{argv[1]}' under token_bucket:" in err and needle in err
    assert snapshot(redis_client) == before


def test_create_makes_the_bucket(capsys, redis_client, redis_url: str, seeded: RedisLimiter) -> None:
    code, out, err = run(capsys, "--url", redis_url, "set", "new-user", "--max-tokens", "200", "--create")
    assert code == 0, err
    state = seeded.peek("new-user")
    assert state is not None and state.overridden and state.config.max_tokens == 200
    assert redis_client.pttl("token_bucket:{new-user}") == -1  # operator settings persist
    assert redis_client.xlen(AUDIT) == 1
    code, _, err = run(capsys, "--url", redis_url, "set", "x", "--delete", "--yes", "--create")
    assert code == 2 and "--create goes with setting flags" in err


async def test_the_dashboard_edit_path_follows_the_same_rules(redis_url: str, redis_client, seeded: RedisLimiter) -> None:
    client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=5)
    backend = RedisBackend(client, default=SLOW, info=ConnectionInfo("standalone", redis_url), who="tester")
    try:
        before = snapshot(redis_client)
        assert await backend.configure("op", BucketConfig(max_tokens=20, burst=0, refill_count=2, refill_interval=30)) is None
        assert await backend.unconfigure("svc") is None
        for change in (backend.unconfigure("ghost"), backend.reset("ghost"), backend.delete("ghost"),
                       backend.configure("ghost", SLOW, create=False)):
            with pytest.raises(NoSuchBucket):
                await change
        assert snapshot(redis_client) == before
        entry = await backend.configure("op", BucketConfig(max_tokens=21, burst=0, refill_count=2, refill_interval=30))
        assert entry is not None and entry.new is not None and entry.new["max_tokens"] == 21
        assert redis_client.xlen(AUDIT) == 1
    finally:
        await backend.aclose()
