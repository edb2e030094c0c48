"""One rule, one place (issue 13 §3, §5 on the limiter side), and the script's paths held to it.

- ``n``: `limiter.model.check_n` for both buckets, sync and async: a bool is
  refused everywhere (`ConditionBucket` took ``n=True`` as 1 before).
- The refill rule: `model.refilled`, which `ConditionBucket._take` uses; its
  `try_acquire` inlines the take on the hot path; both are held to `model.take` here.
- token_bucket.lua has a lean acquire path and a general section: a random
  walk through both (new buckets, the caller's default, another caller's
  default, operator settings, resets, deletes, request ids, fresh first
  attempts) equals the model at every reply, and the key's expiry, which the
  lean path moves only when the full instant moves, is always "full again +
  idle_ttl" (never earlier: an early expiry would hand out a full bucket).
"""

from __future__ import annotations

import asyncio
import random
import time

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from faults_helpers import FROZEN
from limiter import AsyncRedisLimiter, BucketConfig, ConditionBucket, RedisLimiter, model, script
from limiter.model import Level, Settings

BAD_N = [True, False, 0, -1, 1.5, "1", None]


@pytest.mark.parametrize("bad", BAD_N, ids=repr)
def test_n_is_one_rule_for_the_condition_bucket(bad):
    bucket = ConditionBucket(BucketConfig(max_tokens=5))
    for call in (bucket.try_acquire, bucket.acquire, bucket.retry_after):
        with pytest.raises(ValueError, match="whole number"):
            call(bad)
    assert bucket.tokens == 5


@pytest.mark.parametrize("bad", BAD_N, ids=repr)
def test_n_is_one_rule_for_the_redis_limiters(redis_client, bad):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=5))
    for call in (lim.try_acquire, lim.acquire, lambda u, n: lim.try_acquire_many([(u, n)])):
        with pytest.raises(ValueError, match="whole number"):
            call("u", bad)

    async def async_calls() -> None:
        alim = AsyncRedisLimiter(redis.asyncio.Redis(port=1), default=BucketConfig(max_tokens=5))  # never reached
        for call in (alim.try_acquire, alim.acquire, lambda u, n: alim.try_acquire_many([(u, n)])):
            with pytest.raises(ValueError, match="whole number"):
                await call("u", bad)

    asyncio.run(async_calls())
    assert redis_client.keys("*") == []


def test_a_wrong_type_of_n_is_a_type_error_too():
    with pytest.raises(TypeError):
        ConditionBucket(BucketConfig(max_tokens=5)).try_acquire(1.5)
    assert model.check_n(3) == 3


settings_st = st.builds(Settings, max_tokens=st.integers(1, 30), burst=st.integers(0, 10), refill_count=st.integers(1, 7),
                        interval_us=st.sampled_from([1_000, 1_001, 7_919, 1_000_000]))


@given(settings_st, st.data())
@settings(max_examples=400, deadline=None)
def test_the_condition_buckets_inlined_take_is_the_model(cfg, data):
    tokens = data.draw(st.integers(0, cfg.ceiling))
    anchor = data.draw(st.integers(0, 10**7))
    now = anchor + data.draw(st.integers(-cfg.interval_us * 2, cfg.interval_us * 40))
    n = data.draw(st.integers(1, cfg.ceiling))
    bucket = ConditionBucket(BucketConfig.from_settings(cfg), clock=lambda: now)
    out = model.take(Level(tokens, anchor), cfg, n, now)
    bucket._tokens, bucket._anchor = tokens, anchor
    wait = bucket._take(n, now)  # acquire's take, on the model's refill rule
    assert (wait == 0, Level(bucket._tokens, bucket._anchor), wait) == (out.allowed, out.level, out.wait_us)
    bucket._tokens, bucket._anchor = tokens, anchor
    allowed = bucket.try_acquire(n)  # the inlined hot path
    assert (allowed, Level(bucket._tokens, bucket._anchor)) == (out.allowed, out.level)
    assert model.refill(Level(tokens, anchor), cfg, now) == Level(*model.refilled(tokens, anchor, cfg.ceiling, cfg.refill_count, cfg.interval_us, now))


