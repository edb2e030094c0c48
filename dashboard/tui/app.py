"""`TbdashApp`: the live dashboard on any `Backend`, and its controller.

The app owns the state (`TuiState`), the polling loop and the writes. Screens
post requests (dashboard/tui/messages.py), which the handlers here apply to
the state; then every open screen that renders the state (`StateView`) hears
what changed. No screen calls into the app, and the app reaches into no widget.

Polling is a self-rescheduling worker: one poll at a time, the next one armed
with a timer when the last one ends (after ``poll_interval``, or after a
backoff when it failed), so polls never overlap and the UI never waits on Redis.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

from textual import work
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from dashboard.core.errors import AuditWriteFailed
from dashboard.core.protocol import AuditEntry, Backend
from dashboard.core.thresholds import Thresholds
from dashboard.tui import actions
from dashboard.tui import format as fmt
from dashboard.tui import messages as msg
from dashboard.tui import writes
from dashboard.tui.commands import TbdashCommands
from dashboard.tui.history import HistoryBook
from dashboard.tui.notices import DONE, NO_CHANGE, who
from dashboard.tui.polling import backoff, describe, is_disconnect, step_interval
from dashboard.tui.reconnect import ReconnectProbe
from dashboard.tui.screens.dashboard import DashboardScreen
from dashboard.tui.screens.help import open_help
from dashboard.tui.load_control import LoadControl
from dashboard.tui.state import Change, LoadRun, StateView, TuiState, load_fraction
from dashboard.tui import textual_fixes
from dashboard.tui.views_control import ViewsControl
from limiter.config import BucketConfig

textual_fixes.apply()

__all__ = ["LoadRun", "TbdashApp", "load_fraction"]  # (LoadRun and load_fraction live in state.py)


def _state_field(name: str) -> Any:
    """``app.<name>`` reads (and, for tests and the CLI, sets) ``app.state.<name>``."""
    return property(lambda app: getattr(app.state, name), lambda app, value: setattr(app.state, name, value))


class TbdashApp(LoadControl, ViewsControl):
    TITLE = "tbdash"
    SUB_TITLE = "token buckets"
    COMMANDS = ViewsControl.COMMANDS | {TbdashCommands}
    BINDINGS = actions.bindings(actions.APP)
    CSS = "Screen { background: $background; }"

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
        thresholds: Thresholds | None = None,
        export_dir: str | None = None,
        theme: str | None = None,
        save_theme: Callable[[str], Any] | None = None,
    ) -> None:
        super().__init__()
        self.export_dir = export_dir or "."
        self.save_theme = save_theme
        self._theme_wanted = theme
        self.backend = backend
        self.state = TuiState(
            read_only=bool(read_only or backend.read_only),
            poll_interval=max(0.1, float(poll_interval)),
            paused=start_paused,
            history=HistoryBook(history_length),
            info=backend.info,
            clock=clock,
            thresholds=thresholds or Thresholds(),
        )
        self._poll_timer: Timer | None = None
        self.reconnect = ReconnectProbe(self, self.state, on_back=self.poll_now)  # while disconnected: is the server back?
        self._polling = False
        self._poll_again = False
        self._closing = False
        self._connected = False
        self._server_before_outage: str | None = None  # to tell a failover from a restart

    # The state as attributes, for the tests and the curious (the state is the one copy).
    (snapshot, link, error, retry_at, polls, paused, read_only, poll_interval, selected, history, load_run) = (
        _state_field(name) for name in ("snapshot", "link", "error", "retry_at", "polls", "paused", "read_only", "poll_interval",
                                        "selected", "history", "load_run"))

    # ------------------------------------------------------------------ lifecycle

    def get_default_screen(self) -> DashboardScreen:
        return DashboardScreen(self.state, self.backend, max_rows=self.max_rows)

    def on_mount(self) -> None:
        self.start_theme(self._theme_wanted)
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

    def changed(self, change: Change) -> None:
        """Tell every open screen that renders the state what changed."""
        self.state.info = self.backend.info
        for screen in self.screen_stack:
            if isinstance(screen, StateView):
                screen.state_changed(change)

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
        self.state.retry_at = None
        self._poll()

    @work(exclusive=True, group="poll", exit_on_error=False, description="poll Redis")
    async def _poll(self) -> None:
        state = self.state
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
            state.failures += 1
            delay = backoff(state.failures)
            self.post_message(msg.PollFailed(describe(exc), disconnected=is_disconnect(exc), retry_in=delay, attempt=state.failures))
            self._schedule(delay, failed=True)
        else:
            state.failures = 0
            self.post_message(msg.SnapshotReady(snapshot))
            self._schedule(state.poll_interval, failed=False)

    async def _connect(self) -> None:  # the server version (and Sentinel primary): once, and after an outage
        if not self.backend.info.version or self._server_before_outage is not None:
            await asyncio.wait_for(self.backend.connect(), timeout=self.poll_timeout)
        self._connected = True

    def _schedule(self, delay: float, *, failed: bool) -> None:
        self._polling = False
        self.state.polls += 1
        if self._closing:
            return
        if self._poll_again:
            self._poll_again = False
            delay = 0.0
        elif self.state.paused:
            return  # no polls while paused; `r` still polls once
        self.state.retry_at = time.monotonic() + delay if failed else None
        # Never a zero-length timer: Textual divides by the interval when a timer runs late.
        self._poll_timer = self.set_timer(max(delay, 0.01), self.poll_now, name="next poll")

    def on_snapshot_ready(self, message: msg.SnapshotReady) -> None:
        state = self.state
        was_down = state.down
        state.take(message.snapshot)
        self.reconnect.stop()
        self.changed(Change.DATA | Change.STATUS)
        if was_down:
            before, now = self._server_before_outage, self.backend.info.server
            self._server_before_outage = None
            if before is not None and before != now:
                self.notify(f"Failover: the primary moved from {fmt.safe_str(before)} to {fmt.safe_str(now)}.", severity="warning", timeout=10, markup=False)
            else:
                self.notify("Connection to Redis is back.", severity="information", timeout=4)

    def on_poll_failed(self, message: msg.PollFailed) -> None:
        state = self.state
        state.info = self.backend.info  # the probe below knocks at this server
        first = not state.down
        state.link = "disconnected" if message.disconnected else "failing"
        state.error = fmt.redact_message(message.error)
        if message.disconnected and not state.paused:
            self.reconnect.start()
        self.changed((Change.STALE if first and state.snapshot is not None else Change(0)) | Change.PROBLEM | Change.STATUS)
        if first:
            self.notify(f"Redis poll failed: {fmt.safe_str(state.error)}", title="DISCONNECTED" if message.disconnected else "POLL FAILED", severity="error", timeout=6, markup=False)

    def _tick(self) -> None:
        if self.state.down:
            self.changed(Change.PROBLEM | Change.STATUS | Change.CLOCK)  # the graph's right edge says how old the data is

    # ------------------------------------------------------------------ the operator's requests

    def on_pause_toggled(self, message: msg.PauseToggled) -> None:
        state = self.state
        state.paused = not state.paused
        if state.paused:
            self.reconnect.stop()
            if self._poll_timer is not None:
                self._poll_timer.stop()
                self._poll_timer = None
            state.retry_at = None
            self.notify("Paused: no polls until p (r polls once).", timeout=3)
        else:
            self.poll_now()
        self.changed((Change.PROBLEM if state.error else Change(0)) | Change.STATUS)

    def on_refresh_requested(self, message: msg.RefreshRequested) -> None:
        self.poll_now()

    def on_interval_stepped(self, message: msg.IntervalStepped) -> None:
        state = self.state
        state.poll_interval = step_interval(state.poll_interval, message.direction)
        self.changed(Change.STATUS)
        self.notify(f"Refresh every {fmt.seconds(state.poll_interval)}.", timeout=2)
        if not state.paused and self._poll_timer is not None and state.link == "live":
            self._poll_timer.stop()
            self._poll_timer = self.set_timer(state.poll_interval, self.poll_now, name="next poll")

    def on_graph_toggled(self, message: msg.GraphToggled) -> None:
        self.state.toggle_selected(message.user)
        self.changed(Change.SELECTION)

    def on_graph_cleared(self, message: msg.GraphCleared) -> None:
        self.state.selected.clear()
        self.changed(Change.SELECTION)

    def on_graph_mode_cycled(self, message: msg.GraphModeCycled) -> None:
        self.state.graph_mode = self.state.graph_mode.next()
        self.changed(Change.SELECTION)

    def on_detail_opened(self, message: msg.DetailOpened) -> None:
        self.state.detail_user = message.user
        self.changed(Change.SELECTION)

    def on_change_requested(self, message: msg.ChangeRequested) -> None:
        self.write(message.verb, message.user, old=message.old, new=message.new)

    # ------------------------------------------------------------------ writes

    def write(self, verb: str, user: str, *, old: BucketConfig | None = None, new: BucketConfig | None = None) -> None:
        """One of `state.WRITES` (dashboard/tui/writes.py), in a worker; the result is notified."""
        if not self.state.permits(verb):
            self.notify("Read-only: nothing was changed.", severity="warning")
            return
        self._write(verb, user, new)

    @work(group="write", exit_on_error=False, description="write to Redis")
    async def _write(self, verb: str, user: str, new: BucketConfig | None) -> None:
        self.state.note_write(user)
        try:
            entry = await writes.perform(self.backend, verb, user, new)
        except AuditWriteFailed as exc:  # the change is live; only its audit entry is missing
            self.notify(f"{who(user)}: {verb} applied, but the audit entry could not be written: {fmt.safe_str(fmt.redact_message(str(exc.cause)))}", title="Not audited", severity="warning", timeout=10, markup=False)
            self.poll_now()
            return
        except Exception as exc:
            self.notify(f"{who(user)}: {verb} failed — {fmt.safe_str(fmt.redact_message(describe(exc)))}", title="Nothing changed" if is_disconnect(exc) else "Change failed", severity="error", timeout=8, markup=False)
            return
        if entry is None:  # the backend found nothing to change: nothing written, nothing audited
            self.notify(f"{who(user)}: nothing changed ({NO_CHANGE.get(verb, 'already so')}); nothing audited.", title="No change", timeout=4, markup=False)
        else:
            self.notify(f"{who(user)}: {DONE[verb]} (audited).", title="Applied", timeout=4, markup=False)
        self.poll_now()

    # ------------------------------------------------------------------ app actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.state.permits(action)

    def action_help(self) -> None:
        open_help(self, read_only=self.state.read_only)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Workers report through messages; an unexpected crash still must not go unseen.
        worker = event.worker
        if event.state == WorkerState.ERROR and worker.group != "poll":
            self.notify(f"{worker.description or worker.name} failed: {fmt.safe_str(fmt.redact_message(str(worker.error)))}", severity="error", markup=False)
        if worker.group == "poll" and event.state == WorkerState.ERROR:
            self._polling = False
