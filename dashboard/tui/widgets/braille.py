"""A line chart in braille dots, as rows of (text, colour) runs: no widgets, no plotting library.

Each character cell holds 2 x 4 dots, so a chart of W x H cells has 2W x 4H
points. Drawing is a few integer operations per point and per cell, so a
frame costs well under a millisecond (plotext needed ~10 ms a frame for the
same chart, on every poll).
"""

from __future__ import annotations

from typing import Sequence

Colour = tuple[int, int, int]
Run = tuple[str, Colour | None]  # text and its colour (None: the axis colour)

# bit of the dot at (column dx, row dy) inside one braille cell (Unicode's dot numbering)
_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))


class Canvas:
    """``width`` x ``height`` cells of dots; `plot` lines in value space, then `rows`."""

    def __init__(self, width: int, height: int, *, x_range: tuple[float, float], y_range: tuple[float, float]) -> None:
        self.width, self.height = max(1, width), max(1, height)
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range
        self._dots = [0] * (self.width * self.height)
        self._colour: list[Colour | None] = [None] * (self.width * self.height)

    def _px(self, x: float) -> int:
        span = self.x1 - self.x0 or 1.0
        return round((x - self.x0) / span * (2 * self.width - 1))

    def _py(self, y: float) -> int:
        span = self.y1 - self.y0 or 1.0
        return round((y - self.y0) / span * (4 * self.height - 1))

    def dot(self, px: int, py: int, colour: Colour) -> None:
        """A dot at pixel (px, py), py counted from the bottom; outside the canvas it is dropped."""
        if not (0 <= px < 2 * self.width and 0 <= py < 4 * self.height):
            return
        row = self.height - 1 - py // 4
        cell = row * self.width + px // 2
        self._dots[cell] |= _BITS[3 - py % 4][px % 2]
        self._colour[cell] = colour

    def hline(self, y: float, colour: Colour) -> None:
        py = self._py(y)
        for px in range(0, 2 * self.width, 2):  # every other dot: a dotted rule, lighter than the data
            self.dot(px, py, colour)

    def plot(self, xs: Sequence[float], ys: Sequence[float], colour: Colour, *, dashed: bool = False) -> None:
        """Points joined by straight segments (one point alone is a dot); ``dashed``: 3 dots on, 2 off."""
        points = [(self._px(x), self._py(y)) for x, y in zip(xs, ys)]
        if len(points) == 1:
            self.dot(*points[0], colour)
            return
        step = 0  # the dash pattern runs on across segments
        for (ax, ay), (bx, by) in zip(points, points[1:]):
            step = self._segment(ax, ay, bx, by, colour, step if dashed else None)

    def _segment(self, ax: int, ay: int, bx: int, by: int, colour: Colour, dash: int | None = None) -> int:
        steps = max(abs(bx - ax), abs(by - ay), 1)
        for i in range(steps + 1):
            if dash is not None:
                dash += 1
                if dash % 5 >= 3:
                    continue
            self.dot(ax + (bx - ax) * i // steps, ay + round((by - ay) * i / steps), colour)
        return dash or 0

    def rows(self) -> list[list[Run]]:
        """Each row of cells as runs of equal colour (blank cells are spaces)."""
        out: list[list[Run]] = []
        dots, colours, width = self._dots, self._colour, self.width
        for row in range(self.height):
            runs: list[Run] = []
            text: list[str] = []
            current: Colour | None = None
            for cell in range(row * width, (row + 1) * width):
                mask = dots[cell]
                colour = colours[cell] if mask else current
                if colour != current and text:
                    runs.append(("".join(text), current))
                    text = []
                current = colour
                text.append(chr(0x2800 + mask) if mask else " ")
            if text:
                runs.append(("".join(text), current))
            out.append(runs)
        return out
