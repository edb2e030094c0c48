"""The exporter's core against a real Redis, scraped over HTTP and parsed with prometheus_client's parser.

Values equal `tbdash status --json` and `RedisLimiter.peek`; the top-N bound
holds with thousands of buckets; hostile ids are escaped, one label per id;
shadow figures appear for rows that have a shadow; the all-bucket totals never
go down. The exporter's own process (CLI, Redis down, ports) is in
test_cli_metrics.py.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import redis

import hostile_corpus
from dashboard.cli import main
from dashboard.core.metrics_view import MAX_LABEL, MetricsView, ObservedTotals, label_value
from dashboard.core.protocol import BucketRow, Snapshot
from dashboard.core.untrusted import shown
from limiter import BucketConfig, RedisLimiter
from metrics_support import InProcessExporter, by_user, value

SLOW = BucketConfig(max_tokens=10, burst=5, refill_count=1, refill_interval=3600)  # nothing refills during a test
PER_BUCKET = ("tbdash_bucket_tokens", "tbdash_bucket_ceiling", "tbdash_bucket_max_tokens", "tbdash_bucket_refill_tokens_per_second",
              "tbdash_bucket_granted_total", "tbdash_bucket_denied_total", "tbdash_bucket_operator_settings")


@pytest.fixture
async def exporter(async_redis_client) -> AsyncIterator[InProcessExporter]:
    running = InProcessExporter(async_redis_client)
    yield running
    running.close()


async def status_json(url: str, *extra: str) -> dict:
    """`tbdash status --json`, run as the CLI runs it (its own event loop, so in a thread)."""
    out, err = io.StringIO(), io.StringIO()
    code = await asyncio.to_thread(main, ["--url", url, *extra, "status", "--json"], out=out, err=err)
    assert code == 0, err.getvalue()
    return json.loads(out.getvalue())


def seed_mixed(client: redis.Redis) -> RedisLimiter:
    limiter = RedisLimiter(client, default=SLOW)
    for user, takes in (("alice", 3), ("bob", 18), ("carol{ops}", 1), ("dave", 40)):
        for _ in range(takes):
            limiter.try_acquire(user)
    limiter.configure("erin", BucketConfig(max_tokens=4, burst=1, refill_count=2, refill_interval=30))
    limiter.configure("dave", BucketConfig(max_tokens=7, burst=0, refill_count=3, refill_interval=60))
    return limiter


async def test_values_equal_status_json_and_peek(exporter, redis_client, redis_url) -> None:
    limiter = seed_mixed(redis_client)
    assert await exporter.poll()
    samples = (await exporter.scrape()).samples
    status = await status_json(redis_url)
    buckets = {b["user"]: b for b in status["buckets"]}
    assert set(buckets) == {"alice", "bob", "carol{ops}", "dave", "erin"}

    assert by_user(samples, "tbdash_bucket_tokens") == {u: b["tokens"] for u, b in buckets.items()}
    assert by_user(samples, "tbdash_bucket_ceiling") == {u: b["ceiling"] for u, b in buckets.items()}
    assert by_user(samples, "tbdash_bucket_max_tokens") == {u: b["max_tokens"] for u, b in buckets.items()}
    assert by_user(samples, "tbdash_bucket_refill_tokens_per_second") == pytest.approx(
        {u: b["refill_count"] / b["refill_interval"] for u, b in buckets.items()})
    assert by_user(samples, "tbdash_bucket_granted_total") == {u: b["granted"] for u, b in buckets.items()}
    assert by_user(samples, "tbdash_bucket_denied_total") == {u: b["denied"] for u, b in buckets.items()}
    assert by_user(samples, "tbdash_bucket_operator_settings") == {u: int(b["overridden"]) for u, b in buckets.items()}
    for user in buckets:  # and what the limiter itself sees (its default is the buckets' stored one, SLOW)
        state = limiter.peek(user)
        assert state is not None and state.tokens == by_user(samples, "tbdash_bucket_tokens")[user]

    assert value(samples, "tbdash_up") == 1
    assert value(samples, "tbdash_buckets") == 5
    assert value(samples, "tbdash_buckets_empty") == sum(1 for b in buckets.values() if b["tokens"] == 0) == 2
    assert value(samples, "tbdash_buckets_granted_total") == sum(b["granted"] for b in buckets.values())
    assert value(samples, "tbdash_buckets_denied_total") == sum(b["denied"] for b in buckets.values())
    assert value(samples, "tbdash_buckets_exported") == 5
    assert value(samples, "tbdash_polls_total") == 1 and value(samples, "tbdash_poll_errors_total") == 0
    assert value(samples, "tbdash_poll_duration_seconds") > 0
    assert value(samples, "tbdash_last_success_timestamp_seconds") > 0
    assert samples["tbdash_exporter_info"] == {(("prefix", "token_bucket"), ("top_n", "100")): 1}


async def test_a_scrape_reads_the_last_poll_and_never_redis(exporter, redis_client) -> None:
    limiter = seed_mixed(redis_client)
    assert await exporter.poll()
    before = (await exporter.scrape()).samples
    limiter.try_acquire("alice", 5)  # changes Redis; no poll yet
    calls = commands(redis_client)
    again = [(await exporter.scrape()).samples for _ in range(3)]
    assert commands(redis_client) == calls  # three scrapes, not one command sent to Redis
    assert all(by_user(s, "tbdash_bucket_tokens") == by_user(before, "tbdash_bucket_tokens") for s in again)
    assert await exporter.poll()
    after = (await exporter.scrape()).samples
    assert by_user(after, "tbdash_bucket_tokens")["alice"] == by_user(before, "tbdash_bucket_tokens")["alice"] - 5


def commands(client: redis.Redis) -> dict[str, int]:
    """Calls per command on the server, except the INFO that asks."""
    return {name: stats["calls"] for name, stats in client.info("commandstats").items() if name != "cmdstat_info"}


def seed_many(client: redis.Redis, count: int) -> dict[str, int]:
    """``count`` buckets as the script writes them, user i with (i * 7919) % 997 * 3 denials; user -> denied."""
    seconds, micros = client.time()
    now_us = int(seconds) * 1_000_000 + int(micros)
    denied = {}
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        user = f"user{i}"
        denied[user] = (i * 7919) % 997 * 3
        pipe.hset(f"token_bucket:{{{user}}}", mapping={
            "tokens": i % 16, "anchor_us": now_us, "max_tokens": 10, "burst": 5, "refill_count": 1, "interval_us": 3_600_000_000_000,
            "operator": 0, "granted": i, "denied": denied[user]})
    pipe.execute()
    return denied


async def test_only_the_top_n_by_denials_get_series(async_redis_client, redis_client) -> None:
    denied = seed_many(redis_client, 2000)
    running = InProcessExporter(async_redis_client, top_n=50)
    try:
        assert await running.poll()
        samples = (await running.scrape()).samples
    finally:
        running.close()
    expected = sorted(denied, key=lambda u: (-denied[u], -int(u[4:]), u))[:50]
    for name in PER_BUCKET:
        assert set(by_user(samples, name)) == set(expected), name
    assert by_user(samples, "tbdash_bucket_denied_total") == {u: denied[u] for u in expected}
    assert value(samples, "tbdash_buckets") == 2000
    assert value(samples, "tbdash_buckets_exported") == 50
    assert value(samples, "tbdash_buckets_denied_total") == sum(denied.values())
    assert value(samples, "tbdash_buckets_granted_total") == sum(range(2000))
    assert value(samples, "tbdash_buckets_empty") == sum(1 for i in range(2000) if i % 16 == 0)
    assert samples["tbdash_exporter_info"] == {(("prefix", "token_bucket"), ("top_n", "50")): 1}


async def test_hostile_ids_are_escaped_one_label_each(exporter, redis_client) -> None:
    hostile_corpus.seed(redis_client)
    assert await exporter.poll()
    scraped = await exporter.scrape()
    for what, raw in hostile_corpus.FORBIDDEN.items():
        assert raw not in scraped.body, what
    assert "\u202e".encode() not in scraped.body and b"\x1b" not in scraped.body and b"\x00" not in scraped.body
    tokens = by_user(scraped.samples, "tbdash_bucket_tokens")
    assert set(tokens) == set(hostile_corpus.SHOWN.values()) | {"alice"}
    assert tokens[hostile_corpus.SHOWN["sgr"]] == hostile_corpus.DEFAULT.max_tokens - 3
    assert value(scraped.samples, "tbdash_invalid_keys") == 1  # the hostile string key under the prefix


def test_label_values_are_distinct_for_distinct_ids_and_bounded() -> None:
    # `shown` alone gives both "\x1b" (an ESC) and "\\x1b" (a backslash, then x1b) the same text.
    assert shown("a\x1b") == shown("a\\x1b")
    assert label_value("a\x1b") != label_value("a\\x1b")
    assert label_value("a\\x1b") == "a\\x5cx1b"
    long_a, long_b = "x" * 5000 + "a", "x" * 5000 + "b"
    assert len(label_value(long_a)) <= MAX_LABEL and len(label_value(long_b)) <= MAX_LABEL
    assert label_value(long_a) != label_value(long_b)
    assert label_value("\u202e" * 1000).isascii()
    for raw, escaped in zip(hostile_corpus.HOSTILE_IDS.values(), hostile_corpus.SHOWN.values()):
        assert label_value(raw) == escaped


@dataclass(frozen=True)
class HandShadow:
    """A shadow as SPEC §3's ShadowState has it, made by hand (any object of that shape will do)."""

    tokens: int
    config: BucketConfig
    granted: int
    denied: int


