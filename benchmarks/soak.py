"""Soak benchmark: ``python -m benchmarks.soak [--quick] [--phases ...] [--scale X] [--code DIR]``.

Runs the real dashboard (`TbdashApp` on a `RedisBackend`, headless) against a
private redis-server for thousands of polls while buckets churn, and prints,
per phase: RSS at the start and the end, RSS growth per 1,000 polls after
warm-up (and the interpreter's allocated blocks per poll: the heap itself,
without the allocator's page reuse), CPU per poll and in % of one core (process CPU of the dashboard
alone: the churn runs in this process, the dashboard in a child), the live
widgets and reactive watchers, and key-to-screen latency for Down, PgDn and
sort where the phase measures keys.

Churn (in this process, through the real `RedisLimiter` and plain commands):
every second some buckets are drained by acquires, new ones appear, some are
given a short TTL and expire, some are deleted, so the bucket count holds.

Each phase runs in a fresh child process (`benchmarks/soak_app.py`), so the
phases do not inherit each other's memory. ``--code DIR`` puts another
checkout's ``dashboard`` first on the child's path: that is how the figures
"before" a change are taken (``git worktree add /tmp/old main``).
Targets (issue 7): growth < 1 MB per 1,000 polls; CPU at a 1 s poll < 3 % of a
core at 2,000 buckets and < 25 % at 20,000; Down < 100 ms at 20,000; ≈ 0 paused.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import redis

from benchmarks.poll import seed
from limiter import BucketConfig, RedisLimiter

PREFIX = "token_bucket"
HISTORY = 120  # the dashboard's history length here (config default 300): its rings fill within the warm-up
CHILD = Path(__file__).with_name("soak_app.py")
CHURN_DEFAULT = BucketConfig(max_tokens=10, burst=5, refill_count=1, refill_interval=1.0)


@dataclass(frozen=True)
class Phase:
    name: str
    buckets: int
    interval: float
    seconds: float  # measured, after the warm-up
    churn: bool = True
    paused: bool = False
    keys: bool = False
    cursor_moves: int = 0
    delete_to: int | None = None
    what: str = ""
    quick: bool = False  # fewer key presses
    screen: str = ""  # a key that opens a screen before the warm-up ("enter": the detail), left open while it polls
    screen_cycles: int = 0  # after the measured window: open and close every screen this many times (a leak per visit)


PHASES: tuple[Phase, ...] = (
    Phase("13-250ms", 13, 0.25, 40, churn=False, what="13 buckets, no traffic (the issue's 13 MB/min), many polls"),
    Phase("2k-1s", 2_000, 1.0, 40, what="2,000 churning buckets, 1 s poll: CPU"),
    Phase("2k-250ms", 2_000, 0.25, 60, what="the same at a 0.25 s poll: memory over many polls"),
    Phase("2k-cursor", 2_000, 1.0, 10, cursor_moves=800, what="800 cursor moves (the issue's 84 -> 244 MB)"),
    Phase("20k-1s", 20_000, 1.0, 40, keys=True, what="20,000 churning buckets, 1 s poll: CPU; then keys"),
    Phase("20k-250ms", 20_000, 0.25, 60, what="the same at a 0.25 s poll: memory over many polls"),
    Phase("20k-paused", 20_000, 1.0, 15, paused=True, what="paused: no polls, CPU should be ~0"),
    Phase("20k-to-2k", 20_000, 1.0, 30, delete_to=2_000, keys=True, what="18,000 of 20,000 deleted under it; then keys"),
    Phase("2k-detail", 2_000, 0.25, 60, screen="enter", what="the detail screen open over 2,000 buckets at 0.25 s: memory"),
    Phase("2k-screens", 2_000, 1.0, 10, screen_cycles=60, what="every screen and form opened and closed 60 times"),
)
# --quick: a smoke run of the CPU, key and paused phases (growth needs the long ones).
QUICK_SECONDS = {"13-250ms": 3, "2k-1s": 4, "2k-cursor": 2, "20k-1s": 4, "20k-paused": 3, "20k-to-2k": 6, "2k-screens": 2}
MIN_POLLS_FOR_GROWTH = 100  # fewer polls after warm-up say nothing about growth per 1,000


# --------------------------------------------------------------------------- churn


class Churn(threading.Thread):
    """Keeps ``buckets`` buckets alive and changing until `stop`."""

    def __init__(self, url: str, buckets: int) -> None:
        super().__init__(daemon=True, name="churn")
        self.client = redis.Redis.from_url(url, socket_timeout=10)
        self.limiter = RedisLimiter(self.client, default=CHURN_DEFAULT, idle_ttl=5.0)
        self.buckets = buckets
        self.stopping = threading.Event()
        self.rng = random.Random(7)
        self.born = 0
        self.counts = {"drained": 0, "appeared": 0, "expired": 0, "deleted": 0}

    def run(self) -> None:
        # Per second: 1 % of the buckets drained (5 … 200), 0.25 % replaced (at least one).
        drains, turnovers = min(200, max(5, self.buckets // 100)), max(1, self.buckets // 400)
        owed_drains = owed_turnovers = 0.0
        while not self.stopping.wait(0.1):
            owed_drains += drains / 10
            owed_turnovers += turnovers / 10
            while owed_drains >= 1:
                owed_drains -= 1
                self.limiter.try_acquire(f"user{self.rng.randrange(self.buckets)}", self.rng.randint(1, 3))
                self.counts["drained"] += 1
            while owed_turnovers >= 1:
                owed_turnovers -= 1
                self._turn_over()

    def _turn_over(self) -> None:
        """One bucket appears; one expires or is deleted: the count holds."""
        self.born += 1
        self.limiter.try_acquire(f"churn_{self.born}", 1)
        self.counts["appeared"] += 1
        victim = f"{PREFIX}:{{user{self.rng.randrange(self.buckets)}}}" if self.rng.random() < 0.5 else f"{PREFIX}:{{churn_{self.rng.randint(1, self.born)}}}"
        if self.rng.random() < 0.5:
            self.client.pexpire(victim, 300)
            self.counts["expired"] += 1
        else:
            self.client.delete(victim)
            self.counts["deleted"] += 1

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)
        self.client.close()


# --------------------------------------------------------------------------- running


def run_phase(phase: Phase, url: str, code: str | None, size: tuple[int, int], profile: str | None = None) -> dict[str, Any]:
    sync = redis.Redis.from_url(url, socket_timeout=60)
    sync.flushall()
    seed(sync, PREFIX, phase.buckets)
    sync.close()
    churn = Churn(url, phase.buckets) if phase.churn else None
    if churn is not None:
        churn.start()
    env = dict(os.environ)
    if code:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (code, env.get("PYTHONPATH", "")) if p)
    spec = {**asdict(phase), "url": url, "prefix": PREFIX, "size": size, "profile": profile, "history": HISTORY}
    try:
        done = subprocess.run(
            [sys.executable, str(CHILD), json.dumps(spec)],
            env=env, capture_output=True, text=True, timeout=phase.seconds * 4 + 600,
        )
    finally:
        if churn is not None:
            churn.stop()
    if done.returncode != 0:
        return {"name": phase.name, "error": (done.stderr or done.stdout).strip().splitlines()[-1:] or ["failed"]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["churn"] = churn.counts if churn else None
    if code and not result.get("code", "").startswith(str(Path(code).resolve())):
        return {"name": phase.name, "error": [f"measured {result.get('code')}, not {code}"]}
    return result


# --------------------------------------------------------------------------- report


def _ms(summary: dict[str, Any] | None) -> str:
    if not summary:
        return "-"
    text = f"{summary['median_ms']:.0f}/{summary['max_ms']:.0f}"
    return text + (f" ({summary['timeouts']} >30s)" if summary["timeouts"] else "")


def report(results: list[dict[str, Any]]) -> str:
    head = (f"{'phase':<11} {'buckets':>7} {'poll':>5} {'polls':>5} {'RSS MB start→end':>17} {'MB/1k polls':>11} {'blocks/poll':>11} "
            f"{'CPU ms/poll':>11} {'CPU %':>6} {'widgets':>7} {'watchers':>13}  keys median/max ms")
    lines = [head, "-" * len(head)]
    for r in results:
        if "error" in r:
            lines.append(f"{r['name']:<11} FAILED: {' '.join(r['error'])}")
            continue
        keys = r.get("keys") or {}
        key_text = "  ".join(f"{k} {_ms(v)}" for k, v in keys.items() if k != "cursor")
        moves = r.get("cursor_moves")
        visits = r.get("screen_cycles")
        if visits:
            key_text = (f"{visits['cycles']}x {visits['screens']} screens: RSS {visits['rss_before_mb']:.0f}→{visits['rss_after_mb']:.0f} MB, "
                        f"{visits['blocks_per_cycle']:+.0f} blocks/cycle, widgets {visits['widgets_before']}→{visits['widgets_after']}, "
                        f"watchers {visits['watchers_before']}→{visits['watchers_after']}")
        if moves:
            key_text = (f"{moves['moves']} moves: RSS {moves['rss_before_mb']:.0f}→{moves['rss_after_mb']:.0f} MB, "
                        f"watchers {moves['watchers_before']}→{moves['watchers_after']}, per move {_ms(keys.get('cursor'))}")
        cpu_poll = "-" if r["paused"] else f"{r['cpu_ms_per_poll']:.1f}"
        enough = r["measured_polls"] >= MIN_POLLS_FOR_GROWTH
        growth = f"{r['rss_growth_mb_per_1000_polls']:+.1f}" if enough and not r["paused"] else "-"
        blocks = f"{r['blocks_growth_per_poll']:+.0f}" if enough and not r["paused"] else "-"
        watchers = f"{r['dom_start']['watchers']}→{r['dom_end']['watchers']}"
        lines.append(
            f"{r['name']:<11} {r['buckets']:>7} {r['interval']:>4g}s {r['polls']:>5} "
            f"{r['rss_start_mb']:>7.0f} → {r['rss_end_mb']:<7.0f} {growth:>11} {blocks:>11} {cpu_poll:>11} {r['cpu_percent']:>6.1f} "
            f"{r['dom_end']['widgets']:>7} {watchers:>13}  {key_text}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    names = [p.name for p in PHASES]
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--phases", nargs="+", choices=names, default=names, metavar="PHASE", help=f"any of: {' '.join(names)}")
    parser.add_argument("--quick", action="store_true", help="a smoke run under a minute: short CPU, key and paused phases, no growth figures")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every phase's duration (e.g. 10 for a long soak)")
    parser.add_argument("--code", help="measure the dashboard of another checkout (its directory goes first on PYTHONPATH)")
    parser.add_argument("--size", default="160x45", help="terminal size, COLSxROWS (default 160x45)")
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON lines too")
    parser.add_argument("--profile", metavar="DIR", help="cProfile each phase's measured window into DIR/<phase>.prof and print its top functions")
    args = parser.parse_args(argv)
    cols, rows = (int(v) for v in args.size.lower().split("x"))
    phases = [p for p in PHASES if p.name in args.phases]
    if args.quick:
        phases = [replace(p, seconds=QUICK_SECONDS[p.name], cursor_moves=min(p.cursor_moves, 100), screen_cycles=min(p.screen_cycles, 5), quick=True)
                  for p in phases if p.name in QUICK_SECONDS]
    phases = [replace(p, seconds=p.seconds * args.scale) for p in phases]

    from dashboard.embedded import EmbeddedRedis

    server = EmbeddedRedis().start()
    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    try:
        print(f"soak: redis-server {server.binary.label} on {server.host}:{server.port}; code: {args.code or 'this checkout'}; "
              f"terminal {cols}x{rows}", flush=True)
        for phase in phases:
            print(f"  {phase.name}: {phase.what} ({phase.seconds:g} s)…", flush=True)
            profile = None
            if args.profile:
                Path(args.profile).mkdir(parents=True, exist_ok=True)
                profile = str(Path(args.profile).resolve() / f"{phase.name}.prof")
            result = run_phase(phase, server.url, args.code, (cols, rows), profile)
            results.append(result)
            if profile and "error" not in result:
                import pstats

                print(f"    (CPU figures of a profiled run are inflated) top functions by own time, {profile}:")
                pstats.Stats(profile).sort_stats("tottime").print_stats(20)
            if args.json:
                print(json.dumps(result), flush=True)
    finally:
        server.stop()
    print()
    print(report(results))
    print(f"\n{len(results)} phases in {time.perf_counter() - started:.0f} s. Warm-up: until the history rings are full "
          f"(history length {HISTORY} polls) or half the phase; RSS growth is shown with {MIN_POLLS_FOR_GROWTH}+ polls after it. "
          "CPU is the dashboard process alone (user + system) over the same window.")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
