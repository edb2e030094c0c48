"""Helpers for driving the dashboard with Textual's `Pilot` against a real Redis (tests only)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio
from rich.console import Console
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget

from dashboard.core.backend import RedisBackend
from dashboard.core.protocol import ConnectionInfo
from dashboard.tui.app import TbdashApp
from limiter import BucketConfig

SLOW = 3600.0  # a refill interval no test outlives: levels stay exactly where a test put them
DEFAULT = BucketConfig(max_tokens=10, burst=0, refill_count=1, refill_interval=SLOW)
# Replies within 1 s: the outage tests (a paused server) wait that long for each poll to fail.
# Connecting gets 10 s. The connect is timed on the app's event loop, which also draws the
# first screen: on a loaded machine that took more than 1 s, the first poll failed ("timed out
# while connecting") and the test saw an empty table. A stopped server refuses at once and a
# paused one is still accepted by the kernel, so no test waits on this.
REPLY_TIMEOUT, CONNECT_TIMEOUT = 1.0, 10.0


def backend_for(url: str, **kwargs: Any) -> RedisBackend:
    client = redis.asyncio.Redis.from_url(url, socket_timeout=REPLY_TIMEOUT, socket_connect_timeout=CONNECT_TIMEOUT)
    host = url.split("//", 1)[1].split("/", 1)[0]
    return RedisBackend(client, default=DEFAULT, info=ConnectionInfo("standalone", host), who="tester@tbdash", **kwargs)


@asynccontextmanager
async def dashboard(url: str, *, size: tuple[int, int] = (120, 40), **kwargs: Any) -> AsyncIterator[tuple[TbdashApp, Pilot]]:
    """The app on a fresh `RedisBackend` (polls only when asked), after its first poll."""
    app = TbdashApp(backend_for(url), poll_interval=SLOW, **kwargs)
    async with app.run_test(size=size, notifications=True) as pilot:
        await settle(app, pilot)
        yield app, pilot


async def settle(app: TbdashApp, pilot: Pilot) -> None:
    """Wait for every worker (polls, writes, loads) and for the messages they posted."""
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


async def poll(app: TbdashApp, pilot: Pilot) -> None:
    """One poll, from the app (works whichever screen has the keys)."""
    before = app.polls
    app.poll_now()
    await settle(app, pilot)
    assert app.polls > before


def screen_text(app: TbdashApp) -> str:
    """The whole terminal as the operator sees it (screens below a see-through one included)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, color_system="truecolor", record=True, legacy_windows=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


async def move_to(app: TbdashApp, pilot: Pilot, user: str) -> None:
    """Put the table's cursor on ``user``."""
    assert app.dashboard is not None
    table = app.dashboard.table
    table.move_cursor(row=table.row_index(user))
    await pilot.pause()
    assert table.current_user == user


def plain(widget: Any) -> str:
    """What a Static shows, as plain text."""
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


def repaints(widget: Widget, monkeypatch: Any) -> list[Region]:
    """The regions the widget asks to repaint from now on (a refresh without regions: all of it)."""
    seen: list[Region] = []
    original = widget.refresh

    def spy(*regions: Region, **kwargs: Any) -> Any:
        seen.extend(regions or [Region(0, 0, 10**6, 10**6)])
        return original(*regions, **kwargs)

    monkeypatch.setattr(widget, "refresh", spy)
    return seen
