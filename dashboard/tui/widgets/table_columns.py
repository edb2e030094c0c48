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
    # Denials over the last 1 min, 5 min, 1 h (dashboard.core.windows), and the deny ratio of the chosen window.
    ("w60", "deny 1m", True, True),
    ("w300", "deny 5m", True, True),
    ("w3600", "deny 1h", True, True),
    ("ratio", "deny%", True, True),
    ("trend", "trend", False, False),
    ("cfg", "cfg", True, True),
)
SORTABLE = tuple(key for key, _, sortable, _ in COLUMNS if sortable)
WINDOW_COLUMNS: dict[str, float] = {"w60": 60.0, "w300": 300.0, "w3600": 3600.0}  # column key -> window (s)
WINDOWED = frozenset({*WINDOW_COLUMNS, "ratio"})  # columns whose values come from the window store
NATURAL_DESCENDING = {key: desc for key, _, _, desc in COLUMNS}
# The table holds at most this many rows: the first ones in the current sort order (over all
# buckets). Beyond a few thousand rows a DataTable costs seconds to fill; nobody scrolls through
# 100,000 buckets anyway: they sort by deny/s or filter.
MAX_ROWS = 500

WIDE = 110  # from this table width: wider bars and rates, refill also per second
ALL_WINDOWS = 128  # from this table width: the three window columns and the deny ratio (else the chosen window only)
ONE_WINDOW = 90  # from this table width: the chosen window's column; narrower, only in a window view (top, a window sort)
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
    windows: tuple[str, ...] = ("w60",)  # the window columns shown (keys of WINDOW_COLUMNS)
    ratio: bool = False  # the deny ratio column (of the chosen window)
    count: int = 4  # width of a window column

    def widths(self) -> dict[str, int]:
        """The columns shown, in order, and their widths (the trend is left out at width 0)."""
        widths = {
            "user": self.user,
            "tokens": self.tokens,
            "fill": self.bar + 5,
            "refill": self.refill,
            "grants": self.rate,
            "denials": self.rate,
            **{key: self.count for key in self.windows},
        }
        if self.ratio:
            widths["ratio"] = 5
        if self.trend:
            widths["trend"] = self.trend
        widths["cfg"] = 3
        return widths


def layout_for(width: int, needs: Needs = Needs(), *, window: str = "w60", top: bool = False) -> Layout:  
    """Column widths for a table ``width`` cells wide, given what the rows ``needs``.

    Fixed columns first (tokens as wide as the widest count, bars, rates, the
    window columns: all three and the deny ratio from `ALL_WINDOWS`, else the
    chosen ``window`` only from `ONE_WINDOW`, with the ratio in a window view,
    ``top`` (top throttled, or a sort by a window column), where a table
    narrower than `ONE_WINDOW` gives up the trend for them), then the refill text
    (with its per-second rate when that fits too), a user column wide enough
    for the ids up to `USER_FIRST`, the trend up to `TREND_MAX`, and the user
    column again up to `USER_MAX`.
    """
    wide = width >= WIDE
    bar, rate = (10, 8) if wide else (4, 5)
    tokens = max(needs.tokens, len("tokens"))
    every = width >= ALL_WINDOWS
    windows = tuple(WINDOW_COLUMNS) if every else (window,) if (top or width >= ONE_WINDOW) else ()
    ratio = every or top
    trend_min = 0 if (top and width < ONE_WINDOW) else TREND_MIN
    count = 7 if wide else 4
    columns = 7 + len(windows) + ratio + (trend_min > 0)  # user tokens fill refill grants denials cfg + the rest
    overhead = 2 * columns + 1  # a cell of padding each side of every column, and the scrollbar
    fixed = overhead + tokens + bar + 5 + 2 * rate + 3 + count * len(windows) + 5 * ratio
    user_want = needs.user + 2  # the graph dot (or alert mark) and its space
    user_min = min(user_want, 12 if wide else 10)
    room = max(0, width - fixed - user_min - trend_min)
    if needs.refill > room and user_min > 8:  # the refill text is never clipped: the user column gives first
        give = min(needs.refill - room, user_min - 8)
        user_min -= give
        room += give
    with_rate = wide and needs.refill_rate <= room
    refill = needs.refill_rate if with_rate else max(len("refill"), min(needs.refill, room))
    room = max(0, room - refill)
    user = user_min + min(room, max(0, min(user_want, USER_FIRST) - user_min))
    room -= user - user_min
    trend = trend_min + min(room, TREND_MAX - TREND_MIN) if trend_min else 0
    room -= max(0, trend - trend_min)
    user += min(room, max(0, min(user_want, USER_MAX) - user))
    return Layout(user, tokens, bar, refill, rate, trend, wide, with_rate, windows, ratio, count)


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


def column_label(key: str, layout: Layout | None, sort: SortSpec) -> Text:
    """A column's header: short words on a narrow table, the sort arrow, right-aligned over numbers."""
    header = dict((k, h) for k, h, _, _ in COLUMNS)[key]
    narrow = layout is not None and not layout.wide
    if narrow and key in ("grants", "denials"):
        header = "ok/s" if key == "grants" else "den/s"
    elif narrow and key in WINDOW_COLUMNS:
        header = f"d {fmt.seconds(WINDOW_COLUMNS[key])}"
    right = key not in ("user", "trend", "cfg", "fill", "refill")
    if key == sort.column:
        label = Text(f"{header}{'▼' if sort.descending else '▲'}", style="bold")
    else:
        label = Text(header)
    if right and layout:
        label = Text(" " * max(0, layout.widths().get(key, 0) - label.cell_len)) + label
    return label
