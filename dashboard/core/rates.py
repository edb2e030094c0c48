"""Grants/s and denials/s: counter deltas over Redis time between two polls.

A counter that went down (reset, delete, expiry) gives None for that poll,
like a bucket seen for the first time.
"""

from __future__ import annotations


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
