"""Read every bucket at once and compute its level as of Redis time.

One poll = discovery (SCAN) + one pipelined ``HMGET <9 fields>`` and ``PTTL``
per bucket + ``TIME``. Levels are then computed here with `limiter.model`, the
same integer functions the Lua script ports, so a row shows exactly what
`RedisLimiter.peek` (and so an acquire) would see at that instant, without
running a script per bucket and without write or EVAL permissions (a read-only
ACL user can poll).

Which settings apply: with ``default=None`` (the dashboard's choice) a bucket's
stored settings, i.e. those of the service that last touched it. With a
``default``, exactly `peek`'s rule: a bucket without operator settings whose
stored settings differ from that default is first settled and switched to it.

Clock: standalone and Sentinel send ``TIME`` in the same pipeline, after the
reads, so the clock is never behind a state it reads. A Cluster has one clock
per primary; a poll uses one node's ``TIME`` for all buckets, so a key on
another primary is off by that clock skew (NTP: well under a tick).

Rates: grants/s and denials/s are counter deltas over Redis time between two
polls. A counter that went down (reset, delete, expiry) gives None for that
poll, like a bucket seen for the first time.
"""

from __future__ import annotations

import contextlib
import gc
import re
import time
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from pydantic import ValidationError

from dashboard.core import resp
from dashboard.core.discovery import SCAN_COUNT, Discovery, discover, display_key
from dashboard.core.protocol import BucketRow, InvalidKey, ShadowRow, Snapshot
from limiter.config import BucketConfig
from limiter.model import MAX_SAFE_INT, Level, Settings, ceil_div, change, refill

FIELDS = ("tokens", "anchor_us", "max_tokens", "burst", "refill_count", "interval_us", "operator", "granted", "denied",
          "default_changes", "other_default",  # these two exist only once callers disagreed
          "shadow")  # only while the bucket has shadow settings (see `shadow_row`)
_FIELDS_B = tuple(f.encode() for f in FIELDS)
CHUNK = 10_000  # buckets per pipeline: bounds the reply buffer (~1.5 MB) and the time one batch holds a connection

# The reply to `HMGET key <12 fields>` + `PTTL key` when the nine bucket fields are
# plain non-negative integers (every bucket the script wrote), the disagreement
# record is absent or well-formed and there is no shadow: matched in C, in one go. At most 16 digits each
# (< 10**16): longer values take the general path, which checks every rule.
_BUCKET_REPLY = re.compile(
    rb"\*12\r\n" + rb"\$\d+\r\n(\d{1,16})\r\n" * 9
    + rb"(?:\$-1\r\n|\$\d+\r\n(\d{1,16})\r\n)(?:\$-1\r\n|\$\d+\r\n(\d+ \d+ \d+ \d+)\r\n)" + rb"\$-1\r\n" + rb":(-?\d+)\r\n"
)
_HMGET_TAIL = b"".join(b"$%d\r\n%s\r\n" % (len(f), f) for f in _FIELDS_B)


class ReadError(Exception):
    """A bucket hash that the script would refuse; the message is the reason."""


# --------------------------------------------------------------------------- values


def _lua_int(raw: object, lo: int) -> int:
    """A stored number as the script's ``int()`` reads it: plain decimal digits, in [lo, 2**53)."""
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, (bytes, str)) and raw.isascii() and raw.isdigit():
        value = int(raw)
    else:
        text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)
        raise ReadError(f"field value {text[:40]!r} is not a plain whole number")
    if value < lo or value > MAX_SAFE_INT:
        raise ReadError(f"field value {value} is out of range")
    return value


@dataclass(frozen=True, slots=True)
class _Config:
    settings: Settings
    config: BucketConfig


_config_cache: dict[tuple[object, ...], _Config | str] = {}


def _config_of(raw: tuple[object, object, object, object]) -> _Config:
    """Stored settings, validated once per distinct value (most buckets share a few)."""
    hit = _config_cache.get(raw)
    if hit is None:
        hit = _build_config(raw)
        if len(_config_cache) > 10_000:
            _config_cache.clear()  # hostile data must not grow it forever
        _config_cache[raw] = hit
    if isinstance(hit, str):
        raise ReadError(hit)
    return hit


