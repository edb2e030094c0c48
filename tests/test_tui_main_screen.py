"""The main screen's operator defects of issue 7 §3 (zoom, moving, the key bar, outages, column widths),
driven like a user (Textual `Pilot`) against real Redis servers and the real `RedisBackend`."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis

from dashboard.tui import actions
from dashboard.tui import format as fmt
from dashboard.tui import polling
from dashboard.tui.screens.load import LoadModal
from dashboard.tui.widgets.status_bar import StatusBar
from dashboard.tui.widgets.token_graph import TokenGraph
from limiter import BucketConfig, RedisLimiter
from test_tui_pilot import DEFAULT, SLOW, cell_text, dashboard, limiter, move_to, poll, settle, table  # noqa: F401

USERS = ("alice", "bob", "carol", "dave", "erin")


def screen_lines(app: Any) -> list[str]:
    """The screen as text, as a terminal would show it."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, color_system=None, legacy_windows=False)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text().splitlines()


@pytest.fixture
def five(limiter: RedisLimiter) -> RedisLimiter:
    for user in USERS:
        limiter.try_acquire(user)
    return limiter


# --------------------------------------------------------------------------- 1 and 8: zoom


async def test_zoom_keeps_the_status_bar_and_gives_the_focus_back(redis_url: str, five: RedisLimiter) -> None:
    async with dashboard(redis_url) as (app, pilot):
        t = table(app)
        await move_to(app, pilot, "bob")
        assert app.focused is t
        for leave in ("z", "escape"):
            app.screen.action_zoom_graph()  # the zoom action, whatever key it has
            await pilot.pause()
            graph = app.screen.query_one(TokenGraph)
            assert app.screen.maximized is graph
            status = app.screen.query_one(StatusBar)
            assert status.region.height == 1 and status.region.y == 0  # still on screen, at the top
            assert "LIVE" in screen_lines(app)[0]
            await pilot.press(leave)
            assert app.screen.maximized is None
            assert app.focused is t, leave  # the focus came back to the table
        await pilot.press("down")
        assert t.current_user == "carol"  # arrows work again …
        await pilot.press("l")
        assert isinstance(app.screen, LoadModal) and app.screen.row.user == "carol"  # … and l acts on the row shown


# --------------------------------------------------------------------------- 3: moving in the table


async def test_home_end_g_G_j_k_move_and_the_border_shows_the_row(redis_url: str, five: RedisLimiter) -> None:
    async with dashboard(redis_url) as (app, pilot):
        t = table(app)
        assert t.current_user == "alice" and "1/5" in str(t.border_subtitle)
        for key, user, position in (("end", "erin", "5/5"), ("home", "alice", "1/5"), ("G", "erin", "5/5"),
                                    ("k", "dave", "4/5"), ("g", "alice", "1/5"), ("j", "bob", "2/5")):
            await pilot.press(key)
            assert t.current_user == user, key
            assert str(t.border_subtitle).startswith(position), (key, t.border_subtitle)


def test_help_and_palette_come_from_one_action_table() -> None:
    from dashboard.tui.screens.help import keys_markdown

    text = keys_markdown(read_only=False)
    for action in (*actions.DASHBOARD, *actions.TABLE):
        assert action.title in text, action.name
    keys = [k for a in dict.fromkeys((*actions.DASHBOARD, *actions.APP)) for k in a.keys.split(",")]
    keys += [k for a in actions.TABLE for k in a.keys.split(",") if k not in ("up", "down", "pageup", "pagedown")]
    assert len(keys) == len(set(keys)), "a key bound twice"


# --------------------------------------------------------------------------- 4: the key bar


def test_the_key_bar_has_every_action() -> None:
    listed = {name for entry in actions.KEY_BAR for name in entry.actions}
    assert {a.name for a in (*actions.DASHBOARD, *actions.APP)} - set(actions.SHOWN_ELSEWHERE) <= listed


