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

The rows: dashboard/core/bucket_rows.py (the stored-state rules, the level),
dashboard/core/rates.py (grants/s, denials/s); the field names: limiter/layout.py.
"""

from __future__ import annotations

import contextlib
import gc
import re
import time
from dataclasses import dataclass
from typing import Any, Iterator

from dashboard.core import resp
from dashboard.core.bucket_rows import ReadError, _Config, _config_cache, build_row, new_row, tokens_now
from dashboard.core.discovery import SCAN_COUNT, Discovery, discover, display_key
from dashboard.core.protocol import BucketRow, InvalidKey, Snapshot
from dashboard.core.rates import Rates
from limiter.config import BucketConfig
from limiter.layout import BUCKET_FIELDS, DISAGREEMENT_FIELDS, SHADOW_FIELDS
from limiter.model import MAX_SAFE_INT, refilled

__all__ = ["CHUNK", "FIELDS", "Poller", "Rates", "ReadError", "build_row", "new_row", "tokens_now"]

FIELDS = BUCKET_FIELDS
_FIELDS_B = tuple(f.encode() for f in FIELDS)
_PLAIN = len(FIELDS) - len(DISAGREEMENT_FIELDS) - len(SHADOW_FIELDS)  # the fields every bucket the script wrote holds, as integers
CHUNK = 10_000  # buckets per pipeline: bounds the reply buffer (~1.5 MB) and the time one batch holds a connection

# The reply to `HMGET key <11 fields>` + `PTTL key` when the nine bucket fields are
# plain non-negative integers (every bucket the script wrote) and the disagreement
# record is absent (a RESP2 or RESP3 null: redis-py 8 speaks RESP3) or well-formed,
# and there is no shadow: matched in C, in one go. At most 16 digits each
# (< 10**16): longer values take the general path, which checks every rule.
_BUCKET_REPLY = re.compile(
    rb"\*%d\r\n" % len(FIELDS) + rb"\$\d+\r\n(\d{1,16})\r\n" * _PLAIN
    + rb"(?:\$-1\r\n|_\r\n|\$\d+\r\n(\d{1,16})\r\n)(?:\$-1\r\n|_\r\n|\$\d+\r\n(\d+ \d+ \d+ \d+)\r\n)" + rb"(?:\$-1\r\n|_\r\n)" + rb":(-?\d+)\r\n"
)


# --------------------------------------------------------------------------- the poller


_TIME = resp.pack(b"TIME")


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
            out = requests[key] = resp.pack(b"HMGET", key, *_FIELDS_B) + resp.pack(b"PTTL", key)
            return out

        for index in range(last + 1):
            batch = [k if isinstance(k, bytes) else k.encode() for k in keys[index * self.chunk : (index + 1) * self.chunk]]
            payload = [cached(k) or request(k) for k in batch]
            if index == last:
                payload.append(_TIME)  # after the reads: never behind a state read here
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
        cache_get, rate_of = _config_cache.get, rates.update
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
                                tokens, anchor = refilled(tokens, anchor, ceiling, settings.refill_count, settings.interval_us, now)
                            else:
                                anchor = now  # a full bucket's tick starts now (it banks nothing)
                            gps, dps = rate_of(user, granted, denied, now)
                            changes, other = values[9], values[10]
                            if changes is None and other is None:
                                append(row_of(user, tokens, cfg.config, granted, denied, operator == b"1", pttl if pttl >= 0 else None, gps, dps,
                                              0, None, None, anchor))
                                continue
                            other_cfg = cache_get(tuple(other.split())) if other is not None else None
                            if changes is not None and len(changes) <= 16 and type(other_cfg) is _Config:
                                append(row_of(user, tokens, cfg.config, granted, denied, operator == b"1", pttl if pttl >= 0 else None, gps, dps,
                                              int(changes), other_cfg.config, None, anchor))
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

