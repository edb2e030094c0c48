"""The audit log: recent changes made through tbdash (when, who, action, user, old → new).

Every field of an entry may have been written by another tool, so all of it is
shown through `format.safe_text`. Column widths follow the screen, and a value
is never cut into another value: a change wraps between whole words (setting,
old value, → new value), and a single word wider than its column ends in
``…``. Intervals carry their unit, times their zone.
"""

from __future__ import annotations

import time
from typing import Awaitable, Callable, Mapping

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from dashboard.core.protocol import AuditEntry
from dashboard.tui import format as fmt

FIELD_ORDER = ("max_tokens", "burst", "refill_count", "refill_interval")
WIDE = 120  # at least this many columns: the time on one line with its date
CELL_PADDING = 1  # the DataTable's, each side of every column
ACTION_WIDTH = 11  # "unconfigure"


def interval(value: float) -> str:
    """An interval exactly as stored, with its unit: ``250ms``, ``1s``, ``2.5s``, ``3600s``."""
    if 0 < value < 1 and abs(value * 1000 - round(value * 1000)) < 1e-9:
        return f"{round(value * 1000)}ms"
    text = repr(float(value))
    return (text[:-2] if text.endswith(".0") else text) + "s"


def value_text(key: str, value: object) -> str:
    """One stored value, exactly (never rounded), with its unit; foreign values as written."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "refill_interval" and isinstance(value, (int, float)):
        return interval(float(value))
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (int, str)):
        return str(value)
    import json

    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def when_text(epoch: float, *, one_line: bool) -> Text:
    """Local time with its zone, from the entry's Redis time: ``2026-12-01 13:15:44 UTC``."""
    local = time.localtime(epoch)
    zone = local.tm_zone if local.tm_zone and len(local.tm_zone) <= 5 and local.tm_zone.isalpha() else time.strftime("UTC%z", local)
    date, clock = time.strftime("%Y-%m-%d", local), time.strftime("%H:%M:%S", local)
    return Text(f"{date}{' ' if one_line else chr(10)}{clock} {zone}", no_wrap=True)


def _atoms(entry: AuditEntry) -> list[list[Text]]:
    """Each changed setting as its words: setting, old value, → new value (or a phrase when nothing changed)."""
    old: Mapping[str, object] = entry.old or {}
    new: Mapping[str, object] = entry.new or {}
    keys = [k for k in FIELD_ORDER if k in old or k in new] + sorted((set(old) | set(new)) - set(FIELD_ORDER), key=str)
    changes: list[list[Text]] = []
    for key in keys:
        before, after = old.get(key), new.get(key)
        if old and new and before == after:
            continue
        words = [fmt.safe_text(str(key), style="dim")]
        words.append(fmt.safe_text(value_text(key, before)) if before is not None else Text("–"))
        arrow = Text("→ ")
        arrow.append_text(fmt.safe_text(value_text(key, after), style="bold") if after is not None else Text("–"))
        words.append(arrow)
        changes.append(words)
    if not changes:
        phrase = {"reset": "refilled to max_tokens", "delete": "bucket forgotten"}.get(entry.action, "no setting changed")
        changes.append([Text(word, style="italic") for word in phrase.split()])
    return changes


def describe_change(entry: AuditEntry, width: int = 60) -> Text:
    """One line per changed setting (``max_tokens 50 → 100``), wrapped between whole words to ``width`` cells.

    A word is never split (``100`` must not read as ``1`` and ``00``); one wider
    than the column is clipped with ``…``, which no number contains.
    """
    width = max(width, 4)
    lines: list[Text] = []
    for words in _atoms(entry):
        line = Text()
        for word in words:
            if word.cell_len > width - 2:
                word = _clipped(word, width - 2)
            if line.cell_len and line.cell_len + 1 + word.cell_len > width:
                lines.append(line)
                line = Text("  ")  # a continuation: indented under its setting
            elif line.cell_len:
                line.append(" ")
            line.append_text(word)
        lines.append(line)
    return Text("\n", no_wrap=True, end="").join(lines)


def _clipped(word: Text, width: int) -> Text:
    if word.cell_len <= width:
        return word
    clipped = word.copy()
    clipped.truncate(max(width - 1, 0))
    while clipped.cell_len > max(width - 1, 0):  # a wide character at the edge
        clipped.right_crop(1)
    clipped.append(fmt.ELLIPSIS)
    return clipped


class AuditScreen(Screen):
    DEFAULT_CSS = """
    AuditScreen #audit-title {
        height: auto;
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

    def __init__(self, read: Callable[[int], Awaitable[list[AuditEntry]]]) -> None:
        super().__init__()
        self.read = read  # the backend's `audit`: the newest entries, at most so many
        self.entries: list[AuditEntry] = []
        self._widths: tuple[int, ...] = ()

    def compose(self) -> ComposeResult:
        yield Static("Audit log — changes made through tbdash (newest first)", id="audit-title")
        yield DataTable(id="audit", cursor_type="row", zebra_stripes=True, cell_padding=CELL_PADDING)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.action_reload()

    def on_resize(self) -> None:
        if self.entries:
            self.show(self.entries)

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_reload(self) -> None:
        self.query_one("#audit-title", Static).update("Audit log — loading…")
        self._load()

    @work(exclusive=True, group="audit", exit_on_error=False)
    async def _load(self) -> None:
        try:
            entries = await self.read(200)
        except Exception as exc:  # Redis down: say so, keep the screen
            title = Text("Audit log — could not read it: ", style="bold red")
            title.append_text(fmt.safe_text(fmt.redact_message(str(exc)), style="bold red"))
            self.query_one("#audit-title", Static).update(title)
            return
        self.show(entries)

    def column_widths(self, width: int) -> tuple[int, int, int, int, int]:
        """when, who, action, user, change: the change column takes what the others leave."""
        one_line = width >= WIDE
        zone = 5
        when = (19 if one_line else 10) + (1 + zone if one_line else 0)
        when = max(when, 8 + 1 + zone)  # "13:15:44 CEST" on its own line
        usable = width - 2 * CELL_PADDING * 5 - 1  # padding, and the scrollbar
        rest = max(usable - when - ACTION_WIDTH, 30)
        who = user = max(10, min(24, rest // 5))
        change = max(rest - who - user, 18)
        return when, who, ACTION_WIDTH, user, change

    def show(self, entries: list[AuditEntry]) -> None:
        self.entries = list(entries)
        table = self.query_one(DataTable)
        width = table.size.width or self.app.size.width
        widths = self.column_widths(width)
        when_w, who_w, action_w, user_w, change_w = widths
        keep = table.cursor_row
        table.clear(columns=widths != self._widths)
        if widths != self._widths:
            self._widths = widths
            for key, label, column_width in zip(("when", "who", "action", "user", "change"), ("when", "who", "action", "user", "old → new"), widths):
                table.add_column(label, key=key, width=column_width)
        one_line = width >= WIDE
        for entry in sorted(self.entries, key=lambda e: e.when, reverse=True):
            table.add_row(
                when_text(entry.when, one_line=one_line),
                fmt.safe_text(entry.who, width=who_w),
                fmt.safe_text(entry.action, style="bold red" if entry.action == "delete" else "bold", width=action_w),
                fmt.safe_text(entry.user, width=user_w),
                describe_change(entry, change_w),
                height=None,
            )
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))
        count = len(self.entries)
        self.query_one("#audit-title", Static).update(
            f"Audit log — {count} change{'s' if count != 1 else ''} made through tbdash (newest first)" if count else "Audit log — no changes recorded yet"
        )
