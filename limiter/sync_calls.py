"""How `RedisLimiter` runs one script call within one deadline, on any redis-py client.

redis-py's own path cannot keep a deadline: a command is retried by the
client's ``Retry`` (redis-py 8: ten times with backoff), and so is every
reconnect inside it, each attempt waiting up to ``socket_timeout``; a frozen
server then takes ~9 s to answer "unavailable" with ``socket_timeout=0.4``.
Changing the client's ``Retry`` would change all its other commands too, so
the limiter does not use that path:

- **Standalone and Sentinel** (`OwnConnections`): the limiter keeps its own
  connections, made by the client's connection class from the client's
  settings (host, credentials, TLS, database, pool size; a Sentinel client's
  connections still find the primary through its sentinels), but without the
  client's retries. Every wait is capped by what is left of the deadline:
  waiting for a free connection, connecting (``socket_connect_timeout``),
  the handshake and the reply (``socket_timeout``). One retry, and only if
  time is left: the script's request id makes it safe (never a double debit).
- **Cluster** (`ClusterCalls`): each attempt goes to the node that holds the
  key through the client itself with ``target_nodes``, which redis-py runs
  once (redirections included) with the node's own timeouts and no retries;
  the limiter retries once if time is left.
- Anything else: the client's ``evalsha``, as it is.

Client-side limits are not outages. The limiter never runs more calls at once
than the pool may open; a call waits for a free connection within its
deadline, and one that cannot get one in time raises `PoolExhausted` (never
answered by ``on_error``), unless the connections are all stuck on a server
that stopped answering: that is an outage (`rexc.TimeoutError`, so
``RedisUnavailable``).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from redis import exceptions as rexc
from redis.backoff import NoBackoff
from redis.retry import Retry

from limiter import script
from limiter.deadline import connection_kwargs, pool_size
from limiter.errors import PoolExhausted

# Errors after which the connection is unusable and the call may be retried.
BROKEN = (rexc.ConnectionError, rexc.TimeoutError, OSError)


def _left(deadline: float | None) -> float | None:
    """Seconds left before ``deadline`` (a time.monotonic() instant); None: no deadline."""
    return None if deadline is None else deadline - time.monotonic()


def _out_of_time(deadline: float | None, seconds: float | None) -> rexc.TimeoutError:
    return rexc.TimeoutError(f"no reply within the decision deadline ({seconds:g} s)" if seconds else "no reply")


class _Health:
    """Whether the last call that ended reached Redis: tells an outage from a busy pool."""

    unreachable = False


class OwnConnections:
    """The limiter's own connections to one server, made from a client's pool settings."""

    def __init__(self, client: Any) -> None:
        pool = client.connection_pool
        kwargs = dict(pool.connection_kwargs)
        kwargs["retry"] = Retry(NoBackoff(), 0)  # one attempt per connect; the limiter retries itself
        kwargs.pop("maint_notifications_pool_handler", None)  # belongs to the client's own pool
        self._connection_class = pool.connection_class
        self._kwargs = kwargs
        self._socket_timeout = kwargs.get("socket_timeout")
        self._connect_timeout = kwargs.get("socket_connect_timeout") or self._socket_timeout
        self.size = pool_size(client)
        self._idle: list[Any] = []
        self._open = 0  # connections made and not discarded (idle or in use)
        self._cond = threading.Condition(threading.Lock())
        self._pid = os.getpid()
        self.health = _Health()

    def evalsha(self, key: str, args: tuple[object, ...], deadline: float | None, seconds: float | None) -> Any:
        conn = self._checkout(deadline, seconds)
        keep = True
        try:
            for attempt in (0, 1):
                try:
                    self._connect(conn, deadline, seconds)
                    try:
                        reply = self._run(conn, ("EVALSHA", script.SHA, 1, key, *args), deadline, seconds)
                    except rexc.NoScriptError:
                        # The script cache is volatile (restart, failover, SCRIPT FLUSH);
                        # NOSCRIPT means nothing ran, so sending the source is safe.
                        reply = self._run(conn, ("EVAL", script.SOURCE, 1, key, *args), deadline, seconds)
                    self.health.unreachable = False
                    return reply
                except (rexc.AuthenticationError, rexc.AuthorizationError):
                    raise  # Redis answered: a misconfiguration, not an outage (never retried)
                except BROKEN:
                    conn.disconnect()
                    left = _left(deadline)
                    if attempt == 1 or (left is not None and left <= 0):
                        self.health.unreachable = True
                        raise
        except rexc.ResponseError:
            raise  # an answer (a script error, BUSY, READONLY): the connection is fine
        except BaseException:
            keep = False
            raise
        finally:
            self._checkin(conn, keep)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        with self._cond:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        for conn in idle:
            conn.disconnect()

    # -- connections -----------------------------------------------------------

    def _checkout(self, deadline: float | None, seconds: float | None) -> Any:
        with self._cond:
            if self._pid != os.getpid():  # forked: the parent's sockets are not ours
                self._idle, self._open, self._pid = [], 0, os.getpid()
            while not self._idle and self._open >= self.size:
                left = _left(deadline)
                if left is not None and left <= 0:
                    if self.health.unreachable:
                        raise _out_of_time(deadline, seconds)
                    raise PoolExhausted(self.size, seconds)
                self._cond.wait(left)
            if self._idle:
                return self._idle.pop()
            self._open += 1
        try:
            return self._connection_class(**self._kwargs)
        except BaseException:
            with self._cond:
                self._open -= 1
                self._cond.notify()
            raise

    def _checkin(self, conn: Any, keep: bool) -> None:
        if not keep:
            conn.disconnect()  # a reply may still be on its way: never reuse the socket
        with self._cond:
            if self._pid == os.getpid():
                self._idle.append(conn)  # disconnected ones reconnect on their next use
            self._cond.notify()

    def _connect(self, conn: Any, deadline: float | None, seconds: float | None) -> None:
        if conn.is_connected:
            return
        left = _left(deadline)
        if left is not None:
            if left <= 0:
                raise _out_of_time(deadline, seconds)
            # Our own connection: its timeouts are ours to cap, the handshake's included.
            # A socket opened so keeps the shorter timeout as its default, which only
            # sends see: every read passes its own timeout (see _run).
            st, ct = self._socket_timeout, self._connect_timeout
            conn.socket_connect_timeout = left if ct is None else min(ct, left)
            conn.socket_timeout = left if st is None else min(st, left)
        try:
            conn.connect()  # Sentinel: asks the sentinels where the primary is, then connects
        finally:
            conn.socket_connect_timeout, conn.socket_timeout = self._connect_timeout, self._socket_timeout

    def _run(self, conn: Any, command: tuple[object, ...], deadline: float | None, seconds: float | None) -> Any:
        conn.send_command(*command, check_health=False)  # a dead socket fails the read: retried
        left = _left(deadline)
        if left is None:
            return conn.read_response()
        if left <= 0:
            conn.disconnect()
            raise _out_of_time(deadline, seconds)
        try:
            return conn.read_response(timeout=left if self._socket_timeout is None else min(self._socket_timeout, left))
        except rexc.TimeoutError:
            conn.disconnect()  # Sentinel connections do not disconnect on their own
            raise _out_of_time(deadline, seconds) from None


class ClusterCalls:
    """Script calls on a ``redis.cluster.RedisCluster``: one attempt per node call, one retry."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.size = pool_size(client)
        self._slots = threading.BoundedSemaphore(self.size)
        self.health = _Health()

    def evalsha(self, key: str, args: tuple[object, ...], deadline: float | None, seconds: float | None) -> Any:
        left = _left(deadline)
        if not self._slots.acquire(timeout=None if left is None else max(0.0, left)):
            if self.health.unreachable:
                raise _out_of_time(deadline, seconds)
            raise PoolExhausted(self.size, seconds)
        try:
            return self._attempts(key, args, deadline, seconds)
        finally:
            self._slots.release()

    def close(self) -> None:
        """Nothing of its own to close: the connections are the client's."""

    def _attempts(self, key: str, args: tuple[object, ...], deadline: float | None, seconds: float | None) -> Any:
        client, attempt, pause = self._client, 0, 0.001
        while True:
            node = client.get_node_from_key(key)
            try:
                try:
                    reply = client.execute_command("EVALSHA", script.SHA, 1, key, *args, target_nodes=node)
                except rexc.NoScriptError:
                    reply = client.execute_command("EVAL", script.SOURCE, 1, key, *args, target_nodes=node)
                self.health.unreachable = False
                return reply
            except rexc.MaxConnectionsError:
                # The node's pool is full with the client's other commands: nothing was
                # sent, so wait a little and try again, within the deadline.
                left = _left(deadline)
                if left is not None and left <= pause:
                    raise PoolExhausted(self.size, seconds) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.02)
            except (rexc.AuthenticationError, rexc.AuthorizationError):
                raise
            except (rexc.ConnectionError, rexc.TimeoutError, rexc.ClusterDownError, rexc.TryAgainError):
                left = _left(deadline)
                if attempt == 1 or (left is not None and left <= 0):
                    self.health.unreachable = True
                    raise
                attempt += 1  # redis-py has re-read the slot map: the retry goes where the key is now


class ClientCalls:
    """Any other client: its own ``evalsha`` (no deadline of the limiter's)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def evalsha(self, key: str, args: tuple[object, ...], deadline: float | None, seconds: float | None) -> Any:
        try:
            return self._client.evalsha(script.SHA, 1, key, *args)
        except rexc.NoScriptError:
            return self._client.eval(script.SOURCE, 1, key, *args)

    def close(self) -> None:
        """The client is the caller's to close."""


def calls_for(client: Any) -> OwnConnections | ClusterCalls | ClientCalls:
    from redis.cluster import RedisCluster

    if isinstance(client, RedisCluster):
        return ClusterCalls(client)
    pool = getattr(client, "connection_pool", None)
    if pool is not None and hasattr(pool, "connection_class") and isinstance(connection_kwargs(client), dict):
        return OwnConnections(client)
    return ClientCalls(client)
