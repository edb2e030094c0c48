"""The main screen: status bar, bucket table, invalid keys, token graph, filter, key bar.

It renders the app's state (`state_changed`: the app says what changed) and
turns keys into requests posted up to the app (dashboard/tui/messages.py); it
never talks to Redis, and never changes the state itself.
"""

from __future__ import annotations

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.widget import Widget

from dashboard.core.protocol import Backend, BucketRow
from dashboard.tui import actions
from dashboard.tui import messages as msg
from dashboard.tui.colours import shadow_style, theme_colours
from dashboard.tui.graph_series import series_of, span_of
from dashboard.tui.notices import outside_changes
from dashboard.tui.screens.audit import AuditScreen
from dashboard.tui.screens.bucket_detail import BucketDetailScreen
from dashboard.tui.screens.dashboard_look import DASHBOARD_CSS, bucket_details, export_extras, status_of, table_titles, view_about
from dashboard.tui.screens.dashboard_writes import WriteActions
from dashboard.tui.screens.help import open_help
from dashboard.tui.state import Change, TuiState
from dashboard.tui.widgets.banner import ConnectionBanner
from dashboard.tui.widgets.bucket_table import NATURAL_DESCENDING, BucketTable, SortSpec
from dashboard.tui.widgets.filter_bar import FilterBar
from dashboard.tui.widgets.invalid_keys import InvalidKeys
from dashboard.tui.widgets.key_bar import KeyBar, KeyItem
from dashboard.tui.widgets.status_bar import StatusBar
from dashboard.tui.widgets.token_graph import TokenGraph

FILTER_KEYS = (
    KeyItem("enter", "Keep filter", "enter"),
    KeyItem("esc", "Clear filter", "escape"),
    KeyItem("↓", "To the table", "down"),
)
WIDE = 180  # at least this many columns: table and graph side by side


