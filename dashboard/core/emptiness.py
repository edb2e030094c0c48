"""How long each bucket has been empty, across polls.

A bucket is *empty* at a poll when it holds no token as of that poll's Redis
time (the level every acquire would see). "Empty since" is the first poll of
the current run of polls that all saw it empty, so the time it reports is a
lower bound: a bucket that was already empty before the first poll, or that
went empty between two polls, is counted from the poll that saw it. A single
poll that sees a token ends the run. A bucket missing from a poll is forgotten.

Memory and cost follow the empty buckets: only they are kept.
"""

from __future__ import annotations

from typing import Iterable

from dashboard.core.protocol import BucketRow, Snapshot


class EmptySince:
    def __init__(self) -> None:
        self._since: dict[str, int] = {}  # user -> Redis time (µs) of the first poll of its empty run
        self._poll: dict[str, int] = {}  # user -> number of the last poll that saw it empty
        self._polls = 0
        self.now_us: int | None = None

    def feed(self, snapshot: Snapshot) -> None:
        now_us = snapshot.redis_time_us or round(snapshot.taken_at * 1_000_000)
        self.update(now_us, snapshot.buckets)

    def update(self, now_us: int, rows: Iterable[BucketRow]) -> None:
        """One poll's levels as of ``now_us``; buckets not in ``rows`` are forgotten."""
        if self.now_us is not None and now_us < self.now_us:
            self.clear()  # Redis time went back: no run can be trusted
        self.now_us = now_us
        self._polls += 1
        poll, since, seen = self._polls, self._since, self._poll
        for row in rows:
            if row.tokens == 0:
                since.setdefault(row.user, now_us)
                seen[row.user] = poll
        for user in [u for u, p in seen.items() if p != poll]:  # not empty (or not there) this poll
            del seen[user]
            del since[user]

    def empty_for(self, user: str) -> float | None:
        """Seconds ``user``'s bucket has been seen empty, up to the last poll; None if it was not empty then."""
        start = self._since.get(user)
        if start is None or self.now_us is None:
            return None
        return (self.now_us - start) / 1_000_000

    def at_least(self, seconds: float) -> list[tuple[str, float]]:
        """(user, seconds empty) for every bucket seen empty for at least ``seconds``, longest first."""
        if self.now_us is None:
            return []
        limit = self.now_us - round(seconds * 1_000_000)
        found = [(u, (self.now_us - t) / 1_000_000) for u, t in self._since.items() if t <= limit]
        found.sort(key=lambda item: (-item[1], item[0]))
        return found

    def __len__(self) -> int:
        return len(self._since)

    def clear(self) -> None:
        self._since.clear()
        self._poll.clear()
        self.now_us = None
