"""What the graph is given: one `Series` per graphed user, from the state's history.

The main screen and the detail screen graph users the same way; the rule lives
here once. Pure: state and rows in, series out (the widget only draws them).
"""

from __future__ import annotations

from typing import Sequence

from dashboard.core.protocol import BucketRow
from dashboard.tui.state import TuiState
from dashboard.tui.widgets.token_graph import Series


def series_of(state: TuiState, user: str, row: BucketRow | None) -> Series:
    """``user``'s history as a graph series; ``row`` is its newest row (None when it is gone).

    The ceiling is the row's (settings change); a preview is drawn only while
    the row still has one (a promoted or discarded preview leaves the plot).
    """
    history = state.history.get(user)
    newest = state.history.newest
    ago = [newest - t for t in history.times] if newest is not None else []
    ceiling = row.ceiling if row is not None else history.ceiling
    preview = row.shadow if row is not None else None
    shadow, shadow_ceiling = (history.shadow, preview.config.ceiling) if preview is not None else ([], None)
    return Series(user, ago, history.tokens, ceiling, state.selected.get(user, 0),
                  history.ceilings, history.grants_per_s, history.denials_per_s, shadow, shadow_ceiling)


def span_of(state: TuiState, series: Sequence[Series]) -> float:
    """Seconds the x axis covers: the oldest sample shown, at least ten polls and ten seconds."""
    oldest = max((s.ago[0] for s in series if s.ago), default=0.0)
    return max(oldest, 10 * state.poll_interval, 10.0)
