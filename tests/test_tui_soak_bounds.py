"""What a long-running dashboard holds stays bounded: polls and cursor moves leave nothing behind.

Issue 7 §1: each poll and cursor move rebuilt Textual's Footer, and every new
FooterKey added a data-bind watcher that was never removed (memory and CPU
grew without bound). These tests count what could accumulate — reactive
watchers, widgets alive, history rings, sort keys, the table's drawn lines, timers,
workers — across many polls against a real Redis whose buckets churn, and
across many cursor moves. No timing: `benchmarks/soak.py` measures speed.
"""

from __future__ import annotations

import gc
from typing import Any

import redis
from textual.widget import Widget

from dashboard.tui.app import TbdashApp
from dashboard.tui.widgets.line_table import HEADER
from limiter import RedisLimiter
from test_tui_pilot import DEFAULT, dashboard, limiter, poll, table  # noqa: F401


def watchers(app: TbdashApp) -> int:
    """Reactive watchers registered on every node of every screen (where the Footer leak grew)."""
    total = len(getattr(app, "__watchers", {}))
    for screen in app.screen_stack:
        for node in screen.walk_children(with_self=True):
            total += sum(len(entries) for entries in getattr(node, "__watchers", {}).values())
    return total


def widgets_alive() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, Widget))


def holdings(app: TbdashApp) -> dict[str, int]:
    t = table(app)
    return {
        "watchers": watchers(app),
        "widgets": sum(1 for s in app.screen_stack for _ in s.walk_children(with_self=True)),
        "widgets alive": widgets_alive(),
        "timers": len(app._timers) + sum(len(n._timers) for s in app.screen_stack for n in s.walk_children(with_self=True)),
        "workers": len(app.workers),
    }


def churn(client: redis.Redis, lim: RedisLimiter, round_: int, users: int = 30) -> None:
    """Three buckets appear, three disappear, a few are drained: the count holds."""
    for i in range(3):
        lim.try_acquire(f"new_{round_}_{i}")
        client.delete(f"token_bucket:{{new_{round_ - 2}_{i}}}")
    for i in range(0, users, 7):
        lim.try_acquire(f"user_{i}")


async def test_polls_over_churning_buckets_leave_nothing_behind(redis_url: str, redis_client: redis.Redis, limiter: RedisLimiter) -> None:
    for i in range(30):
        limiter.try_acquire(f"user_{i}")
    async with dashboard(redis_url, size=(160, 45)) as (app, pilot):
        await pilot.press("space")  # one user in the graph
        for r in range(10):  # warm up: caches fill, the trend column fills
            churn(redis_client, limiter, r)
            await poll(app, pilot)
        before = holdings(app)
        for r in range(10, 40):
            churn(redis_client, limiter, r)
            await poll(app, pilot)
            if r % 10 == 0:
                await pilot.press("s")  # another sort: other rows held
        after = holdings(app)
        assert after == before, (before, after)
        t = table(app)
        buckets = len(app.snapshot.buckets)
        assert len(t._picker) == buckets  # sort keys of today's users only, not of every user ever seen
        assert set(app.history.store.users()) <= set(t.shown_users) | set(app.selected)  # no rings for the gone
        # The table's drawn lines: one per user held at most (and the header), a few strips each.
        assert set(t._lines) - {HEADER} <= set(t.shown_users)
        assert all(len(line.strips) <= 4 and len(line.cells) == len(t.column_keys) for line in t._lines.values())


async def test_cursor_moves_leave_nothing_behind(redis_url: str, limiter: RedisLimiter) -> None:
    for i in range(40):
        limiter.try_acquire(f"user_{i}")
    async with dashboard(redis_url, size=(160, 45)) as (app, pilot):
        await pilot.press(*["down"] * 10, *["up"] * 10)
        before = holdings(app)
        for _ in range(3):
            await pilot.press(*["down"] * 15, *["up"] * 15, "end", "home", "space", "space")
        after = holdings(app)
        assert after == before, (before, after)


async def test_a_bucket_count_that_falls_leaves_no_history_or_keys(redis_url: str, redis_client: redis.Redis, limiter: RedisLimiter) -> None:
    for i in range(300):
        limiter.try_acquire(f"user_{i}")
    TbdashApp.max_rows, saved = 100, TbdashApp.max_rows
    try:
        async with dashboard(redis_url, size=(160, 45)) as (app, pilot):
            await poll(app, pilot)
            assert len(table(app)._picker) == 300
            redis_client.delete(*[f"token_bucket:{{user_{i}}}" for i in range(20, 300)])
            await poll(app, pilot)
            await poll(app, pilot)
            t = table(app)
            assert t.row_count == 20 and len(t._picker) == 20
            assert len(app.history.store) <= 20
    finally:
        TbdashApp.max_rows = saved


async def test_a_poll_that_changes_only_figures_lays_nothing_out_again(redis_url: str, limiter: RedisLimiter, monkeypatch) -> None:
    """A poll repaints the widgets that changed; it never re-lays out the screen when no row came or went.

    The connection banner's ``update("")`` after every good poll did: a full
    layout and repaint of every widget per poll (most of the idle CPU at 13 buckets).
    """
    from textual.screen import Screen

    for i in range(12):
        limiter.try_acquire(f"user_{i}")
    layouts: list[str] = []
    original = Widget.refresh

    def counting(self: Widget, *regions: Any, layout: bool = False, **kwargs: Any) -> Any:
        if layout and not isinstance(self, Screen):
            layouts.append(type(self).__name__)
        return original(self, *regions, layout=layout, **kwargs)

    async with dashboard(redis_url, size=(160, 45)) as (app, pilot):
        await pilot.press("space")  # one user in the graph too
        for _ in range(3):
            await poll(app, pilot)
        monkeypatch.setattr(Widget, "refresh", counting)
        for r in range(6):
            limiter.try_acquire(f"user_{r}")  # figures change, no bucket comes or goes
            await poll(app, pilot)
        assert layouts == [], layouts


async def test_screens_opened_and_closed_leave_no_render_caches_behind(redis_url: str, limiter: RedisLimiter) -> None:
    # Textual 8's `StylesCache.get_inner_outer` is an lru_cache(1024) on an instance method: it kept the
    # styles cache (and every line it had rendered) of up to 1,024 widgets long gone, screens and all
    # (Textualize/textual#6665). Seen in the soak: the detail screen opened 100 times, +40 MB, then flat.
    from textual._styles_cache import StylesCache

    for user in ("alice", "bob"):
        limiter.try_acquire(user)

    def caches() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, StylesCache))

    async with dashboard(redis_url, size=(160, 45)) as (app, pilot):
        for key in ("enter", "question_mark", "a", "e", "l"):  # each screen once: what stays is the live widgets'
            await pilot.press(key)
            await app.workers.wait_for_complete()
            await pilot.pause()
            await pilot.press("escape")
            await pilot.pause()
        before = caches()
        for _ in range(10):
            for key in ("enter", "question_mark", "a", "e", "l"):
                await pilot.press(key)
                await app.workers.wait_for_complete()
                await pilot.pause()
                assert len(app.screen_stack) == 2, key  # the screen opened (and drew)
                await pilot.press("escape")
                await pilot.pause()
                assert len(app.screen_stack) == 1, key
        after = caches()
        assert after - before <= 5, f"{after - before} styles caches of closed screens are still held"
