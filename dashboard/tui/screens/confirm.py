"""A reusable yes/no modal; shows old → new for each changed field when given.

The questions the dashboard asks about one bucket (reset, drop operator
settings, delete, preview, promote, discard a preview) are built here too, so each names its bucket the one safe
way (`format.safe_text`) and says exactly what will change.
"""

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

from dashboard.core.protocol import BucketRow
from dashboard.tui import format as fmt
from dashboard.tui.forms import changes as setting_changes
from dashboard.tui.preview import NONE, settings_text, shadow_counters
from limiter.config import BucketConfig

USER_WIDTH = 40  # cells of a user id in a question: the question must stay readable


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
        title: str | Text,
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
            yield Label(Text(self.title_text) if isinstance(self.title_text, str) else self.title_text, id="title")
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


def about_bucket(verb: str, row: BucketRow, end: str = "?") -> Text:
    """``Reset bucket <user>?`` with the user id shown safely."""
    return Text.assemble(f"{verb} ", fmt.safe_text(row.user, style="bold", width=USER_WIDTH), end)


def config_changes(old: BucketConfig, new: BucketConfig, *, tokens: int | None = None) -> list[tuple[str, str, str]]:
    """old → new rows for a change of settings: each setting that differs, the ceiling, clamped tokens."""
    rows = setting_changes(old, new)
    if new.ceiling != old.ceiling:
        rows.append(("ceiling", str(old.ceiling), str(new.ceiling)))
    if tokens is not None and tokens > new.ceiling:
        rows.append(("tokens", str(tokens), f"{new.ceiling} (clamped)"))
    return rows


def reset_confirmation(row: BucketRow) -> ConfirmModal:
    return ConfirmModal(
        about_bucket("Reset bucket", row),
        changes=[("tokens", str(row.tokens), str(row.config.max_tokens))] if row.tokens != row.config.max_tokens else (),
        message=f"Refills it to max_tokens ({row.config.max_tokens}) now. Settings and counters stay.",
        confirm_label="Reset",
    )


def unconfigure_confirmation(row: BucketRow, default: BucketConfig | None) -> ConfirmModal:
    """Dropping operator settings: old → new is the bucket's settings → this dashboard's default settings."""
    message = Text()
    if default is None:
        rows: list[tuple[str, str, str]] = []
        message.append("The default settings of the services apply again")
    else:
        rows = config_changes(row.config, default, tokens=row.tokens)
        if not rows:
            message.append("The default settings are the same as these: only the operator flag goes. ")
        message.append("tbdash's default settings ([limiter.default]) apply now; each service's next call brings its own default")
    message.append(" (the bucket is settled at the current settings first). The settings stop persisting: an idle, full bucket expires.")
    rows.insert(0, ("settings", "operator", "default"))
    return ConfirmModal(about_bucket("Drop operator settings of", row), changes=rows, message=message, confirm_label="Drop settings", danger=True)


def delete_confirmation(row: BucketRow) -> ConfirmModal:
    what = "its tokens, counters and operator settings" if row.overridden else "its tokens and counters"
    return ConfirmModal(
        about_bucket("Delete bucket", row),
        message=f"Forgets {what}. The next request starts a new, full bucket at the default settings.",
        confirm_label="Delete",
        danger=True,
    )


def preview_confirmation(row: BucketRow, new: BucketConfig) -> ConfirmModal:
    """Previewing ``new``: old → new from the preview in place (or from the enforced settings, when there is none)."""
    shadow = row.shadow
    base = shadow.config if shadow is not None else row.config
    rows = [("preview", settings_text(shadow.config) if shadow is not None else NONE, settings_text(new))]
    rows += config_changes(base, new)
    message = Text("Nothing changes for the callers: every acquire is also counted against these settings, on their own tokens "
                   "(starting from the bucket's as it is now); only the enforced settings decide.", style="italic")
    if shadow is not None:
        message.append(f" Replaces the preview in place ({shadow_counters(shadow)}): its counters start again at 0.")
    message.append(" P promotes it, D discards it.")
    return ConfirmModal(about_bucket("Preview settings on", row), changes=rows, message=message, confirm_label="Preview")


def promote_confirmation(row: BucketRow) -> ConfirmModal:
    """Promoting: old → new is the enforced settings → the preview's (who decides: default or operator → operator)."""
    shadow = row.shadow
    assert shadow is not None  # the screen asks only about a bucket in preview
    rows = [("settings", "operator" if row.overridden else "default", "operator")]
    rows += config_changes(row.config, shadow.config, tokens=row.tokens)
    if len(rows) == 1 and row.overridden:
        rows.append(("preview", settings_text(shadow.config), NONE))
    message = Text("Applied live: the bucket is settled at the enforced settings up to now, then the preview's apply as "
                   "operator settings (they persist; u drops them). The preview's own tokens are not carried over; "
                   f"the preview ends ({shadow_counters(shadow)}).", style="italic")
    return ConfirmModal(about_bucket("Promote the preview of", row), changes=rows, message=message, confirm_label="Promote")


def discard_confirmation(row: BucketRow) -> ConfirmModal:
    """Discarding: old → new is the preview's settings → none."""
    shadow = row.shadow
    assert shadow is not None
    rows = [("preview", settings_text(shadow.config), NONE)]
    message = Text(f"Drops the preview settings and their counters ({shadow_counters(shadow)}). "
                   "The enforced settings stay as they are.", style="italic")
    return ConfirmModal(about_bucket("Discard the preview of", row), changes=rows, message=message, confirm_label="Discard")
