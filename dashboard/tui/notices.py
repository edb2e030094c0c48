"""The texts of the dashboard's notifications that need more than a line of code (no widgets).

Every user id and error in them is foreign text: shown through `format.safe_str`,
errors redacted first.
"""

from __future__ import annotations

from typing import Iterable

from dashboard.core.protocol import LoadProgress, Snapshot
from dashboard.tui import format as fmt
from dashboard.tui.forms import changes
from dashboard.tui.state import TuiState

DONE = {
    "configure": "new settings applied",
    "unconfigure": "operator settings dropped, defaults apply",
    "reset": "refilled to max_tokens",
    "delete": "bucket deleted",
    "shadow": "preview settings set: counted on live traffic, not enforced (P promotes, D discards)",
    "promote": "preview settings promoted: they are the enforced operator settings now",
    "discard_shadow": "preview settings discarded",
}
# Why a write changed nothing (the backend wrote and audited nothing).
NO_CHANGE = {
    "shadow": "these settings are already previewed",
    "promote": "no preview to promote",
    "discard_shadow": "no preview to discard",
}


def who(user: str) -> str:
    return fmt.safe_str(user, width=40)


def outside_changes(state: TuiState, previous: Snapshot, snapshot: Snapshot, watched: Iterable[str]) -> str | None:
    """The buckets in view whose settings changed between two polls without this dashboard
    (another operator, a deploy); None when there are none."""
    watched = set(watched)
    if not watched:
        return None
    before = {row.user: row for row in previous.buckets}
    notes: list[str] = []
    for row in snapshot.buckets:
        if row.user not in watched:
            continue
        old = before.get(row.user)
        if old is None or (old.config == row.config and old.overridden == row.overridden):
            continue
        if state.own_write(row.user):
            continue  # our own change, already reported
        parts = [f"{field} {was} → {now}" for field, was, now in changes(old.config, row.config)]
        if old.overridden != row.overridden:
            parts.append("operator settings " + ("set" if row.overridden else "dropped"))
        notes.append(f"{fmt.safe_str(row.user, width=40)}: {', '.join(parts)}")
    if not notes:
        return None
    if len(notes) > 3:
        notes = notes[:2] + [f"… and {len(notes) - 2} more buckets"]
    return "\n".join(notes)


def load_ended(progress: LoadProgress) -> str:
    p = progress
    verb = "stopped" if p.cancelled else "done"
    return f"Load on {who(p.spec.user)} {verb}: {p.sent} sent, {p.granted} granted, {p.denied} denied, {p.errors} errors."
