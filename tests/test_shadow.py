"""Shadow settings (issue 10, SPEC §2–§4) against real servers: both versions, and Cluster.

- A random walk of acquires, live changes, shadow sets, promotes, discards,
  resets and time passing: every enforced answer is the model's without any
  shadow (a shadow never changes one), and the shadow's answers and counters
  are those of a second bucket (a `ConditionBucket` on a clock set to each
  reply's Redis time) with the shadow settings, fed the same acquires.
- Promote is a live change settled at the old settings first; discard and
  promote on a bucket without a shadow write nothing and return None.
- A bucket with a shadow never idles out; after discard its expiry resumes.
- Replays, batches and coalesced async acquires carry the shadow's answer.
"""

from __future__ import annotations

import asyncio
import random
import time

import pytest
import redis.asyncio

from limiter import AsyncRedisLimiter, BucketConfig, ConditionBucket, CorruptBucket, RedisLimiter, model, script
from limiter.model import Level

FROZEN = dict(refill_count=1, refill_interval=3600.0)


class SecondBucket:
    """The reference for a shadow: an independent bucket with its settings, on a clock the test sets."""

    def __init__(self, config: BucketConfig, level: Level) -> None:
        self.now = level.anchor_us
        self.bucket = ConditionBucket(config, clock=lambda: self.now)
        self.bucket._tokens, self.bucket._anchor = level.tokens, level.anchor_us
        self.granted = self.denied = 0

    def take(self, n: int, now: int) -> bool:
        self.now = now
        allowed = n <= self.bucket.config.ceiling and self.bucket.try_acquire(n)  # above its ceiling: never
        if allowed:
            self.granted += 1
        else:
            self.denied += 1
        return allowed

    def level(self, now: int) -> Level:
        return model.refill(Level(self.bucket._tokens, self.bucket._anchor), self.bucket.config.settings(), now)


