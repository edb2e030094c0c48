"""How `AsyncRedisLimiter` runs one script call within one deadline, on any redis.asyncio client.

A coroutine can be cancelled wherever it waits, so the whole call — waiting
for a free connection, connecting, the client's own retries and backoff, the
reply — runs under one ``asyncio.timeout``; redis-py closes a connection whose
command was cancelled mid-way, so no late reply is ever read by another call.
The client itself is used as it is, never reconfigured.

Client-side limits are not outages: the limiter never runs more script calls
at once than the client's pool may open (the others wait their turn, within
their deadline), and a pool kept full by the client's other commands is waited
on too. A call that cannot get a connection in time raises `PoolExhausted`,
never answered by ``on_error`` — unless the connections are all stuck on a
server that stopped answering, which is an outage.

This is the one place a call meets the client: coalescing concurrent acquires
into pipelines (issue 9) replaces `AsyncCalls.evalsha` and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from redis import exceptions as rexc

from limiter import script
from limiter.deadline import pool_size
from limiter.errors import PoolExhausted


class AsyncCalls:
    def __init__(self, client: Any, deadline: float | None) -> None:
        self._client = client
        self.deadline = deadline
        self.size = pool_size(client)
        self._slots: asyncio.Semaphore | None = None  # made in the running loop
        self._unreachable = False  # the last call that ended could not reach Redis
        # redis-py's async RedisCluster can fail (AttributeError) when many
        # coroutines make its first call at once; its initialize() is locked.
        self._ready = getattr(client, "initialize", None) is None

    async def evalsha(self, key: str, args: tuple[object, ...]) -> Any:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        waiting = [True]  # for a connection (not for Redis) when the deadline hits
        try:
            async with _deadline(self.deadline):
                async with self._slots:
                    waiting[0] = False
                    reply = await self._call(key, args, waiting)
        except TimeoutError:  # the deadline (redis-py raises its own TimeoutError class)
            if waiting[0] and not self._unreachable:
                raise PoolExhausted(self.size, self.deadline) from None
            self._unreachable = True
            raise rexc.TimeoutError(f"no reply within the decision deadline ({self.deadline:g} s)") from None
        except (rexc.AuthenticationError, rexc.AuthorizationError):
            raise  # Redis answered: wrong credentials say nothing about its health
        except (rexc.ConnectionError, rexc.TimeoutError):
            self._unreachable = True
            raise
        self._unreachable = False
        return reply

    async def _call(self, key: str, args: tuple[object, ...], waiting: list[bool]) -> Any:
        client, pause = self._client, 0.001
        if not self._ready:
            await client.initialize()
            self._ready = True
        while True:
            try:
                try:
                    return await client.evalsha(script.SHA, 1, key, *args)
                except rexc.NoScriptError:
                    # NOSCRIPT means nothing ran, so sending the source is safe.
                    return await client.eval(script.SOURCE, 1, key, *args)
            except rexc.MaxConnectionsError:
                # The pool is full with the client's other commands: nothing was sent.
                # Wait a little and try again; the deadline ends the wait.
                waiting[0] = True
                await asyncio.sleep(pause)
                waiting[0] = False
                pause = min(pause * 2, 0.02)


def _deadline(seconds: float | None) -> Any:
    return contextlib.nullcontext() if seconds is None else asyncio.timeout(seconds)
