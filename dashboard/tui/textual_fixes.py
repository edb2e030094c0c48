"""Workarounds for defects of Textual that a dashboard left running all day runs into, each with its upstream issue.

`apply()` runs once when the app module is imported. Each fix checks that the
defect is still there (the same shape of code) and leaves Textual alone
otherwise, so a Textual release that fixes it upstream makes it a no-op;
tests/test_tui_soak_bounds.py shows each defect's effect without the fix.
"""

from __future__ import annotations

from functools import lru_cache

from textual._styles_cache import StylesCache
from textual.color import Color
from textual.style import Style  # Textual's own Style, as _styles_cache uses it


@lru_cache(1024)
def _inner_outer(base_background: Color, background: Color) -> tuple[Style, Style]:
    """Textual's `StylesCache.get_inner_outer`, cached by the two colours only."""
    return Style(background=base_background + background), Style(background=base_background)


def _get_inner_outer(self: StylesCache, base_background: Color, background: Color) -> tuple[Style, Style]:
    return _inner_outer(base_background, background)


def apply() -> None:
    # Textualize/textual#6665: `get_inner_outer` is an lru_cache(1024) on an instance method, so its
    # keys hold the styles caches (and every line they rendered) of up to 1,024 widgets long gone —
    # each screen visit left its widgets' rendered lines behind (+40 MB after 100 detail screens).
    if hasattr(StylesCache.__dict__.get("get_inner_outer"), "cache_info"):
        setattr(StylesCache, "get_inner_outer", _get_inner_outer)
