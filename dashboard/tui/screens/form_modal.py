"""`FormModal`: the look and behaviour shared by the dashboard's form dialogs (edit settings, fire load).

The dialog is docked to the bottom right over a see-through screen, so the
operator keeps watching the table (and the bucket's row) while filling it in;
the app hands each new snapshot to the open dialog (`follow`), which updates
its view of the bucket. Each field is one row: label, input, and beside it the
hint, or the error when the value is wrong; the input keeps its one text row
either way, so what was typed stays in view, marked.
"""

from __future__ import annotations

from typing import Iterable, Mapping, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from dashboard.core.protocol import BucketRow, Snapshot
from dashboard.tui import format as fmt
from dashboard.tui.state import Change, TuiState
from dashboard.tui.widgets.ordered_input import OrderedInput

ResultT = TypeVar("ResultT")

TITLE_USER_WIDTH = 48  # cells of the user id in a dialog's title


class FormModal(ModalScreen[ResultT]):
    """A dialog (``#dialog``) of labelled fields with hints, inline errors and buttons.

    Subclasses set their own widths and border colour, compose their fields
    with `field_row`, and implement `bucket_changed`.
    """

    DEFAULT_CSS = """
    FormModal {
        align: right bottom;
    }
    /* The dialog holds the bottom of the screen: notifications show at the top meanwhile
       (a toast rack docked under a bottom-aligned dialog stays out of view). */
    FormModal ToastRack {
        dock: top;
        align: right top;
        margin-bottom: 0;
        margin-top: 1;
    }
    FormModal > #dialog {
        width: 76;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $primary 80%;
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }
    FormModal #about {
        height: auto;
        color: $text-muted;
    }
    FormModal .field {
        height: auto;
    }
    /* One text row in every state: Textual's own invalid/focus borders would leave none. */
    FormModal .field Input,
    FormModal .field Input:focus,
    FormModal .field Input.-invalid,
    FormModal .field Input.-invalid:focus {
        height: 1;
        border: none;
        padding: 0 1;
        background: $boost;
    }
    FormModal .field Input:focus {
        background: $primary 30%;
    }
    FormModal .field Input.-wrong {
        background: $error 30%;
        text-style: bold;
    }
    FormModal .field Input.-wrong:focus {
        background: $error 45%;
    }
    FormModal .hint {
        width: 1fr;
        height: auto;
        padding-left: 2;
        color: $text-muted;
    }
    FormModal .hint.-wrong {
        color: $text-error;
        text-style: bold;
    }
    FormModal .error {
        height: auto;
        color: $text-error;
        display: none;
    }
    FormModal .error.-shown {
        display: block;
    }
    FormModal #buttons {
        height: auto;
        align-horizontal: right;
    }
    """

    # The focus moves as tab is read, before the keys after it are handed to a field: as a
    # screen binding, tab ran only once it had bubbled up, and what came after it went to
    # the field it left.
    BINDINGS = [
        Binding("tab", "app.focus_next", "Next field", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", "Previous field", show=False, priority=True),
    ]

    def __init__(self, state: TuiState, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.state = state
        # See-through, so the table stays in view. An inline style, because the app's own
        # CSS paints every Screen opaque and app CSS outranks any DEFAULT_CSS.
        self.styles.background = "transparent"

    #: The bucket the dialog is about (None: none under the cursor), kept current by `follow`.
    row: BucketRow | None = None
    #: False once a snapshot no longer has the bucket (expired or deleted while the dialog is open).
    bucket_present: bool = True

    # ------------------------------------------------------------------ building

    @staticmethod
    def title_for(verb: str, user: str) -> Text:
        """``Edit bucket <user>``: the user id shown safely (it is not tbdash's text)."""
        return Text.assemble(f"{verb} ", fmt.safe_text(user, width=TITLE_USER_WIDTH))

    @staticmethod
    def field_row(field: str, value: str, hint: str) -> ComposeResult:
        """Label, input, and the hint (replaced by the error while the value is wrong)."""
        with Horizontal(classes="field"):
            yield Label(field)
            yield OrderedInput(value, id=field, select_on_focus=True)
            yield Static(hint, id=f"{field}-hint", classes="hint")

    def show_errors(self, fields: Iterable[str], errors: Mapping[str, str], hints: Mapping[str, str]) -> None:
        """Mark each wrong field and put its error beside it; the others show their hint."""
        for field in fields:
            message = errors.get(field, "")
            self.query_one(f"#{field}", Input).set_class(bool(message), "-wrong")
            hint = self.query_one(f"#{field}-hint", Static)
            hint.update(Text(f"✗ {message}") if message else Text(hints[field]))
            hint.set_class(bool(message), "-wrong")

    # ------------------------------------------------------------------ live bucket

    def state_changed(self, change: Change) -> None:
        if Change.DATA in change and self.state.snapshot is not None:
            self.follow(self.state.snapshot)

    def follow(self, snapshot: Snapshot) -> None:
        """A new snapshot: show the bucket as it is now."""
        if self.row is None:
            return
        user = self.row.user
        row = next((b for b in snapshot.buckets if b.user == user), None)
        self.bucket_present = row is not None
        if row is not None:
            before, self.row = self.row, row
            self.bucket_changed(before)
        else:
            self.bucket_changed(self.row)

    def bucket_changed(self, before: BucketRow) -> None:
        """`row` (or `bucket_present`) changed; ``before`` is the row shown until now."""
