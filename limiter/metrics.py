"""Optional Prometheus counters of rate-limit decisions (``pip install 'tbdash[metrics]'``).

One counter, ``tbdash_ratelimit_decisions_total{policy, outcome}``, in a
``prometheus_client.CollectorRegistry`` the service passes in. Labels are the
policy name (chosen in code) and one of `OUTCOMES`, never a user id or a
client address: the number of series is bounded by the number of policies,
whatever the traffic.

The middleware counts when given ``registry=``; `counted` wraps a limiter
for code that calls ``try_acquire`` / ``acquire`` itself. prometheus_client
is imported only when counters are built, so ``limiter`` works without it.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from limiter.errors import TokensExceedCeiling
from limiter.http_headers import check_policy_name

METRIC = "tbdash_ratelimit_decisions"
OUTCOMES = ("allowed", "denied", "fail_allow", "fail_deny", "oversized", "error")
_HELP = (
    "Rate-limit decisions by policy and outcome: allowed, denied, fail_allow / fail_deny "
    "(Redis unreachable, on_error chose), oversized (cost above the ceiling), error (the limiter raised)"
)


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:
        raise ImportError(
            "counting decisions needs prometheus_client: pip install 'tbdash[metrics]'"
        ) from exc
    return prometheus_client


class DecisionCounters:
    """The decision counter of one registry; `of` returns the same one for the same registry."""

    _by_registry: weakref.WeakKeyDictionary[Any, DecisionCounters] = weakref.WeakKeyDictionary()
    _lock = threading.Lock()

    @classmethod
    def of(cls, registry: Any) -> DecisionCounters:
        """The counters in ``registry``, created on first use (a metric name registers once per registry)."""
        prometheus_client = _prometheus()
        if not isinstance(registry, prometheus_client.CollectorRegistry):
            raise TypeError(f"registry must be a prometheus_client.CollectorRegistry (got {type(registry).__name__})")
        with cls._lock:
            counters = cls._by_registry.get(registry)
            if counters is None:
                counters = cls._by_registry[registry] = cls(registry, prometheus_client)
            return counters

    def __init__(self, registry: Any, prometheus_client: Any) -> None:
        self._counter = prometheus_client.Counter(METRIC, _HELP, labelnames=("policy", "outcome"), registry=registry)

    def for_policy(self, policy: str) -> PolicyCounters:
        return PolicyCounters(self._counter, check_policy_name(policy))


class PolicyCounters:
    """The children of one policy, all created at once so every outcome is exported from zero."""

    __slots__ = ("_children",)

    def __init__(self, counter: Any, policy: str) -> None:
        self._children = {outcome: counter.labels(policy=policy, outcome=outcome) for outcome in OUTCOMES}

    def count(self, outcome: str) -> None:
        self._children[outcome].inc()


def decision_outcome(allowed: bool, fail_mode: str | None) -> str:
    if fail_mode is not None:
        return "fail_allow" if fail_mode == "allow" else "fail_deny"
    return "allowed" if allowed else "denied"


def counted(limiter: Any, registry: Any, policy: str = "default") -> Any:
    """``limiter`` (a `RedisLimiter`, `AsyncRedisLimiter` or `ConditionBucket`) counting its decisions.

    ``try_acquire`` and ``acquire`` are counted; every other attribute is the
    limiter's own. The wrapper can be given to the middleware (which then
    must not count as well: pass ``registry`` to one of them, not both).
    """
    from limiter.async_limiter import AsyncRedisLimiter
    from limiter.condition import ConditionBucket
    from limiter.redis_limiter import RedisLimiter

    counters = DecisionCounters.of(registry).for_policy(policy)
    if isinstance(limiter, ConditionBucket):
        return _CountedBucket(limiter, counters)
    if isinstance(limiter, AsyncRedisLimiter):
        return _CountedAsyncLimiter(limiter, counters)
    if isinstance(limiter, RedisLimiter):
        return _CountedLimiter(limiter, counters)
    raise TypeError(f"counted() wraps a RedisLimiter, AsyncRedisLimiter or ConditionBucket (got {type(limiter).__name__})")


class _Counted:
    def __init__(self, limiter: Any, counters: PolicyCounters) -> None:
        self.__wrapped__ = limiter
        self._counters = counters

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__wrapped__, name)

    def __repr__(self) -> str:
        return f"counted({self.__wrapped__!r})"

    def _failed(self, exc: BaseException) -> None:
        self._counters.count("oversized" if isinstance(exc, TokensExceedCeiling) else "error")


class _CountedLimiter(_Counted):
    def try_acquire(self, user: str, n: int = 1) -> Any:
        return self._run(self.__wrapped__.try_acquire, user, n)

    def acquire(self, user: str, n: int = 1, timeout: float | None = None) -> Any:
        return self._run(self.__wrapped__.acquire, user, n, timeout)

    def _run(self, method: Any, *args: Any) -> Any:
        try:
            decision = method(*args)
        except Exception as exc:
            self._failed(exc)
            raise
        self._counters.count(decision_outcome(decision.allowed, decision.fail_mode))
        return decision


class _CountedAsyncLimiter(_Counted):
    async def try_acquire(self, user: str, n: int = 1) -> Any:
        return await self._run(self.__wrapped__.try_acquire(user, n))

    async def acquire(self, user: str, n: int = 1, timeout: float | None = None) -> Any:
        return await self._run(self.__wrapped__.acquire(user, n, timeout))

    async def _run(self, call: Any) -> Any:
        try:
            decision = await call
        except Exception as exc:
            self._failed(exc)
            raise
        self._counters.count(decision_outcome(decision.allowed, decision.fail_mode))
        return decision


class _CountedBucket(_Counted):
    def try_acquire(self, n: int = 1) -> bool:
        return self._run(self.__wrapped__.try_acquire, n)

    def acquire(self, n: int = 1, timeout: float | None = None) -> bool:
        return self._run(self.__wrapped__.acquire, n, timeout)

    def _run(self, method: Any, *args: Any) -> bool:
        try:
            allowed: bool = method(*args)
        except Exception as exc:
            self._failed(exc)
            raise
        self._counters.count("allowed" if allowed else "denied")
        return allowed
