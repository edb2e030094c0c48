"""`AsyncRedisLimiter`: `RedisLimiter` for redis.asyncio clients (same script, same keys, same core)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Iterable

from redis import exceptions as rexc

from limiter import script
from limiter.async_calls import AsyncCalls
from limiter.config import BucketConfig
from limiter.core import LimiterCore
from limiter.errors import CorruptBucket
from limiter.types import BucketState, Decision


class AsyncRedisLimiter(LimiterCore):
    """`RedisLimiter` with ``async`` methods, on ``redis.asyncio`` clients (standalone, Cluster, Sentinel).

    Concurrent calls are coalesced: those made while a round trip is in flight
    go together in the next pipeline, each still its own atomic script call
    with its own reply and its own ``deadline`` (limiter/async_calls.py).
    """

    def _make_calls(self, client: Any) -> AsyncCalls:
        return AsyncCalls(client, self.deadline)

    async def try_acquire(self, user: str, n: int = 1) -> Decision:
        key, args = self._acquire_call(user, n)
        try:
            reply = await self._calls.evalsha(key, args, script.FRESH)
        except rexc.RedisError as exc:
            return self._decision_after(exc, key)
        return script.decision_of(reply, n, user)

    async def try_acquire_many(self, requests: Iterable[tuple[str, int]]) -> list[Decision]:
        """`RedisLimiter.try_acquire_many`, awaited."""
        wanted, calls = self._acquire_calls(requests)
        if not calls:
            return []
        try:
            replies = await self._calls.evalsha_many(calls, script.FRESH)
        except rexc.RedisError as exc:
            replies = [exc] * len(calls)
        return self._decisions(wanted, calls, replies)

    async def acquire(self, user: str, n: int = 1, timeout: float | None = None) -> Decision:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            decision = await self.try_acquire(user, n)
            if decision.allowed or decision.fail_mode is not None:
                return decision
            pause = decision.retry_after
            if deadline is not None and time.monotonic() + pause > deadline:
                return decision
            await asyncio.sleep(pause)

    async def peek(self, user: str) -> BucketState | None:
        return script.state_of(await self._call(user, "peek"), user)

    async def peek_many(self, users: Iterable[str]) -> list[BucketState | CorruptBucket | None]:
        users = list(users)
        if not users:
            return []
        calls = self._peek_calls(users)
        try:
            replies = await self._calls.evalsha_many(calls)
        except rexc.RedisError as exc:
            self._raise(exc, calls[0][0])
        return self._states(users, replies)

    async def configure(self, user: str, config: BucketConfig, *, create: bool = True, shadow: bool = False) -> BucketState | None:
        """`RedisLimiter.configure` (``shadow=True``: a preview), awaited."""
        op = "shadow" if shadow else "configure"
        return script.state_of(await self._call(user, op, *self._configure_args(config, create)), user)

    async def promote(self, user: str) -> BucketState | None:
        """`RedisLimiter.promote`, awaited: None when there was no shadow."""
        return script.state_of(await self._call(user, "promote"), user)

    async def discard_shadow(self, user: str) -> BucketState | None:
        """`RedisLimiter.discard_shadow`, awaited: None when there was no shadow."""
        return script.state_of(await self._call(user, "discard"), user)

    async def unconfigure(self, user: str) -> BucketState | None:
        return script.state_of(await self._call(user, "unconfigure"), user)

    async def reset(self, user: str) -> BucketState | None:
        return script.state_of(await self._call(user, "reset"), user)

    async def delete(self, user: str) -> bool:
        return bool(await self._call(user, "delete"))

    async def _call(self, user: str, op: str, *extra: object) -> Any:
        key = self.key(user)
        try:
            return await self._calls.evalsha(key, self._args(op, *extra))
        except rexc.RedisError as exc:
            self._raise(exc, key)
