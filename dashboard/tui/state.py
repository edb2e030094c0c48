"""`TuiState`: everything the dashboard shows, in one object the app owns.

The app (the controller: dashboard/tui/app.py) is the only writer: it applies
poll results, load progress and the operator's requests (dashboard/tui/messages.py)
here, then tells the open screens what changed (`Change`). Screens and widgets
read it and render; they never change it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Flag, auto
from typing import Callable, Protocol, runtime_checkable

from dashboard.core.emptiness import EmptySince
from dashboard.core.protocol import ConnectionInfo, LoadProgress, LoadSpec, Snapshot
from dashboard.core.thresholds import Firing, Thresholds, firing
from dashboard.core.windows import WindowStore
from dashboard.tui import actions
from dashboard.tui.graph_modes import GraphMode
from dashboard.tui.history import HistoryBook

# The backend's writes (`ChangeRequested.verb`): shadow, promote and discard_shadow are the preview's.
WRITES = frozenset({"configure", "unconfigure", "reset", "delete", "shadow", "promote", "discard_shadow"})
OWN_WRITE_MEMORY = 10.0  # seconds a change made here is ours (not "changed outside this dashboard")


@dataclass
class LoadRun:
    """The load fired from the dashboard (one at a time)."""

    spec: LoadSpec
    progress: LoadProgress | None = None
    error: str | None = None
    running: bool = True
    stopping: bool = False

    @property
    def fraction(self) -> float:
        """How far the load is: requests sent of the target, or time elapsed of the duration."""
        p = self.progress
        if p is None:
            return 0.0
        if p.target:
            return min(1.0, p.sent / p.target)
        return min(1.0, p.elapsed / self.spec.duration) if self.spec.duration else 1.0


def load_fraction(run: LoadRun) -> float:
    return run.fraction


class Change(Flag):
    """What changed in the state since the screens last heard (several at once)."""

    DATA = auto()  # a new snapshot (the link is live again)
    STALE = auto()  # the first failed poll: the data shown is stale from now on
    PROBLEM = auto()  # the link's error, retry time or pause changed
    STATUS = auto()  # anything the status bar shows
    SELECTION = auto()  # the graphed users (and the graph mode, and the bucket in detail)
    LOAD = auto()  # the load run
    CLOCK = auto()  # a second passed while the data is stale


@runtime_checkable
class StateView(Protocol):
    """A screen that renders the state: the app calls this after every change."""

    def state_changed(self, change: Change) -> None: ...


@dataclass
class TuiState:
    read_only: bool
    poll_interval: float
    paused: bool
    history: HistoryBook
    info: ConnectionInfo
    clock: Callable[[], float] = time.time  # wall clock (injected by the snapshot tests)
    snapshot: Snapshot | None = None
    previous: Snapshot | None = None  # the snapshot before `snapshot`
    received_at: float | None = None  # `clock()` when `snapshot` arrived: ages are counted on one clock
    link: str = "connecting"  # connecting | live | disconnected | failing
    error: str | None = None  # the last poll's failure, redacted
    failures: int = 0  # failed polls in a row
    retry_at: float | None = None  # monotonic time of the next retry
    polls: int = 0  # completed polls (good or bad), for tests and the curious
    selected: dict[str, int] = field(default_factory=dict)  # graphed users -> colour slot
    load_run: LoadRun | None = None
    own_writes: dict[str, float] = field(default_factory=dict)  # user -> monotonic time this dashboard changed it
    graph_mode: GraphMode = GraphMode.TOKENS  # what the graphs show (one mode for every graph)
    detail_user: str | None = None  # the bucket the detail screen shows (its history is kept)
    # Grants and denials over 1m / 5m / 1h, how long each bucket has been empty, and the thresholds they
    # are judged by: fed from every snapshot here (`remember`), read by the table and the status bar.
    windows: WindowStore = field(default_factory=WindowStore)
    empty: EmptySince = field(default_factory=EmptySince)
    thresholds: Thresholds = field(default_factory=Thresholds)
    alerts: dict[str, Firing] = field(default_factory=dict)  # user -> the thresholds it crosses, as of the last poll

    # ------------------------------------------------------------------ questions

    def permits(self, action: str) -> bool:
        """The one read-only rule: in read-only mode no action of the table that writes, and no write."""
        return not (self.read_only and (action in actions.MUTATING or action in WRITES))

    @property
    def down(self) -> bool:
        return self.link in ("disconnected", "failing")

    def stale_for(self) -> float | None:
        """Seconds since the data shown was read, while it is stale (None while live)."""
        if self.snapshot is None or self.received_at is None or self.link == "live":
            return None
        return max(0.0, self.clock() - self.received_at)

    def retry_in(self) -> float | None:
        return max(0.0, self.retry_at - time.monotonic()) if self.retry_at is not None else None

    def own_write(self, user: str) -> bool:
        """Did this dashboard change ``user`` a moment ago?"""
        return time.monotonic() - self.own_writes.get(user, -1e9) < OWN_WRITE_MEMORY

    @property
    def load_running(self) -> bool:
        return self.load_run is not None and self.load_run.running

    # ------------------------------------------------------------------ changes (the app's)

    def take(self, snapshot: Snapshot) -> None:
        """A good poll: the new data, the link live, graphed users that are gone dropped."""
        self.previous, self.snapshot = self.snapshot, snapshot
        self.received_at = self.clock()
        self.remember(snapshot)
        self.link, self.error, self.failures = "live", None, 0
        if self.selected:
            present = {b.user for b in snapshot.buckets}
            for user in [u for u in self.selected if u not in present]:
                del self.selected[user]

    def remember(self, snapshot: Snapshot) -> None:
        """Feed one poll to the history, the windows and the empty runs, and judge the thresholds.

        Cost per poll: the window store's (one comparison per bucket whose counters did not move),
        then the buckets that denied or are empty, not all of them."""
        self.history.record(snapshot)
        self.windows.feed(snapshot)
        self.empty.feed(snapshot)
        self.alerts = {f.user: f for f in firing(self.thresholds, self.windows, self.empty)} if self.thresholds.any else {}

    def toggle_selected(self, user: str) -> None:
        if user in self.selected:
            del self.selected[user]
        else:
            used = set(self.selected.values())
            self.selected[user] = next(i for i in range(len(self.selected) + 1) if i not in used)

    def note_write(self, user: str) -> None:
        now = time.monotonic()
        self.own_writes = {u: t for u, t in self.own_writes.items() if now - t < OWN_WRITE_MEMORY}  # only recent ones matter
        self.own_writes[user] = now