def row(user: str, tokens: int = 5, granted: int = 0, denied: int = 0) -> BucketRow:
    return BucketRow(user=user, tokens=tokens, config=SLOW, granted=granted, denied=denied, overridden=False, ttl_ms=None)


def snapshot(*rows: BucketRow) -> Snapshot:
    return Snapshot(taken_at=1.0, redis_time_us=1, buckets=rows, invalid=(), poll_seconds=0.01, latency_ms=0.1)


async def test_shadow_figures_of_a_real_preview_equal_peek(exporter, redis_client) -> None:
    limiter = seed_mixed(redis_client)
    tight = BucketConfig(max_tokens=2, burst=1, refill_count=1, refill_interval=3600)
    limiter.configure("bob", tight, shadow=True)
    for _ in range(4):
        limiter.try_acquire("bob")
    assert await exporter.poll()
    samples = (await exporter.scrape()).samples
    state = limiter.peek("bob")
    assert state is not None and state.shadow is not None and state.shadow.denied > 0
    assert by_user(samples, "tbdash_bucket_shadow_tokens") == {"bob": state.shadow.tokens}
    assert by_user(samples, "tbdash_bucket_shadow_ceiling") == {"bob": 3}
    assert by_user(samples, "tbdash_bucket_shadow_granted_total") == {"bob": state.shadow.granted}
    assert by_user(samples, "tbdash_bucket_shadow_denied_total") == {"bob": state.shadow.denied}
    assert value(samples, "tbdash_buckets_shadowed") == 1


