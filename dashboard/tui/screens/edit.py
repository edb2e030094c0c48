"""Edit a bucket's settings: a form with inline validation, then a confirmation showing old → new.

The same validated settings can instead be previewed (shadow settings, SPEC §6):
counted on the bucket's live traffic beside the enforced ones, deciding nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Static

from dashboard.core.protocol import BucketRow
from dashboard.tui import format as fmt
from dashboard.tui import messages as msg
from dashboard.tui.forms import BUCKET_FIELDS, config_fields, validate_bucket
from dashboard.tui.preview import settings_text, would_deny
from dashboard.tui.screens.confirm import ConfirmModal, config_changes, preview_confirmation
from dashboard.tui.screens.form_modal import FormModal
from dashboard.tui.state import TuiState
from limiter.config import BucketConfig

HINTS = {
    "max_tokens": "normal size; new buckets start full",
    "burst": "extra room that idle time may fill",
    "refill_count": "tokens added per tick",
    "refill_interval": "tick: 0.5, 250ms, 2s, 1m (≥ 1ms)",
}


@dataclass(frozen=True, slots=True)
class Edited:
    """What the operator confirmed: ``config`` to apply, or (``preview``) to preview as shadow settings."""

    config: BucketConfig
    preview: bool = False


def change_request(row: BucketRow, result: Edited | None) -> msg.ChangeRequested | None:
    """The write an edit form's answer asks for (apply, or preview as shadow settings); None when cancelled."""
    if result is None:
        return None
    return msg.ChangeRequested("shadow" if result.preview else "configure", row.user, old=row.config, new=result.config)


def open_edit(screen: Screen[Any], state: TuiState, row: BucketRow) -> None:
    """The edit form on ``row``, from ``screen``; the write its answer asks for is posted up from there."""

    def edited(result: Edited | None) -> None:
        request = change_request(row, result)
        if request is not None:
            screen.post_message(request)

    screen.app.push_screen(EditBucketModal(state, row), edited)


class EditBucketModal(FormModal[Edited | None]):
    """Dismisses with the confirmed `Edited`, or None (nothing is written here)."""

    row: BucketRow  # always a bucket (the form opens on the one under the cursor)

    DEFAULT_CSS = """
    EditBucketModal .field Label {
        width: 17;
        padding-top: 0;
    }
    EditBucketModal .field Input {
        width: 16;
    }
    EditBucketModal #preview {
        height: auto;
        min-height: 1;
    }
    EditBucketModal Button {
        margin-left: 2;
    }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without changing anything"),
        Binding("ctrl+s", "review", "Review", tooltip="Check the values and show old → new"),
        Binding("ctrl+t", "try", "Preview", tooltip="Try the values as preview settings: counted, not enforced"),
    ]

    def __init__(self, state: TuiState, row: BucketRow) -> None:
        super().__init__(state)
        self.row = row
        self.opened_with = row  # the settings the form was filled from
        self.values = config_fields(row.config)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog") as dialog:
            dialog.border_title = self.title_for("Edit bucket", self.row.user)
            yield Static(self._about(), id="about")
            for field in BUCKET_FIELDS:
                yield from self.field_row(field, self.values[field], HINTS[field])
            yield Static("", id="form-error", classes="error")
            yield Static("", id="preview")
            with Horizontal(id="buttons"):
                yield Button("Cancel (esc)", id="cancel", compact=True)
                if self.state.permits("shadow"):
                    yield Button("Preview (ctrl+t)", id="try", compact=True)
                yield Button("Review changes (ctrl+s)", id="review", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#max_tokens", Input).focus()
        self._validate()

    def _about(self) -> Text:
        """The bucket now (live: the app hands every snapshot to the dialog) and what saving does to it."""
        row = self.row
        about = Text()
        if not self.bucket_present:
            about.append("this bucket is gone (expired or deleted)", style="bold yellow")
            about.append("\nsaving creates it with these settings, as operator settings: they persist (u drops them)")
            return about
        about.append(f"now {row.tokens}/{row.ceiling} tokens · ")
        if row.overridden:
            about.append("operator settings: they persist (u drops them)")
            about.append("\nsaving changes them; the services' defaults stay ignored")
        else:
            about.append("the services' default settings")
            about.append("\nsaving makes them operator settings: they persist (u drops them)")
        if row.shadow is not None:
            about.append(f"\nin preview: {settings_text(row.shadow.config)}")
            difference = would_deny(row)
            if difference:
                about.append(f", {difference}")
            about.append(" (ctrl+t replaces it; P promotes, D discards)")
        if row.config != self.opened_with.config or row.overridden != self.opened_with.overridden:
            about.append("\n⚠ changed outside this form since it opened: old → new compares with the settings now", style="bold yellow")
        return about

    def bucket_changed(self, before: BucketRow) -> None:
        self.query_one("#about", Static).update(self._about())
        if before.config != self.row.config or before.shadow != self.row.shadow:
            self._validate()  # "no changes yet" compares with the settings in force now

    def _raw(self) -> dict[str, str]:
        return {field: self.query_one(f"#{field}", Input).value for field in BUCKET_FIELDS}

    def _validate(self) -> BucketConfig | None:
        config, errors = validate_bucket(self._raw())
        self.show_errors(BUCKET_FIELDS, errors, HINTS)
        form_error = self.query_one("#form-error", Static)
        form_error.update(Text(f"✗ {errors['']}") if "" in errors else "")
        form_error.set_class("" in errors, "-shown")
        preview = self.query_one("#preview", Static)
        if config is None:
            preview.update(Text("fix the values marked ✗ to see the new ceiling and refill rate", style="italic dim"))
        else:
            fill_time = -(-config.ceiling // config.refill_count) * config.refill_interval
            text = Text()
            text.append(f"ceiling {config.ceiling}", style="bold")
            text.append(f" · refills {fmt.refill(config)} = {fmt.per_second(config.rate_per_second)}")
            text.append(f" · empty → full in {fmt.seconds(fill_time)}")
            if config == self.row.config:
                text.append(" · no changes yet", style="italic dim")
            preview.update(text)
        review = self.query_one("#review", Button)
        review.disabled = config is None or config == self.row.config
        for button in self.query("#try").results(Button):
            button.disabled = config is None or config == self._previewed
        return config

    @property
    def _previewed(self) -> BucketConfig:
        """What a preview compares with: the preview in place, else the enforced settings."""
        return self.row.shadow.config if self.row.shadow is not None else self.row.config

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
                self.dismiss(Edited(config))

        rows = config_changes(self.row.config, config, tokens=self.row.tokens)
        message = Text("Applied live: the bucket is settled at the old settings up to now, then the new ones apply", style="italic")
        if not self.row.overridden:
            message.append("; they become operator settings and persist (u drops them)")
        message.append(".")
        self.app.push_screen(
            ConfirmModal(self.title_for("Change bucket", self.row.user) + "?", changes=rows, message=message, confirm_label="Apply"),
            decided,
        )

    @on(Button.Pressed, "#try")
    def action_try(self) -> None:
        """The same values as preview settings, after a confirmation showing old → new."""
        if not self.state.permits("shadow"):
            return
        config = self._validate()
        if config is None:
            self.notify("Fix the fields marked ✗ first.", severity="warning", timeout=3)
            return
        if config == self._previewed:
            self.notify("Nothing changed: " + ("these settings are already previewed." if self.row.shadow else "these are the settings in force."),
                        severity="information", timeout=3)
            return

        def decided(confirmed: bool | None) -> None:
            if confirmed:
                self.dismiss(Edited(config, preview=True))

        self.app.push_screen(preview_confirmation(self.row, config), decided)
