"""Issue 11 in the dashboard: window columns, top throttled, thresholds, exports, copy, sort keys,
help search, the theme saved. Driven like a user (Textual `Pilot`) against real Redis and the real
`RedisBackend`; the counts are checked against denials caused here with `RedisLimiter`."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
import redis

from dashboard.core.thresholds import Thresholds
from dashboard.core.untrusted import shown
from dashboard.core.windows import WindowStore
from dashboard.settings import load_settings
from dashboard.settings.saving import save_setting
from dashboard.tui.screens.dashboard_look import table_titles
from dashboard.tui.screens.help import HelpScreen
from dashboard.tui.widgets.status_bar import StatusBar
from limiter import RedisLimiter
from test_tui_pilot import DEFAULT, cell_text, dashboard, limiter, move_to, poll, table  # noqa: F401

WIDE = (160, 45)  # every window column and the deny ratio
HOSTILE = ("evil\x1b[31mred", "=HYPERLINK(1)", "rtl\u202eevil", "[bold]markup")


def deny(limiter: RedisLimiter, user: str, times: int) -> None:
    """Spend ``user``'s tokens, then ``times`` denials (DEFAULT refills once an hour: nothing comes back)."""
    while limiter.try_acquire(user).allowed:
        pass
    for _ in range(times - 1):
        assert not limiter.try_acquire(user).allowed


def notes(app: Any) -> list[str]:
    return [n.message for n in app._notifications]


@pytest.fixture
def seeded(limiter: RedisLimiter) -> RedisLimiter:
    for user in ("hot", "warm", "cold", "idle"):
        limiter.try_acquire(user)
    return limiter


async def test_window_columns_count_the_denials_caused_since_the_first_poll(redis_url: str, seeded: RedisLimiter) -> None:
    deny(seeded, "cold", 3)  # before the dashboard: in the counters, never in a window
    async with dashboard(redis_url, size=WIDE) as (app, pilot):
        mine = WindowStore()  # fed the same snapshots as the app's
        mine.feed(app.snapshot)
        deny(seeded, "hot", 7)
        deny(seeded, "warm", 2)
        await poll(app, pilot)
        mine.feed(app.snapshot)
        for user, denied in (("hot", 7), ("warm", 2), ("cold", 0)):
            for column, window in (("w60", 60.0), ("w300", 300.0), ("w3600", 3600.0)):
                count = mine.count(user, window)
                assert count is not None and count.denied == denied and count.partial  # the history is seconds old
                assert cell_text(app, user, column).strip() == f"~{denied}"  # partial: marked
            granted = mine.count(user, 60.0).granted
            assert cell_text(app, user, "ratio").strip() == (f"~{denied * 100 / (denied + granted):.0f}%" if denied + granted else "–")
        assert table(app).bucket("cold").denied == 3  # the counter has them; no window invents them


async def test_a_narrow_table_shows_the_chosen_window_and_w_cycles_it(redis_url: str, seeded: RedisLimiter) -> None:
    async with dashboard(redis_url, size=(80, 24)) as (app, pilot):
        t = table(app)
        assert list(t.column_keys) == ["user", "tokens", "fill", "refill", "grants", "denials", "trend", "cfg"]  # as before
        await pilot.press("w")
        assert t.window == "w300" and "window 5m (w)" in table_titles(t)[1].plain
        await pilot.press("8")  # sorted by deny 5m: its column shows, with the ratio, in the trend's place
        assert list(t.column_keys) == ["user", "tokens", "fill", "refill", "grants", "denials", "w300", "ratio", "cfg"]
        await pilot.press("w", "w")
        assert t.window == "w60" and t.sort_spec.column == "w60"
        await pilot.press("1")
        assert "w60" not in list(t.column_keys)
        await pilot.resize_terminal(100, 30)  # room for the chosen window's column beside the trend
        await pilot.pause()
        assert list(t.column_keys) == ["user", "tokens", "fill", "refill", "grants", "denials", "w60", "trend", "cfg"]


async def test_top_throttled_orders_by_denials_in_the_window_with_the_ratio(redis_url: str, seeded: RedisLimiter) -> None:
    async with dashboard(redis_url, size=(80, 24)) as (app, pilot):
        deny(seeded, "warm", 3)
        deny(seeded, "hot", 9)
        deny(seeded, "cold", 1)
        await poll(app, pilot)
        await pilot.press("t")
        t = table(app)
        assert t.top and t.shown_users == ["hot", "warm", "cold"]  # idle denied nothing: not listed
        assert "ratio" in list(t.column_keys)  # the narrow table gives up the trend for the ratio
        count = app.state.windows.count("hot", 60.0)
        assert cell_text(app, "hot", "ratio").strip() == f"~{count.denied * 100 / count.requests:.0f}%"
        assert "top throttled over 1m: 3 denied" in table_titles(t)[0].plain
        await pilot.press("t")
        assert not t.top and len(t.shown_users) == 4 and t.sort_spec.column == "user"  # the sort from before


