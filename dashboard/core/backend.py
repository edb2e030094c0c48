"""`RedisBackend`: the `Backend` protocol on a ``redis.asyncio`` client.

Reads go through the `Poller` (SCAN + pipelined HMGET, no scripts, so a
read-only ACL user can watch). Changes go through `AsyncRedisLimiter` (the
one Lua script) and are then written to the audit stream; in read-only mode
every mutation, load included, raises `ReadOnlyError` before touching Redis.
Connection failures surface as `limiter.RedisUnavailable` whose message names
the server (never a password).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar

from redis import exceptions as rexc

from dashboard.connection import Embedded, Target, TargetMode, connect_target, describe_target, parse_target
from dashboard.core.audit import DEFAULT_MAXLEN, AuditLog, operator_identity, state_dict
from dashboard.core.errors import AuditWriteFailed, LoadSpecError, NoSuchBucket, ReadOnlyError
from dashboard.core.loadgen import OpenLoopLoad, check_spec
from dashboard.core.poller import FIELDS, Poller, ReadError, _time_us, build_row
from dashboard.core.untrusted import shown
from dashboard.core.protocol import AuditEntry, Backend, BucketRow, ConnectionInfo, LoadSpec, Snapshot
from dashboard.settings import DEFAULT_BUCKET, TbdashSettings
from limiter.async_limiter import AsyncRedisLimiter
from limiter.config import BucketConfig
from limiter.errors import CorruptBucket, RedisUnavailable
from limiter.keys import DEFAULT_PREFIX, bucket_key, validate_prefix
from limiter.script import is_unavailable
from limiter.types import BucketState

T = TypeVar("T")


class RedisBackend:
    """The real `Backend`. Build it with `from_settings` (or `from_url`), then ``await connect()``."""

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = DEFAULT_PREFIX,
        default: BucketConfig = DEFAULT_BUCKET,
        info: ConnectionInfo | None = None,
        read_only: bool = False,
        who: str | None = None,
        audit_maxlen: int = DEFAULT_MAXLEN,
        on_close: Callable[[], None] | None = None,
        idle_ttl: float = 60.0,
    ) -> None:
        self.client = client
        self.prefix = validate_prefix(prefix)
        self.default = default
        self.read_only = read_only
        self.info = info or ConnectionInfo(mode="standalone", server="?")
        self.who = operator_identity(who)
        # on_error="raise": an operator must see that Redis is down, never a made-up answer.
        self.idle_ttl = idle_ttl
        self.limiter = AsyncRedisLimiter(client, prefix=self.prefix, default=default, on_error="raise", idle_ttl=idle_ttl)
        self.poller = Poller(client, self.prefix)
        self.audit_log = AuditLog(client, self.prefix, who=self.who, maxlen=audit_maxlen)
        self._on_close = on_close
        self._closed = False

    # ---- construction

    @classmethod
    def from_settings(
        cls,
        settings: TbdashSettings,
        *,
        url: str | None = None,
        embedded: bool = False,
        read_only: bool | None = None,
        who: str | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> RedisBackend:
        """A backend for ``settings``; ``url`` overrides ``[redis]`` (``embedded``: it is tbdash's private server).

        Raises `limiter.connect.InvalidConnection` for a bad URL and
        `dashboard.connection.EmbeddedNotStarted` for ``embedded://`` (the caller
        starts that server and passes its ``url``).
        """
        target = parse_target(url) if url is not None else settings.connection_spec()
        client = connect_target(target, asyncio=True)
        return cls(
            client,
            prefix=settings.limiter.prefix,
            default=settings.limiter.default,
            info=info_of(target, "embedded" if embedded else None),
            read_only=settings.dashboard.read_only if read_only is None else read_only,
            who=who if who is not None else settings.dashboard.operator,
            on_close=on_close,
            idle_ttl=settings.limiter.idle_ttl,
        )

    async def connect(self) -> ConnectionInfo:
        """Check the connection (PING) and learn the server version and primary; returns `info`."""
        server_info = await self._guard(lambda: self.client.info("server"))
        if isinstance(server_info, dict) and server_info and all(isinstance(v, dict) for v in server_info.values()):
            first = next(iter(server_info.values()))  # a cluster client answers per node
            nodes = len(server_info)
            version = str(first.get("redis_version", ""))
            self.info = ConnectionInfo(self.info.mode, f"{nodes} primaries", version, self.info.detail)
        else:
            version = str(server_info.get("redis_version", "")) if isinstance(server_info, dict) else ""
            server = self.info.server
            if self.info.mode == "sentinel":
                server = await self._sentinel_primary() or server
            self.info = ConnectionInfo(self.info.mode, server, version, self.info.detail)
        return self.info

    async def _sentinel_primary(self) -> str | None:
        pool = getattr(self.client, "connection_pool", None)
        getter = getattr(pool, "get_master_address", None)
        if getter is None:
            return None
        try:
            host, port = await getter()
        except Exception:
            return None
        return f"{host}:{port}"

    # ---- reading

    async def poll(self) -> Snapshot:
        return await self._guard(self.poller.poll)

    async def peek(self, user: str) -> BucketState | None:
        """The bucket as `RedisLimiter.peek` with this backend's default sees it."""
        return await self._guard(lambda: self.limiter.peek(user))

    async def bucket(self, user: str) -> BucketRow | None:
        """One bucket as the poller shows it: its STORED settings (those of the service
        that last used it), refill applied as of Redis time. None: no state.
        Raises `limiter.CorruptBucket` for a key that is not a valid bucket."""
        key = bucket_key(self.prefix, user)

        async def read() -> tuple[Any, Any, Any]:
            pipe = self.client.pipeline(transaction=False)
            pipe.hmget(key, FIELDS)
            pipe.pttl(key)
            replies = await pipe.execute(raise_on_error=False)
            return replies[0], replies[1], await self.client.time()

        values, pttl, now = await self._guard(read)
        if isinstance(values, Exception):
            if "WRONGTYPE" in str(values):
                raise CorruptBucket(key, "is not a hash; it was not written by tbdash")
            raise values
        if all(v is None for v in values):
            return None
        try:
            return build_row(user, values, pttl if isinstance(pttl, int) else -1, _time_us(now), None, None)
        except ReadError as exc:
            raise CorruptBucket(key, str(exc)) from None

    def _limiter_for(self, row: BucketRow | None) -> AsyncRedisLimiter:
        """A limiter whose default is the bucket's own stored settings when no operator
        settings are in force: a change or a load from tbdash then settles the bucket at
        the settings its service really uses, and never rewrites them with tbdash's
        own ``[limiter.default]`` (which may differ from the service's)."""
        if row is None or row.overridden or row.config == self.default:
            return self.limiter
        return AsyncRedisLimiter(self.client, prefix=self.prefix, default=row.config, on_error="raise", idle_ttl=self.idle_ttl)

    async def audit(self, limit: int = 100) -> list[AuditEntry]:
        return await self._guard(lambda: self.audit_log.read(limit))

    # ---- changing (audited)

    async def configure(self, user: str, config: BucketConfig, *, create: bool = True) -> AuditEntry | None:
        """Make ``config`` the operator settings of ``user``; None when they already are (nothing written).

        ``create=False`` refuses a user with no bucket (`NoSuchBucket`), so a typo
        does not make a persistent bucket. The script itself refuses a missing
        bucket, so one that expires between the read and the write is not re-created.
        """
        self._writable("configure", user)
        old = await self.bucket(user)
        if old is None and not create:
            raise NoSuchBucket(user, self.prefix, "configure")
        if old is not None and old.overridden and old.config == config:
            return None  # a no-op: no write, no audit entry
        new = await self._guard(lambda: self._limiter_for(old).configure(user, config, create=create))
        if new is None:
            raise NoSuchBucket(user, self.prefix, "configure")
        return await self._record("configure", user, old, new)

    async def unconfigure(self, user: str) -> AuditEntry | None:
        """Drop operator settings: this backend's ``default`` applies (until the service's own next call).

        None when there are none to drop (nothing written); `NoSuchBucket` when there is no bucket."""
        self._writable("unconfigure", user)
        old = await self._existing(user, "unconfigure")
        if not old.overridden:
            return None
        new = await self._guard(lambda: self.limiter.unconfigure(user))
        if new is None:  # expired since the read: the script wrote nothing
            raise NoSuchBucket(user, self.prefix, "unconfigure")
        return await self._record("unconfigure", user, old, new)

    async def reset(self, user: str) -> AuditEntry:
        self._writable("reset", user)
        old = await self._existing(user, "reset")
        new = await self._guard(lambda: self._limiter_for(old).reset(user))
        if new is None:
            raise NoSuchBucket(user, self.prefix, "reset")
        return await self._record("reset", user, old, new)

    async def delete(self, user: str) -> AuditEntry:
        self._writable("delete", user)
        old = await self._existing(user, "delete")
        if not await self._guard(lambda: self.limiter.delete(user)):
            raise NoSuchBucket(user, self.prefix, "delete")
        return await self._record("delete", user, old, None)

    # ---- shadow settings (audited)

    async def shadow(self, user: str, config: BucketConfig, *, create: bool = False) -> AuditEntry | None:
        """Preview ``config`` on ``user``'s live traffic: the bucket gains shadow settings (SPEC §2).

        `NoSuchBucket` for a user with no bucket unless ``create``; None when the
        bucket already previews exactly ``config`` (nothing written or audited).
        Setting other shadow settings starts the shadow again, counters at 0.
        """
        self._writable("shadow", user)
        old = await self.bucket(user)
        if old is None and not create:
            raise NoSuchBucket(user, self.prefix, "preview")
        if old is not None and old.shadow is not None and old.shadow.config == config:
            return None
        new = await self._guard(lambda: self._limiter_for(old).configure(user, config, create=create, shadow=True))
        if new is None:  # expired since the read: the script wrote nothing
            raise NoSuchBucket(user, self.prefix, "preview")
        return await self._record("shadow", user, old, new)

    async def promote(self, user: str) -> AuditEntry | None:
        """The shadow settings become the operator settings (a live change, settled first); None without a shadow."""
        self._writable("promote", user)
        old = await self._existing(user, "promote")
        if old.shadow is None:
            return None
        new = await self._guard(lambda: self._limiter_for(old).promote(user))
        if new is None:  # discarded or expired since the read: nothing written
            return None
        return await self._record("promote", user, old, new)

    async def discard_shadow(self, user: str) -> AuditEntry | None:
        """Drop the shadow settings; None without a shadow (nothing written or audited)."""
        self._writable("discard_shadow", user)
        old = await self._existing(user, "discard")
        if old.shadow is None:
            return None
        new = await self._guard(lambda: self._limiter_for(old).discard_shadow(user))
        if new is None:
            return None
        return await self._record("discard_shadow", user, old, new)

    async def _existing(self, user: str, action: str) -> BucketRow:
        row = await self.bucket(user)
        if row is None:
            raise NoSuchBucket(user, self.prefix, action)
        return row

    async def _record(self, action: str, user: str, old: BucketRow | BucketState | None, new: BucketState | None) -> AuditEntry:
        # The change is done; the stream is in another Cluster slot, so this is a
        # second write that can fail on its own. Say so, never swallow it.
        try:
            return await self.audit_log.write(action, user, state_dict(old), state_dict(new))
        except (rexc.RedisError, OSError) as exc:
            raise AuditWriteFailed(action, user, exc, new) from exc

    def _writable(self, action: str, user: str) -> None:
        if self.read_only:
            raise ReadOnlyError(action, user)

    # ---- load

    def load(self, spec: LoadSpec, *, bucket: BucketRow | None = None) -> OpenLoopLoad:
        """Fire load (see `OpenLoopLoad`): iterate it for progress; ``cancel()`` for a graceful stop.

        ``bucket`` (from `check_load` or a poll): requests then use the bucket's own
        stored settings as default, so a test load never rewrites a service's settings.
        """
        self._writable("load", spec.user)  # consuming tokens is a change too
        check_spec(spec)
        return OpenLoopLoad(self._limiter_for(bucket).try_acquire, spec)

    async def check_load(self, spec: LoadSpec) -> BucketRow | None:
        """Refuse up front what can never succeed (more tokens per request than the
        ceiling); returns the bucket, to pass to `load`."""
        self._writable("load", spec.user)
        check_spec(spec)
        row = await self.bucket(spec.user)
        ceiling = row.config.ceiling if row is not None else self.default.ceiling
        if spec.tokens > ceiling:
            raise LoadSpecError(f"tokens per request ({spec.tokens}) exceed the ceiling of '{shown(spec.user)}' (max_tokens + burst = {ceiling})")
        return row

    # ---- plumbing

    async def _guard(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run a Redis call; connection trouble becomes `RedisUnavailable` naming the server."""
        try:
            return await call()
        except RedisUnavailable as exc:
            raise self._unavailable(exc) from exc
        except (rexc.RedisError, OSError) as exc:
            if isinstance(exc, OSError) or is_unavailable(exc):
                raise self._unavailable(exc) from exc
            raise

    def _unavailable(self, exc: BaseException) -> RedisUnavailable:
        error = RedisUnavailable(f"Redis unavailable at {self.info.server}: {_cause(exc)}")
        error.where = self.info.server  # type: ignore[attr-defined]  # for dashboard.core.failures.explain
        return error

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self.client.aclose()
        finally:
            if self._on_close is not None:
                self._on_close()


def _cause(exc: BaseException) -> str:
    inner = exc.__cause__ if isinstance(exc, RedisUnavailable) and exc.__cause__ is not None else exc
    text = str(inner) or type(inner).__name__
    return text.removeprefix("Redis unavailable: ")


def info_of(target: Target, mode: TargetMode | None = None) -> ConnectionInfo:
    """`ConnectionInfo` for what ``[redis]`` or ``--url`` names (no password, ever)."""
    if target.unix_path is not None:
        server = f"unix:{target.unix_path}"
    elif isinstance(target, Embedded):
        server = "?"
    elif target.mode == "cluster":
        server = f"{len(target.hosts)} seed nodes" if len(target.hosts) != 1 else str(target.hosts[0])
    elif target.mode == "sentinel":
        server = f"{target.service_name} via {','.join(str(h) for h in target.hosts[:3])}"
    else:
        server = str(target.hosts[0]) if target.hosts else "?"
    return ConnectionInfo(mode=mode or target.mode, server=server, detail=describe_target(target))


if TYPE_CHECKING:
    _checked: type[Backend] = RedisBackend  # the type checker holds RedisBackend to the whole protocol
