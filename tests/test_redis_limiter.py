"""The Redis bucket against real redis-server processes (both versions the suite finds)."""

from __future__ import annotations

import random
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import redis

from limiter import (
    BucketConfig,
    CorruptBucket,
    RedisLimiter,
    RedisUnavailable,
    TokensExceedCeiling,
)
from limiter import model, script
from limiter.keys import user_of
from limiter.model import Level, Settings

LUA = Path(script.__file__).parent / "lua" / "token_bucket.lua"
FROZEN = dict(refill_count=1, refill_interval=3600.0)  # effectively no refill during a test


def level_of(state) -> Level:
    return Level(state.tokens, state.anchor_us)


def test_new_bucket_starts_at_max_tokens_not_the_ceiling(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=3, burst=5, **FROZEN))
    results = [lim.try_acquire("u").allowed for _ in range(5)]
    assert results == [True, True, True, False, False]
    denied = lim.try_acquire("u")
    assert denied.remaining == 0 and denied.limit == 8
    state = lim.peek("u")
    assert (state.granted, state.denied) == (3, 3)


def test_key_is_hash_tagged_per_user(redis_client):
    lim = RedisLimiter(redis_client, prefix="rl", default=BucketConfig(max_tokens=2, **FROZEN))
    lim.try_acquire("user_123")
    assert redis_client.keys("*") == [b"rl:{user_123}"]


@pytest.mark.parametrize("user", ["{a}", "a}b{", "}", "{}", "x{y}z", "a:b:c", "with space", "ünïcødé ✓", "u" * 2000])
def test_awkward_user_ids_map_to_one_key_and_back(redis_client, user):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=2, **FROZEN))
    assert lim.try_acquire(user).allowed
    assert lim.try_acquire(user).allowed
    assert not lim.try_acquire(user).allowed
    [key] = redis_client.keys("*")
    assert user_of("token_bucket", key) == user
    assert lim.peek(user).granted == 2


def test_differential_against_the_reference_model(redis_client):
    """Random acquires, live changes and time passing: the script and limiter/model.py agree exactly.

    Each reply carries the Redis TIME the script used, so the model is
    evaluated at exactly the same instants.
    """
    rng = random.Random(20261129)
    configs = [
        BucketConfig(max_tokens=rng.randint(1, 12), burst=rng.randint(0, 6), refill_count=rng.randint(1, 4),
                     refill_interval=rng.choice([0.001, 0.002, 0.005, 0.013]))
        for _ in range(6)
    ]
    default = configs[0]
    lim = RedisLimiter(redis_client, default=default)
    settings: Settings = default.settings()
    level: Level | None = None
    for step in range(400):
        roll = rng.random()
        if roll < 0.1:
            new = rng.choice(configs)
            state = lim.configure("d", new)
            now = state.now_us
            current = level if level is not None else model.fresh(settings, now)
            level = model.change(current, settings, new.settings(), now)
            settings = new.settings()
            assert level_of(state) == level, f"step {step}: configure"
        elif roll < 0.2:
            time.sleep(rng.choice([0.0005, 0.002, 0.01]))
            continue
        else:
            n = rng.randint(1, settings.ceiling)
            reply = script.acquire_reply(lim._call("d", "acquire", n, ""))
            now = int(reply[script.ACQUIRE_NOW_US])
            current = level if level is not None else model.fresh(settings, now)
            outcome = model.take(current, settings, n, now)
            level = outcome.level
            assert bool(reply[script.ALLOWED]) == outcome.allowed, f"step {step}: allowed"
            assert int(reply[script.TOKENS]) == outcome.level.tokens, f"step {step}: tokens"
            assert int(reply[script.WAIT_US]) == outcome.wait_us, f"step {step}: wait"
            assert int(reply[script.CEILING]) == settings.ceiling, f"step {step}: ceiling"
        if level is not None and rng.random() < 0.1:  # the anchor too, through a read-only peek
            state = lim.peek("d")
            assert level_of(state) == model.refill(level, settings, state.now_us), f"step {step}: peek"


