"""A reusable yes/no modal; shows old → new for each changed field when given."""

from __future__ import annotations

from typing import Sequence

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ConfirmModal(ModalScreen[bool]):
    """Dismisses with True (confirmed) or False."""

    DEFAULT_CSS = """
    ConfirmModal {
        align: center middle;
    }
    ConfirmModal > #dialog {
        width: auto;
        min-width: 40;
        max-width: 90%;
        height: auto;
        max-height: 90%;
        border: thick $primary 80%;
        background: $surface;
        padding: 1 2;
    }
    ConfirmModal.-danger > #dialog {
        border: thick $error 80%;
    }
    ConfirmModal #title {
        text-style: bold;
        margin-bottom: 1;
    }
    ConfirmModal #changes, ConfirmModal #message {
        height: auto;
        margin-bottom: 1;
    }
    ConfirmModal #buttons {
        height: auto;
        align-horizontal: right;
    }
    ConfirmModal Button {
        margin-left: 2;
        min-width: 12;
    }
    """

    BINDINGS = [
        Binding("escape,n", "cancel", "Cancel", tooltip="Close without changing anything"),
        Binding("y", "confirm", "Confirm", tooltip="Do it"),
    ]

    def __init__(
        self,
        title: str,
        *,
        message: str | Text = "",
        changes: Sequence[tuple[str, str, str]] = (),
        confirm_label: str = "Apply",
        danger: bool = False,
    ) -> None:
        super().__init__(classes="-danger" if danger else None)
        self.title_text = title
        self.message = message
        self.changes = list(changes)
        self.confirm_label = confirm_label
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text(self.title_text), id="title")
            if self.changes:
                table = Table.grid(padding=(0, 2))
                table.add_column(style="bold")
                table.add_column(justify="right", style="dim")
                table.add_column()
                table.add_column(justify="left", style="bold")
                for field, old, new in self.changes:
                    table.add_row(field, old, "→", new)
                yield Static(table, id="changes")
            if self.message:
                yield Static(Text(self.message) if isinstance(self.message, str) else self.message, id="message")
            with Horizontal(id="buttons"):
                yield Button("Cancel (n)", id="cancel", variant="default", compact=True)
                yield Button(f"{self.confirm_label} (y)", id="confirm", variant="error" if self.danger else "primary", compact=True)

    def on_mount(self) -> None:
        # Enter on a destructive question must not destroy: focus Cancel there.
        self.query_one("#cancel" if self.danger else "#confirm", Button).focus()

    @on(Button.Pressed, "#confirm")
    def action_confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
