"""A small panel listing keys under the prefix that are not valid buckets (shown only when there are some)."""

from __future__ import annotations

from typing import Sequence

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from dashboard.core.protocol import InvalidKey
from dashboard.tui import format as fmt

KEY_WIDTH = 60  # cells of a key name at most: the reason must stay in view


class InvalidKeys(VerticalScroll):
    DEFAULT_CSS = """
    InvalidKeys {
        dock: bottom;
        display: none;
        height: auto;
        max-height: 3;
        padding: 0 1;
        color: $text-warning;
    }
    InvalidKeys.-shown {
        display: block;
    }
    InvalidKeys > Static {
        height: auto;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, can_focus=False)
        self._keys: tuple[InvalidKey, ...] = ()

    def compose(self):
        yield Static("", id="invalid-list")

    def show(self, keys: Sequence[InvalidKey]) -> None:
        keys = tuple(keys)
        if keys == self._keys:
            return
        self._keys = keys
        self.set_class(bool(keys), "-shown")
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        if len(keys) > 1:
            text.append(f"⚠ {len(keys)} keys under the prefix are not buckets (left untouched):\n", style="bold")
        for i, key in enumerate(keys):
            if i:
                text.append("\n")
            text.append("⚠ " if len(keys) == 1 else "  ")
            text.append_text(fmt.safe_text(key.key, style="bold", width=KEY_WIDTH))
            text.append(" — ")
            text.append_text(fmt.safe_text(key.reason))  # may quote a stored value
            if len(keys) == 1:
                text.append(" (left untouched)", style="italic")
        self.query_one("#invalid-list", Static).update(text)
