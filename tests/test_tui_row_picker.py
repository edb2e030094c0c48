"""Which rows the table holds (`RowPicker`): the first in sort order without sorting every bucket, caches for today's users only."""

from __future__ import annotations

import random

from dashboard.core.protocol import BucketRow
from dashboard.tui.widgets.row_picker import RowPicker
from dashboard.tui.widgets.table_columns import SortSpec, natural, sort_value
from limiter import BucketConfig

CFG = BucketConfig(max_tokens=10, burst=0)


def rows(levels: dict[str, int]) -> dict[str, BucketRow]:
    return {u: BucketRow(u, n, CFG, 0, 0, False, None) for u, n in levels.items()}


def reference(table: dict[str, BucketRow], sort: SortSpec, limit: int) -> list[str]:
    by = sorted(table.values(), key=lambda r: sort_value(r, sort.column, sort.descending and sort.column != "user"), reverse=sort.descending and sort.column == "user")
    return [r.user for r in by][:limit]


def test_the_first_rows_in_sort_order_match_a_full_sort_through_churn() -> None:
    rng = random.Random(3)
    picker = RowPicker(limit=25)
    levels = {f"user_{i}": rng.randint(0, 10) for i in range(300)}
    born = 0
    for _ in range(40):
        for _ in range(rng.randint(0, 30)):  # some appear, some go, some drain
            born += 1
            levels[f"new_{born}"] = rng.randint(0, 10)
        for user in rng.sample(sorted(levels), rng.randint(0, 30)):
            del levels[user]
        for user in rng.sample(sorted(levels), 20):
            levels[user] = rng.randint(0, 10)
        table = rows(levels)
        for sort in (SortSpec("user"), SortSpec("user", True), SortSpec("tokens"), SortSpec("tokens", True), SortSpec("fill")):
            top, matched = picker.pick(table, "", sort)
            assert matched == len(table)
            assert sorted(top, key=lambda u: sort_value(table[u], sort.column, sort.descending and sort.column != "user")) == sorted(
                reference(table, sort, 25), key=lambda u: sort_value(table[u], sort.column, sort.descending and sort.column != "user")
            ), sort
        assert len(picker) == len(table)  # sort keys of the current users only
        assert picker._order == sorted((natural(u), u) for u in table)


def test_filter_and_the_cursor_row_stay() -> None:
    picker = RowPicker(limit=3)
    table = rows({f"team-{i}": i % 10 for i in range(20)} | {"other": 0})
    top, matched = picker.pick(table, "team-*", SortSpec("user"))
    assert matched == 20 and top == ["team-0", "team-1", "team-2"]
    top, _ = picker.pick(table, "team-*", SortSpec("user"), keep="team-19")
    assert top == ["team-0", "team-1", "team-2", "team-19"]
    top, _ = picker.pick(table, "team-*", SortSpec("user"), keep="other")  # filtered out: not kept
    assert "other" not in top
