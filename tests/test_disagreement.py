"""Callers that disagree on a bucket's settings, and operator writes to buckets that may not exist.

Against real servers (both versions). Issue 8 §1: two services alternating
"1 per 1 s" and "2 per 2 s" got 0 grants, because every change restarted the
tick; the script now keeps the elapsed fraction (as limiter/model.py does),
counts each disagreement and keeps the other default, for the operator.
Issue 7 §4: an operator's bucket starts full at its own max_tokens, and writes
can refuse a missing bucket.
"""

from __future__ import annotations

import time
from fractions import Fraction

import pytest
import redis

from dashboard.core.poller import Poller
from limiter import AsyncRedisLimiter, BucketConfig, CorruptBucket, RedisLimiter, model, script
from limiter.model import Level

FROZEN = dict(refill_count=1, refill_interval=3600.0)


def test_alternating_defaults_match_the_model_and_keep_refilling(redis_client):
    """Two services, one user: 1 per 20 ms and 2 per 40 ms (the same rate, written differently), every call alternating.

    Every reply equals the model at the same Redis instant, and the tokens paid
    are at least the whole ticks of the time that passed, minus < 1 µs per
    change. The acquires ask for the whole ceiling so they are refused and the
    tokens simply accumulate: what they count is what refill paid.
    """
    a = BucketConfig(max_tokens=1, burst=100_000, refill_count=1, refill_interval=0.02)
    b = BucketConfig(max_tokens=1, burst=100_000, refill_count=2, refill_interval=0.04)
    lims = [RedisLimiter(redis_client, default=a), RedisLimiter(redis_client, default=b)]
    first = script.acquire_reply(lims[0]._call("u", "acquire", 1, ""))  # creates the bucket, takes its 1 token
    level, settings, last_now = Level(0, first[script.ACQUIRE_NOW_US]), a.settings(), first[script.ACQUIRE_NOW_US]
    elapsed_ticks, lost = Fraction(0), Fraction(0)
    for step in range(1, 121):
        lim = lims[step % 2]
        new = lim.default.settings()
        reply = script.acquire_reply(lim._call("u", "acquire", a.ceiling, ""))
        now = reply[script.ACQUIRE_NOW_US]
        elapsed_ticks += Fraction(now - last_now, settings.interval_us)
        lost += Fraction(1, new.interval_us)
        level = model.change(level, settings, new, now)
        settings = new
        outcome = model.take(level, settings, a.ceiling, now)
        level, last_now = outcome.level, now
        assert not outcome.allowed and reply[script.ALLOWED] == 0
        assert (reply[script.TOKENS], reply[script.WAIT_US]) == (outcome.level.tokens, outcome.wait_us), f"step {step}"
        time.sleep(0.002)
    state = lims[0].peek("u")
    assert (state.tokens, state.anchor_us) == (model.refill(level, settings, state.now_us).tokens, model.refill(level, settings, state.now_us).anchor_us)
    # At least one token per whole 20 ms tick of the run (the old rule paid ~0: each call restarted the tick).
    assert level.tokens >= int(elapsed_ticks - lost) >= 10


def test_disagreements_are_counted_with_the_other_default(redis_client):
    a = BucketConfig(max_tokens=5, refill_count=1, refill_interval=1.0)
    b = BucketConfig(max_tokens=5, refill_count=2, refill_interval=2.0)
    lim_a, lim_b = RedisLimiter(redis_client, default=a), RedisLimiter(redis_client, default=b)
    lim_a.try_acquire("u")  # creates it with a's settings: no disagreement yet
    assert lim_a.peek("u").default_changes == 0 and lim_a.peek("u").other_default is None
    for _ in range(3):
        lim_b.try_acquire("u")
        lim_a.try_acquire("u")
    state = lim_a.peek("u")
    assert state.default_changes == 6 and state.other_default == b and state.config == a
    # peek writes nothing and counts nothing, even with a different default.
    seen_by_b = lim_b.peek("u")
    assert seen_by_b.config == b and seen_by_b.default_changes == 6 and seen_by_b.other_default == b
    assert lim_a.peek("u").default_changes == 6
    # Operator settings end the disagreement; the record stays for the operator.
    lim_a.configure("u", BucketConfig(max_tokens=9, **FROZEN))
    lim_b.try_acquire("u")
    state = lim_a.peek("u")
    assert state.default_changes == 6 and state.overridden
    assert redis_client.hget("token_bucket:{u}", "other_default") == b"5 0 2 2000000"


