"""Token levels over time, per user: ring buffers fed from snapshots.

Memory is bounded twice: each user keeps the last ``length`` samples (a
``deque(maxlen=length)``), and at most ``max_users`` users are tracked at once,
so 100,000 buckets do not cost 100,000 histories. Users someone `watch`es
(the graph's selection) are always tracked; the others are tracked first come,
first served while there is room. A user not seen for ``forget_after`` seconds
is dropped. A bucket in preview (shadow settings) keeps its shadow's level and
ceiling in the same sample, so the graph draws both on one time axis; a
sample of a bucket without a shadow holds ``None`` there (no extra object).

Each sample also holds the row's grants/s and denials/s of that poll (None on
first sight), for the graph's rate mode: the same bound, two floats a sample.

With ``only_watched=True`` (the dashboard: it watches the rows its table holds
and the graphed users) the store keeps exactly the watched users once a watch
is set: a poll costs the watched rows, and a user that leaves the table or
disappears leaves nothing behind.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable

from dashboard.core.protocol import BucketRow, History, Snapshot

ShadowLevel = tuple[int, int]  # the shadow's (tokens, ceiling)
# (time in epoch seconds, tokens, ceiling, shadow or None, grants/s, denials/s)
Sample = tuple[float, int, int, ShadowLevel | None, float | None, float | None]


class HistoryStore:
    def __init__(self, length: int = 300, *, max_users: int = 2_000, forget_after: float = 600.0, only_watched: bool = False) -> None:
        if length < 1:
            raise ValueError("history length must be >= 1")
        self.length = length
        self.max_users = max_users
        self.forget_after = forget_after
        self._samples: dict[str, deque[Sample]] = {}
        self._last_seen: dict[str, float] = {}
        self._rows: dict[str, BucketRow] = {}  # each tracked user's newest row (a reference: no copy)
        self._newest: float | None = None  # the time of the last poll fed
        self._watched: set[str] = set()
        self.only_watched = only_watched

    def watch(self, users: Iterable[str]) -> None:
        """Always track these users (e.g. the ones selected for the graph), replacing the previous set."""
        self._watched = set(users)

    def feed(self, snapshot: Snapshot) -> None:
        # Redis time: one clock for every sample, whatever host the dashboard runs on.
        now = snapshot.redis_time_us / 1_000_000 if snapshot.redis_time_us else snapshot.taken_at
        samples, seen, rows = self._samples, self._last_seen, self._rows
        watched = self._watched
        only = self.only_watched and bool(watched)
        for row in snapshot.buckets:
            if only and row.user not in watched:
                continue
            ring = samples.get(row.user)
            if ring is None:
                if len(samples) >= self.max_users and row.user not in self._watched:
                    continue
                ring = samples[row.user] = deque(maxlen=self.length)
            shadow = row.shadow
            ring.append((now, row.tokens, row.config.max_tokens + row.config.burst,
                         None if shadow is None else (shadow.tokens, shadow.config.max_tokens + shadow.config.burst),
                         row.grants_per_s, row.denials_per_s))
            seen[row.user] = now
            rows[row.user] = row
        self._newest = now
        self._forget(now)

    def _forget(self, now: float) -> None:
        if self.only_watched and self._watched:
            # Watched and in this poll, or gone: a bucket that vanished leaves nothing behind.
            seen = self._last_seen
            for user in [u for u in self._samples if u not in self._watched or seen[u] != now]:
                self._drop(user)
            return
        stale = [u for u, t in self._last_seen.items() if now - t > self.forget_after and u not in self._watched]
        for user in stale:
            self._drop(user)
        if len(self._samples) > self.max_users:
            # Room was made for watched users: evict the least recently seen unwatched ones.
            extra = len(self._samples) - self.max_users
            for user in sorted((u for u in self._samples if u not in self._watched), key=self._last_seen.__getitem__)[:extra]:
                self._drop(user)

    def _drop(self, user: str) -> None:
        self._samples.pop(user, None)
        self._last_seen.pop(user, None)
        self._rows.pop(user, None)

    def latest(self, user: str) -> BucketRow | None:
        """The user's row of the newest poll that had it (None: not tracked, or gone from the last poll)."""
        row = self._rows.get(user)
        return row if row is not None and self._last_seen.get(user) == self._newest else None

    def get(self, user: str) -> History:
        """The user's samples, oldest first (empty if not tracked)."""
        ring = self._samples.get(user)
        if not ring:
            return History()
        times, tokens, ceilings, shadows, grants, denials = zip(*ring)
        history = History(times=list(times), tokens=list(tokens), ceiling=ceilings[-1], ceilings=list(ceilings),
                          grants_per_s=list(grants), denials_per_s=list(denials))
        if any(s is not None for s in shadows):
            history.shadow = [None if s is None else s[0] for s in shadows]
            history.shadow_ceiling = next(s[1] for s in reversed(shadows) if s is not None)
        return history

    def samples(self, user: str) -> list[Sample]:
        return list(self._samples.get(user, ()))

    def users(self) -> list[str]:
        return list(self._samples)

    def __contains__(self, user: object) -> bool:
        return user in self._samples

    def __len__(self) -> int:
        return len(self._samples)

    def clear(self) -> None:
        self._samples.clear()
        self._last_seen.clear()
        self._rows.clear()
