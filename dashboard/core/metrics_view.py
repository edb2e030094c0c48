"""What one poll becomes for Prometheus: the top N buckets by denials, and aggregates over all of them.

Computed once per poll (`MetricsView.of`), so a scrape only renders at most N
rows, however many buckets there are and however often Prometheus scrapes.

Why a bound: every distinct label value is a time series Prometheus keeps in
memory and on disk. One series per user and metric at 100,000 users would be a
million series from one exporter, growing with traffic a service does not
control. So only the `top_n` buckets with the most denials get a ``user``
label; every bucket counts in the aggregates. Ranked by the denial COUNTER
(ties: more grants, then the user id), not by the current rate: membership
then changes slowly, and a series that keeps leaving and re-entering the set
would break ``rate()`` in Prometheus.

Label values are user ids: hostile. `label_value` escapes them with the
project's rule (`dashboard.core.untrusted.shown`) and two more: a backslash
is written ``\\x5c``, so two different ids never share a label (two series
with the same labels make Prometheus reject the whole scrape); an id longer
than `MAX_LABEL` is cut and ends in a hash of the whole id (a per-scrape
``label_value_length_limit`` would otherwise fail every scrape).
"""

from __future__ import annotations

import hashlib
import heapq
from dataclasses import dataclass
from typing import Callable, Protocol

from dashboard.core.protocol import BucketRow, Snapshot
from dashboard.core.untrusted import raw_bytes, shown
from limiter.config import BucketConfig

MAX_LABEL = 200  # characters of a label value, escapes included


class Shadow(Protocol):
    """The shadow (preview) settings of a bucket, as SPEC §3's ``ShadowState`` has them."""

    @property
    def tokens(self) -> int: ...

    @property
    def config(self) -> BucketConfig: ...

    @property
    def granted(self) -> int: ...

    @property
    def denied(self) -> int: ...


ShadowOf = Callable[[BucketRow], "Shadow | None"]


def row_shadow(row: BucketRow) -> Shadow | None:
    """The bucket's shadow (preview) settings as the poll read them, or None."""
    return row.shadow


def label_value(user: str) -> str:
    """A user id as a Prometheus label value: safe to show, one label per id, bounded in length."""
    text = shown(user.replace("\\", "\\x5c"))
    if len(text) <= MAX_LABEL:
        return text
    digest = hashlib.sha256(raw_bytes(user)).hexdigest()[:16]
    return f"{text[: MAX_LABEL - 20]}...#{digest}"


@dataclass(frozen=True, slots=True)
class ExportedBucket:
    label: str
    row: BucketRow
    shadow: Shadow | None


@dataclass(frozen=True, slots=True)
class MetricsView:
    """One poll, ready to render."""

    buckets: tuple[ExportedBucket, ...]  # the top N by denials, most first
    count: int  # every bucket seen
    empty: int  # buckets with no token left
    shadowed: int  # buckets with shadow settings
    invalid: int  # keys under the prefix that are not valid buckets
    granted_total: int  # see ObservedTotals
    denied_total: int
    taken_at: float  # epoch seconds, the exporter host's clock
    poll_seconds: float
    redis_latency_s: float

    @classmethod
    def of(cls, snapshot: Snapshot, top_n: int, totals: ObservedTotals, shadow_of: ShadowOf = row_shadow) -> MetricsView:
        rows = snapshot.buckets
        empty, shadowed = totals.update(rows, shadow_of)
        top = heapq.nsmallest(top_n, rows, key=_rank)
        exported: list[ExportedBucket] = []
        seen: set[str] = set()
        for row in top:
            label = label_value(row.user)
            if label in seen:  # only a sha256 collision of two long ids: drop the second, never a duplicate series
                continue
            seen.add(label)
            exported.append(ExportedBucket(label, row, shadow_of(row)))
        return cls(
            buckets=tuple(exported),
            count=len(rows),
            empty=empty,
            shadowed=shadowed,
            invalid=len(snapshot.invalid),
            granted_total=totals.granted,
            denied_total=totals.denied,
            taken_at=snapshot.taken_at,
            poll_seconds=snapshot.poll_seconds,
            redis_latency_s=snapshot.latency_ms / 1000,
        )


def _rank(row: BucketRow) -> tuple[int, int, str]:
    return (-row.denied, -row.granted, row.user)


class ObservedTotals:
    """Grants and denials of every bucket, as counters that never go down.

    The plain sum of the buckets' own counters drops whenever an idle bucket
    expires or one is reset or deleted, and Prometheus would read each drop as
    a counter reset (a huge false ``rate()``). So the totals start at that sum
    on the first poll and then add each bucket's increase between polls: a
    counter that went down (the bucket was reset, or expired and came back)
    adds its new value, a bucket seen for the first time adds all of its own.
    Grants of a bucket that is made and expires between two polls are missed.
    """

    def __init__(self) -> None:
        self.granted = 0
        self.denied = 0
        self._last: dict[str, tuple[int, int]] = {}

    def update(self, rows: tuple[BucketRow, ...], shadow_of: ShadowOf = row_shadow) -> tuple[int, int]:
        """Add this poll's increases; returns (empty buckets, buckets with a shadow), counted in the same pass."""
        last_get = self._last.get
        now: dict[str, tuple[int, int]] = {}
        granted = denied = empty = shadowed = 0
        for row in rows:
            g, d = row.granted, row.denied
            now[row.user] = (g, d)
            previous = last_get(row.user)
            if previous is None:
                granted += g
                denied += d
            else:
                granted += g - previous[0] if g >= previous[0] else g
                denied += d - previous[1] if d >= previous[1] else d
            if row.tokens == 0:
                empty += 1
            if shadow_of(row) is not None:
                shadowed += 1
        self._last = now
        self.granted += granted
        self.denied += denied
        return empty, shadowed