def _walk(client, seed: int, steps: int, user: str = "walk") -> set[str]:
    """The random walk on ``client``; returns the kinds of step it checked."""
    rng = random.Random(seed)
    cfgs = [BucketConfig(max_tokens=rng.randint(1, 12), burst=rng.randint(0, 5), refill_count=rng.randint(1, 4),
                         refill_interval=rng.choice([0.001, 0.002, 0.005, 0.011])) for _ in range(6)]
    a, b = cfgs[0], cfgs[1]  # two services' defaults for the same bucket
    lims = {"a": RedisLimiter(client, default=a, idle_ttl=60), "b": RedisLimiter(client, default=b, idle_ttl=60)}
    key = lims["a"].key(user)
    level: Level | None = None
    in_force, operator = a.settings(), False
    shadow: model.Shadow | None = None
    second: SecondBucket | None = None
    seen: set[str] = set()

    def settle_to(default: model.Settings, now: int) -> None:
        # Every call but peek first applies the caller's default when no operator pins the bucket.
        nonlocal level, in_force
        if level is not None and not operator and in_force != default:
            level, in_force = model.change(level, in_force, default, now), default

    def check_shadow(state, now: int, where: str) -> None:
        if shadow is None:
            assert state.shadow is None, where
            return
        expected = model.refill(shadow.level, shadow.settings, now)
        got = state.shadow
        assert (got.tokens, got.anchor_us, got.config.settings(), got.granted, got.denied) == (
            expected.tokens, expected.anchor_us, shadow.settings, shadow.granted, shadow.denied), where
        assert (got.granted, got.denied) == (second.granted, second.denied), where
        assert second.level(now) == expected, where

    for step in range(steps):
        roll = rng.random()
        who = "a" if rng.random() < 0.85 else "b"
        lim = lims[who]
        default = lim.default.settings()
        where = f"step {step} ({who})"
        if roll < 0.6:
            n = rng.randint(1, 14)
            request = lim._ids.next() if rng.random() < 0.8 else ""
            fresh = request and rng.random() < 0.5
            args = lim._args("acquire", n, request, *(script.FRESH if fresh else ()))
            reply = lim._calls.evalsha(key, args)
            parts = script.acquire_reply(reply)
            now = parts[script.ACQUIRE_NOW_US]
            ceiling = default.ceiling if level is None or not operator else in_force.ceiling
            if n > ceiling:  # refused before any write: the stored state stays as it was
                assert parts[script.CODE] == script.CODE_TOO_MANY and len(parts) == 6, where
                seen.add("too many")
                continue
            if level is None:
                level, in_force = model.fresh(default, now), default
            settle_to(default, now)
            out = model.take(level, in_force, n, now)  # the enforced answer knows no shadow
            level = out.level
            assert parts[:5] == [0, int(out.allowed), out.level.tokens, out.wait_us, in_force.ceiling], where
            if shadow is None:
                assert len(parts) == 6, where
                seen.add("acquire without a shadow")
            else:
                allowed, shadow = model.shadow_take(shadow, n, now)
                assert second.take(n, now) == allowed, where
                assert parts[script.SHADOW_ALLOWED] == int(allowed), where
                decision = script.decision_of(reply, n, user)
                assert decision.shadow_allowed is allowed and decision.allowed is out.allowed, where
                seen.add(f"shadow {'grant' if allowed else 'denial'} with enforced {'grant' if out.allowed else 'denial'}")
                if request and rng.random() < 0.3:  # a retry of the same request: the first answer, counted once
                    again = script.acquire_reply(lim._calls.evalsha(key, lim._args("acquire", n, request)))
                    assert again[script.CODE] == script.CODE_REPLAYED and again[script.SHADOW_ALLOWED] == int(allowed), where
                    seen.add("replay")
        elif roll < 0.66:
            new = rng.choice(cfgs)
            state = lim.configure(user, new)
            if level is None:
                level = Level(new.max_tokens, state.now_us)
            else:
                settle_to(default, state.now_us)
                level = model.change(level, in_force, new.settings(), state.now_us)
            in_force, operator = new.settings(), True
            assert (state.tokens, state.anchor_us) == (level.tokens, level.anchor_us), where
            check_shadow(state, state.now_us, where)
        elif roll < 0.76:
            new = rng.choice(cfgs)
            state = lim.configure(user, new, shadow=True)
            if level is None:
                level, in_force = Level(default.max_tokens, state.now_us), default
            settle_to(default, state.now_us)
            shadow = model.shadow_start(level, in_force, new.settings(), state.now_us)
            second = SecondBucket(new, shadow.level)
            assert (state.tokens, state.anchor_us, state.config.settings()) == (level.tokens, level.anchor_us, in_force), where
            check_shadow(state, state.now_us, where)
            assert client.pttl(key) == -1, where  # a bucket with a shadow never expires
            seen.add("shadow set")
        elif roll < 0.81:
            state = lim.promote(user)
            if shadow is None:
                assert state is None, where
                seen.add("promote without a shadow")
                continue
            settle_to(default, state.now_us)
            level = model.promote(level, in_force, shadow, state.now_us)
            in_force, operator, shadow, second = shadow.settings, True, None, None
            assert (state.tokens, state.anchor_us, state.config.settings(), state.overridden) == (
                level.tokens, level.anchor_us, in_force, True), where
            assert state.shadow is None and not client.hexists(key, "shadow"), where
            seen.add("promote")
        elif roll < 0.86:
            state = lim.discard_shadow(user)
            if shadow is None:
                assert state is None, where
                seen.add("discard without a shadow")
                continue
            settle_to(default, state.now_us)
            level, shadow, second = model.refill(level, in_force, state.now_us), None, None  # settled: its idle time starts now
            assert (state.tokens, state.anchor_us, state.shadow) == (level.tokens, level.anchor_us, None), where
            assert (client.pttl(key) == -1) == operator, where  # the expiry resumes without operator settings
            seen.add("discard")
        elif roll < 0.88:
            state = lim.reset(user)
            if level is None:
                assert state is None, where
                continue
            settle_to(default, state.now_us)
            level = Level(in_force.max_tokens, state.now_us)
            if shadow is not None:
                shadow = model.shadow_reset(shadow, state.now_us)
                second.bucket._tokens, second.bucket._anchor = shadow.level.tokens, shadow.level.anchor_us
            assert (state.tokens, state.anchor_us) == (level.tokens, level.anchor_us), where
            check_shadow(state, state.now_us, where)
        elif roll < 0.95:
            state = lims["a"].peek(user)  # read-only: what a's call would see, nothing written
            if level is None:
                assert state is None, where
                continue
            seen_level, seen_settings = level, in_force
            if not operator and in_force != a.settings():
                seen_level, seen_settings = model.change(level, in_force, a.settings(), state.now_us), a.settings()
            assert (state.tokens, state.config.settings()) == (model.refill(seen_level, seen_settings, state.now_us).tokens, seen_settings), where
            check_shadow(state, state.now_us, where)
        else:
            time.sleep(rng.choice([0.0005, 0.002, 0.006, 0.015]))
    return seen


def test_a_shadow_never_changes_an_enforced_answer_and_counts_as_a_second_bucket_would(redis_client):
    seen = _walk(redis_client, seed=20261201, steps=900)
    assert {"shadow set", "promote", "discard", "promote without a shadow", "discard without a shadow", "replay",
            "shadow grant with enforced grant", "shadow denial with enforced grant",
            "shadow grant with enforced denial", "shadow denial with enforced denial", "acquire without a shadow"} <= seen, seen


