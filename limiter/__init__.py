"""Token-bucket rate limiting: one bucket model, in process (`ConditionBucket`) or in Redis (`RedisLimiter`).

This package never imports textual.
"""

from limiter.async_limiter import AsyncRedisLimiter
from limiter.condition import ConditionBucket
from limiter.config import BucketConfig
from limiter.errors import BucketClosed, CorruptBucket, LimiterError, PoolExhausted, RedisUnavailable, TokensExceedCeiling
from limiter.keys import DEFAULT_PREFIX
from limiter.redis_limiter import RedisLimiter
from limiter.types import BucketState, Decision, ShadowState

__all__ = [
    "AsyncRedisLimiter",
    "BucketClosed",
    "BucketConfig",
    "BucketState",
    "ConditionBucket",
    "CorruptBucket",
    "DEFAULT_PREFIX",
    "Decision",
    "LimiterError",
    "PoolExhausted",
    "RedisLimiter",
    "RedisUnavailable",
    "ShadowState",
    "TokensExceedCeiling",
]
