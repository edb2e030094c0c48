"""The bucket table's columns: what they are, how wide, and how rows sort (no widgets here).

Widths follow the data: every column first gets what the rows held need
(`Needs`: the longest refill text, the widest token count, the longest user
id up to a cap); the trend column, one block per poll, takes what is left, and
beyond its maximum the user column grows. Nothing is clipped that fits.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from rich.text import Text

from dashboard.core.protocol import BucketRow
from dashboard.tui import format as fmt
from dashboard.tui.colours import Colours
from dashboard.tui.preview import MARK


@dataclass(frozen=True, slots=True)
class SortSpec:
    column: str = "user"
    descending: bool = False


# column key, header, sortable, the natural direction when first chosen (True: descending)
COLUMNS: tuple[tuple[str, str, bool, bool], ...] = (
    ("user", "user", True, False),
    ("tokens", "tokens", True, False),
    ("fill", "fill", True, False),  # emptiest first: the throttled users
    ("refill", "refill", True, True),
    ("grants", "grant/s", True, True),
    ("denials", "deny/s", True, True),
    ("trend", "trend", False, False),
    ("cfg", "cfg", True, True),
)
SORTABLE = tuple(key for key, _, sortable, _ in COLUMNS if sortable)
NATURAL_DESCENDING = {key: desc for key, _, _, desc in COLUMNS}
# The table holds at most this many rows: the first ones in the current sort order (over all
# buckets). Beyond a few thousand rows a DataTable costs seconds to fill; nobody scrolls through
# 100,000 buckets anyway: they sort by deny/s or filter.
MAX_ROWS = 500

OVERHEAD = 2 * len(COLUMNS) + 1  # a cell of padding each side of every column, and the scrollbar
WIDE = 110  # from this table width: wider bars and rates, refill also per second
TREND_MIN, TREND_MAX = 6, 60
USER_FIRST, USER_MAX = 24, 40  # the user column grows to USER_FIRST before the trend, to USER_MAX after


@dataclass(frozen=True, slots=True)
class Needs:
    """The widest texts among the rows held, in cells."""

    user: int = 12  # user id (the graph dot comes on top)
    tokens: int = 9  # "ceiling/ceiling"
    refill: int = 6  # "10/1s"
    refill_rate: int = 12  # "10/1s 10/s"

    def merge(self, other: Needs) -> Needs:
        if self == other:
            return self
        return Needs(
            max(self.user, other.user), max(self.tokens, other.tokens),
            max(self.refill, other.refill), max(self.refill_rate, other.refill_rate),
        )

    def covers(self, other: Needs) -> bool:
        return self.user >= other.user and self.tokens >= other.tokens and self.refill >= other.refill and self.refill_rate >= other.refill_rate


def refill_text(row: BucketRow, with_rate: bool) -> str:
    text = fmt.refill(row.config)
    return f"{text} {fmt.per_second(row.config.rate_per_second)}" if with_rate else text


def tokens_text(row: BucketRow) -> str:
    return f"{fmt.tokens(row.tokens)}/{fmt.tokens(row.ceiling)}"


def needs_of(row: BucketRow) -> Needs:
    ceiling = fmt.tokens(row.ceiling)
    return Needs(
        user=min(len(row.user), USER_MAX - 2),
        tokens=2 * len(ceiling) + 1,  # tokens never exceed the ceiling
        refill=len(refill_text(row, False)),
        refill_rate=len(refill_text(row, True)),
    )


@dataclass(frozen=True, slots=True)
class Layout:
    user: int
    tokens: int
    bar: int  # fill bar cells (the percentage follows)
    refill: int
    rate: int
    trend: int
    wide: bool
    refill_rate: bool = False  # the refill column also shows tokens per second

    def widths(self) -> dict[str, int]:
        return {
            "user": self.user,
            "tokens": self.tokens,
            "fill": self.bar + 5,
            "refill": self.refill,
            "grants": self.rate,
            "denials": self.rate,
            "trend": self.trend,
            "cfg": 3,
        }


def layout_for(width: int, needs: Needs = Needs()) -> Layout:
    """Column widths for a table ``width`` cells wide, given what the rows ``needs``.

    Fixed columns first (tokens as wide as the widest count, bars, rates),
    then the refill text (with its per-second rate when that fits too), a
    user column wide enough for the ids up to `USER_FIRST`, the trend up to
    `TREND_MAX`, and the user column again up to `USER_MAX`.
    """
    wide = width >= WIDE
    bar, rate = (10, 8) if wide else (4, 6)
    tokens = max(needs.tokens, len("tokens"))
    fixed = OVERHEAD + tokens + bar + 5 + 2 * rate + 3
    user_want = needs.user + 2  # the graph dot and its space
    user_min = min(user_want, 12 if wide else 10)
    room = max(0, width - fixed - user_min - TREND_MIN)
    with_rate = wide and needs.refill_rate <= room
    refill = needs.refill_rate if with_rate else max(len("refill"), min(needs.refill, room))
    room = max(0, room - refill)
    user = user_min + min(room, max(0, min(user_want, USER_FIRST) - user_min))
    room -= user - user_min
    trend = TREND_MIN + min(room, TREND_MAX - TREND_MIN)
    room -= trend - TREND_MIN
    user += min(room, max(0, min(user_want, USER_MAX) - user))
    return Layout(user, tokens, bar, refill, rate, trend, wide, with_rate)


def cfg_cell(row: BucketRow, colours: Colours) -> Text:
    """Where the settings come from (``≠`` services disagree, ``op`` operator, ``–`` defaults), then ◐ in preview."""
    if row.callers_disagree:  # services keep replacing each other's defaults: the details line says how
        cfg = Text("≠", style=f"bold {colours.mid}")
    elif row.overridden:
        cfg = Text("op", style=f"bold {colours.accent}")
    else:
        cfg = Text("–", style="dim")
    if row.shadow is not None:  # the third cell of the column: the table stays as narrow
        cfg.pad_right(2 - cfg.cell_len)
        cfg.append(MARK, style=f"bold {colours.mid}")
    return cfg


def matches(user: str, pattern: str) -> bool:
    """Filter: a glob when the pattern has * ? or [, else a case-insensitive substring."""
    if not pattern:
        return True
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(user.casefold(), pattern.casefold())
    return pattern.casefold() in user.casefold()


_DIGITS = re.compile(r"(\d+)")


def natural(text: str) -> tuple:
    """``user_2`` before ``user_10``: digit runs compare as numbers."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in _DIGITS.split(text.casefold()) if part)


def sort_number(row: BucketRow, column: str) -> float:
    """The number a numeric column sorts by (unknown rates sort below zero)."""
    if column == "tokens":
        return row.tokens
    if column == "fill":
        return row.tokens / row.config.ceiling
    if column == "refill":
        return row.config.rate_per_second
    if column == "grants":
        return row.grants_per_s if row.grants_per_s is not None else -1.0
    if column == "denials":
        return row.denials_per_s if row.denials_per_s is not None else -1.0
    if column == "cfg":
        # disagreement, then operator settings, then defaults; a preview first within each
        return (2.0 if row.callers_disagree else 1.0 if row.overridden else 0.0) + (0.5 if row.shadow is not None else 0.0)
    return 0.0


def sort_value(row: BucketRow, column: str, descending: bool = False, name: tuple | None = None) -> tuple:
    """The sort key of a row; ties always go by user, ascending (natural order), in either direction."""
    if name is None:
        name = natural(row.user)
    if column == "user" or column not in SORTABLE:
        return (name,)
    value = sort_number(row, column)
    return (-value if descending else value, name)


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"
