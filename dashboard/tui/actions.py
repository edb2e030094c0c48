"""Every dashboard action in one table: its keys, labels and whether it writes.

The bindings, the key bar, the command palette and the help screen are all
generated from this table, so they cannot disagree, and ``--read-only`` can
drop every mutating action in one place (``mutating=True``).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType


@dataclass(frozen=True, slots=True)
class Action:
    name: str  # action method name (action_<name>) and binding id
    keys: str  # Textual key names, comma separated
    label: str  # short footer label
    title: str  # command palette / help title
    help: str  # one line: tooltip, palette help, help screen
    mutating: bool = False
    show: bool = True  # shown in the footer
    key_display: str | None = None
    per_key: bool = False  # one binding per key, the key passed to the action (`action_<name>(key)`)

    def binding(self) -> Binding:
        return Binding(
            self.keys,
            self.name,
            self.label,
            show=self.show,
            key_display=self.key_display,
            tooltip=self.help,
            id=f"tbdash.{self.name}",
        )

    def key_bindings(self) -> list[Binding]:
        if not self.per_key:
            return [self.binding()]
        return [
            Binding(key, f"{self.name}({key!r})", self.label, show=False, tooltip=self.help, id=f"tbdash.{self.name}.{key}")
            for key in self.keys.split(",")
        ]


# `sort_column`: the number keys, left to right over the columns (the window columns even when a narrow
# table shows only the chosen one: sorting by one chooses it).
SORT_KEYS: dict[str, str] = dict(zip("1234567890", ("user", "tokens", "fill", "refill", "grants", "denials", "w60", "w300", "w3600", "ratio")))
SORT_NAMES = {"user": "user", "tokens": "tokens", "fill": "fill", "refill": "refill", "grants": "grant/s", "denials": "deny/s",
              "w60": "deny 1m", "w300": "deny 5m", "w3600": "deny 1h", "ratio": "deny%"}
SORT_HELP = " ".join(f"{key} {SORT_NAMES[column]}" for key, column in SORT_KEYS.items())


HELP = Action("help", "question_mark,f1", "Help", "Help", "Keys, columns and states explained", key_display="?")

DASHBOARD: tuple[Action, ...] = (
    HELP,
    Action("toggle_pause", "p", "Pause", "Pause / resume polling", "Stop polling Redis (the screen freezes, PAUSED shows); again to resume"),
    Action("refresh_now", "r", "Refresh", "Refresh now", "Poll Redis now (also while paused, or to retry a lost connection at once)"),
    Action("faster", "plus,equals_sign", "Faster", "Refresh faster", "Shorten the refresh interval (+)", show=False, key_display="+"),
    Action("slower", "minus", "Slower", "Refresh slower", "Lengthen the refresh interval (-)", show=False, key_display="-"),
    Action("filter", "slash", "Filter", "Filter buckets", "Show only users matching a substring or a glob (* ? [..]); escape clears", key_display="/"),
    Action("sort_next", "s", "Sort", "Sort by the next column", "Cycle the sort column (a click on a column header sorts by it)", show=False),
    Action("sort_reverse", "S", "Reverse", "Reverse the sort", "Flip the sort direction", show=False),
    Action("sort_column", ",".join(SORT_KEYS), "Sort by", "Sort by a column (1-9, 0)",
           f"{SORT_HELP}; the same key again reverses", show=False, key_display="1-0", per_key=True),
    Action("top_throttled", "t", "Top", "Top throttled", "Only the buckets that denied in the chosen window, most denials first, with the deny ratio; t again leaves"),
    Action("next_window", "w", "Window", "Next window (1m, 5m, 1h)", "The window of the narrow deny column, the deny ratio and top throttled: 1m, 5m, 1h in turn"),
    Action("toggle_graph", "space", "Graph", "Graph this user", "Add / remove the user under the cursor to the graph (several at once, one colour each)", key_display="space"),
    Action("graph_mode", "m", "Mode", "Next graph mode", "The graph shows tokens, then % of ceiling (users of any size on one axis), then grants/s and denials/s"),
    Action("detail", "enter", "Detail", "This bucket in detail", "Every stored field and its meaning, where the settings come from, time until full, TTL, rates, its audit entries and graph; escape goes back", key_display="enter"),
    Action("clear_graph", "c", "Clear graph", "Clear the graph selection", "Graph only the user under the cursor again", show=False),
    Action("zoom_graph", "z", "Zoom", "Zoom the graph", "The graph fills the screen (status bar and keys stay); z or escape restores it", show=False),
    Action("load", "l", "Load", "Fire load at this bucket", "Open the load form for the user under the cursor", mutating=True),
    Action("edit", "e", "Edit", "Edit this bucket's settings", "max_tokens, burst, refill_count, refill_interval; confirm shows old → new", mutating=True),
    Action("reset", "x", "Reset", "Reset this bucket", "Refill it to max_tokens now (settings and counters stay); asks first", mutating=True, show=False),
    Action("unconfigure", "u", "Defaults", "Drop operator settings", "Return the bucket to the default settings; asks first", mutating=True, show=False),
    Action("delete", "d", "Delete", "Delete this bucket", "Forget the bucket and its operator settings; asks first", mutating=True, show=False),
    Action("audit", "a", "Audit", "Show the audit log", "Recent changes made through tbdash: when, who, what, old → new"),
    # Preview (shadow) settings are set from the edit form (ctrl+t); these end a preview.
    Action("promote", "P", "Promote", "Promote the preview settings", "Enforce the bucket's preview (shadow) settings: a live change; asks first, shows old → new", mutating=True, show=False),
    Action("discard_shadow", "D", "Discard", "Discard the preview settings", "Drop the bucket's preview (shadow) settings and their counters; asks first", mutating=True, show=False),
    Action("export_csv", "o", "CSV", "Export the table as CSV", "Every row the filter and view let through (not only those on screen), to a new file", show=False),
    Action("export_json", "O", "JSON", "Export the table as JSON", "Every row the filter and view let through (not only those on screen), to a new file", show=False),
    Action("screenshot", "i", "Screenshot", "Save an SVG screenshot", "What the screen shows now, to a new SVG file", show=False),
    Action("copy_user", "y", "Copy id", "Copy the user id", "The exact id of the row under the cursor to the clipboard (OSC 52; the terminal must allow it)", show=False),
)

# The detail screen (one bucket, enter on a row): its own keys, the same rules.
DETAIL: tuple[Action, ...] = (
    HELP,
    Action("close", "escape", "Back", "Back to the table", "Leave the detail screen", key_display="esc"),
    Action("graph_mode", "g,m", "Mode", "Next graph mode", "tokens → % of ceiling → grants/s and denials/s", key_display="g"),
    Action("edit", "e", "Edit", "Edit this bucket's settings", "The edit form, as on the table", mutating=True),
    Action("load", "l", "Load", "Fire load at this bucket", "The load form, as on the table", mutating=True),
    Action("reload_audit", "r", "Audit", "Read this bucket's audit entries again", "The audit stream is read again (it is also read when the bucket's settings change)", key_display="r"),
)

APP: tuple[Action, ...] = (
    HELP,
    Action("quit", "q", "Quit", "Quit", "Leave tbdash"),
    Action("change_theme", "T", "Theme", "Choose a theme", "Pick a theme; it is saved as [dashboard] theme in your config file"),
)

# Moving in the bucket table (bound on the table itself, over DataTable's own keys):
# vi / less / k9s keys beside the arrows, and Home/End that DataTable leaves horizontal.
TABLE: tuple[Action, ...] = (
    Action("cursor_down", "down,j", "Down", "Next row", "Move the cursor down one row", show=False, key_display="↓ j"),
    Action("cursor_up", "up,k", "Up", "Previous row", "Move the cursor up one row", show=False, key_display="↑ k"),
    Action("page_down", "pagedown", "Page down", "Next page", "Move the cursor one screen down", show=False, key_display="pgdn"),
    Action("page_up", "pageup", "Page up", "Previous page", "Move the cursor one screen up", show=False, key_display="pgup"),
    Action("first_row", "home,g", "Top", "First row", "Jump to the first row", show=False, key_display="home g"),
    Action("last_row", "end,G", "Bottom", "Last row", "Jump to the last row", show=False, key_display="end G"),
)

MUTATING: frozenset[str] = frozenset(a.name for a in (*DASHBOARD, *DETAIL, *APP) if a.mutating)


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One item of the key bar: a key (or a pair) and its label, for one or more actions."""

    key: str  # as shown
    label: str
    actions: tuple[str, ...]  # enabled when any of them is allowed; gone when none is (read-only)
    press: str  # the key a click on the item sends
    label_on: str | None = None  # the label while the toggle is on (Pause -> Resume)
    preview_only: bool = False  # shown only while the bucket under the cursor is in preview