async def test_shadow_figures_appear_for_rows_with_a_shadow(async_redis_client) -> None:
    preview = HandShadow(tokens=2, config=BucketConfig(max_tokens=3, burst=1, refill_count=1, refill_interval=2), granted=7, denied=4)
    shadows = {"alice": preview}
    running = InProcessExporter(async_redis_client, shadow_of=lambda r: shadows.get(r.user))
    try:
        running.state.succeeded(MetricsView.of(snapshot(row("alice", denied=1), row("bob")), 10, running.state.totals, running.state.shadow_of))
        samples = (await running.scrape()).samples
    finally:
        running.close()
    assert by_user(samples, "tbdash_bucket_shadow_tokens") == {"alice": 2}
    assert by_user(samples, "tbdash_bucket_shadow_ceiling") == {"alice": 4}
    assert by_user(samples, "tbdash_bucket_shadow_refill_tokens_per_second") == {"alice": 0.5}
    assert by_user(samples, "tbdash_bucket_shadow_granted_total") == {"alice": 7}
    assert by_user(samples, "tbdash_bucket_shadow_denied_total") == {"alice": 4}
    assert value(samples, "tbdash_buckets_shadowed") == 1
    assert set(by_user(samples, "tbdash_bucket_tokens")) == {"alice", "bob"}


