"""Edit a bucket's settings: a form with inline validation, then a confirmation showing old → new."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from dashboard.core.protocol import BucketRow
from dashboard.tui import format as fmt
from dashboard.tui.forms import BUCKET_FIELDS, changes, config_fields, validate_bucket
from dashboard.tui.screens.confirm import ConfirmModal
from dashboard.tui.screens.form_modal import FormModal
from limiter.config import BucketConfig

HINTS = {
    "max_tokens": "normal size; new buckets start full",
    "burst": "extra room that idle time may fill",
    "refill_count": "tokens added per tick",
    "refill_interval": "tick: 0.5, 250ms, 2s, 1m (≥ 1ms)",
}


class EditBucketModal(FormModal[BucketConfig | None]):
    """Dismisses with the confirmed new settings, or None (nothing is written here)."""

    DEFAULT_CSS = """
    EditBucketModal .field Label {
        width: 17;
        padding-top: 0;
    }
    EditBucketModal .field Input {
        width: 16;
    }
    EditBucketModal .error {
        padding-left: 17;
    }
    EditBucketModal #preview {
        height: auto;
        margin-top: 1;
    }
    EditBucketModal Button {
        margin-left: 2;
    }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without changing anything"),
        Binding("ctrl+s", "review", "Review", tooltip="Check the values and show old → new"),
    ]

    def __init__(self, row: BucketRow) -> None:
        super().__init__()
        self.row = row
        self.values = config_fields(row.config)

    def compose(self) -> ComposeResult:
        row = self.row
        with VerticalScroll(id="dialog") as dialog:
            dialog.border_title = Text(f"Edit bucket {row.user}")
            about = Text()
            about.append(f"now {row.tokens}/{row.ceiling} tokens · ")
            about.append("operator settings" if row.overridden else "default settings")
            about.append("\nsaving makes them operator settings: they persist (u drops them)")
            yield Static(about, id="about")
            for field in BUCKET_FIELDS:
                with Horizontal(classes="field"):
                    yield Label(field)
                    yield Input(self.values[field], id=field, select_on_focus=True)
                    yield Static(HINTS[field], classes="hint")
                yield Static("", id=f"{field}-error", classes="error")
            yield Static("", id="form-error", classes="error")
            yield Static("", id="preview")
            with Horizontal(id="buttons"):
                yield Button("Cancel (esc)", id="cancel", compact=True)
                yield Button("Review changes (ctrl+s)", id="review", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#max_tokens", Input).focus()
        self._validate()

    def _raw(self) -> dict[str, str]:
        return {field: self.query_one(f"#{field}", Input).value for field in BUCKET_FIELDS}

    def _validate(self) -> BucketConfig | None:
        config, errors = validate_bucket(self._raw())
        for field in BUCKET_FIELDS:
            message = errors.get(field, "")
            error = self.query_one(f"#{field}-error", Static)
            error.update(Text(f"✗ {message}") if message else "")
            error.set_class(bool(message), "-shown")
            self.query_one(f"#{field}", Input).set_class(bool(message), "-invalid")
        form_error = self.query_one("#form-error", Static)
        form_error.update(Text(f"✗ {errors['']}") if "" in errors else "")
        form_error.set_class("" in errors, "-shown")
        preview = self.query_one("#preview", Static)
        if config is None:
            preview.update("")
        else:
            fill_time = -(-config.ceiling // config.refill_count) * config.refill_interval
            text = Text()
            text.append(f"ceiling {config.ceiling}", style="bold")
            text.append(f" · refills {fmt.refill(config)} = {fmt.per_second(config.rate_per_second)}")
            text.append(f" · empty → full in {fmt.seconds(fill_time)}")
            if config == self.row.config:
                text.append("\nno changes yet", style="italic dim")
            preview.update(text)
        review = self.query_one("#review", Button)
        review.disabled = config is None or config == self.row.config
        return config

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self._validate()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.action_review()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#review")
    def action_review(self) -> None:
        config = self._validate()
        if config is None:
            self.notify("Fix the fields marked ✗ first.", severity="warning", timeout=3)
            return
        if config == self.row.config:
            self.notify("Nothing changed.", severity="information", timeout=3)
            return

        def decided(confirmed: bool | None) -> None:
            if confirmed:
                self.dismiss(config)

        rows = changes(self.row.config, config)
        if config.ceiling != self.row.ceiling:
            rows.append(("ceiling", str(self.row.ceiling), str(config.ceiling)))
        message = Text("Applied live: the bucket is settled at the old settings up to now, then the new ones apply", style="italic")
        if self.row.tokens > config.ceiling:
            message.append(f" (tokens are clamped from {self.row.tokens} to {config.ceiling})")
        message.append(".")
        self.app.push_screen(
            ConfirmModal(f"Change bucket {self.row.user}?", changes=rows, message=message, confirm_label="Apply"),
            decided,
        )
