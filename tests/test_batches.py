"""`try_acquire_many`: one pipeline per node, each acquire its own atomic script call (issue 9 §3).

Against real servers (both versions): decisions equal the reference model and
a `ConditionBucket` given the same requests; a Cluster batch touches users in
every primary; a SCRIPT FLUSH that lands in the middle of a batch is reloaded
and the rest sent again without a double debit; a stopped server answers each
acquire of the batch by ``on_error``; errors are raised after the batch ran,
with the other decisions attached.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

import pytest
import redis
import redis.asyncio

from faults_helpers import FROZEN
from limiter import (
    AsyncRedisLimiter,
    BucketConfig,
    ConditionBucket,
    CorruptBucket,
    RedisLimiter,
    RedisUnavailable,
    TokensExceedCeiling,
    model,
    script,
)
from limiter.model import Level
from support.cut_proxy import CutProxy

DEADLINE = 0.4
BOUND = 2.0  # seconds: the deadline plus a wide margin for a busy machine


def test_batches_match_the_model_at_the_instant_of_each_reply(redis_client):
    """Random batches over a few users, time passing between them: every reply equals `model.take`."""
    rng = random.Random(9)
    cfg = BucketConfig(max_tokens=6, burst=3, refill_count=2, refill_interval=0.003)
    lim = RedisLimiter(redis_client, default=cfg)
    settings = cfg.settings()
    users = [f"u{i}" for i in range(5)]
    levels: dict[str, Level] = {}
    for step in range(60):
        batch = [(rng.choice(users), rng.randint(1, settings.ceiling)) for _ in range(rng.randint(1, 12))]
        calls = [(lim.key(u), lim._args("acquire", n, lim._ids.next())) for u, n in batch]
        replies = lim._calls.evalsha_many(calls, script.FRESH)
        for (user, n), reply in zip(batch, replies):
            code, allowed, tokens, wait_us, ceiling, now = script.acquire_reply(reply)
            level = levels.get(user) or model.fresh(settings, now)
            out = model.take(level, settings, n, now)
            levels[user] = out.level
            assert (code, bool(allowed), tokens, wait_us, ceiling) == (0, out.allowed, out.level.tokens, out.wait_us, settings.ceiling), step
        time.sleep(rng.choice([0, 0.001, 0.004]))


def test_try_acquire_many_decides_as_a_condition_bucket_does(redis_client):
    """The same requests, no refill during the test: the same answers, in order, from both buckets."""
    rng = random.Random(3)
    cfg = BucketConfig(max_tokens=20, burst=5, **FROZEN)
    lim = RedisLimiter(redis_client, default=cfg)
    users = [f"user-{i}" for i in range(8)]
    now = [1_000_000]
    buckets = {u: ConditionBucket(cfg, clock=lambda: now[0]) for u in users}
    granted = Counter()
    for _ in range(30):
        batch = [(rng.choice(users), rng.randint(1, 7)) for _ in range(rng.randint(1, 40))]
        decisions = lim.try_acquire_many(batch)
        assert len(decisions) == len(batch)
        for (user, n), decision in zip(batch, decisions):
            assert decision.allowed == buckets[user].try_acquire(n), (user, n)
            assert decision.remaining == buckets[user].tokens and decision.limit == cfg.ceiling
            assert decision.fail_mode is None and (decision.retry_after > 0) != decision.allowed
            granted[user] += decision.allowed
    for state in lim.peek_many(users):
        assert state.tokens == buckets[state.user].tokens and state.granted == granted[state.user]


def test_try_acquire_many_edges(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=3, **FROZEN))
    assert lim.try_acquire_many([]) == []
    assert [d.allowed for d in lim.try_acquire_many(iter([("a", 1), ("a", 3)]))] == [True, False]  # any iterable
    for bad in ([("a", 0)], [("a", True)], [("a", 1.0)], [("a",)], ["a"], [("", 1)]):
        with pytest.raises((ValueError, TypeError)):
            lim.try_acquire_many(bad)
    assert redis_client.keys("*") == [b"token_bucket:{a}"]  # nothing of the refused batches was sent


def test_an_acquire_above_its_ceiling_or_a_corrupt_bucket_raises_after_the_batch(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=3, **FROZEN))
    redis_client.set(lim.key("bad"), "not a bucket")
    with pytest.raises(TokensExceedCeiling) as err:
        lim.try_acquire_many([("a", 1), ("b", 4), ("c", 2), ("bad", 1)])
    first, missing, third, corrupt = err.value.decisions
    assert first.allowed and first.remaining == 2 and missing is None and corrupt is None
    assert third.allowed and third.remaining == 1  # after the error, the batch went on
    assert lim.peek("c").granted == 1 and lim.peek("b") is None
    with pytest.raises(CorruptBucket) as err:
        lim.try_acquire_many([("bad", 1), ("a", 1)])
    assert err.value.decisions[0] is None and err.value.decisions[1].remaining == 1


def test_a_cluster_batch_covers_every_primary_and_stays_exact(cluster_group, cluster_client):
    lim = RedisLimiter(cluster_client, default=BucketConfig(max_tokens=4, **FROZEN))
    users = [f"spread-{i}" for i in range(90)] + ["a{b}c", "}{"]
    primaries = {cluster_client.get_node_from_key(lim.key(u)).name for u in users}
    assert len(primaries) == 3
    decisions = [lim.try_acquire_many([(u, 1) for u in users for _ in range(2)]) for _ in range(3)]
    per_user = Counter()
    for batch in decisions:
        for (user, _), decision in zip([(u, 1) for u in users for _ in range(2)], batch):
            assert decision.fail_mode is None
            per_user[user] += decision.allowed
    assert set(per_user.values()) == {4}  # 6 asked each, 4 granted: exact in every slot
    cluster_client.script_flush()  # every primary
    assert {s.granted for s in lim.peek_many(users)} == {4}
    assert [d.allowed for d in lim.try_acquire_many([(u, 1) for u in users])] == [False] * len(users)


def test_a_script_flush_in_the_middle_of_a_batch_is_reloaded_without_a_double_debit(redis_client, redis_server, proxy):
    """The server runs 300 of a batch's 1000 acquires, then a SCRIPT FLUSH from elsewhere, then the other 700."""
    flusher = redis_server.client()
    client = redis.Redis(host=proxy.host, port=proxy.port, socket_timeout=5, socket_connect_timeout=5)
    lim = RedisLimiter(client, default=BucketConfig(max_tokens=100_000, **FROZEN))
    redis_client.config_resetstat()
    proxy.pause(run=300, then=flusher.script_flush)
    decisions = lim.try_acquire_many([(f"u{i % 7}", 1) for i in range(1000)])
    assert int(redis_client.info("errorstats")["errorstat_NOSCRIPT"]["count"]) == 700  # the flush landed after 300
    assert all(d.allowed and d.fail_mode is None for d in decisions)
    assert sum(s.granted for s in lim.peek_many([f"u{i}" for i in range(7)])) == 1000  # each once, not twice
    lim.close()
    client.close()
    flusher.close()