def test_the_scripts_lean_and_general_paths_agree_with_the_model(redis_client):
    rng = random.Random(20261130)
    idle_ms = 40
    a = BucketConfig(max_tokens=8, burst=4, refill_count=2, refill_interval=0.004)
    b = BucketConfig(max_tokens=6, burst=0, refill_count=3, refill_interval=0.009)  # another service's default
    ops = [BucketConfig(max_tokens=5, burst=2, refill_count=1, refill_interval=0.002),
           BucketConfig(max_tokens=12, burst=0, refill_count=4, refill_interval=0.006)]
    lims = {"a": RedisLimiter(redis_client, default=a, idle_ttl=idle_ms / 1000),
            "b": RedisLimiter(redis_client, default=b, idle_ttl=idle_ms / 1000)}
    key = lims["a"].key("walk")
    level: Level | None = None
    in_force, operator = a.settings(), False
    seen = set()
    for step in range(700):
        roll = rng.random()
        who = "a" if rng.random() < 0.8 else "b"
        lim, default = lims[who], lims[who].default.settings()
        if roll < 0.62:
            n = rng.randint(1, 14)
            fresh = rng.random() < 0.5
            args = lim._args("acquire", n, lim._ids.next() if rng.random() < 0.9 else "", *(script.FRESH if fresh else ()))
            started = time.monotonic()
            code, allowed, tokens, wait, ceiling, now = script.acquire_reply(lim._calls.evalsha(key, args))
            if level is None:
                current, settings_now, path = model.fresh(default, now), default, "new"
            elif not operator and in_force != default:
                current, settings_now, path = model.change(level, in_force, default, now), default, "other default"
            else:
                current, settings_now, path = level, in_force, "operator" if operator else "same default"
            if n > settings_now.ceiling:  # refused before any write: the stored state stays as it was
                assert (code, ceiling) == (script.CODE_TOO_MANY, settings_now.ceiling), step
                seen.add(path + ", too many")
                continue
            out = model.take(current, settings_now, n, now)
            level, in_force = out.level, settings_now
            assert (code, bool(allowed), tokens, wait, ceiling) == (0, out.allowed, out.level.tokens, out.wait_us, in_force.ceiling), (step, path)
            seen.add(path)
            if not operator:  # the expiry: full again + idle_ms (+1 ms), whichever path moved it last
                ttl = redis_client.pttl(key)
                late_ms = (time.monotonic() - started) * 1000 + 1  # the time between the reply and PTTL, at most
                expected_ms = model.full_in_us(level, in_force, now) / 1000 + idle_ms
                # Never earlier; later by at most the ms rounding and the grid of idle_ms / 8.
                assert expected_ms - late_ms <= ttl <= expected_ms + 3 + idle_ms // 8, (step, path)
        elif roll < 0.72:
            new = rng.choice(ops)
            state = lim.configure("walk", new)
            if level is not None and not operator and in_force != default:
                # A caller with another default settles the bucket at it first, as all its calls do.
                level, in_force = model.change(level, in_force, default, state.now_us), default
            level = Level(new.max_tokens, state.now_us) if level is None else model.change(level, in_force, new.settings(), state.now_us)
            in_force, operator = new.settings(), True
            assert (state.tokens, state.anchor_us) == (level.tokens, level.anchor_us), step
            assert redis_client.pttl(key) == -1 and not redis_client.hexists(key, "default")
        elif roll < 0.8:
            state = lim.unconfigure("walk")
            if level is None:
                assert state is None
                continue
            if not operator and in_force != default:
                level, in_force = model.change(level, in_force, default, state.now_us), default
            level, in_force, operator = model.change(level, in_force, default, state.now_us), default, False
            assert (state.tokens, state.anchor_us, state.overridden) == (level.tokens, level.anchor_us, False), step
            assert redis_client.hget(key, "default") == lim._default_arg
        elif roll < 0.85:
            state = lim.reset("walk")
            if level is not None:
                if not operator and in_force != default:
                    in_force = default  # reset applies the caller's default first, like any call
                level = Level(in_force.max_tokens, state.now_us)
                assert (state.tokens, state.anchor_us) == (level.tokens, level.anchor_us), step
        elif roll < 0.88:
            lim.delete("walk")
            level, in_force, operator = None, a.settings(), False
        else:
            time.sleep(rng.choice([0.001, 0.003, 0.012]))
    assert seen >= {"new", "same default", "other default", "operator"}, seen


