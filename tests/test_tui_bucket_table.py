"""The bucket table on its line-API widget, driven by real polls of a real Redis (Textual `Pilot`).

Issue 7: a poll's UI work must follow the rows on screen and the rows that
changed. These tests count what a poll renders and repaints (no timing).
"""

from __future__ import annotations

from typing import Any

import redis
from textual.geometry import Region

from dashboard.tui.app import TbdashApp
from dashboard.tui.screens.bucket_detail import BucketDetailScreen
from dashboard.tui.widgets.bucket_table import BucketTable
from limiter import RedisLimiter
from test_tui_pilot import dashboard, limiter, poll, table  # noqa: F401
from tui_support import repaints, screen_text


async def settled(app: Any, pilot: Any, t: BucketTable, monkeypatch: Any) -> None:
    """Poll until a poll repaints nothing (the trend column fills one block per poll first)."""
    for _ in range(80):
        with monkeypatch.context() as m:
            seen = repaints(t, m)
            await poll(app, pilot)
        if not seen:
            return
    raise AssertionError("the table never stopped repainting")


async def test_a_poll_that_changes_one_bucket_repaints_its_line_only(redis_url: str, limiter: RedisLimiter, monkeypatch: Any) -> None:
    for i in range(12):
        limiter.try_acquire(f"user_{i:02}")
    async with dashboard(redis_url, size=(80, 24)) as (app, pilot):
        t = table(app)
        await settled(app, pilot, t, monkeypatch)
        position = t.row_index("user_03")
        strips = {user: t._lines[user].strips.get(0) for user in t.shown_users[1:8]}  # drawn lines off the cursor
        seen = repaints(t, monkeypatch)
        limiter.try_acquire("user_03", 4)
        await poll(app, pilot)
        assert seen == [Region(0, position + 1 - int(t.scroll_y), t.size.width, 1)]  # its line, under the header
        assert "5/10" in t.cell("user_03", "tokens").plain
        await pilot.pause()
        for user, strip in strips.items():
            if user != "user_03":
                assert t._lines[user].strips.get(0) is strip, user  # the other lines were not drawn again


async def test_a_poll_renders_the_rows_on_screen_not_every_row_held(redis_url: str, redis_client: redis.Redis, limiter: RedisLimiter) -> None:
    for i in range(300):
        limiter.try_acquire(f"user_{i:03}")
    async with dashboard(redis_url, size=(120, 40)) as (app, pilot):
        t = table(app)
        assert t.row_count == 300
        page = t.scrollable_content_region.height - 1
        before = t.rendered
        redis_client.delete("token_bucket:{user_000}")  # every row moves up one
        await poll(app, pilot)
        assert 0 < t.rendered - before <= page + 1
        assert t.shown_users[0] == "user_001" and t.current_user == "user_001"
        before = t.rendered
        await pilot.press("end")
        assert t.current_user == "user_299" and t.rendered - before <= page + 1


async def test_a_click_moves_the_cursor_and_a_second_click_opens_the_bucket(redis_url: str, limiter: RedisLimiter) -> None:
    for user in ("alice", "bob", "carol"):
        limiter.try_acquire(user)
    async with dashboard(redis_url, size=(120, 40)) as (app, pilot):
        t = table(app)
        row = (t.content_region.x - t.region.x + 4, t.content_region.y - t.region.y + 1 + 2)  # the third row
        await pilot.click(BucketTable, offset=row)
        assert t.current_user == "carol" and "3/3" in str(t.border_subtitle)  # the screen heard the move
        await pilot.click(BucketTable, offset=row)
        await pilot.pause()
        assert isinstance(app.screen, BucketDetailScreen) and app.screen.user == "carol"


async def test_a_resize_after_scrolling_keeps_the_cursor_and_its_row_in_view(redis_url: str, limiter: RedisLimiter) -> None:
    """The DataTable version crashed here (seen in tmux): the new layout cleared the rows, the scroll
    went back, and the scroll handler updated cells that were gone (CellDoesNotExist)."""
    for i in range(300):
        limiter.try_acquire(f"user_{i:03}")
    async with dashboard(redis_url, size=(80, 24)) as (app, pilot):
        t = table(app)
        await pilot.press("down", "down", "pagedown")
        user = t.current_user
        assert user is not None and t.scroll_y > 0
        await pilot.resize_terminal(160, 45)
        await pilot.pause()
        await poll(app, pilot)
        assert t.current_user == user and "w3600" in t.column_keys  # laid out for 160 columns
        assert int(t.scroll_y) <= t.cursor_row < int(t.scroll_y) + t.scrollable_content_region.height - 1
        await pilot.press("j", "j", "k", "G")
        await poll(app, pilot)
        assert app.is_running and t.current_user == "user_299"


async def test_a_new_count_in_the_title_repaints_the_border_line_only(redis_url: str, limiter: RedisLimiter, monkeypatch: Any) -> None:
    """Textual's title setter repaints the whole widget: with the count of matching buckets in the title, every
    poll of a churning prefix repainted every line."""
    for i in range(30):
        limiter.try_acquire(f"user_{i:02}")
    monkeypatch.setattr(TbdashApp, "max_rows", 20)
    async with dashboard(redis_url, size=(80, 24)) as (app, pilot):
        t = table(app)
        await settled(app, pilot, t, monkeypatch)
        assert "first 20 of 30" in screen_text(app)
        seen = repaints(t, monkeypatch)
        limiter.try_acquire("zz_new")  # sorts after the rows held: only the count changes
        await poll(app, pilot)
        assert seen == [Region(-1, -1, t.outer_size.width, 1)]  # the top border, in content coordinates
        assert "first 20 of 31" in screen_text(app)
