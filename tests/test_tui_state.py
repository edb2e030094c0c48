"""Issue 13 §1: the TUI's one state object; read-only decided in one place (`TuiState.permits`)."""

from __future__ import annotations

from dashboard.core.protocol import BucketRow, ConnectionInfo, Snapshot
from dashboard.tui import actions
from dashboard.tui.history import HistoryBook
from dashboard.tui.state import WRITES, TuiState
from limiter.config import BucketConfig


def _state(read_only: bool) -> TuiState:
    return TuiState(read_only=read_only, poll_interval=1.0, paused=False, history=HistoryBook(10), info=ConnectionInfo("standalone", "h:1"))


def _snapshot(*users: str) -> Snapshot:
    rows = tuple(BucketRow(u, 1, BucketConfig(max_tokens=5), 0, 0, False, None) for u in users)
    return Snapshot(taken_at=1.0, redis_time_us=1_000_000, buckets=rows, invalid=(), poll_seconds=0.0, latency_ms=0.0)


def test_read_only_refuses_every_writing_action_and_write() -> None:
    writing = {a.name for a in (*actions.DASHBOARD, *actions.APP) if a.mutating} | WRITES
    everything = {a.name for a in (*actions.DASHBOARD, *actions.APP)} | WRITES
    assert writing and all(_state(False).permits(name) for name in everything)
    assert {name for name in everything if not _state(True).permits(name)} == writing


def test_a_poll_keeps_the_previous_snapshot_and_drops_graphed_users_that_are_gone() -> None:
    state = _state(False)
    first, second = _snapshot("a", "b"), _snapshot("b")
    state.take(first)
    for user in ("a", "b"):
        state.toggle_selected(user)
    assert state.selected == {"a": 0, "b": 1}
    state.link = "failing"
    state.take(second)
    assert state.previous is first and state.snapshot is second and state.link == "live"
    assert state.selected == {"b": 1}
    state.toggle_selected("c")
    assert state.selected == {"b": 1, "c": 0}  # the free colour slot
