"""Colours: fill levels from the app theme, and one distinct colour per graphed user."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import App

# Distinct on dark and light backgrounds and still distinct after a 256-colour downgrade.
SERIES: tuple[tuple[int, int, int], ...] = (
    (0, 190, 255),  # sky
    (255, 150, 0),  # orange
    (220, 80, 220),  # magenta
    (90, 200, 90),  # green
    (240, 210, 0),  # yellow
    (255, 90, 90),  # red
    (160, 130, 255),  # violet
    (0, 190, 170),  # teal
)


def series_style(index: int) -> str:
    r, g, b = SERIES[index % len(SERIES)]
    return f"rgb({r},{g},{b})"


def shadow_colour(index: int) -> tuple[int, int, int]:
    """A graphed user's preview (shadow) line: the user's colour, halfway to white (drawn dashed too)."""
    r, g, b = SERIES[index % len(SERIES)]
    return ((r + 255) // 2, (g + 255) // 2, (b + 255) // 2)


def shadow_style(index: int) -> str:
    r, g, b = shadow_colour(index)
    return f"rgb({r},{g},{b})"


@dataclass(frozen=True, slots=True)
class Colours:
    low: str
    mid: str
    high: str
    accent: str
    muted: str

    @property
    def fills(self) -> tuple[str, str, str]:
        return (self.low, self.mid, self.high)


def theme_colours(app: App) -> Colours:
    variables = app.theme_variables
    return Colours(
        low=variables.get("error", "red"),
        mid=variables.get("warning", "yellow"),
        high=variables.get("success", "green"),
        accent=variables.get("accent", "cyan"),
        muted="dim",
    )
