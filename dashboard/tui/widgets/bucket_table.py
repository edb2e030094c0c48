"""The bucket table: one keyed row per user, updated in place.

Rows are keyed by user id and only the cells whose text changed are updated
(`update_cell`), so the cursor and the scroll position survive every refresh;
the cursor follows its user when the sort order moves it. The table is only
rebuilt when the layout (terminal width) or the filter changes.
"""

from __future__ import annotations

import fnmatch
import heapq
import re
from functools import lru_cache
from itertools import islice
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

from rich.text import Text
from textual import on
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

from dashboard.core.protocol import BucketRow
from dashboard.tui import actions
from dashboard.tui import format as fmt
from dashboard.tui.colours import series_style, theme_colours
from dashboard.tui.trend import trend


@dataclass(frozen=True, slots=True)
class SortSpec:
    column: str = "user"
    descending: bool = False


# column key, header, sortable, the natural direction when first chosen (True: descending)
COLUMNS: tuple[tuple[str, str, bool, bool], ...] = (
    ("user", "user", True, False),
    ("tokens", "tokens", True, False),
    ("fill", "fill", True, False),  # emptiest first: the throttled users
    ("refill", "refill", True, True),
    ("grants", "grant/s", True, True),
    ("denials", "deny/s", True, True),
    ("trend", "trend", False, False),
    ("cfg", "cfg", True, True),
)
SORTABLE = tuple(key for key, _, sortable, _ in COLUMNS if sortable)
# The table holds at most this many rows: the first ones in the current sort order (over all
# buckets). Beyond a few thousand rows a DataTable costs seconds to fill; nobody scrolls through
# 100,000 buckets anyway: they sort by deny/s or filter.
MAX_ROWS = 500
NATURAL_DESCENDING = {key: desc for key, _, _, desc in COLUMNS}


@dataclass(frozen=True, slots=True)
class Layout:
    user: int
    tokens: int
    bar: int  # fill bar cells (the percentage follows)
    refill: int
    rate: int
    trend: int
    wide: bool

    def widths(self) -> dict[str, int]:
        return {
            "user": self.user,
            "tokens": self.tokens,
            "fill": self.bar + 5,
            "refill": self.refill,
            "grants": self.rate,
            "denials": self.rate,
            "trend": self.trend,
            "cfg": 3,
        }


def layout_for(width: int) -> Layout:
    """Column widths for a table ``width`` cells wide (2 cells of padding per column, a 1-cell scrollbar).

    The fixed columns get what they need; the trend column takes the rest (it
    holds one block per poll), and beyond its maximum the user column grows.
    """
    if width >= 110:
        layout = Layout(user=22, tokens=13, bar=10, refill=15, rate=8, trend=0, wide=True)
        most_trend, most_user = 60, 40
    else:
        layout = Layout(user=13, tokens=9, bar=4, refill=8, rate=6, trend=0, wide=False)
        most_trend, most_user = 24, 20
    used = sum(layout.widths().values()) + 2 * len(COLUMNS) + 1
    spare = max(0, width - used)
    trend_width = max(6, min(most_trend, spare))
    user = layout.user + max(0, min(most_user - layout.user, spare - trend_width))
    return Layout(user, layout.tokens, layout.bar, layout.refill, layout.rate, trend_width, layout.wide)


def matches(user: str, pattern: str) -> bool:
    """Filter: a glob when the pattern has * ? or [, else a case-insensitive substring."""
    if not pattern:
        return True
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(user.casefold(), pattern.casefold())
    return pattern.casefold() in user.casefold()


