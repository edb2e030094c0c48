"""A `DataTable` whose rendered cells are cached by their value, not by the table's update counter.

Textual's DataTable keys every cached cell, row and line on ``_update_count``,
which any `update_cell` bumps: one changed cell re-renders every visible cell
through Rich (Padding, Styled, render_lines), ~30 ms a frame for a screen of
buckets. Here a cell's render is reused while the cell holds the same value
object (the bucket table only replaces a cell's value when its text changed)
at the same place, width and style, so a poll costs the cells that changed.
And `update_cell` repaints the row it changed, not the whole table (Textual
keeps the other lines it drew).

Pinned to Textual 8's `DataTable._render_cell` signature (pyproject: textual<9);
tests/test_tui_soak_bounds.py checks the cache is used and stays bounded.
"""

from __future__ import annotations

from rich.style import Style
from textual.cache import LRUCache
from textual.geometry import Region
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowKey

CELL_CACHE = 4096  # cells: a few screens of 8 columns, with and without the cursor


class ValueCachedTable(DataTable):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        # value-keyed renders: key -> (the value rendered, its lines)
        self._value_cells: LRUCache[tuple, tuple[object, list]] = LRUCache(CELL_CACHE)
        # DataTable's own cell cache only ever holds the render just made (ours keeps them).
        self._cell_render_cache = LRUCache(1)

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int, cursor: bool = False, hover: bool = False):
        if column_index < 0:  # row labels (none here): DataTable's own path
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        column_key = self._column_locations.get_key(column_index)
        assert column_key is not None  # the index comes from the table's own layout
        row_key: RowKey | None
        if row_index < 0:  # the header: its label is the value
            row_key = None
            value = self.columns[column_key].label
        else:
            row_key = self._row_locations.get_key(row_index)
            assert row_key is not None
            value = self._data[row_key][column_key]
        key = (row_key, column_key, row_index, width, base_style, cursor, hover, self._show_hover_cursor, self._pseudo_class_state, id(value))
        hit = self._value_cells.get(key)
        if hit is not None and hit[0] is value:
            return hit[1]
        lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        self._value_cells[key] = (value, lines)
        return lines

    def clear(self, columns: bool = False):
        self._value_cells.clear()
        return super().clear(columns)

    def update_cell(self, row_key: RowKey | str, column_key: ColumnKey | str, value: object, *, update_width: bool = False) -> None:
        if update_width:
            super().update_cell(row_key, column_key, value, update_width=True)
            return
        if isinstance(row_key, str):
            row_key = RowKey(row_key)
        if isinstance(column_key, str):
            column_key = ColumnKey(column_key)
        if row_key not in self._row_locations or column_key not in self._column_locations:
            raise CellDoesNotExist(f"No cell exists for row_key={row_key!r}, column_key={column_key!r}.")
        self._data[row_key][column_key] = value
        self._update_count += 1  # DataTable's row caches are keyed on it
        # Every row here is one line high: its region is known without DataTable's O(rows) walk.
        y = (self._row_locations.get(row_key) or 0) + (self.header_height if self.show_header else 0)
        self._refresh_region(Region(0, y, max(self.virtual_size.width, self.size.width), 1))