def test_hundred_simultaneous_callers_on_a_bucket_of_five_get_exactly_five(redis_client, redis_url):
    for _ in range(3):
        redis_client.flushall()
        barrier = threading.Barrier(100)
        results: list[bool] = []
        lock = threading.Lock()

        def caller() -> None:
            lim = RedisLimiter(redis.Redis.from_url(redis_url), default=BucketConfig(max_tokens=5, **FROZEN))
            barrier.wait()
            allowed = lim.try_acquire("hot").allowed
            with lock:
                results.append(allowed)
            lim.client.close()

        threads = [threading.Thread(target=caller) for _ in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(results) == 5 and len(results) == 100


def _hammer(url: str, threads: int, seconds: float, cfg_json: str, go, out) -> None:
    cfg = BucketConfig.model_validate_json(cfg_json)
    lim = RedisLimiter(redis.Redis.from_url(url), default=cfg)
    counts = [0] * threads
    go.wait()  # start together, after the slow part of spawning
    end = time.monotonic() + seconds
    first_us = _redis_now_us(lim.client)

    def run(i: int) -> None:
        while time.monotonic() < end:
            if lim.try_acquire("shared").allowed:
                counts[i] += 1

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put((sum(counts), first_us, _redis_now_us(lim.client)))


def _redis_now_us(client) -> int:
    seconds, micros = client.time()
    return seconds * 1_000_000 + micros


def test_processes_and_threads_never_exceed_the_bound_and_come_close(redis_client, redis_url):
    import multiprocessing

    cfg = BucketConfig(max_tokens=20, burst=10_000, refill_count=5, refill_interval=0.01)
    ctx = multiprocessing.get_context("spawn")
    out, go = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_hammer, args=(redis_url, 4, 1.5, cfg.model_dump_json(), go, out)) for _ in range(3)]
    for p in procs:
        p.start()
    go.set()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    # Every grant happened between the earliest first and the latest last Redis TIME.
    granted = sum(r[0] for r in results)
    elapsed = max(r[2] for r in results) - min(r[1] for r in results)
    bound = cfg.max_tokens + (elapsed // cfg.interval_us) * cfg.refill_count
    assert granted <= bound
    # Burst keeps the tokens that stalled callers miss: grants should come close to the bound.
    assert granted >= 0.75 * bound, (granted, bound)


def test_retry_after_is_exactly_when_the_tokens_arrive(redis_client):
    cfg = BucketConfig(max_tokens=4, refill_count=2, refill_interval=0.2)
    lim = RedisLimiter(redis_client, default=cfg)
    assert lim.try_acquire("r", 4).allowed
    denied = lim.try_acquire("r", 3)  # needs two ticks
    assert not denied.allowed
    state = lim.peek("r")
    expected_us = model.wait_us(level_of(state), cfg.settings(), 3, state.now_us)
    # The peek happened a little later than the denial, so its wait is a little shorter.
    assert 0 < expected_us <= round(denied.retry_after * 1_000_000)
    assert round(denied.retry_after * 1_000_000) - expected_us < 200_000
    assert 0.2 < denied.retry_after <= 0.4
    time.sleep(denied.retry_after)
    assert lim.try_acquire("r", 3).allowed


def test_more_than_the_ceiling_is_an_error_at_once(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=5, burst=2, **FROZEN))
    with pytest.raises(TokensExceedCeiling) as err:
        lim.acquire("c", 8, timeout=None)
    assert err.value.ceiling == 7 and "7" in str(err.value)
    assert lim.try_acquire("c", 7).allowed is False  # 5 tokens now, but 7 may come: a plain denial
    lim.configure("c", BucketConfig(max_tokens=2, **FROZEN))
    with pytest.raises(TokensExceedCeiling):
        lim.try_acquire("c", 3)
    assert lim.peek("c").denied == 1  # the errors were not counted as denials