def _build_config(raw: tuple[object, object, object, object]) -> _Config | str:
    try:
        mt, b, rc, iv = (_lua_int(raw[0], 1), _lua_int(raw[1], 0), _lua_int(raw[2], 1), _lua_int(raw[3], 1000))
    except ReadError:
        return "stored settings are not valid integers (max_tokens>=1 burst>=0 refill_count>=1 interval_us>=1000)"
    settings = Settings(mt, b, rc, iv)
    if settings.ceiling > MAX_SAFE_INT or ceil_div(settings.ceiling, rc) * iv > MAX_SAFE_INT:
        return "stored settings exceed 2^53"
    try:
        return _Config(settings, BucketConfig.from_settings(settings))
    except ValidationError as exc:
        return f"stored settings are not valid: {exc.errors()[0]['msg']}"


def _optional(raw: object) -> object:
    return b"0" if raw is None else raw


def _other_default(raw: object) -> BucketConfig | None:
    """The ``other_default`` field ("<max_tokens> <burst> <refill_count> <interval_us>"); None if absent."""
    if raw is None or raw == b"" or raw == "":
        return None
    parts = raw.split() if isinstance(raw, (bytes, str)) else ()
    if len(parts) != 4:
        raise ReadError("has a malformed other_default field; it was not written by tbdash")
    return _config_of(tuple(parts)).config  # type: ignore[arg-type]


# --------------------------------------------------------------------------- rates


