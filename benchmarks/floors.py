"""The floors: the least a correct token bucket can do, in process and as a Redis script."""

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


# A typical Lua token bucket, as found in most Redis rate limiters: TIME, HMGET and
# HSET of two fields, PEXPIRE, four numeric arguments, a two-integer reply. No
# validation of its arguments or of what it reads, no counters, no operator
# settings, no request id. The Redis floor: what any Redis token bucket costs at
# least, on the server (INFO commandstats) and through the same client.
TYPICAL_TOKEN_BUCKET_LUA = """
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local cap, per, interval, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local h = redis.call('HMGET', KEYS[1], 't', 'a')
local tokens, anchor = tonumber(h[1]) or cap, tonumber(h[2]) or now
local ticks = math.floor((now - anchor) / interval)
if ticks > 0 then
  tokens, anchor = math.min(cap, tokens + ticks * per), anchor + ticks * interval
end
if tokens >= cap then anchor = now end
local allowed = 0
if tokens >= n then tokens, allowed = tokens - n, 1 end
redis.call('HSET', KEYS[1], 't', tokens, 'a', anchor)
redis.call('PEXPIRE', KEYS[1], 60000)
return {allowed, tokens}
"""