@pytest.mark.parametrize("policy", ["raise", "allow", "deny"])
def test_a_stopped_server_answers_each_acquire_of_the_batch_by_on_error(redis_factory, policy):
    server = redis_factory.redis()
    client = redis.Redis(host=server.host, port=server.port, socket_timeout=DEADLINE, socket_connect_timeout=DEADLINE)
    with RedisLimiter(client, default=BucketConfig(max_tokens=5, refill_interval=0.5), on_error=policy) as lim:
        assert lim.try_acquire_many([("a", 1), ("b", 1)])[0].allowed
        for stop in (server.pause, server.stop):
            stop()
            started = time.monotonic()
            if policy == "raise":
                with pytest.raises(RedisUnavailable) as err:
                    lim.try_acquire_many([("a", 1), ("b", 2), ("c", 1)])
                assert err.value.decisions == [None, None, None]
            else:
                decisions = lim.try_acquire_many([("a", 1), ("b", 2), ("c", 1)])
                assert [d.fail_mode for d in decisions] == [policy] * 3
                assert all(d.allowed == (policy == "allow") for d in decisions)
            assert time.monotonic() - started < BOUND
            if stop == server.pause:
                server.resume()
                assert lim.try_acquire_many([("a", 1)])[0].fail_mode is None  # back at once
    client.close()


@pytest.mark.parametrize("policy", ["raise", "allow", "deny"])
async def test_a_stopped_server_answers_each_async_acquire_of_the_batch_by_on_error(redis_factory, policy):
    server = redis_factory.redis()
    client = redis.asyncio.Redis(host=server.host, port=server.port, socket_timeout=DEADLINE, socket_connect_timeout=DEADLINE)
    lim = AsyncRedisLimiter(client, default=BucketConfig(max_tokens=5, refill_interval=0.5), on_error=policy)
    try:
        assert (await lim.try_acquire_many([("a", 1), ("b", 1)]))[1].allowed
        for stop in (server.pause, server.stop):
            stop()
            started = time.monotonic()
            if policy == "raise":
                with pytest.raises(RedisUnavailable) as err:
                    await lim.try_acquire_many([("a", 1), ("b", 2), ("c", 1)])
                assert err.value.decisions == [None, None, None]
            else:
                decisions = await lim.try_acquire_many([("a", 1), ("b", 2), ("c", 1)])
                assert [d.fail_mode for d in decisions] == [policy] * 3
            assert time.monotonic() - started < BOUND
            if stop == server.pause:
                server.resume()
                assert (await lim.try_acquire_many([("a", 1)]))[0].fail_mode is None
    finally:
        await client.aclose()