async def test_thresholds_mark_rows_count_alerts_and_say_why(redis_url: str, seeded: RedisLimiter) -> None:
    thresholds = Thresholds(deny_ratio=0.5, deny_window=60.0, deny_min_requests=5, empty_for=0)
    async with dashboard(redis_url, size=WIDE, thresholds=thresholds) as (app, pilot):
        deny(seeded, "hot", 20)  # 9 granted, 20 denied since the first poll: 69 %
        deny(seeded, "warm", 2)  # 9 of 11 granted: under the ratio
        await poll(app, pilot)
        assert set(app.state.alerts) == {"hot"}
        assert cell_text(app, "hot", "user").startswith(" !hot") and cell_text(app, "warm", "user").startswith("  warm")
        status = app.screen.query_one(StatusBar)
        assert "! 1 alert" in status.line(160).plain
        await move_to(app, pilot, "hot")
        details = app.screen._details(table(app).bucket("hot")).plain
        assert "! denied 20 of 29 requests (69% >= 50%)" in details


async def test_exports_carry_the_window_counts_and_alerts_the_table_shows(redis_url: str, seeded: RedisLimiter, tmp_path: Path) -> None:
    thresholds = Thresholds(deny_ratio=0.5, deny_window=60.0, deny_min_requests=5, empty_for=0)
    async with dashboard(redis_url, size=WIDE, thresholds=thresholds, export_dir=str(tmp_path)) as (app, pilot):
        deny(seeded, "hot", 20)
        deny(seeded, "warm", 2)
        await poll(app, pilot)
        hot = app.state.windows.count("hot", 60.0)
        assert hot is not None and hot.denied == 20
        await pilot.press("o", "O")
        await app.workers.wait_for_complete()
        await pilot.pause()
        (csv_file,) = tmp_path.glob("tbdash-buckets-*.csv")
        (json_file,) = tmp_path.glob("tbdash-buckets-*.json")
        by_user = {r["user"]: r for r in csv.DictReader(io.StringIO(csv_file.read_text(encoding="utf-8")))}
        assert by_user["hot"]["window_1m.denied"] == "20" and by_user["hot"]["window_1m.granted"] == str(hot.granted)
        assert by_user["hot"]["window_1m.partial"] == "true"  # the dashboard has watched for seconds, not a minute
        assert by_user["hot"]["alert"].startswith("denied 20 of 29 requests") and by_user["warm"]["alert"] == ""
        records = {b["user"]: b for b in json.loads(json_file.read_text(encoding="ascii"))["buckets"]}
        window = records["hot"]["window_1h"]
        assert window["denied"] == 20 and window["partial"] is True and 0 <= window["span_s"] < 3600
        assert window["deny_ratio"] == round(20 / hot.requests, 4)
        assert records["warm"]["alert"] is None and records["warm"]["window_1m"]["denied"] == 2


async def test_exports_hold_every_filtered_row_with_hostile_ids_escaped(redis_url: str, limiter: RedisLimiter, tmp_path: Path) -> None:
    users = [f"e-{i}" for i in range(6)] + list(HOSTILE) + ["other"]
    for user in users:
        limiter.try_acquire(user)
    async with dashboard(redis_url, export_dir=str(tmp_path)) as (app, pilot):
        app.screen.table.max_rows = 3  # the table holds 3; the export must have all that match
        await pilot.press("slash", "e", "enter")
        await poll(app, pilot)
        matching = [u for u in users if "e" in u.casefold()]
        assert len(table(app).shown_users) <= 4 < len(matching)
        await pilot.press("o", "O")
        await app.workers.wait_for_complete()
        await pilot.pause()
        csv_file, = tmp_path.glob("tbdash-buckets-*.csv")
        json_file, = tmp_path.glob("tbdash-buckets-*.json")
        assert any(str(csv_file) in n for n in notes(app)) and any(str(json_file) in n for n in notes(app))
        text = csv_file.read_text(encoding="utf-8")
        assert "\x1b" not in text and "\u202e" not in text
        records = list(csv.DictReader(io.StringIO(text)))
        back = []
        for record in records:
            if record["user_base64"]:
                back.append(base64.b64decode(record["user_base64"]).decode())
            else:  # the formula guard (README, CSV exports): a leading ' before = + - @
                user = record["user"]
                back.append(user[1:] if user[:1] == "'" and user[1:2] in "=+-@" else user)
        assert sorted(back) == sorted(matching)
        formula = next(r for r in records if "HYPERLINK" in r["user"])
        assert formula["user"].startswith("'=")  # never a formula in a spreadsheet
        document = json.loads(json_file.read_text(encoding="ascii"))
        assert sorted(b["user"] for b in document["buckets"]) == sorted(matching)
        assert document["filter"] == "e" and document["window_s"] == 60.0


async def test_an_export_never_replaces_a_file(redis_url: str, seeded: RedisLimiter, tmp_path: Path) -> None:
    async with dashboard(redis_url, export_dir=str(tmp_path)) as (app, pilot):
        for _ in range(3):
            await pilot.press("o")
            await app.workers.wait_for_complete()
        assert len(list(tmp_path.glob("tbdash-buckets-*.csv"))) == 3


