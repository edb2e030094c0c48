"""Fire load at one bucket: a validated form, then live progress and the final report.

The load itself runs in an app worker (the dialog posts `LoadRequested`), so it
keeps running if this modal is sent to the background (``b``), and the status
bar shows it; the dialog shows the state's load run. Escape stops a running load; once it is over, escape closes.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, ProgressBar, Static

from dashboard.core.protocol import BucketRow, LoadProgress
from dashboard.core.protocol import LoadSpec
from dashboard.tui import format as fmt
from dashboard.tui import messages as msg
from dashboard.tui.forms import LOAD_FIELDS, default_load, validate_load
from dashboard.tui.screens.form_modal import FormModal
from dashboard.tui.state import Change, LoadRun, TuiState

HINTS = {
    "rate": "requests per second, open loop",
    "duration": "seconds (or 30s, 2m)",
    "concurrency": "requests in flight at most",
    "tokens": "tokens per request",
}


def report(progress: LoadProgress) -> Table:
    """The counters the same way `tbdash load` prints them."""
    grid = Table.grid(padding=(0, 2))
    for _ in range(4):
        grid.add_column(justify="right", style="bold")
        grid.add_column(justify="left")
    p = progress
    grid.add_row(str(p.sent), "sent", Text(str(p.granted), style="green"), "granted", Text(str(p.denied), style="red" if p.denied else ""), "denied", Text(str(p.errors), style="red" if p.errors else ""), "errors")
    grid.add_row(
        fmt.number(p.achieved_rate),
        "req/s",
        "–" if p.p50_ms is None else f"{p.p50_ms:.2f}ms",
        "p50",
        "–" if p.p99_ms is None else f"{p.p99_ms:.2f}ms",
        "p99",
        f"{p.elapsed:.1f}s",
        "elapsed",
    )
    return grid


class LoadModal(FormModal[None]):
    DEFAULT_CSS = """
    LoadModal > #dialog {
        border: thick $accent 80%;
    }
    LoadModal .field Label {
        width: 14;
    }
    LoadModal .field Input {
        width: 14;
    }
    LoadModal #run {
        height: auto;
        display: none;
        margin-top: 1;
    }
    LoadModal.-running #run, LoadModal.-finished #run {
        display: block;
    }
    LoadModal.-running #form, LoadModal.-finished #form {
        display: none;
    }
    LoadModal #form {
        height: auto;
    }
    LoadModal #progress {
        margin: 1 0;
    }
    LoadModal #progress Bar {
        width: 1fr;
    }
    LoadModal #outcome {
        height: auto;
        margin-top: 1;
    }
    LoadModal #counters {
        height: auto;
    }
    LoadModal #buttons Button {
        margin-left: 2;
    }
    LoadModal .when-form, LoadModal .when-running, LoadModal .when-finished {
        display: none;
    }
    LoadModal.-form .when-form, LoadModal.-running .when-running, LoadModal.-finished .when-finished {
        display: block;
    }
    """

    BINDINGS = [
        Binding("escape", "escape", "Stop / close", tooltip="Stop a running load; close the form otherwise"),
        Binding("b", "background", "Background", tooltip="Keep the load running and go back to the dashboard"),
        Binding("ctrl+s", "start", "Start", tooltip="Validate and fire the load"),
    ]

    def __init__(self, state: TuiState, row: BucketRow | None) -> None:
        super().__init__(state, classes="-form")
        self.row = row
        self.bucket_present = row is not None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        row = self.row
        defaults = default_load(row.ceiling, row.config.rate_per_second) if row else {}
        with VerticalScroll(id="dialog") as dialog:
            dialog.border_title = self.title_for("Fire load at", row.user) if row else Text("Load")
            yield Static(self._about(), id="about")
            with Vertical(id="form"):
                for field in LOAD_FIELDS:
                    yield from self.field_row(field, defaults.get(field, ""), HINTS[field])
            with Vertical(id="run"):
                yield Static("", id="spec")
                yield ProgressBar(total=1.0, show_eta=False, id="progress")
                yield Static("", id="counters")
                yield Static("", id="outcome")
            with Horizontal(id="buttons"):
                yield Button("Cancel (esc)", id="cancel", classes="when-form", compact=True)
                yield Button("Start (ctrl+s)", id="start", variant="warning", classes="when-form", compact=True)
                yield Button("Background (b)", id="background", classes="when-running", compact=True)
                yield Button("Stop (esc)", id="stop", variant="error", classes="when-running", compact=True)
                yield Button("New load", id="again", classes="when-finished", compact=True)
                yield Button("Close (esc)", id="close", variant="primary", classes="when-finished", compact=True)

    def on_mount(self) -> None:
        run = self.state.load_run
        if run is not None and (self.row is None or run.spec.user == self.row.user or run.running):
            self.show_run(run)
        else:
            self._set_mode("-form")
            self.query_one("#rate", Input).focus()
            self._validate()

    def _about(self) -> Text:
        """The bucket as of the newest snapshot (the app hands each one to the dialog), so a load is seen draining it."""
        row = self.row
        if row is None:
            return Text("the bucket of this load is not in the table (filtered out, or gone)", style="italic")
        if not self.bucket_present:
            return Text("this bucket is gone (expired or deleted); a load creates it again", style="bold yellow")
        about = Text()
        about.append("bucket ")
        about.append(f"{fmt.tokens(row.tokens)}/{fmt.tokens(row.ceiling)} tokens", style=f"bold {fmt.fill_style(row.fill)}")
        about.append(f" · refills {fmt.refill(row.config)} = {fmt.per_second(row.config.rate_per_second)}")
        if row.grants_per_s is not None:
            about.append(f" · {fmt.rate(row.grants_per_s)} grant/s, {fmt.rate(row.denials_per_s)} deny/s")
        return about

    def state_changed(self, change: Change) -> None:
        super().state_changed(change)
        if Change.LOAD in change and self.state.load_run is not None:
            self.show_run(self.state.load_run)

    def bucket_changed(self, before: BucketRow) -> None:
        self.query_one("#about", Static).update(self._about())
        if self.row is not None and before.ceiling != self.row.ceiling and self.has_class("-form"):
            self._validate()  # "tokens per request" is checked against the ceiling

    def _set_mode(self, mode: str) -> None:
        for name in ("-form", "-running", "-finished"):
            self.set_class(name == mode, name)

    # ------------------------------------------------------------------ form

    def _validate(self) -> LoadSpec | None:
        if self.row is None:
            return None
        raw = {field: self.query_one(f"#{field}", Input).value for field in LOAD_FIELDS}
        spec, errors = validate_load(raw, user=self.row.user, ceiling=self.row.ceiling)
        self.show_errors(LOAD_FIELDS, errors, HINTS)
        self.query_one("#start", Button).disabled = spec is None
        return spec

    @on(Input.Changed)
    def _changed(self) -> None:
        self._validate()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_start()

    # ------------------------------------------------------------------ run

    def show_run(self, run: LoadRun) -> None:
        """Show the state's load run (on every change of it)."""
        spec = run.spec
        text = Text()
        text.append(f"{fmt.number(spec.rate)} req/s", style="bold")
        text.append(f" for {fmt.seconds(spec.duration)} · {spec.concurrency} in flight · {spec.tokens} token{'s' if spec.tokens != 1 else ''} each → ")
        text.append_text(fmt.safe_text(spec.user, style="bold", width=40))
        self.query_one("#spec", Static).update(text)
        bar = self.query_one("#progress", ProgressBar)
        progress = run.progress
        finished_ok = progress is not None and progress.done and not progress.cancelled and not run.error
        bar.update(total=1.0, progress=1.0 if finished_ok else run.fraction)
        if progress is not None:
            self.query_one("#counters", Static).update(report(progress))
        outcome = self.query_one("#outcome", Static)
        notes = Text()
        if progress is not None and progress.queued:
            queued = progress.queued
            notes.append(f"{queued} request{'s' if queued != 1 else ''} waited for a free worker (Redis slower than the rate)\n", style="yellow")
        if progress is not None and progress.last_error:
            notes.append("last error: ", style="red")
            notes.append_text(fmt.safe_text(fmt.redact_message(progress.last_error), style="red"))
            notes.append("\n")
        if run.error:
            notes.append("✗ load failed: ", style="bold red")
            notes.append_text(fmt.safe_text(fmt.redact_message(run.error), style="bold red"))
        elif progress is not None and progress.cancelled:
            notes.append("stopped early: the counters above are the partial report", style="bold yellow")
        elif progress is not None and progress.done:
            notes.append("done", style="bold green")
        elif run.stopping:
            notes.append("stopping… (in-flight requests finish; escape again stops at once)", style="italic yellow")
        else:
            notes.append("running…", style="italic")
        outcome.update(notes)
        if run.running:
            self._set_mode("-running")
            if not isinstance(self.focused, Button):
                self.query_one("#stop", Button).focus()
        else:
            self._set_mode("-finished")
            self.query_one("#close", Button).focus()

    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        if not self.has_class("-form"):
            return
        spec = self._validate()
        if spec is None:
            self.notify("Fix the fields marked ✗ first.", severity="warning", timeout=3)
            return
        self.post_message(msg.LoadRequested(spec))

    @on(Button.Pressed, "#stop")
    def action_stop(self) -> None:
        self.post_message(msg.LoadStopRequested())

    @on(Button.Pressed, "#background")
    def action_background(self) -> None:
        if self.has_class("-running"):
            self.dismiss(None)

    @on(Button.Pressed, "#again")
    def _again(self) -> None:
        self._set_mode("-form")
        self.query_one("#rate", Input).focus()
        self._validate()

    @on(Button.Pressed, "#cancel")
    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(None)

    def action_escape(self) -> None:
        if self.has_class("-running"):
            self.action_stop()
        else:
            self.dismiss(None)


    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "background":
            return self.has_class("-running")
        if action == "start":
            return self.has_class("-form")
        return True