def test_bad_n_is_rejected_before_redis(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=5))
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            lim.try_acquire("c", bad)
    assert redis_client.keys("*") == []


def test_acquire_sleeps_until_granted_and_gives_up_at_once_when_it_cannot_finish(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=1, refill_count=1, refill_interval=0.05))
    assert lim.try_acquire("w").allowed
    assert lim.acquire("w", timeout=5).allowed  # waits about one tick
    slow = RedisLimiter(redis_client, prefix="slow", default=BucketConfig(max_tokens=1, refill_count=1, refill_interval=30))
    assert slow.try_acquire("w").allowed
    started = time.monotonic()
    decision = slow.acquire("w", timeout=10)
    assert not decision.allowed and decision.retry_after > 10
    assert time.monotonic() - started < 5  # returned at once instead of sleeping 10 s


def test_live_configure_settles_at_the_old_settings_first(redis_client):
    old = BucketConfig(max_tokens=10, refill_count=1, refill_interval=0.05)
    lim = RedisLimiter(redis_client, default=old)
    assert lim.try_acquire("s", 10).allowed
    time.sleep(0.12)  # two old ticks: 2 tokens are owed at the old rate
    new = BucketConfig(max_tokens=4, burst=0, refill_count=3, refill_interval=10)
    before = lim.peek("s")
    state = lim.configure("s", new)
    expected = model.change(level_of(before), old.settings(), new.settings(), state.now_us)
    assert (state.tokens, state.anchor_us) == (expected.tokens, expected.anchor_us)
    # The old rate paid its two whole ticks; the part of the third already elapsed
    # carries into the new 10 s tick as the same fraction, rounded down.
    settled = model.refill(level_of(before), old.settings(), state.now_us)
    assert state.tokens >= 2
    assert state.now_us - state.anchor_us == (state.now_us - settled.anchor_us) * new.interval_us // old.interval_us
    assert state.overridden and state.config == new
    # Clamped to the new ceiling when the old level was higher.
    lim.configure("s", BucketConfig(max_tokens=1, **FROZEN))
    assert lim.peek("s").tokens <= 1


def test_operator_settings_win_over_every_callers_default_and_persist(redis_client):
    a = RedisLimiter(redis_client, default=BucketConfig(max_tokens=2, **FROZEN))
    b = RedisLimiter(redis_client, default=BucketConfig(max_tokens=50, **FROZEN))
    a.configure("o", BucketConfig(max_tokens=3, **FROZEN))
    # A bucket created by operator settings starts full at their max_tokens (not a's 2).
    assert [b.try_acquire("o").allowed for _ in range(4)] == [True, True, True, False]
    b.reset("o")  # refill to the operator's max_tokens, not b's default of 50
    assert [b.try_acquire("o").allowed for _ in range(4)] == [True, True, True, False]
    assert redis_client.pttl("token_bucket:{o}") == -1
    state = b.unconfigure("o")
    assert not state.overridden and state.config.max_tokens == 50
    assert redis_client.pttl("token_bucket:{o}") > 0


def test_idle_full_bucket_expires_but_operator_settings_survive(redis_client):
    cfg = BucketConfig(max_tokens=3, refill_count=3, refill_interval=0.01)
    lim = RedisLimiter(redis_client, default=cfg, idle_ttl=0)
    lim.try_acquire("idle", 3)
    lim.try_acquire("kept", 1)
    lim.configure("kept", cfg)
    ttl = redis_client.pttl("token_bucket:{idle}")
    assert 0 < ttl <= 20  # time to full (one 10 ms tick) plus 1 ms
    deadline = time.monotonic() + 5
    while redis_client.exists("token_bucket:{idle}") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not redis_client.exists("token_bucket:{idle}")
    assert redis_client.exists("token_bucket:{kept}") and redis_client.pttl("token_bucket:{kept}") == -1
    assert lim.try_acquire("idle", 3).allowed  # a missing key reads as a new bucket


