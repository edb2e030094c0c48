"""Token levels over time for the graphed users, drawn in braille dots (`widgets/braille.py`).

Three modes (`dashboard.tui.graph_modes.GraphMode`): in *tokens*, y is fixed
from 0 to the largest ceiling among the users shown (the ceilings are drawn as
dotted rules); in *% of ceiling*, each level is divided by its own ceiling, so
users of different sizes share one 0-100 % axis; in *requests/s*, each user's
grants/s (solid) and denials/s (dashed) from the polls. x is seconds before
the newest sample. Colours match the dots in the table's user column. In
tokens mode a bucket in preview (shadow settings) also has its shadow's level
drawn, dashed in a paler tint of the user's colour, with the shadow's ceiling
as a rule of that tint; the y axis then runs to the larger of the two
ceilings. When the data is stale (Redis
unreachable) the x labels count from now, so the right edge says how old the
newest sample is instead of calling it "now".

The chart is drawn once per `show()` into a Rich `Text` (a few runs of one
colour per line) and Textual keeps it until the next `show()` or a resize.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from dashboard.tui import format as fmt
from dashboard.tui.colours import SERIES, series_style, shadow_colour, shadow_style
from dashboard.tui.graph_modes import GraphMode, percent_of_ceiling, rate_top, runs
from dashboard.tui.preview import MARK
from dashboard.tui.widgets.braille import Canvas, Colour

CEILING_GREY: Colour = (140, 140, 140)


@dataclass(frozen=True, slots=True)
class Series:
    user: str
    ago: Sequence[float]  # seconds before the newest sample (≥ 0), oldest first
    tokens: Sequence[int]
    ceiling: int
    slot: int  # colour index
    ceilings: Sequence[int] = ()  # the ceiling at each sample (% of ceiling mode)
    grants: Sequence[float | None] = ()  # grants/s at each sample (None: first sight)
    denials: Sequence[float | None] = ()
    shadow: Sequence[int | None] = ()  # the preview's level beside each sample (None: no shadow then)
    shadow_ceiling: int | None = None  # the preview's ceiling while the bucket is in preview

    @property
    def top(self) -> int:
        """The highest value this series needs on the y axis."""
        levels = [v for v in self.shadow if v is not None]
        return max(self.ceiling, self.shadow_ceiling or 0, max(levels, default=0))

    def shadow_runs(self) -> list[tuple[list[float], list[float]]]:
        """The shadow's level as runs of consecutive samples (a gap where the bucket had no shadow)."""
        return runs([-ago for ago in self.ago], self.shadow)


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


def y_ticks(top: int, height: int) -> list[int]:
    count = 5 if height >= 12 else 3 if height >= 6 else 2
    return sorted({round(top * i / (count - 1)) for i in range(count)})


def chart(series: Sequence[Series], span: float, width: int, height: int, *, age: float = 0.0, axis: str = "",
          mode: GraphMode = GraphMode.TOKENS) -> Text:
    """The whole chart for a ``width`` x ``height`` area: y labels, plot, x axis and labels."""
    if mode is GraphMode.PERCENT:
        return _mode_chart(series, span, width, height, age=age, axis=axis, top=100.0, unit="%", draw=_draw_percent)
    if mode is GraphMode.RATES:
        top = rate_top([v for s in series for v in (*s.grants, *s.denials)])
        return _mode_chart(series, span, width, height, age=age, axis=axis, top=top, unit="", draw=_draw_rates)
    top = max((s.top for s in series), default=1) or 1
    yt = y_ticks(top, height)
    gutter = max(len(str(v)) for v in yt) + 1  # labels and the axis line
    plot_w, plot_h = max(1, width - gutter), max(1, height - 2)
    canvas = Canvas(plot_w, plot_h, x_range=(-span, 0.0), y_range=(0.0, float(top)))
    for s in series:  # the previews first: where a line or rule meets the enforced one, the enforced shows
        if s.shadow_ceiling is not None:
            canvas.hline(s.shadow_ceiling, shadow_colour(s.slot))
        for xs, ys in s.shadow_runs():
            canvas.plot(xs, ys, shadow_colour(s.slot), dashed=True)
    ceilings = sorted({s.ceiling for s in series})
    for ceiling in ceilings:
        owner = next(s for s in series if s.ceiling == ceiling)
        canvas.hline(ceiling, CEILING_GREY if len(ceilings) == 1 else SERIES[owner.slot % len(SERIES)])
    for s in series:
        if s.tokens:
            canvas.plot([-a for a in s.ago], s.tokens, SERIES[s.slot % len(SERIES)])
    labels = {plot_h - 1 - round(v / top * (plot_h - 1)): str(v) for v in yt}
    return _framed(canvas, labels, gutter, span, age=age, axis=axis)


def _draw_percent(canvas: Canvas, series: Sequence[Series]) -> None:
    canvas.hline(100.0, CEILING_GREY)  # every user's ceiling
    for s in series:
        if s.tokens:
            canvas.plot([-a for a in s.ago], percent_of_ceiling(s.tokens, s.ceilings, s.ceiling), SERIES[s.slot % len(SERIES)])


