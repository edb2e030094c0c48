"""One bucket in detail (enter on a table row; escape goes back), like k9s' describe.

Every stored field with its meaning, where the settings come from, ceiling,
time until full, TTL, counters and rates, the windows when the app keeps them,
this user's audit entries and its graph. It renders the app's state on every
poll (`state_changed`), reading the bucket's newest row from the history (the
app keeps this user's history while the screen is open), and says when the
bucket is gone from the polls. The audit stream is read in a worker: on
opening, when the bucket's settings change, and on ``r``.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from textual import events, work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from dashboard.core.bucket_detail import audit_for
from dashboard.core.protocol import AuditEntry, BucketRow
from dashboard.tui import actions
from dashboard.tui import format as fmt
from dashboard.tui import messages as msg
from dashboard.tui.screens.detail_look import DETAIL_CSS, audit_view, facts, fields_table, meanings_table, title_line
from dashboard.tui.screens.edit import open_edit
from dashboard.tui.screens.help import open_help
from dashboard.tui.screens.load import LoadModal
from dashboard.tui.state import Change, TuiState
from dashboard.tui.widgets.key_bar import KeyBar, KeyItem
from dashboard.tui.graph_series import series_of, span_of
from dashboard.tui.widgets.token_graph import TokenGraph
from limiter.config import BucketConfig

AUDIT_READ = 500  # the newest entries of the stream searched for this user's
WIDE = 140  # at least this many columns: fields and meanings on the left, graph and audit on the right

KEYS = (("esc", "Back", "close", "escape"), ("g", "Mode", "graph_mode", "g"), ("e", "Edit", "edit", "e"),
        ("l", "Load", "load", "l"), ("r", "Audit", "reload_audit", "r"), ("?", "Help", "help", "question_mark"))


def _settings_key(row: BucketRow | None) -> object:
    """What, when it changes, may have an audit entry: the settings, the operator flag, the preview."""
    if row is None:
        return None
    return (row.config, row.overridden, row.shadow.config if row.shadow is not None else None)


class BucketDetailScreen(Screen[None]):
    DEFAULT_CSS = DETAIL_CSS
    BINDINGS = actions.bindings(actions.DETAIL)

    def __init__(self, state: TuiState, user: str, *, read_audit: Callable[[int], Awaitable[list[AuditEntry]]],
                 default: BucketConfig | None = None) -> None:
        super().__init__()
        self.state = state
        self.user = user
        self.read_audit = read_audit
        self.default = default
        self.row: BucketRow | None = state.history.latest(user)  # the newest poll's row (None: gone)
        self.last_row: BucketRow | None = self.row  # the last one seen, shown while the bucket is gone
        self.gone_since: float | None = None
        self.entries: list[AuditEntry] | None = None
        self.audit_error: str | None = None
        self._audited: object = _settings_key(self.row)
        self.ready = False

    def compose(self) -> ComposeResult:
        yield Static(id="detail-title")
        with VerticalScroll(id="detail-body"):
            with Vertical(id="detail-left"):
                yield Static(id="fields")
            with Vertical(id="detail-right"):
                yield TokenGraph(id="detail-graph")
                yield Static(id="audit-entries")
                yield Static(id="meanings")
        yield KeyBar(id="detail-keys")

    def on_mount(self) -> None:
        self.ready = True
        self.set_class(self.app.size.width >= WIDE, "-wide")
        self.query_one("#detail-body").focus()
        self.post_message(msg.DetailOpened(self.user))  # the app keeps this user's history from now on
        self.render_all()
        self.action_reload_audit()

    def on_unmount(self) -> None:
        self.ready = False  # its widgets are going: nothing more to render
        self.app.post_message(msg.DetailOpened(None))

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width >= WIDE, "-wide")
        if self.ready:
            self.render_all()

    # ------------------------------------------------------------------ rendering

    def state_changed(self, change: Change) -> None:
        if not self.ready:
            return
        if Change.DATA in change:
            row = self.state.history.latest(self.user)
            snapshot = self.state.snapshot
            if row is None and self.row is not None and snapshot is not None:
                self.gone_since = snapshot.taken_at
            elif row is not None:
                self.gone_since = None
                self.last_row = row
            self.row = row
            if _settings_key(row) != self._audited and row is not None:
                self.action_reload_audit()  # a change of settings is likely audited: read it
        if change & (Change.DATA | Change.STALE | Change.SELECTION | Change.CLOCK | Change.STATUS):
            self.render_all()

    def render_all(self) -> None:
        state = self.state
        stale = state.stale_for()
        row = self.row or self.last_row
        self.query_one("#detail-title", Static).update(title_line(self.user, row, gone_since=self.gone_since, stale_for=stale))
        wide = self.has_class("-wide")
        fields = self.query_one("#fields", Static)
        meanings = self.query_one("#meanings", Static)
        if row is None:
            fields.update(fmt.safe_text(f"{self.user}: no bucket in the last poll", style="bold red"))
            meanings.update("")
        else:
            now_us = state.snapshot.redis_time_us if state.snapshot is not None else 0
            rows = facts(row, now_us=now_us, default=self.default, windows=state.windows.counts(self.user))
            fields.update(fields_table(rows, meanings=wide, stale=self.row is None or stale is not None))
            meanings.update("" if wide else meanings_table(rows))
        self.render_graph()
        self.render_audit()
        self.update_keys()

    def render_graph(self) -> None:
        state = self.state
        series = [series_of(state, self.user, self.row or self.last_row)]
        span = span_of(state, series)
        graph = self.query_one(TokenGraph)
        empty = "the bucket is gone: no history" if self.row is None else "no history yet"
        graph.show(series, span=span, empty=empty, age=state.stale_for() or 0.0, mode=state.graph_mode,
                   subtitle=f"g: {state.graph_mode.next().title}")

    def render_audit(self) -> None:
        width = self.query_one("#audit-entries").size.width or self.app.size.width
        self.query_one("#audit-entries", Static).update(audit_view(self.entries, error=self.audit_error, read=AUDIT_READ, width=width))

    def update_keys(self) -> None:
        items = []
        for key, label, action, press in KEYS:
            allowed = self.check_action(action, ())
            if allowed is False:
                continue  # read-only: not there at all
            items.append(KeyItem(key, label, press, enabled=allowed is True))
        self.query_one(KeyBar).set_items(tuple(items))

    # ------------------------------------------------------------------ the audit stream

    def action_reload_audit(self) -> None:
        self._audited = _settings_key(self.row)
        self._read_audit()

    @work(exclusive=True, group="detail-audit", exit_on_error=False, description="read the audit stream")
    async def _read_audit(self) -> None:
        try:
            entries = await self.read_audit(AUDIT_READ)
        except Exception as exc:  # Redis down: say so, keep the screen
            self.audit_error = fmt.redact_message(str(exc))
        else:
            self.entries, self.audit_error = audit_for(entries, self.user), None
        if self.is_attached:
            self.render_audit()

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.state.permits(action):
            return False
        if action in ("edit", "load") and self.row is None:
            return None  # the bucket is gone: nothing to change
        return True

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_help(self) -> None:
        open_help(self.app, read_only=self.state.read_only)

    def action_graph_mode(self) -> None:
        self.post_message(msg.GraphModeCycled())

    def action_edit(self) -> None:
        row = self.row
        if row is None:
            return
        open_edit(self, self.state, row)

    def action_load(self) -> None:
        run = self.state.load_run
        if run is not None and run.running:
            self.app.push_screen(LoadModal(self.state, self.state.history.latest(run.spec.user)))
        elif self.row is not None:
            self.app.push_screen(LoadModal(self.state, self.row))
