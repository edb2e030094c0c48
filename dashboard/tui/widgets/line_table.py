"""A table drawn with Textual's line API: one cached strip per row, repainted only where it changed.

Textual's DataTable renders every cell of a repainted line through Rich
(Padding, Styled, render_lines; ~1 ms a line) and keys its caches on a
counter that any update bumps. Here each row key keeps its cells' texts and
their segments (`DrawnLine`, line_strips.py); a row whose texts are unchanged
keeps its strip, and a changed cell is drawn again alone. `render_line` returns the cached strip
of the row at that position (the cursor and hover rows are the same
segments with the cursor's style applied, cached too). The caller repaints
what changed: `set_keys` refreshes the lines whose row moved, `refresh_visible`
the lines on screen whose texts changed, never the whole widget.

Rows are rendered lazily: `mark_stale` (new data) costs nothing; a stale row
is rendered again (`row_cells`, the subclass's) when it is next on screen.
Memory follows the rows held: a key no longer held loses its line.

The header row stays on top; the look (cursor, hover, header) comes from the
same component classes and theme variables as DataTable's, and cells are
padded by one space each side as DataTable's ``cell_padding=1``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from dashboard.tui.widgets.line_strips import COMPONENT_CLASSES, CURSOR, HOVER, LOOK_CSS, PADDING, DrawnLine, TableStyles

HEADER = object()  # the header's key among the lines


class _TableMessage(Message):
    def __init__(self, table: LineTable) -> None:
        super().__init__()
        self.table = table

    @property
    def control(self) -> LineTable:
        return self.table


class _RowMessage(_TableMessage):
    def __init__(self, table: LineTable, cursor_row: int) -> None:
        super().__init__(table)
        self.cursor_row = cursor_row


class LineTable(ScrollView, can_focus=True):
    """Rows of cells under a header; a row cursor. Subclasses give `row_cells` and the keys (`set_keys`)."""

    COMPONENT_CLASSES = COMPONENT_CLASSES
    DEFAULT_CSS = LOOK_CSS

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first_row", "First row", show=False),
        Binding("end", "last_row", "Last row", show=False),
    ]

    class RowHighlighted(_RowMessage):
        """The cursor moved to another position."""

    class RowSelected(_RowMessage):
        """Enter, or a click on the cursor's row."""

    class HeaderSelected(_TableMessage):
        """A click on a column's header."""

        def __init__(self, table: LineTable, column: str) -> None:
            super().__init__(table)
            self.column = column

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._columns: tuple[str, ...] = ()
        self._widths: tuple[int, ...] = ()  # content width of each column (padding not included)
        self._labels: list[Text] = []
        self._table_width = 0
        self._keys: list[Hashable] = []  # the row key at each position
        self._where: dict[Hashable, int] = {}  # key -> position
        self._lines: dict[object, DrawnLine] = {}  # key -> its line (keys held only; HEADER too)
        self._generation = 0  # lines rendered before the current one are stale
        self._cursor = 0
        self._hover: int | None = None  # the position under the mouse (-1: the header)
        self._show_hover = False  # DataTable's rule: the mouse shows it, keys hide it
        self._styles: TableStyles | None = None  # the styles the composed strips were made with
        self.rendered = 0  # rows rendered from their cells (tests count them)
        self._title_markup: dict[str, str] = {}  # the border titles as last set

    # ------------------------------------------------------------------ for subclasses

    def row_cells(self, key: Hashable) -> Sequence[Text]:
        """The texts of a row's cells, one per column."""
        raise NotImplementedError

    # ------------------------------------------------------------------ columns and rows

    @property
    def column_keys(self) -> tuple[str, ...]:
        return self._columns

    def set_columns(self, columns: Sequence[tuple[str, int, Text]]) -> None:
        """A new layout (key, width, label per column): every line is drawn again."""
        self._columns = tuple(key for key, _, _ in columns)
        self._widths = tuple(width for _, width, _ in columns)
        self._labels = [label for _, _, label in columns]
        self._table_width = sum(self._widths) + 2 * PADDING * len(self._widths)
        self._lines.clear()
        self._resize_virtual()
        self.refresh()

    def set_labels(self, labels: Sequence[Text]) -> None:
        self._labels = list(labels)
        self._lines.pop(HEADER, None)
        self.refresh(Region(0, 0, max(self.size.width, self._table_width), 1))

    def set_titles(self, title: Text, subtitle: Text) -> None:
        """The border's title and subtitle, where they changed; only their border line is repainted.

        (Textual's ``border_title`` setter repaints the whole widget: with a bucket count in
        the title, that was every line on every poll. Its conversion is done here the same way.)"""
        top = -self.content_offset.y  # the border lines, in content coordinates
        width, bottom = self.outer_size.width, top + self.outer_size.height - 1
        for text, name, y in ((title, "_border_title", top), (subtitle, "_border_subtitle", bottom)):
            markup = text.markup
            if self._title_markup.get(name) == markup:
                continue
            self._title_markup[name] = markup
            setattr(self, name, self.render_str(Content.from_rich_text(text)).expand_tabs(4).split()[0])
            self.refresh(Region(-self.content_offset.x, y, width, 1))

    @property
    def row_count(self) -> int:
        return len(self._keys)

    @property
    def keys(self) -> list[Hashable]:
        return self._keys

    def row_index(self, key: Hashable) -> int:
        return self._where[key]

    def position(self, key: Hashable) -> int | None:
        return self._where.get(key)

    def set_keys(self, keys: list[Hashable]) -> None:
        """The rows, top to bottom (the list is kept). Lines whose key changed are repainted."""
        old, self._keys = self._keys, keys
        self._where = {key: i for i, key in enumerate(keys)}
        lines = self._lines
        for gone in lines.keys() - self._where.keys() - {HEADER}:
            del lines[gone]
        top, end = self._visible()
        self._refresh_positions([p for p in range(top, end) if p >= len(old) or p >= len(keys) or old[p] != keys[p]])
        if len(old) != len(keys):
            self._resize_virtual()
            if self._cursor >= len(keys):
                self._cursor = max(0, len(keys) - 1)

    def mark_stale(self) -> None:
        """The rows' data changed: each row is rendered again when next on screen (`refresh_visible`)."""
        self._generation += 1

    def refresh_visible(self) -> None:
        """Render the stale rows on screen now, and repaint the lines whose texts changed."""
        top, end = self._visible()
        keys, fresh = self._keys, self._fresh
        self._refresh_positions([p for p in range(top, min(end, len(keys))) if fresh(keys[p])[1]])

    def cell(self, key: Hashable, column: str) -> Text:
        """What a row's cell shows now."""
        return self._fresh(key)[0].texts[self._columns.index(column)]

    # ------------------------------------------------------------------ the cursor

    @property
    def cursor_row(self) -> int:
        return self._cursor

    def move_cursor(self, *, row: int, scroll: bool = True) -> None:
        row = max(0, min(row, len(self._keys) - 1))
        old, self._cursor = self._cursor, row
        if row != old:
            self._refresh_position(old)
            self._refresh_position(row)
            self.post_message(self.RowHighlighted(self, row))
        if scroll:
            self.scroll_to_cursor()

    def scroll_to_cursor(self) -> None:
        page, top = self._page(), int(self.scroll_y)
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False, force=True)
        elif self._cursor >= top + page:
            self.scroll_to(y=self._cursor - page + 1, animate=False, force=True)

    def _page(self) -> int:
        """Rows that fit under the header."""
        return max(1, self.scrollable_content_region.height - 1)

    def action_cursor_down(self) -> None:
        self._hide_hover()
        self.move_cursor(row=self._cursor + 1)

    def action_cursor_up(self) -> None:
        self._hide_hover()
        self.move_cursor(row=self._cursor - 1)

    def action_page_down(self) -> None:
        """A screen further: the view and the cursor move together (as DataTable's)."""
        self._hide_hover()
        page = self._page()
        self.scroll_to(y=self.scroll_y + page, animate=False, force=True)
        self.move_cursor(row=self._cursor + page)

    def action_page_up(self) -> None:
        self._hide_hover()
        page = self._page()
        self.scroll_to(y=max(0, self.scroll_y - page), animate=False, force=True)
        self.move_cursor(row=self._cursor - page)

    def action_first_row(self) -> None:
        self._hide_hover()
        self.move_cursor(row=0)

    def action_last_row(self) -> None:
        self._hide_hover()
        self.move_cursor(row=len(self._keys) - 1)

    def action_select_cursor(self) -> None:
        self._hide_hover()
        if self._keys:
            self.post_message(self.RowSelected(self, self._cursor))

    # ------------------------------------------------------------------ the mouse

    def _position_at(self, event: events.MouseEvent) -> int | None:
        """The position under the mouse: -1 the header, None below the rows or off the content."""
        offset = event.get_content_offset(self)
        if offset is None:
            return None
        if offset.y == 0:
            return -1
        position = offset.y - 1 + int(self.scroll_y)
        return position if position < len(self._keys) else None

    async def _on_click(self, event: events.Click) -> None:
        position = self._position_at(event)
        self._set_hover(position)
        if position == -1:
            column = self._column_at(event.get_content_offset_capture(self).x + int(self.scroll_x))
            if column is not None:
                self.post_message(self.HeaderSelected(self, column))
        elif position is not None:
            event.stop()
            if position == self._cursor:
                self.post_message(self.RowSelected(self, position))
            else:
                self.move_cursor(row=position)

    def _on_mouse_move(self, event: events.MouseMove) -> None:
        self._set_hover(self._position_at(event))

    def _on_leave(self, event: events.Leave) -> None:
        self._hide_hover()

    def column_x(self, column: str) -> int:
        """Where a column starts in the content (its padding included), before any horizontal scroll."""
        index = self._columns.index(column)
        return sum(self._widths[:index]) + 2 * PADDING * index

    def _column_at(self, x: int) -> str | None:
        for key, width in zip(self._columns, self._widths):
            x -= width + 2 * PADDING
            if x < 0:
                return key
        return None

    def _set_hover(self, position: int | None) -> None:
        if (position, position is not None) == (self._hover, self._show_hover):
            return
        self._hide_hover()
        self._hover, self._show_hover = position, position is not None
        if position is not None:
            self._refresh_position(position)

    def _hide_hover(self) -> None:
        if self._show_hover and self._hover is not None:
            self._refresh_position(self._hover)
        self._show_hover = False

    # ------------------------------------------------------------------ drawing

    def _visible(self) -> tuple[int, int]:
        top = int(self.scroll_y)
        return top, top + max(self.scrollable_content_region.height - 1, 1)

    def _refresh_position(self, position: int) -> None:
        self._refresh_positions([position])

    def _refresh_positions(self, positions: list[int]) -> None:
        """Repaint the lines of these positions (ascending): one region per run of adjacent lines."""
        top, height = int(self.scroll_y), max(self.size.height, 1)
        width = max(self.size.width, self._table_width)
        start = end = None
        for position in positions:
            y = 0 if position == -1 else position - top + 1
            if not 0 <= y < height:
                continue
            if end is not None and y == end:
                end += 1
                continue
            if start is not None and end is not None:
                self.refresh(Region(0, start, width, end - start))
            start, end = y, y + 1
        if start is not None and end is not None:
            self.refresh(Region(0, start, width, end - start))

    def _resize_virtual(self) -> None:
        self.virtual_size = Size(self._table_width, len(self._keys) + 1)

    def _fresh(self, key: object) -> tuple[DrawnLine, bool]:
        """The row's line with up-to-date texts, and whether they changed."""
        line = self._lines.get(key)
        if line is not None and line.generation == self._generation:
            return line, False
        texts = list(self._labels) if key is HEADER else list(self.row_cells(key))
        self.rendered += key is not HEADER
        if line is None or len(line.texts) != len(texts):
            line = self._lines[key] = DrawnLine.of(texts, self._widths, self.app.console, self._generation)
            return line, True
        return line, line.update(texts, self._widths, self.app.console, self._generation)

    def render_lines(self, crop: Region) -> list[Strip]:
        styles = self._current_styles()
        if styles != self._styles:  # focus, a class, the theme: every composed strip is out of date
            self._styles = styles
            for line in self._lines.values():
                line.restyle()
        return super().render_lines(crop)

    def _current_styles(self) -> TableStyles:
        component = self.get_component_rich_style
        header = self.get_component_styles("datatable--header").rich_style
        return TableStyles(self.rich_style, component("datatable--cursor"), component("datatable--hover"), header,
                           component("datatable--header-hover"))

    def _on_resize(self, event: events.Resize) -> None:
        for line in self._lines.values():  # the last cell is extended to the width
            line.strips.clear()
        self.scroll_to_cursor()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        styles = self._styles or self._current_styles()
        if y == 0:
            line, flags = self._fresh(HEADER)[0], HOVER if self._show_hover and self._hover == -1 else 0
        else:
            position = y - 1 + int(self.scroll_y)
            if position >= len(self._keys):
                return Strip.blank(width, styles.base)
            line = self._fresh(self._keys[position])[0]
            flags = (CURSOR if position == self._cursor else 0) | (HOVER if self._show_hover and position == self._hover else 0)
        strip = line.strip(flags, y == 0, styles, width, self._table_width)
        scroll_x = int(self.scroll_x)
        return strip.crop(scroll_x, scroll_x + width) if scroll_x or strip.cell_length > width else strip