# The key bar, most important first: it shows as many as fit, in this order, and all
# of them at 200 columns (issue 11 added more keys than 160 columns hold). Every action of
# DASHBOARD and APP is here (a test holds it), but those whose key is shown beside what it
# acts on (`SHOWN_ELSEWHERE`).
KEY_BAR: tuple[KeyEntry, ...] = (
    KeyEntry("?", "Help", ("help",), "question_mark"),
    KeyEntry("q", "Quit", ("quit",), "q"),
    KeyEntry("p", "Pause", ("toggle_pause",), "p", label_on="Resume"),
    KeyEntry("/", "Filter", ("filter",), "slash"),
    KeyEntry("space/c", "Graph", ("toggle_graph", "clear_graph"), "space"),  # c: clear the graph selection
    KeyEntry("l", "Load", ("load",), "l"),
    KeyEntry("e", "Edit", ("edit",), "e"),
    # P promotes, D discards (one short item, so it fits at 80 columns while it matters)
    KeyEntry("P/D", "Preview", ("promote", "discard_shadow"), "P", preview_only=True),
    KeyEntry("t/w", "Top", ("top_throttled", "next_window"), "t"),  # top throttled, its window
    KeyEntry("s/S/1-0", "Sort", ("sort_next", "sort_reverse", "sort_column"), "s"),
    KeyEntry("r", "Refresh", ("refresh_now",), "r"),
    KeyEntry("z", "Zoom", ("zoom_graph",), "z"),
    KeyEntry("m", "Mode", ("graph_mode",), "m"),  # the graph's mode
    KeyEntry("+/-", "Poll", ("faster", "slower"), "plus"),  # the refresh interval
    KeyEntry("a", "Audit", ("audit",), "a"),
    KeyEntry("x", "Reset", ("reset",), "x"),
    KeyEntry("u", "Defaults", ("unconfigure",), "u"),
    KeyEntry("d", "Delete", ("delete",), "d"),
    KeyEntry("y", "Copy", ("copy_user",), "y"),
    KeyEntry("o/O/i", "Export", ("export_csv", "export_json", "screenshot"), "o"),  # CSV, JSON, SVG image
    KeyEntry("T", "Theme", ("change_theme",), "T"),
)


# Actions whose key is shown where it acts instead of in the key bar.
SHOWN_ELSEWHERE: dict[str, str] = {"detail": "the bucket table's border: ⏎ detail"}


def bindings(actions: tuple[Action, ...]) -> list[BindingType]:
    return [binding for action in actions for binding in action.key_bindings()]


def first_key(action: Action) -> str:
    """How to show the action's key to a person."""
    if action.key_display:
        return action.key_display
    key = action.keys.split(",")[0]
    return {"question_mark": "?", "slash": "/", "space": "space"}.get(key, key)
