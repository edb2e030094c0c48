"""The Redis bucket behind Redis Sentinel (primary, replica, three sentinels), on every server version.

Exactness (SPEC §2) through ``Sentinel.master_for``, sync and async, and a
failover under load on a private group: kill -9 the primary while threads
acquire; the same limiter objects recover on the promoted replica, errors in
the window follow ``on_error``, NOSCRIPT on the new primary is handled, and the
unavailable window and the over-grant are measured.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import redis.asyncio.sentinel
from redis.sentinel import Sentinel

from faults_helpers import (
    FROZEN,
    Tally,
    bound,
    errorstats,
    fast_retry,
    hammer,
    join_all,
    processes_and_threads,
    redis_now_us,
    report,
    simultaneous,
    wait_until,
)
from limiter import AsyncRedisLimiter, BucketConfig, RedisLimiter
from limiter.keys import user_of


def test_hundred_simultaneous_callers_on_a_bucket_of_five_get_exactly_five(sentinel_group, sentinel_client):
    lim = RedisLimiter(sentinel_client, default=BucketConfig(max_tokens=5, **FROZEN))
    for run in range(3):
        results = simultaneous(lambda: lim.try_acquire(f"hot-{run}").allowed, callers=100)
        assert sum(results) == 5 and len(results) == 100
        state = lim.peek(f"hot-{run}")
        assert (state.granted, state.denied, state.tokens) == (5, 95, 0)
    # The client really talks to the primary the sentinels name, and the state replicates.
    primary = sentinel_group.current_primary()
    with primary.client() as direct:
        assert direct.info("replication")["role"] == "master"
        assert direct.exists(lim.key("hot-0"))
    other = sentinel_group.replica if primary is sentinel_group.primary else sentinel_group.primary
    with other.client() as replica:
        wait_until(lambda: replica.hget(lim.key("hot-2"), "granted") == b"5", 10, "the replica to hold the bucket")


def test_processes_and_threads_never_exceed_the_bound_and_come_close(sentinel_group, sentinel_client):
    cfg = BucketConfig(max_tokens=20, burst=10_000, refill_count=1, refill_interval=0.01)
    recipe = ("sentinel", sentinel_group.sentinels, sentinel_group.service_name)
    granted, denied, limit, errors = processes_and_threads(recipe, cfg)
    report("sentinel exactness (2 processes x 4 threads, 1 key)", granted=granted, denied=denied, bound=limit, ratio=granted / limit)
    assert errors == 0
    assert granted <= limit
    assert denied > granted  # the callers outran the refill: the bound was what held them
    assert granted >= 0.8 * limit, (granted, limit)


@pytest.mark.parametrize("user", ["{a}", "a}b{", "a:b:c", "with space", "ünïcødé ✓", "u" * 10_240])
def test_awkward_user_ids_are_one_key_through_sentinel(sentinel_client, user):
    lim = RedisLimiter(sentinel_client, default=BucketConfig(max_tokens=2, **FROZEN))
    assert [lim.try_acquire(user).allowed for _ in range(3)] == [True, True, False]
    [key] = sentinel_client.keys("*")
    assert user_of("token_bucket", key) == user


async def test_async_limiter_through_sentinel_is_exact(sentinel_group):
    sentinel = redis.asyncio.sentinel.Sentinel(sentinel_group.sentinels, sentinel_kwargs={"socket_timeout": 2},
                                               socket_timeout=5, socket_connect_timeout=5)
    client = sentinel.master_for(sentinel_group.service_name)
    try:
        await client.flushall()
        lim = AsyncRedisLimiter(client, default=BucketConfig(max_tokens=5, **FROZEN))
        for run in range(3):
            decisions = await asyncio.gather(*[lim.try_acquire(f"async-hot-{run}") for _ in range(100)])
            assert sum(d.allowed for d in decisions) == 5
            assert all(d.fail_mode is None for d in decisions)
            state = await lim.peek(f"async-hot-{run}")
            assert (state.granted, state.denied) == (5, 95)
        await client.script_flush()
        states = await lim.peek_many(["async-hot-0", "nobody"])
        assert states[0].tokens == 0 and states[1] is None
    finally:
        await client.aclose()


# --------------------------------------------------------------------------- failover


@pytest.mark.slow
def test_failover_under_load_recovers_without_a_restart(redis_factory):
    """kill -9 the primary while 8 threads acquire through two limiters (on_error deny and raise).

    Figures: the unavailable window (first failed call -> first good decision
    after it) per policy, the over-grant against SPEC §2's bound per user, the
    grants acknowledged but lost with the old primary (the client's count minus
    the `granted` counter that survived on the promoted replica), and the
    NOSCRIPT replies the new primary sent (its script cache is empty).
    """
    group = redis_factory.sentinel()
    # Explicit timeouts, one retry. A dead primary refuses connections at once, so
    # the window does not depend on them; 1 s keeps a busy machine from faking errors.
    timeouts = dict(socket_timeout=1.0, socket_connect_timeout=1.0)
    sentinel = Sentinel(group.sentinels, sentinel_kwargs=timeouts)
    client = sentinel.master_for(group.service_name, retry=fast_retry(), **timeouts)
    cfg = BucketConfig(max_tokens=20, refill_count=10, refill_interval=0.1)  # 100 tokens/s per user
    limiters = {
        "deny": RedisLimiter(client, default=cfg, on_error="deny"),
        "raise": RedisLimiter(client, default=cfg, on_error="raise"),
    }
    users = {policy: [f"{policy}-{i}" for i in range(3)] for policy in limiters}
    tallies = {policy: Tally() for policy in limiters}
    started = redis_now_us(client)
    stop = threading.Event()
    workers = [
        w
        for policy, lim in limiters.items()
        for w in hammer(lim, users[policy], threads=4, stop=stop, tally=tallies[policy])
    ]
    try:
        time.sleep(1.0)
        assert all(t.granted > 0 and t.failed == 0 for t in tallies.values())
        old = group.primary
        killed_at = time.monotonic()
        old.kill()
        new = group.wait_for_failover(old, timeout=30)
        promoted_s = time.monotonic() - killed_at
        for policy, tally in tallies.items():
            wait_until(lambda: tally.first_good_after_error, 30, f"the {policy} limiter to decide again")
        recovered = {policy: tally.granted for policy, tally in tallies.items()}
        time.sleep(1.0)  # keep going on the new primary
    finally:
        stop.set()
        stuck = join_all(workers, 30)
    ended = redis_now_us(client)  # the same host clock as `started`: both servers run here
    limit = bound(cfg, ended - started)
    figures = {}
    for policy, lim in limiters.items():
        tally = tallies[policy]
        survived = {u: lim.peek(u).granted for u in users[policy]}
        figures[policy] = dict(
            window_s=tally.window,
            failed_calls=tally.failed,
            over_grant=sum(max(0, tally.per_user[u] - limit) for u in users[policy]),
            lost_grants=sum(max(0, tally.per_user[u] - survived[u]) for u in users[policy]),
            slowest_call_s=tally.slowest,
        )
    noscript = errorstats([new])["NOSCRIPT"]
    report(
        f"sentinel failover under load ({group.binary.label})",
        primary_killed_to_promoted_s=promoted_s, noscript_on_new_primary=noscript,
        **{f"{p}_{k}": v for p, f in figures.items() for k, v in f.items()},
    )
    assert not stuck
    for policy, tally in tallies.items():
        assert not tally.unexpected, tally.unexpected[0]  # nothing but the policy's answer reached callers
        assert tally.granted > recovered[policy] > 0  # the same limiter object serves again
        assert tally.window is not None and tally.window < 30
        # Async replication may lose the last writes before the kill; bound it (F1: C + r x 1 s).
        assert figures[policy]["over_grant"] <= cfg.max_tokens + cfg.refill_count * 10
        assert figures[policy]["lost_grants"] <= cfg.max_tokens + cfg.refill_count * 10
    assert set(tallies["deny"].fallback) == {"deny"} and not tallies["deny"].errors
    assert set(tallies["raise"].errors) == {"RedisUnavailable"} and not tallies["raise"].fallback
    # The promoted replica had no copy of the script: the limiter met NOSCRIPT and
    # sent the source, and no caller ever saw it.
    assert noscript >= 1
    client.close()
