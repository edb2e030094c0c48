"""What the graph shows: token levels, levels as % of each user's ceiling, or grants/s and denials/s.

The mode is part of the TUI's state (`TuiState.graph_mode`, cycled by a key);
the values of each mode are plain functions of a user's history here, so the
widget only draws them and tests check them against the history.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Sequence


class GraphMode(Enum):
    TOKENS = "tokens"
    PERCENT = "percent"
    RATES = "rates"

    @property
    def title(self) -> str:
        """The graph's title: what is drawn, in which unit."""
        return {"tokens": "tokens", "percent": "% of ceiling", "rates": "requests/s"}[self.value]

    def next(self) -> GraphMode:
        order = list(GraphMode)
        return order[(order.index(self) + 1) % len(order)]


def percent_of_ceiling(tokens: Sequence[int], ceilings: Sequence[int], ceiling: int) -> list[float]:
    """Each level as % of the ceiling it had then (``ceiling`` where a sample has none)."""
    out: list[float] = []
    for i, level in enumerate(tokens):
        top = ceilings[i] if i < len(ceilings) else ceiling
        out.append(100.0 * level / top if top > 0 else 0.0)
    return out


def runs(xs: Sequence[float], ys: Sequence[float | None]) -> list[tuple[list[float], list[float]]]:
    """The points with a value, as runs of consecutive samples (a gap where a value is None)."""
    out: list[tuple[list[float], list[float]]] = []
    current: tuple[list[float], list[float]] | None = None
    for x, y in zip(xs, ys):
        if y is None:
            current = None
            continue
        if current is None:
            current = ([], [])
            out.append(current)
        current[0].append(x)
        current[1].append(y)
    return out


def rate_top(values: Sequence[float | None]) -> float:
    """The y axis' top for rates: the largest value rounded up to 1, 2 or 5 x 10^k (at least 1/s)."""
    peak = max((v for v in values if v is not None), default=0.0)
    if peak <= 1.0:
        return 1.0
    power = 10 ** math.floor(math.log10(peak))
    for step in (1, 2, 5, 10):
        if peak <= step * power:
            return float(step * power)
    return float(10 * power)
