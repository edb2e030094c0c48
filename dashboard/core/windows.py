"""Grants and denials per bucket over the last 1 min, 5 min and 1 h, from the counters the polls read.

``granted`` and ``denied`` are cumulative counters in each bucket's hash, so the
events of a window are ``counter now - counter at the window's start``. The
store keeps, per bucket and per window, a few counter *samples* at a coarse
resolution (a twelfth of the window: 5 s for 1 min, 25 s for 5 min, 5 min for
1 h), so memory is bounded: at most 14 samples per window, whatever the run's
length, and an idle bucket keeps one.

A sample is ``(first_us, seen_us, granted, denied)``: the counters held those
values at every poll from ``first_us`` to ``seen_us`` (Redis time), so a window
starting anywhere in that stretch is counted exactly. A sample is added at most
once per slot, and only when the counters moved; a bucket whose counters did
not move since the last poll costs one comparison per poll (and one visit at
the next slot when they moved within a slot that had its sample).

What a `WindowCount` promises (never extrapolated, never negative):

* ``span_s`` is exactly the time its counts cover. Normally it equals the
  window. When the window's start falls between two samples (the counters moved
  in a stretch not sampled), the count starts at the sample before, and
  ``span_s`` is longer than the window by at most one slot plus one poll.
* ``partial``: the bucket's history is shorter than the window (the dashboard
  started, or first saw the bucket, less than a window ago); ``span_s`` is the
  history's length, and the counts are the events of that span only.
* A counter that went down (the bucket was deleted, expired or re-created
  between polls) starts the bucket's history again from that poll: its windows
  are partial from there. A bucket missing from a poll is forgotten. (A bucket
  re-created between two polls whose new counters are not below the old ones
  cannot be told apart from the old one: cumulative counters only show a reset
  by going down, as in Prometheus. Its windows then undercount, never overcount.)
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Iterable, Sequence

from dashboard.core.protocol import BucketRow, Snapshot

WINDOWS: tuple[float, ...] = (60.0, 300.0, 3600.0)  # seconds: the 1 min, 5 min and 1 h windows
SLOTS_PER_WINDOW = 12  # a window's resolution is a twelfth of it
_FIELDS = 4  # per sample in a tier's array: first_us, seen_us (or _OPEN), granted, denied
_OPEN = -1  # seen_us of the newest sample while the counters still hold its values
_NEVER = 2**62  # a track's ``due`` when every window's newest sample holds its counters


@dataclass(frozen=True, slots=True)
class WindowCount:
    """Grants and denials of one bucket over (about) one window; see the module docstring."""

    window_s: float  # the window asked for
    granted: int
    denied: int
    span_s: float  # the seconds these counts cover exactly
    partial: bool  # the bucket's history is shorter than the window (span_s < window_s)

    @property
    def requests(self) -> int:
        return self.granted + self.denied

    @property
    def deny_ratio(self) -> float | None:
        """Denials / requests in the span; None when there were no requests."""
        return self.denied / self.requests if self.requests else None


@dataclass(frozen=True, slots=True)
class Throttled:
    """One line of "top throttled": a bucket and its counts in the chosen window."""

    user: str
    count: WindowCount


def _first_samples(now_us: int, granted: int, denied: int) -> array[int]:
    """The samples of one window for one bucket: a flat ``array('q')``, oldest first (8 bytes a field)."""
    return array("q", (now_us, _OPEN, granted, denied))


class _Track:
    """One bucket: its last counters, and one sample array per window."""

    __slots__ = ("granted", "denied", "due", "tiers")

    def __init__(self, now_us: int, granted: int, denied: int, tiers: int) -> None:
        self.granted = granted
        self.denied = denied
        # When a window next needs a sample though the counters did not move (they moved within a slot
        # that had its sample already): the next slot's start. _NEVER: nothing to do until they move.
        self.due = _NEVER
        self.tiers = tuple(_first_samples(now_us, granted, denied) for _ in range(tiers))


class WindowStore:
    """Per-bucket counter samples for a few windows, fed one snapshot per poll.

    ``windows``: the window lengths in seconds (default 1 min, 5 min, 1 h); a
    question about another length up to the longest is answered from the
    shortest window that covers it. Times are Redis time (``Snapshot.redis_time_us``).
    """

    def __init__(self, windows: Sequence[float] = WINDOWS) -> None:
        if not windows or any(w <= 0 for w in windows):
            raise ValueError("windows must be positive lengths in seconds")
        self.windows = tuple(sorted(set(float(w) for w in windows)))
        self._span_us = tuple(round(w * 1_000_000) for w in self.windows)
        self._slot_us = tuple(max(1, s // SLOTS_PER_WINDOW) for s in self._span_us)
        self._tracks: dict[str, _Track] = {}
        self._denying: dict[str, int] = {}  # user -> last poll (ms) that saw its denied counter rise
        self.now_us: int | None = None  # the last poll's Redis time
        self._previous_us: int | None = None
        self._pruned_us = 0

    # ---- feeding

    def feed(self, snapshot: Snapshot) -> None:
        """Take one poll's counters (Redis time: the clock of every sample)."""
        now_us = snapshot.redis_time_us or round(snapshot.taken_at * 1_000_000)
        self.update(now_us, snapshot.buckets)

    def update(self, now_us: int, rows: Iterable[BucketRow]) -> None:
        """Take the counters of every bucket as of ``now_us`` (a poll: buckets not in ``rows`` are forgotten)."""
        if self.now_us is not None and now_us < self.now_us:
            self.clear()  # Redis time went back (another server after a failover): no sample can be trusted
        rows = rows if isinstance(rows, (tuple, list)) else tuple(rows)
        self._previous_us, self.now_us = self.now_us, now_us
        tracks, get, tiers = self._tracks, self._tracks.get, len(self.windows)
        seen = 0
        for row in rows:
            track = get(row.user)
            if track is None:
                tracks[row.user] = _Track(now_us, row.granted, row.denied, tiers)
                seen += 1
                continue
            seen += 1
            if row.granted == track.granted and row.denied == track.denied and now_us < track.due:
                continue  # the common case: nothing moved, no sample due
            self._moved(row.user, track, row.granted, row.denied, now_us)
        if seen < len(tracks):  # some bucket was not in this poll: gone (deleted, expired)
            present = {row.user for row in rows}
            for user in [u for u in tracks if u not in present]:
                del tracks[user]
                self._denying.pop(user, None)
        if now_us - self._pruned_us > self._slot_us[-1]:
            self._pruned_us = now_us
            self._prune_denying(now_us)

    def _moved(self, user: str, track: _Track, granted: int, denied: int, now_us: int) -> None:
        if granted < track.granted or denied < track.denied:
            # A counter went down: a new bucket under the same name. Its history starts here.
            self._tracks[user] = _Track(now_us, granted, denied, len(self.windows))
            return
        if denied > track.denied:
            self._denying[user] = now_us
        track.granted, track.denied = granted, denied
        previous = self._previous_us if self._previous_us is not None else now_us
        due = _NEVER
        for samples, span, slot in zip(track.tiers, self._span_us, self._slot_us):
            last = len(samples) - _FIELDS
            if samples[last + 2] == granted and samples[last + 3] == denied:
                continue
            if samples[last + 1] == _OPEN:
                samples[last + 1] = previous  # the last poll that still saw the newest sample's values
            if now_us // slot > samples[last] // slot:
                samples.extend((now_us, _OPEN, granted, denied))
                _prune(samples, now_us - span)
            else:  # this slot has its sample: take the new values at the next slot
                due = min(due, (samples[last] // slot + 1) * slot)
        track.due = due

    def _prune_denying(self, now_us: int) -> None:
        horizon = now_us - self._span_us[-1] - self._slot_us[-1]
        for user in [u for u, t in self._denying.items() if t < horizon or u not in self._tracks]:
            del self._denying[user]

    # ---- asking

    def count(self, user: str, window_s: float) -> WindowCount | None:
        """``user``'s grants and denials over the last ``window_s`` seconds; None if not tracked."""
        track = self._tracks.get(user)
        if track is None or self.now_us is None:
            return None
        return self._count(track, window_s, self.now_us)

    def counts(self, user: str) -> dict[float, WindowCount]:
        """Every window of the store for ``user`` ({} if not tracked)."""
        track = self._tracks.get(user)
        if track is None or self.now_us is None:
            return {}
        return {w: self._count(track, w, self.now_us) for w in self.windows}

    def _count(self, track: _Track, window_s: float, now_us: int) -> WindowCount:
        tier = self._tier_of(window_s)
        samples = track.tiers[tier]
        window_us = round(window_s * 1_000_000)
        start = now_us - window_us
        base = len(samples) - _FIELDS
        while base > 0 and samples[base] > start:
            base -= _FIELDS
        first, seen = samples[base], samples[base + 1]
        if first > start:  # even the oldest sample is younger than the window: history is shorter
            span_us, partial = now_us - first, True
        else:
            seen = now_us if seen == _OPEN else seen
            span_us, partial = (window_us if start <= seen else now_us - seen), False
        return WindowCount(window_s, track.granted - samples[base + 2], track.denied - samples[base + 3], span_us / 1_000_000, partial)

    def _tier_of(self, window_s: float) -> int:
        for index, length in enumerate(self.windows):
            if window_s <= length:
                return index
        raise ValueError(f"window {window_s:g}s is longer than the longest kept ({self.windows[-1]:g}s)")

    def denying(self, window_s: float) -> list[str]:
        """The users whose denied counter rose in (about) the last ``window_s`` seconds: the only ones
        whose denials in that window can be above zero. Cost: the number of such users."""
        if self.now_us is None:
            return []
        tier = self._tier_of(window_s)
        # A count may reach back one slot and one poll further than the window (see WindowCount).
        reach = round(window_s * 1_000_000) + self._slot_us[tier] + (self.now_us - (self._previous_us or self.now_us))
        horizon = self.now_us - reach
        return [u for u, t in self._denying.items() if t >= horizon and u in self._tracks]

    def top_throttled(self, window_s: float, limit: int | None = None) -> list[Throttled]:
        """Buckets ordered by denials in the window (most first), then by denial ratio, then by user.

        Only buckets with at least one denial in the window; their cost, not all buckets'."""
        out = []
        for user in self.denying(window_s):
            count = self.count(user, window_s)
            if count is not None and count.denied > 0:
                out.append(Throttled(user, count))
        out.sort(key=lambda t: (-t.count.denied, -(t.count.deny_ratio or 0.0), t.user))
        return out if limit is None else out[:limit]

    # ---- size

    def __len__(self) -> int:
        return len(self._tracks)

    def __contains__(self, user: object) -> bool:
        return user in self._tracks

    def samples(self, user: str) -> int:
        """How many samples the store holds for ``user`` (all windows): for tests and benchmarks."""
        track = self._tracks.get(user)
        return sum(len(s) // _FIELDS for s in track.tiers) if track is not None else 0

    def clear(self) -> None:
        self._tracks.clear()
        self._denying.clear()
        self.now_us = self._previous_us = None
        self._pruned_us = 0


def _prune(samples: array[int], horizon_us: int) -> None:
    """Drop the samples no window can start at: keep the newest one at or before ``horizon_us`` and those after."""
    keep = len(samples) - _FIELDS
    while keep > 0 and samples[keep] > horizon_us:
        keep -= _FIELDS
    if keep > 0:
        del samples[:keep]
