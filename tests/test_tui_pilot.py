"""The dashboard driven like a user (Textual `Pilot`) against real Redis servers and the real `RedisBackend`.

Polls are triggered with the ``r`` key and awaited (`settle`): no test sleeps
and then hopes. The poll interval is long, so the only polls are the ones a
test asks for (and the first one, on start).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis
from textual.pilot import Pilot
from textual.widgets import Button, Input

from dashboard.core.backend import RedisBackend
from dashboard.tui.app import TbdashApp
from dashboard.tui.screens.confirm import ConfirmModal
from dashboard.tui.screens.edit import EditBucketModal
from dashboard.tui.screens.load import LoadModal
from dashboard.tui.widgets.banner import ConnectionBanner
from dashboard.tui.widgets.bucket_table import BucketTable
from dashboard.tui.widgets.line_table import HEADER
from dashboard.tui.widgets.invalid_keys import InvalidKeys
from dashboard.tui.widgets.status_bar import StatusBar
from dashboard.tui.widgets.token_graph import TokenGraph
from limiter import BucketConfig, RedisLimiter
from tui_support import backend_for as _backend  # (the same backend: one place for its timeouts)

SLOW = 3600.0  # a refill interval no test outlives: levels stay exactly where a test put them
DEFAULT = BucketConfig(max_tokens=10, burst=0, refill_count=1, refill_interval=SLOW)
MUTATING_KEYS = {"l", "e", "x", "d", "u"}


@asynccontextmanager
async def dashboard(url: str, *, size: tuple[int, int] = (120, 40), **kwargs: Any) -> AsyncIterator[tuple[TbdashApp, Pilot]]:
    """The app on a fresh `RedisBackend`, after its first poll."""
    read_only_backend = kwargs.pop("backend_read_only", False)
    app = TbdashApp(_backend(url, read_only=read_only_backend), poll_interval=SLOW, **kwargs)
    async with app.run_test(size=size, notifications=True) as pilot:
        await settle(app, pilot)
        yield app, pilot


async def settle(app: TbdashApp, pilot: Pilot) -> None:
    """Wait for every worker (polls, writes, loads) and for the messages they posted."""
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


async def poll(app: TbdashApp, pilot: Pilot) -> None:
    before = app.polls
    await pilot.press("r")
    await settle(app, pilot)
    assert app.polls > before


def plain(widget: Any) -> str:
    """What a Static shows, as plain text (Rich renderables included)."""
    from rich.console import Console

    console = Console(width=200, record=True, file=open("/dev/null", "w"))
    console.print(widget.content)
    return console.export_text().strip()


def table(app: TbdashApp) -> BucketTable:
    assert app.dashboard is not None
    return app.dashboard.query_one(BucketTable)


def cell_text(app: TbdashApp, user: str, column: str) -> str:
    return table(app).cell(user, column).plain


async def move_to(app: TbdashApp, pilot: Pilot, user: str) -> None:
    t = table(app)
    t.move_cursor(row=t.row_index(user))
    await pilot.pause()
    assert t.current_user == user


async def type_into(pilot: Pilot, screen: Any, field: str, text: str) -> None:
    box = screen.query_one(f"#{field}", Input)
    box.value = text
    await pilot.pause()


@pytest.fixture
def limiter(redis_client: redis.Redis) -> RedisLimiter:
    """Another client of the same Redis: what production services do while the dashboard watches."""
    return RedisLimiter(redis_client, default=DEFAULT)


def bucket_fields(redis_client: redis.Redis, user: str) -> dict[bytes, bytes]:
    return redis_client.hgetall(f"token_bucket:{{{user}}}")


# --------------------------------------------------------------------------- reading


async def test_rows_show_the_tokens_redis_has(redis_url: str, limiter: RedisLimiter) -> None:
    limiter.configure("alice", BucketConfig(max_tokens=10, burst=5, refill_count=2, refill_interval=SLOW))
    for _ in range(3):  # a new bucket starts with max_tokens (10), not the ceiling
        assert limiter.try_acquire("alice")
    limiter.try_acquire("bob", 3)

    async with dashboard(redis_url) as (app, pilot):
        t = table(app)
        assert t.row_count == 2
        assert t.bucket("alice").tokens == limiter.peek("alice").tokens == 7
        assert cell_text(app, "alice", "tokens").strip() == "7/15"
        assert cell_text(app, "bob", "tokens").strip() == "7/10"
        assert cell_text(app, "alice", "cfg").strip() == "op"
        assert cell_text(app, "bob", "cfg").strip() == "–"
        assert "47%" in cell_text(app, "alice", "fill")
        assert app.link == "live"
        status = app.screen.query_one(StatusBar).status
        assert status.buckets == 2 and status.link == "live"


async def test_a_change_by_another_client_shows_after_the_next_poll(redis_url: str, limiter: RedisLimiter) -> None:
    limiter.try_acquire("alice")
    async with dashboard(redis_url) as (app, pilot):
        assert table(app).bucket("alice").tokens == 9

        limiter.configure("alice", BucketConfig(max_tokens=40, burst=10, refill_count=1, refill_interval=SLOW))
        limiter.try_acquire("alice", 4)
        limiter.try_acquire("carol")
        assert cell_text(app, "alice", "tokens").strip() == "9/10"  # nothing moves before a poll

        await poll(app, pilot)
        assert cell_text(app, "alice", "tokens").strip() == "5/50"
        notes = [n for n in app._notifications if "outside" in (n.title or "")]
        assert notes and "alice: max_tokens 10 → 40, burst 0 → 10, operator settings set" in notes[-1].message
        assert cell_text(app, "alice", "cfg").strip() == "op"
        assert "carol" in table(app).shown_users
        row = table(app).bucket("alice")
        assert row.grants_per_s is not None and row.grants_per_s > 0


async def test_cursor_follows_its_user_across_polls_sorting_and_filtering(redis_url: str, limiter: RedisLimiter) -> None:
    for i, user in enumerate(["user_1", "user_2", "user_10", "carol", "dave"]):
        limiter.try_acquire(user, i + 1)
    async with dashboard(redis_url) as (app, pilot):
        t = table(app)
        assert t.shown_users == ["carol", "dave", "user_1", "user_2", "user_10"]  # natural order
        await move_to(app, pilot, "user_2")

        limiter.try_acquire("aaron")  # a new row above the cursor
        await poll(app, pilot)
        assert t.current_user == "user_2"

        await pilot.press("s")  # sort by tokens, fewest first
        assert t.sort_spec.column == "tokens"
        assert t.shown_users[0] == "dave"  # took 5: the fewest left
        assert t.current_user == "user_2"

        await pilot.press("S")
        assert t.sort_spec.descending
        assert t.shown_users[0] == "aaron"
        assert t.current_user == "user_2"

        await pilot.press("slash")
        await pilot.press(*"user_*")
        await pilot.press("enter")
        assert sorted(t.shown_users) == ["user_1", "user_10", "user_2"]
        assert t.current_user == "user_2"
        assert app.focused is t

        await pilot.press("slash", "escape")
        assert t.row_count == 6


async def test_many_buckets_the_table_holds_the_first_rows_in_sort_order(redis_url: str, redis_client: redis.Redis, limiter: RedisLimiter) -> None:
    for i in range(60):
        limiter.try_acquire(f"user_{i}", 1 + i % 7)
    TbdashApp.max_rows, saved = 10, TbdashApp.max_rows
    try:
        async with dashboard(redis_url) as (app, pilot):
            t = table(app)
            assert t.row_count == 10 and t.matched == 60 and t.truncated
            assert t.shown_users == [f"user_{i}" for i in range(10)]
            assert "first 10 of 60" in str(t.border_title)
            assert t.current_user == "user_0"
            await pilot.press("s")  # tokens, fewest first: the 8 users that took 7, then 2 that took 6 …
            first = [f"user_{i}" for i in range(6, 60, 7)] + ["user_5", "user_12"]
            assert t.shown_users == first + ["user_0"]  # … and the cursor's row stays
            assert t.current_user == "user_0"
            await pilot.press("slash", *"user_5*", "enter")
            assert t.matched == 11 and t.row_count == 10  # user_5, user_50 … user_59
            await pilot.press("slash", "escape")
            await move_to(app, pilot, t.shown_users[-1])
            keep = t.current_user
            limiter.try_acquire("user_0", 5)  # user_0 now among the emptiest
            await poll(app, pilot)
            assert "user_0" in t.shown_users and keep in t.shown_users and t.current_user == keep
    finally:
        TbdashApp.max_rows = saved


async def test_header_click_sorts(redis_url: str, limiter: RedisLimiter) -> None:
    limiter.try_acquire("a", 1)
    limiter.try_acquire("b", 5)
    async with dashboard(redis_url) as (app, pilot):
        t = table(app)
        # a click on the header line, inside the tokens column (the table's border is around its content)
        header = (t.content_region.x - t.region.x + t.column_x("tokens") + 2, t.content_region.y - t.region.y)
        await pilot.click(BucketTable, offset=header)
        await pilot.pause()
        assert t.sort_spec.column == "tokens" and t.shown_users == ["b", "a"]
        await pilot.click(BucketTable, offset=header)
        await pilot.pause()
        assert t.sort_spec.descending and t.shown_users == ["a", "b"]
        assert "tokens▼" in t.cell(HEADER, "tokens").plain


async def test_keys_that_are_not_buckets_are_listed_and_left_alone(redis_url: str, redis_client: redis.Redis, limiter: RedisLimiter) -> None:
    limiter.try_acquire("alice")
    redis_client.set("token_bucket:{legacy}", "not a hash")
    redis_client.hset("token_bucket:{broken}", mapping={"tokens": "many", "anchor_us": "x"})
    redis_client.hset("token_bucket:{[markup]}", mapping={"tokens": "-1"})
    async with dashboard(redis_url) as (app, pilot):
        assert table(app).shown_users == ["alice"]
        panel = app.screen.query_one(InvalidKeys)
        assert panel.display and panel.has_class("-shown")
        shown = {key.key for key in panel._keys}
        assert {"token_bucket:{legacy}", "token_bucket:{broken}", "token_bucket:{[markup]}"} <= shown
        assert app.screen.query_one(StatusBar).status.invalid == 3
    assert redis_client.get("token_bucket:{legacy}") == b"not a hash"


async def test_space_graphs_several_users_each_in_its_colour(redis_url: str, limiter: RedisLimiter) -> None:
    for user in ("alice", "bob", "carol"):
        limiter.try_acquire(user)
    async with dashboard(redis_url) as (app, pilot):
        graph = app.screen.query_one(TokenGraph)
        await move_to(app, pilot, "bob")
        assert [s.user for s in graph.series] == ["bob"]  # nothing picked: the cursor's user

        await pilot.press("space")
        await move_to(app, pilot, "carol")
        await pilot.press("space")
        await poll(app, pilot)
        assert app.selected == {"bob": 0, "carol": 1}
        assert [s.user for s in graph.series] == ["bob", "carol"]
        assert all(len(s.tokens) == 2 for s in graph.series)  # two polls so far
        assert "●" in cell_text(app, "bob", "user") and "●" not in cell_text(app, "alice", "user")

        await pilot.press("space")  # carol out again
        assert list(app.selected) == ["bob"]
        await pilot.press("c")
        assert not app.selected


async def test_pause_stops_polling_and_r_polls_once(redis_url: str, limiter: RedisLimiter) -> None:
    limiter.try_acquire("alice")
    app = TbdashApp(_backend(redis_url), poll_interval=0.25)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("p")
        assert app.paused and app.screen.query_one(StatusBar).status.paused
        await settle(app, pilot)
        assert app._poll_timer is None  # nothing armed: no poll will come
        limiter.try_acquire("alice")
        assert table(app).bucket("alice").tokens == 9
        await poll(app, pilot)
        assert app._poll_timer is None  # `r` polled once and armed nothing
        assert table(app).bucket("alice").tokens == 8
        await pilot.press("p")
        assert not app.paused

        await pilot.press("minus")
        assert app.poll_interval == 0.5
        await pilot.press("plus", "plus")
        assert app.poll_interval == 0.25 and app.screen.query_one(StatusBar).status.interval == 0.25


# --------------------------------------------------------------------------- editing


async def test_edit_form_rejects_bad_values_inline_and_applies_good_ones(redis_url: str, redis_client: redis.Redis, limiter: RedisLimiter) -> None:
    limiter.try_acquire("alice", 2)
    async with dashboard(redis_url) as (app, pilot):
        await move_to(app, pilot, "alice")
        await pilot.press("e")
        form = app.screen
        assert isinstance(form, EditBucketModal)
        assert form.query_one("#max_tokens", Input).value == "10"
        assert form.query_one("#refill_interval", Input).value == f"{SLOW:g}"

        await type_into(pilot, form, "max_tokens", "0")
        await type_into(pilot, form, "refill_count", "2.5")
        await type_into(pilot, form, "refill_interval", "fast")
        # The error replaces the hint beside its field (marked ✗); a good field keeps its hint.
        errors = {f: plain(form.query_one(f"#{f}-hint")) for f in ("max_tokens", "burst", "refill_count", "refill_interval")}
        assert "✗" in errors["max_tokens"] and "at least 1" in errors["max_tokens"]
        assert "✗" not in errors["burst"]
        assert "whole number" in errors["refill_count"]
        assert "duration" in errors["refill_interval"]
        assert form.query_one("#review", Button).disabled
        await pilot.press("ctrl+s")  # refused: still the form, nothing asked, nothing written
        assert app.screen is form

        await type_into(pilot, form, "max_tokens", "25")
        await type_into(pilot, form, "burst", "5")
        await type_into(pilot, form, "refill_count", "3")
        await type_into(pilot, form, "refill_interval", "250ms")
        assert not form.query_one("#review", Button).disabled
        await pilot.press("ctrl+s")
        confirm = app.screen
        assert isinstance(confirm, ConfirmModal)
        assert ("max_tokens", "10", "25") in confirm.changes
        assert ("refill_interval", f"{SLOW:g}s", "0.25s") in confirm.changes
        assert ("ceiling", "10", "30") in confirm.changes
        await pilot.press("y")
        await settle(app, pilot)

        state = limiter.peek("alice")
        assert state.config == BucketConfig(max_tokens=25, burst=5, refill_count=3, refill_interval=0.25)
        assert state.overridden
        assert cell_text(app, "alice", "tokens").strip().endswith("/30")  # polled after the write
        entries = await app.backend.audit(10)
        assert [(e.action, e.user, e.who) for e in entries] == [("configure", "alice", "tester@tbdash")]
        assert not [n for n in app._notifications if "outside" in (n.title or "")]  # our own change is no news
        assert entries[0].old["max_tokens"] == 10 and entries[0].new["max_tokens"] == 25


async def test_cancel_writes_nothing(redis_url: str, redis_client: redis.Redis, limiter: RedisLimiter) -> None:
    limiter.try_acquire("alice", 2)
    before = bucket_fields(redis_client, "alice")
    async with dashboard(redis_url) as (app, pilot):
        await move_to(app, pilot, "alice")
        await pilot.press("e")
        await type_into(pilot, app.screen, "max_tokens", "99")
        await pilot.press("escape")  # leave the form
        assert not isinstance(app.screen, EditBucketModal)

        await pilot.press("e")
        await type_into(pilot, app.screen, "max_tokens", "99")
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")  # say no to old → new
        assert isinstance(app.screen, EditBucketModal)
        await pilot.press("escape")

        for key, verb in (("x", "reset"), ("d", "delete")):
            await pilot.press(key)
            assert isinstance(app.screen, ConfirmModal), verb
            await pilot.press("escape")
        await settle(app, pilot)
        assert await app.backend.audit(10) == []
    assert bucket_fields(redis_client, "alice") == before


async def test_reset_unconfigure_and_delete_ask_then_write(redis_url: str, redis_client: redis.Redis, limiter: RedisLimiter) -> None:
    limiter.configure("alice", BucketConfig(max_tokens=20, refill_count=1, refill_interval=SLOW))
    limiter.try_acquire("alice", 15)
    async with dashboard(redis_url) as (app, pilot):
        await move_to(app, pilot, "alice")
        await pilot.press("x", "y")
        await settle(app, pilot)
        assert limiter.peek("alice").tokens == 20

        await pilot.press("u")
        assert isinstance(app.screen, ConfirmModal) and app.screen.danger
        await pilot.press("y")
        await settle(app, pilot)
        assert not limiter.peek("alice").overridden
        assert cell_text(app, "alice", "cfg").strip() == "–"

        await pilot.press("d")
        await pilot.press("enter")  # the focused button of a destructive question is Cancel
        assert limiter.peek("alice") is not None
        await pilot.press("d", "y")
        await settle(app, pilot)
        assert limiter.peek("alice") is None
        assert "alice" not in table(app).shown_users
        actions = [e.action for e in await app.backend.audit(10)]
        assert sorted(actions) == ["delete", "reset", "unconfigure"]


async def test_read_only_removes_every_mutation(redis_url: str, redis_client: redis.Redis, limiter: RedisLimiter) -> None:
    limiter.try_acquire("alice", 2)
    before = bucket_fields(redis_client, "alice")
    for kwargs in ({"read_only": True}, {"backend_read_only": True}):
        async with dashboard(redis_url, **kwargs) as (app, pilot):
            assert app.read_only
            keys = set(app.screen.active_bindings)
            assert not keys & MUTATING_KEYS
            assert {"p", "r", "slash", "space", "a"} <= keys
            assert app.screen.query_one(StatusBar).status.read_only

            for key in sorted(MUTATING_KEYS):
                await pilot.press(key)
                assert app.screen is app.dashboard, key

            await pilot.press("ctrl+p")
            palette = app.screen
            prompts = await palette_prompts(pilot, palette, "")
            assert any("Pause" in p for p in prompts)
            assert not [p for p in prompts if any(w in p for w in ("Edit", "load", "Reset", "Delete", "operator settings"))]
            await pilot.press("escape")

            await pilot.press("question_mark")
            help_text = plain(app.screen.query_one("#help-text"))
            assert "Pause" in help_text and "Edit this bucket" not in help_text and "Fire load" not in help_text
            await pilot.press("escape")
            await settle(app, pilot)
    assert bucket_fields(redis_client, "alice") == before


async def palette_prompts(pilot: Pilot, palette: Any, query: str) -> list[str]:
    from textual.command import CommandList

    if query:
        await pilot.press(*query)
    for _ in range(20):  # the providers answer asynchronously
        await pilot.pause(0.05)
        options = palette.query_one(CommandList)
        if options.option_count:
            break
    options = palette.query_one(CommandList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def test_the_palette_has_an_entry_per_action(redis_url: str, limiter: RedisLimiter) -> None:
    limiter.try_acquire("alice")
    async with dashboard(redis_url) as (app, pilot):
        await pilot.press("ctrl+p")
        prompts = " | ".join(await palette_prompts(pilot, app.screen, ""))
        for title in ("Pause / resume polling", "Refresh now", "Filter buckets", "Graph this user", "Fire load at this bucket",
                      "Edit this bucket's settings", "Reset this bucket", "Delete this bucket", "Show the audit log", "Help", "Theme"):
            assert title in prompts, title
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await pilot.press(*"edit")
        await pilot.pause(0.2)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, EditBucketModal)


# --------------------------------------------------------------------------- load


async def test_load_from_the_form_produces_grants_and_denials(redis_url: str, limiter: RedisLimiter) -> None:
    limiter.configure("alice", BucketConfig(max_tokens=5, refill_count=1, refill_interval=SLOW))
    async with dashboard(redis_url) as (app, pilot):
        await move_to(app, pilot, "alice")
        await pilot.press("l")
        form = app.screen
        assert isinstance(form, LoadModal)
        await type_into(pilot, form, "tokens", "6")
        assert "✗" in plain(form.query_one("#tokens-hint")) and "ceiling" in plain(form.query_one("#tokens-hint"))
        assert form.query_one("#start", Button).disabled
        await type_into(pilot, form, "tokens", "1")
        await type_into(pilot, form, "rate", "40")
        await type_into(pilot, form, "duration", "0.5")
        await type_into(pilot, form, "concurrency", "2")
        await pilot.press("ctrl+s")
        await settle(app, pilot)

        run = app.load_run
        assert run is not None and not run.running and run.error is None
        final = run.progress
        assert final.done and not final.cancelled
        assert final.sent == 20 and final.granted == 5 and final.denied == 15 and final.errors == 0
        assert form.has_class("-finished")
        counters = plain(form.query_one("#counters"))
        assert "20  sent" in counters and "15  denied" in counters
        row = table(app).bucket("alice")  # polled when the load ended
        assert (row.tokens, row.granted, row.denied) == (0, 5, 15)
        await pilot.press("escape")
        assert app.screen is app.dashboard


async def test_a_running_load_can_be_stopped(redis_url: str, limiter: RedisLimiter) -> None:
    limiter.configure("alice", BucketConfig(max_tokens=5, refill_count=1, refill_interval=SLOW))
    async with dashboard(redis_url) as (app, pilot):
        await move_to(app, pilot, "alice")
        await pilot.press("l")
        form = app.screen
        await type_into(pilot, form, "rate", "20")
        await type_into(pilot, form, "duration", "60")
        await pilot.press("ctrl+s")
        for _ in range(100):
            await pilot.pause(0.05)
            if app.load_run.progress is not None and app.load_run.progress.sent >= 3:
                break
        assert app.load_run.running and form.has_class("-running")
        assert "alice" in (app.screen_stack[0].query_one(StatusBar).status.load or "")
        await pilot.press("escape")  # stop, keep the partial report
        await settle(app, pilot)
        final = app.load_run.progress
        assert final.cancelled and final.done and 3 <= final.sent < 1200
        assert final.sent == final.granted + final.denied + final.errors
        assert form.has_class("-finished") and app.screen is form


# --------------------------------------------------------------------------- failures


async def test_redis_stopped_mid_run_shows_disconnected_and_recovers(redis_factory: Any) -> None:
    server = redis_factory.redis()
    client = server.client()
    lim = RedisLimiter(client, default=DEFAULT)
    lim.try_acquire("alice", 3)
    async with dashboard(server.url) as (app, pilot):
        assert table(app).bucket("alice").tokens == 7

        server.stop()
        await poll(app, pilot)
        assert app.link == "disconnected"
        banner = app.screen.query_one(ConnectionBanner)
        assert banner.has_class("-shown")
        text = plain(banner)
        assert "DISCONNECTED" in text and str(server.port) in text and "retrying" in text
        status = app.screen.query_one(StatusBar).status
        assert status.link == "disconnected" and status.stale_for is not None
        assert table(app).has_class("-stale")
        assert table(app).bucket("alice").tokens == 7  # the last data stays
        assert app.retry_at is not None  # a retry is armed (backoff)

        server.restart()  # same port, empty data
        lim.try_acquire("bob")
        await poll(app, pilot)
        assert app.link == "live"
        assert not banner.has_class("-shown") and not table(app).has_class("-stale")
        assert table(app).shown_users == ["bob"]
    client.close()


async def test_a_hung_redis_never_freezes_the_ui(redis_factory: Any) -> None:
    server = redis_factory.redis()
    client = server.client()
    RedisLimiter(client, default=DEFAULT).try_acquire("alice")
    async with dashboard(server.url) as (app, pilot):
        server.pause()  # SIGSTOP: connections hang until the socket timeout
        try:
            await pilot.press("r")
            await pilot.pause(0.1)
            assert app._polling  # the poll is stuck in Redis …
            await pilot.press("p")  # … and the keys still work
            assert app.paused
            await pilot.press("slash", "a", "enter")
            assert table(app).pattern == "a"
            await settle(app, pilot)
            assert app.link == "disconnected"
        finally:
            server.resume()
        await poll(app, pilot)
        assert app.link == "live"
    client.close()


# --------------------------------------------------------------------------- topologies


async def _on_topology(group: Any, sync_client: Any, topology: str) -> None:
    from dashboard.core.backend import info_of
    from limiter.connect import connect, parse_url

    limiter = RedisLimiter(sync_client, default=DEFAULT)
    users = ["alice", "bob", "{odd}user", "user_9"]
    for n, user in enumerate(users, 1):
        limiter.try_acquire(user, n)
    spec = parse_url(group.url)
    backend = RedisBackend(connect(spec, asyncio=True), default=DEFAULT, info=info_of(spec))
    app = TbdashApp(backend, poll_interval=SLOW)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert app.link == "live", app.error
        assert sorted(table(app).shown_users) == sorted(users)
        assert [table(app).bucket(u).tokens for u in users] == [9, 8, 7, 6]
        assert app.screen.query_one(StatusBar).status.info.mode == topology
        await move_to(app, pilot, "bob")
        await pilot.press("x", "y")  # reset, through the same client
        await settle(app, pilot)
        assert table(app).bucket("bob").tokens == 10


async def test_the_dashboard_on_sentinel(sentinel_group: Any, sentinel_client: Any) -> None:
    await _on_topology(sentinel_group, sentinel_client, "sentinel")


async def test_the_dashboard_on_cluster(cluster_group: Any, cluster_client: Any) -> None:
    await _on_topology(cluster_group, cluster_client, "cluster")


@pytest.mark.slow
async def test_a_sentinel_failover_shows_as_an_event_with_the_new_primary(redis_factory: Any) -> None:
    from dashboard.core.backend import info_of
    from limiter.connect import connect, parse_url

    group = redis_factory.sentinel()
    sync_client = group.client()
    RedisLimiter(sync_client, default=DEFAULT).try_acquire("alice", 2)
    assert sync_client.execute_command("WAIT", 1, 2000) == 1  # the replica has the bucket
    spec = parse_url(group.url)
    backend = RedisBackend(connect(spec, asyncio=True), default=DEFAULT, info=info_of(spec))
    app = TbdashApp(backend, poll_interval=SLOW)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(app, pilot)
        old_primary = app.backend.info.server
        assert old_primary == f"{group.primary.host}:{group.primary.port}"

        old = group.primary
        old.kill()
        await poll(app, pilot)
        assert app.link == "disconnected"
        new = group.wait_for_failover(old)
        for _ in range(40):  # the dashboard retries by itself; `r` only makes it now
            await poll(app, pilot)
            if app.link == "live":
                break
        assert app.link == "live", app.error
        assert app.backend.info.server == f"{new.host}:{new.port}" != old_primary
        messages = [n.message for n in app._notifications]
        assert any("Failover" in m and old_primary in m and app.backend.info.server in m for m in messages), messages
        assert table(app).bucket("alice").tokens == 8  # the data survived on the promoted replica
    sync_client.close()
