"""What `RedisLimiter` and `AsyncRedisLimiter` share: settings, keys, script calls, replies, errors.

Every public operation of the two limiters is one line of I/O (their calls
object: limiter/sync_calls.py, limiter/async_calls.py) between two steps
written once, here: building the script call and making sense of its reply.
So the sync and async limiters cannot drift apart.
"""

from __future__ import annotations

import warnings
from typing import Any, Iterable, NoReturn, Sequence

from redis import exceptions as rexc

from limiter import script
from limiter.script import Call
from limiter.config import BucketConfig
from limiter.deadline import connection_kwargs, decision_deadline, pool_size
from limiter.errors import CorruptBucket, LimiterError, PoolExhausted, RedisUnavailable
from limiter.keys import DEFAULT_PREFIX, bucket_key, validate_prefix
from limiter.model import MAX_SAFE_INT, check_n
from limiter.types import BucketState, Decision

ACQUIRE, PEEK = b"acquire", b"peek"



class LimiterCore:
    """The state and the pure steps of a limiter; subclasses add the I/O."""

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
        self._default_arg = script.settings_arg(default.settings(), round(idle_ttl * 1000))
        self._peek_args = (PEEK, self._default_arg)
        self._ids = script.RequestIds()
        # One deadline per decision (limiter/deadline.py): connect, send, retry and reply.
        self.deadline = decision_deadline(client, deadline)
        if self.deadline is None:
            warn_without_timeout(client)
        self._calls = self._make_calls(client)

    def _make_calls(self, client: Any) -> Any:
        raise NotImplementedError  # the sync and async limiters run calls their own way

    def __repr__(self) -> str:
        return f"{type(self).__name__}(prefix={self.prefix!r}, default={self.default!r}, on_error={self.on_error!r})"

    def key(self, user: str) -> str:
        return bucket_key(self.prefix, user)

    # -- building calls ----------------------------------------------------------

    def _args(self, op: str, *extra: object) -> tuple[object, ...]:
        return (op.encode(), self._default_arg, *extra)

    @staticmethod
    def _configure_args(config: BucketConfig, create: bool) -> tuple[object, ...]:
        return (script.settings_arg(config.settings()), b"1" if create else b"0")

    def _acquire_call(self, user: str, n: int) -> Call:
        """The call of one consume; ``n`` is checked before anything is sent."""
        check_n(n)
        return self.key(user), (ACQUIRE, self._default_arg, n, self._ids.next())

    def _acquire_calls(self, requests: Iterable[tuple[str, int]]) -> tuple[list[tuple[str, int]], list[Call]]:
        """The calls of a batch of consumes, every ``(user, n)`` checked before anything is sent."""
        wanted: list[tuple[str, int]] = []
        calls: list[Call] = []
        key, default, ids = self.key, self._default_arg, self._ids
        for request in requests:
            try:
                user, n = request
            except (TypeError, ValueError):
                raise TypeError(f"try_acquire_many takes (user, n) pairs (got {request!r})") from None
            check_n(n)
            calls.append((key(user), (ACQUIRE, default, n, ids.next())))
            wanted.append((user, n))
        return wanted, calls

    def _peek_calls(self, users: list[str]) -> list[Call]:
        return [(self.key(user), self._peek_args) for user in users]

    # -- making sense of replies -----------------------------------------------------

    def _decision_after(self, exc: Exception, key: str) -> Decision:
        """The answer to a consume that failed with ``exc``: ``on_error``'s, or an exception."""
        error = self._translate(exc, key)
        if isinstance(error, RedisUnavailable) and self.on_error != "raise":
            return script.fallback_decision(self.on_error, self.default)
        self._raise_translated(error, exc)

    def _decisions(self, wanted: list[tuple[str, int]], calls: list[Call], replies: Sequence[Any]) -> list[Decision]:
        """The decisions of a batch, in order. A failure is raised after the whole batch ran.

        Redis unreachable for some calls: ``on_error`` answers them (``"raise"``:
        `RedisUnavailable`). An ``n`` above its ceiling or a corrupt bucket raises
        as `try_acquire` would. A raised error carries ``.decisions``: every
        decision of the batch, None where there is none (the others took effect).
        """
        decisions: list[Decision | None] = []
        first: Exception | None = None
        for (user, n), (key, _), reply in zip(wanted, calls, replies):
            try:
                if isinstance(reply, Exception):
                    decisions.append(self._decision_after(reply, key))
                else:
                    decisions.append(script.decision_of(reply, n, user))
            except (LimiterError, rexc.RedisError) as exc:
                decisions.append(None)
                first = first or exc
        if first is not None:
            first.decisions = decisions  # type: ignore[attr-defined]
            raise first
        return decisions  # type: ignore[return-value]

    def _states(self, users: list[str], replies: Sequence[Any]) -> list[BucketState | CorruptBucket | None]:
        """`peek_many`'s answers: a corrupt bucket in place as its `CorruptBucket`; anything else raises."""
        out: list[BucketState | CorruptBucket | None] = []
        for user, reply in zip(users, replies):
            if isinstance(reply, Exception):
                error = self._translate(reply, self.key(user))
                if not isinstance(error, CorruptBucket):
                    self._raise_translated(error, reply)
                out.append(error)
            else:
                out.append(script.state_of(reply, user))
        return out

    def _raise(self, exc: rexc.RedisError, key: str) -> NoReturn:
        self._raise_translated(self._translate(exc, key), exc)

    @staticmethod
    def _raise_translated(error: BaseException, cause: BaseException) -> NoReturn:
        if error is cause:
            raise error
        raise error from (cause if isinstance(error, RedisUnavailable) else None)

    def _translate(self, exc: BaseException, key: str) -> BaseException:
        """The exception to raise for a Redis error during a script call.

        Wrong credentials or missing ACL rights are a misconfiguration, not an
        outage: they are raised as they are, whatever ``on_error`` says, so a
        bad password cannot silently fail open (or closed) forever.
        """
        if isinstance(exc, (rexc.AuthenticationError, rexc.AuthorizationError, rexc.NoPermissionError)):
            return exc
        if isinstance(exc, rexc.MaxConnectionsError):  # the client's own pool: never an outage
            return PoolExhausted(pool_size(self.client), self.deadline)
        if isinstance(exc, rexc.ResponseError):
            translated = script.translate_response_error(exc, key)
            if translated is not None:
                return translated
        if script.is_unavailable(exc):
            return RedisUnavailable(f"Redis unavailable: {exc}")
        return exc


def warn_without_timeout(client: Any, stacklevel: int = 3) -> None:
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



