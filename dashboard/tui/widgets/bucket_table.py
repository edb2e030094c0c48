"""The bucket table: the users in sort order, on `LineTable` (one cached strip per row).

A poll computes the new order of the users held (`RowPicker` picks them
without sorting all buckets) and hands it to the table, which repaints the
lines whose user moved; the rows on screen are rendered again and only the
lines whose texts changed are repainted (a cell that did not change keeps its
segments). Rows off screen are rendered when they come into view. The cursor
follows its user when the order moves it; scroll position survives every
refresh. Per poll the work follows the rows on screen and the rows that
changed, not the bucket count.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

from rich.text import Text
from textual import on
from textual.message import Message

from dashboard.core.protocol import BucketRow
from dashboard.tui import actions
from dashboard.tui.colours import theme_colours
from dashboard.tui.widgets.line_table import LineTable
from dashboard.tui.widgets.row_cells import RowContext, row_cells
from dashboard.tui.widgets.row_picker import RowPicker
# Re-exported: the screens and tests use them here.
from dashboard.tui.widgets.table_columns import COLUMNS, MAX_ROWS, NATURAL_DESCENDING, SORTABLE  # noqa: F401
from dashboard.tui.widgets.table_columns import Layout, Needs, SortSpec, clip, layout_for, matches, natural  # noqa: F401
from dashboard.tui.widgets.table_columns import cfg_cell, needs_of, refill_text, sort_value, tokens_text  # noqa: F401
from dashboard.tui.widgets.table_columns import WINDOW_COLUMNS, WINDOWED, column_label
from dashboard.tui.widgets.window_cells import NoWindows, WindowLookup, throttled, window_number

NO_NEEDS = Needs(0, 0, 0, 0)


class BucketTable(LineTable):
    """The buckets. Post `BucketTable.Sorted` when the sort changes (key or header click)."""

    DEFAULT_CSS = """
    BucketTable { height: 1fr; scrollbar-size-vertical: 1; }
    BucketTable.-stale { text-opacity: 55%; }
    """

    BINDINGS = actions.bindings(actions.TABLE)

    class Sorted(Message):
        def __init__(self, sort: SortSpec) -> None:
            super().__init__()
            self.sort = sort

    def __init__(self, *, max_rows: int = MAX_ROWS, id: str | None = None) -> None:
        super().__init__(id=id)
        self.sort_spec = SortSpec()
        self.pattern = ""
        self.stale = False
        self._layout: Layout | None = None
        self._rows: dict[str, BucketRow] = {}  # every bucket of the last snapshot
        self.max_rows = max_rows
        self.matched = 0  # buckets the filter lets through (the table holds at most max_rows of them)
        self._picker = RowPicker(max_rows)
        self._needs = Needs()  # the widest texts of the rows held (columns are sized to them)
        self._held_needs = Needs()
        self._row_context: RowContext | None = None  # what every row's cells depend on (built once per render)
        self._levels: Callable[[str, int], Sequence[int]] = lambda user, count: ()
        self._selected: Mapping[str, int] = {}
        self.window = "w60"  # the chosen window (a key of WINDOW_COLUMNS): its column, the ratio's window
        self.top = False  # the top-throttled view: only buckets that denied in the chosen window, most first
        self._windows: WindowLookup = NoWindows()
        self._alerts: Mapping[str, object] = {}  # users crossing a threshold (their rows are marked)
        self._sort_before_top: SortSpec | None = None

    # ------------------------------------------------------------------ API

    @property
    def current_user(self) -> str | None:
        """The user under the cursor."""
        keys, row = self.keys, self.cursor_row
        return keys[row] if 0 <= row < len(keys) else None  # type: ignore[return-value]

    def bucket(self, user: str | None) -> BucketRow | None:
        return self._rows.get(user) if user is not None else None

    @property
    def shown_users(self) -> list[str]:
        """The users held, top to bottom."""
        return list(self.keys)  # type: ignore[arg-type]

    def show(
        self,
        rows: Iterable[BucketRow],
        *,
        levels: Callable[[str, int], Sequence[int]],
        selected: Mapping[str, int],
        stale: bool = False,
        windows: WindowLookup | None = None,
        alerts: Mapping[str, object] | None = None,
    ) -> None:
        """Show one snapshot's buckets (all of them; the filter is applied here), their windows and alerts."""
        self._rows = {row.user: row for row in rows}
        self._levels = levels
        self._selected = selected
        if windows is not None:
            self._windows = self._picker.windows = windows
        if alerts is not None:
            self._alerts = alerts
        if stale != self.stale:
            self.stale = stale
            self.set_class(stale, "-stale")
        self._reconcile()

    def set_filter(self, pattern: str) -> None:
        if pattern != self.pattern:
            self.pattern = pattern
            self._reconcile()

    def set_sort(self, sort: SortSpec) -> None:
        if sort.column in WINDOW_COLUMNS and sort.column != self.window and self._layout is not None and len(self._layout.windows) < 3:
            self.window = sort.column  # a window whose column is not shown: it becomes the chosen one
        if sort != self.sort_spec:
            self.sort_spec = sort
            self._ensure_layout()  # a window sort shows its column
            self._reconcile()  # the order (and, beyond max_rows, the rows held) follows the sort
            self._label_columns()
            self.post_message(self.Sorted(sort))

    def sort_next(self) -> None:
        index = SORTABLE.index(self.sort_spec.column) if self.sort_spec.column in SORTABLE else -1
        column = SORTABLE[(index + 1) % len(SORTABLE)]
        self.set_sort(SortSpec(column, NATURAL_DESCENDING[column]))

    def set_window(self, key: str) -> None:
        """Choose the window of the narrow window column, the deny ratio and the top-throttled view."""
        if key == self.window:
            return
        self.window = key
        if self.top or self.sort_spec.column in WINDOW_COLUMNS:
            self.sort_spec = SortSpec(key, True)
        self.post_message(self.Sorted(self.sort_spec))  # the titles name the window
        self._ensure_layout(force=True)

    def next_window(self) -> None:
        keys = list(WINDOW_COLUMNS)
        self.set_window(keys[(keys.index(self.window) + 1) % len(keys)])

    def set_top(self, on: bool) -> None:
        """The top-throttled view on or off (off: the sort from before comes back)."""
        if on == self.top:
            return
        self.top = on
        if on:
            self._sort_before_top = self.sort_spec
            self.sort_spec = SortSpec(self.window, True)
        else:
            self.sort_spec = self._sort_before_top or SortSpec()
        self.post_message(self.Sorted(self.sort_spec))
        self._ensure_layout(force=True)

    def matching_rows(self) -> list[BucketRow]:
        """Every bucket the view lets through (the filter, the top-throttled view), in its order: for exports.

        Not only the rows held: all of them (one sort, on request)."""
        users = self._picker.pick(self._rows, self.pattern, self.sort_spec, limit=None)[0]
        return [self._rows[user] for user in self._ordered(users)]

    @property
    def window_s(self) -> float:
        return WINDOW_COLUMNS[self.window]

    def sort_reverse(self) -> None:
        self.set_sort(SortSpec(self.sort_spec.column, not self.sort_spec.descending))

    def set_selected(self, selected: Mapping[str, int]) -> None:
        """Users in the graph and their colour index: the user cell shows a coloured dot."""
        self._selected = selected
        self._reconcile()

    # ------------------------------------------------------------------ building

    def on_resize(self) -> None:
        self._needs = self._held_needs  # a new width: size to the rows held now
        self._ensure_layout()

    def _need(self, needs: Needs) -> None:
        """Rows that need wider columns than the layout gives them: lay out again (once, after this update)."""
        self._held_needs = self._held_needs.merge(needs)
        if not self._needs.covers(needs):
            self._needs = self._needs.merge(needs)
            self.call_later(self._ensure_layout)

    def on_mount(self) -> None:
        self._ensure_layout()
        # Cell colours come from the theme: a new theme renders every row again.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._rebuild())

    def _ensure_layout(self, force: bool = False) -> None:
        width = self.size.width or self.app.size.width
        layout = layout_for(width, self._needs, window=self.window, top=self.top or self.sort_spec.column in WINDOWED)
        if layout != self._layout or force:
            self._layout = layout
            self._rebuild()

    def _rebuild(self) -> None:
        """Columns and rows from scratch (layout or theme changed); the cursor stays on its user."""
        if self._layout is None:
            return
        self.set_columns([(key, width, self._label(key)) for key, width in self._layout.widths().items()])
        self._reconcile()

    def _label(self, key: str) -> Text:
        return column_label(key, self._layout, self.sort_spec)

    def _label_columns(self) -> None:
        self.set_labels([self._label(key) for key in self.column_keys])

    def _reconcile(self) -> None:
        """Pick and order the users held, render the rows on screen again, repaint the lines that changed.

        Rows off screen are only marked stale; they are rendered when they
        come into view, so one refresh costs O(visible rows) in cell rendering,
        whatever the bucket count.
        """
        if self._layout is None:
            return
        keep, cursor_index = self.current_user, self.cursor_row
        order = self._ordered(self._wanted())
        rows, needs, held = self._rows, NO_NEEDS, self.position
        for user in order:
            if held(user) is None:
                needs = needs.merge(needs_of(rows[user]))
        if needs is not NO_NEEDS:
            self._need(needs)
        if self.row_count - len(order) > 64:
            self._held_needs = NO_NEEDS  # many rows went: size to those rendered from now on
        self._row_context = None
        self.set_keys(order)  # type: ignore[arg-type]
        self.mark_stale()
        self._restore_cursor(keep, cursor_index)
        self.refresh_visible()

    def _ordered(self, users: list[str]) -> list[str]:
        """``users`` in the sort order (ties by name, ascending, in either direction)."""
        column, descending = self.sort_spec.column, self.sort_spec.descending
        rows, natural_of = self._rows, self._picker.natural
        if column == "user" or column not in SORTABLE:
            return sorted(users, key=natural_of, reverse=descending)
        if column in WINDOWED:
            windows, window = self._windows, self.window
            sign = -1.0 if descending else 1.0
            return sorted(users, key=lambda user: (sign * window_number(windows, user, column, window), natural_of(user)))
        return sorted(users, key=lambda user: sort_value(rows[user], column, descending, natural_of(user)))

    def _wanted(self) -> list[str]:
        """The users to show: those the filter lets through, at most `max_rows` of them, first in sort order.

        The cursor's user stays in the table even when it falls out of the first rows.
        """
        picker = self._picker
        picker.limit, picker.window = self.max_rows, self.window
        picker.only = set(throttled(self._windows, self.window_s)) if self.top else None
        wanted, self.matched = picker.pick(self._rows, self.pattern, self.sort_spec, keep=self.current_user)
        return wanted

    @property
    def truncated(self) -> bool:
        """More buckets match than the table holds (see `max_rows`)."""
        return self.matched > self.row_count

    def _restore_cursor(self, user: str | None, fallback_index: int) -> None:
        if not self.row_count:
            return
        index = self.position(user) if user is not None else None
        if index is None:
            index = min(max(fallback_index, 0), self.row_count - 1)
        if index != self.cursor_row:
            self.move_cursor(row=index, scroll=True)

    # ------------------------------------------------------------------ cells

    def row_cells(self, key: object) -> list[Text]:
        """A user's cells, in the order of the columns (LineTable asks when the row is stale and on screen)."""
        assert self._layout is not None and isinstance(key, str)
        row = self._rows[key]
        ctx = self._row_context
        if ctx is None:
            ctx = self._row_context = RowContext(self._layout, theme_colours(self.app), self._levels, self._selected, self._windows,
                                             self.window, self._alerts)
        self._need(needs_of(row))  # settings may have changed since the row was added
        cells = row_cells(row, ctx)
        return [cells[column] for column in self.column_keys]

    # ------------------------------------------------------------------ events

    @on(LineTable.HeaderSelected)
    def _header_clicked(self, event: LineTable.HeaderSelected) -> None:
        event.stop()
        column = event.column
        if column not in SORTABLE:
            column = "fill" if column == "trend" else self.sort_spec.column
        if column == self.sort_spec.column:
            self.sort_reverse()
        else:
            self.set_sort(SortSpec(column, NATURAL_DESCENDING[column]))