def test_script_cache_loss_is_handled(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=5, **FROZEN))
    for _ in range(3):
        redis_client.script_flush()
        assert lim.try_acquire("n").allowed
    redis_client.script_flush()
    assert lim.peek_many(["n"])[0].tokens == 2


@pytest.mark.parametrize(
    "seed",
    [
        lambda r, k: r.set(k, "hello"),
        lambda r, k: r.rpush(k, "a", "b"),
        lambda r, k: r.hset(k, mapping={"tokens": "many", "anchor_us": "1", "max_tokens": "5", "burst": "0", "refill_count": "1", "interval_us": "1000"}),
        lambda r, k: r.hset(k, mapping={"tokens": "1"}),
        lambda r, k: r.hset(k, mapping={"somebody": "else"}),
        lambda r, k: r.hset(k, mapping={"tokens": "99", "anchor_us": "1", "max_tokens": "5", "burst": "0", "refill_count": "1", "interval_us": "1000"}),
        lambda r, k: r.hset(k, mapping={"tokens": "1", "anchor_us": "1", "max_tokens": "1e300", "burst": "0", "refill_count": "1", "interval_us": "1000"}),
    ],
    ids=["string", "list", "non-numeric", "missing-fields", "foreign-hash", "over-ceiling", "absurd"],
)
def test_data_it_did_not_write_is_a_clear_error_and_is_left_untouched(redis_client, seed):
    key = "token_bucket:{victim}"
    seed(redis_client, key)
    before = redis_client.dump(key)
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=5, **FROZEN), on_error="allow")
    for call in (lambda: lim.try_acquire("victim"), lambda: lim.configure("victim", BucketConfig(max_tokens=1)),
                 lambda: lim.peek("victim"), lambda: lim.reset("victim")):
        with pytest.raises(CorruptBucket) as err:
            call()
        assert err.value.key == key and "not written by tbdash" in str(err.value)
    assert redis_client.dump(key) == before
    [result] = lim.peek_many(["victim"])
    assert isinstance(result, CorruptBucket)


def test_a_retried_request_id_is_not_debited_twice(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=5, **FROZEN))
    first = script.acquire_reply(lim._call("i", "acquire", 2, "req-1"))
    again = script.acquire_reply(lim._call("i", "acquire", 2, "req-1"))
    assert int(first[script.CODE]) == 0 and int(again[script.CODE]) == script.CODE_REPLAYED
    assert int(again[script.ALLOWED]) == 1 and int(again[script.TOKENS]) == 3
    assert lim.peek("i").tokens == 3 and lim.peek("i").granted == 1
    assert script.acquire_reply(lim._call("i", "acquire", 2, "req-2"))[script.TOKENS] == 1


def test_reset_and_delete(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=4, **FROZEN))
    lim.try_acquire("z", 4)
    lim.configure("z", BucketConfig(max_tokens=6, **FROZEN))
    state = lim.reset("z")
    assert state.tokens == 6 and state.overridden and state.granted == 1
    lim.delete("z")
    assert lim.peek("z") is None and redis_client.keys("*") == []


def _dead_client() -> redis.Redis:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return redis.Redis(port=port, socket_connect_timeout=0.2, socket_timeout=0.2, retry=None)


def test_on_error_policies_when_redis_is_unreachable():
    cfg = BucketConfig(max_tokens=5, refill_interval=0.5)
    with pytest.raises(RedisUnavailable) as err:
        RedisLimiter(_dead_client(), default=cfg).try_acquire("x")
    assert "connecting to" in str(err.value)
    allow = RedisLimiter(_dead_client(), default=cfg, on_error="allow").try_acquire("x")
    assert allow.allowed and allow.fail_mode == "allow"
    started = time.monotonic()
    deny = RedisLimiter(_dead_client(), default=cfg, on_error="deny").acquire("x", timeout=30)
    assert not deny.allowed and deny.fail_mode == "deny" and deny.retry_after == 0.5
    assert time.monotonic() - started < 10  # no endless retry loop while Redis is down
    with pytest.raises(ValueError, match="on_error"):
        RedisLimiter(_dead_client(), default=cfg, on_error="maybe")