async def test_the_key_bar_shows_every_key_at_200_columns_and_the_most_important_at_80(redis_url: str, five: RedisLimiter) -> None:
    from dashboard.tui.widgets.key_bar import KeyBar

    everywhere = [e for e in actions.KEY_BAR if not e.preview_only]  # P/D only show on a bucket in preview
    async with dashboard(redis_url, size=(200, 50)) as (app, pilot):
        bottom = screen_lines(app)[-1]
        for entry in everywhere:
            assert f"{entry.key} {entry.label}" in bottom, (entry.key, bottom)
        assert not [e for e in actions.KEY_BAR if e.preview_only and f"{e.key} {e.label}" in bottom]
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        bar = app.screen.query_one(KeyBar)
        bottom = screen_lines(app)[-1]
        shown = bar.shown
        assert shown == [e.key for e in everywhere][: len(shown)] and len(shown) >= 6  # most important first
        assert all(f"{e.key} {e.label}" in bottom for e in everywhere[: len(shown)])

        # On a bucket in preview, P/D joins the bar in its place (it fits at 80 columns).
        five.configure("bob", BucketConfig(max_tokens=2, refill_count=1, refill_interval=SLOW), shadow=True)
        await poll(app, pilot)
        await move_to(app, pilot, "bob")
        shown = bar.shown
        assert shown == [e.key for e in actions.KEY_BAR][: len(shown)] and "P/D" in shown
        assert "P/D Preview" in screen_lines(app)[-1]


async def test_pause_reads_resume_and_the_badge_is_paused_not_live(redis_url: str, five: RedisLimiter) -> None:
    async with dashboard(redis_url, size=(160, 45)) as (app, pilot):
        assert "p Pause" in screen_lines(app)[-1]
        await pilot.press("p")
        await pilot.pause()
        lines = screen_lines(app)
        assert "p Resume" in lines[-1] and "p Pause" not in lines[-1]
        assert "PAUSED" in lines[0] and "LIVE" not in lines[0]
        await pilot.press("p")
        await settle(app, pilot)
        lines = screen_lines(app)
        assert "p Pause" in lines[-1] and "LIVE" in lines[0] and "PAUSED" not in lines[0]


async def test_read_only_key_bar_has_no_writes(redis_url: str, five: RedisLimiter) -> None:
    async with dashboard(redis_url, size=(160, 45), read_only=True) as (app, pilot):
        bottom = screen_lines(app)[-1]
        for label in ("Load", "Edit", "Reset", "Defaults", "Delete"):
            assert label not in bottom
        assert "? Help" in bottom and "p Pause" in bottom


# --------------------------------------------------------------------------- 5: outages


async def test_while_disconnected_no_figure_pretends_to_be_current(redis_factory: Any) -> None:
    server = redis_factory.redis()
    client = server.client()
    RedisLimiter(client, default=DEFAULT).try_acquire("alice")
    # The dashboard's clock stands still, and far from the host's: the age must be counted on it alone
    # (CI once saw "-27s": the age mixed this clock with the poller's time.time() of a slow first poll).
    clock = [time.time() - 3600]
    async with dashboard(server.url, size=(160, 45), clock=lambda: clock[0]) as (app, pilot):
        await poll(app, pilot)
        lines = screen_lines(app)
        assert "rtt " in lines[0] and "rtt –" not in lines[0]
        assert any(line.rstrip(" │").endswith("now") for line in lines)
        server.stop()
        clock[0] += 28  # the data is 28 s old by the dashboard's clock
        await poll(app, pilot)
        assert app.link == "disconnected"
        app._tick()
        app.clear_notifications()  # the toast would hide the graph's corner
        await pilot.pause()
        top = screen_lines(app)[0]
        assert "rtt –" in top and "poll –" in top and "rtt 0" not in top  # unknown, not the last figures
        lines = screen_lines(app)
        x_labels = next(lines[i - 1] for i, line in enumerate(lines) if line.startswith("╰") and "alice max" in line)
        assert x_labels.rstrip(" │").endswith("-28s") and "now" not in x_labels  # the right edge says how old the data is
    client.close()


