"""What the ASGI and WSGI middleware share: options, the decision, the response fields, the 429 body.

A middleware turns one request into a `RateLimitResult` in three steps:
``key`` and ``cost`` (on a `RequestView`), one call to the limiter, then
`Rules.result_of` (fields, counters, log lines). Only the call differs
between ASGI (awaited) and WSGI; everything else is here, synchronous and
free of any web framework.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from limiter import http_headers as fields
from limiter.async_limiter import AsyncRedisLimiter
from limiter.client_address import ForwardedHeader, TrustedProxies, check_header, client_address
from limiter.condition import ConditionBucket
from limiter.config import BucketConfig
from limiter.errors import TokensExceedCeiling
from limiter.metrics import DecisionCounters, PolicyCounters, decision_outcome
from limiter.redis_limiter import RedisLimiter
from limiter.request_view import Headers, RequestView
from limiter.types import Decision

log = logging.getLogger("limiter.middleware")

Oversized = Literal["reject", "raise"]
QUOTA_EXCEEDED = "https://iana.org/assignments/http-problem-types#quota-exceeded"
REDUCED_CAPACITY = "https://iana.org/assignments/http-problem-types#temporary-reduced-capacity"
REASONS = {429: "Too Many Requests", 413: "Content Too Large", 503: "Service Unavailable"}


@dataclass(frozen=True)
class RateLimitResult:
    """The decision on one request, as the app (``state["ratelimit"][policy]``) and ``deny_response`` see it.

    ``status``: 200 when allowed (the app answers), 429 when refused, 503
    when refused by ``on_error="deny"`` (Redis unreachable: not the client's
    fault), 413 when ``cost`` exceeds the ceiling (it never fits).
    ``remaining`` is None when unknown (a fail-mode decision, or oversized
    on Redis). ``headers``: the fields the middleware adds to the response.
    """

    allowed: bool
    status: int
    policy: str
    key: str
    cost: int
    limit: int
    remaining: int | None
    retry_after: float
    fail_mode: str | None
    headers: tuple[tuple[str, str], ...]

    def __repr__(self) -> str:  # the key is a user id: not in reprs, tracebacks or logs
        return f"<RateLimitResult {self.policy!r} status={self.status} cost={self.cost} remaining={self.remaining}>"


class LogThrottle:
    """At most one log line per event kind per ``interval`` seconds, with the count of those held back."""

    def __init__(self, interval: float) -> None:
        if not interval >= 0:
            raise ValueError(f"log_interval must be >= 0 seconds (got {interval!r})")
        self.interval = interval
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def admit(self, kind: str) -> int | None:
        """None: stay quiet. Else log now; the value is how many were held back since the last line."""
        now = time.monotonic()
        with self._lock:
            if now < self._next.get(kind, -math.inf):
                self._held[kind] = self._held.get(kind, 0) + 1
                return None
            self._next[kind] = now + self.interval
            return self._held.pop(kind, 0)


def _as_cost(cost: int | Callable[[RequestView], int]) -> Callable[[RequestView], int]:
    if callable(cost):
        return cost
    _check_cost(cost, "cost")
    return lambda _request: cost


def _check_cost(n: object, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{what} must be a whole number of tokens >= 1 (got {n!r}); to not limit a request, make key() return None")
    return n


class Rules:
    """The validated options of one middleware, and the judgement of one decision."""

    def __init__(
        self,
        limiter: Any,
        *,
        asynchronous: bool,
        key: Callable[[RequestView], str | None],
        cost: int | Callable[[RequestView], int],
        trusted_proxies: Any,
        forwarded_header: ForwardedHeader,
        policy: str,
        headers: bool,
        fail_mode_header: str | None,
        oversized: Oversized,
        registry: Any,
        log_interval: float,
    ) -> None:
        self.limiter = limiter
        target = getattr(limiter, "__wrapped__", limiter)  # a limiter.metrics.counted() wrapper
        self.shared = _kind(target, asynchronous)
        if target is not limiter and registry is not None:
            raise ValueError("the limiter is a counted() wrapper and registry= is given: count in one place, not both")
        self.default: BucketConfig | None = None if self.shared else target.default
        if not callable(key):
            raise TypeError(f"key must be a callable key(request) -> str | None (got {type(key).__name__})")
        self.key = key
        self.cost = _as_cost(cost)
        self.trusted = trusted_proxies if isinstance(trusted_proxies, TrustedProxies) else TrustedProxies(trusted_proxies)
        self.forwarded_header = check_header(forwarded_header)
        self.policy = fields.check_policy_name(policy)
        self.headers = bool(headers)
        if fail_mode_header is not None and (not isinstance(fail_mode_header, str) or not fail_mode_header.isascii()
                                             or not fail_mode_header.replace("-", "").isalnum()):
            raise ValueError(f"fail_mode_header must be a header name like {fields.FAIL_MODE_FIELD!r}, or None (got {fail_mode_header!r})")
        self.fail_mode_header = fail_mode_header
        if oversized not in ("reject", "raise"):
            raise ValueError(f'oversized must be "reject" (answer 413) or "raise" (TokensExceedCeiling) (got {oversized!r})')
        self.oversized = oversized
        self.counters: PolicyCounters | None = None if registry is None else DecisionCounters.of(registry).for_policy(policy)
        self.throttle = LogThrottle(log_interval)

    # -- the request ------------------------------------------------------------

    def view(self, method: str, path: str, query: str, headers: Headers, peer: str | None, raw: Any) -> RequestView:
        forwarded = headers.getlist(self.forwarded_header) if self.trusted else []
        client = client_address(peer, forwarded, self.trusted, self.forwarded_header)
        return RequestView(method, path, query, headers, client, peer, raw)

    def subject(self, request: RequestView) -> tuple[str | None, int]:
        """The bucket's user id (None: not limited) and the tokens this request costs."""
        user = self.key(request)
        if user is None:
            return None, 0
        if not isinstance(user, str) or not user:
            # The value is not shown: it is a user id.
            got = "an empty string" if user == "" else type(user).__name__
            raise TypeError(f"key(request) must return a non-empty str, or None to not limit the request (got {got})")
        return user, _check_cost(self.cost(request), "cost(request)")

    # -- the decision -------------------------------------------------------------

    def take_shared(self, user: str, n: int) -> RateLimitResult:
        """One shared ConditionBucket: never blocks, so the ASGI middleware calls it in the event loop too."""
        bucket = self.limiter
        allowed = bucket.try_acquire(n)
        inner: ConditionBucket = getattr(bucket, "__wrapped__", bucket)
        config, remaining = inner.config, inner.tokens
        if allowed:
            wait, reset = 0.0, _next_token(inner, remaining, config)
        else:
            wait = inner.retry_after(n)
            reset = fields.retry_after_seconds(wait)
        quota = fields.Quota(self.policy, config.ceiling, fields.window_seconds(config), remaining, reset)
        return self._result(allowed, None, user, n, config.ceiling, remaining, wait, quota)

    def result_of(self, decision: Decision, user: str, n: int) -> RateLimitResult:
        """A Redis limiter's `Decision` as fields."""
        allowed, fail_mode = decision.allowed, decision.fail_mode
        known = fail_mode is None
        remaining = decision.remaining if known else None
        reset = None if allowed or not known else fields.retry_after_seconds(decision.retry_after)
        quota = fields.Quota(self.policy, decision.limit, self._window(decision.limit), remaining, reset)
        return self._result(allowed, fail_mode, user, n, decision.limit, remaining, decision.retry_after, quota)

    def oversized_result(self, exc: TokensExceedCeiling, user: str, n: int) -> RateLimitResult:
        """``cost`` above the ceiling: 413 (``oversized="reject"``) or the exception (``"raise"``)."""
        self._count("oversized")
        if self.throttle.admit("oversized") is not None:
            log.warning("rate limit policy %r: a request cost %d tokens, above the ceiling %d; %s", self.policy, n,
                        exc.ceiling, "answered 413" if self.oversized == "reject" else "raised TokensExceedCeiling")
        if self.oversized == "raise":
            raise TokensExceedCeiling(n, exc.ceiling) from None  # without the user id the limiter's message holds
        window = fields.window_seconds(self.limiter_config()) if self.shared else self._window(exc.ceiling)
        quota = fields.Quota(self.policy, exc.ceiling, window, None, None)
        headers = tuple(fields.quota_fields(quota)) if self.headers else ()
        return RateLimitResult(False, 413, self.policy, user, n, exc.ceiling, None, 0.0, None, headers)

    def failed(self, exc: BaseException) -> None:
        """The limiter raised (``on_error="raise"``, a corrupt bucket, a closed bucket...): counted, logged, re-raised by the caller."""
        self._count("error")
        held = self.throttle.admit("error")
        if held is not None:
            # The class name only: limiter messages can hold a user id (the bucket key).
            log.error("rate limit policy %r: the limiter raised %s; the request fails (%d more since the last line)",
                      self.policy, type(exc).__name__, held)

    def limiter_config(self) -> BucketConfig:
        config: BucketConfig = getattr(self.limiter, "__wrapped__", self.limiter).config
        return config

    # -- internals ------------------------------------------------------------------

    def _window(self, ceiling: int) -> int | None:
        # Redis replies carry the ceiling, not the refill: w comes from the caller's
        # default, and is left out when operator settings (another ceiling) are in force.
        assert self.default is not None
        return fields.window_seconds(self.default) if ceiling == self.default.ceiling else None

    def _result(self, allowed: bool, fail_mode: str | None, user: str, n: int, limit: int,
                remaining: int | None, wait: float, quota: fields.Quota) -> RateLimitResult:
        self._count(decision_outcome(allowed, fail_mode))
        out = fields.quota_fields(quota) if self.headers else []
        if not allowed:
            out.append((fields.RETRY_AFTER, str(fields.retry_after_seconds(wait))))
        if fail_mode is not None:
            self._log_fail_mode(fail_mode)
            if self.fail_mode_header:
                out.append((self.fail_mode_header, fail_mode))
        status = 200 if allowed else 503 if fail_mode else 429
        return RateLimitResult(allowed, status, self.policy, user, n, limit, remaining, 0.0 if allowed else wait, fail_mode, tuple(out))

    def _count(self, outcome: str) -> None:
        if self.counters is not None:
            self.counters.count(outcome)

    def _log_fail_mode(self, fail_mode: str) -> None:
        held = self.throttle.admit("fail_" + fail_mode)
        if held is not None:
            what = "let requests through unlimited" if fail_mode == "allow" else "refuses requests with 503"
            log.warning("rate limit policy %r: Redis is unreachable and on_error=%s %s (%d more since the last line)",
                        self.policy, fail_mode, what, held)


