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


class ConditionFloor:
    """A minimal *blocking* token bucket: one ``threading.Condition``, float refill.

    A waiter sleeps until the tokens it needs should be there, then re-checks;
    nobody notifies anybody (taking tokens never helps another waiter). No
    queue, no FIFO, no timeouts, no integer model. The floor of the waiting
    cost: what a hand-written blocking bucket costs while its threads wait.
    """

    def __init__(self, capacity: int, rate_per_s: float) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._capacity = float(capacity)
        self._rate = float(rate_per_s)
        self._tokens = float(capacity)
        self._last = time.monotonic()
        self._closed = False

    def acquire(self, n: int = 1) -> bool:
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError("closed")
                now = time.monotonic()
                self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
                self._last = now
                if self._tokens >= n:
                    self._tokens -= n
                    return True
                self._cond.wait((n - self._tokens) / self._rate)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
