"""Token levels over time for the graphed users: the only module that touches plotext.

y is fixed from 0 to the largest ceiling among the users shown (the ceilings
are drawn as horizontal lines), x is seconds before the newest sample. Colours
match the dots in the table's user column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Static
from textual_plotext import PlotextPlot

from dashboard.tui import format as fmt
from dashboard.tui.colours import SERIES, series_style

CEILING_GREY = (140, 140, 140)


@dataclass(frozen=True, slots=True)
class Series:
    user: str
    ago: Sequence[float]  # seconds before the newest sample (≥ 0), oldest first
    tokens: Sequence[int]
    ceiling: int
    slot: int  # colour index


def nice_ticks(span: float) -> list[float]:
    """x ticks (seconds ago) at a round step, 4-6 of them."""
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if span / step <= 5:
            break
    ticks: list[float] = []
    value = 0.0
    while value <= span + 1e-9:
        ticks.append(value)
        value += step
    return ticks


def tick_label(seconds_ago: float) -> str:
    if seconds_ago == 0:
        return "now"
    if seconds_ago < 60 or seconds_ago % 60:
        return f"-{seconds_ago:g}s"
    if seconds_ago < 3600 or seconds_ago % 3600:
        return f"-{seconds_ago / 60:g}m"
    return f"-{seconds_ago / 3600:g}h"


class TokenGraph(Widget):
    """`show()` the series; the widget redraws itself."""

    ALLOW_MAXIMIZE = True

    DEFAULT_CSS = """
    TokenGraph {
        height: 1fr;
        border: round $primary 60%;
        border-title-align: left;
        border-subtitle-align: right;
        padding: 0 0;
    }
    TokenGraph > PlotextPlot {
        height: 1fr;
    }
    TokenGraph > #graph-empty {
        display: none;
        height: 1fr;
        content-align: center middle;
        color: $text-muted;
    }
    TokenGraph.-empty > #graph-empty {
        display: block;
    }
    TokenGraph.-empty > PlotextPlot {
        display: none;
    }
    """

    def __init__(self, *, marker: str = "braille", id: str | None = None) -> None:
        super().__init__(id=id)
        self.marker = marker
        self.series: list[Series] = []
        self.span = 60.0

    def compose(self) -> ComposeResult:
        yield PlotextPlot()
        yield Static("waiting for data…", id="graph-empty")

    def on_mount(self) -> None:
        self.border_title = "tokens"
        self.set_class(True, "-empty")

    def show(self, series: Sequence[Series], *, span: float, subtitle: Text | str | None = None, empty: str = "waiting for data…") -> None:
        self.series = list(series)
        self.span = max(span, 1.0)
        self.border_title = self._legend()
        self.border_subtitle = subtitle if subtitle is not None else ""
        has_data = any(len(s.tokens) for s in self.series)
        self.set_class(not has_data, "-empty")
        if not has_data:
            self.query_one("#graph-empty", Static).update(empty)
            return
        self._draw()

    def _legend(self) -> Text:
        text = Text("tokens ", style="bold")
        for s in self.series:
            text.append("● ", style=series_style(s.slot))
            text.append_text(fmt.safe_text(s.user, width=24))
            text.append("  ")
        text.rstrip()
        return text

    def _draw(self) -> None:
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        top = max((s.ceiling for s in self.series), default=1)
        ceilings = sorted({s.ceiling for s in self.series})
        for s in self.series:
            if not s.tokens:
                continue
            xs = [-a for a in s.ago]
            colour = SERIES[s.slot % len(SERIES)]
            if len(xs) == 1:
                plt.scatter(xs, list(s.tokens), color=colour, marker=self.marker)
            else:
                plt.plot(xs, list(s.tokens), color=colour, marker=self.marker)
        for ceiling in ceilings:
            owners = [s for s in self.series if s.ceiling == ceiling]
            colour = CEILING_GREY if len(ceilings) == 1 else SERIES[owners[0].slot % len(SERIES)]
            plt.hline(ceiling, color=colour)
        plt.ylim(0, top)
        plt.xlim(-self.span, 0)
        ticks = nice_ticks(self.span)
        plt.xticks([-t for t in ticks], [tick_label(t) for t in ticks])
        height = plot.size.height or 10
        count = 5 if height >= 12 else 3 if height >= 6 else 2
        yt = sorted({round(top * i / (count - 1)) for i in range(count)})
        plt.yticks(yt, [str(v) for v in yt])
        plot.refresh()
