"""`AsyncRedisLimiter`: `RedisLimiter` for redis.asyncio clients (same script, same keys)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Iterable

from redis import exceptions as rexc

from limiter import script
from limiter.async_calls import AsyncCalls
from limiter.config import BucketConfig
from limiter.errors import CorruptBucket, RedisUnavailable
from limiter.redis_limiter import _LimiterCore
from limiter.types import BucketState, Decision


class AsyncRedisLimiter(_LimiterCore):
    """`RedisLimiter` with ``async`` methods, on ``redis.asyncio`` clients (standalone, Cluster, Sentinel).

    It uses the client's own connections; ``deadline`` bounds each call as a
    whole (limiter/async_calls.py), and concurrent calls beyond the client's
    pool size wait for a connection within it.
    """

    def _make_calls(self, client: Any) -> AsyncCalls:
        return AsyncCalls(client, self.deadline)

    async def try_acquire(self, user: str, n: int = 1) -> Decision:
        script.check_n(n)
        try:
            reply = await self._call(user, "acquire", n, self._ids.next())
        except RedisUnavailable as exc:
            return self._fallback(exc)
        return script.decision_of(reply, n, user)

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
        await self.client.script_load(script.SOURCE)
        replies = await self._pipeline_peeks(users)
        if any(isinstance(r, rexc.NoScriptError) for r in replies):
            await self.client.script_load(script.SOURCE)
            replies = await self._pipeline_peeks(users)
        return [self._state_or_error(user, reply) for user, reply in zip(users, replies)]

    async def configure(self, user: str, config: BucketConfig, *, create: bool = True) -> BucketState | None:
        return script.state_of(await self._call(user, "configure", *self._configure_args(config, create)), user)

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
            error = self._translate(exc, key)
            if error is exc:
                raise
            raise error from (exc if isinstance(error, RedisUnavailable) else None)

    async def _pipeline_peeks(self, users: list[str]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for user in users:
            pipe.execute_command("EVALSHA", script.SHA, 1, self.key(user), *self._args("peek"))
        return await pipe.execute(raise_on_error=False)