def _kind(target: Any, asynchronous: bool) -> bool:
    """True for one shared ConditionBucket, False for a Redis limiter (one bucket per key)."""
    if isinstance(target, ConditionBucket):
        return True
    wanted, other = (AsyncRedisLimiter, RedisLimiter) if asynchronous else (RedisLimiter, AsyncRedisLimiter)
    if isinstance(target, wanted):
        return False
    if isinstance(target, other):
        why = "would block the event loop" if asynchronous else "needs an event loop"
        raise TypeError(f"{type(target).__name__} {why}: give this middleware a {wanted.__name__} (or a ConditionBucket)")
    raise TypeError(f"limiter must be a {wanted.__name__} or a ConditionBucket (got {type(target).__name__})")


def _next_token(bucket: ConditionBucket, remaining: int, config: BucketConfig) -> int | None:
    """Whole seconds until the bucket holds one token more than now; None when full (none will come)."""
    if remaining >= config.ceiling:
        return None
    try:
        return fields.seconds_up(round(bucket.retry_after(remaining + 1) * 1_000_000))
    except TokensExceedCeiling:  # reconfigured to a smaller ceiling meanwhile
        return None


def problem_body(result: RateLimitResult) -> bytes:
    """The default body of a refusal: RFC 9457 problem details, with the draft's problem types."""
    if result.status == 413:
        problem = {"type": "about:blank", "title": REASONS[413], "status": 413,
                   "detail": f"this request costs {result.cost} tokens; policy {result.policy!r} never holds more than {result.limit}"}
    elif result.status == 503:
        problem = {"type": REDUCED_CAPACITY, "title": "Rate limiting is unavailable", "status": 503,
                   "detail": "the request was refused because its quota could not be checked; retry later",
                   "violated-policies": [result.policy]}
    else:
        seconds = fields.retry_after_seconds(result.retry_after)
        problem = {"type": QUOTA_EXCEEDED, "title": "Quota exceeded", "status": 429,
                   "detail": f"quota of policy {result.policy!r} exceeded; retry after {seconds} s",
                   "violated-policies": [result.policy]}
    return json.dumps(problem).encode()


PROBLEM_JSON = "application/problem+json"
