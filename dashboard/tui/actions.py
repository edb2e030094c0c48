"""Every dashboard action in one table: its keys, labels and whether it writes.

The bindings, the command palette and the help screen are all generated from
this table, so they cannot disagree, and ``--read-only`` can drop every
mutating action in one place (``mutating=True``).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


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
    Action("toggle_graph", "space", "Graph", "Graph this user", "Add / remove the user under the cursor to the graph (several at once, one colour each)", key_display="space"),
    Action("clear_graph", "c", "Clear graph", "Clear the graph selection", "Graph only the user under the cursor again", show=False),
    Action("zoom_graph", "g", "Zoom", "Zoom the graph", "The graph fills the screen; g or escape restores it", show=False),
    Action("load", "l", "Load", "Fire load at this bucket", "Open the load form for the user under the cursor", mutating=True),
    Action("edit", "e", "Edit", "Edit this bucket's settings", "max_tokens, burst, refill_count, refill_interval; confirm shows old → new", mutating=True),
    Action("reset", "x", "Reset", "Reset this bucket", "Refill it to max_tokens now (settings and counters stay); asks first", mutating=True, show=False),
    Action("unconfigure", "u", "Defaults", "Drop operator settings", "Return the bucket to the default settings; asks first", mutating=True, show=False),
    Action("delete", "d", "Delete", "Delete this bucket", "Forget the bucket and its operator settings; asks first", mutating=True, show=False),
    Action("audit", "a", "Audit", "Show the audit log", "Recent changes made through tbdash: when, who, what, old → new"),
)

APP: tuple[Action, ...] = (
    HELP,
    Action("quit", "q", "Quit", "Quit", "Leave tbdash"),
)

MUTATING: frozenset[str] = frozenset(a.name for a in (*DASHBOARD, *APP) if a.mutating)


def bindings(actions: tuple[Action, ...]) -> list[Binding]:
    return [action.binding() for action in actions]


def first_key(action: Action) -> str:
    """How to show the action's key to a person."""
    if action.key_display:
        return action.key_display
    key = action.keys.split(",")[0]
    return {"question_mark": "?", "slash": "/", "space": "space"}.get(key, key)
