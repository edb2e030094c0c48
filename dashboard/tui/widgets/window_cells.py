"""The window columns' texts and sort values: denials over 1 min, 5 min, 1 h, and the deny ratio.

The counts come from the app's `WindowStore` (dashboard/core/windows.py),
which the table is given to read (`WindowLookup`); nothing here collects data.
A count whose window started before the dashboard's history did is *partial*:
shown with a leading ``~`` and dimmed (the help says so), never extrapolated.
"""

from __future__ import annotations

from typing import Protocol

from rich.text import Text

from dashboard.core.windows import WindowCount
from dashboard.tui import format as fmt
from dashboard.tui.widgets.table_columns import WINDOW_COLUMNS

PARTIAL = "~"  # marks a count over less history than its window


class WindowLookup(Protocol):
    """What the table reads of the window store."""

    def count(self, user: str, window_s: float) -> WindowCount | None: ...

    def denying(self, window_s: float) -> list[str]: ...


class NoWindows:
    """Before the app gives the table its store (and in unit tests)."""

    def count(self, user: str, window_s: float) -> WindowCount | None:
        return None

    def denying(self, window_s: float) -> list[str]:
        return []


def window_label(key: str) -> str:
    """``1m``, ``5m``, ``1h`` for a window column key (or the chosen window of the ratio)."""
    return fmt.seconds(WINDOW_COLUMNS[key])


def count_cell(count: WindowCount | None, width: int, *, style: str = "") -> Text:
    """Denials in a window, right-aligned: ``412``, ``12k``, ``~37`` (partial, dim), ``–`` (not seen yet)."""
    if count is None:
        return Text("–".rjust(width), style="dim", no_wrap=True)
    text = fmt.number(count.denied)
    if len(text) + count.partial > width and count.denied >= 1000:  # a narrow column: whole thousands, never more
        text = f"{count.denied // 1000}k" if count.denied < 1_000_000 else fmt.number(count.denied)
    if count.partial:
        return Text((PARTIAL + text).rjust(width), style=f"dim {style}".strip(), no_wrap=True)
    return Text(text.rjust(width), style=style if count.denied else "", no_wrap=True)


def ratio_text(count: WindowCount | None) -> str:
    """Denials / requests: ``87%``, ``<1%``, ``0%``; ``–`` without requests."""
    ratio = count.deny_ratio if count is not None else None
    if ratio is None:
        return "–"
    if 0 < ratio < 0.01:
        return "<1%"
    return f"{ratio * 100:.0f}%"


def ratio_cell(count: WindowCount | None, width: int, *, style: str = "") -> Text:
    text = ratio_text(count)
    partial = count is not None and count.partial and text != "–"
    shown = (PARTIAL + text) if partial and len(text) < width else text
    return Text(shown.rjust(width), style=("dim " if partial else "") + (style if count and count.denied else ""), no_wrap=True)


def window_number(windows: WindowLookup, user: str, column: str, chosen: str) -> float:
    """The number a window column sorts by: denials in its window, or the chosen window's deny ratio.

    A bucket the store has not seen yet sorts as 0 (nothing counted), like one that denied nothing."""
    if column == "ratio":
        count = windows.count(user, WINDOW_COLUMNS[chosen])
        return (count.deny_ratio or 0.0) if count is not None else 0.0
    count = windows.count(user, WINDOW_COLUMNS[column])
    return float(count.denied) if count is not None else 0.0


def throttled(windows: WindowLookup, window_s: float) -> list[str]:
    """The users with at least one denial in the window (the top-throttled view's rows); cost: the denying ones."""
    out = []
    for user in windows.denying(window_s):
        count = windows.count(user, window_s)
        if count is not None and count.denied > 0:
            out.append(user)
    return out
