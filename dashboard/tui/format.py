"""Plain-text formatting of bucket numbers for the screens (no widgets here).

Everything returns ``str`` or a Rich ``Text`` built with ``Text(...)``, never
markup: user ids and key names come from Redis and may contain ``[``.

Text tbdash did not write (user ids, key names, audit fields, error messages
that quote them) goes to the screen only through `safe_text` (a Rich ``Text``,
escapes styled apart, clipped by terminal cells) or `safe_str` (a plain
string, for notifications sent with ``markup=False``).
"""

from __future__ import annotations

import math

from rich.cells import cell_len, get_character_cell_size
from rich.style import StyleType
from rich.text import Text

from dashboard.core.untrusted import pieces, shown
from limiter.config import BucketConfig
from limiter.redaction import redact_message

#: How the escape of an invisible or control character looks (``\x1b``, ``\u202e``): set apart from
#: the text around it, so a literal backslash in an id cannot pass for an escape.
ESCAPE_STYLE = "reverse"
ELLIPSIS = "…"

FILL_LOW = 0.2  # below this a bucket is (nearly) empty: its users are being throttled
FILL_MID = 0.5

_EIGHTHS = " ▏▎▍▌▋▊▉█"

redact = redact_message  # its older name here (limiter/redaction.py is the one place)


def fill_style(fill: float, *, low: str = "red", mid: str = "yellow", high: str = "green") -> str:
    """The colour of a fill level (0.0 … 1.0)."""
    if fill < FILL_LOW:
        return low
    if fill < FILL_MID:
        return mid
    return high


def seconds(value: float) -> str:
    """A duration the way an operator would write it: ``250ms``, ``1s``, ``2.5s``, ``1m``, ``1h30m``."""
    if value < 1:
        ms = value * 1000
        return f"{ms:.0f}ms" if ms >= 1 and abs(ms - round(ms)) < 1e-6 else f"{ms:.3g}ms"
    if value < 60:
        return f"{value:g}s" if abs(value * 1000 - round(value * 1000)) < 1e-6 else f"{value:.3g}s"
    if value < 3600 and value % 60 == 0:
        return f"{value / 60:g}m"
    if value < 3600:
        return f"{int(value // 60)}m{value % 60:g}s"
    hours, rest = divmod(value, 3600)
    return f"{int(hours)}h{int(rest // 60)}m" if rest else f"{int(hours)}h"


def per_second(rate: float | None) -> str:
    """A rate as ``12/s``, ``0.5/s``, ``1.2k/s``; ``–`` when unknown."""
    if rate is None or not math.isfinite(rate):
        return "–"
    return f"{number(rate)}/s"


def rate(value: float | None) -> str:
    """A measured rate for a narrow column: ``0``, ``<0.1``, ``8.8``, ``79``, ``12k``; ``–`` when unknown."""
    if value is None or not math.isfinite(value):
        return "–"
    if value <= 0:
        return "0"
    if value < 0.1:
        return "<0.1"
    if value < 10:
        return f"{value:.1f}"
    if value < 10_000:
        return f"{value:.0f}"
    return number(value)


def number(value: float) -> str:
    """A compact number: ``0``, ``0.25``, ``12``, ``12.5``, ``1.2k``, ``3.4M``."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e9:
        return f"{value / 1e9:.3g}G"
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.3g}k"
    if magnitude >= 100 or float(value).is_integer():
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.01:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.1g}"


def tokens(value: int) -> str:
    """Token counts are exact up to six digits, compact beyond."""
    return f"{value}" if abs(value) < 1_000_000 else number(value)


def refill(config: BucketConfig) -> str:
    """``10/1s``: refill_count per refill_interval, exactly as configured."""
    return f"{tokens(config.refill_count)}/{seconds(config.refill_interval)}"


def fill_bar(fill: float, width: int, style: str) -> Text:
    """A horizontal bar of ``width`` cells using eighth blocks, then the percentage."""
    fill = min(max(fill, 0.0), 1.0)
    eighths = round(fill * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + (_EIGHTHS[part] if part and full < width else "")
    bar = bar.ljust(width)
    text = Text(bar, style=style)
    text.append(f"{fill * 100:4.0f}%", style=style)
    return text


def ago(delta: float) -> str:
    """``3s``, ``2m05s``, ``1h02m`` for a number of seconds in the past."""
    delta = max(0.0, delta)
    if delta < 60:
        return f"{delta:.0f}s"
    if delta < 3600:
        return f"{int(delta // 60)}m{int(delta % 60):02d}s"
    return f"{int(delta // 3600)}h{int(delta % 3600 // 60):02d}m"


# ---------------------------------------------------------------------- text tbdash did not write


def _cut(text: str, cells: int) -> str:
    """The longest start of ``text`` that fits in ``cells`` terminal cells."""
    used = 0
    for index, char in enumerate(text):
        used += get_character_cell_size(char)
        if used > cells:
            return text[:index]
    return text


def safe_text(text: str, *, style: StyleType = "", width: int | None = None, escape_style: StyleType = ESCAPE_STYLE) -> Text:
    """Foreign ``text`` as a Rich ``Text``: control, bidi and invisible characters as visible escapes
    styled apart, markup literal, and at most ``width`` cells (clipped with ``…``, never inside an escape)."""
    out = Text(end="")
    if width is not None and width <= 0:
        return out
    parts = pieces(text)
    if width is None or sum(cell_len(piece) for piece, _ in parts) <= width:
        for piece, is_escape in parts:
            out.append(piece, style=_escape_of(style, escape_style) if is_escape else style)
        return out
    budget = width - 1  # one cell for the ellipsis
    for piece, is_escape in parts:
        size = cell_len(piece)
        if size <= budget:
            out.append(piece, style=_escape_of(style, escape_style) if is_escape else style)
            budget -= size
            continue
        if not is_escape:  # half an escape could read as another one: drop it whole
            out.append(_cut(piece, budget), style=style)
        break
    out.append(ELLIPSIS, style=style)
    return out


def _escape_of(style: StyleType, escape_style: StyleType) -> StyleType:
    return f"{style} {escape_style}" if isinstance(style, str) and isinstance(escape_style, str) and style else escape_style


def safe_str(text: str, *, width: int | None = None) -> str:
    """Foreign ``text`` as a plain string (escaped as `safe_text` does, unstyled), at most ``width`` cells."""
    escaped = shown(text)
    if width is None or cell_len(escaped) <= width:
        return escaped
    return safe_text(text, width=width, escape_style="").plain
