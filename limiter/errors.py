"""Errors raised by `limiter`. Every one is a `LimiterError`."""

from __future__ import annotations


class LimiterError(Exception):
    """Base class of every error `limiter` raises on purpose."""


class TokensExceedCeiling(LimiterError, ValueError):
    """``n`` is larger than the bucket's ceiling: no wait can ever satisfy it."""

    def __init__(self, n: int, ceiling: int, user: str | None = None) -> None:
        self.n = n
        self.ceiling = ceiling
        self.user = user
        who = f" of bucket {user!r}" if user is not None else ""
        super().__init__(f"cannot acquire {n} tokens: the ceiling{who} (max_tokens + burst) is {ceiling}")


class BucketClosed(LimiterError, RuntimeError):
    """The in-process bucket was closed; waiters were released."""


class CorruptBucket(LimiterError):
    """A key under the prefix is not a bucket this library wrote (wrong type or bad fields).

    Nothing was written: the script validates everything before its first write.
    """

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"{key}: {reason}")


class RedisUnavailable(LimiterError, ConnectionError):
    """Redis could not be reached (or timed out) and ``on_error="raise"``."""


class PoolExhausted(LimiterError):
    """No connection of the client's pool came free within the decision's deadline, on a healthy Redis.

    A client-side limit, not an outage: it is raised whatever ``on_error``
    says, so a busy service never silently fails open (or closed). Nothing was
    sent to Redis. Give the client a larger pool (``max_connections``) or
    fewer concurrent callers, or a longer ``deadline``.
    """

    def __init__(self, size: int, deadline: float | None) -> None:
        self.size = size
        self.deadline = deadline
        within = f" within the decision deadline ({deadline:g} s)" if deadline else ""
        super().__init__(f"all {size} connections of the Redis client's pool stayed busy{within}; nothing was sent")
