"""Typed messages the workers post to the app.

High-rate messages (`SnapshotReady`, `LoadProgressed`) replace an unprocessed
predecessor of the same kind, so a slow screen only ever renders the newest.
"""

from __future__ import annotations

from textual.message import Message

from dashboard.core.protocol import LoadProgress, Snapshot


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