class DashboardScreen(WriteActions):
    DEFAULT_CSS = DASHBOARD_CSS

    BINDINGS = actions.bindings(actions.DASHBOARD)
    # Zoomed, the graph fills the middle; the state and the keys stay in view.
    ALLOW_IN_MAXIMIZED_VIEW = "#top, KeyBar"

    def __init__(self, state: TuiState, backend: Backend, *, max_rows: int = 500) -> None:
        super().__init__()
        self.state = state
        self.read_audit = backend.audit
        self.max_rows = max_rows
        self.default = backend.default  # what `unconfigure` applies, shown in its confirmation

    def compose(self) -> ComposeResult:
        with Vertical(id="top"):
            yield StatusBar()
            yield ConnectionBanner()
        with Container(id="main"):
            with Vertical(id="left"):
                yield BucketTable(max_rows=self.max_rows, id="buckets")
                yield InvalidKeys(id="invalid")
            yield TokenGraph(id="graph")
        yield FilterBar(id="filter")
        yield KeyBar(id="keys")

    @property
    def table(self) -> BucketTable:
        return self.query_one(BucketTable)

    ready = False  # set once the widgets are mounted

    def on_mount(self) -> None:
        self.ready = True
        self.table.focus()
        self._title_table()
        self._resized(self.app.size.width)
        self.update_keys()
        if self.state.snapshot is not None:
            self.render_snapshot(stale=self.state.link != "live")
        self.update_status()

    def on_resize(self, event: events.Resize) -> None:
        self._resized(event.size.width)

    def _resized(self, width: int) -> None:
        self.set_class(width >= WIDE, "-wide")

    # ------------------------------------------------------------------ rendering

    def state_changed(self, change: Change) -> None:
        """The app changed the state: render what changed."""
        if not self.ready:
            return
        state = self.state
        if Change.DATA in change:
            if state.previous is not None and state.snapshot is not None:
                notes = outside_changes(state, state.previous, state.snapshot, [*self.table.shown_users, *state.selected])
                if notes:
                    self.notify(notes, title="Settings changed outside this dashboard", severity="warning", timeout=8, markup=False)
            self.banner.clear_problem()
            self.render_snapshot(stale=False)
        if Change.STALE in change:
            self.render_snapshot(stale=True)
        if Change.PROBLEM in change:
            self.show_problem()
        if Change.SELECTION in change:
            self.table.set_selected(state.selected)
        if change & (Change.SELECTION | Change.CLOCK):
            self.render_graph()
        if Change.SELECTION in change:
            self.update_keys()
        if Change.STATUS in change:
            self.update_status()

    def show_problem(self) -> None:
        state = self.state
        if state.error is None:
            return
        self.banner.show_problem(
            title="DISCONNECTED" if state.link == "disconnected" else "POLL FAILED",
            error=state.error + (" · paused: r retries" if state.paused else ""),
            retry_in=state.retry_in(),
            attempt=state.failures + 1,
            stale_for=state.stale_for(),
        )

    def update_status(self) -> None:
        table = self.table
        self.query_one(StatusBar).status = status_of(self.state, shown=table.matched if table.pattern or table.top else None)
        self.update_keys()  # Pause reads Resume while paused (repaints only on a change)

    def render_snapshot(self, *, stale: bool) -> None:
        state = self.state
        table = self.table
        snapshot = state.snapshot
        if snapshot is not None:
            with self.app.batch_update():
                table.show(snapshot.buckets, levels=state.history.levels, selected=state.selected, stale=stale,
                           windows=state.windows, alerts=state.alerts)
                self.query_one(InvalidKeys).show(snapshot.invalid)
        self._title_table()
        self.render_graph()
        self.update_keys()

    def update_keys(self) -> None:
        """The key bar from the action table, as `check_action` allows now (repaints only on a change)."""
        if isinstance(self.focused, FilterBar):  # typing a filter: its own keys, not the table's
            self.query_one(KeyBar).set_items(FILTER_KEYS)
            return
        items: list[KeyItem] = []
        row = self.table.bucket(self.table.current_user)
        in_preview = row is not None and row.shadow is not None
        for entry in actions.KEY_BAR:
            if entry.preview_only and not in_preview:
                continue  # promote / discard: in the bar only where they act (the keys still answer elsewhere)
            allowed = [self._allowed(name) for name in entry.actions]
            if not any(a is not False for a in allowed):
                continue  # not available at all (read-only)
            label = entry.label_on if entry.label_on and self._toggled(entry.actions[0]) else entry.label
            items.append(KeyItem(entry.key, label, entry.press, enabled=any(a is True for a in allowed)))
        self.query_one(KeyBar).set_items(tuple(items))

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self.update_keys()

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        self.update_keys()

    def _allowed(self, name: str) -> bool | None:
        if name in self._own_actions:
            return self.check_action(name, ())
        return self.app.check_action(name, ())

    def _toggled(self, name: str) -> bool:
        return name == "toggle_pause" and self.state.paused

    _own_actions = frozenset(a.name for a in actions.DASHBOARD)

    def render_graph(self) -> None:
        """The graphed users (picked with space), or the user under the cursor when none are picked."""
        state = self.state
        table = self.table
        users = list(state.selected) or ([table.current_user] if table.current_user else [])
        detail = [state.detail_user] if state.detail_user is not None else []
        state.history.watch([*users, *table.shown_users, *detail])  # history for the rows held, the graphed users, the detail
        series = [series_of(state, user, table.bucket(user)) for user in users]
        span = span_of(state, series)
        graph = self.query_one(TokenGraph)
        if state.snapshot is None:
            empty = "waiting for the first poll…"
        elif not state.snapshot.buckets:
            empty = "no buckets under this prefix yet"
        else:
            empty = "no history yet for this user"
        age = state.stale_for() or 0.0  # stale data: the right edge is that old, not "now"
        graph.show(series, span=span, subtitle=self._details(table.bucket(table.current_user)), empty=empty, age=age, mode=state.graph_mode)

    def _details(self, row: BucketRow | None) -> Text:
        state, colours = self.state, theme_colours(self.app)
        alert = state.alerts.get(row.user) if row is not None else None
        counts = state.windows.counts(row.user) if row is not None else {}
        slot = state.selected.get(row.user, 0) if row is not None else 0  # the preview in its graph line's colour
        return bucket_details(row, disagree_style=f"bold {colours.mid}", alert=alert, alert_style=f"bold {colours.low}", windows=counts,
                              preview_style=shadow_style(slot))

    def _title_table(self) -> None:
        self.table.set_titles(*table_titles(self.table))

    @property
    def banner(self) -> ConnectionBanner:
        return self.query_one(ConnectionBanner)

    # ------------------------------------------------------------------ events

    @on(BucketTable.RowHighlighted)
    def _cursor_moved(self, event: BucketTable.RowHighlighted) -> None:
        self._title_table()
        self.render_graph()
        self.update_keys()

    @on(BucketTable.RowSelected)
    def _row_chosen(self, event: BucketTable.RowSelected) -> None:
        self.action_detail()  # enter (or a click) on a row: that bucket in detail

    @on(BucketTable.Sorted)
    def _sorted(self, event: BucketTable.Sorted) -> None:
        self._title_table()
        self.render_graph()

    @on(FilterBar.PatternChanged)
    def _filtered(self, event: FilterBar.PatternChanged) -> None:
        self.table.set_filter(event.pattern)
        self._title_table()
        self.update_status()
        if event.done:
            self.table.focus()
        self.render_graph()

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.state.permits(action):
            return False
        if action in ("load", "edit", "reset", "delete", "unconfigure", "toggle_graph", "detail", "promote", "discard_shadow", "copy_user"):
            row = self.table.bucket(self.table.current_user)
            if row is None:
                return None
            if action == "unconfigure" and not row.overridden:
                return None
        if action == "clear_graph" and not self.state.selected:
            return None
        return True

    def _bucket(self, user: str) -> BucketRow | None:
        return self.table.bucket(user)

    def _current(self) -> BucketRow | None:
        row = self.table.bucket(self.table.current_user)
        if row is None:
            self.notify("No bucket under the cursor.", severity="warning", timeout=3)
        return row

    def action_help(self) -> None:
        open_help(self.app, read_only=self.state.read_only)

    def action_toggle_pause(self) -> None:
        self.post_message(msg.PauseToggled())

    def action_refresh_now(self) -> None:
        self.post_message(msg.RefreshRequested())

    def action_faster(self) -> None:
        self.post_message(msg.IntervalStepped(-1))

    def action_slower(self) -> None:
        self.post_message(msg.IntervalStepped(+1))

    def action_filter(self) -> None:
        bar = self.query_one(FilterBar)
        bar.value = self.table.pattern
        bar.open()

    def action_sort_next(self) -> None:
        self.table.sort_next()

    def action_sort_reverse(self) -> None:
        self.table.sort_reverse()

    def sort_by(self, column: str, descending: bool) -> None:
        self.table.set_sort(SortSpec(column, descending))

    def action_sort_column(self, key: str = "") -> None:
        column = actions.SORT_KEYS.get(key)
        if column is None:
            self.notify(f"Sort keys: {actions.SORT_HELP}.", timeout=6)
            return
        sort = self.table.sort_spec
        self.table.set_sort(SortSpec(column, not sort.descending if sort.column == column else NATURAL_DESCENDING[column]))

    def action_top_throttled(self) -> None:
        self.table.set_top(not self.table.top)

    def action_next_window(self) -> None:
        self.table.next_window()

    def action_export_csv(self) -> None:
        rows = self.table.matching_rows()
        self.post_message(msg.ExportRequested("csv", rows, view_about(self.table), export_extras(self.state, rows)))

    def action_export_json(self) -> None:
        rows = self.table.matching_rows()
        self.post_message(msg.ExportRequested("json", rows, view_about(self.table), export_extras(self.state, rows)))

    def action_screenshot(self) -> None:
        self.post_message(msg.ScreenshotRequested())

    def action_copy_user(self) -> None:
        user = self.table.current_user
        if user is not None:
            self.post_message(msg.CopyRequested(user))

    def action_toggle_graph(self) -> None:
        user = self.table.current_user
        if user is not None:
            self.post_message(msg.GraphToggled(user))

    def action_graph_mode(self) -> None:
        self.post_message(msg.GraphModeCycled())

    def action_detail(self) -> None:
        row = self._current()
        if row is not None:
            self.app.push_screen(BucketDetailScreen(self.state, row.user, read_audit=self.read_audit, default=self.default))

    def action_clear_graph(self) -> None:
        self.post_message(msg.GraphCleared())

    def action_zoom_graph(self) -> None:
        if self.maximized is not None:
            self.minimize()
        else:
            # Textual drops the focus of a widget hidden by the zoom; it comes back on the way out.
            self._focus_before_zoom = self.focused
            self.maximize(self.query_one(TokenGraph), container=False)

    _focus_before_zoom: Widget | None = None

    def watch_maximized(self, maximized: Widget | None) -> None:
        """Restore the focus when the zoom ends, whether by z or by escape (Textual's minimize)."""
        if maximized is None:
            widget, self._focus_before_zoom = self._focus_before_zoom, None
            if widget is not None and widget.is_attached:
                self.set_focus(widget, scroll_visible=False)

    def action_audit(self) -> None:
        self.app.push_screen(AuditScreen(self.read_audit))
