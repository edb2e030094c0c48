"""The red banner shown while Redis cannot be polled: the error, the retry, how stale the data is."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from dashboard.tui import format as fmt


class ConnectionBanner(Static):
    DEFAULT_CSS = """
    ConnectionBanner {
        display: none;
        height: auto;
        max-height: 3;
        padding: 0 1;
        background: $error;
        color: $text;
    }
    ConnectionBanner.-shown {
        display: block;
    }
    """

    def show_problem(self, *, title: str, error: str, retry_in: float | None, attempt: int, stale_for: float | None) -> None:
        text = Text(no_wrap=False, end="")
        text.append(f"{title} ", style="bold")
        text.append_text(fmt.safe_text(fmt.redact_message(error)))  # errors quote key names and values
        detail = []
        if retry_in is not None:
            detail.append(f"retrying in {fmt.ago(retry_in)} (attempt {attempt}) · r retries now" if retry_in > 0.5 else f"retrying now (attempt {attempt})")
        if stale_for is not None:
            detail.append(f"showing data from {fmt.ago(stale_for)} ago")
        else:
            detail.append("no data yet")
        text.append("\n" + " · ".join(detail), style="italic")
        self.update(text)
        self.add_class("-shown")

    def clear_problem(self) -> None:
        # Called after every good poll: a no-op while hidden, since `update` re-lays out the whole screen.
        if self.has_class("-shown"):
            self.remove_class("-shown")
            self.update("")