async def test_screenshot_writes_an_svg_file(redis_url: str, seeded: RedisLimiter, tmp_path: Path) -> None:
    async with dashboard(redis_url, export_dir=str(tmp_path)) as (app, pilot):
        await pilot.press("i")
        await app.workers.wait_for_complete()
        await pilot.pause()
        svg, = tmp_path.glob("tbdash-screen-*.svg")
        text = svg.read_text(encoding="utf-8")
        assert text.lstrip().startswith("<svg") and "hot" in text
        assert any(str(svg) in n for n in notes(app))


async def test_copy_puts_the_exact_id_on_the_clipboard_and_shows_it_escaped(redis_url: str, limiter: RedisLimiter) -> None:
    user = HOSTILE[0]
    limiter.try_acquire(user)
    async with dashboard(redis_url) as (app, pilot):
        written: list[str] = []
        driver = app._driver
        original = driver.write
        driver.write = lambda data: (written.append(data), original(data))[1]  # what the terminal gets
        await move_to(app, pilot, user)
        await pilot.press("y")
        assert app.clipboard == user
        osc = f"\x1b]52;c;{base64.b64encode(user.encode()).decode()}\a"
        assert osc in written
        note = next(n for n in notes(app) if n.startswith("Copied"))
        assert shown(user) in note and "\x1b" not in note


async def test_number_keys_sort_straight_to_a_column_and_again_reverse(redis_url: str, seeded: RedisLimiter) -> None:
    async with dashboard(redis_url, size=(80, 24)) as (app, pilot):
        deny(seeded, "hot", 4)
        await poll(app, pilot)
        t = table(app)
        await pilot.press("2")
        assert (t.sort_spec.column, t.sort_spec.descending) == ("tokens", False)
        assert t.shown_users[0] == "hot"  # emptiest first
        await pilot.press("2")
        assert t.sort_spec.descending
        await pilot.press("8")  # deny 5m: not shown on a narrow table, so it becomes the chosen window
        assert t.sort_spec.column == "w300" and t.window == "w300" and t.shown_users[0] == "hot"
        await pilot.press("1")
        assert t.sort_spec.column == "user"


async def test_help_search_keeps_the_matching_lines(redis_url: str, seeded: RedisLimiter) -> None:
    async with dashboard(redis_url) as (app, pilot):
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("slash", *"throttled")
        await pilot.pause()
        shown_text = str(app.screen.query_one("#help-text").content.markup)
        assert "Top throttled" in shown_text and "Pause" not in shown_text
        await pilot.press("escape")  # clears the search first
        assert isinstance(app.screen, HelpScreen) and app.screen.query_one("#help-search").value == ""
        await pilot.press("slash", *"window")  # / searches again: it is not typed into the query
        assert app.screen.query_one("#help-search").value == "window"
        await pilot.press("escape", "escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_the_chosen_theme_is_saved_to_the_config_and_comes_back(redis_url: str, seeded: RedisLimiter, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('# my settings\n[dashboard]\npoll_interval = 2.0  # slow\n\n[limiter]\nprefix = "token_bucket"\n')
    save = lambda name: save_setting(config, "dashboard", "theme", name)  # noqa: E731 (as tbdash's CLI builds it)
    async with dashboard(redis_url, save_theme=save) as (app, pilot):
        assert app.theme != "textual-light"
        app.theme = "textual-light"
        await pilot.pause()
        assert any("saved to" in n for n in notes(app))
    text = config.read_text()
    assert "# my settings" in text and "poll_interval = 2.0  # slow" in text and 'theme = "textual-light"' in text
    settings = load_settings(config)
    assert settings.dashboard.theme == "textual-light" and settings.dashboard.poll_interval == 2.0
    async with dashboard(redis_url, theme=settings.dashboard.theme, save_theme=save) as (app, pilot):
        assert app.theme == "textual-light"
    assert config.read_text() == text  # loading it wrote nothing


async def test_the_theme_goes_to_the_users_config_when_none_is_in_use(redis_url: str, seeded: RedisLimiter) -> None:
    from dashboard.settings.saving import user_config_file

    target = user_config_file()
    assert str(target).startswith(str(Path.home()))  # the test's own HOME (tests/conftest.py isolates it)
    async with dashboard(redis_url, save_theme=lambda name: save_setting(target, "dashboard", "theme", name)) as (app, pilot):
        app.theme = "nord"
        await pilot.pause()
    assert load_settings(target).dashboard.theme == "nord"


async def test_an_unknown_theme_is_said_not_fatal(redis_url: str, seeded: RedisLimiter) -> None:
    async with dashboard(redis_url, theme="no-such-theme") as (app, pilot):
        assert any("Unknown theme no-such-theme" in n for n in notes(app))


async def test_exports_and_copy_stay_in_read_only_mode(redis_url: str, seeded: RedisLimiter, tmp_path: Path) -> None:
    async with dashboard(redis_url, read_only=True, export_dir=str(tmp_path)) as (app, pilot):
        for name in ("export_csv", "export_json", "screenshot", "copy_user", "top_throttled", "next_window", "sort_column"):
            assert app.state.permits(name)
        await pilot.press("o")
        await app.workers.wait_for_complete()
        assert list(tmp_path.glob("*.csv"))
