"""How `RedisLimiter` runs script calls within one deadline, on a standalone or Sentinel client.

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
  the handshake and the replies (``socket_timeout``). One retry, and only if
  time is left: the script's request id makes it safe (never a double debit:
  an acquire that timed out is not sent again, and of a broken batch only what
  cannot run twice is: `prepare_retry`).
- **Cluster**: limiter/cluster_calls.py.
- Anything else (`ClientCalls`): the client's own commands, as they are.

A batch (`evalsha_many`: ``try_acquire_many``, ``peek_many``) is one pipeline
on one connection: every command sent at once, the replies read in order. A
reply that is an error stays that command's answer; NOSCRIPT (the script cache
was flushed, nothing ran) loads the script and sends those commands again.

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
from typing import Any, Sequence

from redis import exceptions as rexc
from redis.backoff import NoBackoff
from redis.retry import Retry

from limiter import resp, script
from limiter.script import Call
from limiter.deadline import connection_kwargs, pool_size
from limiter.errors import PoolExhausted

# Errors after which the connection is unusable and the call may be retried.
BROKEN = (rexc.ConnectionError, rexc.TimeoutError, OSError)
LOAD = ("SCRIPT", "LOAD", script.SOURCE)
NOSCRIPT_ROUNDS = 3  # loads of the script per batch (a flush may land again between the load and the calls)



def left_of(deadline: float | None) -> float | None:
    """Seconds left before ``deadline`` (a time.monotonic() instant); None: no deadline."""
    return None if deadline is None else deadline - time.monotonic()


def until(seconds: float | None) -> float | None:
    return None if seconds is None else time.monotonic() + seconds


def out_of_time(seconds: float | None) -> rexc.TimeoutError:
    return rexc.TimeoutError(f"no reply within the decision deadline ({seconds:g} s)" if seconds else "no reply")


class Health:
    """Whether the last call that ended reached Redis: tells an outage from a busy pool."""

    unreachable = False


def read_reply(conn: Any, deadline: float | None, seconds: float | None, socket_timeout: float | None) -> Any:
    """One reply, waiting no longer than the deadline allows; an error reply is returned, not raised."""
    left = left_of(deadline)
    try:
        if left is None:
            return conn.read_response()
        if left <= 0:
            conn.disconnect()
            raise out_of_time(seconds)
        try:
            return conn.read_response(timeout=left if socket_timeout is None else min(socket_timeout, left))
        except rexc.TimeoutError:
            conn.disconnect()  # Sentinel connections do not disconnect on their own
            raise out_of_time(seconds) from None
    except rexc.ResponseError as exc:
        return exc  # an answer (a script error, BUSY, NOSCRIPT...): the connection is fine


def run_batch(
    conn: Any,
    calls: Sequence[Call],
    extra: tuple[object, ...],
    replies: list[Any],
    todo: list[int],
    deadline: float | None,
    seconds: float | None,
    socket_timeout: float | None,
) -> None:
    """Send ``calls[i]`` for every ``i`` in ``todo`` as one pipeline; fill ``replies[i]`` as they come.

    ``todo`` shrinks as replies arrive, so after a broken connection it holds
    what still needs an answer. NOSCRIPT replies load the script and are sent
    again (nothing ran for them).
    """
    sha = script.SHA
    conn.send_packed_command((resp.pack_many(("EVALSHA", sha, 1, calls[i][0], *calls[i][1], *extra) for i in todo),),
                             check_health=False)  # a dead socket fails the read
    sent, done = list(todo), 0
    try:
        for i in sent:  # replies come in the order the commands went
            replies[i] = read_reply(conn, deadline, seconds, socket_timeout)
            done += 1
    finally:
        del todo[:done]
    for _ in range(NOSCRIPT_ROUNDS):
        again = [i for i, reply in enumerate(replies) if isinstance(reply, rexc.NoScriptError)]
        if not again:
            return
        commands = [LOAD] + [("EVALSHA", script.SHA, 1, calls[i][0], *calls[i][1], *extra) for i in again]
        todo[:] = again
        conn.send_packed_command((resp.pack_many(commands),), check_health=False)
        loaded = read_reply(conn, deadline, seconds, socket_timeout)
        if isinstance(loaded, Exception):
            raise loaded
        for i in again:
            replies[i] = read_reply(conn, deadline, seconds, socket_timeout)
            todo.pop(0)


def prepare_retry(
    conn: Any,
    calls: Sequence[Call],
    replies: list[Any],
    todo: list[int],
    broken: BaseException,
    deadline: float | None,
    seconds: float | None,
    socket_timeout: float | None,
) -> None:
    """Before ``todo`` is sent again on ``conn``: drop from it the acquires that may have run (`script.retry_plan`).

    Their reply is ``broken``, the error that lost their answers.
    """
    last = None  # after a timeout: the server may still be running them, nothing to ask
    if not timed_out(broken):
        keys = script.unsure_keys(calls, todo)
        if not keys:
            return
        conn.send_packed_command((resp.pack_many(("HMGET", key, "req") for key in keys),), check_health=False)
        last = {key: field_of(read_reply(conn, deadline, seconds, socket_timeout)) for key in keys}
    again, withheld = script.retry_plan(calls, todo, last)
    for i in withheld:
        replies[i] = broken
    todo[:] = again


def timed_out(exc: BaseException) -> bool:
    return isinstance(exc, (rexc.TimeoutError, TimeoutError))


def field_of(reply: Any) -> Any:
    """The one field of an HMGET reply; None for an error (a key of another type: its acquires fail anyway)."""
    return reply[0] if isinstance(reply, list) else None


def fail_unsent(replies: list[Any], todo: list[int], exc: BaseException) -> None:
    """The calls of a pipeline given up: the unanswered and those answered NOSCRIPT (nothing ran) get ``exc``.

    Those answered keep their answers: they took effect.
    """
    for i in todo:
        replies[i] = exc
    for i, reply in enumerate(replies):
        if isinstance(reply, rexc.NoScriptError):
            replies[i] = exc


class OwnConnections:
    """The limiter's own connections to one server, made from a client's pool settings."""

    def __init__(self, client: Any, seconds: float | None) -> None:
        pool = client.connection_pool
        kwargs = dict(pool.connection_kwargs)
        kwargs["retry"] = Retry(NoBackoff(), 0)  # one attempt per connect; the limiter retries itself
        kwargs.pop("maint_notifications_pool_handler", None)  # belongs to the client's own pool
        self.seconds = seconds
        self._connection_class = pool.connection_class
        self._kwargs = kwargs
        self._socket_timeout = kwargs.get("socket_timeout")
        self._connect_timeout = kwargs.get("socket_connect_timeout") or self._socket_timeout
        self.size = pool_size(client)
        self._idle: list[Any] = []
        self._open = 0  # connections made and not discarded (idle or in use)
        self._cond = threading.Condition(threading.Lock())
        self._pid = os.getpid()
        self.health = Health()

    def evalsha(self, key: str, args: tuple[object, ...], first: tuple[object, ...] = ()) -> Any:
        """One script call; ``first`` is sent with the first attempt only (see `script.FRESH`).

        `evalsha_many` of one call, written out: this is the hot path.
        """
        seconds = self.seconds
        deadline = None if seconds is None else time.monotonic() + seconds
        conn = self._checkout(deadline, seconds)
        keep = True
        try:
            for attempt in (0, 1):
                sent = False
                try:
                    self._connect(conn, deadline, seconds)
                    command = ("EVALSHA", script.SHA, 1, key, *args, *first) if attempt == 0 else ("EVALSHA", script.SHA, 1, key, *args)
                    sent = True
                    conn.send_packed_command((resp.pack(command),), check_health=False)
                    reply = read_reply(conn, deadline, seconds, self._socket_timeout)
                    if isinstance(reply, rexc.NoScriptError):
                        # The script cache is volatile (restart, failover, SCRIPT FLUSH);
                        # NOSCRIPT means nothing ran, so sending the source is safe.
                        conn.send_packed_command((resp.pack(("EVAL", script.SOURCE, *command[2:])),), check_health=False)
                        reply = read_reply(conn, deadline, seconds, self._socket_timeout)
                    self.health.unreachable = False
                    if isinstance(reply, Exception):
                        raise reply
                    return reply
                except (rexc.AuthenticationError, rexc.AuthorizationError):
                    raise  # Redis answered: a misconfiguration, not an outage (never retried)
                except BROKEN as exc:
                    conn.disconnect()
                    left = left_of(deadline)
                    # A sent acquire that timed out may still run: its retry could run first (see script.retry_plan).
                    if attempt == 1 or (left is not None and left <= 0) or (sent and timed_out(exc) and script.is_acquire(args)):
                        self.health.unreachable = True
                        raise
        except (rexc.RedisError, OSError):
            raise  # answered, or already disconnected: the connection can be reused
        except BaseException:
            keep = False
            raise
        finally:
            self._checkin(conn, keep)
        raise AssertionError("unreachable")  # pragma: no cover

    def evalsha_many(self, calls: Sequence[Call], first: tuple[object, ...] = ()) -> list[Any]:
        """Every call in one pipeline: a reply or an exception each, in order."""
        seconds = self.seconds
        deadline = until(seconds)
        conn = self._checkout(deadline, seconds)
        replies: list[Any] = [None] * len(calls)
        todo = list(range(len(calls)))
        keep = True
        broken: BaseException | None = None
        try:
            for attempt in (0, 1):
                connected = False
                try:
                    self._connect(conn, deadline, seconds)
                    connected = True
                    if broken is not None:
                        prepare_retry(conn, calls, replies, todo, broken, deadline, seconds, self._socket_timeout)
                    run_batch(conn, calls, first if attempt == 0 else (), replies, todo, deadline, seconds, self._socket_timeout)
                    self.health.unreachable = False
                    return replies
                except (rexc.AuthenticationError, rexc.AuthorizationError):
                    raise  # Redis answered: a misconfiguration, not an outage (never retried)
                except BROKEN as exc:
                    conn.disconnect()
                    if connected:  # (a connect that failed sent nothing: nothing to sort out)
                        broken = exc
                    left = left_of(deadline)
                    if attempt == 1 or (left is not None and left <= 0):
                        self.health.unreachable = True
                        fail_unsent(replies, todo, exc)
                        return replies
        except (rexc.RedisError, OSError):
            raise
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
                left = left_of(deadline)
                if left is not None and left <= 0:
                    if self.health.unreachable:
                        raise out_of_time(seconds)
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
        left = left_of(deadline)
        if left is not None:
            if left <= 0:
                raise out_of_time(seconds)
            # Our own connection: its timeouts are ours to cap, the handshake's included.
            # A socket opened so keeps the shorter timeout as its default, which only
            # sends see: every read passes its own timeout (see read_reply).
            st, ct = self._socket_timeout, self._connect_timeout
            conn.socket_connect_timeout = left if ct is None else min(ct, left)
            conn.socket_timeout = left if st is None else min(st, left)
        try:
            conn.connect()  # Sentinel: asks the sentinels where the primary is, then connects
        finally:
            conn.socket_connect_timeout, conn.socket_timeout = self._connect_timeout, self._socket_timeout


class ClientCalls:
    """Any other client: its own commands and pipelines (no deadline of the limiter's)."""

    def __init__(self, client: Any, seconds: float | None) -> None:
        self._client = client
        self.seconds = seconds

    def evalsha(self, key: str, args: tuple[object, ...], first: tuple[object, ...] = ()) -> Any:
        # ``first`` is not sent: the client's own retries would send it again.
        try:
            return self._client.evalsha(script.SHA, 1, key, *args)
        except rexc.NoScriptError:
            return self._client.eval(script.SOURCE, 1, key, *args)

    def evalsha_many(self, calls: Sequence[Call], first: tuple[object, ...] = ()) -> list[Any]:
        replies = self._pipeline(calls)
        again = [i for i, reply in enumerate(replies) if isinstance(reply, rexc.NoScriptError)]
        if again:
            self._client.script_load(script.SOURCE)
            for i, reply in zip(again, self._pipeline([calls[i] for i in again])):
                replies[i] = reply
        return replies

    def _pipeline(self, calls: Sequence[Call]) -> list[Any]:
        pipe = self._client.pipeline(transaction=False)
        for key, args in calls:
            # execute_command: ClusterPipeline blocks the evalsha() method, not the command.
            pipe.execute_command("EVALSHA", script.SHA, 1, key, *args)
        return list(pipe.execute(raise_on_error=False))

    def close(self) -> None:
        """The client is the caller's to close."""


def calls_for(client: Any, seconds: float | None) -> Any:
    from redis.cluster import RedisCluster

    if isinstance(client, RedisCluster):
        from limiter.cluster_calls import ClusterCalls

        return ClusterCalls(client, seconds)
    pool = getattr(client, "connection_pool", None)
    if pool is not None and hasattr(pool, "connection_class") and isinstance(connection_kwargs(client), dict):
        return OwnConnections(client, seconds)
    return ClientCalls(client, seconds)
