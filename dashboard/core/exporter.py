"""The Prometheus exporter's core: a poll loop on a `Backend`, and a collector that renders its last poll.

Design: the loop polls every ``interval`` (the dashboard's own poller, through
`Backend.poll`) and swaps in a new immutable `MetricsView`; `SnapshotCollector`
renders whatever view is current when Prometheus scrapes. So a scrape costs
no Redis round trip and at most ``top_n`` rows of work, and many scrapers (two
Prometheus replicas, a curl) add no load on Redis. The values are as old as
the last poll: ``tbdash_last_success_timestamp_seconds`` says how old.

When a poll fails, ``tbdash_up`` is 0, the error counters move, and the
per-bucket and bucket-count series are left out until a poll succeeds again
(a stale level must not look current; Prometheus marks them stale). The
totals the exporter counts itself (`ObservedTotals`) stay.

The collector runs in the HTTP server's threads; the loop replaces whole
objects (one reference assignment), so a scrape always sees one consistent poll.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from typing import Awaitable, Callable, Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from dashboard.core.metrics_view import ExportedBucket, MetricsView, ObservedTotals, ShadowOf, label_value, row_shadow
from dashboard.core.protocol import Backend

NAMESPACE = "tbdash"


@dataclass(frozen=True, slots=True)
class PollHealth:
    up: bool = False
    polls: int = 0
    errors: int = 0
    last_success: float | None = None  # epoch seconds
    last_duration_s: float | None = None  # of the last successful poll


class ExporterState:
    """The last poll's view and the loop's health, each replaced whole (read by scrapes in other threads)."""

    def __init__(self, *, prefix: str, top_n: int, shadow_of: ShadowOf = row_shadow) -> None:
        self.prefix = prefix
        self.top_n = top_n
        self.shadow_of = shadow_of
        self.totals = ObservedTotals()
        self.view: MetricsView | None = None
        self.health = PollHealth()

    def succeeded(self, snapshot_view: MetricsView) -> None:
        self.view = snapshot_view
        h = self.health
        self.health = replace(h, up=True, polls=h.polls + 1, last_success=snapshot_view.taken_at, last_duration_s=snapshot_view.poll_seconds)

    def failed(self) -> None:
        h = self.health
        self.health = replace(h, up=False, polls=h.polls + 1, errors=h.errors + 1)


class SnapshotCollector(Collector):
    """Renders `ExporterState` on every scrape (register it in a ``CollectorRegistry``)."""

    def __init__(self, state: ExporterState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        state = self.state
        health, view = state.health, state.view  # read once: one consistent poll
        yield from _health(state, health)
        if view is not None:
            yield CounterMetricFamily(f"{NAMESPACE}_buckets_granted", "Grants of all buckets, as counted by this exporter from each bucket's increase between polls", value=view.granted_total)
            yield CounterMetricFamily(f"{NAMESPACE}_buckets_denied", "Denials of all buckets, as counted by this exporter from each bucket's increase between polls", value=view.denied_total)
        if view is None or not health.up:
            return
        yield GaugeMetricFamily(f"{NAMESPACE}_buckets", "Buckets seen by the last poll", value=view.count)
        yield GaugeMetricFamily(f"{NAMESPACE}_buckets_empty", "Buckets with no token left at the last poll", value=view.empty)
        yield GaugeMetricFamily(f"{NAMESPACE}_buckets_shadowed", "Buckets with shadow (preview) settings at the last poll", value=view.shadowed)
        yield GaugeMetricFamily(f"{NAMESPACE}_buckets_exported", "Buckets exported with a user label (the top_n with the most denials)", value=len(view.buckets))
        yield GaugeMetricFamily(f"{NAMESPACE}_invalid_keys", "Keys under the prefix that are not valid buckets", value=view.invalid)
        yield from _buckets(view.buckets)


def _health(state: ExporterState, health: PollHealth) -> Iterator[Metric]:
    info = InfoMetricFamily(f"{NAMESPACE}_exporter", "What this exporter watches")
    info.add_metric([], {"prefix": label_value(state.prefix), "top_n": str(state.top_n)})
    yield info
    yield GaugeMetricFamily(f"{NAMESPACE}_up", "1 when the last poll of Redis succeeded, else 0", value=1 if health.up else 0)
    yield CounterMetricFamily(f"{NAMESPACE}_polls", "Polls of Redis, failed ones included", value=health.polls)
    yield CounterMetricFamily(f"{NAMESPACE}_poll_errors", "Polls of Redis that failed", value=health.errors)
    if health.last_success is not None:
        yield GaugeMetricFamily(f"{NAMESPACE}_last_success_timestamp_seconds", "When the last successful poll finished (epoch seconds)", value=health.last_success)
    if health.last_duration_s is not None:
        yield GaugeMetricFamily(f"{NAMESPACE}_poll_duration_seconds", "How long the last successful poll took", value=health.last_duration_s)


def _buckets(buckets: tuple[ExportedBucket, ...]) -> Iterator[Metric]:
    def gauge(name: str, doc: str) -> GaugeMetricFamily:
        return GaugeMetricFamily(f"{NAMESPACE}_bucket_{name}", doc, labels=["user"])

    def counter(name: str, doc: str) -> CounterMetricFamily:
        return CounterMetricFamily(f"{NAMESPACE}_bucket_{name}", doc, labels=["user"])

    tokens = gauge("tokens", "Tokens now (refill applied as of Redis time)")
    ceiling = gauge("ceiling", "The most tokens the bucket can hold: max_tokens + burst")
    max_tokens = gauge("max_tokens", "Normal size of the bucket")
    refill = gauge("refill_tokens_per_second", "Refill rate: refill_count / refill_interval")
    granted = counter("granted", "Grants since the bucket state was created")
    denied = counter("denied", "Denials since the bucket state was created")
    overridden = gauge("operator_settings", "1 when operator settings are in force")
    s_tokens = gauge("shadow_tokens", "Tokens of the shadow (preview) settings")
    s_ceiling = gauge("shadow_ceiling", "Ceiling of the shadow settings")
    s_refill = gauge("shadow_refill_tokens_per_second", "Refill rate of the shadow settings")
    s_granted = counter("shadow_granted", "Acquires the shadow settings would have granted")
    s_denied = counter("shadow_denied", "Acquires the shadow settings would have denied")
    for bucket in buckets:
        row, labels = bucket.row, [bucket.label]
        config = row.config
        tokens.add_metric(labels, row.tokens)
        ceiling.add_metric(labels, config.ceiling)
        max_tokens.add_metric(labels, config.max_tokens)
        refill.add_metric(labels, config.refill_count / config.refill_interval)
        granted.add_metric(labels, row.granted)
        denied.add_metric(labels, row.denied)
        overridden.add_metric(labels, 1 if row.overridden else 0)
        shadow = bucket.shadow
        if shadow is not None:
            s_tokens.add_metric(labels, shadow.tokens)
            s_ceiling.add_metric(labels, shadow.config.ceiling)
            s_refill.add_metric(labels, shadow.config.refill_count / shadow.config.refill_interval)
            s_granted.add_metric(labels, shadow.granted)
            s_denied.add_metric(labels, shadow.denied)
    yield from (tokens, ceiling, max_tokens, refill, granted, denied, overridden)
    for family in (s_tokens, s_ceiling, s_refill, s_granted, s_denied):
        if family.samples:
            yield family


# --------------------------------------------------------------------------- the loop

Opener = Callable[[], Awaitable[Backend]]


class PollLoop:
    """Polls through one backend (opened, and re-opened after a failed open, by ``open_backend``).

    A failure of any poll is counted, put in words by ``describe`` and given to ``report`` once
    (again only when its text changes), and retried at the next interval; the
    exceptions in ``fatal`` (bad configuration found while opening) end the loop.
    """

    def __init__(
        self,
        state: ExporterState,
        open_backend: Opener,
        *,
        interval: float,
        describe: Callable[[BaseException], str] = str,
        report: Callable[[str], None] = lambda text: None,
        fatal: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.state = state
        self.open_backend = open_backend
        self.interval = interval
        self.describe = describe
        self.report = report
        self.fatal = fatal
        self._backend: Backend | None = None
        self._last_problem: str | None = None

    async def poll_once(self) -> bool:
        try:
            if self._backend is None:
                self._backend = await self.open_backend()
            snapshot = await self._backend.poll()
            view = MetricsView.of(snapshot, self.state.top_n, self.state.totals, self.state.shadow_of)
        except self.fatal:
            raise
        except Exception as exc:
            self.state.failed()
            problem = self.describe(exc)
            if problem != self._last_problem:
                self.report(f"poll failed: {problem} (serving tbdash_up 0; retrying every {self.interval:g}s)")
                self._last_problem = problem
            return False
        self.state.succeeded(view)
        if self._last_problem is not None:
            self.report(f"poll succeeded again after {self.state.health.errors} failed polls in all")
            self._last_problem = None
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set, one poll per ``interval`` (a slow poll delays the next, never overlaps it)."""
        try:
            while not stop.is_set():
                started = time.monotonic()
                await self.poll_once()
                delay = max(0.0, self.interval - (time.monotonic() - started))
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                except asyncio.TimeoutError:
                    pass  # the interval is over and no stop came: poll again
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        backend, self._backend = self._backend, None
        if backend is not None:
            try:
                await backend.aclose()
            except Exception:
                pass
