"""The key bar at the bottom: every key that fits, most important first, on one line.

Textual's `Footer` rebuilds its children (one `FooterKey` widget per binding)
on every `refresh_bindings()`, and each new `FooterKey` registers a data-bind
watcher on the Footer that is never removed (Textual 8.2: the watcher list is
only pruned when ``Footer.compact`` changes). A dashboard that refreshes its
bindings on every poll and cursor move grew without bound in memory and CPU.

This bar is one widget that renders a single `Text` from the entries it is
given (`actions.KEY_BAR`, resolved by the screen) and repaints only when those
entries change: nothing is allocated per poll that outlives the poll.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.widget import Widget


@dataclass(frozen=True, slots=True)
class KeyItem:
    """One entry as shown now."""

    key: str
    label: str
    press: str  # the key a click sends
    enabled: bool = True


class KeyBar(Widget):
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.items: tuple[KeyItem, ...] = ()
        self._spans: list[tuple[int, int, str]] = []  # (start x, end x, key) of the last render

    def set_items(self, items: tuple[KeyItem, ...]) -> bool:
        """Show these entries; repaints only when they differ from what is shown. True when they did."""
        if items == self.items:
            return False
        self.items = items
        self.refresh()
        return True

    @property
    def shown(self) -> list[str]:
        """The keys that fit the current width (for tests and the curious)."""
        return [key for _, _, key in self._spans]

    def render(self) -> Text:
        line, self._spans = self.line(self.size.width)
        return line

    def line(self, width: int) -> tuple[Text, list[tuple[int, int, str]]]:
        """The bar for ``width`` cells: entries in order until the next does not fit."""
        v = self.app.theme_variables
        key_style = f"bold {v.get('footer-key-foreground', v.get('accent', 'cyan'))}"
        label_style = v.get("footer-description-foreground", "")
        text = Text(no_wrap=True, overflow="crop", end="")
        spans: list[tuple[int, int, str]] = []
        x = 0
        for item in self.items:
            gap = 1 if x == 0 else 2
            cells = gap + len(item.key) + 1 + len(item.label)  # "  key label"
            if x + cells > width:
                break
            dim = "" if item.enabled else " dim"
            text.append(" " * gap)
            text.append(item.key, style=key_style + dim)
            text.append(" " + item.label, style=(label_style + dim).strip())
            spans.append((x + gap, x + cells, item.key))
            x += cells
        return text, spans

    def on_click(self, event: events.Click) -> None:
        for (start, end, key), item in zip(self._spans, self.items):
            if start <= event.x < end:
                event.stop()
                if item.enabled:
                    self.app.simulate_key(item.press)
                else:
                    self.app.bell()
                return
