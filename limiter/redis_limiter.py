"""`RedisLimiter`: one token bucket per user in Redis, shared by every process and host."""

from __future__ import annotations

import time
import warnings
from typing import Any, Iterable

from redis import exceptions as rexc

from limiter import script
from limiter.config import BucketConfig
from limiter.deadline import connection_kwargs, decision_deadline, pool_size as deadline_pool_size
from limiter.errors import CorruptBucket, PoolExhausted, RedisUnavailable
from limiter.keys import DEFAULT_PREFIX, bucket_key, validate_prefix
from limiter.model import MAX_SAFE_INT
from limiter.sync_calls import ClusterCalls, calls_for
from limiter.types import BucketState, Decision


class _LimiterCore:
    """What the sync and async limiters share: settings, keys, arguments, replies."""

    def __init__(
        self,
        client: Any,
        prefix: str = DEFAULT_PREFIX,
        default: BucketConfig | None = None,
        *,
        on_error: str = "raise",
        idle_ttl: float = 60.0,
        deadline: float | None = None,
    ) -> None:
        if default is None:
            raise TypeError(f"{type(self).__name__} needs default=BucketConfig(...): the settings of users without operator settings")
        if not 0 <= idle_ttl * 1000 <= MAX_SAFE_INT:  # also refuses NaN and infinity
            raise ValueError(f"idle_ttl must be between 0 and {MAX_SAFE_INT // 1000} seconds (got {idle_ttl!r})")
        self.client = client
        self.prefix = validate_prefix(prefix)
        self.default = default
        self.on_error = script.check_on_error(on_error)
        # One pre-encoded argument: redis-py packs bytes without converting them.
        self._base_args = (script.settings_arg(default.settings(), round(idle_ttl * 1000)),)
        self._ids = script.RequestIds()
        # One deadline per decision (limiter/deadline.py): connect, send, retry and reply.
        self.deadline = decision_deadline(client, deadline)
        if self.deadline is None:
            _warn_without_timeout(client)
        self._calls = self._make_calls(client)

    def _make_calls(self, client: Any) -> Any:
        raise NotImplementedError  # the sync and async limiters run calls their own way

    def __repr__(self) -> str:
        return f"{type(self).__name__}(prefix={self.prefix!r}, default={self.default!r}, on_error={self.on_error!r})"

    def key(self, user: str) -> str:
        return bucket_key(self.prefix, user)

    def _args(self, op: str, *extra: object) -> tuple[object, ...]:
        return (op.encode(), *self._base_args, *extra)

    @staticmethod
    def _configure_args(config: BucketConfig, create: bool) -> tuple[object, ...]:
        return (script.settings_arg(config.settings()), b"1" if create else b"0")

    def _fallback(self, exc: RedisUnavailable) -> Decision:
        if self.on_error == "raise":
            raise exc
        return script.fallback_decision(self.on_error, self.default)

    def _translate(self, exc: rexc.RedisError, key: str) -> Exception:
        """The exception to raise for a Redis error during a script call.

        Wrong credentials or missing ACL rights are a misconfiguration, not an
        outage: they are raised as they are, whatever ``on_error`` says, so a
        bad password cannot silently fail open (or closed) forever.
        """
        if isinstance(exc, (rexc.AuthenticationError, rexc.AuthorizationError, rexc.NoPermissionError)):
            return exc
        if isinstance(exc, rexc.MaxConnectionsError):  # the client's own pool: never an outage
            return PoolExhausted(deadline_pool_size(self.client), self.deadline)
        if isinstance(exc, rexc.ResponseError):
            translated = script.translate_response_error(exc, key)
            if translated is not None:
                return translated
        if script.is_unavailable(exc):
            return RedisUnavailable(f"Redis unavailable: {exc}")
        return exc

    def _state_or_error(self, user: str, reply: Any) -> BucketState | CorruptBucket | None:
        if isinstance(reply, rexc.ResponseError):
            translated = self._translate(reply, self.key(user))
            if isinstance(translated, CorruptBucket):
                return translated
            raise translated
        return script.state_of(reply, user)


