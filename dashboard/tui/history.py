"""The dashboard's view of token history: `dashboard.core.history.HistoryStore`, plus what the screens ask of it.

The core keeps the ring buffers (bounded per user and in number of users);
this adapter adds the two questions the screens ask: the last *n* levels of a
user (the table's trend column) and the time of the newest sample (the
graph's "now"). Times are Redis time, like the core's samples.
"""

from __future__ import annotations

from typing import Iterable

from dashboard.core.history import HistoryStore
from dashboard.core.protocol import BucketRow, History, Snapshot


class HistoryBook:
    def __init__(self, length: int = 300) -> None:
        # Only the users the screens watch (the rows the table holds, the graphed ones).
        self.store = HistoryStore(max(2, int(length)), only_watched=True)
        self.newest: float | None = None

    def record(self, snapshot: Snapshot) -> None:
        self.store.feed(snapshot)
        self.newest = snapshot.redis_time_us / 1_000_000 if snapshot.redis_time_us else snapshot.taken_at

    def watch(self, users: Iterable[str]) -> None:
        """Always keep history for these users (the graphed ones)."""
        self.store.watch(users)

    def levels(self, user: str, count: int) -> list[int]:
        """The last ``count`` token levels of ``user``, oldest first."""
        samples = self.store.samples(user)
        return [sample[1] for sample in samples[-count:]]

    def latest(self, user: str) -> BucketRow | None:
        """The user's row in the newest poll, while it is watched; None once the bucket is gone."""
        return self.store.latest(user)

    def get(self, user: str) -> History:
        return self.store.get(user)

    def __len__(self) -> int:
        return len(self.store)