async def test_without_shadows_no_shadow_series(exporter, redis_client) -> None:
    seed_mixed(redis_client)
    assert await exporter.poll()
    samples = (await exporter.scrape()).samples
    assert not [name for name in samples if "shadow_" in name]
    assert value(samples, "tbdash_buckets_shadowed") == 0


def test_totals_never_go_down() -> None:
    totals = ObservedTotals()
    totals.update((row("a", granted=10, denied=2), row("b", granted=5, denied=5)))
    assert (totals.granted, totals.denied) == (15, 7)
    totals.update((row("a", granted=12, denied=2),))  # b expired: nothing taken away
    assert (totals.granted, totals.denied) == (17, 7)
    totals.update((row("a", granted=1, denied=1), row("b", granted=3, denied=0)))  # a was reset, b came back
    assert (totals.granted, totals.denied) == (21, 8)


async def test_totals_survive_a_deleted_bucket(exporter, redis_client) -> None:
    limiter = seed_mixed(redis_client)
    assert await exporter.poll()
    first = (await exporter.scrape()).samples
    limiter.delete("bob")  # 10 grants, 8 denials gone from Redis
    limiter.try_acquire("alice")
    assert await exporter.poll()
    second = (await exporter.scrape()).samples
    assert value(second, "tbdash_buckets") == value(first, "tbdash_buckets") - 1
    assert value(second, "tbdash_buckets_granted_total") == value(first, "tbdash_buckets_granted_total") + 1
    assert value(second, "tbdash_buckets_denied_total") == value(first, "tbdash_buckets_denied_total")


async def test_a_failed_poll_drops_the_bucket_series_and_counts_the_error(redis_factory) -> None:
    import redis.asyncio

    server = redis_factory.redis()
    seed_mixed(server.client())
    client = redis.asyncio.Redis.from_url(server.url, socket_timeout=2, socket_connect_timeout=2)
    running = InProcessExporter(client)
    try:
        assert await running.poll()
        server.kill()
        assert not await running.poll()
        samples = (await running.scrape()).samples
        assert value(samples, "tbdash_up") == 0
        assert value(samples, "tbdash_poll_errors_total") == 1 and value(samples, "tbdash_polls_total") == 2
        assert not [name for name in samples if name.startswith("tbdash_bucket_")]
        assert value(samples, "tbdash_buckets") is None  # a stale count must not look current
        assert value(samples, "tbdash_buckets_granted_total") == 10 + 3 + 0 + 10 + 1  # the exporter's own counters stay
        assert value(samples, "tbdash_last_success_timestamp_seconds") > 0
        server.restart()
        seed_mixed(server.client())
        assert await running.poll()
        samples = (await running.scrape()).samples
        assert value(samples, "tbdash_up") == 1 and set(by_user(samples, "tbdash_bucket_tokens")) == {"alice", "bob", "carol{ops}", "dave", "erin"}
    finally:
        running.close()
        await client.aclose()


async def test_openmetrics_scrapes_parse_too(exporter, redis_client) -> None:
    # Prometheus asks for OpenMetrics first; its parser is stricter (names, suffixes, # EOF).
    import httpx
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    hostile_corpus.seed(redis_client)
    assert await exporter.poll()
    async with httpx.AsyncClient(timeout=10) as client:
        reply = await client.get(exporter.url, headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert reply.headers["content-type"].startswith("application/openmetrics-text")
    families = {f.name: f for f in text_string_to_metric_families(reply.text)}
    users = {s.labels["user"] for s in families["tbdash_bucket_tokens"].samples}
    assert users == set(hostile_corpus.SHOWN.values()) | {"alice"}
    assert families["tbdash_bucket_denied"].type == "counter" and families["tbdash_up"].samples[0].value == 1
