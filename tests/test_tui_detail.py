"""One bucket in detail, and the graph's modes: driven with `Pilot` against a real Redis and the real `RedisBackend`."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from dashboard.tui import format as fmt
from dashboard.tui.app import TbdashApp
from dashboard.tui.graph_modes import GraphMode, percent_of_ceiling
from dashboard.tui.screens.bucket_detail import BucketDetailScreen
from dashboard.tui.widgets.key_bar import KeyBar
from dashboard.tui.widgets.token_graph import TokenGraph
from limiter import BucketConfig, RedisLimiter
from tui_support import DEFAULT, SLOW, dashboard, move_to, poll, screen_text, settle


@pytest.fixture
def limiter(redis_client) -> RedisLimiter:
    """Another client of the same Redis: the services the dashboard watches."""
    return RedisLimiter(redis_client, default=DEFAULT)


async def open_detail(app: TbdashApp, pilot: Pilot, user: str) -> BucketDetailScreen:
    await move_to(app, pilot, user)
    await pilot.press("enter")
    await settle(app, pilot)
    screen = app.screen
    assert isinstance(screen, BucketDetailScreen) and screen.user == user
    return screen


async def test_enter_opens_the_row_under_the_cursor_and_its_fields_equal_peek(redis_url: str, limiter: RedisLimiter) -> None:
    limiter.try_acquire("alice", 3)
    limiter.try_acquire("bob", 1)
    limiter.try_acquire("bob", 10)  # a denial (9 left)
    async with dashboard(redis_url) as (app, pilot):
        screen = await open_detail(app, pilot, "bob")
        peek = limiter.peek("bob")
        row = screen.row
        assert row is not None and peek is not None
        assert (row.tokens, row.config, row.granted, row.denied, row.overridden, row.anchor_us, row.default_changes, row.other_default) == (
            peek.tokens, peek.config, peek.granted, peek.denied, peek.overridden, peek.anchor_us, peek.default_changes, peek.other_default)
        text = screen_text(app)
        assert "bucket bob" in text and "9 / 10" in text and "caller default" in text
        assert "granted          1" in text and "denied           1" in text
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen is app.dashboard and app.state.detail_user is None


async def test_the_audit_entries_are_this_users_only(redis_url: str, limiter: RedisLimiter) -> None:
    limiter.try_acquire("alice")
    limiter.try_acquire("bob")
    async with dashboard(redis_url, size=(160, 45)) as (app, pilot):
        await app.backend.configure("alice", BucketConfig(max_tokens=41, burst=0, refill_count=1, refill_interval=SLOW))
        await app.backend.configure("bob", BucketConfig(max_tokens=77, burst=0, refill_count=1, refill_interval=SLOW))
        await poll(app, pilot)
        screen = await open_detail(app, pilot, "alice")
        assert screen.entries is not None and [e.user for e in screen.entries] == ["alice"]
        app.clear_notifications()  # ("settings changed outside" names bob too)
        await pilot.pause()
        text = screen_text(app)
        assert "→ 41" in text and "→ 77" not in text, text
        assert "operator" in text  # the settings' source


async def test_a_hostile_user_id_is_shown_escaped(redis_url: str, limiter: RedisLimiter) -> None:
    hostile = "evil\x1b[2J\u202e[bold]x"
    limiter.try_acquire(hostile)
    async with dashboard(redis_url, size=(160, 45)) as (app, pilot):
        await app.backend.configure(hostile, BucketConfig(max_tokens=12, burst=0, refill_count=1, refill_interval=SLOW))
        await poll(app, pilot)
        await open_detail(app, pilot, hostile)
        text = screen_text(app)
        assert "\x1b" not in text and "\u202e" not in text
        assert fmt.safe_str(hostile) in text  # escaped, and the markup shown literally


async def test_the_screen_follows_changes_by_another_client_and_says_when_the_bucket_vanished(redis_url: str, limiter: RedisLimiter) -> None:
    limiter.try_acquire("alice")
    async with dashboard(redis_url) as (app, pilot):
        screen = await open_detail(app, pilot, "alice")
        limiter.try_acquire("alice", 4)
        limiter.configure("alice", BucketConfig(max_tokens=30, burst=5, refill_count=1, refill_interval=SLOW))
        await poll(app, pilot)
        peek = limiter.peek("alice")
        assert screen.row is not None and peek is not None
        assert (screen.row.tokens, screen.row.config, screen.row.overridden) == (peek.tokens, peek.config, True)
        assert f"{peek.tokens} / 35" in screen_text(app)
        assert screen.check_action("edit", ()) is True

        limiter.delete("alice")
        await poll(app, pilot)
        assert screen.row is None and screen.gone_since is not None
        text = screen_text(app)
        assert "GONE" in text and f"{peek.tokens} / 35" in text  # the last values seen, marked
        assert screen.check_action("edit", ()) is None and screen.check_action("load", ()) is None


async def test_read_only_has_no_edit_or_load_on_the_detail_screen(redis_url: str, limiter: RedisLimiter) -> None:
    limiter.try_acquire("alice")
    async with dashboard(redis_url, read_only=True) as (app, pilot):
        screen = await open_detail(app, pilot, "alice")
        assert screen.query_one(KeyBar).shown == ["esc", "g", "r", "?"]
        await pilot.press("e", "l")
        await settle(app, pilot)
        assert app.screen is screen


async def test_graph_modes_draw_percent_of_each_ceiling_and_the_rows_rates(redis_url: str, limiter: RedisLimiter) -> None:
    limiter.configure("big", BucketConfig(max_tokens=1000, burst=0, refill_count=1, refill_interval=SLOW))
    limiter.try_acquire("small")
    async with dashboard(redis_url) as (app, pilot):
        await move_to(app, pilot, "big")
        await pilot.press("space")
        await move_to(app, pilot, "small")
        await pilot.press("space")
        rates: dict[str, list[tuple[float | None, float | None]]] = {"big": [], "small": []}
        for n in (1, 3, 2):
            limiter.try_acquire("big", 100 * n)
            limiter.try_acquire("small", n)
            await poll(app, pilot)
            for user in rates:
                row = app.dashboard.table.bucket(user)
                rates[user].append((row.grants_per_s, row.denials_per_s))

        graph = app.dashboard.query_one(TokenGraph)
        await pilot.press("m")
        await settle(app, pilot)
        assert app.state.graph_mode is GraphMode.PERCENT and graph.mode is GraphMode.PERCENT
        assert "% of ceiling" in str(graph.border_title)
        for series in graph.series:
            history = app.history.get(series.user)
            assert percent_of_ceiling(series.tokens, series.ceilings, series.ceiling) == [100 * t / c for t, c in zip(history.tokens, history.ceilings)]
        assert {s.user: percent_of_ceiling(s.tokens, s.ceilings, s.ceiling)[-1] for s in graph.series} == {"big": 40.0, "small": 30.0}  # 400 of 1000, 3 of 10

        await pilot.press("m")
        await settle(app, pilot)
        assert graph.mode is GraphMode.RATES and "requests/s" in str(graph.border_title)
        for series in graph.series:
            assert list(zip(series.grants, series.denials))[-3:] == rates[series.user]
        assert any(g for s in graph.series for g in s.grants)
        await pilot.press("m")
        await settle(app, pilot)
        assert graph.mode is GraphMode.TOKENS


async def test_g_on_the_detail_screen_cycles_the_same_mode(redis_url: str, limiter: RedisLimiter) -> None:
    limiter.try_acquire("alice")
    async with dashboard(redis_url) as (app, pilot):
        screen = await open_detail(app, pilot, "alice")
        await pilot.press("g")
        await settle(app, pilot)
        assert app.state.graph_mode is GraphMode.PERCENT and screen.query_one(TokenGraph).mode is GraphMode.PERCENT
        assert "alice" in app.history.store  # its history is kept while the screen is open
