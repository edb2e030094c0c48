"""The bucket table: rows are screen positions ("slots"), filled with the users in sort order.

The DataTable holds one row per position and never sorts, inserts or deletes
in the middle (each of those costs O(rows) in Textual and repaints every
line). A poll computes the new order of the users held, and a position is
re-rendered only when it is on screen and its text changed (`update_cell`
repaints just that row; unchanged cells keep their rendering,
`ValueCachedTable`). Positions off screen are marked dirty and rendered when
scrolled into view. The cursor follows its user when the order moves it;
scroll position survives every refresh.

Per poll the work follows the rows on screen and the rows that changed: the
rows held are picked without sorting all buckets (`RowPicker`), and only the
positions at the end are added or removed when the count of rows held changes.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

from rich.text import Text
from textual import on
from textual.message import Message
from textual.widgets import DataTable

from dashboard.core.protocol import BucketRow
from dashboard.tui import actions
from dashboard.tui import format as fmt
from dashboard.tui.colours import theme_colours
from dashboard.tui.widgets.cell_cache import ValueCachedTable
from dashboard.tui.widgets.row_cells import RowContext, UserText, row_cells
from dashboard.tui.widgets.row_picker import RowPicker
# Re-exported: the screens and tests use them here.
from dashboard.tui.widgets.table_columns import COLUMNS, MAX_ROWS, NATURAL_DESCENDING, SORTABLE  # noqa: F401
from dashboard.tui.widgets.table_columns import Layout, Needs, SortSpec, clip, layout_for, matches, natural  # noqa: F401
from dashboard.tui.widgets.table_columns import cfg_cell, needs_of, refill_text, sort_value, tokens_text  # noqa: F401
from dashboard.tui.widgets.table_columns import WINDOW_COLUMNS, WINDOWED, column_label
from dashboard.tui.widgets.window_cells import NoWindows, WindowLookup, throttled, window_number

NO_NEEDS = Needs(0, 0, 0, 0)


class BucketTable(ValueCachedTable):
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
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, cell_padding=1)
        self.sort_spec = SortSpec()
        self.pattern = ""
        self.stale = False
        self._layout: Layout | None = None
        self._rows: dict[str, BucketRow] = {}  # every bucket of the last snapshot
        self._dirty: set[int] = set()  # positions whose cells may be out of date (rendered when on screen)
        self._order: list[str] = []  # the users held, in display order: position i shows _order[i]
        self._index: dict[str, int] = {}  # user -> position
        self.max_rows = max_rows
        self.matched = 0  # buckets the filter lets through (the table holds at most max_rows of them)
        self._picker = RowPicker(max_rows)
        self._needs = Needs()  # the widest texts of the rows held (columns are sized to them)
        self._held_needs = Needs()
        self._cells: list[tuple[Text, ...]] = []  # what each position displays
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
        row = self.cursor_row
        return self._order[row] if 0 <= row < len(self._order) else None

    def bucket(self, user: str | None) -> BucketRow | None:
        return self._rows.get(user) if user is not None else None

    @property
    def shown_users(self) -> list[str]:
        """The users held, top to bottom."""
        return list(self._order)

    def get_row_index(self, row_key) -> int:  # type: ignore[override]
        """A user's position (DataTable's own keys are positions)."""
        index = self._index.get(row_key) if isinstance(row_key, str) else None
        return index if index is not None else super().get_row_index(row_key)

    def get_cell(self, row_key, column_key):  # type: ignore[override]
        """The cell of a user (or of a position key)."""
        index = self._index.get(row_key) if isinstance(row_key, str) else None
        return super().get_cell(_slot(index) if index is not None else row_key, column_key)

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

    def action_first_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=0, scroll=True)

    def action_last_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1, scroll=True)

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
        # Cell colours come from the theme: a new theme repaints every row.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._rebuild())

    def _ensure_layout(self, force: bool = False) -> None:
        width = self.size.width or self.app.size.width
        layout = layout_for(width, self._needs, window=self.window, top=self.top or self.sort_spec.column in WINDOWED)
        if layout != self._layout or force:
            self._layout = layout
            self._rebuild()

    def _rebuild(self) -> None:
        """Columns and rows from scratch (layout or filter changed); the cursor stays on its user."""
        if self._layout is None:
            return
        keep = self.current_user
        with self.app.batch_update():
            self.clear(columns=True)
            self._cells.clear()
            self._order, self._index = [], {}
            for key, widths in self._layout.widths().items():
                self.add_column(self._label(key), key=key, width=widths)
            self._reconcile(restore=keep)
        # The new rows' height is only known after the next layout: render what is on screen then.
        self.call_after_refresh(self._render_visible)

    def _label(self, key: str) -> Text:
        return column_label(key, self._layout, self.sort_spec)

    def _label_columns(self) -> None:
        for key, column in self.columns.items():
            column.label = self._label(key.value or "")
        self.notify_style_update()

    def _reconcile(self, restore: str | None = None) -> None:
        """Pick and order the users held, resize the positions at the end, render what is on screen.

        Positions off screen keep their old cells and are marked dirty; they
        are rendered when scrolled into view (`watch_scroll_y`), so one
        refresh costs O(visible rows) in cell rendering, whatever the bucket count.
        """
        if self._layout is None or not self.columns:
            return
        keep = restore if restore is not None else self.current_user
        cursor_index = self.cursor_row
        order = self._ordered(self._wanted())
        before = self._index
        with self.app.batch_update():
            self._resize(len(order))
            rows, needs = self._rows, NO_NEEDS
            for user in order:
                if user not in before:
                    needs = needs.merge(needs_of(rows[user]))
            if needs is not NO_NEEDS:
                self._need(needs)
            self._order, self._index = order, {user: i for i, user in enumerate(order)}
            self._dirty = set(range(len(order)))
            self._restore_cursor(keep, cursor_index)
            self._render_visible()

    def _resize(self, count: int) -> None:
        """As many positions as users held: added or removed at the end only."""
        have = len(self._cells)
        if count < have and have - count > 64:  # removing from the end costs O(rows) each: start afresh
            self.clear(columns=False)
            self._cells.clear()
            self._held_needs = NO_NEEDS
            have = 0
        for index in range(have - 1, count - 1, -1):
            self.remove_row(_slot(index))
            self._cells.pop()
        for index in range(have, count):
            cells = self._placeholder("")
            self.add_row(*cells, key=_slot(index))
            self._cells.append(cells)

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

    def _placeholder(self, user: str) -> tuple[Text, ...]:
        cell = UserText(user)
        cell.append("  ")
        cell.append_text(fmt.safe_text(user, width=(self._layout.user if self._layout else 12) - 2))
        return (cell, *(Text("") for _ in list(self._layout.widths() if self._layout else COLUMNS)[1:]))

    def _render_visible(self) -> None:
        """Render the dirty positions in (and just around) the viewport, and the cursor's."""
        if not self._dirty or not self._order:
            return
        order, rows, cells_of = self._order, self._rows, self._cells
        top = int(self.scroll_y)
        height = max(self.scrollable_content_region.height, 1)
        first, last = max(0, top - 2), min(len(order), top + height + 2)
        indices = list(range(first, last))
        if 0 <= self.cursor_row < len(order) and not first <= self.cursor_row < last:
            indices.append(self.cursor_row)
        assert self._layout is not None
        keys = list(self._layout.widths())
        dirty = self._dirty
        for index in indices:
            if index not in dirty:
                continue
            dirty.discard(index)
            row = rows.get(order[index])
            if row is None:
                continue
            rendered = self._render_row(row)
            cells = tuple(rendered[key] for key in keys)
            old = cells_of[index]
            slot = _slot(index)
            for key, new, was in zip(keys, cells, old):
                if new != was:
                    self.update_cell(slot, key, new)
            cells_of[index] = cells

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if int(old_value) != int(new_value):
            self._render_visible()

    def _restore_cursor(self, user: str | None, fallback_index: int) -> None:
        if not self._order:
            return
        index = self._index.get(user) if user is not None else None
        if index is None:
            index = min(max(fallback_index, 0), len(self._order) - 1)
        if index != self.cursor_row:
            self.move_cursor(row=index, scroll=True)

    # ------------------------------------------------------------------ cells

    def _render_row(self, row: BucketRow) -> dict[str, Text]:
        assert self._layout is not None
        ctx = RowContext(self._layout, theme_colours(self.app), self._levels, self._selected, self._windows, self.window, self._alerts)
        self._need(needs_of(row))  # settings may have changed since the row was added
        return row_cells(row, ctx)

    # ------------------------------------------------------------------ events

    @on(DataTable.HeaderSelected)
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        column = event.column_key.value or ""
        if column not in SORTABLE:
            column = "fill" if column == "trend" else self.sort_spec.column
        if column == self.sort_spec.column:
            self.sort_reverse()
        else:
            self.set_sort(SortSpec(column, NATURAL_DESCENDING[column]))


def _slot(index: int) -> str:
    return f"#{index}"
