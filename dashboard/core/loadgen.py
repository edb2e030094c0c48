"""Open-loop load through `AsyncRedisLimiter.try_acquire`.

Request ``i`` is due at ``start + i / rate``, whatever happened to the ones
before it (open loop: a slow Redis does not slow the offered load down, it
makes requests queue). A dispatcher releases due requests into a queue;
``concurrency`` workers take them. Exactly ``round(rate * duration)`` requests
are sent unless the run is cancelled.

Latency reported (p50/p99) is SERVICE latency: from the moment a worker sends
the request to its answer. Queueing is reported separately: ``queued`` counts
requests that found every worker busy when due, and ``lag_p99_ms`` is the p99
of (start - due time). Together they show both "Redis answers in X ms" and
"the client could not keep up", which one number from the due time would mix.
Percentiles come from a log-bucketed histogram (~2 % resolution), so memory
stays constant for any run length.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any, AsyncGenerator, AsyncIterator, Callable

from dashboard.core.errors import LoadSpecError
from dashboard.core.protocol import LoadProgress, LoadSpec

MAX_RATE = 50_000.0  # requests/s; one asyncio client tops out far below this anyway
MAX_DURATION = 3_600.0  # seconds
MAX_CONCURRENCY = 1_000
PROGRESS_INTERVAL = 0.2  # ~5 progress reports a second
DRAIN_TIMEOUT = 5.0  # on cancel, how long in-flight requests may take to answer


def check_spec(spec: LoadSpec) -> None:
    """Raise `LoadSpecError` naming the field when ``spec`` is outside the sane limits."""
    if not isinstance(spec.user, str) or not spec.user:
        raise LoadSpecError("user must be a non-empty user id", field="user")
    if not (isinstance(spec.rate, (int, float)) and math.isfinite(spec.rate) and 0 < spec.rate <= MAX_RATE):
        raise LoadSpecError(f"rate must be more than 0 and at most {MAX_RATE:g} requests/s (got {spec.rate!r})", field="rate")
    if not (isinstance(spec.duration, (int, float)) and math.isfinite(spec.duration) and 0 < spec.duration <= MAX_DURATION):
        raise LoadSpecError(f"duration must be more than 0 and at most {MAX_DURATION:g} seconds (got {spec.duration!r})", field="duration")
    if isinstance(spec.concurrency, bool) or not isinstance(spec.concurrency, int) or not 1 <= spec.concurrency <= MAX_CONCURRENCY:
        raise LoadSpecError(f"concurrency must be a whole number from 1 to {MAX_CONCURRENCY} (got {spec.concurrency!r})", field="concurrency")
    if isinstance(spec.tokens, bool) or not isinstance(spec.tokens, int) or spec.tokens < 1:
        raise LoadSpecError(f"tokens must be a whole number >= 1 (got {spec.tokens!r})", field="tokens")
    if total_requests(spec) < 1:
        raise LoadSpecError(f"rate x duration is less than one request ({spec.rate!r}/s x {spec.duration!r} s)")


def total_requests(spec: LoadSpec) -> int:
    return int(round(spec.rate * spec.duration))


class Histogram:
    """Latencies in log buckets: 32 per power of two (~2.2 % wide); constant memory."""

    PER_OCTAVE = 32

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.total = 0

    def add(self, seconds: float) -> None:
        micros = max(seconds * 1_000_000, 1.0)
        index = int(math.log2(micros) * self.PER_OCTAVE)
        self.counts[index] = self.counts.get(index, 0) + 1
        self.total += 1

    def percentile_ms(self, q: float) -> float | None:
        """The upper edge of the bucket holding the q-quantile, in ms (None when empty)."""
        if not self.total:
            return None
        rank = max(1, math.ceil(q * self.total))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return 2 ** ((index + 1) / self.PER_OCTAVE) / 1000
        return None  # pragma: no cover


class OpenLoopLoad:
    """One open-loop load (a `LoadStream`; the TUI's own record of a load is `dashboard.tui.app.LoadRun`): iterate it for progress (~5/s), the last item has ``done=True``.

    ``cancel()`` stops it gracefully: no new requests, in-flight ones answer,
    and the iteration ends with a partial report (``cancelled=True``). If the
    consuming task is cancelled or the iterator closed instead, the run stops
    at once and `final` still holds the partial report.
    """

    def __init__(
        self,
        acquire: Callable[[str, int], Any],
        spec: LoadSpec,
        *,
        progress_interval: float = PROGRESS_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_spec(spec)
        self.spec = spec
        self.final: LoadProgress | None = None
        self._acquire = acquire
        self._interval = progress_interval
        self._clock = clock
        self._target = total_requests(spec)
        self._queue: asyncio.Queue[float] = asyncio.Queue()
        self._stop = asyncio.Event()
        self._started_at = 0.0
        self._ended_at: float | None = None
        self._idle = spec.concurrency
        self.sent = self.granted = self.denied = self.errors = self.queued = 0
        self.last_error = ""
        self._service = Histogram()
        self._lag = Histogram()
        self._gen: AsyncGenerator[LoadProgress, None] | None = None
        self._halt = False  # workers leave after their current request

    def cancel(self) -> None:
        self._stop.set()

    def __aiter__(self) -> OpenLoopLoad:
        return self

    async def __anext__(self) -> LoadProgress:
        if self._gen is None:
            self._gen = self._run()
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        """Stop at once (in-flight requests are abandoned); `final` holds the partial report."""
        if self._gen is not None:
            await self._gen.aclose()
        elif self.final is None:
            self.final = self._progress(done=True, cancelled=True)

    # ---- the run

    async def _run(self) -> AsyncGenerator[LoadProgress, None]:
        self._started_at = self._clock()
        dispatcher = asyncio.ensure_future(self._dispatch())
        workers = [asyncio.ensure_future(self._work()) for _ in range(self.spec.concurrency)]
        finished = asyncio.ensure_future(self._finished(dispatcher))
        stop = asyncio.ensure_future(self._stop.wait())
        cancelled = False
        try:
            while not finished.done():
                await asyncio.wait({finished, stop}, timeout=self._interval, return_when=asyncio.FIRST_COMPLETED)
                if stop.done() and not finished.done():
                    cancelled = True
                    await self._wind_down(dispatcher)
                    break
                if not finished.done():
                    yield self._progress()
            self._ended_at = self._clock()
            self.final = self._progress(done=True, cancelled=cancelled)
            yield self.final
        finally:
            self._halt = True
            if self.final is None:  # the consumer went away (task cancelled, iterator closed)
                self._ended_at = self._clock()
                self.final = self._progress(done=True, cancelled=True)
            await _cancel_all([dispatcher, finished, stop, *workers])

    async def _finished(self, dispatcher: asyncio.Future[None]) -> None:
        await dispatcher
        await self._queue.join()

    async def _wind_down(self, dispatcher: asyncio.Future[None]) -> None:
        """Graceful cancel: stop dispatching, drop what has not started, let in-flight requests answer."""
        dispatcher.cancel()
        self._halt = True
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
        try:
            await asyncio.wait_for(self._queue.join(), DRAIN_TIMEOUT)
        except asyncio.TimeoutError:
            pass  # the finally block cancels whatever still hangs

    async def _dispatch(self) -> None:
        """Release request i at start + i/rate; all that are due at once go together."""
        rate, start, clock = self.spec.rate, self._started_at, self._clock
        i = 0
        while i < self._target:
            now = clock()
            while i < self._target and start + i / rate <= now:
                if self._idle - self._queue.qsize() <= 0:
                    self.queued += 1  # every worker busy: this request waits (open loop)
                self._queue.put_nowait(start + i / rate)
                i += 1
            if i < self._target:
                await asyncio.sleep(max(0.0, start + i / rate - clock()))

    async def _work(self) -> None:
        spec, queue, clock = self.spec, self._queue, self._clock
        while not self._halt:
            due = await queue.get()
            self._idle -= 1
            try:
                began = clock()
                self._lag.add(max(0.0, began - due))
                self.sent += 1
                try:
                    decision = await self._acquire(spec.user, spec.tokens)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # counted and shown; the run goes on
                    self.errors += 1
                    self.last_error = f"{type(exc).__name__}: {exc}"
                else:
                    self._service.add(clock() - began)
                    if getattr(decision, "fail_mode", None) is not None:
                        self.errors += 1  # on_error answered, not Redis
                        self.last_error = "Redis unavailable (on_error answered)"
                    elif decision.allowed:
                        self.granted += 1
                    else:
                        self.denied += 1
            finally:
                self._idle += 1
                queue.task_done()

    def _progress(self, *, done: bool = False, cancelled: bool = False) -> LoadProgress:
        end = self._ended_at if done and self._ended_at is not None else self._clock()
        elapsed = max(0.0, end - self._started_at)
        return LoadProgress(
            spec=self.spec,
            elapsed=elapsed,
            sent=self.sent,
            granted=self.granted,
            denied=self.denied,
            errors=self.errors,
            p50_ms=self._service.percentile_ms(0.50),
            p99_ms=self._service.percentile_ms(0.99),
            achieved_rate=self.sent / elapsed if elapsed > 0 else 0.0,
            done=done,
            cancelled=cancelled,
            queued=self.queued,
            lag_p99_ms=self._lag.percentile_ms(0.99),
            last_error=self.last_error,
            target=self._target,
        )


async def _cancel_all(tasks: list[asyncio.Future[Any]]) -> None:
    """Cancel and reap every task. Cancel again until they are gone: a client
    library may swallow one CancelledError mid-request (redis-py can), and a
    task that swallowed it would otherwise wait on the queue forever."""
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: no "exception never retrieved" noise


def run_load(limiter: Any, spec: LoadSpec, **kwargs: Any) -> OpenLoopLoad:
    """A `OpenLoopLoad` through ``limiter.try_acquire`` (an `AsyncRedisLimiter`)."""
    return OpenLoopLoad(limiter.try_acquire, spec, **kwargs)