def test_the_walk_on_a_cluster(cluster_client):
    users = ["x", "a{b}c", "}{"]  # different slots, awkward ids
    for i, user in enumerate(users):
        assert "shadow set" in _walk(cluster_client, seed=77 + i, steps=250, user=user)


def test_promote_is_a_live_change_settled_at_the_old_settings_first(redis_client):
    old = BucketConfig(max_tokens=10, refill_count=3, refill_interval=0.02)
    new = BucketConfig(max_tokens=4, refill_count=1, refill_interval=0.05)
    lim = RedisLimiter(redis_client, default=old)
    for _ in range(10):
        assert lim.try_acquire("p").allowed
    state = lim.configure("p", new, shadow=True)
    level = Level(state.tokens, state.anchor_us)
    time.sleep(0.05)  # two ticks of the old settings: 6 tokens that promote must keep (capped at 4)
    promoted = lim.promote("p")
    expected = model.change(level, old.settings(), new.settings(), promoted.now_us)
    assert (promoted.tokens, promoted.anchor_us) == (expected.tokens, expected.anchor_us)
    assert promoted.tokens == 4  # settled at 3/20 ms (not the shadow's 1/50 ms), then clamped
    assert promoted.config == new and promoted.overridden and promoted.shadow is None
    assert redis_client.pttl(lim.key("p")) == -1  # operator settings persist


def test_promote_and_discard_without_a_shadow_write_nothing_and_say_so(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=3, **FROZEN))
    assert lim.promote("nobody") is None and lim.discard_shadow("nobody") is None
    assert redis_client.keys("*") == []
    lim.try_acquire("u")
    key = lim.key("u")
    before, ttl = redis_client.hgetall(key), redis_client.pttl(key)
    redis_client.config_resetstat()
    assert lim.promote("u") is None and lim.discard_shadow("u") is None
    assert redis_client.hgetall(key) == before and redis_client.pttl(key) <= ttl
    stats = redis_client.info("commandstats")
    assert not any(name in stats for name in ("cmdstat_hset", "cmdstat_hdel", "cmdstat_pexpire", "cmdstat_persist"))


def test_a_bucket_with_a_shadow_never_idles_out_and_its_expiry_resumes_after_discard(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=2, refill_count=2, refill_interval=0.001), idle_ttl=0.03)
    lim.try_acquire("idle")
    key = lim.key("idle")
    assert redis_client.pttl(key) > 0
    lim.configure("idle", BucketConfig(max_tokens=1, **FROZEN), shadow=True)
    assert redis_client.pttl(key) == -1
    lim.try_acquire("idle")  # an acquire on the shadowed bucket keeps it persistent
    time.sleep(0.1)  # well past idle_ttl
    state = lim.peek("idle")
    assert state is not None and state.shadow is not None and redis_client.pttl(key) == -1
    assert (state.shadow.granted, state.shadow.denied) == (1, 0)
    assert lim.discard_shadow("idle").shadow is None
    assert 0 < redis_client.pttl(key) <= 31 + 4  # idle_ttl from full (+1 ms, the grid of idle_ttl/8)
    deadline = time.monotonic() + 5
    while redis_client.exists(key) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not redis_client.exists(key)


def test_setting_a_shadow_on_a_missing_bucket_needs_create(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=5, **FROZEN))
    assert lim.configure("new", BucketConfig(max_tokens=2, **FROZEN), shadow=True, create=False) is None
    assert redis_client.keys("*") == []
    state = lim.configure("new", BucketConfig(max_tokens=2, **FROZEN), shadow=True)
    assert (state.tokens, state.config, state.overridden) == (5, lim.default, False)  # the default's bucket, full
    assert (state.shadow.tokens, state.shadow.config.max_tokens) == (2, 2)
    assert redis_client.pttl(lim.key("new")) == -1


def test_an_acquire_above_the_shadows_ceiling_is_a_shadow_denial(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=10, **FROZEN))
    lim.configure("c", BucketConfig(max_tokens=3, **FROZEN), shadow=True)
    decision = lim.try_acquire("c", 5)
    assert (decision.allowed, decision.remaining, decision.shadow_allowed) == (True, 5, False)
    shadow = lim.peek("c").shadow
    assert (shadow.tokens, shadow.granted, shadow.denied) == (3, 0, 1)


def test_reset_refills_the_shadow_too_and_keeps_its_counters(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=4, **FROZEN))
    lim.configure("r", BucketConfig(max_tokens=2, burst=1, **FROZEN), shadow=True)
    for _ in range(3):
        lim.try_acquire("r")
    assert lim.peek("r").shadow.tokens == 0
    state = lim.reset("r")
    # It started at 3 (the 4 of the new bucket, clamped to its ceiling 2 + 1), so 3 grants; then its own max_tokens.
    assert (state.tokens, state.shadow.tokens, state.shadow.granted, state.shadow.denied) == (4, 2, 3, 0)


