"""`ConditionBucket`: the bucket model in one process, shared by many threads.

Everything happens under one lock; there is no background thread, so nothing
can outlive `close()`. The arithmetic is `limiter.model`'s,
run on ``time.monotonic_ns() // 1000`` (microseconds).

Waiters are served first come, first served. Each blocked `acquire` holds a
ticket in a queue; only the ticket at the head may take tokens, and
`try_acquire` never jumps ahead of the queue. So a small request cannot starve
a large one, and the wait of a newcomer is predictable: it is the model's
answer to "serve everyone ahead, in order, as early as possible, then me".

`acquire(timeout=...)` uses that prediction to refuse at once (without
sleeping) when the wait cannot fit. The prediction skips tickets ahead that
will not be served (their own deadline is out of reach, or they ask for more
than the ceiling), since they give up instead of taking tokens. It is exact as
long as nothing changes; when something does (`reconfigure`, a waiter woken
late by a busy machine), the affected waiters re-check, and a waiter never
blocks past its own deadline.

Wake-ups: each waiter sleeps on its own Condition (all on the one lock), until
the instant the prediction says it is served, or until it is told to look
again. Nothing else wakes it: a grant wakes at most the next in line, and only
when it would otherwise sleep past its turn (the head was served late);
`reconfigure`, a waiter giving up and a newcomer re-plan the queue and wake
exactly the waiters whose turn came earlier or who must give up. So a steady
queue costs about one wake-up per grant, not one per waiter per grant.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from time import monotonic_ns
from collections.abc import Callable

from limiter import model
from limiter.model import check_n, refilled
from limiter.config import BucketConfig
from limiter.errors import BucketClosed, TokensExceedCeiling


def _monotonic_us() -> int:
    return monotonic_ns() // 1000


class _Ticket:
    """One blocked `acquire`: its place in the queue, its prediction, its own Condition."""

    __slots__ = ("n", "deadline_us", "doomed", "due_us", "alarm_us", "sleeping", "cond")

    def __init__(self, n: int, deadline_us: int | None, cond: threading.Condition | None) -> None:
        self.n = n
        self.deadline_us = deadline_us  # None: wait as long as it takes
        self.doomed = False  # set once the prediction says the deadline is out of reach
        self.due_us: int | None = None  # when the prediction says it is served
        self.alarm_us: int | None = None  # when its current sleep ends by itself (None: only when woken)
        self.sleeping = False  # waiting on ``cond``, not yet told to wake
        self.cond = cond


class ConditionBucket:
    """A thread-safe token bucket with FIFO blocking `acquire`.

    ``clock`` returns the time in whole microseconds; it exists for tests.
    It must be monotonic. Waits still sleep in real time, so a fake clock only
    moves when the test moves it (and `reconfigure` wakes waiters to look).
    """

    def __init__(self, cfg: BucketConfig, *, clock: Callable[[], int] | None = None) -> None:
        self._clock = clock or _monotonic_us
        self._lock = threading.RLock()  # re-entrant calls cannot deadlock
        self._cond = threading.Condition(self._lock)  # the lock, as a context manager
        self._wakeups = 0  # how many times a waiter woke up (tests and benchmarks count them)
        self._use(cfg)
        self._level = model.fresh(self._settings, self._clock())
        self._queue: deque[_Ticket] = deque()
        self._closed = False

    def _use(self, cfg: BucketConfig) -> None:
        self._cfg = cfg
        self._settings = settings = cfg.settings()
        # Plain ints for `_take`, the hot path (attribute reads, no dataclasses).
        self._ceiling, self._count, self._interval = settings.ceiling, settings.refill_count, settings.interval_us

    # The level lives in two ints, so the hot path allocates nothing.
    @property
    def _level(self) -> model.Level:
        return model.Level(self._tokens, self._anchor)

    @_level.setter
    def _level(self, level: model.Level) -> None:
        self._tokens, self._anchor = level.tokens, level.anchor_us

    # -- reading -------------------------------------------------------------

    @property
    def config(self) -> BucketConfig:
        return self._cfg

    @property
    def tokens(self) -> int:
        """Tokens in the bucket now, refill applied (waiters' claims not subtracted)."""
        with self._cond:
            return model.refill(self._level, self._settings, self._clock()).tokens

    @property
    def waiting(self) -> int:
        """How many `acquire` calls are queued."""
        with self._cond:
            return len(self._queue)

    @property
    def closed(self) -> bool:
        return self._closed

    def retry_after(self, n: int = 1) -> float:
        """Seconds a new `acquire(n)` would wait, queue included (0.0 if it would be granted now)."""
        check_n(n)
        with self._cond:
            self._check_open(n)
            now = self._clock()
            ticket = _Ticket(n, None, None)
            self._queue.append(ticket)
            try:
                due = self._plan(now)[ticket]
            finally:
                self._queue.pop()
            assert due is not None  # no deadline, n within the ceiling
            return (due - now) / 1_000_000

    def __repr__(self) -> str:
        with self._cond:
            tokens = model.refill(self._level, self._settings, self._clock()).tokens
            state = " closed" if self._closed else ""
            return f"<ConditionBucket tokens={tokens}/{self._settings.ceiling} waiters={len(self._queue)}{state}>"

    # -- acquiring -----------------------------------------------------------

    def try_acquire(self, n: int = 1) -> bool:
        """Take ``n`` tokens if they are there now and nobody is queued; never blocks.

        The hot path: `_take` (the model's take) inlined, and the clock read
        directly unless a test gave its own; tests/test_shared_rules.py and
        test_condition_bucket.py hold it equal to `limiter.model.take`.
        """
        if n.__class__ is not int or n < 1:
            check_n(n)
        with self._lock:
            if self._queue or self._closed or n > self._ceiling:  # the rare cases, one test on the hot path
                self._check_open(n)
                return False  # open and within the ceiling: someone is queued, and goes first
            clock = self._clock
            now = monotonic_ns() // 1000 if clock is _monotonic_us else clock()
            tokens, ceiling = self._tokens, self._ceiling
            elapsed = now - self._anchor  # (the anchor is written only when it moves)
            interval = self._interval
            if elapsed >= interval and tokens < ceiling:  # also false for a clock that stepped back
                ticks = elapsed // interval
                tokens += ticks * self._count
                if tokens >= ceiling:
                    tokens, self._anchor = ceiling, now
                else:
                    self._anchor += ticks * interval
            elif tokens >= ceiling:
                tokens = ceiling
                self._anchor = now  # a full bucket banks no ticks
            if tokens >= n:
                self._tokens = tokens - n
                return True
            self._tokens = tokens  # the same state, refilled
            return False

    def acquire(self, n: int = 1, timeout: float | None = None) -> bool:
        """Take ``n`` tokens, waiting in line for them.

        Returns False at once, without sleeping, when the model predicts the
        wait (behind the waiters already queued) exceeds ``timeout`` seconds.
        ``timeout=None`` waits as long as it takes; ``timeout <= 0`` is
        `try_acquire`. Raises `BucketClosed` if the bucket is or gets closed,
        `TokensExceedCeiling` if ``n`` is or becomes (by `reconfigure`) larger
        than the ceiling.
        """
        check_n(n)
        timeout_us = _timeout_us(timeout)
        if timeout_us is not None and timeout_us <= 0:
            return self.try_acquire(n)
        with self._cond:
            self._check_open(n)
            now = self._clock()
            if not self._queue and self._take(n, now) == 0:
                return True
            ticket = _Ticket(n, None if timeout_us is None else now + timeout_us, threading.Condition(self._lock))
            self._queue.append(ticket)
            plan = self._plan(now)
            if plan[ticket] is None:
                self._queue.pop()  # refused at once, before it ever waited
                self._follow(plan, now)  # a waiter ahead, woken late, may have to give up now
                return False
            self._follow(plan, now)
            served = False
            try:
                served = self._wait_in_line(ticket)
                return served
            finally:
                self._queue.remove(ticket)
                now = self._clock()
                if served:
                    self._wake_head(now)  # the next in line, if it would sleep past its turn
                elif self._queue:
                    self._follow(self._plan(now), now)  # it took nothing: those behind may go earlier

    def _wait_in_line(self, ticket: _Ticket) -> bool:
        """Called with the lock held and ``ticket`` queued; returns once it is served or gives up."""
        while True:
            self._check_open(ticket.n)
            if ticket.doomed:
                return False  # the plans of the waiters behind count on it leaving
            now = self._clock()
            alarm: int | None
            if self._queue[0] is ticket:
                wait = self._take(ticket.n, now)
                if wait == 0:
                    return True
                if ticket.deadline_us is not None and now + wait > ticket.deadline_us:
                    return False
                alarm = now + wait
            else:
                # Not its turn yet: sleep until its predicted turn; once that has passed,
                # until the waiter ahead leaves (which wakes it).
                due = ticket.due_us
                alarm = due if due is not None and due > now else None
            if ticket.deadline_us is not None:
                if ticket.deadline_us <= now:
                    return False  # only when woken late: served later than predicted
                alarm = ticket.deadline_us if alarm is None else min(alarm, ticket.deadline_us)
            ticket.alarm_us, ticket.sleeping = alarm, True
            # Sleep for exactly the predicted wait; every wakeup re-checks.
            assert ticket.cond is not None
            ticket.cond.wait(None if alarm is None else (alarm - now) / 1_000_000)
            ticket.sleeping = False
            self._wakeups += 1

    def _wake(self, ticket: _Ticket, by_us: int | None, now: int) -> None:
        """Make ``ticket`` look again no later than ``by_us`` (None: now), unless it already will.

        An alarm already due (``<= now``) is told too: on the real clock its timer
        has fired and the telling costs nothing more; a test's clock may have
        jumped past it while the real sleep goes on.
        """
        alarm = ticket.alarm_us
        if ticket.sleeping and (by_us is None or alarm is None or alarm > by_us or alarm <= now):
            self._notify(ticket)

    def _notify(self, ticket: _Ticket) -> None:
        ticket.sleeping = False  # told once is enough: it re-checks everything when it runs
        assert ticket.cond is not None
        ticket.cond.notify()

    def _wake_head(self, now: int) -> None:
        """After a grant: the new head, if its sleep would end after its tokens are there."""
        if not self._queue:
            return
        head = self._queue[0]
        if head.doomed or head.n > self._ceiling:
            self._wake(head, None, now)
            return
        by = now + self._wait_us(head.n, now)
        if head.deadline_us is not None and by > head.deadline_us:
            by = now  # it cannot be served in time: it gives up at once
        self._wake(head, by, now)

    def _follow(self, plan: dict[_Ticket, int | None], now: int) -> None:
        """Record a new plan; wake the waiters that must give up or whose turn came earlier."""
        for index, ticket in enumerate(self._queue):
            due = plan[ticket]
            if due is None:
                if not ticket.doomed:
                    ticket.doomed = True
                    self._wake(ticket, None, now)
                continue
            ticket.due_us = due
            if index == 0:
                self._wake(ticket, due, now)
            elif ticket.sleeping and ticket.alarm_us is not None and ticket.alarm_us > due > now:
                # Its timed sleep would end after its new turn. (One waiting for the
                # waiter ahead to leave is woken by that departure, not now.)
                self._notify(ticket)

    # -- changing ------------------------------------------------------------

    def reconfigure(self, cfg: BucketConfig) -> None:
        """Apply new settings live: settle at the old ones up to now, clamp to the new ceiling.

        The queue is re-planned: a waiter whose deadline is now out of reach
        returns False, one whose ``n`` is above the new ceiling gets
        `TokensExceedCeiling`, one whose turn came earlier wakes for it.
        """
        with self._cond:
            now = self._clock()
            self._level = model.change(self._level, self._settings, cfg.settings(), now)
            self._use(cfg)
            # Waiters whose turn comes earlier, or who must give up (their deadline, or
            # an n above the new ceiling), look again; the others' sleeps still end in time.
            self._follow(self._plan(now), now)

    def close(self) -> None:
        """Refuse every later acquire and release the waiters (they raise `BucketClosed`). Idempotent."""
        with self._cond:
            self._closed = True
            now = self._clock()
            for ticket in self._queue:
                self._wake(ticket, None, now)

    def __enter__(self) -> ConditionBucket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals (lock held) -------------------------------------------------

    def _take(self, n: int, now: int) -> int:
        """Take ``n`` tokens if they are there (returns 0), else return the wait in µs.

        `model.take` on plain ints, with the model's refill rule. A refusal
        stores the refilled level, which is the same state.
        """
        tokens, anchor = refilled(self._tokens, self._anchor, self._ceiling, self._count, self._interval, now)
        if tokens >= n:
            self._tokens, self._anchor = tokens - n, anchor
            return 0
        self._tokens, self._anchor = tokens, anchor
        return anchor + -(-(n - tokens) // self._count) * self._interval - now

    def _wait_us(self, n: int, now: int) -> int:
        """`_take` without taking: the wait in µs until ``n`` tokens are there (0 if they are)."""
        level = model.refill(self._level, self._settings, now)
        self._tokens, self._anchor = level.tokens, level.anchor_us  # the same state, refilled
        return model.wait_us(level, self._settings, n, now)

    def _plan(self, now: int) -> dict[_Ticket, int | None]:
        """Predict when each queued ticket is served, in order, each as early as the model allows.

        None for a ticket that will not be served: it is doomed already, its
        ``n`` is above the ceiling, or its deadline is out of reach. Such a
        ticket gives up instead of taking tokens, so the prediction skips it.
        """
        # `model.take` on plain ints (it runs on every arrival, over the whole
        # queue); test_plan_is_the_model holds the two equal.
        ceiling, count, interval = self._ceiling, self._count, self._interval
        tokens, anchor, t = self._tokens, self._anchor, now
        plan: dict[_Ticket, int | None] = {}
        for ticket in self._queue:
            plan[ticket] = None
            n = ticket.n
            if ticket.doomed or n > ceiling:
                continue
            due = t  # not before the ticket ahead of it
            have, start = refilled(tokens, anchor, ceiling, count, interval, due)
            if have < n:
                due = start + -(-(n - have) // count) * interval  # when the missing ticks have come
                have, start = refilled(have, start, ceiling, count, interval, due)
            if ticket.deadline_us is None or due <= ticket.deadline_us:
                tokens, anchor, t, plan[ticket] = have - n, start, due, due
        return plan

    def _check_open(self, n: int) -> None:
        if self._closed:
            raise BucketClosed("the bucket is closed")
        if n > self._settings.ceiling:
            raise TokensExceedCeiling(n, self._settings.ceiling)


def _timeout_us(timeout: float | None) -> int | None:
    """Seconds to whole microseconds; None (or infinity) means no limit."""
    if timeout is None or timeout == math.inf:
        return None
    if math.isnan(timeout):
        raise ValueError("timeout must be a number of seconds, not NaN")
    return round(timeout * 1_000_000)