def test_the_lua_file_works_on_its_own_with_plain_eval(redis_client):
    source = LUA.read_text()
    args = ["acquire", "5 0 1 1000000 60000", 2, ""]
    reply = redis_client.eval(source, 1, "other:{svc-user}", *args)
    assert reply.split()[:4] == [b"0", b"1", b"3", b"0"]
    assert redis_client.hget("other:{svc-user}", "tokens") == b"3"


def test_the_lua_file_works_through_redis_cli_eval(redis_server):
    cli = redis_server.binary.cli or shutil.which("redis-cli")
    assert cli, "no redis-cli next to the redis-server binary"
    out = subprocess.run(
        [cli, "-h", redis_server.host, "-p", str(redis_server.port), "--eval", str(LUA),
         "token_bucket:{go-service}", ",", "acquire", "5 0 1 1000000 60000", "1", ""],
        capture_output=True, text=True, timeout=30, check=True,
    )
    assert out.stdout.split()[:3] == ["0", "1", "4"], out.stdout


async def test_async_limiter_matches_the_sync_one(async_redis_client):
    from limiter import AsyncRedisLimiter

    cfg = BucketConfig(max_tokens=3, refill_count=1, refill_interval=0.05)
    lim = AsyncRedisLimiter(async_redis_client, default=cfg)
    assert [(await lim.try_acquire("a")).allowed for _ in range(4)] == [True, True, True, False]
    assert (await lim.acquire("a", timeout=5)).allowed
    state = await lim.configure("a", BucketConfig(max_tokens=9, **FROZEN))
    assert state.overridden
    await async_redis_client.script_flush()
    assert (await lim.peek_many(["a", "nobody"]))[1] is None
    await lim.delete("a")
    assert await lim.peek("a") is None


def test_every_operation_on_a_cluster_client(cluster_client):
    _every_operation(cluster_client)


def test_every_operation_on_a_sentinel_client(sentinel_client):
    _every_operation(sentinel_client)


def _every_operation(client) -> None:
    lim = RedisLimiter(client, default=BucketConfig(max_tokens=3, **FROZEN))
    users = [f"user{i}" for i in range(40)] + ["a{b}c", "}{", "x:y"]
    assert all(lim.try_acquire(u).allowed for u in users)
    client.script_flush()  # every primary: the pipeline path must reload the script
    states = lim.peek_many(users)
    assert [s.tokens for s in states] == [2] * len(users)
    lim.configure("a{b}c", BucketConfig(max_tokens=9, **FROZEN))
    assert lim.reset("a{b}c").tokens == 9
    lim.delete("x:y")
    assert lim.peek("x:y") is None


def test_wrong_credentials_are_raised_whatever_on_error_says(redis_factory):
    server = redis_factory.redis(password="right-one")
    wrong = redis.Redis(host=server.host, port=server.port, password="wrong-one", socket_timeout=1, retry=None)
    for policy in ("raise", "allow", "deny"):
        lim = RedisLimiter(wrong, default=BucketConfig(max_tokens=5), on_error=policy)
        with pytest.raises(redis.AuthenticationError):
            lim.try_acquire("u")  # a misconfiguration must not fail open (or closed) forever


def test_a_client_without_socket_timeout_is_warned_about(redis_server):
    import warnings

    with pytest.warns(RuntimeWarning, match="socket_timeout"):
        RedisLimiter(redis.Redis(port=redis_server.port, socket_timeout=None), default=BucketConfig(max_tokens=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RedisLimiter(redis.Redis(port=redis_server.port, socket_timeout=0.5), default=BucketConfig(max_tokens=1))
