"""The in-process floor: the least a correct thread-safe token bucket can do in Python."""

from __future__ import annotations

import threading
import time


class LockBucket:
    """A minimal token bucket: one ``threading.Lock``, ``time.monotonic``, float refill.

    No validation, no FIFO waiters, no blocking acquire, no integer model:
    just refill-and-take under a lock. Anything real costs at least this.
    """

    __slots__ = ("_lock", "_capacity", "_rate", "_tokens", "_last")

    def __init__(self, capacity: int, rate_per_s: float) -> None:
        self._lock = threading.Lock()
        self._capacity = float(capacity)
        self._rate = float(rate_per_s)
        self._tokens = float(capacity)
        self._last = time.monotonic()

    def try_acquire(self, n: int = 1) -> bool:
        with self._lock:
            now = time.monotonic()
            tokens = self._tokens + (now - self._last) * self._rate
            if tokens > self._capacity:
                tokens = self._capacity
            self._last = now
            if tokens >= n:
                self._tokens = tokens - n
                return True
            self._tokens = tokens
            return False
