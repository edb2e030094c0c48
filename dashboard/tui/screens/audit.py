"""The audit log: recent changes made through tbdash (when, who, action, user, old → new)."""

from __future__ import annotations

import time
from typing import Mapping

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from dashboard.core.protocol import AuditEntry
from dashboard.tui import format as fmt

FIELD_ORDER = ("max_tokens", "burst", "refill_count", "refill_interval")


def _value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def describe_change(entry: AuditEntry) -> Text:
    """One line per changed setting (``max_tokens 100 → 200``); every setting when only one side exists."""
    old: Mapping[str, object] = entry.old or {}
    new: Mapping[str, object] = entry.new or {}
    keys = [k for k in FIELD_ORDER if k in old or k in new] + sorted((set(old) | set(new)) - set(FIELD_ORDER))
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    parts = 0
    for key in keys:
        before, after = old.get(key), new.get(key)
        if old and new and before == after:
            continue
        if parts:
            text.append("\n")
        parts += 1
        text.append(f"{key} ", style="dim")
        if before is not None:
            text.append(_value(before))
        if before is not None and after is not None:
            text.append(" → ")
        elif before is not None:
            text.append(" → –")
        else:
            text.append("– → ")
        if after is not None:
            text.append(_value(after), style="bold")
    if not parts:
        text.append({"reset": "refilled to max_tokens", "delete": "bucket forgotten"}.get(entry.action, "no setting changed"), style="italic")
    return text


class AuditScreen(Screen):
    DEFAULT_CSS = """
    AuditScreen #audit-title {
        height: 1;
        background: $panel;
        padding: 0 1;
        text-style: bold;
    }
    AuditScreen DataTable {
        height: 1fr;
    }
    """

    BINDINGS = [
        Binding("escape,q,a", "close", "Back", tooltip="Back to the dashboard"),
        Binding("r", "reload", "Reload", tooltip="Read the audit stream again"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("Audit log — changes made through tbdash (newest first)", id="audit-title")
        yield DataTable(id="audit", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in (("when", "when"), ("who", "who"), ("action", "action"), ("user", "user"), ("change", "old → new")):
            table.add_column(label, key=key)
        table.focus()
        self.action_reload()

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_reload(self) -> None:
        self.query_one("#audit-title", Static).update("Audit log — loading…")
        self._load()

    @work(exclusive=True, group="audit", exit_on_error=False)
    async def _load(self) -> None:
        try:
            entries = await self.app.backend.audit(200)  # type: ignore[attr-defined]
        except Exception as exc:  # Redis down: say so, keep the screen
            self.query_one("#audit-title", Static).update(Text(f"Audit log — could not read it: {fmt.redact(str(exc))}", style="bold red"))
            return
        self.show(entries)

    def show(self, entries: list[AuditEntry]) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for entry in sorted(entries, key=lambda e: e.when, reverse=True):
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.when))
            table.add_row(
                Text(when),
                Text(entry.who),
                Text(entry.action, style="bold red" if entry.action == "delete" else "bold"),
                Text(entry.user),
                describe_change(entry),
                key=entry.id,
                height=None,
            )
        count = len(entries)
        self.query_one("#audit-title", Static).update(
            f"Audit log — {count} change{'s' if count != 1 else ''} made through tbdash (newest first)" if count else "Audit log — no changes recorded yet"
        )
