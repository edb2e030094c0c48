"""The dashboard's pure parts: formatting, the fixed-scale trend, form validation, poll pacing, layout, sorting."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from rich.text import Text

from dashboard.core.protocol import AuditEntry, BucketRow, ConnectionInfo, LoadSpec, Snapshot
from dashboard.tui import format as fmt
from dashboard.tui.forms import changes, default_load, parse_seconds, validate_bucket, validate_load
from dashboard.tui.history import HistoryBook
from dashboard.tui.polling import BACKOFF_CAP, backoff, describe, is_disconnect, step_interval
from dashboard.tui.screens.audit import describe_change
from dashboard.tui.trend import BLOCKS, level, trend
from dashboard.tui.widgets.bucket_table import COLUMNS, Needs, layout_for, matches, natural, sort_value
from limiter import BucketConfig, RedisUnavailable

TUI = Path(__file__).resolve().parent.parent / "dashboard" / "tui"


def row(user: str, tokens: int, *, max_tokens: int = 10, burst: int = 0, denials: float | None = None) -> BucketRow:
    return BucketRow(user, tokens, BucketConfig(max_tokens=max_tokens, burst=burst), 0, 0, False, None, None, denials)


# --------------------------------------------------------------------------- trend


def test_trend_uses_a_fixed_scale_not_the_data_range() -> None:
    assert trend([10, 10, 10], 10, 3).plain == "███"  # full stays full (Sparkline would draw it flat at the bottom)
    assert trend([0, 0, 0], 10, 3).plain == "▁▁▁"
    assert trend([5, 5], 10, 2).plain == trend([5, 5], 10, 2).plain == "▄▄"
    assert level(9, 10) < level(10, 10) == len(BLOCKS) - 1  # only a full bucket shows a full block


def test_trend_is_right_aligned_and_clipped_to_its_width() -> None:
    assert trend([10], 10, 4).plain == "   █"
    assert trend(list(range(20)), 19, 5).plain == trend(list(range(15, 20)), 19, 5).plain
    assert trend([], 10, 3).plain == "   "


def test_trend_colours_by_fill() -> None:
    text = trend([0, 4, 10], 10, 3, colours=("L", "M", "H"))  # under 20 %, under 50 %, the rest
    assert [str(span.style) for span in text.spans] == ["L", "M", "H"]


# --------------------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.001, "1ms"), (0.25, "250ms"), (1.0, "1s"), (2.5, "2.5s"), (60.0, "1m"), (90.0, "1m30s"), (3600.0, "1h"), (5400.0, "1h30m")],
)
def test_seconds(value: float, shown: str) -> None:
    assert fmt.seconds(value) == shown


def test_refill_and_rates() -> None:
    assert fmt.refill(BucketConfig(max_tokens=10, refill_count=10, refill_interval=1)) == "10/1s"
    assert fmt.refill(BucketConfig(max_tokens=10, refill_count=1, refill_interval=0.1)) == "1/100ms"
    assert fmt.per_second(0.5) == "0.5/s" and fmt.per_second(None) == "–"
    assert [fmt.rate(v) for v in (None, 0, 0.04, 8.77, 78.9, 12_345)] == ["–", "0", "<0.1", "8.8", "79", "12.3k"]
    assert fmt.tokens(999_999) == "999999" and fmt.tokens(12_345_678) == "12.3M"


def test_fill_bar() -> None:
    bar = fmt.fill_bar(0.5, 4, "green")
    assert bar.plain == "██    50%"
    assert fmt.fill_bar(1.0, 4, "g").plain == "████ 100%"
    assert fmt.fill_bar(0.0, 4, "g").plain == "       0%"
    assert fmt.fill_bar(0.07, 4, "g").plain.startswith("▎")


def test_redact_hides_passwords() -> None:
    assert "s3cret" not in fmt.redact("Error connecting to redis://user:s3cret@host:6379/0")
    assert "s3cret" not in fmt.redact("AUTH failed: password=s3cret")
    assert fmt.redact("Error 111 connecting to 127.0.0.1:6379.") == "Error 111 connecting to 127.0.0.1:6379."


# --------------------------------------------------------------------------- forms


def test_bucket_form_reports_every_field_at_once() -> None:
    config, errors = validate_bucket({"max_tokens": "0", "burst": "-1", "refill_count": "2.5", "refill_interval": "0.0001"})
    assert config is None
    assert set(errors) == {"max_tokens", "burst", "refill_count", "refill_interval"}
    assert "at least 1" in errors["max_tokens"] and "whole number" in errors["refill_count"]
    assert "1 ms" in errors["refill_interval"]


def test_bucket_form_whole_form_rule_and_good_values() -> None:
    _, errors = validate_bucket({"max_tokens": str(2**53 - 1), "burst": "5", "refill_count": "1", "refill_interval": "1"})
    assert list(errors) == [""]
    config, errors = validate_bucket({"max_tokens": "1_000", "burst": "0", "refill_count": "5", "refill_interval": "250ms"})
    assert errors == {} and config == BucketConfig(max_tokens=1000, burst=0, refill_count=5, refill_interval=0.25)


@pytest.mark.parametrize(("raw", "seconds"), [("1", 1.0), ("0.5", 0.5), ("250ms", 0.25), ("2 s", 2.0), ("1m", 60.0), ("1h", 3600.0)])
def test_parse_seconds(raw: str, seconds: float) -> None:
    assert parse_seconds(raw) == seconds


def test_changes_lists_only_what_differs() -> None:
    old = BucketConfig(max_tokens=10, burst=0, refill_count=1, refill_interval=1)
    new = BucketConfig(max_tokens=20, burst=0, refill_count=1, refill_interval=0.5)
    assert changes(old, new) == [("max_tokens", "10", "20"), ("refill_interval", "1s", "0.5s")]


def test_load_form() -> None:
    spec, errors = validate_load({"rate": "50", "duration": "2m", "concurrency": "8", "tokens": "2"}, user="u", ceiling=10)
    assert errors == {} and spec == LoadSpec("u", 50.0, 120.0, 8, 2)
    _, errors = validate_load({"rate": "0", "duration": "x", "concurrency": "0", "tokens": "11"}, user="u", ceiling=10)
    assert set(errors) == {"rate", "duration", "concurrency", "tokens"}
    assert "ceiling is 10" in errors["tokens"]
    _, errors = validate_load({"rate": "0.01", "duration": "1", "concurrency": "1", "tokens": "1"}, user="u", ceiling=10)
    assert "less than one request" in errors["rate"]  # the load generator's own rule
    defaults = default_load(150, 10.0)
    assert float(defaults["rate"]) * float(defaults["duration"]) > 150 + 10 * float(defaults["duration"])  # it will deny


# --------------------------------------------------------------------------- polling


def test_interval_steps_and_backoff() -> None:
    assert step_interval(1.0, -1) == 0.5 and step_interval(1.0, +1) == 2.0
    assert step_interval(0.25, -1) == 0.25 and step_interval(60, +1) == 60
    assert step_interval(1.5, -1) == 1.0 and step_interval(1.5, +1) == 2.0
    assert [backoff(n) for n in (1, 2, 3, 4, 5, 6, 50)] == [0.5, 1, 2, 4, 8, BACKOFF_CAP, BACKOFF_CAP]


def test_disconnects_are_told_apart_from_other_failures() -> None:
    from dashboard.core.errors import ReadOnlyError

    assert is_disconnect(RedisUnavailable("down")) and is_disconnect(ConnectionRefusedError())
    assert not is_disconnect(ValueError("bad reply"))
    assert not is_disconnect(ReadOnlyError("configure", "u"))  # a PermissionError, but Redis is fine
    assert describe(TimeoutError()) == "the poll timed out"
    assert describe(RedisUnavailable("Redis unavailable at h:1: refused")) == "Redis unavailable at h:1: refused"


# --------------------------------------------------------------------------- table


def test_layout_fits_80_and_grows_the_trend_then_the_user_column() -> None:
    for width in (76, 100, 109, 110, 118, 156, 200, 300):
        layout = layout_for(width)
        total = sum(layout.widths().values()) + 2 * len(layout.widths()) + 1
        assert total <= max(width, 77), width
    assert layout_for(76).trend >= 6
    assert layout_for(156).trend > layout_for(118).trend
    long_ids = Needs(user=36, tokens=9, refill=6, refill_rate=12)
    assert layout_for(300, long_ids).user > layout_for(156, long_ids).user  # after the trend is full
    assert layout_for(300).user == layout_for(156).user  # never wider than the ids need


def test_layout_gives_the_refill_text_what_it_needs_before_the_trend() -> None:
    needs = Needs(user=14, tokens=9, refill=len("200/100ms"), refill_rate=len("200/100ms 2000/s"))
    for width in (80, 100, 110, 160, 200):
        layout = layout_for(width, needs)
        assert sum(layout.widths().values()) + 2 * len(layout.widths()) + 1 <= width, width
        assert layout.refill >= (needs.refill_rate if layout.refill_rate else needs.refill), width
        assert layout.trend >= 6 and layout.tokens >= needs.tokens
    assert layout_for(160, needs).refill_rate  # wide: the rate per second too


def test_filter_is_a_substring_or_a_glob() -> None:
    assert matches("Checkout-API", "api") and not matches("search", "api")
    assert matches("team-a", "team-*") and not matches("xteam-a", "team-*")
    assert matches("user_7", "user_?") and not matches("user_17", "user_?")
    assert matches("tenant-[eu]", "*[[]eu]*")


def test_sorting_is_natural_and_ties_go_by_user() -> None:
    users = ["user_10", "user_2", "User_1", "b"]
    assert sorted(users, key=natural) == ["b", "User_1", "user_2", "user_10"]
    rows = [row("b", 5), row("a", 5), row("c", 1)]
    ascending = sorted(rows, key=lambda r: sort_value(r, "tokens"))
    descending = sorted(rows, key=lambda r: sort_value(r, "tokens", True))
    assert [r.user for r in ascending] == ["c", "a", "b"]
    assert [r.user for r in descending] == ["a", "b", "c"]  # ties stay a, b in either direction
    unknown = [row("x", 1, denials=None), row("y", 1, denials=3.0)]
    assert [r.user for r in sorted(unknown, key=lambda r: sort_value(r, "denials", True))] == ["y", "x"]


# --------------------------------------------------------------------------- history and audit


def test_history_book_over_the_core_store() -> None:
    book = HistoryBook(length=3)

    def snap(t: int, tokens: int) -> Snapshot:
        return Snapshot(float(t), t * 1_000_000, (row("a", tokens),), (), 0.0, 0.0)

    for t, tokens in enumerate([1, 2, 3, 4]):
        book.record(snap(t, tokens))
    assert book.levels("a", 10) == [2, 3, 4] and book.levels("a", 2) == [3, 4]
    assert book.newest == 3.0
    history = book.get("a")
    assert history.times == [1.0, 2.0, 3.0] and history.ceiling == 10
    assert book.levels("nobody", 5) == []


def test_audit_change_lines() -> None:
    old = {"max_tokens": 10, "burst": 0, "refill_interval": 1.0, "overridden": False}
    new = {"max_tokens": 20, "burst": 0, "refill_interval": 0.5, "overridden": True}
    text = describe_change(AuditEntry("1-0", 0.0, "me", "configure", "u", old, new))
    assert text.plain.splitlines() == ["max_tokens 10 → 20", "refill_interval 1s → 500ms", "overridden no → yes"]
    assert describe_change(AuditEntry("1-0", 0.0, "me", "reset", "u", {"tokens": 3}, {"tokens": 3})).plain == "refilled to max_tokens"
    assert "max_tokens 10 → –" in describe_change(AuditEntry("1-0", 0.0, "me", "delete", "u", old, None)).plain


# --------------------------------------------------------------------------- structure


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_plotting_library_and_no_screen_touches_redis() -> None:
    for path in TUI.rglob("*.py"):
        imports = _imports(path)
        plot = {name for name in imports if name.split(".")[0] in ("plotext", "textual_plotext")}
        assert not plot, path  # the graph draws its own braille (widgets/braille.py)
        if path.name != "polling.py":  # it only classifies redis-py's exception types
            assert not {name for name in imports if name.split(".")[0] == "redis"}, path


def test_status_bar_drops_the_least_important_parts_first() -> None:
    from textual.app import App

    from dashboard.tui.widgets.status_bar import Status, StatusBar

    class Probe(App[None]):
        def compose(self):
            yield StatusBar()

    async def run() -> None:
        app = Probe()
        async with app.run_test(size=(200, 5)):
            bar = app.query_one(StatusBar)
            bar.status = Status(
                info=ConnectionInfo("standalone", "10.0.0.7:6379", "7.2.4"), link="disconnected", paused=True, read_only=True,
                stale_for=75.0, interval=2.0, latency_ms=0.4, poll_seconds=0.012, buckets=120, invalid=2,
            )
            wide = bar.line(200).plain
            for part in ("DISCONNECTED", "STALE 1m15s", "PAUSED", "READ-ONLY", "10.0.0.7:6379", "redis 7.2.4", "120 buckets", "2 invalid", "rtt –", "poll –", "every 2s"):
                assert part in wide, part
            assert "rtt 0.4ms" not in wide and "LIVE" not in wide  # the last figures are not current
            narrow = bar.line(60).plain
            assert len(narrow) <= 60
            assert "DISCONNECTED" in narrow and "PAUSED" in narrow and "redis 7.2.4" not in narrow

    import asyncio

    asyncio.run(run())


# --------------------------------------------------------------------------- app lifecycle (fixed data, no Redis)


async def test_the_app_closes_its_backend_and_tells_poll_failures_apart() -> None:
    from tui_snapshot_app import make_app, warm

    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await warm(pilot, 3)
        assert app.link == "live" and app.dashboard.table.row_count == 6
        app.backend.failure = ValueError("WRONGTYPE Operation against a key holding the wrong kind of value")
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.link == "failing"  # Redis answered: not a disconnect
        assert "POLL FAILED" in str(app.dashboard.banner.content)
        app.backend.failure = None
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.link == "live" and not app.dashboard.banner.has_class("-shown")
    assert app.backend.closed  # aclose() on exit
