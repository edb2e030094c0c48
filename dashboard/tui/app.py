"""`TbdashApp`: the live dashboard on any `Backend`.

The app owns the polling loop and the writes; the screens only render and
dispatch. Polling is a self-rescheduling worker: one poll at a time, the next
one armed with a timer when the last one ends (after ``poll_interval``, or
after a backoff when it failed), so polls never overlap and the UI never
waits on Redis.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from typing import Callable

from textual import work
from textual.app import App
from textual.timer import Timer
from textual.worker import Worker

from dashboard.core.errors import AuditWriteFailed
from dashboard.core.protocol import Backend, LoadProgress, LoadSpec, Snapshot
from dashboard.tui import actions
from dashboard.tui import format as fmt
from dashboard.tui.commands import TbdashCommands
from dashboard.tui.forms import changes
from dashboard.tui.history import HistoryBook
from dashboard.tui.messages import LoadFailed, LoadProgressed, PollFailed, SnapshotReady
from dashboard.tui.polling import backoff, describe, is_disconnect, step_interval
from dashboard.tui.reconnect import ReconnectProbe
from dashboard.tui.screens.dashboard import DashboardScreen
from dashboard.tui.screens.form_modal import FormModal
from dashboard.tui.widgets.status_bar import Status
from limiter.config import BucketConfig


@dataclass
class LoadRun:
    """The load fired from the dashboard (one at a time)."""

    spec: LoadSpec
    progress: LoadProgress | None = None
    error: str | None = None
    running: bool = True
    stopping: bool = False


def load_fraction(run: LoadRun) -> float:
    """How far the load is: requests sent of the target, or time elapsed of the duration."""
    p = run.progress
    if p is None:
        return 0.0
    target = getattr(p, "target", 0)
    if target:
        return min(1.0, p.sent / target)
    return min(1.0, p.elapsed / run.spec.duration) if run.spec.duration else 1.0


class TbdashApp(App[None]):
    TITLE = "tbdash"
    SUB_TITLE = "token buckets"
    COMMANDS = App.COMMANDS | {TbdashCommands}
    BINDINGS = actions.bindings(actions.APP)
    CSS = """
    Screen {
        background: $background;
    }
    """

    #: Most rows the bucket table holds (the first ones in the sort order; a filter narrows the rest).
    max_rows: int = 500

    #: Longest a poll may take before it counts as failed (the backend's own socket timeouts should fire first).
    poll_timeout: float = 15.0

    def __init__(
        self,
        backend: Backend,
        *,
        poll_interval: float = 1.0,
        history_length: int = 300,
        read_only: bool = False,
        start_paused: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.poll_interval = max(0.1, float(poll_interval))
        self.read_only = bool(read_only or getattr(backend, "read_only", False))
        self.paused = start_paused
        self.clock = clock
        self.history = HistoryBook(history_length)
        self.snapshot: Snapshot | None = None
        self.link = "connecting"  # connecting | live | disconnected | failing
        self.error: str | None = None
        self.failures = 0
        self.retry_at: float | None = None  # monotonic time of the next retry
        self.selected: dict[str, int] = {}  # graphed users → colour slot
        self.load_run: LoadRun | None = None
        self.polls = 0  # completed polls (good or bad), for tests and the curious
        self._poll_timer: Timer | None = None
        self.reconnect = ReconnectProbe(self)  # while disconnected: is the server back?
        self._polling = False
        self._poll_again = False
        self._closing = False
        self._connected = False
        self._server_before_outage: str | None = None  # to tell a failover from a restart
        self._load_stream: object | None = None
        self._own_writes: dict[str, float] = {}  # user → when this dashboard last changed it

    # ------------------------------------------------------------------ lifecycle

    def get_default_screen(self) -> DashboardScreen:
        return DashboardScreen()

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick, name="status clock")
        self.poll_now()  # one poll even when starting paused: something to look at

    async def on_unmount(self) -> None:
        self._closing = True
        try:
            await asyncio.wait_for(self.backend.aclose(), timeout=5)
        except Exception:  # closing a dead connection must not hide the real exit
            pass

    @property
    def dashboard(self) -> DashboardScreen | None:
        """The dashboard screen, once its widgets exist."""
        for screen in self.screen_stack:
            if isinstance(screen, DashboardScreen) and screen.ready:
                return screen
        return None

    # ------------------------------------------------------------------ polling

    def poll_now(self) -> None:
        """Poll at once (or right after the poll in flight)."""
        if self._closing:
            return
        if self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = None
        if self._polling:
            self._poll_again = True
            return
        self._polling = True
        self.retry_at = None
        self._poll()

    @work(exclusive=True, group="poll", exit_on_error=False, description="poll Redis")
    async def _poll(self) -> None:
        try:
            if not self._connected:
                await self._connect()
            snapshot = await asyncio.wait_for(self.backend.poll(), timeout=self.poll_timeout)
        except asyncio.CancelledError:
            self._polling = False
            raise
        except Exception as exc:  # every failure is shown and retried, none ends the app
            if self._connected:  # re-learn the server on the way back: a failover moves the primary
                self._connected = False
                self._server_before_outage = self.backend.info.server
            self.failures += 1
            delay = backoff(self.failures)
            self.post_message(PollFailed(describe(exc), disconnected=is_disconnect(exc), retry_in=delay, attempt=self.failures))
            self._schedule(delay, failed=True)
        else:
            self.failures = 0
            self.post_message(SnapshotReady(snapshot))
            self._schedule(self.poll_interval, failed=False)

    async def _connect(self) -> None:
        """Learn the server version (and Sentinel primary) once, if the backend can (`RedisBackend.connect`)."""
        connect = getattr(self.backend, "connect", None)
        if connect is not None and (not self.backend.info.version or self._server_before_outage is not None):
            await asyncio.wait_for(connect(), timeout=self.poll_timeout)
        self._connected = True

    def _schedule(self, delay: float, *, failed: bool) -> None:
        self._polling = False
        self.polls += 1
        if self._closing:
            return
        if self._poll_again:
            self._poll_again = False
            delay = 0.0
        elif self.paused:
            return  # no polls while paused; `r` still polls once
        self.retry_at = time.monotonic() + delay if failed else None
        # Never a zero-length timer: Textual divides by the interval when a timer runs late.
        self._poll_timer = self.set_timer(max(delay, 0.01), self.poll_now, name="next poll")

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        snapshot = message.snapshot
        previous = self.snapshot
        self.snapshot = snapshot
        self.history.record(snapshot)
        was_down = self.link in ("disconnected", "failing")
        self.link = "live"
        self.error = None
        self.reconnect.stop()
        if self.selected:
            present = {b.user for b in snapshot.buckets}
            for user in [u for u in self.selected if u not in present]:
                del self.selected[user]
        dashboard = self.dashboard
        if dashboard is not None:
            if previous is not None:
                self._notice_outside_changes(dashboard, snapshot)
            dashboard.banner.clear_problem()
            dashboard.render_snapshot(snapshot, stale=False)
        for screen in self.screen_stack:  # an open edit or load dialog shows its bucket live
            if isinstance(screen, FormModal):
                screen.follow(snapshot)
        self.update_status()
        if was_down:
            before, now = self._server_before_outage, self.backend.info.server
            self._server_before_outage = None
            if before is not None and before != now:
                self.notify(f"Failover: the primary moved from {fmt.safe_str(before)} to {fmt.safe_str(now)}.", severity="warning", timeout=10, markup=False)
            else:
                self.notify("Connection to Redis is back.", severity="information", timeout=4)

    def _notice_outside_changes(self, dashboard: DashboardScreen, snapshot: Snapshot) -> None:
        """Tell the operator when a bucket on screen changed settings without this dashboard (another operator, a deploy)."""
        table = dashboard.table
        watched = set(table.shown_users) | set(self.selected)
        if not watched:
            return
        now = time.monotonic()
        notes: list[str] = []
        for row in snapshot.buckets:
            if row.user not in watched:
                continue
            old = table.bucket(row.user)
            if old is None or (old.config == row.config and old.overridden == row.overridden):
                continue
            if now - self._own_writes.get(row.user, -1e9) < 10.0:
                continue  # our own change, already reported
            parts = [f"{field} {before} → {after}" for field, before, after in changes(old.config, row.config)]
            if old.overridden != row.overridden:
                parts.append("operator settings " + ("set" if row.overridden else "dropped"))
            notes.append(f"{fmt.safe_str(row.user, width=40)}: {', '.join(parts)}")
        if not notes:
            return
        if len(notes) > 3:
            notes = notes[:2] + [f"… and {len(notes) - 2} more buckets"]
        self.notify("\n".join(notes), title="Settings changed outside this dashboard", severity="warning", timeout=8, markup=False)

    def on_poll_failed(self, message: PollFailed) -> None:
        first = self.link not in ("disconnected", "failing")
        self.link = "disconnected" if message.disconnected else "failing"
        self.error = fmt.redact(message.error)
        dashboard = self.dashboard
        if dashboard is not None and first and self.snapshot is not None:
            dashboard.render_snapshot(self.snapshot, stale=True)
        if message.disconnected and not self.paused:
            self.reconnect.start()
        self._show_problem()
        self.update_status()
        if first:
            self.notify(f"Redis poll failed: {fmt.safe_str(self.error)}", title="DISCONNECTED" if message.disconnected else "POLL FAILED", severity="error", timeout=6, markup=False)

    def _show_problem(self) -> None:
        dashboard = self.dashboard
        if dashboard is None or self.error is None:
            return
        retry_in = None
        if self.retry_at is not None:
            retry_in = max(0.0, self.retry_at - time.monotonic())
        elif self.paused:
            retry_in = None
        dashboard.banner.show_problem(
            title="DISCONNECTED" if self.link == "disconnected" else "POLL FAILED",
            error=self.error + (" · paused: r retries" if self.paused else ""),
            retry_in=retry_in,
            attempt=self.failures + 1,
            stale_for=self.stale_for(),
        )

    def stale_for(self) -> float | None:
        """Seconds since the data shown was read, while it is stale (None while live)."""
        if self.snapshot is None or self.link == "live":
            return None
        return max(0.0, self.clock() - self.snapshot.taken_at)

    def _tick(self) -> None:
        if self.link in ("disconnected", "failing"):
            self._show_problem()
            self.update_status()
            dashboard = self.dashboard
            if dashboard is not None:
                dashboard.render_graph()  # its right edge says how old the data is

    def update_status(self) -> None:
        dashboard = self.dashboard
        if dashboard is None:
            return
        snapshot = self.snapshot
        run = self.load_run
        load = None
        if run is not None and run.running:
            done = load_fraction(run) * 100
            load = f"{fmt.safe_str(run.spec.user, width=20)} {min(done, 100):.0f}%"
        table = dashboard.table
        dashboard.set_status(
            Status(
                info=self.backend.info,
                link=self.link,
                paused=self.paused,
                read_only=self.read_only,
                stale_for=self.stale_for(),
                interval=self.poll_interval,
                latency_ms=snapshot.latency_ms if snapshot else None,
                poll_seconds=snapshot.poll_seconds if snapshot else None,
                buckets=len(snapshot.buckets) if snapshot else None,
                shown=table.matched if snapshot and table.pattern else None,
                invalid=len(snapshot.invalid) if snapshot else 0,
                load=load,
            )
        )
        dashboard.update_keys()  # Pause reads Resume while paused (repaints only on a change)

    # ------------------------------------------------------------------ controls

    def toggle_pause(self) -> None:
        self.paused = not self.paused
        if self.paused:
            self.reconnect.stop()
            if self._poll_timer is not None:
                self._poll_timer.stop()
                self._poll_timer = None
            self.retry_at = None
            self.notify("Paused: no polls until p (r polls once).", timeout=3)
        else:
            self.poll_now()
        if self.error:
            self._show_problem()
        self.update_status()

    def step_interval(self, direction: int) -> None:
        self.poll_interval = step_interval(self.poll_interval, direction)
        self.update_status()
        self.notify(f"Refresh every {fmt.seconds(self.poll_interval)}.", timeout=2)
        if not self.paused and self._poll_timer is not None and self.link == "live":
            self._poll_timer.stop()
            self._poll_timer = self.set_timer(self.poll_interval, self.poll_now, name="next poll")

    def toggle_selected(self, user: str) -> None:
        if user in self.selected:
            del self.selected[user]
        else:
            used = set(self.selected.values())
            self.selected[user] = next(i for i in range(len(self.selected) + 1) if i not in used)
        self._selection_changed()

    def clear_selected(self) -> None:
        self.selected.clear()
        self._selection_changed()

    def _selection_changed(self) -> None:
        dashboard = self.dashboard
        if dashboard is not None:
            dashboard.table.set_selected(self.selected)
            dashboard.render_graph()
            dashboard.update_keys()

    # ------------------------------------------------------------------ writes

    def write(self, verb: str, user: str, *, old: BucketConfig | None = None, new: BucketConfig | None = None) -> None:
        """configure | unconfigure | reset | delete, in a worker; the result is notified."""
        if self.read_only:
            self.notify("Read-only: nothing was changed.", severity="warning")
            return
        self._write(verb, user, old, new)

    @work(group="write", exit_on_error=False, description="write to Redis")
    async def _write(self, verb: str, user: str, old: BucketConfig | None, new: BucketConfig | None) -> None:
        now = time.monotonic()
        self._own_writes = {u: t for u, t in self._own_writes.items() if now - t < 10.0}  # only recent ones matter
        self._own_writes[user] = now
        try:
            entry: object = True
            if verb == "configure":
                assert new is not None
                # create=False: a bucket that expired since the poll is not re-created by an edit.
                entry = await self.backend.configure(user, new, create=False)
            elif verb == "unconfigure":
                entry = await self.backend.unconfigure(user)
            elif verb == "reset":
                await self.backend.reset(user)
            elif verb == "delete":
                await self.backend.delete(user)
            else:
                raise ValueError(f"unknown change {verb!r}")
        except AuditWriteFailed as exc:  # the change is live; only its audit entry is missing
            self.notify(f"{fmt.safe_str(user, width=40)}: {verb} applied, but the audit entry could not be written: {fmt.safe_str(fmt.redact(str(exc.cause)))}", title="Not audited", severity="warning", timeout=10, markup=False)
            self.poll_now()
            return
        except Exception as exc:
            self.notify(f"{fmt.safe_str(user, width=40)}: {verb} failed — {fmt.safe_str(fmt.redact(describe(exc)))}", title="Nothing changed" if is_disconnect(exc) else "Change failed", severity="error", timeout=8, markup=False)
            return
        if entry is None:  # the backend found nothing to change: nothing written, nothing audited
            self.notify(f"{fmt.safe_str(user, width=40)}: nothing changed (already so); nothing audited.", title="No change", timeout=4, markup=False)
            self.poll_now()
            return
        done = {
            "configure": "new settings applied",
            "unconfigure": "operator settings dropped, defaults apply",
            "reset": "refilled to max_tokens",
            "delete": "bucket deleted",
        }[verb]
        self.notify(f"{fmt.safe_str(user, width=40)}: {done} (audited).", title="Applied", timeout=4, markup=False)
        self.poll_now()

    # ------------------------------------------------------------------ load

    def start_load(self, spec: LoadSpec) -> None:
        if self.read_only:
            return
        if self.load_run is not None and self.load_run.running:
            self.notify("A load is already running.", severity="warning")
            return
        self.load_run = LoadRun(spec)
        self._load(spec)
        self._load_changed()

    def stop_load(self) -> None:
        """Stop the running load: gracefully first (in-flight requests answer), at once when asked again."""
        run = self.load_run
        if run is None or not run.running:
            return
        cancel = getattr(self._load_stream, "cancel", None)
        if cancel is not None and not run.stopping:
            run.stopping = True
            cancel()
        else:
            run.stopping = True
            for worker in self.workers:
                if worker.group == "load" and not worker.is_finished:
                    worker.cancel()
        self._load_changed()

    @work(exclusive=True, group="load", exit_on_error=False, description="fire load")
    async def _load(self, spec: LoadSpec) -> None:
        def ended(last: LoadProgress | None, *, cancelled: bool) -> LoadProgress:
            final = getattr(stream, "final", None) if stream is not None else None
            if final is not None:
                return final
            if last is not None:
                return replace(last, done=True, cancelled=cancelled)
            return LoadProgress(spec, 0.0, 0, 0, 0, 0, None, None, 0.0, done=True, cancelled=cancelled)

        stream = None
        last: LoadProgress | None = None
        try:
            check = getattr(self.backend, "check_load", None)
            if check is not None:
                # Refuses what can never succeed, before any request; the bucket it returns makes the
                # load use the bucket's own stored settings, so a test load never rewrites a service's.
                bucket = await check(spec)
                stream = self.backend.load(spec, bucket=bucket)
            else:
                stream = self.backend.load(spec)
            self._load_stream = stream
            async for progress in stream:
                last = progress
                self.post_message(LoadProgressed(progress))
                if progress.done:
                    break
            if last is None or not last.done:
                self.post_message(LoadProgressed(ended(last, cancelled=False)))
        except asyncio.CancelledError:
            self.post_message(LoadProgressed(ended(last, cancelled=True)))
            raise
        except Exception as exc:
            self.post_message(LoadFailed(describe(exc)))
        finally:
            self._load_stream = None
            closer = getattr(stream, "aclose", None)
            if closer is not None:
                try:
                    await closer()
                except Exception:
                    pass

    def on_load_progressed(self, message: LoadProgressed) -> None:
        run = self.load_run
        if run is None:
            return
        run.progress = message.progress
        if message.progress.done:
            run.running = False
            p = message.progress
            verb = "stopped" if p.cancelled else "done"
            self.notify(f"Load on {fmt.safe_str(p.spec.user, width=40)} {verb}: {p.sent} sent, {p.granted} granted, {p.denied} denied, {p.errors} errors.", title="Load", timeout=6, markup=False)
            self.poll_now()
        self._load_changed()

    def on_load_failed(self, message: LoadFailed) -> None:
        run = self.load_run
        if run is None:
            return
        run.error = fmt.redact(message.error)
        run.running = False
        self.notify(f"Load failed: {fmt.safe_str(run.error)}", severity="error", timeout=8, markup=False)
        self._load_changed()

    def _load_changed(self) -> None:
        from dashboard.tui.screens.load import LoadModal

        for screen in self.screen_stack:
            if isinstance(screen, LoadModal) and self.load_run is not None:
                screen.show_run(self.load_run)
        self.update_status()

    # ------------------------------------------------------------------ app actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in actions.MUTATING and self.read_only:
            return False
        return True

    def action_help(self) -> None:
        from dashboard.tui.screens.help import HelpScreen

        if not any(isinstance(s, HelpScreen) for s in self.screen_stack):
            self.push_screen(HelpScreen())

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Workers report through messages; an unexpected crash still must not go unseen.
        worker = event.worker
        if event.state.name == "ERROR" and worker.group not in ("poll",):
            self.notify(f"{worker.description or worker.name} failed: {fmt.safe_str(fmt.redact(str(worker.error)))}", severity="error", markup=False)
        if worker.group == "poll" and event.state.name in ("ERROR",):
            self._polling = False