def tally(decisions: list[Any]) -> tuple[int, int]:
    """Allowed, and undecided (no answer: the acquire may or may not have run)."""
    return sum(1 for d in decisions if d is not None and d.allowed), sum(1 for d in decisions if d is None)


def test_a_batch_whose_connection_is_killed_is_debited_once(redis_client, redis_server):
    """CLIENT KILL again and again while batches on one hot user are in flight: never a double debit."""
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=10**6, **FROZEN), on_error="raise")
    killer = redis_server.client()
    stop = threading.Event()

    def kill() -> None:
        while not stop.is_set():
            killer.client_kill_filter(_type="normal", skipme=True)
            time.sleep(0.002)

    thread = threading.Thread(target=kill)
    thread.start()
    allowed = undecided = 0
    try:
        for _ in range(20):
            try:
                decisions = lim.try_acquire_many([("hot", 1)] * 500)
            except RedisUnavailable as exc:
                decisions = exc.decisions  # type: ignore[attr-defined]
            a, u = tally(decisions)
            allowed, undecided = allowed + a, undecided + u
    finally:
        stop.set()
        thread.join()
        killer.close()
    state = lim.peek("hot")
    granted = state.granted if state is not None else 0  # (None: no acquire ever ran)
    assert allowed <= granted <= allowed + undecided  # every answer true, nothing debited twice
    lim.close()


HOT = [f"hot-{i}" for i in range(3)]
MANY = BucketConfig(max_tokens=10**6, **FROZEN)  # every acquire is granted: granted counts those that ran


def hot_batch(n: int) -> list[tuple[str, int]]:
    return [(HOT[i % 3], 1) for i in range(n)]


@pytest.fixture
def proxy(redis_server, redis_client) -> Any:
    redis_client.script_load(script.SOURCE)  # no NOSCRIPT round: the pipelines are the acquires alone
    relay = CutProxy(redis_server.host, redis_server.port)
    yield relay
    relay.close()


def acquire_all(lim: RedisLimiter, batch: list[tuple[str, int]]) -> list[Any]:
    try:
        return lim.try_acquire_many(batch)
    except RedisUnavailable as exc:
        return exc.decisions  # type: ignore[attr-defined, no-any-return]


def test_a_batch_cut_after_the_server_ran_part_of_it_sends_again_what_its_buckets_say_did_not_run(redis_client, proxy):
    """The server ran 200 of 300 acquires on three users, the client got 120 answers, the connection closed."""
    client = redis.Redis(host=proxy.host, port=proxy.port, socket_timeout=5, socket_connect_timeout=5)
    lim = RedisLimiter(client, default=MANY, on_error="raise")
    proxy.cut(run=200, answer=120)
    decisions = acquire_all(lim, hot_batch(300))
    granted = sum(s.granted for s in RedisLimiter(redis_client, default=MANY).peek_many(HOT))
    # 120 answered; the 80 that ran unanswered are lost (debited once, undecided: the buckets name
    # 197, 198 and 199 as the last that ran); the 100 after them are sent again.
    assert tally(decisions) == (220, 80) and granted == 300
    assert all(d is None for d in decisions[120:200]) and all(d is not None and d.allowed for d in decisions[200:])
    lim.close()
    client.close()


def test_a_caller_writing_between_the_question_and_the_retry_changes_nothing(redis_client, proxy):
    """Another service takes from each bucket after the limiter asked it what ran: the retry sends no acquire that ran."""
    other = RedisLimiter(redis_client, default=MANY)
    client = redis.Redis(host=proxy.host, port=proxy.port, socket_timeout=5, socket_connect_timeout=5)
    lim = RedisLimiter(client, default=MANY, on_error="raise")
    proxy.cut(run=200, answer=120, before_answer=lambda: [other.try_acquire(user) for user in HOT])
    decisions = acquire_all(lim, hot_batch(300))
    granted = sum(s.granted for s in other.peek_many(HOT)) - 3
    assert tally(decisions) == (220, 80) and granted == 300  # (sending 197-199 again was a double debit here)
    lim.close()
    client.close()


