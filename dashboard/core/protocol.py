"""The data the dashboard shows, and the `Backend` protocol that produces it.

Screens and CLI commands only ever talk to a `Backend`; `RedisBackend`
(dashboard/core/backend.py) is the real one. Everything here is plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import AsyncIterator, Protocol

from limiter.config import BucketConfig
from limiter.types import BucketState


@dataclass(frozen=True, slots=True)
class ShadowRow:
    """A bucket's shadow settings (a preview) as of the same poll: its own level and counters."""

    tokens: int  # refill applied, as of the poll's Redis time
    config: BucketConfig
    granted: int  # what the shadow settings answered since the shadow was set
    denied: int
    grants_per_s: float | None = None  # from counter deltas between polls; None on first sight
    denials_per_s: float | None = None


@dataclass(frozen=True, slots=True)
class BucketRow:
    """One bucket as of one poll."""

    user: str
    tokens: int
    config: BucketConfig
    granted: int  # counters since the bucket state was created
    denied: int
    overridden: bool  # operator settings in force
    ttl_ms: int | None  # None: persists
    grants_per_s: float | None = None  # from counter deltas between polls; None on first sight
    denials_per_s: float | None = None
    # Callers that disagree on the default: how many times one replaced another's,
    # and the last default so replaced (None if never). See the README's data model.
    default_changes: int = 0
    other_default: BucketConfig | None = None
    shadow: ShadowRow | None = None  # shadow settings being previewed, if any
    # The level's tick anchor (µs, Redis time) after the refill to the poll's time, as
    # `RedisLimiter.peek` reports it; None where the producer does not know it.
    anchor_us: int | None = None

    @property
    def ceiling(self) -> int:
        return self.config.ceiling

    @property
    def callers_disagree(self) -> bool:
        """Services send different default settings for this bucket (and no operator settings pin it)."""
        return self.default_changes > 0 and self.other_default is not None and not self.overridden

    @property
    def fill(self) -> float:
        """0.0 … 1.0 of the ceiling."""
        return self.tokens / self.config.ceiling


@dataclass(frozen=True, slots=True)
class InvalidKey:
    """A key under the prefix that is not a valid bucket (wrong type, corrupt fields, foreign name)."""

    key: str
    reason: str


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    mode: str  # standalone | sentinel | cluster | embedded
    server: str  # host:port of the primary (or "n primaries"), never a password
    version: str = ""  # redis_version of the server
    detail: str = ""  # e.g. "primary 127.0.0.1:6380 via 3 sentinels"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The result of one poll."""

    taken_at: float  # time.time() on the dashboard host, for display
    redis_time_us: int  # Redis TIME when the buckets were read
    buckets: tuple[BucketRow, ...]
    invalid: tuple[InvalidKey, ...]
    poll_seconds: float  # how long discovery + reads took
    latency_ms: float  # one PING round trip


@dataclass(frozen=True, slots=True)
class LoadSpec:
    user: str
    rate: float  # requests per second (open loop)
    duration: float  # seconds
    concurrency: int = 4
    tokens: int = 1  # per request


@dataclass(frozen=True, slots=True)
class LoadProgress:
    """Counters while a load runs (and, with ``done=True``, the final report)."""

    spec: LoadSpec
    elapsed: float
    sent: int
    granted: int
    denied: int
    errors: int
    p50_ms: float | None
    p99_ms: float | None
    achieved_rate: float
    done: bool = False
    cancelled: bool = False
    # Added by the load generator (core/loadgen.py); all optional for other producers.
    queued: int = 0  # requests that found every worker busy at their scheduled time (Redis too slow)
    lag_p99_ms: float | None = None  # p99 of (start - scheduled time): how late requests left
    last_error: str = ""  # the most recent error, if errors > 0
    target: int = 0  # requests the run will send in all (rate x duration)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: str  # stream entry id
    when: float  # epoch seconds (Redis time)
    who: str  # OS user@host (or the configured operator name)
    action: str  # configure | unconfigure | reset | delete
    user: str
    old: dict[str, object] | None
    new: dict[str, object] | None