@lru_cache(maxsize=262_144)
def natural(text: str) -> tuple:
    """``user_2`` before ``user_10``: digit runs compare as numbers."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text.casefold()) if part)


def sort_number(row: BucketRow, column: str) -> float:
    """The number a numeric column sorts by (unknown rates sort below zero)."""
    if column == "tokens":
        return row.tokens
    if column == "fill":
        return row.tokens / row.config.ceiling
    if column == "refill":
        return row.config.rate_per_second
    if column == "grants":
        return row.grants_per_s if row.grants_per_s is not None else -1.0
    if column == "denials":
        return row.denials_per_s if row.denials_per_s is not None else -1.0
    if column == "cfg":
        return 1.0 if row.overridden else 0.0
    return 0.0


def sort_value(row: BucketRow, column: str, descending: bool = False) -> tuple:
    """The sort key of a row; ties always go by user, ascending (natural order), in either direction."""
    name = natural(row.user)
    if column == "user":
        return (name,)
    if column not in SORTABLE:
        return (name,)
    value = sort_number(row, column)
    return (-value if descending else value, name)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


class BucketTable(DataTable):
    """The buckets. Post `BucketTable.Sorted` when the sort changes (key or header click)."""

    DEFAULT_CSS = """
    BucketTable {
        height: 1fr;
    }
    BucketTable {
        scrollbar-size-vertical: 1;
    }
    BucketTable.-stale {
        text-opacity: 55%;
    }
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
        self._dirty: set[str] = set()  # shown rows whose cells are out of date (rendered when on screen)
        self.max_rows = max_rows
        self.matched = 0  # buckets the filter lets through (the table holds at most max_rows of them)
        self._match_pattern = ""
        self._name_order: list[str] = []  # every user in natural order (cached while the set of users holds)
        self._name_users: set[str] = set()
        self._match_cache: dict[str, bool] = {}
        self._cells: dict[str, tuple[Text, ...]] = {}  # what each shown row displays
        self._levels: Callable[[str, int], Sequence[int]] = lambda user, count: ()
        self._selected: Mapping[str, int] = {}

    # ------------------------------------------------------------------ API

    @property
    def current_user(self) -> str | None:
        """The user under the cursor."""
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:
            return None
        return key.value

    def bucket(self, user: str | None) -> BucketRow | None:
        return self._rows.get(user) if user is not None else None

    @property
    def shown_users(self) -> list[str]:
        return [row.key.value for row in self.ordered_rows]

    def show(
        self,
        rows: Iterable[BucketRow],
        *,
        levels: Callable[[str, int], Sequence[int]],
        selected: Mapping[str, int],
        stale: bool = False,
    ) -> None:
        """Show one snapshot's buckets (all of them; the filter is applied here)."""
        self._rows = {row.user: row for row in rows}
        self._levels = levels
        self._selected = selected
        if stale != self.stale:
            self.stale = stale
            self.set_class(stale, "-stale")
        self._reconcile()

    def set_filter(self, pattern: str) -> None:
        if pattern != self.pattern:
            self.pattern = pattern
            self._reconcile()

    def set_sort(self, sort: SortSpec) -> None:
        if sort != self.sort_spec:
            self.sort_spec = sort
            if self.matched > self.max_rows:
                self._reconcile()  # another sort order picks other rows
            else:
                self._apply_sort()
            self._label_columns()
            self.post_message(self.Sorted(sort))

    def sort_next(self) -> None:
        index = SORTABLE.index(self.sort_spec.column) if self.sort_spec.column in SORTABLE else -1
        column = SORTABLE[(index + 1) % len(SORTABLE)]
        self.set_sort(SortSpec(column, NATURAL_DESCENDING[column]))

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
        self._ensure_layout()

    def on_mount(self) -> None:
        self._ensure_layout()
        # Cell colours come from the theme: a new theme repaints every row.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._rebuild())

    def _ensure_layout(self) -> None:
        width = self.size.width or self.app.size.width
        layout = layout_for(width)
        if layout != self._layout:
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
            for key, widths in self._layout.widths().items():
                self.add_column(self._label(key), key=key, width=widths)
            self._reconcile(restore=keep)

    def _label(self, key: str) -> Text:
        header = dict((k, h) for k, h, _, _ in COLUMNS)[key]
        if key == "grants" and self._layout and not self._layout.wide:
            header = "ok/s"
        right = key not in ("user", "trend", "cfg", "fill", "refill")
        if key == self.sort_spec.column:
            arrow = "▼" if self.sort_spec.descending else "▲"
            label = Text(f"{header}{arrow}", style="bold")
        else:
            label = Text(header)
        if right and self._layout:
            label = Text(" " * max(0, self._layout.widths()[key] - label.cell_len)) + label
        return label

    def _label_columns(self) -> None:
        for key, column in self.columns.items():
            column.label = self._label(key.value)
        self.notify_style_update()

    def _reconcile(self, restore: str | None = None) -> None:
        """Add and remove rows by key, re-sort, then render only the rows on screen.

        Rows off screen keep their old cells and are marked dirty; they are
        rendered when scrolled into view (`watch_scroll_y`), so one refresh
        costs O(visible rows) in cell rendering, whatever the bucket count.
        """
        if self._layout is None or not self.columns:
            return
        keep = restore if restore is not None else self.current_user
        cursor_index = self.cursor_row
        wanted = self._wanted()
        wanted_set = set(wanted)
        with self.app.batch_update():
            gone = [user for user in self._cells if user not in wanted_set]
            added = [user for user in wanted if user not in self._cells]
            if len(gone) > 64:
                self.clear(columns=False)
                self._cells.clear()
                added = wanted
            else:
                for user in gone:
                    self.remove_row(user)
                    del self._cells[user]
            for user in added:
                cells = self._placeholder(user)
                self.add_row(*cells, key=user)
                self._cells[user] = cells
            self._dirty = set(wanted)
            if added or self.sort_spec.column != "user":
                self._apply_sort(follow=False)
            self._restore_cursor(keep, cursor_index)
            self._render_visible()

    def _wanted(self) -> list[str]:
        """The users to show: those the filter lets through, at most `max_rows` of them, first in sort order."""
        pattern = self.pattern
        if pattern:
            if pattern != self._match_pattern:
                self._match_pattern, self._match_cache = pattern, {}
            cache = self._match_cache
            rows = []
            for user, row in self._rows.items():
                hit = cache.get(user)
                if hit is None:
                    hit = cache[user] = matches(user, pattern)
                if hit:
                    rows.append(row)
        else:
            rows = list(self._rows.values())
        self.matched = len(rows)
        if len(rows) <= self.max_rows:
            return [row.user for row in rows]
        return self._first_in_order(rows)

    def _first_in_order(self, rows: list[BucketRow]) -> list[str]:
        """The first `max_rows` of ``rows`` in the sort order, without sorting them all (100,000 buckets)."""
        column, descending = self.sort_spec.column, self.sort_spec.descending
        limit = self.max_rows
        if column not in SORTABLE or column == "user":
            if len(self._name_order) != len(self._rows) or not self._rows.keys() == self._name_users:
                self._name_users = set(self._rows)
                self._name_order = sorted(self._rows, key=natural)
            order = reversed(self._name_order) if descending else iter(self._name_order)
            if len(rows) != len(self._rows):  # filtered
                wanted = {row.user for row in rows}
                order = (user for user in order if user in wanted)
            top = list(islice(order, limit))
        else:
            sign = -1.0 if descending else 1.0
            values = [(sign * sort_number(row, column), natural(row.user)) for row in rows]  # ties: by name, as shown
            top = [rows[i].user for i in heapq.nsmallest(limit, range(len(rows)), key=values.__getitem__)]
        # The cursor's user stays in the table even when it falls out of the first rows.
        current = self.current_user
        if current is not None and current not in top and any(row.user == current for row in rows):
            top.append(current)
        return top

    @property
    def truncated(self) -> bool:
        """More buckets match than the table holds (see `max_rows`)."""
        return self.matched > self.row_count

    def _placeholder(self, user: str) -> tuple[Text, ...]:
        cell = UserText(user)
        cell.append("  " + _clip(user, (self._layout.user if self._layout else 12) - 2))
        return (cell, *(Text("") for _ in COLUMNS[1:]))

    def _render_visible(self) -> None:
        """Render the dirty rows in (and just around) the viewport."""
        if not self._dirty or not self.row_count:
            return
        ordered = self.ordered_rows
        top = int(self.scroll_y)
        height = max(self.scrollable_content_region.height, 1)
        first, last = max(0, top - 2), min(len(ordered), top + height + 2)
        indices = list(range(first, last))
        if 0 <= self.cursor_row < len(ordered) and not first <= self.cursor_row < last:
            indices.append(self.cursor_row)
        keys = [key for key, *_ in COLUMNS]
        for index in indices:
            user = ordered[index].key.value
            if user not in self._dirty:
                continue
            self._dirty.discard(user)
            row = self._rows.get(user)
            if row is None:
                continue
            cells = self._render_row(row)
            old = self._cells.get(user, ())
            for key, new, was in zip(keys, cells, old):
                if new != was:
                    self.update_cell(user, key, new)
            self._cells[user] = cells

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if int(old_value) != int(new_value):
            self._render_visible()

    def _apply_sort(self, follow: bool = True) -> None:
        if not self.row_count:
            return
        column, descending = self.sort_spec.column, self.sort_spec.descending
        rows = self._rows

        by_name = column == "user" or column not in SORTABLE

        def key(cell: object) -> object:
            user = getattr(cell, "user", None)
            row = rows.get(user) if user is not None else None
            if row is None:  # not expected: every shown row is in the snapshot
                return ((),) if by_name else (float("inf"), ())
            return sort_value(row, column, descending and not by_name)

        keep = self.current_user if follow else None
        self.sort("user", key=key, reverse=descending and by_name)
        if follow:
            self._restore_cursor(keep, self.cursor_row)
            self._render_visible()

    def _restore_cursor(self, user: str | None, fallback_index: int) -> None:
        if not self.row_count:
            return
        if user is not None:
            try:
                index = self.get_row_index(user)
            except RowDoesNotExist:
                index = min(fallback_index, self.row_count - 1)
        else:
            index = min(fallback_index, self.row_count - 1)
        if index != self.cursor_row:
            self.move_cursor(row=index, scroll=True)

    # ------------------------------------------------------------------ cells

    def _render_row(self, row: BucketRow) -> tuple[Text, ...]:
        layout = self._layout
        assert layout is not None
        colours = theme_colours(self.app)
        fill_colour = fmt.fill_style(row.fill, low=colours.low, mid=colours.mid, high=colours.high)

        user = UserText(row.user)
        slot = self._selected.get(row.user)
        if slot is not None:
            user.append("● ", style=series_style(slot))
        else:
            user.append("  ")
        user.append(_clip(row.user, layout.user - 2))

        tokens = Text(f"{fmt.tokens(row.tokens)}/{fmt.tokens(row.ceiling)}".rjust(layout.tokens), no_wrap=True)
        fill = fmt.fill_bar(row.fill, layout.bar, fill_colour)
        refill = fmt.refill(row.config)
        if layout.wide:
            refill = f"{refill} {fmt.per_second(row.config.rate_per_second)}"
        refill_text = Text(_clip(refill, layout.refill), no_wrap=True)
        grants = Text(fmt.rate(row.grants_per_s).rjust(layout.rate), no_wrap=True)
        denials_value = fmt.rate(row.denials_per_s).rjust(layout.rate)
        denials = Text(denials_value, style=f"bold {colours.low}" if (row.denials_per_s or 0) > 0 else "", no_wrap=True)
        spark = trend(self._levels(row.user, layout.trend) or (row.tokens,), row.ceiling, layout.trend, colours=colours.fills)
        cfg = Text("op", style=f"bold {colours.accent}") if row.overridden else Text("–", style="dim")
        return (user, tokens, fill, refill_text, grants, denials, spark, cfg)

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


class UserText(Text):
    """The user cell: a Text that remembers whose row it is (the sort key reads it)."""

    def __init__(self, user: str) -> None:
        super().__init__(no_wrap=True, end="")
        self.user = user

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UserText) and other.user == self.user and Text.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]