class Rates:
    """Grants/s and denials/s per user from counter deltas over Redis time.

    Each poll writes a fresh table (`update` for every bucket, then `finish`),
    so users that disappeared are forgotten and a bucket that comes back starts
    again from "first sight".
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, int, int]] = {}
        self._next: dict[str, tuple[int, int, int]] = {}

    def update(self, user: str, granted: int, denied: int, now_us: int) -> tuple[float | None, float | None]:
        self._next[user] = (granted, denied, now_us)
        previous = self._last.get(user)
        if previous is None:
            return None, None
        g0, d0, t0 = previous
        if now_us <= t0:
            return None, None
        seconds = (now_us - t0) / 1_000_000
        return (
            (granted - g0) / seconds if granted >= g0 else None,
            (denied - d0) / seconds if denied >= d0 else None,
        )

    def finish(self) -> None:
        self._last, self._next = self._next, {}


# --------------------------------------------------------------------------- one row


def build_row(
    user: str,
    values: Sequence[object],
    pttl: int,
    now_us: int,
    default: Settings | None,
    rates: Rates | None,
    shadow_rates: Rates | None = None,
) -> BucketRow:
    """A `BucketRow` from the HMGET values (``FIELDS`` order); raises `ReadError`."""
    tokens_raw, anchor_raw, mt, b, rc, iv, operator_raw, granted_raw, denied_raw = values[:9]
    changes_raw, other_raw = (values[9], values[10]) if len(values) > 9 else (None, None)
    if tokens_raw is None and anchor_raw is None and mt is None:
        raise ReadError("is a hash without bucket fields; it was not written by tbdash")
    if tokens_raw is None or anchor_raw is None or mt is None or b is None or rc is None or iv is None:
        raise ReadError("has missing or non-numeric fields; it was not written by tbdash")
    cfg = _config_of((mt, b, rc, iv))
    try:
        tokens, anchor = _lua_int(tokens_raw, 0), _lua_int(anchor_raw, 0)
        operator = _lua_int(_optional(operator_raw), 0)
        granted, denied = _lua_int(_optional(granted_raw), 0), _lua_int(_optional(denied_raw), 0)
        changes = _lua_int(_optional(changes_raw), 0)
    except ReadError:
        raise ReadError("has missing or non-numeric fields; it was not written by tbdash") from None
    if operator > 1:
        raise ReadError("has missing or non-numeric fields; it was not written by tbdash")
    settings, config = cfg.settings, cfg.config
    if tokens > settings.ceiling:
        raise ReadError("holds more tokens than its ceiling; it was not written by tbdash")
    level = Level(tokens, anchor)
    if default is not None and operator == 0 and settings != default:
        # peek's rule: the caller's default replaces stored settings, settled first.
        level = change(level, settings, default, now_us)
        settings = default
        config = BucketConfig.from_settings(default)
    level = refill(level, settings, now_us)
    other = _other_default(other_raw)
    shadow = shadow_row(user, values[11], now_us, shadow_rates) if len(values) > 11 and values[11] is not None else None
    gps, dps = rates.update(user, granted, denied, now_us) if rates is not None else (None, None)
    return BucketRow(
        user=user,
        tokens=level.tokens,
        config=config,
        granted=granted,
        denied=denied,
        overridden=operator == 1,
        ttl_ms=pttl if pttl >= 0 else None,
        grants_per_s=gps,
        denials_per_s=dps,
        default_changes=changes,
        other_default=other,
        shadow=shadow,
    )


def shadow_row(user: str, raw: object, now_us: int, rates: Rates | None) -> ShadowRow:
    """The ``shadow`` field ("<max_tokens> <burst> <refill_count> <interval_us> <tokens> <anchor_us> <granted> <denied>")
    as the script reads it, its level refilled to ``now_us``; raises `ReadError` for what the script would refuse."""
    parts = raw.split() if isinstance(raw, (bytes, str)) else ()
    if len(parts) != 8:
        raise ReadError("has a corrupt shadow field; it was not written by tbdash")
    try:
        cfg = _config_of(tuple(parts[:4]))  # type: ignore[arg-type]
        tokens, anchor, granted, denied = (_lua_int(v, 0) for v in parts[4:])
    except ReadError:
        raise ReadError("has a corrupt shadow field; it was not written by tbdash") from None
    if tokens > cfg.settings.ceiling:
        raise ReadError("has a corrupt shadow field; it was not written by tbdash")
    gps, dps = rates.update(user, granted, denied, now_us) if rates is not None else (None, None)
    return ShadowRow(refill(Level(tokens, anchor), cfg.settings, now_us).tokens, cfg.config, granted, denied, gps, dps)


def tokens_now(tokens: int, anchor_us: int, settings: Settings, now_us: int) -> int:
    """``limiter.model.refill(Level(tokens, anchor_us), settings, now_us).tokens`` without allocating.

    The same integer arithmetic, line for line; `refill` builds two frozen
    `Level` objects per call, which is most of a poll of 100,000 buckets.
    tests/test_core_poller.py holds the two equal over random inputs.
    """
    ceiling = settings.max_tokens + settings.burst
    if tokens >= ceiling:
        return ceiling
    elapsed = now_us - anchor_us
    if elapsed <= 0:
        return tokens
    ticks = elapsed // settings.interval_us
    if ticks >= -(-(ceiling - tokens) // settings.refill_count):
        return ceiling
    return tokens + ticks * settings.refill_count


_ROW_SLOTS = tuple(
    getattr(BucketRow, name).__set__
    for name in ("user", "tokens", "config", "granted", "denied", "overridden", "ttl_ms", "grants_per_s", "denials_per_s",
                 "default_changes", "other_default", "shadow")
)


def new_row(
    user: str,
    tokens: int,
    config: BucketConfig,
    granted: int,
    denied: int,
    overridden: bool,
    ttl_ms: int | None,
    grants_per_s: float | None,
    denials_per_s: float | None,
    default_changes: int = 0,
    other_default: BucketConfig | None = None,
    shadow: ShadowRow | None = None,
) -> BucketRow:
    """``BucketRow(...)`` (positional) at a third of the cost.

    A frozen dataclass sets each field through ``object.__setattr__``; filling
    the slots directly is the same object, 100,000 times a poll cheaper. A
    test checks it equals the normal constructor.
    """
    row = object.__new__(BucketRow)
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11 = _ROW_SLOTS
    s0(row, user)
    s1(row, tokens)
    s2(row, config)
    s3(row, granted)
    s4(row, denied)
    s5(row, overridden)
    s6(row, ttl_ms)
    s7(row, grants_per_s)
    s8(row, denials_per_s)
    s9(row, default_changes)
    s10(row, other_default)
    s11(row, shadow)
    return row


# --------------------------------------------------------------------------- the poller


@dataclass(slots=True)
class _Read:
    """What one batch read produced, before rows are built."""

    values: list[Any]  # per bucket: 12 values (11 when the regex matched: no shadow), or a ResponseError
    pttls: list[int]
    now_us: int


class Poller:
    """Polls every bucket under ``prefix``; keeps the previous counters for rates.

    ``client`` is a ``redis.asyncio`` client (standalone, Sentinel primary, or
    Cluster). ``default``: see the module docstring.
    """

    def __init__(
        self,
        client: Any,
        prefix: str,
        *,
        default: BucketConfig | None = None,
        chunk: int = CHUNK,
        scan_count: int = SCAN_COUNT,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.default = default.settings() if default is not None else None
        self.chunk = chunk
        self.scan_count = scan_count
        self.rates = Rates()
        self.shadow_rates = Rates()  # the same, for the shadow counters of buckets in preview
        self._users: dict[bytes, str] = {}  # bucket key -> user, between polls (pruned by discovery)
        self._requests: dict[bytes, bytes] = {}  # bucket key -> its HMGET + PTTL request, between polls
        self.last_discovery_s = 0.0  # for benchmarks and the status bar
        self.last_read_s = 0.0

    async def poll(self) -> Snapshot:
        started = time.perf_counter()
        latency_ms = await self._ping_ms()
        t0 = time.perf_counter()
        found = await discover(self.client, self.prefix, count=self.scan_count, known=self._users)
        t1 = time.perf_counter()
        read = await self.read(found.keys)
        with _gc_paused():
            buckets, invalid = await self._rows(found, read)
        t2 = time.perf_counter()
        self.last_discovery_s, self.last_read_s = t1 - t0, t2 - t1
        return Snapshot(
            taken_at=time.time(),
            redis_time_us=read.now_us,
            buckets=tuple(buckets),
            invalid=tuple(found.invalid + invalid),
            poll_seconds=t2 - started,
            latency_ms=latency_ms,
        )

    async def _ping_ms(self) -> float:
        t = time.perf_counter()
        await self.client.ping()
        return (time.perf_counter() - t) * 1000

    # ---- reading

    async def read(self, keys: list[bytes | str]) -> _Read:
        if resp.supports(self.client):
            return await self._read_raw(keys)
        return await self._read_pipeline(keys)

    async def _read_raw(self, keys: list[bytes | str]) -> _Read:
        values: list[Any] = []
        pttls: list[int] = []
        now_us = 0
        last = max(0, (len(keys) - 1) // self.chunk)
        requests = self._requests
        if len(requests) > 2 * len(keys) + 1024:  # churn: keep the requests of today's keys only
            requests.clear()
        cached = requests.get

        def request(key: bytes) -> bytes:
            out = requests[key] = b"*%d\r\n$5\r\nHMGET\r\n$%d\r\n%s\r\n%s*2\r\n$4\r\nPTTL\r\n$%d\r\n%s\r\n" % (2 + len(FIELDS), len(key), key, _HMGET_TAIL, len(key), key)
            return out

        for index in range(last + 1):
            batch = [k if isinstance(k, bytes) else k.encode() for k in keys[index * self.chunk : (index + 1) * self.chunk]]
            payload = [cached(k) or request(k) for k in batch]
            if index == last:
                payload.append(b"*1\r\n$4\r\nTIME\r\n")  # after the reads: never behind a state read here
            buf = await resp.exchange(self.client, b"".join(payload))
            pos = _parse_batch(buf, len(batch), values, pttls)
            if index == last:
                now_us = _time_us(resp.parse(buf, pos)[0])
        return _Read(values, pttls, now_us)

    async def _read_pipeline(self, keys: list[bytes | str]) -> _Read:
        values: list[Any] = []
        pttls: list[int] = []
        for start in range(0, len(keys), self.chunk):
            pipe = self.client.pipeline(transaction=False)
            for key in keys[start : start + self.chunk]:
                pipe.hmget(key, FIELDS)
                pipe.pttl(key)
            replies = await pipe.execute(raise_on_error=False)
            for i in range(0, len(replies), 2):
                values.append(replies[i])
                pttls.append(replies[i + 1] if isinstance(replies[i + 1], int) else -1)
        return _Read(values, pttls, _time_us(await self.client.time()))

    # ---- rows

    async def _rows(self, found: Discovery, read: _Read) -> tuple[list[BucketRow], list[InvalidKey]]:
        rows: list[BucketRow] = []
        invalid: list[InvalidKey] = []
        wrong_type: list[int] = []
        now, default, rates = read.now_us, self.default, self.rates
        # Hot loop, 100,000 times a poll: locals only, and a fast path for the
        # replies the regex matched (nine plain digit strings) whose settings are
        # cached and in force. Anything else goes through `build_row`, which
        # checks every rule of the script; both end in `limiter.model.refill`.
        cache_get, last_get, nxt = _config_cache.get, rates._last.get, rates._next
        append, row_of = rows.append, new_row
        for i, (user, values, pttl) in enumerate(zip(found.users, read.values, read.pttls)):
            if type(values) is tuple:  # the regex matched: nine plain digit strings, < 10**16
                cfg = cache_get(values[2:6])
                operator = values[6]
                if type(cfg) is _Config and (operator == b"0" or operator == b"1"):
                    settings = cfg.settings
                    if default is None or operator == b"1" or settings == default:
                        tokens, anchor = int(values[0]), int(values[1])
                        granted, denied = int(values[7]), int(values[8])
                        ceiling = settings.ceiling
                        if tokens <= ceiling and anchor <= MAX_SAFE_INT and granted <= MAX_SAFE_INT and denied <= MAX_SAFE_INT:
                            if tokens < ceiling:
                                tokens = tokens_now(tokens, anchor, settings, now)
                            nxt[user] = (granted, denied, now)
                            previous = last_get(user)
                            gps = dps = None
                            if previous is not None and now > previous[2]:
                                seconds = (now - previous[2]) / 1_000_000
                                if granted >= previous[0]:
                                    gps = (granted - previous[0]) / seconds
                                if denied >= previous[1]:
                                    dps = (denied - previous[1]) / seconds
                            changes, other = values[9], values[10]
                            if changes is None and other is None:
                                append(row_of(user, tokens, cfg.config, granted, denied, operator == b"1", pttl if pttl >= 0 else None, gps, dps))
                                continue
                            other_cfg = cache_get(tuple(other.split())) if other is not None else None
                            if changes is not None and len(changes) <= 16 and type(other_cfg) is _Config:
                                append(row_of(user, tokens, cfg.config, granted, denied, operator == b"1", pttl if pttl >= 0 else None, gps, dps,
                                              int(changes), other_cfg.config))
                                continue  # (otherwise the general path below builds the row)
            if isinstance(values, Exception):
                if "WRONGTYPE" in str(values):
                    wrong_type.append(i)
                else:
                    invalid.append(InvalidKey(display_key(found.keys[i]), f"cannot be read: {values}"))
                continue
            if pttl == -2 and all(v is None for v in values):
                continue  # expired between SCAN and HMGET: an idle bucket, simply gone
            try:
                append(build_row(user, values, pttl, now, default, rates, self.shadow_rates))
            except ReadError as exc:
                invalid.append(InvalidKey(display_key(found.keys[i]), str(exc)))
        rates.finish()
        self.shadow_rates.finish()
        if wrong_type:
            invalid += await self._wrong_types([found.keys[i] for i in wrong_type])
        return rows, invalid

    async def _wrong_types(self, keys: list[bytes | str]) -> list[InvalidKey]:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.type(key)
        types = await pipe.execute(raise_on_error=False)
        out = []
        for key, kind in zip(keys, types):
            name = kind.decode() if isinstance(kind, bytes) else str(kind)
            out.append(InvalidKey(display_key(key), f"is not a hash ({name}); it was not written by tbdash"))
        return out


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic GC while 100,000 rows are built: the young-generation passes it
    would trigger keep re-walking the growing list (the rows form no cycles)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _parse_batch(buf: bytes, count: int, values: list[Any], pttls: list[int]) -> int:
    """Append ``count`` (HMGET, PTTL) reply pairs from ``buf`` to ``values``/``pttls``; return the end."""
    pos = 0
    match = _BUCKET_REPLY.match
    for _ in range(count):
        m = match(buf, pos)
        if m is not None:
            groups = m.groups()
            values.append(groups[:11])
            pttls.append(int(groups[11]))
            pos = m.end()
            continue
        hm, pos = resp.parse(buf, pos)  # nulls, odd values, errors: the general parser
        ttl, pos = resp.parse(buf, pos)
        values.append(hm)
        pttls.append(ttl if isinstance(ttl, int) else -1)
    return pos


def _time_us(reply: Any) -> int:
    if isinstance(reply, dict):  # a cluster client asked several nodes: any one will do
        reply = next(iter(reply.values()))
    if isinstance(reply, Exception):
        raise reply
    seconds, micros = reply
    return int(seconds) * 1_000_000 + int(micros)

