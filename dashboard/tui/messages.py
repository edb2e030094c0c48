"""Typed messages upward: the workers' results, and the operator's requests from the screens.

The app is the only handler; it changes the state (dashboard/tui/state.py).

High-rate messages (`SnapshotReady`, `LoadProgressed`) replace an unprocessed
predecessor of the same kind, so a slow screen only ever renders the newest.
"""

from __future__ import annotations

from textual.message import Message

from dashboard.core.export import Extras
from dashboard.core.protocol import BucketRow, LoadProgress, LoadSpec, Snapshot
from limiter.config import BucketConfig


class SnapshotReady(Message):
    """A poll finished."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotReady)


class PollFailed(Message):
    """A poll raised. ``disconnected`` is True when Redis could not be reached (vs. any other failure)."""

    def __init__(self, error: str, *, disconnected: bool, retry_in: float, attempt: int) -> None:
        super().__init__()
        self.error = error
        self.disconnected = disconnected
        self.retry_in = retry_in
        self.attempt = attempt


class LoadProgressed(Message):
    """Counters of the running load (the last one has ``done=True``)."""

    def __init__(self, progress: LoadProgress) -> None:
        super().__init__()
        self.progress = progress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LoadProgressed) and not message.progress.done


class LoadFailed(Message):
    """The load stopped on an error before its final report."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


# ---------------------------------------------------------------------------- the operator's requests
# Posted by the screens (they bubble up to the app, which applies them to the state).


class PauseToggled(Message):
    """Pause polling, or resume it."""


class RefreshRequested(Message):
    """Poll now (also while paused)."""


class IntervalStepped(Message):
    """One step faster (-1) or slower (+1)."""

    def __init__(self, direction: int) -> None:
        super().__init__()
        self.direction = direction


class GraphToggled(Message):
    """Add the user to the graph, or take them off it."""

    def __init__(self, user: str) -> None:
        super().__init__()
        self.user = user


class GraphCleared(Message):
    """No graphed users (the graph follows the cursor again)."""


class GraphModeCycled(Message):
    """The graphs show the next mode: tokens -> % of ceiling -> grants/denials per second."""


class DetailOpened(Message):
    """The detail screen shows this user (its history must be kept), or none (``user=None``: closed)."""

    def __init__(self, user: str | None) -> None:
        super().__init__()
        self.user = user


class ChangeRequested(Message):
    """One write to one bucket (confirmed by the operator): a verb of `state.WRITES`
    (configure | unconfigure | reset | delete | shadow | promote | discard_shadow)."""

    def __init__(self, verb: str, user: str, *, old: BucketConfig | None = None, new: BucketConfig | None = None) -> None:
        super().__init__()
        self.verb = verb
        self.user = user
        self.old = old
        self.new = new


class LoadRequested(Message):
    """Fire this load."""

    def __init__(self, spec: LoadSpec) -> None:
        super().__init__()
        self.spec = spec


class LoadStopRequested(Message):
    """Stop the running load (gracefully first, at once when asked again)."""


class ExportRequested(Message):
    """Write the table's rows (all those the view lets through, in its order) to a new CSV or JSON file."""

    def __init__(self, kind: str, rows: list[BucketRow], about: dict[str, object], extras: Extras | None = None) -> None:
        super().__init__()
        self.kind = kind  # "csv" | "json"
        self.rows = rows
        self.about = about  # what the view was (filter, sort, window): the JSON document's other fields
        self.extras = extras  # the rows' window counts and alerts, taken when asked (the file is written in a thread)


class ScreenshotRequested(Message):
    """Save what the screen shows as an SVG file."""


class CopyRequested(Message):
    """Put this exact text (a user id) on the clipboard."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