def test_a_corrupt_shadow_field_is_a_clear_error_and_is_left_untouched(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=4, **FROZEN))
    lim.try_acquire("bad")
    key = lim.key("bad")
    for value in (b"2 0 1", b"2 0 1 1000000 9 0 0 0", b"0 0 1 1000000 0 0 0 0", b"x 0 1 1000000 1 0 0 0"):
        redis_client.hset(key, "shadow", value)
        before = redis_client.hgetall(key)
        for call in (lambda: lim.try_acquire("bad"), lambda: lim.peek("bad"), lambda: lim.promote("bad")):
            with pytest.raises(CorruptBucket, match="shadow"):
                call()
        assert redis_client.hgetall(key) == before


def test_batches_carry_the_shadows_answer(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=3, **FROZEN))
    lim.configure("s", BucketConfig(max_tokens=1, **FROZEN), shadow=True)
    decisions = lim.try_acquire_many([("s", 1), ("plain", 1), ("s", 1), ("s", 1), ("s", 1)])
    assert [(d.allowed, d.shadow_allowed) for d in decisions] == [(True, True), (True, None), (True, False), (True, False), (False, False)]


async def test_coalesced_async_acquires_carry_the_shadow_and_count_exactly(redis_server):
    client = redis.asyncio.Redis.from_url(redis_server.url, socket_timeout=5, socket_connect_timeout=5)
    await client.flushall()
    try:
        lim = AsyncRedisLimiter(client, default=BucketConfig(max_tokens=50, **FROZEN))
        await lim.configure("c", BucketConfig(max_tokens=20, **FROZEN), shadow=True)
        decisions = await asyncio.gather(*(lim.try_acquire("c") for _ in range(300)))
        batch = await lim.try_acquire_many([("c", 1)] * 10)
        assert sum(d.allowed for d in decisions) == 50 and sum(bool(d.shadow_allowed) for d in decisions) == 20
        assert all(d.shadow_allowed is False for d in batch)
        state = await lim.peek("c")
        assert (state.granted, state.denied, state.shadow.granted, state.shadow.denied) == (50, 260, 20, 290)
        assert (await lim.promote("c")).config.max_tokens == 20
        assert await lim.discard_shadow("c") is None
    finally:
        await client.aclose()


async def test_async_shadow_on_a_cluster(cluster_group):
    from redis.asyncio.cluster import ClusterNode, RedisCluster

    client = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in cluster_group.startup_nodes],
                          socket_timeout=5, socket_connect_timeout=5)
    await client.initialize()  # (a cold async cluster client under a burst: see test_topology_cluster)
    try:
        lim = AsyncRedisLimiter(client, default=BucketConfig(max_tokens=6, **FROZEN))
        users = [f"u{i}" for i in range(12)]
        for user in users:
            await lim.delete(user)
            await lim.configure(user, BucketConfig(max_tokens=2, **FROZEN), shadow=True)
        decisions = await asyncio.gather(*(lim.try_acquire(u) for u in users for _ in range(4)))
        assert sum(bool(d.shadow_allowed) for d in decisions) == 2 * len(users)
        assert all(d.shadow_allowed is not None for d in decisions)
        states = await lim.peek_many(users)
        assert {(s.granted, s.shadow.granted, s.shadow.denied) for s in states} == {(4, 2, 2)}
        for user in users:
            await lim.delete(user)
    finally:
        await client.aclose()


def test_a_bucket_without_a_shadow_gets_the_lean_reply(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=3, **FROZEN))
    for _ in range(4):
        reply = lim._calls.evalsha(lim.key("lean"), lim._args("acquire", 1, lim._ids.next()), script.FRESH)
        assert len(reply.split()) == 6
    assert lim.try_acquire("lean").shadow_allowed is None
    assert lim.peek("lean").shadow is None


def test_a_cluster_batch_carries_each_buckets_shadow(cluster_client):
    lim = RedisLimiter(cluster_client, default=BucketConfig(max_tokens=4, **FROZEN))
    users = [f"b{i}" for i in range(30)]  # over every primary
    for user in users[::2]:
        lim.configure(user, BucketConfig(max_tokens=1, **FROZEN), shadow=True)
    decisions = lim.try_acquire_many([(u, 1) for u in users] * 2)
    expected = [(True, True if i % 2 == 0 else None) for i in range(30)] + [(True, False if i % 2 == 0 else None) for i in range(30)]
    assert [(d.allowed, d.shadow_allowed) for d in decisions] == expected
    assert lim.promote(users[0]).config.max_tokens == 1 and lim.promote(users[1]) is None
