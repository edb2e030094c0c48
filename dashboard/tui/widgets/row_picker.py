"""Which buckets the table holds: those the filter lets through, at most ``limit``, first in sort order.

With 20,000 buckets a poll must not sort 20,000 names or build 20,000 sort
keys in Python. The picker keeps every user's natural sort key and the users
in natural order between polls, and updates both only for the users that
appeared or disappeared (set differences, done in C); its caches hold the
current users only, so churn (users coming and going for days) leaves
nothing behind. A numeric sort is one pass over the values and a C sort of
floats; natural keys are only compared for the ties at the cut. A window
column (denials over 1 min, 5 min, 1 h; the deny ratio) is non-zero only for
the buckets that denied in the window, which the window store lists: they are
sorted, the rest go by name, so its cost follows the denying buckets.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from operator import attrgetter
from typing import Callable, Mapping

from dashboard.core.protocol import BucketRow
from dashboard.tui.widgets.table_columns import SORTABLE, WINDOW_COLUMNS, WINDOWED, SortSpec, matches, natural, sort_number
from dashboard.tui.widgets.window_cells import NoWindows, WindowLookup, window_number

_GETTERS: dict[str, Callable[[BucketRow], float]] = {
    "tokens": attrgetter("tokens"),
    "fill": lambda row: row.tokens / row.config.ceiling,
}


class RowPicker:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._users: set[str] = set()
        self._names: dict[str, tuple] = {}  # natural key of each current user
        self._order: list[tuple[tuple, str]] = []  # (natural key, user) of every current user, sorted
        self._pattern = ""
        self._hits: dict[str, bool] = {}  # does the current pattern match the user
        self.windows: WindowLookup = NoWindows()
        self.window = "w60"  # the chosen window (the deny ratio's)
        self.only: set[str] | None = None  # the top-throttled view: only these users

    def natural(self, user: str) -> tuple:
        key = self._names.get(user)
        if key is None:
            key = natural(user)
            if user in self._users:
                self._names[user] = key
        return key

    def __len__(self) -> int:
        """Users whose keys are kept (for tests: it follows the bucket count, not its history)."""
        return len(self._names)

    # ------------------------------------------------------------------ keeping up with the users

    def update(self, rows: Mapping[str, BucketRow]) -> None:
        users = rows.keys()
        if users == self._users:
            return
        gone = self._users - users
        new = users - self._users
        names, hits = self._names, self._hits
        rebuild = len(gone) + len(new) > len(users) // 8 + 64
        if not rebuild:
            order = self._order
            for user in gone:
                del order[bisect_left(order, (names[user], user))]
            for user in new:
                key = names[user] = natural(user)
                insort(order, (key, user))
        for user in gone:
            del names[user]
            hits.pop(user, None)
        if rebuild:
            for user in new:
                names[user] = natural(user)
            self._order = sorted((names[user], user) for user in users)
        self._users = set(users)

    # ------------------------------------------------------------------ picking

    def pick(
        self, rows: Mapping[str, BucketRow], pattern: str, sort: SortSpec, keep: str | None = None, *, limit: int | None = -1,
    ) -> tuple[list[str], int]:
        """The users to hold and how many the filter lets through; ``keep`` (the cursor's user) stays held.

        ``limit=None``: every user the filter (and the top-throttled view) lets through, unordered."""
        self.update(rows)
        chosen = self._matching(rows, pattern) if pattern else None
        if self.only is not None:
            chosen = [u for u in self.only if u in rows] if chosen is None else [u for u in chosen if u in self.only]
        matched = len(rows) if chosen is None else len(chosen)
        if limit is None or matched <= self.limit:
            return (list(rows) if chosen is None else chosen), matched
        if sort.column == "user" or sort.column not in SORTABLE:
            top = self._by_name(chosen, sort.descending)
        elif sort.column in WINDOWED:
            top = self._by_window(rows, chosen, sort)
        else:
            top = self._by_value(rows, chosen, sort)
        if keep is not None and keep in rows and keep not in top and (chosen is None or keep in set(chosen)):
            top.append(keep)
        return top, matched

    def _matching(self, rows: Mapping[str, BucketRow], pattern: str) -> list[str]:
        if pattern != self._pattern:
            self._pattern, self._hits = pattern, {}
        hits = self._hits
        out = []
        for user in rows:
            hit = hits.get(user)
            if hit is None:
                hit = hits[user] = matches(user, pattern)
            if hit:
                out.append(user)
        return out

    def _by_name(self, chosen: list[str] | None, descending: bool) -> list[str]:
        order = reversed(self._order) if descending else iter(self._order)
        wanted = None if chosen is None else set(chosen)
        top: list[str] = []
        for _, user in order:
            if wanted is None or user in wanted:
                top.append(user)
                if len(top) == self.limit:
                    break
        return top

    def _by_window(self, rows: Mapping[str, BucketRow], chosen: list[str] | None, sort: SortSpec) -> list[str]:
        """A window column: the buckets that denied in the window by value, the others (all 0) by name."""
        window = sort.column if sort.column in WINDOW_COLUMNS else self.window
        wanted = None if chosen is None else set(chosen)
        scored = []
        for user in self.windows.denying(WINDOW_COLUMNS[window]):
            if user in rows and (wanted is None or user in wanted):
                value = window_number(self.windows, user, sort.column, self.window)
                if value > 0:
                    scored.append(((-value if sort.descending else value), self.natural(user), user))
        scored.sort()
        counted = [user for *_, user in scored]
        if sort.descending and len(counted) >= self.limit:
            return counted[: self.limit]
        skip = set(counted)
        zeros: list[str] = []
        want = self.limit - len(counted) if sort.descending else self.limit
        for _, user in self._order:  # the zeros, by name
            if user not in skip and (wanted is None or user in wanted):
                zeros.append(user)
                if len(zeros) == want:
                    break
        return counted + zeros if sort.descending else (zeros + counted)[: self.limit]

    def _by_value(self, rows: Mapping[str, BucketRow], chosen: list[str] | None, sort: SortSpec) -> list[str]:
        users = list(rows) if chosen is None else chosen
        getter = _GETTERS.get(sort.column)
        if getter is None:
            column = sort.column
            values = [sort_number(rows[user], column) for user in users]
        else:
            values = [getter(rows[user]) for user in users]
        if sort.descending:
            values = [-v for v in values]
        cut = sorted(values)[self.limit - 1]
        top = [user for user, value in zip(users, values) if value < cut]
        ties = [user for user, value in zip(users, values) if value == cut]
        ties.sort(key=self.natural)  # ties go by name, as the table shows them
        return top + ties[: self.limit - len(top)]

