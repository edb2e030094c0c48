"""Coalesced async acquires (issue 9 §4): concurrent calls share pipelines, each keeps its own exact answer.

Against real servers (both versions). 1,000 concurrent tasks on standalone,
Sentinel and Cluster get exactly the tokens there are, over a couple of
connections (CLIENT LIST; the old path held one connection per call in
flight, up to the pool's 100); a frozen server still answers every caller by
``on_error`` within its deadline, and what was sent before the freeze is
debited once at most.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.sentinel

from faults_helpers import FROZEN
from limiter import AsyncRedisLimiter, BucketConfig
from limiter.async_calls import LANES

DEADLINE = 0.4
BOUND = 2.0  # seconds: the deadline plus a wide margin for a busy machine


def _connections_named(server, name: str) -> int:
    with server.client() as admin:
        return sum(1 for c in admin.client_list() if c.get("name") == name)


async def test_a_thousand_concurrent_tasks_are_exact_over_a_couple_of_connections(redis_server):
    client = redis.asyncio.Redis(host=redis_server.host, port=redis_server.port, socket_timeout=5, client_name="coalesce")
    try:
        await client.flushall()
        lim = AsyncRedisLimiter(client, default=BucketConfig(max_tokens=300, **FROZEN))
        decisions = await asyncio.gather(*(lim.try_acquire("hot") for _ in range(1000)))
        assert sum(d.allowed for d in decisions) == 300 and all(d.fail_mode is None for d in decisions)
        assert sorted(d.remaining for d in decisions if d.allowed) == list(range(300))  # each its own answer
        state = await lim.peek("hot")
        assert (state.granted, state.denied) == (300, 700)
        assert _connections_named(redis_server, "coalesce") <= LANES + 1  # (+1: the flushall's)

        users = [f"u{i}" for i in range(40)]
        asks = [(users[i % 40], 1 + i % 3) for i in range(1000)]
        decisions = await asyncio.gather(*(lim.try_acquire(u, n) for u, n in asks))
        granted = Counter()
        for (user, n), decision in zip(asks, decisions):
            granted[user] += n if decision.allowed else 0
        for state in await lim.peek_many(users):
            assert state.tokens == 300 - granted[state.user] and state.granted == sum(
                d.allowed for (u, _), d in zip(asks, decisions) if u == state.user)
        assert _connections_named(redis_server, "coalesce") <= LANES + 1
    finally:
        await client.aclose()


async def test_calls_of_every_kind_mixed_in_one_burst(async_redis_client):
    lim = AsyncRedisLimiter(async_redis_client, default=BucketConfig(max_tokens=5, **FROZEN))
    results = await asyncio.gather(
        *(lim.try_acquire("a") for _ in range(10)),
        lim.configure("b", BucketConfig(max_tokens=7, **FROZEN)),
        lim.try_acquire_many([("b", 2), ("c", 1)]),
        lim.peek("nobody"),
        lim.delete("nobody"),
    )
    assert sum(d.allowed for d in results[:10]) == 5
    assert results[10].config.max_tokens == 7
    assert [d.remaining for d in results[11]] == [5, 4]  # one pipeline, in order: configure ran first
    assert results[12] is None and results[13] is False


async def test_coalesced_calls_through_sentinel_are_exact(sentinel_group):
    sentinel = redis.asyncio.sentinel.Sentinel(sentinel_group.sentinels, sentinel_kwargs={"socket_timeout": 2},
                                               socket_timeout=5, socket_connect_timeout=5)
    client = sentinel.master_for(sentinel_group.service_name)
    try:
        await client.flushall()
        lim = AsyncRedisLimiter(client, default=BucketConfig(max_tokens=50, **FROZEN))
        decisions = await asyncio.gather(*(lim.try_acquire(f"s{i % 5}") for i in range(1000)))
        assert sum(d.allowed for d in decisions) == 250 and all(d.fail_mode is None for d in decisions)
        assert [s.granted for s in await lim.peek_many([f"s{i}" for i in range(5)])] == [50] * 5
    finally:
        await client.aclose()


async def test_coalesced_calls_on_a_cluster_are_exact_in_every_slot(cluster_group):
    nodes = [redis.asyncio.cluster.ClusterNode(h, p) for h, p in cluster_group.startup_nodes]
    client = redis.asyncio.cluster.RedisCluster(startup_nodes=nodes, socket_timeout=5, socket_connect_timeout=5)
    try:
        lim = AsyncRedisLimiter(client, default=BucketConfig(max_tokens=3, **FROZEN))
        tag = time.monotonic_ns()
        users = [f"c{i}-{tag}" for i in range(100)]
        decisions = await asyncio.gather(*(lim.try_acquire(users[i % 100]) for i in range(1000)))
        assert all(d.fail_mode is None for d in decisions)
        per_user = Counter(users[i % 100] for i, d in enumerate(decisions) if d.allowed)
        assert set(per_user.values()) == {3} and len(per_user) == 100
        assert len({client.get_node_from_key(lim.key(u)).name for u in users}) == 3
        assert {s.granted for s in await lim.peek_many(users)} == {3}
        for user in users:
            await client.delete(lim.key(user))
    finally:
        await client.aclose()


async def test_a_frozen_server_answers_every_coalesced_caller_within_its_deadline(redis_factory):
    server = redis_factory.redis()
    client = redis.asyncio.Redis(host=server.host, port=server.port, socket_timeout=DEADLINE, socket_connect_timeout=DEADLINE)
    lim = AsyncRedisLimiter(client, default=BucketConfig(max_tokens=10_000, **FROZEN), on_error="deny")
    try:
        assert (await lim.try_acquire("u")).allowed
        server.pause()
        try:
            for _ in range(2):  # the first on live connections, the next reconnecting
                started = time.monotonic()
                decisions = await asyncio.gather(*(lim.try_acquire("u") for _ in range(200)))
                took = time.monotonic() - started
                assert [d.fail_mode for d in decisions] == ["deny"] * 200
                assert took < BOUND, f"200 coalesced decisions took {took:.2f} s"
        finally:
            server.resume()
        assert (await lim.try_acquire("u")).fail_mode is None
        # What was sent before the freeze ran when the server resumed, each once; nothing more.
        assert 2 <= (await lim.peek("u")).granted <= 2 + 400
    finally:
        await client.aclose()


@pytest.mark.parametrize("callers", [1, 3])
async def test_a_caller_that_stops_waiting_does_not_disturb_the_others(async_redis_client, callers):
    """A cancelled caller's call is withdrawn if not sent; the rest of its pipeline is answered."""
    lim = AsyncRedisLimiter(async_redis_client, default=BucketConfig(max_tokens=100, **FROZEN))
    tasks = [asyncio.create_task(lim.try_acquire("x")) for _ in range(50)]
    await asyncio.sleep(0)  # every task has queued its call; the pipeline is not sent yet
    for task in tasks[:callers]:
        task.cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    answered = [d for d in done if not isinstance(d, BaseException)]
    assert len(answered) == 50 - callers and all(d.allowed for d in answered)
    assert (await lim.peek("x")).granted == 50 - callers  # a cancelled call never sent: not debited
