"""Windows benchmark: ``python -m benchmarks.windows [--buckets 20000] [--polls 60]``.

What the 1 min / 5 min / 1 h windows (dashboard/core/windows.py) and the
"empty since" tracking (dashboard/core/emptiness.py) cost the dashboard per
poll, and what they hold in memory, at ``--buckets`` buckets. No Redis: the
rows are built here (as the poller would), so only the stores' own work is
timed. Reported side by side with the poller's own per-poll rates work
(`dashboard.core.poller.Rates`, one dict write per bucket), as ratios:

* update time per poll when 0 %, 1 %, 10 % and 100 % of the buckets' counters
  moved since the last poll (the median of ``--polls`` polls, after a warm-up);
* bytes per bucket (`sys.getsizeof` of the store's own objects) for idle buckets (one sample per window) and
  for buckets whose counters move at every poll for more than an hour of polls
  every 5 s (every window's ring full: the worst case).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
import sys

from dashboard.core.emptiness import EmptySince
from dashboard.core.poller import Rates, new_row
from dashboard.core.protocol import BucketRow, Snapshot
from dashboard.core.windows import WindowStore
from limiter import BucketConfig

CFG = BucketConfig(max_tokens=10, burst=5, refill_count=1, refill_interval=1.0)
START_US = 1_800_000_000_000_000


def rows_of(count: int) -> list[BucketRow]:
    rng = random.Random(1)
    return [new_row(f"user{i}", rng.randint(0, 15), CFG, rng.randint(0, 10**6), rng.randint(0, 10**5), False, None, None, None)
            for i in range(count)]


def moved(rows: list[BucketRow], fraction: float, rng: random.Random) -> list[BucketRow]:
    """A copy with ``fraction`` of the rows' counters moved (and their levels changed)."""
    out = list(rows)
    for i in rng.sample(range(len(rows)), round(len(rows) * fraction)):
        r = rows[i]
        out[i] = new_row(r.user, rng.randint(0, 15), CFG, r.granted + rng.randint(1, 5), r.denied + rng.randint(0, 2), False, None, None, None)
    return out


def snapshot(rows: list[BucketRow], now_us: int) -> Snapshot:
    return Snapshot(taken_at=now_us / 1e6, redis_time_us=now_us, buckets=tuple(rows), invalid=(), poll_seconds=0.0, latency_ms=0.0)


def time_polls(count: int, fraction: float, polls: int) -> dict[str, float]:
    """Median seconds per poll of each store's feed, with ``fraction`` of the counters moving between polls."""
    rng = random.Random(2)
    rows = rows_of(count)
    windows, empty, rates = WindowStore(), EmptySince(), Rates()
    times: dict[str, list[float]] = {"windows": [], "empty": [], "rates": []}
    now = START_US
    for poll in range(polls + 5):  # 5 warm-up polls: every bucket known
        now += 1_000_000
        rows = moved(rows, fraction, rng) if poll else rows
        snap = snapshot(rows, now)
        gc.collect()
        t0 = time.perf_counter()
        windows.feed(snap)
        t1 = time.perf_counter()
        empty.feed(snap)
        t2 = time.perf_counter()
        for r in snap.buckets:  # what the poller's hot loop does for rates, per bucket
            rates.update(r.user, r.granted, r.denied, now)
        rates.finish()
        t3 = time.perf_counter()
        if poll >= 5:
            times["windows"].append(t1 - t0)
            times["empty"].append(t2 - t1)
            times["rates"].append(t3 - t2)
    return {k: statistics.median(v) for k, v in times.items()}


def store_bytes(store: WindowStore) -> int:
    """What the store itself holds: its dicts, one record and one sample array per window per bucket
    (`sys.getsizeof`, exact for these types). User ids are the poller's strings, shared: not counted."""
    total = sys.getsizeof(store._tracks) + sys.getsizeof(store._denying)
    for track in store._tracks.values():
        total += sys.getsizeof(track) + sys.getsizeof(track.tiers) + sum(sys.getsizeof(a) for a in track.tiers)
    return total


def bytes_per_bucket(count: int, busy: bool) -> tuple[float, int]:
    """(bytes per bucket, samples per bucket) of a WindowStore: idle buckets, or ones whose counters move
    at every poll, every 5 s, for 65 minutes (every window's samples full: the worst case)."""
    rng = random.Random(3)
    rows = rows_of(count)
    store = WindowStore()
    now = START_US
    for poll in range(65 * 12 if busy else 1):
        now += 5_000_000
        rows = moved(rows, 1.0, rng) if busy and poll else rows
        store.feed(snapshot(rows, now))
    return store_bytes(store) / count, store.samples(rows[0].user)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.windows", description=__doc__.split("\n\n")[0])
    parser.add_argument("--buckets", type=int, default=20_000)
    parser.add_argument("--polls", type=int, default=60)
    parser.add_argument("--no-memory", action="store_true", help="skip the hour-of-polls memory run (780 polls)")
    args = parser.parse_args(argv)
    n = args.buckets
    print(f"windows and empty-since at {n:,} buckets, median of {args.polls} polls (rates = the poller's own per-bucket work)")
    print(f"{'moved':>6}  {'windows ms':>10}  {'empty ms':>8}  {'rates ms':>8}  {'windows/rates':>13}  {'windows/0%':>10}")
    base = None
    for fraction in (0.0, 0.01, 0.10, 1.0):
        t = time_polls(n, fraction, args.polls)
        base = base or t["windows"]
        print(f"{fraction:>6.0%}  {t['windows'] * 1e3:>10.2f}  {t['empty'] * 1e3:>8.2f}  {t['rates'] * 1e3:>8.2f}  "
              f"{t['windows'] / t['rates']:>12.2f}x  {t['windows'] / base:>9.2f}x", flush=True)
    if not args.no_memory:
        idle, idle_samples = bytes_per_bucket(n, busy=False)
        busy, busy_samples = bytes_per_bucket(n, busy=True)
        print(f"memory per bucket: idle {idle:.0f} B ({idle_samples} samples), every window full {busy:.0f} B ({busy_samples} samples); "
              f"{n:,} buckets: {idle * n / 2**20:.1f} MiB idle, {busy * n / 2**20:.1f} MiB full", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
