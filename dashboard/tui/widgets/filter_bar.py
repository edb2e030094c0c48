"""The `/` filter: an input under the table. Enter keeps the filter, escape clears it."""

from __future__ import annotations

from textual import on
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input

from dashboard.tui.widgets.ordered_input import OrderedInput


class FilterBar(OrderedInput):
    DEFAULT_CSS = """
    FilterBar {
        display: none;
        height: 1;
        border: none;
        padding: 0 1;
        background: $boost;
    }
    FilterBar.-shown {
        display: block;
    }
    FilterBar:focus {
        border: none;
        background: $boost;
    }
    """

    BINDINGS = [
        Binding("escape", "clear_filter", "Clear filter", tooltip="Clear the filter and return to the table"),
        Binding("down", "done", "To the table", show=False),
    ]

    class PatternChanged(Message):
        """The pattern changed (as you type, on enter, or cleared)."""

        def __init__(self, pattern: str, *, done: bool) -> None:
            super().__init__()
            self.pattern = pattern
            self.done = done

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder="filter users: substring, or a glob like team-* (enter keeps, escape clears)", id=id)

    def open(self) -> None:
        self.add_class("-shown")
        self.focus()

    def action_done(self) -> None:
        self.remove_class("-shown")
        self.post_message(self.PatternChanged(self.value, done=True))

    def action_clear_filter(self) -> None:
        self.value = ""
        self.remove_class("-shown")
        self.post_message(self.PatternChanged("", done=True))

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.PatternChanged(event.value, done=False))

    @on(Input.Submitted)
    def _entered(self, event: Input.Submitted) -> None:
        event.stop()
        self.remove_class("-shown")  # the table's title shows the filter; `/` edits it again
        self.post_message(self.PatternChanged(event.value, done=True))