def test_the_expiry_is_sent_only_when_it_moves(redis_client):
    """A grant moves the full instant; the expiry (rounded up to idle_ttl / 8) is sent once per move of it."""
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=1000, refill_count=1, refill_interval=0.01), idle_ttl=8.0)
    assert lim.try_acquire("e").allowed
    redis_client.config_resetstat()
    for _ in range(50):  # the full instant moves 10 ms a grant: 0.5 s in all, the grid is 1 s
        assert lim.try_acquire("e").allowed
    for _ in range(20):
        lim.try_acquire("e", 1000)  # denials (more than there is) move nothing
    pexpires = redis_client.info("commandstats").get("cmdstat_pexpire", {}).get("calls", 0)
    assert pexpires <= 2  # one per grant (50) before
    state = lim.peek("e")
    full_in_ms = model.full_in_us(Level(state.tokens, state.anchor_us), state.config.settings(), state.now_us) / 1000
    assert full_in_ms + 8000 - 50 <= redis_client.pttl(lim.key("e")) <= full_in_ms + 8000 + 1000 + 3


def test_an_older_scripts_write_is_noticed(redis_client):
    """Fields an older token_bucket.lua writes (it knows no `default` field) take the general section.

    Its configure sets operator settings and leaves `default` in place; its
    unconfigure or another default writes the four settings fields. The newer
    script must follow them, not the stale `default`, and put the field right.
    """
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=5, **FROZEN))
    key = lim.key("mixed")
    assert lim.try_acquire("mixed").remaining == 4
    assert redis_client.hget(key, "default") == lim._default_arg
    # What the older script's configure(max_tokens=9, burst=2) writes:
    redis_client.hset(key, mapping={"max_tokens": 9, "burst": 2, "operator": 1})
    decision = lim.try_acquire("mixed")
    assert (decision.remaining, decision.limit) == (3, 11)  # the operator's settings, not the stale default
    assert not redis_client.hexists(key, "default")
    assert lim.peek("mixed").overridden
    # What its unconfigure writes, with another caller's default (max_tokens=7):
    redis_client.hset(key, mapping={"max_tokens": 7, "burst": 0, "operator": 0})
    decision = lim.try_acquire("mixed")
    assert (decision.remaining, decision.limit) == (2, 5)  # 3 kept (no refill), then this caller's 5
    assert redis_client.hget(key, "default") == lim._default_arg
    assert lim.peek("mixed").default_changes == 1


def test_the_pure_python_packer_packs_as_hiredis_does():
    """limiter.resp's fallback (no hiredis) writes the same bytes, and refuses what cannot be sent."""
    import hiredis

    from limiter import resp

    commands = [
        ("EVALSHA", script.SHA, 1, "token_bucket:{ünïcødé ✓}", b"acquire", b"5 0 1 1000000 60000", 3, "abc123", b"1"),
        ("EVALSHA", script.SHA, 1, "k", b"peek", b"5 0 1 1000000 60000"),
        ("SCRIPT", "LOAD", script.SOURCE),
    ]
    for command in commands:
        assert resp._pack_python(command) == hiredis.pack_command(command)
    assert resp.pack_many(commands) == b"".join(map(hiredis.pack_command, commands))
    for bad in ("lone \ud800 surrogate",):
        with pytest.raises(ValueError):
            resp._pack_python(("EVALSHA", bad))
    with pytest.raises(TypeError):
        resp._pack_python(("EVALSHA", 1.5))
