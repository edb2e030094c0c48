"""Issue 8 §2 and §3: a client-side limit never fails open, and every decision has one deadline.

Against real servers (both versions). §2: with redis-py's default async pool
(100 connections) 256 concurrent calls made 61 % of decisions fall back to
``on_error`` ("Too many connections" taken for an outage); now calls wait for a
connection within their deadline, and a pool that cannot serve in time raises
`PoolExhausted`, never answered by ``on_error``. §3: with a frozen server
(SIGSTOP) a plain ``redis.Redis(socket_timeout=0.4, socket_connect_timeout=0.4)``
took ~9 s per decision (redis-py 8 retries ten times, reconnects included);
now each decision ends within its deadline. The time checks are bounds with a
wide margin (deadline 0.4 s, bound 2 s), not measurements.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import redis
import redis.asyncio

from limiter import AsyncRedisLimiter, BucketConfig, PoolExhausted, RedisLimiter, RedisUnavailable
from limiter.connect import connect

FROZEN = dict(refill_count=1, refill_interval=3600.0)
DEADLINE = 0.4
BOUND = 2.0  # seconds: the deadline plus a generous margin for a busy machine; ~9 s before the fix


# --------------------------------------------------------------------------- §2: pools


async def test_a_thousand_concurrent_async_calls_on_the_default_pool_never_fail_open(redis_server):
    client = redis.asyncio.Redis(host=redis_server.host, port=redis_server.port, socket_timeout=5)
    try:
        await client.flushall()
        lim = AsyncRedisLimiter(client, default=BucketConfig(max_tokens=300, **FROZEN), on_error="allow")
        decisions = await asyncio.gather(*(lim.try_acquire("hot") for _ in range(1000)))
        assert [d.fail_mode for d in decisions if d.fail_mode] == []  # 61 % "allow" before
        assert sum(d.allowed for d in decisions) == 300
        state = await lim.peek("hot")
        assert (state.granted, state.denied) == (300, 700)
    finally:
        await client.aclose()


@pytest.mark.parametrize("max_connections", [None, 8], ids=["default-pool", "pool-of-8"])
def test_64_threads_never_fail_open(redis_server, max_connections):
    client = redis.Redis(host=redis_server.host, port=redis_server.port, socket_timeout=5,
                         **({"max_connections": max_connections} if max_connections else {}))
    client.flushall()
    lim = RedisLimiter(client, default=BucketConfig(max_tokens=500, **FROZEN), on_error="allow")
    go = threading.Barrier(64)
    results: list = []
    lock = threading.Lock()

    def caller() -> None:
        go.wait()
        mine = [lim.try_acquire("hot") for _ in range(20)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=caller) for _ in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 1280
    assert [d.fail_mode for d in results if d.fail_mode] == []
    assert sum(d.allowed for d in results) == 500
    assert lim.peek("hot").granted == 500
    lim.close()
    client.close()


def test_the_clients_own_commands_filling_its_pool_do_not_stop_the_sync_limiter(redis_server):
    """Sync: the limiter's connections are its own, so a pool full of the service's BLPOPs changes nothing."""
    client = redis.Redis(host=redis_server.host, port=redis_server.port, socket_timeout=5, max_connections=2)
    client.flushall()
    blockers = [threading.Thread(target=client.blpop, args=(f"queue{i}",), kwargs={"timeout": 3}) for i in range(2)]
    for t in blockers:
        t.start()
    try:
        time.sleep(0.2)  # both connections taken
        with pytest.raises(redis.ConnectionError):
            client.get("x")  # the pool is indeed full for the client's other commands
        with RedisLimiter(client, default=BucketConfig(max_tokens=3, **FROZEN), on_error="allow") as lim:
            decisions = [lim.try_acquire("u") for _ in range(4)]
        assert [d.allowed for d in decisions] == [True, True, True, False]
        assert all(d.fail_mode is None for d in decisions)
    finally:
        with redis.Redis(host=redis_server.host, port=redis_server.port) as other:
            other.lpush("queue0", 1)
            other.lpush("queue1", 1)
        for t in blockers:
            t.join(10)
        client.close()


async def test_an_async_pool_full_of_other_commands_is_waited_for_then_pool_exhausted(redis_server):
    client = redis.asyncio.Redis(host=redis_server.host, port=redis_server.port, socket_timeout=5, max_connections=2)
    other = redis.asyncio.Redis(host=redis_server.host, port=redis_server.port)
    try:
        await client.flushall()
        for policy in ("allow", "deny", "raise"):
            lim = AsyncRedisLimiter(client, default=BucketConfig(max_tokens=3, **FROZEN), on_error=policy, deadline=0.3)
            blockers = [asyncio.create_task(client.blpop([f"q{policy}{i}"], timeout=5)) for i in range(2)]
            await asyncio.sleep(0.2)
            with pytest.raises(PoolExhausted, match="2 connections"):
                await lim.try_acquire("u")  # not on_error's answer: Redis is fine
            # A connection that comes free within the deadline is used.
            waiting = asyncio.create_task(lim.try_acquire("u"))
            await asyncio.sleep(0.05)
            await other.lpush(f"q{policy}0", 1)
            decision = await waiting
            assert decision.allowed and decision.fail_mode is None
            await other.lpush(f"q{policy}1", 1)
            await asyncio.gather(*blockers)
            await client.delete("token_bucket:{u}")
    finally:
        await client.aclose()
        await other.aclose()


def test_a_sync_pool_that_cannot_serve_in_time_raises_pool_exhausted(redis_server):
    """Every connection of the limiter busy for longer than the deadline, on a healthy server."""
    client = redis.Redis(host=redis_server.host, port=redis_server.port, socket_timeout=5, max_connections=1)
    client.flushall()
    lim = RedisLimiter(client, default=BucketConfig(max_tokens=3, **FROZEN), on_error="allow", deadline=0.2)
    assert lim.try_acquire("u").allowed
    held = lim._calls._checkout(None, None)  # what a call in flight does: its one connection taken
    try:
        with pytest.raises(PoolExhausted, match="1 connections"):
            lim.try_acquire("u")
    finally:
        lim._calls._checkin(held, True)
    assert lim.try_acquire("u").allowed
    assert lim.peek("u").granted == 2  # the refused call sent nothing
    lim.close()


# --------------------------------------------------------------------------- §3: one deadline


def _sync_clients(server):
    yield "limiter.connect", connect(server.url, socket_timeout=DEADLINE, connect_timeout=DEADLINE)
    yield "plain redis.Redis", redis.Redis(host=server.host, port=server.port, socket_timeout=DEADLINE,
                                           socket_connect_timeout=DEADLINE)


def _async_clients(server):
    yield "limiter.connect", connect(server.url, socket_timeout=DEADLINE, connect_timeout=DEADLINE, asyncio=True)
    yield "plain redis.asyncio.Redis", redis.asyncio.Redis(host=server.host, port=server.port, socket_timeout=DEADLINE,
                                                           socket_connect_timeout=DEADLINE)


def test_a_frozen_server_gets_sync_decisions_within_the_deadline(redis_factory):
    server = redis_factory.redis()
    for name, client in _sync_clients(server):
        lims = {p: RedisLimiter(client, default=BucketConfig(max_tokens=100, **FROZEN), on_error=p) for p in ("deny", "raise")}
        assert lims["deny"].deadline == DEADLINE  # from the client's socket_timeout
        assert lims["deny"].try_acquire(name).allowed and lims["raise"].try_acquire(name).allowed
        before = lims["deny"].peek(name).granted
        server.pause()
        try:
            slowest = 0.0
            for _ in range(2):  # the first on a live connection, the next reconnecting
                started = time.monotonic()
                assert lims["deny"].try_acquire(name).fail_mode == "deny"
                slowest = max(slowest, time.monotonic() - started)
                started = time.monotonic()
                with pytest.raises(RedisUnavailable):
                    lims["raise"].try_acquire(name)
                slowest = max(slowest, time.monotonic() - started)
        finally:
            server.resume()
        assert slowest < BOUND, f"{name}: a decision took {slowest:.2f} s"
        # Back to normal at once, same objects; a consume answered by on_error while the
        # server was frozen may have run when it resumed, but never twice.
        assert lims["deny"].try_acquire(name).fail_mode is None
        assert before + 1 <= lims["deny"].peek(name).granted <= before + 1 + 4
        for lim in lims.values():
            lim.close()
        client.close()


async def test_a_frozen_server_gets_async_decisions_within_the_deadline(redis_factory):
    server = redis_factory.redis()
    for name, client in _async_clients(server):
        lims = {p: AsyncRedisLimiter(client, default=BucketConfig(max_tokens=100, **FROZEN), on_error=p) for p in ("deny", "raise")}
        assert (await lims["deny"].try_acquire(name)).allowed
        server.pause()
        try:
            slowest = 0.0
            for _ in range(2):
                started = time.monotonic()
                assert (await lims["deny"].try_acquire(name)).fail_mode == "deny"
                slowest = max(slowest, time.monotonic() - started)
                started = time.monotonic()
                with pytest.raises(RedisUnavailable, match="deadline|Timeout"):
                    await lims["raise"].try_acquire(name)
                slowest = max(slowest, time.monotonic() - started)
        finally:
            server.resume()
        assert slowest < BOUND, f"{name}: a decision took {slowest:.2f} s"
        assert (await lims["deny"].try_acquire(name)).fail_mode is None
        await client.aclose()


def test_an_explicit_deadline_bounds_a_client_with_long_timeouts(redis_factory):
    server = redis_factory.redis()
    client = redis.Redis(host=server.host, port=server.port, socket_timeout=30, socket_connect_timeout=30)
    with RedisLimiter(client, default=BucketConfig(max_tokens=5, **FROZEN), on_error="deny", deadline=DEADLINE) as lim:
        assert lim.try_acquire("u").allowed
        server.pause()
        try:
            started = time.monotonic()
            decisions = [lim.try_acquire("u") for _ in range(2)]
            took = time.monotonic() - started
        finally:
            server.resume()
        assert [d.fail_mode for d in decisions] == ["deny", "deny"]
        assert took < 2 * BOUND
    client.close()


def test_deadline_is_validated():
    client = redis.Redis(port=1, socket_timeout=1)
    for bad in (0, -1, float("nan"), float("inf"), "1", True):
        with pytest.raises(ValueError, match="deadline"):
            RedisLimiter(client, default=BucketConfig(max_tokens=1), deadline=bad)


@pytest.mark.slow
def test_a_frozen_cluster_primary_gets_decisions_within_the_deadline(redis_factory):
    from redis.cluster import RedisCluster

    group = redis_factory.cluster()
    host, port = group.startup_nodes[0]
    client = RedisCluster(host=host, port=port, socket_timeout=DEADLINE, socket_connect_timeout=DEADLINE)
    lim = RedisLimiter(client, default=BucketConfig(max_tokens=100, **FROZEN), on_error="deny")
    assert lim.try_acquire("victim").allowed
    node = client.get_node_from_key(lim.key("victim"))
    primary = next(p for p in group.primaries if p.port == node.port)
    primary.pause()
    try:
        slowest = 0.0
        for _ in range(2):
            started = time.monotonic()
            assert lim.try_acquire("victim").fail_mode == "deny"
            slowest = max(slowest, time.monotonic() - started)
    finally:
        primary.resume()
    assert slowest < BOUND, f"a decision took {slowest:.2f} s"  # ~4.5 s before
    assert lim.try_acquire("victim").fail_mode is None
    client.close()
