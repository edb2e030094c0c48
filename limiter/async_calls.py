"""How `AsyncRedisLimiter` runs script calls: coalesced into pipelines, each call within its own deadline.

Auto-pipelining. A call is queued; a few *lanes* (background tasks, at most
`LANES`, each using one connection at a time) send whatever is queued as one
pipeline and resolve each call's future with its own reply. Calls made while
a lane's round trip is in flight go together in its next pipeline, so
hundreds of concurrent requests use a couple of connections and one round
trip per batch. Each call is still its own atomic script call with its own
request id, and gets its own reply.

One deadline per call. When a caller's deadline passes (one timer serves
them all: calls share one deadline length, so they expire in the order they
came), its call is withdrawn if it was not sent yet, and it gets a timeout
(``on_error`` answers it) — or `PoolExhausted` when the lanes were only
waiting for a free connection of the client's pool (a client-side limit, not
an outage). A call already sent is never sent again after its caller gave
up: its reply, if it comes, is dropped; it took effect once. A lane's
pipeline is bounded by the latest deadline of its calls, and a pipeline cut
short closes its connection, so no late reply is ever read by another call.
A caller cancelled from outside withdraws its call the same way.

Standalone and Sentinel: the lanes take connections from the client's own
pool and retry a fast failure once (the request ids make that safe). Cluster:
each pipeline is the client's ``ClusterPipeline``, which groups the calls by
node and follows redirections itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
from collections import deque
from typing import Any, Sequence

from redis import exceptions as rexc

from limiter import resp, script
from limiter.script import Call
from limiter.deadline import pool_size
from limiter.errors import PoolExhausted
from limiter.sync_calls import NOSCRIPT_ROUNDS, fail_unsent, field_of, timed_out

LANES = 2  # pipelines in flight at once: one can be sent while the other's replies are read
BATCH = 256  # calls per pipeline at most, so one caller's burst cannot hold the server long
LOAD = ("SCRIPT", "LOAD", script.SOURCE)



class _Queued:
    """One call waiting for its pipeline: its command, the args of a first attempt, its future."""

    __slots__ = ("command", "first", "future", "until", "sent")

    def __init__(self, command: tuple[object, ...], first: tuple[object, ...], future: asyncio.Future[Any], until: float | None):
        self.command = command
        self.first = first
        self.future = future
        self.until = until  # loop time after which nobody waits for the reply
        self.sent = False


class AsyncCalls:
    def __init__(self, client: Any, deadline: float | None) -> None:
        from redis.asyncio.cluster import RedisCluster

        self._client = client
        self.deadline = deadline
        self.size = pool_size(client)
        # Standalone and Sentinel: the client's own pool, our pipelines. A Cluster (and any
        # other client): the client's pipeline, which knows where each key lives.
        self._own_pipelines = not isinstance(client, RedisCluster) and hasattr(getattr(client, "connection_pool", None), "get_connection")
        self._lanes = max(1, min(LANES, self.size))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: deque[_Queued] = deque()  # not sent yet
        self._pending: deque[_Queued] = deque()  # not answered yet, oldest first (with a deadline)
        self._timer: asyncio.TimerHandle | None = None
        self._running = 0  # lanes
        self._sending = 0  # lanes with a pipeline in flight
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting_for_pool = False  # a lane waits for a connection the client's other commands hold
        self._unreachable = False  # the last pipeline that ended could not reach Redis
        # redis-py's async RedisCluster can fail (AttributeError) when many
        # coroutines make its first call at once; its initialize() is locked.
        self._ready = getattr(client, "initialize", None) is None

    async def evalsha(self, key: str, args: tuple[object, ...], first: tuple[object, ...] = ()) -> Any:
        """One script call; ``first`` goes with the first attempt only (see `script.FRESH`)."""
        reply = await self._submit(key, args, first).future  # the reply, or what its deadline left
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def evalsha_many(self, calls: Sequence[Call], first: tuple[object, ...] = ()) -> list[Any]:
        """Every call in the next pipeline (one per node on a Cluster): a reply or an exception each."""
        queued = [self._submit(key, args, first) for key, args in calls]
        try:
            replies = [await item.future for item in queued]
        except asyncio.CancelledError:
            for item in queued:
                item.future.cancel()  # withdrawn, as a single caller's call is, if not sent yet
            raise
        if replies and all(isinstance(reply, PoolExhausted) for reply in replies):
            raise replies[0]  # nothing was sent: a client-side limit, for the whole batch
        return replies

    # -- the queue ---------------------------------------------------------------------

    def _submit(self, key: str, args: tuple[object, ...], first: tuple[object, ...]) -> _Queued:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop: the old one's lanes and timer are gone
            self._loop, self._queue, self._pending, self._running, self._sending = loop, deque(), deque(), 0, 0
            self._tasks, self._timer = set(), None
        until = None if self.deadline is None else loop.time() + self.deadline
        queued = _Queued(("EVALSHA", script.SHA, 1, key, *args), first, loop.create_future(), until)
        self._queue.append(queued)
        if until is not None:
            # Calls share one deadline length, so they end in the order they came: one
            # timer, for the oldest still waiting, answers every caller whose time is up.
            pending = self._pending
            while pending and pending[0].future.done():
                pending.popleft()
            pending.append(queued)
            if self._timer is None:
                self._timer = loop.call_at(pending[0].until, self._expire)  # type: ignore[arg-type]
        if self._running < self._lanes:
            self._running += 1
            task = loop.create_task(self._lane())
            self._tasks.add(task)  # a reference, so the task is not collected mid-way
            task.add_done_callback(self._tasks.discard)
        return queued

    def _expire(self) -> None:
        """The timer: answer the callers whose deadline passed; a call not sent yet never will be."""
        self._timer = None
        loop, pending = self._loop, self._pending
        assert loop is not None
        now = loop.time()
        while pending and (pending[0].future.done() or pending[0].until <= now):  # type: ignore[operator]
            queued = pending.popleft()
            if not queued.future.done():
                queued.future.set_result(self._late(queued))
        if pending:
            self._timer = loop.call_at(pending[0].until, self._expire)  # type: ignore[arg-type]

    def _late(self, queued: _Queued) -> Exception:
        """What a caller whose deadline passed gets."""
        if not queued.sent and self._waiting_for_pool and not self._unreachable:
            return PoolExhausted(self.size, self.deadline)
        self._unreachable = self._unreachable or queued.sent
        return rexc.TimeoutError(f"no reply within the decision deadline ({self.deadline:g} s)")

    async def _lane(self) -> None:
        try:
            while True:
                # Share what is queued with the lanes about to send too: while the server
                # runs one pipeline, the replies of the other are read.
                queue = self._queue
                take = min(BATCH, max(1, -(-len(queue) // max(1, self._running - self._sending))))
                batch: list[_Queued] = []
                while queue and len(batch) < take:
                    queued = queue.popleft()
                    if not queued.future.done():  # done: its caller's deadline passed before it was sent
                        batch.append(queued)
                if not batch:
                    return
                self._sending += 1
                try:
                    await self._send(batch)
                finally:
                    self._sending -= 1
        finally:
            self._running -= 1

    async def _send(self, batch: list[_Queued]) -> None:
        loop = asyncio.get_running_loop()
        ends = [q.until for q in batch if q.until is not None]
        timeout = None if len(ends) < len(batch) else max(0.0, max(ends) - loop.time())
        try:
            async with _deadline(timeout):
                replies = await (self._pipeline(batch) if self._own_pipelines else self._client_pipeline(batch))
        except (TimeoutError, asyncio.TimeoutError):  # one class since 3.11, two on 3.10
            if any(q.sent for q in batch):  # (not while it only waited for a free connection)
                self._unreachable = True
            error: BaseException = rexc.TimeoutError(f"no reply within the decision deadline ({self.deadline:g} s)")
        except (rexc.ConnectionError, rexc.TimeoutError) as exc:
            # (Wrong credentials and a full pool are answers about the client, not outages.)
            if not isinstance(exc, (rexc.AuthenticationError, rexc.AuthorizationError, rexc.MaxConnectionsError)):
                self._unreachable = True
            error = exc
        except Exception as exc:  # anything else: each caller learns it
            error = exc
        else:
            if replies is not None:  # None: every caller gave up while waiting for a connection
                self._unreachable = False
                for queued, reply in zip(batch, replies):
                    if not queued.future.done():
                        queued.future.set_result(reply)
            return
        for queued in batch:
            if not queued.future.done():
                queued.future.set_result(error)

    # -- pipelines -----------------------------------------------------------------------

    async def _pipeline(self, batch: list[_Queued]) -> list[Any] | None:
        """Standalone and Sentinel: one connection of the client's pool, one retry of a fast failure."""
        pool = self._client.connection_pool
        replies: list[Any] = [None] * len(batch)
        todo = list(range(len(batch)))
        broken: BaseException | None = None  # what broke the first attempt
        for attempt in (0, 1):
            conn = await self._connection(pool, batch)
            if conn is None:
                return None
            done = False
            try:
                if broken is not None:
                    await self._prepare_retry(conn, batch, todo, replies, broken)
                await self._exchange(conn, batch, todo, replies, attempt == 0)
                done = True
                return replies
            except (rexc.AuthenticationError, rexc.AuthorizationError):
                done = True  # Redis answered: the connection is fine
                raise
            except (rexc.ConnectionError, rexc.TimeoutError, OSError) as exc:
                if broken is not None:  # the retry failed too
                    if all(reply is None or reply is broken or isinstance(reply, rexc.NoScriptError) for reply in replies):
                        raise  # nothing was answered
                    fail_unsent(replies, todo, exc)
                    return replies
                broken = exc
            finally:
                if not done:
                    await conn.disconnect(nowait=True)  # a reply may still be on its way: never reuse the socket
                await pool.release(conn)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _exchange(self, conn: Any, batch: list[_Queued], todo: list[int], replies: list[Any], first: bool) -> None:
        # The pipeline runs under the deadline of its calls (see _send): the reads need no
        # timeout of their own (redis-py 8: math.inf), which saves a timer per reply.
        read_timeout = math.inf if self.deadline is not None else None
        for i in todo:
            batch[i].sent = True
        await conn.send_packed_command(
            resp.pack_many(batch[i].command + batch[i].first if first else batch[i].command for i in todo), check_health=False
        )
        for i in list(todo):  # replies come in the order the commands went
            replies[i] = await _reply(conn, read_timeout)
            todo.pop(0)
        for _ in range(NOSCRIPT_ROUNDS):  # the script cache was flushed: nothing ran for these
            again = [i for i, reply in enumerate(replies) if isinstance(reply, rexc.NoScriptError)]
            if not again:
                return
            todo[:] = again
            await conn.send_packed_command(resp.pack_many([LOAD] + [batch[i].command for i in again]), check_health=False)
            loaded = await _reply(conn, read_timeout)
            if isinstance(loaded, Exception):
                raise loaded
            for i in again:
                replies[i] = await _reply(conn, read_timeout)
                todo.pop(0)

    async def _prepare_retry(self, conn: Any, batch: list[_Queued], todo: list[int], replies: list[Any], broken: BaseException) -> None:
        """Before ``todo`` is sent again: drop from it the acquires that may have run (as `limiter.sync_calls.prepare_retry`)."""
        calls = [(q.command[3], q.command[4:]) for q in batch]
        last = None
        if not timed_out(broken):
            keys = script.unsure_keys(calls, todo)  # type: ignore[arg-type]
            if not keys:
                return
            await conn.send_packed_command(resp.pack_many(("HMGET", key, "req") for key in keys), check_health=False)
            read_timeout = math.inf if self.deadline is not None else None
            last = {key: field_of(await _reply(conn, read_timeout)) for key in keys}
        again, withheld = script.retry_plan(calls, todo, last)  # type: ignore[arg-type]
        for i in withheld:
            replies[i] = broken
        todo[:] = again

    async def _connection(self, pool: Any, batch: list[_Queued]) -> Any:
        pause = 0.001
        while True:
            try:
                conn = await pool.get_connection()
                self._waiting_for_pool = False
                return conn
            except rexc.MaxConnectionsError:
                # The pool is full with the client's other commands: nothing was sent.
                # Wait a little and try again, while somebody still waits for these calls.
                if all(q.future.done() for q in batch):
                    self._waiting_for_pool = False
                    return None
                self._waiting_for_pool = True
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.02)

    async def _client_pipeline(self, batch: list[_Queued]) -> list[Any] | None:
        """The client's pipeline (on a Cluster one per node; its own retries, so no ``first``)."""
        client = self._client
        if not self._ready:
            await client.initialize()
            self._ready = True
        for queued in batch:
            queued.sent = True
        replies = await self._client_round(batch)
        for _ in range(NOSCRIPT_ROUNDS):
            again = [i for i, reply in enumerate(replies) if isinstance(reply, rexc.NoScriptError)]
            if not again:
                break
            await client.script_load(script.SOURCE)  # on a Cluster: every primary
            for i, reply in zip(again, await self._client_round([batch[i] for i in again])):
                replies[i] = reply
        return replies

    async def _client_round(self, batch: list[_Queued]) -> list[Any]:
        pipe = self._client.pipeline()
        for queued in batch:
            pipe.execute_command(*queued.command)
        return list(await pipe.execute(raise_on_error=False))


async def _reply(conn: Any, timeout: float | None) -> Any:
    """One reply; an error reply is returned, not raised (the connection is fine)."""
    try:
        return await conn.read_response(timeout=timeout)
    except rexc.ResponseError as exc:
        return exc


def _deadline(seconds: float | None) -> Any:
    return contextlib.nullcontext() if seconds is None else _timeout(seconds)


if sys.version_info >= (3, 11):
    _timeout = asyncio.timeout
else:  # pragma: no cover - Python 3.10: redis-py depends on async-timeout there, the same context manager
    from async_timeout import timeout as _timeout
