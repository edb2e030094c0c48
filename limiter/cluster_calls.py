"""How `RedisLimiter` runs script calls on a ``redis.cluster.RedisCluster`` within one deadline.

One call: each attempt goes to the node that holds the key through the client
itself with ``target_nodes``, which redis-py runs once (redirections included)
with the node's own timeouts and no retries; the limiter retries once if time
is left. A batch: the calls grouped by node, one pipeline per node on a
connection of that node's pool, the replies read within the deadline; a call
whose slot moved (MOVED, ASK, TRYAGAIN) is sent again on its own, through the
one-call path, which follows the redirection.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Sequence

from redis import exceptions as rexc

from limiter import script
from limiter.deadline import pool_size
from limiter.errors import PoolExhausted
from limiter.script import Call
from limiter.sync_calls import BROKEN, Health, fail_unsent, left_of, out_of_time, prepare_retry, run_batch, until

MOVED = (rexc.MovedError, rexc.AskError, rexc.TryAgainError, rexc.ClusterDownError)


class ClusterCalls:
    """Script calls on a ``RedisCluster``: one attempt per node call, one retry."""

    def __init__(self, client: Any, seconds: float | None) -> None:
        self._client = client
        self.seconds = seconds
        self.size = pool_size(client)
        self._slots = threading.BoundedSemaphore(self.size)
        self.health = Health()

    def evalsha(self, key: str, args: tuple[object, ...], first: tuple[object, ...] = ()) -> Any:
        deadline = until(self.seconds)
        self._slot(deadline)
        try:
            return self._attempts(key, args, first, deadline)
        finally:
            self._slots.release()

    def evalsha_many(self, calls: Sequence[Call], first: tuple[object, ...] = ()) -> list[Any]:
        """One pipeline per node; a reply or an exception per call, in order."""
        deadline = until(self.seconds)
        self._slot(deadline)
        try:
            replies: list[Any] = [None] * len(calls)
            by_node: dict[str, tuple[Any, list[int]]] = {}
            for i, (key, _) in enumerate(calls):
                node = self._client.get_node_from_key(key)
                by_node.setdefault(node.name, (node, []))[1].append(i)
            for node, indices in by_node.values():
                self._node_batch(node, calls, indices, first, replies, deadline)
            for i, reply in enumerate(replies):
                left = left_of(deadline)
                if isinstance(reply, MOVED) and (left is None or left > 0):
                    try:  # its slot moved: nothing ran there, so send it again where it is now
                        replies[i] = self._attempts(calls[i][0], calls[i][1], (), deadline)
                    except rexc.RedisError as exc:
                        replies[i] = exc
            return replies
        finally:
            self._slots.release()

    def close(self) -> None:
        """Nothing of its own to close: the connections are the client's."""

    def _slot(self, deadline: float | None) -> None:
        left = left_of(deadline)
        if not self._slots.acquire(timeout=None if left is None else max(0.0, left)):
            if self.health.unreachable:
                raise out_of_time(self.seconds)
            raise PoolExhausted(self.size, self.seconds)

    def _node_batch(self, node: Any, calls: Sequence[Call], indices: list[int], first: tuple[object, ...],
                    replies: list[Any], deadline: float | None) -> None:
        """The calls ``indices`` in one pipeline to ``node``; one retry of the unanswered ones."""
        pool = self._client.get_redis_connection(node).connection_pool
        todo = list(indices)
        broken: BaseException | None = None
        for attempt in (0, 1):
            conn = self._connection(pool, deadline)
            keep = True
            try:
                if broken is not None:
                    prepare_retry(conn, calls, replies, todo, broken, deadline, self.seconds, conn.socket_timeout)
                run_batch(conn, calls, first if attempt == 0 else (), replies, todo, deadline, self.seconds,
                          conn.socket_timeout)
                self.health.unreachable = False
                return
            except (rexc.AuthenticationError, rexc.AuthorizationError):
                raise
            except BROKEN as exc:
                conn.disconnect()
                broken = exc
                left = left_of(deadline)
                if attempt == 1 or (left is not None and left <= 0):
                    self.health.unreachable = True
                    fail_unsent(replies, todo, exc)
                    return
            except BaseException:
                keep = False
                raise
            finally:
                if not keep:
                    conn.disconnect()
                pool.release(conn)

    def _connection(self, pool: Any, deadline: float | None) -> Any:
        pause = 0.001
        while True:
            try:
                return pool.get_connection()  # connects with the node's own timeouts
            except rexc.MaxConnectionsError:
                # The node's pool is full with the client's other commands: wait a little.
                left = left_of(deadline)
                if left is not None and left <= pause:
                    raise PoolExhausted(self.size, self.seconds) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.02)

    def _attempts(self, key: str, args: tuple[object, ...], first: tuple[object, ...], deadline: float | None) -> Any:
        client, attempt, pause = self._client, 0, 0.001
        while True:
            node = client.get_node_from_key(key)
            extra = first if attempt == 0 else ()
            try:
                try:
                    reply = client.execute_command("EVALSHA", script.SHA, 1, key, *args, *extra, target_nodes=node)
                except rexc.NoScriptError:
                    reply = client.execute_command("EVAL", script.SOURCE, 1, key, *args, *extra, target_nodes=node)
                self.health.unreachable = False
                return reply
            except rexc.MaxConnectionsError:
                # The node's pool is full with the client's other commands: nothing was
                # sent, so wait a little and try again, within the deadline.
                left = left_of(deadline)
                if left is not None and left <= pause:
                    raise PoolExhausted(self.size, self.seconds) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.02)
            except (rexc.AuthenticationError, rexc.AuthorizationError):
                raise
            except (rexc.ConnectionError, rexc.TimeoutError, rexc.ClusterDownError, rexc.TryAgainError):
                left = left_of(deadline)
                if attempt == 1 or (left is not None and left <= 0):
                    self.health.unreachable = True
                    raise
                attempt += 1  # redis-py has re-read the slot map: the retry goes where the key is now
