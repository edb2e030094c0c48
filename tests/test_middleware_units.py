"""The middleware's parts without a server: fields, options, pass-through scopes, counters, log throttle.

Redis-path tests use the real servers from conftest.py.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import http_sf
import pytest
import redis
from prometheus_client import CollectorRegistry

from limiter import AsyncRedisLimiter, BucketConfig, ConditionBucket, RedisLimiter, TokensExceedCeiling
from limiter import http_headers as hf
from limiter.asgi import RateLimitMiddleware as ASGIMiddleware
from limiter.connect import connect
from limiter.metrics import OUTCOMES, DecisionCounters, counted
from limiter.web import LogThrottle
from limiter.wsgi import RateLimitMiddleware as WSGIMiddleware

CFG = BucketConfig(max_tokens=3, refill_interval=3600)


def _value(registry: CollectorRegistry, policy: str, outcome: str) -> float:
    value = registry.get_sample_value("tbdash_ratelimit_decisions_total", {"policy": policy, "outcome": outcome})
    assert value is not None
    return value


# --------------------------------------------------------------------------- fields


@pytest.mark.parametrize("name", ["default", 'we"ird\\name', " spaced ", "~" * 64])
def test_policy_names_round_trip_through_a_strict_parser(name: str) -> None:
    quota = hf.Quota(name, 10**20, 7, 3, 2)  # 10**20: more digits than an sf-integer may have
    policy = http_sf.parse(hf.policy_value(quota).encode(), tltype="list")
    limit = http_sf.parse(hf.limit_value(quota).encode(), tltype="list")  # type: ignore[union-attr]
    assert policy == [(name, {"q": hf.SF_INTEGER_MAX, "w": 7})]
    assert limit == [(name, {"r": 3, "t": 2})]


@pytest.mark.parametrize("name", ["", "x" * 65, "naïve", "tab\there", "new\nline", None, 3])
def test_bad_policy_names_are_refused(name: Any) -> None:
    with pytest.raises(ValueError, match="policy must be 1 to 64 printable ASCII"):
        hf.check_policy_name(name)


@pytest.mark.parametrize(
    ("seconds", "header"), [(0.0, 1), (0.000001, 1), (0.4, 1), (1.0, 1), (1.000001, 2), (2.5, 3), (3600.0, 3600)]
)
def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one(seconds: float, header: int) -> None:
    assert hf.retry_after_seconds(seconds) == header


@pytest.mark.parametrize(
    ("cfg", "w"),
    [
        (BucketConfig(max_tokens=10, burst=5, refill_count=1, refill_interval=1.0), 15),
        (BucketConfig(max_tokens=10, refill_count=3, refill_interval=1.0), 4),  # 4 ticks to hold 10
        (BucketConfig(max_tokens=100, refill_count=100, refill_interval=0.001), 1),  # at least 1
        (BucketConfig(max_tokens=3, refill_count=1, refill_interval=0.4), 2),  # 1.2 s, rounded up
    ],
)
def test_window_is_the_time_to_refill_the_ceiling_rounded_up(cfg: BucketConfig, w: int) -> None:
    assert hf.window_seconds(cfg) == w
    assert cfg.ceiling / w <= cfg.rate_per_second  # q/w never advertises more than the real rate


# --------------------------------------------------------------------------- options


def _app(*args: Any) -> None:
    raise AssertionError("not called")


def test_the_wrong_limiter_for_the_interface_is_refused() -> None:
    client = redis.Redis(port=1, socket_timeout=1)  # never contacted
    sync_limiter = RedisLimiter(client, default=CFG)
    async_limiter = AsyncRedisLimiter(redis.asyncio.Redis(port=1, socket_timeout=1), default=CFG)
    with pytest.raises(TypeError, match="RedisLimiter would block the event loop: give this middleware a AsyncRedisLimiter"):
        ASGIMiddleware(_app, sync_limiter)
    with pytest.raises(TypeError, match="AsyncRedisLimiter needs an event loop"):
        WSGIMiddleware(_app, async_limiter)
    with pytest.raises(TypeError, match="limiter must be a RedisLimiter or a ConditionBucket"):
        WSGIMiddleware(_app, object())


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"policy": "naïve"}, "policy must be"),
        ({"oversized": "ignore"}, "oversized must be"),
        ({"cost": 0}, "cost must be a whole number of tokens >= 1"),
        ({"cost": True}, "cost must be"),
        ({"key": "x-user"}, "key must be a callable"),
        ({"fail_mode_header": "bad header"}, "fail_mode_header must be"),
        ({"forwarded_header": "x-real-ip"}, "forwarded_header must be one of"),
        ({"trusted_proxies": ["10.0.0.0/33"]}, "trusted_proxies: '10.0.0.0/33'"),
        ({"log_interval": -1}, "log_interval must be"),
        ({"deny_response": "nope"}, "deny_response must be a callable"),
    ],
)
def test_bad_options_are_named(options: dict[str, Any], error: str) -> None:
    with ConditionBucket(CFG) as bucket:
        for middleware in (ASGIMiddleware, WSGIMiddleware):
            with pytest.raises((TypeError, ValueError), match=error):
                middleware(_app, bucket, **options)


def test_counting_in_two_places_is_refused() -> None:
    registry = CollectorRegistry()
    with ConditionBucket(CFG) as bucket:
        with pytest.raises(ValueError, match="count in one place"):
            WSGIMiddleware(_app, counted(bucket, registry), registry=registry)


# --------------------------------------------------------------------------- in process


def _wsgi_call(middleware: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    seen: list[Any] = []
    body = b"".join(middleware({"REQUEST_METHOD": "GET", "PATH_INFO": "/", **environ}, lambda s, h, e=None: seen.extend([s, h])))
    return seen[0], seen[1], body


def _ok(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def test_key_and_cost_results_are_checked_without_showing_the_key() -> None:
    with ConditionBucket(CFG) as bucket:
        with pytest.raises(TypeError, match=r"non-empty str.*\(got int\)") as info:
            _wsgi_call(WSGIMiddleware(_ok, bucket, key=lambda r: 4242), {})
        assert "4242" not in str(info.value)
        with pytest.raises(TypeError, match="got an empty string"):
            _wsgi_call(WSGIMiddleware(_ok, bucket, key=lambda r: ""), {})
        with pytest.raises(ValueError, match=r"cost\(request\) must be a whole number"):
            _wsgi_call(WSGIMiddleware(_ok, bucket, cost=lambda r: 0), {})
        assert bucket.tokens == 3  # nothing was taken


def test_oversized_raise_names_no_user(redis_client: redis.Redis) -> None:
    middleware = WSGIMiddleware(_ok, RedisLimiter(redis_client, default=CFG), key=lambda r: "secret-id-7", cost=4, oversized="raise")
    with pytest.raises(TokensExceedCeiling, match="cannot acquire 4 tokens") as info:
        _wsgi_call(middleware, {})
    assert "secret-id-7" not in str(info.value)


def test_a_refusal_from_a_shared_bucket_tells_when_it_fits(redis_client: redis.Redis) -> None:
    with ConditionBucket(BucketConfig(max_tokens=2, refill_interval=30)) as bucket:
        middleware = WSGIMiddleware(_ok, bucket, policy="p")
        assert _wsgi_call(middleware, {"REMOTE_ADDR": "192.0.2.1"})[0] == "200 OK"
        status, headers, _ = _wsgi_call(middleware, {"REMOTE_ADDR": "192.0.2.2", "HTTP_X_COST": "1"})
        assert status == "200 OK" and ("RateLimit", '"p";r=0;t=30') in headers  # a fresh tick: exactly 30 s
        status, headers, body = _wsgi_call(middleware, {"REMOTE_ADDR": "192.0.2.3"})
    assert status == "429 Too Many Requests" and b"quota-exceeded" in body
    retry = dict(headers)["Retry-After"]
    assert 1 <= int(retry) <= 30 and ("RateLimit", f'"p";r=0;t={retry}') in headers


@pytest.mark.parametrize("scope_type", ["lifespan", "websocket"])
def test_non_http_scopes_pass_through_untouched(scope_type: str) -> None:
    calls: list[Any] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        calls.append((scope, receive, send))

    async def receive() -> dict[str, Any]:
        return {}

    async def send(message: Any) -> None:
        pass

    scope = {"type": scope_type, "path": "/ws", "headers": [], "client": ("192.0.2.9", 1)}
    with ConditionBucket(CFG) as bucket:
        asyncio.run(ASGIMiddleware(inner, bucket)(scope, receive, send))
        assert bucket.tokens == 3
    assert calls == [(scope, receive, send)] and "state" not in scope


# --------------------------------------------------------------------------- counters


def test_counters_are_one_per_registry_and_export_every_outcome_from_zero() -> None:
    registry = CollectorRegistry()
    assert DecisionCounters.of(registry) is DecisionCounters.of(registry)
    DecisionCounters.of(registry).for_policy("api")
    assert [_value(registry, "api", outcome) for outcome in OUTCOMES] == [0.0] * len(OUTCOMES)
    with pytest.raises(TypeError, match="CollectorRegistry"):
        DecisionCounters.of(object())


def test_counted_condition_bucket() -> None:
    registry = CollectorRegistry()
    with ConditionBucket(CFG) as bucket:
        limited = counted(bucket, registry, policy="local")
        assert [limited.try_acquire() for _ in range(5)] == [True] * 3 + [False] * 2
        assert limited.acquire(1, timeout=0) is False
        with pytest.raises(TokensExceedCeiling):
            limited.try_acquire(9)
        assert limited.tokens == 0 and limited.__wrapped__ is bucket  # everything else is the bucket's
    assert [_value(registry, "local", o) for o in ("allowed", "denied", "oversized")] == [3, 3, 1]


def test_counted_redis_limiter_counts_by_policy_never_by_user(redis_client: redis.Redis) -> None:
    registry = CollectorRegistry()
    limited = counted(RedisLimiter(redis_client, default=CFG), registry, policy="api")
    for user in (f"user-{i}" for i in range(50)):
        assert limited.try_acquire(user).allowed
    assert not any(limited.try_acquire("user-0", 3).allowed for _ in range(2))
    with pytest.raises(TokensExceedCeiling):
        limited.try_acquire("user-1", 4)
    assert [_value(registry, "api", o) for o in ("allowed", "denied", "oversized")] == [50, 2, 1]
    samples = [s for m in registry.collect() for s in m.samples if s.name == "tbdash_ratelimit_decisions_total"]
    assert len(samples) == len(OUTCOMES)  # 50 users, still one series per outcome


async def test_counted_async_limiter_counts_fail_modes(redis_factory: Any) -> None:
    server = redis_factory.redis()
    client = connect(server.url, asyncio=True, socket_timeout=2, connect_timeout=2)  # bounded retries
    registry = CollectorRegistry()
    limited = counted(AsyncRedisLimiter(client, default=CFG, on_error="allow"), registry)
    assert (await limited.try_acquire("u")).allowed
    server.stop()
    decision = await limited.try_acquire("u")
    assert decision.allowed and decision.fail_mode == "allow"
    assert (_value(registry, "default", "allowed"), _value(registry, "default", "fail_allow")) == (1, 1)
    await client.aclose()


# --------------------------------------------------------------------------- logs


def test_the_log_throttle_admits_one_line_per_kind_per_interval_and_counts_the_rest() -> None:
    throttle = LogThrottle(3600)
    assert [throttle.admit("fail_allow") for _ in range(4)] == [0, None, None, None]
    assert throttle.admit("error") == 0
    unthrottled = LogThrottle(0)
    assert [unthrottled.admit("x") for _ in range(3)] == [0, 0, 0]


def test_a_fail_mode_is_logged_once_per_interval(redis_factory: Any, caplog: pytest.LogCaptureFixture) -> None:
    server = redis_factory.redis()
    limiter = RedisLimiter(connect(server.url, socket_timeout=2, connect_timeout=2), default=CFG, on_error="allow")
    middleware = WSGIMiddleware(_ok, limiter, key=lambda r: "hidden-user", log_interval=3600)
    server.stop()
    with caplog.at_level(logging.WARNING, logger="limiter.middleware"):
        results = [_wsgi_call(middleware, {}) for _ in range(20)]
    assert all(status == "200 OK" and ("RateLimit-Fail-Mode", "allow") in headers for status, headers, _ in results)
    assert len(caplog.records) == 1 and "on_error=allow" in caplog.records[0].getMessage()
    assert "hidden-user" not in caplog.text