@dataclass(slots=True)
class History:
    """Token levels over time for one user: parallel ring buffers, oldest first."""

    times: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    ceiling: int = 1
    # The shadow's level beside each sample (None where the bucket had no shadow);
    # empty when it had none in the whole history. Its ceiling as of the newest shadow sample.
    shadow: list[int | None] = field(default_factory=list)
    shadow_ceiling: int | None = None
    ceilings: list[int] = field(default_factory=list)  # the ceiling at each sample (settings change)
    grants_per_s: list[float | None] = field(default_factory=list)  # the row's rates at each sample (None: first sight)
    denials_per_s: list[float | None] = field(default_factory=list)


class LoadStream(Protocol):
    """A running load: iterate it for progress (the last item has ``done=True``).

    ``cancel()`` stops it gracefully (no new requests, in-flight ones answer, the
    iteration ends with a partial report, ``cancelled=True``); closing the iterator
    or cancelling the consuming task stops it at once, and `final` still holds the
    partial report.
    """

    final: LoadProgress | None

    def __aiter__(self) -> AsyncIterator[LoadProgress]: ...

    def cancel(self) -> None: ...

    async def aclose(self) -> None: ...


class Backend(Protocol):
    """Everything the dashboard and the CLI need from Redis: they use nothing else.

    Every method that talks to Redis raises `limiter.RedisUnavailable` when it
    cannot be reached; the writes raise `dashboard.core.errors.ReadOnlyError` on a
    read-only backend and `NoSuchBucket` for a user with no bucket (unless created).
    """

    info: ConnectionInfo  # mode and server (never a password); version once connected
    read_only: bool
    prefix: str  # the key prefix: buckets are <prefix>:{<user>}
    default: BucketConfig  # the settings users without operator settings get from this backend

    async def connect(self) -> ConnectionInfo:
        """Check the connection and learn the server version (and a Sentinel's primary); returns `info`."""
        ...

    # ---- reading
    async def poll(self) -> Snapshot: ...

    async def bucket(self, user: str) -> BucketRow | None:
        """One bucket as a poll would show it; None when it has no state."""
        ...

    async def peek(self, user: str) -> BucketState | None:
        """The bucket as the script sees it with this backend's default (runs the script: a load's rights)."""
        ...

    async def audit(self, limit: int = 100) -> list[AuditEntry]: ...

    # ---- changing (audited); None: nothing to change, nothing written or audited
    async def configure(self, user: str, config: BucketConfig, *, create: bool = True) -> AuditEntry | None: ...

    async def unconfigure(self, user: str) -> AuditEntry | None: ...

    async def reset(self, user: str) -> AuditEntry: ...

    async def delete(self, user: str) -> AuditEntry: ...

    # ---- shadow settings (a preview on live traffic; audited). None: nothing changed.
    async def shadow(self, user: str, config: BucketConfig, *, create: bool = False) -> AuditEntry | None:
        """Preview ``config`` on ``user``'s bucket (`NoSuchBucket` unless ``create``); None when already previewed."""
        ...

    async def promote(self, user: str) -> AuditEntry | None:
        """Make the shadow settings the operator settings (a live change); None when there is no shadow."""
        ...

    async def discard_shadow(self, user: str) -> AuditEntry | None:
        """Drop the shadow settings; None when there is no shadow."""
        ...

    # ---- load
    async def check_load(self, spec: LoadSpec) -> BucketRow | None:
        """Refuse up front what can never succeed; returns the bucket, to pass to `load`."""
        ...

    def load(self, spec: LoadSpec, *, bucket: BucketRow | None = None) -> LoadStream:
        """Fire load at ``spec.user`` (using ``bucket``'s own stored settings as default when given)."""
        ...

    async def aclose(self) -> None: ...
