"""How `LineTable` draws a row: each cell's segments kept, a line's strip composed from them, cached.

Drawn as DataTable draws a cell (Padding of one space each side, the text
cropped or padded to the column, the row's style under the text's own styles
and, on the cursor or hovered row, the component style under them and its
colour over them), but without Rich's render pipeline: a cell's segments are
made once per text, styled once per table style, and a line is their join.
No widget state here: the table passes its styles and widths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

PADDING = 1  # cells of space each side of every column (DataTable's cell_padding=1)
CURSOR, HOVER = 1, 2  # flags of a composed strip

COMPONENT_CLASSES = {"datatable--cursor", "datatable--hover", "datatable--header", "datatable--header-hover"}
# DataTable's rules for them (textual/widgets/_data_table.py), so the table looks the same in every theme.
LOOK_CSS = """
LineTable {
    background: $surface;
    color: $foreground;
    height: auto;
    max-height: 100%;
    &:focus {
        background-tint: $foreground 5%;
        & > .datatable--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        & > .datatable--header {
            background-tint: $foreground 5%;
        }
    }
    & > .datatable--header {
        text-style: bold;
        background: $panel;
        color: $foreground;
    }
    &:ansi > .datatable--header {
        background: ansi_bright_blue;
        color: ansi_default;
    }
    & > .datatable--cursor {
        background: $block-cursor-blurred-background;
        color: $block-cursor-blurred-foreground;
        text-style: $block-cursor-blurred-text-style;
    }
    & > .datatable--header-hover {
        background: $accent 30%;
    }
    & > .datatable--hover {
        background: $block-hover-background;
    }
}
"""


class TableStyles(NamedTuple):
    """The table's styles as of one paint (from its CSS and component classes)."""

    base: Style  # the widget's own (background, colour, focus tint)
    cursor: Style
    hover: Style
    header: Style
    header_hover: Style


def same_text(a: Text, b: Text) -> bool:
    """Texts that draw the same (Rich's ``==`` ignores the base style)."""
    return a.plain == b.plain and a.style == b.style and a.spans == b.spans and type(a) is type(b)


def cell_segments(text: Text, width: int, console: Console) -> list[Segment]:
    """A cell as DataTable draws it (padding around the text, cropped or padded to the width), unstyled."""
    if text.spans:
        drawn = list(text.render(console))
    else:  # Rich's render leaves the base style out when there are no spans (its console path adds it)
        drawn = [Segment(text.plain, console.get_style(text.style) if text.style else None)]
    pad = Segment(" " * PADDING)
    return [pad, *Segment.adjust_line_length(drawn, width), pad]


@dataclass(eq=False, slots=True)
class DrawnLine:
    """One row as drawn: its texts, each cell's segments (unstyled), each styled, composed strips."""

    texts: list[Text]
    cells: list[list[Segment]]
    generation: int  # the table's data generation these texts are of
    styled: list[list[Segment] | None]  # each cell in the line's own style (a changed cell alone is styled again)
    strips: dict[int, Strip] = field(default_factory=dict)  # by CURSOR | HOVER flags

    @classmethod
    def of(cls, texts: list[Text], widths: Sequence[int], console: Console, generation: int) -> DrawnLine:
        cells = [cell_segments(text, width, console) for text, width in zip(texts, widths)]
        return cls(texts, cells, generation, [None] * len(cells))

    def update(self, texts: list[Text], widths: Sequence[int], console: Console, generation: int) -> bool:
        """New texts: the cells whose text changed are drawn again. Whether any did."""
        self.generation = generation
        changed = False
        for i, (new, old) in enumerate(zip(texts, self.texts)):
            if new is not old and not same_text(new, old):
                self.texts[i] = new
                self.cells[i] = cell_segments(new, widths[i], console)
                self.styled[i] = None
                changed = True
        if changed:
            self.strips.clear()
        return changed

    def restyle(self) -> None:
        """The table's styles changed (focus, a class, the theme)."""
        self.styled = [None] * len(self.cells)
        self.strips.clear()

    def strip(self, flags: int, header: bool, styles: TableStyles, width: int, table_width: int) -> Strip:
        """The line ``width`` cells wide (or the table's, if wider), cached by flags."""
        strip = self.strips.get(flags)
        if strip is None:
            strip = self.strips[flags] = self._compose(flags, header, styles, width, table_width)
        return strip

    def _compose(self, flags: int, header: bool, styles: TableStyles, width: int, table_width: int) -> Strip:
        plain = styles.header if header else styles.base
        segments: list[Segment] = []
        if not flags:  # the common line: its cells styled once each, joined
            styled = self.styled
            for i, cell in enumerate(self.cells):
                done = styled[i]
                if done is None:
                    done = styled[i] = list(Segment.simplify(Segment.apply_style(cell, plain)))
                segments.extend(done)
            row = plain
        else:  # the cursor's or the hovered line (DataTable's: the component style under, its colour over)
            component = Style()
            if flags & HOVER:
                component += styles.hover + styles.header_hover if header else styles.hover
            if flags & CURSOR:
                component += styles.cursor
            row = plain + component
            post = Style.from_color(color=component.color) if component.color is not None else None
            for cell in self.cells:
                segments.extend(Segment.apply_style(cell, row, post))
        if width > table_width:
            segments.append(Segment(" " * (width - table_width), row))
        # One segment per run of one style: each segment costs its own escape codes on the terminal.
        return Strip(segments, max(width, table_width)).simplify()
