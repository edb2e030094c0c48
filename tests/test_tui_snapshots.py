"""SVG snapshots of the dashboard's screens on fixed data (tests/tui_snapshot_app.py).

Update the baselines with ``pytest tests/test_tui_snapshots.py --snapshot-update``
only after looking at the report of the failing comparison.
"""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Input

from limiter.errors import RedisUnavailable
from tui_snapshot_app import make_app, still, warm

SMALL = (80, 24)
LARGE = (160, 45)


def test_main_screen_80x24(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await warm(pilot)
        await still(pilot)

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=run_before)


def test_main_screen_160x45_with_two_users_graphed(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await warm(pilot, 60)
        await pilot.press("down", "space", "down", "space", "s")  # checkout-api and mobile-app; sort by tokens
        await still(pilot)

    assert snap_compare(make_app(), terminal_size=LARGE, run_before=run_before)


def test_main_screen_read_only_filtered(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await warm(pilot)
        await pilot.press("slash", *"*-*", "enter")
        await still(pilot)

    assert snap_compare(make_app(read_only=True), terminal_size=SMALL, run_before=run_before)


def test_disconnected_keeps_stale_data(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await warm(pilot)
        app = pilot.app
        app.backend.failure = RedisUnavailable("Redis unavailable at 127.0.0.1:6379: Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        app.backend.frame += 12  # the frozen clock moves on: the data is 12 s old
        await pilot.press("r")
        await still(pilot)
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=run_before)


def test_edit_form_with_an_inline_error(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await warm(pilot)
        await pilot.press("down", "e")
        await pilot.pause()
        pilot.app.screen.query_one("#max_tokens", Input).value = "120"
        pilot.app.screen.query_one("#refill_count", Input).value = "0"
        await still(pilot)

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=run_before)


def test_edit_confirmation_shows_old_and_new(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await warm(pilot)
        await pilot.press("down", "e")
        await pilot.pause()
        pilot.app.screen.query_one("#max_tokens", Input).value = "120"
        pilot.app.screen.query_one("#refill_interval", Input).value = "500ms"
        await pilot.press("ctrl+s")
        await still(pilot)

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=run_before)


def test_load_form(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await warm(pilot)
        await pilot.press("down", "l")
        await still(pilot)

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=run_before)


def test_load_report(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await warm(pilot)
        await pilot.press("down", "l", "ctrl+s")
        await still(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=run_before)


def test_help_screen_80x24(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await warm(pilot, 2)
        await pilot.press("question_mark")
        await still(pilot)

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=run_before)


# Issue 10: buckets in preview (checkout-api and mobile-app have tighter / looser shadow settings).


def test_preview_main_screen_80x24(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await warm(pilot, 60)
        await pilot.press("down")  # checkout-api: the ◐ mark, the details line, the dashed shadow line
        await still(pilot)

    assert snap_compare(make_app(previews=True), terminal_size=SMALL, run_before=run_before)


def test_preview_main_screen_160x45_with_two_previews_graphed(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await warm(pilot, 60)
        await pilot.press("down", "space", "down", "space")  # checkout-api and mobile-app (its preview's ceiling is the axis)
        await still(pilot)

    assert snap_compare(make_app(previews=True), terminal_size=LARGE, run_before=run_before)


def test_promote_confirmation_shows_enforced_and_preview_settings(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await warm(pilot, 60)
        await pilot.press("down", "P")
        await still(pilot)

    assert snap_compare(make_app(previews=True), terminal_size=SMALL, run_before=run_before)


# --------------------------------------------------------------------------- one bucket in detail, graph modes


def _utc(monkeypatch) -> None:
    import time

    monkeypatch.setenv("TZ", "UTC")  # the audit entries' times
    time.tzset()


def test_detail_screen_160x45(snap_compare, monkeypatch) -> None:
    _utc(monkeypatch)

    async def run_before(pilot: Pilot) -> None:
        await warm(pilot, 60)
        await pilot.press("down", "enter")  # checkout-api: operator settings, an audit entry
        await still(pilot)

    assert snap_compare(make_app(), terminal_size=LARGE, run_before=run_before)


def test_detail_screen_80x24(snap_compare, monkeypatch) -> None:
    _utc(monkeypatch)

    async def run_before(pilot: Pilot) -> None:
        await warm(pilot)
        await pilot.press("enter")  # batch-export (first by user): always throttled
        await still(pilot)

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=run_before)


def test_detail_screen_rates_80x24(snap_compare, monkeypatch) -> None:
    _utc(monkeypatch)

    async def run_before(pilot: Pilot) -> None:
        await warm(pilot)
        await pilot.press("enter", "g", "g")  # batch-export's grants and denials per second
        await still(pilot)

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=run_before)


def test_graph_percent_of_ceiling_160x45(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await warm(pilot, 60)
        await pilot.press("space", "down", "down", "space", "down", "space", "m")  # ceilings 150, 10 and 400 on one axis
        await still(pilot)

    assert snap_compare(make_app(), terminal_size=LARGE, run_before=run_before)


def test_graph_rates_160x45(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await warm(pilot, 60)
        await pilot.press("space", "down", "down", "space", "m", "m")
        await still(pilot)

    assert snap_compare(make_app(), terminal_size=LARGE, run_before=run_before)


def test_graph_percent_of_ceiling_80x24(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await warm(pilot)
        await pilot.press("space", "down", "down", "space", "m")
        await still(pilot)

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=run_before)


def test_graph_rates_80x24(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await warm(pilot)
        await pilot.press("down", "down", "m", "m")
        await still(pilot)

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=run_before)


# --------------------------------------------------------------------------- issue 11: windows, top throttled, alerts, help search


def test_top_throttled_80x24(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await warm(pilot)
        await pilot.press("t")  # batch-export: the one that denies (and crosses the deny-ratio threshold)
        await still(pilot)

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=run_before)


def test_windows_and_top_throttled_over_5m_160x45(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await warm(pilot, 60)
        await pilot.press("t", "w")
        await still(pilot)

    assert snap_compare(make_app(), terminal_size=LARGE, run_before=run_before)


def test_help_searched_80x24(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await warm(pilot)
        await pilot.press("question_mark", "slash", *"window")
        await still(pilot)

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=run_before)
