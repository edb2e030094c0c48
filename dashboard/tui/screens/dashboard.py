"""The main screen: status bar, bucket table, invalid keys, token graph, filter, key bar.

It renders what the app hands it (`render_snapshot`) and turns keys into app
calls; it never talks to Redis itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable

from dashboard.core.protocol import BucketRow, Snapshot
from dashboard.tui import actions
from dashboard.tui import format as fmt
from dashboard.tui.colours import theme_colours
from dashboard.tui.screens import confirm
from dashboard.tui.screens.confirm import ConfirmModal
from dashboard.tui.widgets.banner import ConnectionBanner
from dashboard.tui.widgets.bucket_table import COLUMNS, BucketTable, SortSpec
from dashboard.tui.widgets.filter_bar import FilterBar
from dashboard.tui.widgets.invalid_keys import InvalidKeys
from dashboard.tui.widgets.key_bar import KeyBar, KeyItem
from dashboard.tui.widgets.status_bar import StatusBar
from dashboard.tui.widgets.token_graph import Series, TokenGraph

if TYPE_CHECKING:
    from dashboard.tui.app import TbdashApp

FILTER_KEYS = (
    KeyItem("enter", "Keep filter", "enter"),
    KeyItem("esc", "Clear filter", "escape"),
    KeyItem("↓", "To the table", "down"),
)
WIDE = 180  # at least this many columns: table and graph side by side


class DashboardScreen(Screen):
    DEFAULT_CSS = """
    DashboardScreen {
        layout: vertical;
    }
    DashboardScreen #top {
        dock: top;
        height: auto;
    }
    DashboardScreen #main {
        layout: vertical;
        height: 1fr;
    }
    DashboardScreen #left {
        height: auto;
        max-height: 60%;
    }
    DashboardScreen #left BucketTable {
        height: auto;
        max-height: 100%;
    }
    DashboardScreen TokenGraph {
        height: 1fr;
        min-height: 8;
    }
    DashboardScreen.-wide #main {
        layout: horizontal;
    }
    DashboardScreen.-wide #left {
        height: 1fr;
        max-height: 100%;
        width: 3fr;
    }
    DashboardScreen.-wide #left BucketTable {
        height: 1fr;
    }
    DashboardScreen.-wide TokenGraph {
        height: 1fr;
        width: 2fr;
    }
    DashboardScreen BucketTable {
        border: round $primary 60%;
        border-title-align: left;
        border-subtitle-align: right;
        min-height: 5;
    }
    DashboardScreen BucketTable:focus {
        border: round $primary;
    }
    """

    BINDINGS = actions.bindings(actions.DASHBOARD)
    # Zoomed, the graph fills the middle; the state and the keys stay in view.
    ALLOW_IN_MAXIMIZED_VIEW = "#top, KeyBar"

    def compose(self) -> ComposeResult:
        with Vertical(id="top"):
            yield StatusBar()
            yield ConnectionBanner()
        with Container(id="main"):
            with Vertical(id="left"):
                yield BucketTable(max_rows=getattr(self.app, "max_rows", 500), id="buckets")
                yield InvalidKeys(id="invalid")
            yield TokenGraph(id="graph")
        yield FilterBar(id="filter")
        yield KeyBar(id="keys")

    @property
    def tbdash(self) -> TbdashApp:
        return self.app  # type: ignore[return-value]

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
        app = self.tbdash
        if app.snapshot is not None:
            self.render_snapshot(app.snapshot, stale=app.link != "live")
        app.update_status()

    def on_resize(self, event) -> None:
        self._resized(event.size.width)

    def _resized(self, width: int) -> None:
        self.set_class(width >= WIDE, "-wide")

    # ------------------------------------------------------------------ rendering

    def render_snapshot(self, snapshot: Snapshot | None, *, stale: bool) -> None:
        app = self.tbdash
        table = self.table
        if snapshot is not None:
            with self.app.batch_update():
                table.show(snapshot.buckets, levels=app.history.levels, selected=app.selected, stale=stale)
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
        for entry in actions.KEY_BAR:
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
        return name == "toggle_pause" and self.tbdash.paused

    _own_actions = frozenset(a.name for a in actions.DASHBOARD)

    def render_graph(self) -> None:
        """The graphed users (picked with space), or the user under the cursor when none are picked."""
        app = self.tbdash
        table = self.table
        users = list(app.selected) or ([table.current_user] if table.current_user else [])
        app.history.watch([*users, *table.shown_users])  # history for the rows held and the graphed users
        newest = app.history.newest
        series: list[Series] = []
        for user in users:
            history = app.history.get(user)
            row = table.bucket(user)
            ceiling = row.ceiling if row else history.ceiling
            ago = [newest - t for t in history.times] if newest is not None else []
            series.append(Series(user, ago, history.tokens, ceiling, app.selected.get(user, 0)))
        oldest = max((s.ago[0] for s in series if s.ago), default=0.0)
        span = max(oldest, 10 * app.poll_interval, 10.0)
        graph = self.query_one(TokenGraph)
        if app.snapshot is None:
            empty = "waiting for the first poll…"
        elif not app.snapshot.buckets:
            empty = "no buckets under this prefix yet"
        else:
            empty = "no history yet for this user"
        age = app.stale_for() or 0.0  # stale data: the right edge is that old, not "now"
        graph.show(series, span=span, subtitle=self._details(table.bucket(table.current_user)), empty=empty, age=age)

    def _details(self, row: BucketRow | None) -> Text:
        if row is None:
            return Text("")
        c = row.config
        text = Text()
        text.append_text(fmt.safe_text(row.user, style="bold", width=20))
        if row.callers_disagree and row.other_default is not None:  # first: it is what the operator must act on
            o = row.other_default
            text.append(
                f" services disagree: {c.max_tokens}+{c.burst} {fmt.refill(c)} vs {o.max_tokens}+{o.burst} {fmt.refill(o)}"
                f" ({row.default_changes}×) ·",
                style=f"bold {theme_colours(self.app).mid}",
            )
        text.append(f" max {c.max_tokens}+{c.burst} · {fmt.refill(c)} · ")
        text.append(f"granted {row.granted} denied {row.denied}")
        text.append(" · operator" if row.overridden else " · default")
        if row.ttl_ms is not None:
            text.append(f" · ttl {fmt.ago(row.ttl_ms / 1000)}")
        text.append(" ")
        return text

    def _title_table(self) -> None:
        table = self.table
        sort = table.sort_spec
        header = {key: label for key, label, *_ in COLUMNS}
        title = Text("buckets", style="bold")
        if table.pattern:
            title.append("  filter ")
            title.append_text(fmt.safe_text(table.pattern, style="bold reverse", width=30, escape_style="underline"))
            title.append(f" {table.matched} match")
        if table.truncated:
            title.append(f"  first {table.row_count} of {table.matched} by sort; / narrows", style="italic")
        if title != table.border_title:  # setting a title repaints the whole table
            table.border_title = title
        position = f"{table.cursor_row + 1}/{table.row_count} · " if table.row_count else ""
        subtitle = Text(f"{position}sort {header.get(sort.column, sort.column)} {'▼' if sort.descending else '▲'} (s, S) ")
        if subtitle != table.border_subtitle:
            table.border_subtitle = subtitle

    def set_status(self, status) -> None:
        self.query_one(StatusBar).status = status

    @property
    def banner(self) -> ConnectionBanner:
        return self.query_one(ConnectionBanner)

    # ------------------------------------------------------------------ events

    @on(DataTable.RowHighlighted)
    def _cursor_moved(self, event: DataTable.RowHighlighted) -> None:
        self._title_table()
        self.render_graph()
        self.update_keys()

    @on(BucketTable.Sorted)
    def _sorted(self, event: BucketTable.Sorted) -> None:
        self._title_table()
        self.render_graph()

    @on(FilterBar.PatternChanged)
    def _filtered(self, event: FilterBar.PatternChanged) -> None:
        self.table.set_filter(event.pattern)
        self._title_table()
        self.tbdash.update_status()
        if event.done:
            self.table.focus()
        self.render_graph()

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        app = self.tbdash
        if action in actions.MUTATING and app.read_only:
            return False
        if action in ("load", "edit", "reset", "delete", "unconfigure", "toggle_graph"):
            row = self.table.bucket(self.table.current_user)
            if row is None:
                return None
            if action == "unconfigure" and not row.overridden:
                return None
        if action == "clear_graph" and not app.selected:
            return None
        return True

    def _current(self) -> BucketRow | None:
        row = self.table.bucket(self.table.current_user)
        if row is None:
            self.notify("No bucket under the cursor.", severity="warning", timeout=3)
        return row

    def action_help(self) -> None:
        self.tbdash.action_help()

    def action_toggle_pause(self) -> None:
        self.tbdash.toggle_pause()

    def action_refresh_now(self) -> None:
        self.tbdash.poll_now()

    def action_faster(self) -> None:
        self.tbdash.step_interval(-1)

    def action_slower(self) -> None:
        self.tbdash.step_interval(+1)

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

    def action_toggle_graph(self) -> None:
        user = self.table.current_user
        if user is not None:
            self.tbdash.toggle_selected(user)

    def action_clear_graph(self) -> None:
        self.tbdash.clear_selected()

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

    def action_load(self) -> None:
        if self.tbdash.read_only:
            return
        from dashboard.tui.screens.load import LoadModal

        run = self.tbdash.load_run
        if run is not None and run.running:
            self.app.push_screen(LoadModal(self.table.bucket(run.spec.user)))
            return
        row = self._current()
        if row is not None:
            self.app.push_screen(LoadModal(row))

    def action_edit(self) -> None:
        if self.tbdash.read_only:
            return
        from dashboard.tui.screens.edit import EditBucketModal

        row = self._current()
        if row is None:
            return

        def edited(config) -> None:
            if config is not None:
                self.tbdash.write("configure", row.user, old=row.config, new=config)

        self.app.push_screen(EditBucketModal(row), edited)

    def _confirm_then(self, verb: str, row: BucketRow, question: ConfirmModal) -> None:
        def decided(confirmed: bool | None) -> None:
            if confirmed:
                self.tbdash.write(verb, row.user)

        self.app.push_screen(question, decided)

    def action_reset(self) -> None:
        row = self._current() if not self.tbdash.read_only else None
        if row is not None:
            self._confirm_then("reset", row, confirm.reset_confirmation(row))

    def action_unconfigure(self) -> None:
        row = self._current() if not self.tbdash.read_only else None
        if row is not None:
            default = getattr(self.tbdash.backend, "default", None)  # what `unconfigure` applies
            self._confirm_then("unconfigure", row, confirm.unconfigure_confirmation(row, default))

    def action_delete(self) -> None:
        row = self._current() if not self.tbdash.read_only else None
        if row is not None:
            self._confirm_then("delete", row, confirm.delete_confirmation(row))

    def action_audit(self) -> None:
        from dashboard.tui.screens.audit import AuditScreen

        self.app.push_screen(AuditScreen())