class RedisLimiter(_LimiterCore):
    """Token buckets in Redis, changed only by ``lua/token_bucket.lua``.

    ``client`` is a ``redis.Redis``, a ``redis.cluster.RedisCluster`` or a
    Sentinel master client. ``default`` applies to every user without operator
    settings (see `configure`). ``on_error`` decides what a consume returns
    when Redis cannot be reached: ``"raise"`` (`RedisUnavailable`),
    ``"allow"`` or ``"deny"``. ``idle_ttl`` is how long (seconds) a full bucket
    without operator settings is kept before its key expires. ``deadline``
    (seconds) bounds each call — waiting for a connection, connecting, sending,
    the one retry and the reply — and defaults to the client's
    ``socket_timeout`` (see limiter/sync_calls.py for how it is kept).

    Standalone and Sentinel clients: the limiter makes its own connections from
    the client's settings (the client's own are left to its other commands);
    `close` them, or use the limiter as a context manager.
    """

    def _make_calls(self, client: Any) -> Any:
        calls = calls_for(client)
        if isinstance(calls, ClusterCalls) and self.deadline is not None:
            # A Cluster node's reply waits for the node's own socket_timeout:
            # deadline= alone cannot cut it short.
            _warn_without_timeout(client, stacklevel=4)
        return calls

    def close(self) -> None:
        """Close the limiter's own connections (not the client's). It reconnects if used again."""
        self._calls.close()

    def __enter__(self) -> RedisLimiter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- consuming ---------------------------------------------------------

    def try_acquire(self, user: str, n: int = 1) -> Decision:
        """Take ``n`` tokens now if they are there; never waits."""
        script.check_n(n)
        try:
            reply = self._call(user, "acquire", n, self._ids.next())
        except RedisUnavailable as exc:
            return self._fallback(exc)
        return script.decision_of(reply, n, user)

    def acquire(self, user: str, n: int = 1, timeout: float | None = None) -> Decision:
        """Wait up to ``timeout`` seconds (None: no limit) for ``n`` tokens.

        Sleeps the ``retry_after`` Redis reports between attempts, never polls.
        Returns the refused `Decision` at once when the wait cannot end in time.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            decision = self.try_acquire(user, n)
            if decision.allowed or decision.fail_mode is not None:
                return decision
            pause = decision.retry_after
            if deadline is not None and time.monotonic() + pause > deadline:
                return decision
            time.sleep(pause)

    # -- reading and operating -----------------------------------------------

    def peek(self, user: str) -> BucketState | None:
        """The bucket as of Redis time, refill applied; None if it has no state. Writes nothing."""
        return script.state_of(self._call(user, "peek"), user)

    def peek_many(self, users: Iterable[str]) -> list[BucketState | CorruptBucket | None]:
        """`peek` for many users in one pipeline; a corrupt bucket comes back as its `CorruptBucket`."""
        users = list(users)
        if not users:
            return []
        self._load_script()
        replies = self._pipeline_peeks(users)
        if any(isinstance(r, rexc.NoScriptError) for r in replies):
            self._load_script()  # flushed between the load and the pipeline
            replies = self._pipeline_peeks(users)
        return [self._state_or_error(user, reply) for user, reply in zip(users, replies)]

    def configure(self, user: str, config: BucketConfig, *, create: bool = True) -> BucketState | None:
        """Set operator settings: live, atomic, seen by every process on its next call; they persist.

        A missing bucket is created full at ``config.max_tokens``; with
        ``create=False`` it is left missing (nothing written) and None returned.
        """
        return script.state_of(self._call(user, "configure", *self._configure_args(config, create)), user)

    def unconfigure(self, user: str) -> BucketState | None:
        """Drop operator settings: the caller's default applies again (settled first, like any change).

        None, writing nothing, if the bucket does not exist.
        """
        return script.state_of(self._call(user, "unconfigure"), user)

    def reset(self, user: str) -> BucketState | None:
        """Refill the bucket to ``max_tokens`` now; operator settings and counters stay.

        None, writing nothing, if the bucket does not exist.
        """
        return script.state_of(self._call(user, "reset"), user)

    def delete(self, user: str) -> bool:
        """Forget the bucket, operator settings included. True if there was one to delete."""
        return bool(self._call(user, "delete"))

    # -- plumbing ----------------------------------------------------------

    def _call(self, user: str, op: str, *extra: object) -> Any:
        key = self.key(user)
        seconds = self.deadline
        try:
            return self._calls.evalsha(
                key, self._args(op, *extra), None if seconds is None else time.monotonic() + seconds, seconds
            )
        except rexc.RedisError as exc:
            error = self._translate(exc, key)
            if error is exc:
                raise
            raise error from (exc if isinstance(error, RedisUnavailable) else None)

    def _load_script(self) -> None:
        self.client.script_load(script.SOURCE)

    def _pipeline_peeks(self, users: list[str]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for user in users:
            # execute_command: ClusterPipeline blocks the evalsha() method, not the command.
            pipe.execute_command("EVALSHA", script.SHA, 1, self.key(user), *self._args("peek"))
        return pipe.execute(raise_on_error=False)


def _warn_without_timeout(client: Any, stacklevel: int = 3) -> None:
    """A client with no socket timeout lets a stalled Redis block callers forever (redis-py 7.x's default)."""
    kwargs = connection_kwargs(client)
    if "socket_timeout" in kwargs and kwargs["socket_timeout"] is None:
        warnings.warn(
            "this Redis client has no socket_timeout: a stalled or partitioned Redis would block every "
            "acquire forever and on_error would never apply; pass socket_timeout= (and socket_connect_timeout=) "
            "or deadline=, or build the client with limiter.connect.connect()",
            RuntimeWarning,
            stacklevel=stacklevel,
        )
