"""One bucket's cells in the table: the columns the layout shows, as Rich texts (no widget state here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from rich.text import Text

from dashboard.core.protocol import BucketRow
from dashboard.tui import format as fmt
from dashboard.tui.colours import Colours, series_style
from dashboard.tui.trend import trend
from dashboard.tui.widgets.table_columns import WINDOW_COLUMNS, Layout, cfg_cell, clip, refill_text, tokens_text
from dashboard.tui.widgets.window_cells import WindowLookup, count_cell, ratio_cell

ALERT_MARK = "!"  # beside the user id of a row that crosses a threshold (not colour alone)


@dataclass(frozen=True, slots=True)
class RowContext:
    """What a row's cells depend on besides the row: the same for every row of one render."""

    layout: Layout
    colours: Colours
    levels: Callable[[str, int], Sequence[int]]
    selected: Mapping[str, int]
    windows: WindowLookup
    window: str  # the chosen window's column key (the ratio's window)
    alerts: Mapping[str, object]  # users crossing a threshold


class UserText(Text):
    """The user cell: a Text that remembers whose row it is (the sort key reads it)."""

    def __init__(self, user: str) -> None:
        super().__init__(no_wrap=True, end="")
        self.user = user

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UserText) and other.user == self.user and Text.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]


def user_cell(row_user: str, ctx: RowContext) -> UserText:
    """``● ``/``  `` (graphed, its colour), ``!`` when it crosses a threshold, then the escaped id."""
    user = UserText(row_user)
    slot = ctx.selected.get(row_user)
    alert = row_user in ctx.alerts
    user.append("●" if slot is not None else " ", style=series_style(slot) if slot is not None else "")
    user.append(ALERT_MARK if alert else " ", style=f"bold reverse {ctx.colours.low}" if alert else "")
    user.append_text(fmt.safe_text(row_user, style=f"bold {ctx.colours.low}" if alert else "", width=ctx.layout.user - 2))
    return user


def row_cells(row: BucketRow, ctx: RowContext) -> dict[str, Text]:
    layout, colours = ctx.layout, ctx.colours
    fill_colour = fmt.fill_style(row.fill, low=colours.low, mid=colours.mid, high=colours.high)
    denied_style = f"bold {colours.low}"
    cells: dict[str, Text] = {
        "user": user_cell(row.user, ctx),
        "tokens": Text(tokens_text(row).rjust(layout.tokens), no_wrap=True),
        "fill": fmt.fill_bar(row.fill, layout.bar, fill_colour),
        "refill": Text(clip(refill_text(row, layout.refill_rate), layout.refill), no_wrap=True),
        "grants": Text(fmt.rate(row.grants_per_s).rjust(layout.rate), no_wrap=True),
        "denials": Text(fmt.rate(row.denials_per_s).rjust(layout.rate), style=denied_style if (row.denials_per_s or 0) > 0 else "", no_wrap=True),
    }
    for key in layout.windows:
        cells[key] = count_cell(ctx.windows.count(row.user, WINDOW_COLUMNS[key]), layout.count, style=denied_style)
    if layout.ratio:
        cells["ratio"] = ratio_cell(ctx.windows.count(row.user, WINDOW_COLUMNS[ctx.window]), 5, style=denied_style)
    if layout.trend:
        cells["trend"] = trend(ctx.levels(row.user, layout.trend) or (row.tokens,), row.ceiling, layout.trend, colours=colours.fills)
    cells["cfg"] = cfg_cell(row, colours)  # ≠ / op / –, then ◐ in preview
    return cells
