"""The measured side of ``python -m benchmarks.soak``: one phase of the real dashboard, in its own process.

Run by `benchmarks.soak` as a script (``python benchmarks/soak_app.py PHASE-JSON``)
so that the code under test is whatever ``dashboard`` package comes first on
``PYTHONPATH`` (``--code DIR`` measures another checkout, e.g. the code before
a fix). It imports nothing from ``benchmarks``.

The real `TbdashApp` on a real `RedisBackend` runs headless (``App.run_test``):
Textual lays out and renders every frame into its compositor; only the bytes
for a terminal are not produced. Polls come from the app's own timer. The
process measures itself: CPU is ``getrusage`` (user + system, every thread),
memory is the resident set (``/proc/self/statm``) and the interpreter's count
of allocated blocks. It prints one JSON object on stdout.

Key latency: the time from posting a key event to the end of the first frame
drawn after the key's effect (cursor row, scroll or sort order changed) is
visible in the widgets.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

import redis
import redis.asyncio

from dashboard.core.backend import RedisBackend
from dashboard.core.protocol import ConnectionInfo
from dashboard.tui.app import TbdashApp
from limiter import BucketConfig

KEY_TIMEOUT = 30.0  # seconds one key may take before it is reported as "> 30 s"
DEFAULT = BucketConfig(max_tokens=10, burst=5, refill_count=1, refill_interval=1.0)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def dom_counts(app: TbdashApp) -> dict[str, int]:
    """Live widgets on the screens, and the reactive watchers they hold (the Footer leak grew these)."""
    widgets = watchers = 0
    for screen in app.screen_stack:
        for node in screen.walk_children(with_self=True):
            widgets += 1
            for entries in getattr(node, "__watchers", {}).values():
                watchers += len(entries)
    return {"widgets": widgets, "watchers": watchers}


class Sample:
    """One reading of the process, taken after a full collection (garbage is not growth)."""

    def __init__(self, app: TbdashApp, *, collect: bool) -> None:
        self.wall = time.perf_counter()
        self.cpu = cpu_seconds()
        self.polls = app.polls
        if collect:
            gc.collect()
        self.rss = rss_mb()
        self.blocks = sys.getallocatedblocks()
        self.objects = len(gc.get_objects())
        self.dom = dom_counts(app)


class Frames:
    """Counts the frames the app draws (`App.post_display_hook` runs after each, headless too)."""

    def __init__(self, app: TbdashApp) -> None:
        self.count = 0
        self.event = asyncio.Event()
        app.post_display_hook = self._drawn  # type: ignore[method-assign]

    def _drawn(self) -> None:
        self.count += 1
        self.event.set()

    async def next(self, timeout: float) -> None:
        self.event.clear()
        await asyncio.wait_for(self.event.wait(), timeout)


def view_state(app: TbdashApp) -> tuple[Any, ...]:
    """What a key changes: the user under the cursor, or the sort (a poll that moves rows changes neither)."""
    table = app.screen.query_one("BucketTable")
    return (table.current_user, table.sort_spec)


async def key_latency(app: TbdashApp, frames: Frames, key: str) -> float:
    """Seconds from the key to the end of the frame that shows its effect (``KEY_TIMEOUT`` when it never came)."""
    from textual import events

    before = view_state(app)
    started = time.perf_counter()
    deadline = started + KEY_TIMEOUT
    app.post_message(events.Key(key, None))
    while view_state(app) == before:
        if time.perf_counter() > deadline:
            return KEY_TIMEOUT
        await asyncio.sleep(0.0005)
    try:
        await frames.next(max(0.001, deadline - time.perf_counter()))
    except asyncio.TimeoutError:
        return KEY_TIMEOUT
    return time.perf_counter() - started


def browsing(app: TbdashApp, count: int) -> Iterator[str]:
    """Down and up again, as an operator browsing would, but never against an edge.

    A poll that removes the rows above the cursor's user moves the cursor up with
    it; an Up pressed then on the first row changes nothing, and its "latency" was
    the wait for a later poll to change the row (~1 s, about 1 move in 800)."""
    table = app.screen.query_one("BucketTable")
    for i in range(count):
        row, last = table.cursor_row, table.row_count - 1
        yield "down" if row <= 0 else "up" if row >= last else ("down" if i % 2 == 0 else "up")


async def press_series(app: TbdashApp, frames: Frames, keys: Iterable[str], *, gap: float, budget: float) -> list[float]:
    out: list[float] = []
    stop = time.perf_counter() + budget
    for key in keys:
        if time.perf_counter() > stop:
            break
        out.append(await key_latency(app, frames, key))
        await asyncio.sleep(gap)
    return out


def summary(values: list[float]) -> dict[str, Any] | None:
    if not values:
        return None
    ordered = sorted(values)
    return {
        "n": len(values),
        "median_ms": statistics.median(ordered) * 1000,
        "p95_ms": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000,
        "max_ms": ordered[-1] * 1000,
        "timeouts": sum(1 for v in values if v >= KEY_TIMEOUT),
    }


def delete_most(url: str, prefix: str, keep: int) -> int:
    """Delete all but ``keep`` bucket keys, in the server (one script), so this process spends nothing on it."""
    client = redis.Redis.from_url(url, socket_timeout=60)
    try:
        script = """
        local cursor, gone, kept = '0', 0, 0
        repeat
          local reply = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
          cursor = reply[1]
          for _, key in ipairs(reply[2]) do
            if kept < tonumber(ARGV[2]) then kept = kept + 1 else redis.call('DEL', key); gone = gone + 1 end
          end
        until cursor == '0'
        return gone
        """
        return int(client.eval(script, 0, f"{prefix}:{{*", keep))
    finally:
        client.close()


# Every screen and form an operator opens from the table, with the key that opens it (escape closes each).
SCREENS = (("enter", "detail"), ("question_mark", "help"), ("a", "audit"), ("e", "edit form"), ("l", "load form"))


async def open_screen(app: TbdashApp, pilot: Any, key: str) -> None:
    """Press ``key`` and wait until a screen is pushed and has drawn (a worker it starts has run)."""
    depth = len(app.screen_stack)
    await pilot.press(key)
    deadline = time.perf_counter() + KEY_TIMEOUT
    while len(app.screen_stack) == depth:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"the key {key!r} opened no screen")
        await asyncio.sleep(0.005)
    await app.workers.wait_for_complete()
    await pilot.pause()


async def close_screen(app: TbdashApp, pilot: Any) -> None:
    depth = len(app.screen_stack)
    await pilot.press("escape")
    while len(app.screen_stack) >= depth:
        await asyncio.sleep(0.005)
    await pilot.pause()


async def screen_cycles(app: TbdashApp, pilot: Any, cycles: int) -> dict[str, Any]:
    """Open and close every screen ``cycles`` times: what each visit leaves behind, after a warm-up cycle.

    Polling is paused meanwhile, so the figures are the visits' alone (history
    rings still filling would count as growth; 2k-detail measures a screen
    left open under polls)."""
    if not app.paused:
        await pilot.press("p")
    for key, _ in SCREENS:  # the first visit builds caches (help text, CSS): not growth
        await open_screen(app, pilot, key)
        await close_screen(app, pilot)
    before = Sample(app, collect=True)
    for _ in range(cycles):
        for key, _ in SCREENS:
            await open_screen(app, pilot, key)
            await close_screen(app, pilot)
    after = Sample(app, collect=True)
    await pilot.press("p")
    return {
        "cycles": cycles,
        "screens": len(SCREENS),
        "rss_before_mb": before.rss,
        "rss_after_mb": after.rss,
        "blocks_per_cycle": (after.blocks - before.blocks) / max(1, cycles),
        "widgets_before": before.dom["widgets"],
        "widgets_after": after.dom["widgets"],
        "watchers_before": before.dom["watchers"],
        "watchers_after": after.dom["watchers"],
    }


async def run(phase: dict[str, Any]) -> dict[str, Any]:
    url, interval, seconds = phase["url"], float(phase["interval"]), float(phase["seconds"])
    client = redis.asyncio.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=5)
    backend = RedisBackend(client, default=DEFAULT, info=ConnectionInfo("standalone", url.split("//", 1)[1].split("/", 1)[0]))
    history = int(phase.get("history", 300))
    app = TbdashApp(backend, poll_interval=interval, history_length=history)
    import dashboard

    result: dict[str, Any] = {"name": phase["name"], "code": str(Path(dashboard.__file__).parent.parent)}
    width, height = phase.get("size", (160, 45))
    async with app.run_test(size=(width, height)) as pilot:
        frames = Frames(app)
        started = time.perf_counter()
        while app.polls < 1 and time.perf_counter() - started < 120:
            await asyncio.sleep(0.05)
        await pilot.pause()
        result["first_poll_s"] = time.perf_counter() - started
        start = Sample(app, collect=True)

        if phase.get("delete_to") is not None:  # the issue's case: most buckets vanish under a running dashboard
            await asyncio.sleep(min(10.0, seconds / 3))
            result["deleted"] = delete_most(url, phase.get("prefix", "token_bucket"), int(phase["delete_to"]))
        if phase.get("paused"):
            await pilot.press("p")
        if phase.get("screen"):  # polls go on under it: the screen's per-poll work is what is measured
            await open_screen(app, pilot, phase["screen"])

        # Warm-up: until the history rings are full (they grow until then, bounded), or half the phase.
        warm_until = time.perf_counter() + max(0.5 * seconds, 2 * interval)
        least = time.perf_counter() + 0.25 * seconds
        while time.perf_counter() < least or (app.polls < history + 10 and time.perf_counter() < warm_until):
            await asyncio.sleep(0.05)
        warm = Sample(app, collect=True)
        profiler = None
        if phase.get("profile"):
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()

        await asyncio.sleep(max(0.0, seconds - (time.perf_counter() - warm.wall)))
        end = Sample(app, collect=False)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(phase["profile"])
        end_collected = Sample(app, collect=True)

        # Keys come after the measured window, so their cost is not counted as idle CPU.
        keys: dict[str, list[float]] = {}
        moves = int(phase.get("cursor_moves", 0))
        if moves:  # down and up again, as an operator browsing would
            half = moves // 2
            before_moves = Sample(app, collect=True)
            keys["cursor"] = await press_series(app, frames, browsing(app, 2 * half), gap=0.0, budget=max(30.0, seconds))
            after_moves = Sample(app, collect=True)
            result["cursor_moves"] = {
                "moves": len(keys["cursor"]),
                "rss_before_mb": before_moves.rss,
                "rss_after_mb": after_moves.rss,
                "blocks_growth": after_moves.blocks - before_moves.blocks,
                "watchers_before": before_moves.dom["watchers"],
                "watchers_after": after_moves.dom["watchers"],
            }
        if phase.get("screen"):
            await close_screen(app, pilot)
        if phase.get("screen_cycles"):
            result["screen_cycles"] = await screen_cycles(app, pilot, int(phase["screen_cycles"]))
        if phase.get("keys"):
            if app.paused:
                await pilot.press("p")
            gap, budget = 0.05, 60.0
            few = 4 if phase.get("quick") else 1
            keys["down"] = await press_series(app, frames, ["down"] * (40 // few), gap=gap, budget=budget)
            keys["pagedown"] = await press_series(app, frames, ["pagedown"] * (10 // few), gap=gap, budget=budget)
            keys["sort"] = await press_series(app, frames, ["s"] * (8 // few), gap=gap, budget=budget)
        result["frames"] = frames.count

    await asyncio.sleep(0)
    polls = max(1, end.polls - warm.polls)
    measured = end.wall - warm.wall
    result.update(
        {
            "buckets": phase.get("buckets"),
            "interval": interval,
            "polls": end.polls,
            "measured_polls": end.polls - warm.polls,
            "measured_s": measured,
            "rss_start_mb": start.rss,
            "rss_warm_mb": warm.rss,
            "rss_end_mb": end_collected.rss,
            "rss_growth_mb_per_1000_polls": (end_collected.rss - warm.rss) / polls * 1000,
            "blocks_growth_per_poll": (end_collected.blocks - warm.blocks) / polls,
            "objects_start": warm.objects,
            "objects_end": end_collected.objects,
            "dom_start": warm.dom,
            "dom_end": end_collected.dom,
            "cpu_ms_per_poll": (end.cpu - warm.cpu) / polls * 1000,
            "cpu_percent": (end.cpu - warm.cpu) / measured * 100 if measured > 0 else None,
            "paused": bool(phase.get("paused")),
            "keys": {name: summary(values) for name, values in keys.items()},
        }
    )
    return result


def main() -> int:
    phase = json.loads(sys.argv[1])
    result = asyncio.run(run(phase))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
