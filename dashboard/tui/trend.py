"""A text sparkline of token levels on a FIXED 0 … ceiling scale.

Textual's own `Sparkline` rescales to the min … max of its data, so a bucket
that sits full looks like one that sits empty. Here the lowest block means
"nearly empty" and the full block means "at the ceiling", always.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from rich.text import Text

from dashboard.tui.format import fill_style

BLOCKS = "▁▂▃▄▅▆▇█"


def level(value: int, ceiling: int) -> int:
    """The block index (0 … 7) of ``value`` on the 0 … ceiling scale."""
    if ceiling <= 0 or value <= 0:
        return 0
    if value >= ceiling:
        return len(BLOCKS) - 1
    # 1 … ceiling-1 map onto 0 … 6 so that only a full bucket shows a full block
    return min(len(BLOCKS) - 2, int(value / ceiling * (len(BLOCKS) - 1)))


def trend(values: Sequence[int] | Iterable[int], ceiling: int, width: int, *, colours: tuple[str, str, str] = ("red", "yellow", "green")) -> Text:
    """The last ``width`` values as blocks, right-aligned (newest on the right), coloured by fill."""
    recent = list(values)[-width:] if width > 0 else []
    text = Text(" " * (width - len(recent)), no_wrap=True, end="")
    low, mid, high = colours
    run: list[str] = []
    run_style = ""
    for value in recent:  # one span per run of one colour: Rich's cost follows the spans
        style = fill_style(value / ceiling if ceiling > 0 else 0.0, low=low, mid=mid, high=high)
        if style != run_style and run:
            text.append("".join(run), style=run_style)
            run = []
        run_style = style
        run.append(BLOCKS[level(value, ceiling)])
    if run:
        text.append("".join(run), style=run_style)
    return text