def test_the_poller_reads_the_disagreement_into_rows(redis_client, redis_url):
    import asyncio

    import redis.asyncio

    a = BucketConfig(max_tokens=5, **FROZEN)
    b = BucketConfig(max_tokens=7, **FROZEN)
    RedisLimiter(redis_client, default=a).try_acquire("split")
    RedisLimiter(redis_client, default=b).try_acquire("split")
    RedisLimiter(redis_client, default=a).try_acquire("agreed")

    async def poll():
        client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=5)
        try:
            return await Poller(client, "token_bucket").poll()
        finally:
            await client.aclose()

    rows = {row.user: row for row in asyncio.run(poll()).buckets}
    assert (rows["split"].default_changes, rows["split"].other_default, rows["split"].config) == (1, a, b)
    assert (rows["agreed"].default_changes, rows["agreed"].other_default) == (0, None)


@pytest.mark.parametrize(
    "fields",
    [{"default_changes": "many"}, {"default_changes": "-1"}, {"other_default": "1 2 3"}, {"other_default": "0 0 1 1000"}],
)
def test_corrupt_disagreement_fields_are_refused_before_any_write(redis_client, fields):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=5, **FROZEN))
    other = RedisLimiter(redis_client, default=BucketConfig(max_tokens=6, **FROZEN))
    lim.try_acquire("v")
    redis_client.hset("token_bucket:{v}", mapping=fields)
    before = redis_client.dump("token_bucket:{v}")
    for call in (lambda: lim.peek("v"), lambda: lim.reset("v"), lambda: other.try_acquire("v"),
                 lambda: lim.configure("v", BucketConfig(max_tokens=2))):
        with pytest.raises(CorruptBucket, match="not written by tbdash"):
            call()
    assert redis_client.dump("token_bucket:{v}") == before


# --------------------------------------------------------------------------- operator writes


def test_an_operator_bucket_starts_full_at_its_own_max_tokens(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=10, **FROZEN))
    state = lim.configure("new", BucketConfig(max_tokens=200, burst=50, **FROZEN))
    assert state.tokens == 200 and state.overridden  # not the default's 10, not the ceiling
    assert sum(lim.try_acquire("new").allowed for _ in range(201)) == 200
    assert redis_client.pttl("token_bucket:{new}") == -1


def test_configure_without_create_leaves_a_missing_bucket_missing(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=10, **FROZEN))
    assert lim.configure("typo", BucketConfig(max_tokens=200), create=False) is None
    assert redis_client.keys("*") == []
    lim.try_acquire("real")
    state = lim.configure("real", BucketConfig(max_tokens=200, **FROZEN), create=False)
    assert state.config.max_tokens == 200 and state.tokens == 9  # a change grants nothing


def test_unconfigure_reset_and_delete_of_a_missing_bucket_write_nothing(redis_client):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=4, **FROZEN))
    assert lim.unconfigure("ghost") is None
    assert lim.reset("ghost") is None
    assert lim.delete("ghost") is False
    assert redis_client.keys("*") == []
    lim.try_acquire("here")
    assert lim.reset("here").tokens == 4
    assert lim.unconfigure("here").overridden is False
    assert lim.delete("here") is True and lim.peek("here") is None


