"""`RedisLimiter`: one token bucket per user in Redis, shared by every process and host."""

from __future__ import annotations

import time
from typing import Any, Iterable

from redis import exceptions as rexc

from limiter import script
from limiter.cluster_calls import ClusterCalls
from limiter.config import BucketConfig
from limiter.core import LimiterCore, warn_without_timeout
from limiter.errors import CorruptBucket
from limiter.sync_calls import calls_for
from limiter.types import BucketState, Decision


class RedisLimiter(LimiterCore):
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
        calls = calls_for(client, self.deadline)
        if isinstance(calls, ClusterCalls) and self.deadline is not None:
            # A Cluster node's reply waits for the node's own socket_timeout:
            # deadline= alone cannot cut it short.
            warn_without_timeout(client, stacklevel=4)
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
        key, args = self._acquire_call(user, n)
        try:
            reply = self._calls.evalsha(key, args, script.FRESH)
        except rexc.RedisError as exc:
            return self._decision_after(exc, key)
        return script.decision_of(reply, n, user)

    def try_acquire_many(self, requests: Iterable[tuple[str, int]]) -> list[Decision]:
        """`try_acquire` for many ``(user, n)`` at once: one pipeline (one per node on a Cluster).

        Each acquire is its own atomic script call, within one deadline for the
        batch; the decisions come back in order. Redis unreachable: ``on_error``
        answers the acquires it concerns. An ``n`` above its ceiling or a
        corrupt bucket raises as `try_acquire` would, once the whole batch ran;
        the exception's ``.decisions`` holds the others (None where none).
        """
        wanted, calls = self._acquire_calls(requests)
        if not calls:
            return []
        try:
            replies = self._calls.evalsha_many(calls, script.FRESH)
        except rexc.RedisError as exc:
            replies = [exc] * len(calls)
        return self._decisions(wanted, calls, replies)

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
        calls = self._peek_calls(users)
        try:
            replies = self._calls.evalsha_many(calls)
        except rexc.RedisError as exc:
            self._raise(exc, calls[0][0])
        return self._states(users, replies)

    def configure(self, user: str, config: BucketConfig, *, create: bool = True, shadow: bool = False) -> BucketState | None:
        """Set operator settings: live, atomic, seen by every process on its next call; they persist.

        A missing bucket is created full at ``config.max_tokens``; with
        ``create=False`` it is left missing (nothing written) and None returned.

        ``shadow=True`` previews ``config`` instead (SPEC §2): the bucket keeps
        its enforced settings and gains a shadow bucket with ``config``, started
        from its state now as this change would make it; every acquire is then
        also counted against the shadow (`BucketState.shadow`,
        `Decision.shadow_allowed`). A missing bucket created so starts at the
        limiter's default. Setting a shadow again starts it again.
        """
        op = "shadow" if shadow else "configure"
        return script.state_of(self._call(user, op, *self._configure_args(config, create)), user)

    def promote(self, user: str) -> BucketState | None:
        """Make the shadow settings the operator settings (a live change, settled first) and drop the shadow.

        None, writing nothing, when the bucket has no shadow (or does not exist).
        """
        return script.state_of(self._call(user, "promote"), user)

    def discard_shadow(self, user: str) -> BucketState | None:
        """Drop the shadow settings; the enforced bucket is untouched.

        None, writing nothing, when the bucket has no shadow (or does not exist).
        """
        return script.state_of(self._call(user, "discard"), user)

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

    def _call(self, user: str, op: str, *extra: object) -> Any:
        key = self.key(user)
        try:
            return self._calls.evalsha(key, self._args(op, *extra))
        except rexc.RedisError as exc:
            self._raise(exc, key)