async def test_a_server_that_is_back_is_noticed_without_r(redis_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Retries back off to 600 s here: only the reconnect probe can bring the dashboard back in time.
    monkeypatch.setattr(polling, "BACKOFF_FIRST", 600.0)
    monkeypatch.setattr(polling, "BACKOFF_CAP", 600.0)
    server = redis_factory.redis()
    client = server.client()
    RedisLimiter(client, default=DEFAULT).try_acquire("alice")
    async with dashboard(server.url) as (app, pilot):
        server.stop()
        await poll(app, pilot)
        assert app.link == "disconnected" and app.retry_at - time.monotonic() > 500
        while app.reconnect.probes < 2:  # it has seen the server refuse
            await pilot.pause(0.2)
        polls = app.polls
        server.restart()
        RedisLimiter(client, default=DEFAULT).try_acquire("bob")
        deadline = time.monotonic() + 30  # far less than the 600 s backoff
        while app.link != "live" and time.monotonic() < deadline:
            await pilot.pause(0.2)
        assert app.link == "live"
        assert app.polls == polls + 1  # one poll, when the probe saw it back: nothing hammered it
        assert table(app).shown_users == ["bob"]
    client.close()


async def test_a_server_that_accepts_but_never_answers_is_not_polled_by_the_probe(redis_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(polling, "BACKOFF_FIRST", 600.0)
    monkeypatch.setattr(polling, "BACKOFF_CAP", 600.0)
    server = redis_factory.redis()
    client = server.client()
    RedisLimiter(client, default=DEFAULT).try_acquire("alice")
    async with dashboard(server.url) as (app, pilot):
        server.pause()  # SIGSTOP: the kernel still accepts connections
        try:
            await poll(app, pilot)
            assert app.link == "disconnected"
            polls = app.polls
            while app.reconnect.probes < 3:
                await pilot.pause(0.2)
            assert app.polls == polls  # probes connected, but nothing was polled
        finally:
            server.resume()
    client.close()


# --------------------------------------------------------------------------- 9: column widths


REAL = {  # config.toml's demo users, and the 200 tokens per 100 ms the issue saw clipped
    "alice": BucketConfig(max_tokens=20, refill_count=5, refill_interval=1.0),
    "bob": BucketConfig(max_tokens=10, burst=10, refill_count=2, refill_interval=1.0),
    "erin": BucketConfig(max_tokens=10, burst=90, refill_count=10, refill_interval=1.0),
    "frank": BucketConfig(max_tokens=30, refill_count=1, refill_interval=10.0),
    "user_123": BucketConfig(max_tokens=100, burst=20, refill_count=50, refill_interval=0.5),
    "batch{nightly}": BucketConfig(max_tokens=50, refill_count=25, refill_interval=30.0),
    "bulk-import": BucketConfig(max_tokens=100, burst=100, refill_count=200, refill_interval=0.1),
}


@pytest.mark.parametrize("width", [80, 100, 110, 160, 200])
async def test_refill_is_never_clipped_and_the_table_fits(width: int, redis_url: str, limiter: RedisLimiter) -> None:
    for user, config in REAL.items():
        limiter.configure(user, config)
    async with dashboard(redis_url, size=(width, 40)) as (app, pilot):
        await pilot.pause()
        t = table(app)
        layout = t._layout
        for user, config in REAL.items():
            await move_to(app, pilot, user)  # rows are rendered when they come on screen
            shown = cell_text(app, user, "refill").strip()
            assert "…" not in shown and shown.startswith(fmt.refill(config)), (width, user, shown)
            if layout.refill_rate:
                assert shown == f"{fmt.refill(config)} {fmt.per_second(config.rate_per_second)}"
        assert sum(layout.widths().values()) + 2 * len(layout.widths()) + 1 <= t.size.width
        assert layout.trend >= 6