def test_the_calling_convention_without_the_create_argument_still_creates(redis_client):
    """A caller in another language written before ARGV[4] existed keeps working."""
    reply = redis_client.eval(script.SOURCE, 1, "svc:{x}", "configure", "5 0 1 1000000 60000", "8 0 1 1000000")
    assert reply[script.TOKENS] == 8 and reply[script.OPERATOR] == 1
    assert reply[script.DEFAULT_CHANGES] == 0 and reply[script.OTHER_DEFAULT] == b""
    assert redis_client.eval(script.SOURCE, 1, "svc:{y}", "configure", "5 0 1 1000000 60000", "8 0 1 1000000", "0") is None
    with pytest.raises(redis.ResponseError, match="create"):
        redis_client.eval(script.SOURCE, 1, "svc:{y}", "configure", "5 0 1 1000000 60000", "8 0 1 1000000", "yes")
    assert redis_client.eval(script.SOURCE, 1, "svc:{x}", "delete", "5 0 1 1000000 60000") == 1
    assert redis_client.eval(script.SOURCE, 1, "svc:{x}", "delete", "5 0 1 1000000 60000") == 0


async def test_async_operator_writes(async_redis_client):
    lim = AsyncRedisLimiter(async_redis_client, default=BucketConfig(max_tokens=3, **FROZEN))
    assert await lim.configure("a", BucketConfig(max_tokens=30, **FROZEN), create=False) is None
    assert await lim.reset("a") is None and await lim.unconfigure("a") is None and await lim.delete("a") is False
    assert (await lim.configure("a", BucketConfig(max_tokens=30, **FROZEN))).tokens == 30
    assert await lim.delete("a") is True
    assert await async_redis_client.keys("*") == []


def test_status_names_buckets_whose_services_disagree(redis_client, redis_url, capsys):
    """`tbdash status` says which services disagree, with both settings; --json carries them too."""
    import json

    from dashboard.cli import main

    a = BucketConfig(max_tokens=5, refill_count=1, refill_interval=1.0)
    b = BucketConfig(max_tokens=5, refill_count=2, refill_interval=2.0)
    RedisLimiter(redis_client, default=a).try_acquire("shared")
    RedisLimiter(redis_client, default=b).try_acquire("shared")
    RedisLimiter(redis_client, default=a).try_acquire("alone")
    assert main(["status", "--url", redis_url]) == 0
    out = capsys.readouterr().out
    assert "1 bucket whose services send different default settings" in out
    assert "shared: max_tokens=5 burst=0 refill=2/2s now, max_tokens=5 burst=0 refill=1/1s before (1 time)" in out
    assert "alone:" not in out
    assert main(["status", "--json", "--url", redis_url]) == 0
    rows = {r["user"]: r for r in json.loads(capsys.readouterr().out)["buckets"]}
    assert rows["shared"]["default_changes"] == 1
    assert rows["shared"]["other_default"] == {"max_tokens": 5, "burst": 0, "refill_count": 1, "refill_interval": 1.0}
    assert rows["alone"]["default_changes"] == 0 and rows["alone"]["other_default"] is None


async def test_the_dashboard_marks_a_bucket_whose_services_disagree(redis_client, redis_url):
    """The cfg column reads ≠ for that bucket only, and the line under the graph gives both settings."""
    from tests.tui_support import dashboard, screen_text

    a = BucketConfig(max_tokens=5, refill_count=1, refill_interval=1.0)
    b = BucketConfig(max_tokens=5, refill_count=2, refill_interval=2.0)
    RedisLimiter(redis_client, default=a).try_acquire("shared")
    RedisLimiter(redis_client, default=b).try_acquire("shared")
    RedisLimiter(redis_client, default=a).try_acquire("zalone")
    async with dashboard(redis_url, size=(120, 40)) as (app, pilot):
        text = screen_text(app)
        rows = {line.split()[1]: line for line in text.splitlines() if line.startswith("│") and ("shared" in line or "zalone" in line)}
        assert rows["shared"].rstrip(" │").endswith("≠"), rows
        assert "≠" not in rows["zalone"], rows
        assert "shared services disagree: 5+0 2/2s vs 5+0 1/1s (1×)" in text, text
