"""The audit stream: every change through the backend, with who, old -> new; a failed audit write is loud."""

from __future__ import annotations

import pytest
import redis.asyncio

from dashboard.core.audit import AuditLog, entry_of, operator_identity
from dashboard.core.backend import RedisBackend
from dashboard.core.errors import AuditWriteFailed
from limiter import BucketConfig

DEFAULT = BucketConfig(max_tokens=10, burst=5, refill_count=1, refill_interval=3600)
NEW = BucketConfig(max_tokens=20, burst=0, refill_count=2, refill_interval=60)


def test_operator_identity() -> None:
    assert operator_identity("ops-team") == "ops-team"
    user, at, host = operator_identity().partition("@")
    assert user and at and host


def test_foreign_entries_do_not_crash() -> None:
    entry = entry_of(b"1700000000000-0", {b"who": b"x", b"old": b"not json", b"new": b"[1]"})
    assert entry.when == 1_700_000_000.0 and entry.action == "?"
    assert entry.old == {"unparsed": "not json"} and entry.new == {"value": [1]}


async def test_changes_are_audited_newest_first(async_redis_client: redis.asyncio.Redis) -> None:
    backend = RedisBackend(async_redis_client, prefix="tb", default=DEFAULT, who="alice@ops")
    first = await backend.configure("u{1}", NEW)
    assert first.old is None  # no state before: a new bucket
    assert first.new is not None and first.new["max_tokens"] == 20 and first.new["overridden"] is True
    await backend.reset("u{1}")
    await backend.unconfigure("u{1}")
    await backend.delete("u{1}")
    entries = await backend.audit()
    assert [e.action for e in entries] == ["delete", "unconfigure", "reset", "configure"]
    assert all(e.who == "alice@ops" and e.user == "u{1}" for e in entries)
    unconfigure = entries[1]
    assert unconfigure.old is not None and unconfigure.new is not None
    assert (unconfigure.old["max_tokens"], unconfigure.new["max_tokens"]) == (20, 10)
    assert (unconfigure.old["overridden"], unconfigure.new["overridden"]) == (True, False)
    assert entries[0].new is None and entries[0].old is not None
    assert entries[0].when >= entries[-1].when > 1e9  # Redis time, from the entry id
    assert [e.action for e in await backend.audit(limit=2)] == ["delete", "unconfigure"]


async def test_stream_is_capped(async_redis_client: redis.asyncio.Redis) -> None:
    log = AuditLog(async_redis_client, "tb", who="me", maxlen=10)
    for i in range(400):
        await log.write("configure", f"u{i}", None, {"i": i})
    # MAXLEN ~ trims whole stream nodes (100 entries each): bounded, not exact.
    assert await async_redis_client.xlen("tb:audit") <= 110
    assert (await log.read(1))[0].user == "u399"


async def test_failed_audit_write_is_reported_and_the_change_stays(async_redis_client: redis.asyncio.Redis) -> None:
    await async_redis_client.set("tb:audit", "not a stream")
    backend = RedisBackend(async_redis_client, prefix="tb", default=DEFAULT)
    with pytest.raises(AuditWriteFailed, match="was applied, but writing the audit entry failed") as caught:
        await backend.configure("u", NEW)
    assert caught.value.result is not None and caught.value.result.config == NEW
    state = await backend.peek("u")
    assert state is not None and state.config == NEW and state.overridden