def test_a_batch_that_timed_out_never_sends_again_what_the_server_may_still_run(redis_client, proxy):
    """The client gave up waiting while the server still had the pipeline's rest: it runs it after the retry."""
    client = redis.Redis(host=proxy.host, port=proxy.port, socket_timeout=1.0, socket_connect_timeout=5)
    lim = RedisLimiter(client, default=MANY, on_error="raise", deadline=60)
    once = [f"once-{i}" for i in range(20)]
    proxy.cut(run=200, answer=120, close=False)
    decisions = acquire_all(lim, hot_batch(300) + [(user, 1) for user in once])
    proxy.release_held()  # the old connection's other 100 hot acquires and the 20 single ones reach the server now
    granted = sum(s.granted for s in RedisLimiter(redis_client, default=MANY).peek_many(HOT + once))
    # None of the 200 unanswered is sent again: each ran once (80 before the timeout, 120 after it).
    assert tally(decisions) == (120, 200) and granted == 320
    lim.close()
    client.close()


def test_an_acquire_that_timed_out_is_not_sent_again(redis_client, proxy):
    """One acquire, held back until after its client gave up: a retry would run first, then the late copy again."""
    client = redis.Redis(host=proxy.host, port=proxy.port, socket_timeout=1.0, socket_connect_timeout=5)
    lim = RedisLimiter(client, default=MANY, on_error="raise", deadline=60)
    proxy.cut(run=0, answer=0, close=False)
    with pytest.raises(RedisUnavailable):
        lim.try_acquire("late")
    proxy.release_held()  # the server reads the old connection now: the acquire runs, once
    assert RedisLimiter(redis_client, default=MANY).peek("late").granted == 1
    assert lim.try_acquire("late").remaining == 10**6 - 2  # the limiter goes on on a new connection
    lim.close()
    client.close()


async def test_an_async_batch_cut_after_the_server_ran_part_of_it_is_debited_once(redis_client, proxy):
    """One lane (a pool of one connection): its pipeline of 256 breaks after the server ran 100, 60 answered."""
    client = redis.asyncio.Redis(host=proxy.host, port=proxy.port, socket_timeout=5, socket_connect_timeout=5, max_connections=1)
    lim = AsyncRedisLimiter(client, default=MANY, on_error="raise")
    proxy.cut(run=100, answer=60)
    try:
        decisions = await lim.try_acquire_many(hot_batch(300))
    except RedisUnavailable as exc:
        decisions = exc.decisions  # type: ignore[attr-defined]
    granted = sum(s.granted for s in RedisLimiter(redis_client, default=MANY).peek_many(HOT))
    assert tally(decisions) == (260, 40) and granted == 300  # 40 ran unanswered: lost; the rest sent again
    assert all(d is None for d in decisions[60:100])
    await client.aclose()


async def test_async_lanes_on_the_same_users_cut_mid_pipeline_are_debited_once(redis_client, proxy):
    """Two lanes write the same buckets: the broken one cannot tell which of its acquires ran, so sends none again."""
    client = redis.asyncio.Redis(host=proxy.host, port=proxy.port, socket_timeout=5, socket_connect_timeout=5)
    lim = AsyncRedisLimiter(client, default=MANY, on_error="raise")
    proxy.cut(run=100, answer=60)
    try:
        decisions = await lim.try_acquire_many(hot_batch(300))
    except RedisUnavailable as exc:
        decisions = exc.decisions  # type: ignore[attr-defined]
    allowed, undecided = tally(decisions)
    granted = sum(s.granted for s in RedisLimiter(redis_client, default=MANY).peek_many(HOT))
    assert allowed <= granted <= allowed + undecided  # nothing debited twice
    assert 60 + 150 <= allowed and undecided <= 90  # the other lane's 150 and the 60 answers stand
    await client.aclose()


async def test_async_batches_match_the_sync_ones(async_redis_client, redis_client):
    cfg = BucketConfig(max_tokens=10, **FROZEN)
    sync = RedisLimiter(redis_client, prefix="sync", default=cfg)
    lim = AsyncRedisLimiter(async_redis_client, prefix="async", default=cfg)
    batch = [(f"u{i % 3}", 1 + i % 4) for i in range(20)]
    mine = await lim.try_acquire_many(batch)
    theirs = sync.try_acquire_many(batch)
    assert [(d.allowed, d.remaining, d.limit) for d in mine] == [(d.allowed, d.remaining, d.limit) for d in theirs]
    await async_redis_client.script_flush()
    assert [s.granted for s in await lim.peek_many(["u0", "u1", "u2"])] == [s.granted for s in sync.peek_many(["u0", "u1", "u2"])]
