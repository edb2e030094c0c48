"""The help screen: the keys (from the action table, so read-only hides writes here too) and how to read the screen.

The text is Markdown (help.md), parsed once per process into one Rich
renderable (`help_document`) and shown in a single `Static`. Textual's
`Markdown` widget built a widget per block and list item (~150 of them) on
every open, which took about a second each time.

`/` (or a click) puts the cursor in the search box: what is typed keeps only
the lines (keys, list items, paragraphs) that contain every word, under their
headings (`search_help`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from rich.markdown import Markdown
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from dashboard.tui import actions
from dashboard.tui.widgets.ordered_input import OrderedInput

HELP_FILE = Path(__file__).resolve().parent.parent / "help.md"


def keys_markdown(read_only: bool) -> str:
    """The keys section, from the action table (so ``--read-only`` drops the writes here too)."""
    names = {"question_mark": "?", "slash": "/", "plus": "+", "equals_sign": "=", "minus": "-"}
    lines = ["## Keys", ""]
    for action in (*actions.DASHBOARD, *actions.TABLE, *(a for a in actions.APP if a not in actions.DASHBOARD)):
        if read_only and action.mutating:
            continue
        keys = " ".join(f"`{names.get(k, k)}`" for k in action.keys.split(","))
        lines.append(f"- {keys} **{action.title}** — {action.help}")
    lines += ["", "On the detail screen (enter on a row):", ""]
    for action in actions.DETAIL:
        if action is actions.HELP or (read_only and action.mutating):
            continue
        keys = " ".join(f"`{names.get(k, k)}`" for k in action.keys.split(","))
        lines.append(f"- {keys} **{action.title}** — {action.help}")
    lines += [
        "",
        "- `ctrl+p` **Command palette** — every action, and the themes",
        "- a click on a column header sorts by it; a click on a key in the key bar presses it",
        "",
    ]
    return "\n".join(lines)


@lru_cache(maxsize=2)
def help_text(read_only: bool) -> str:
    """The whole help as Markdown: the keys from the action table, then help.md."""
    prose = HELP_FILE.read_text(encoding="utf-8")
    if read_only:
        prose = re.sub(r"<!-- writes -->.*?<!-- /writes -->\n?", "", prose, flags=re.S)
    prose = re.sub(r"<!-- /?writes -->\n?", "", prose)
    return keys_markdown(read_only) + "\n" + prose


@lru_cache(maxsize=2)
def help_document(read_only: bool) -> Markdown:
    """The whole help, parsed once (per ``read_only``): opening the help again costs no parsing."""
    return Markdown(help_text(read_only), hyperlinks=False)


def _blocks(text: str) -> list[str]:
    """Headings, list items (with their continuation lines) and paragraphs, one string each."""
    blocks: list[str] = []
    for line in text.splitlines():
        starts = line.startswith(("#", "- ")) or not blocks or not blocks[-1] or blocks[-1].startswith("#")
        if not line.strip():
            blocks.append("")
        elif starts:
            blocks.append(line)
        else:
            blocks[-1] += "\n" + line
    return blocks


def search_help(text: str, query: str) -> str:
    """The blocks of ``text`` that contain every word of ``query`` (any case), under their headings."""
    words = query.casefold().split()
    if not words:
        return text
    out: list[str] = []
    heading = None
    for block in _blocks(text):
        if block.startswith("#"):
            heading = block
        elif block and all(word in block.casefold() for word in words):
            if heading is not None:
                out += ["", heading, ""]
                heading = None
            out.append(block if block.startswith("- ") else block + "\n")
    return "\n".join(out) if out else f"Nothing in the help matches *{query.strip()}*."


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 100;
        max-width: 100%;
        height: 100%;
        border: thick $primary 80%;
        border-title-align: center;
        border-subtitle-align: center;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen #help-text {
        height: auto;
    }
    HelpScreen #help-search {
        border: none;
        height: 1;
        padding: 0 1;
        margin-bottom: 1;
    }
    """

    BINDINGS = [
        Binding("escape,q,question_mark,f1", "close", "Close", tooltip="Back to the dashboard"),
        Binding("slash", "search", "Search", tooltip="Search the help"),
    ]

    def __init__(self, *, read_only: bool) -> None:
        super().__init__()
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        read_only = self.read_only
        with VerticalScroll(id="help") as scroll:
            scroll.border_title = "Help"
            scroll.border_subtitle = "/ searches · ↑ ↓ pgup pgdn scroll · escape closes"
            yield OrderedInput(placeholder="/ search the help (keys, columns, states)", id="help-search")
            yield Static(help_document(read_only), id="help-text")

    def on_mount(self) -> None:
        self.query_one("#help").focus()

    def action_search(self) -> None:
        self.query_one("#help-search", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        query = event.value
        found = help_document(self.read_only) if not query.strip() else Markdown(search_help(help_text(self.read_only), query), hyperlinks=False)
        self.query_one("#help-text", Static).update(found)
        self.query_one("#help", VerticalScroll).scroll_home(animate=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#help").focus()  # enter keeps the search; the keys scroll again

    def action_close(self) -> None:
        if self.focused is self.query_one("#help-search") and self.query_one("#help-search", Input).value:
            self.query_one("#help-search", Input).value = ""  # escape in a search clears it first,
            self.query_one("#help").focus()  # and gives the keys back: / searches again, escape closes
            return
        self.dismiss(None)


def open_help(app: App[None], *, read_only: bool) -> None:
    """Show the help screen, unless it is open already."""
    if not any(isinstance(s, HelpScreen) for s in app.screen_stack):
        app.push_screen(HelpScreen(read_only=read_only))