def _draw_rates(canvas: Canvas, series: Sequence[Series]) -> None:
    for s in series:
        colour = SERIES[s.slot % len(SERIES)]
        xs = [-a for a in s.ago]
        for run_xs, run_ys in runs(xs, s.denials):
            canvas.plot(run_xs, run_ys, colour, dashed=True)
        for run_xs, run_ys in runs(xs, s.grants):  # grants last: where the two meet, the solid line shows
            canvas.plot(run_xs, run_ys, colour)


def _mode_chart(series: Sequence[Series], span: float, width: int, height: int, *, age: float, axis: str, top: float, unit: str,
                draw: Callable[[Canvas, Sequence[Series]], None]) -> Text:
    """A chart on a 0 … ``top`` axis whose labels carry ``unit``; ``draw`` puts the lines on the canvas."""
    count = 5 if height >= 12 else 3 if height >= 6 else 2
    values = [top * i / (count - 1) for i in range(count)]
    texts = [fmt.number(v) + unit for v in values]
    gutter = max(len(t) for t in texts) + 1
    plot_w, plot_h = max(1, width - gutter), max(1, height - 2)
    canvas = Canvas(plot_w, plot_h, x_range=(-span, 0.0), y_range=(0.0, top))
    draw(canvas, series)
    labels = {plot_h - 1 - round(v / top * (plot_h - 1)): t for v, t in zip(values, texts)}
    return _framed(canvas, labels, gutter, span, age=age, axis=axis)


def _framed(canvas: Canvas, labels: dict[int, str], gutter: int, span: float, *, age: float, axis: str) -> Text:
    """The canvas with its y labels (by row), the x axis and its labels."""
    plot_w = canvas.width
    text = Text(no_wrap=True, overflow="crop", end="")
    styles: dict[Colour | None, Style | str] = {None: ""}
    for row, runs in enumerate(canvas.rows()):
        label = labels.get(row)
        text.append((label or "").rjust(gutter - 1) + ("┤" if label else "│"), style=axis)
        for chunk, colour in runs:
            style = styles.get(colour)
            if style is None and colour is not None:  # (None, no colour, is in `styles` from the start)
                style = styles[colour] = Style(color=f"rgb({colour[0]},{colour[1]},{colour[2]})")
            text.append(chunk, style=style)
        text.append("\n")

    ticks = nice_ticks(span)
    columns = [round((span - t) / span * (plot_w - 1)) for t in ticks]
    rule = ["─"] * plot_w
    for column in columns:
        rule[column] = "┬"
    text.append(" " * (gutter - 1) + "└" + "".join(rule) + "\n", style=axis)
    line = [" "] * (gutter + plot_w)
    placed_until = -1
    for t, column in sorted(zip(ticks, columns), key=lambda tc: tc[1]):
        label = f"-{fmt.ago(t + age)}" if age else tick_label(t)  # stale: counted from now
        start = min(max(gutter + column - len(label) // 2, placed_until + 1), gutter + plot_w - len(label))
        if start <= placed_until or start < 0:
            continue  # labels never overlap: one is dropped instead
        line[start : start + len(label)] = label
        placed_until = start + len(label)
    text.append("".join(line), style=axis)
    return text


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
    TokenGraph.-empty {
        content-align: center middle;
        color: $text-muted;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.series: list[Series] = []
        self.span = 60.0
        self.age = 0.0  # seconds the newest sample is older than now (stale data)
        self.empty = "waiting for data…"
        self.mode = GraphMode.TOKENS

    def on_mount(self) -> None:
        self.border_title = "tokens"
        self.set_class(True, "-empty")

    def show(
        self,
        series: Sequence[Series],
        *,
        span: float,
        subtitle: Text | str | None = None,
        empty: str = "waiting for data…",
        age: float = 0.0,
        mode: GraphMode = GraphMode.TOKENS,
    ) -> None:
        self.mode = mode
        self.series = list(series)
        self.span = max(span, 1.0)
        self.age = max(0.0, age)
        self.empty = empty
        self.border_title = self._legend()
        self.border_subtitle = subtitle if subtitle is not None else ""
        self.set_class(not any(len(s.tokens) for s in self.series), "-empty")
        self.refresh()

    def _legend(self) -> Text:
        text = Text(self.mode.title + " ", style="bold")
        if self.mode is GraphMode.RATES:
            text.append("━ grant ┅ deny  ", style="dim")
        for s in self.series:
            text.append("● ", style=series_style(s.slot))
            text.append_text(fmt.safe_text(s.user, width=24))
            if s.shadow_ceiling is not None or any(v is not None for v in s.shadow):
                text.append(f" ┄{MARK} preview", style=shadow_style(s.slot))
            text.append("  ")
        text.rstrip()
        return text

    def render(self) -> Text:
        if self.has_class("-empty"):
            return Text(self.empty, end="")
        width, height = self.content_size
        return chart(self.series, self.span, width, height, age=round(self.age), axis="dim", mode=self.mode)
