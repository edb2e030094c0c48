"""``python -m benchmarks.waiting``: what threads blocked in ``acquire`` cost while they wait.

Issue 8 §4. 16 threads call ``acquire(1)`` in a loop on one bucket refilled
1,000 tokens a second, far below what they ask: almost all of the time every
thread is waiting. Per grant, for tbdash's `ConditionBucket` and for the floor
(`benchmarks.floors.ConditionFloor`, a plain Condition that nobody notifies),
in the same run, rounds interleaved:

- CPU seconds per grant (user + system, ``resource.getrusage`` of the process),
  and the share of one core that is;
- context switches per grant (voluntary: a thread went to sleep; involuntary
  are shown beside);
- wake-ups per grant (tbdash only: its waiters count them).

The target: tbdash at or below the floor. Figures on a shared machine are
noisy; compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from benchmarks.floors import ConditionFloor
from limiter import BucketConfig, BucketClosed, ConditionBucket

RATE = 1_000  # tokens per second


@dataclass
class Round:
    grants: int
    wall_s: float
    cpu_s: float
    voluntary: int
    involuntary: int
    wakeups: int | None

    @property
    def cpu_us_per_grant(self) -> float:
        return self.cpu_s / self.grants * 1e6

    @property
    def core_share(self) -> float:
        return self.cpu_s / self.wall_s


def _tbdash() -> tuple[Any, Callable[[], int | None]]:
    bucket = ConditionBucket(BucketConfig(max_tokens=1, refill_count=1, refill_interval=1 / RATE))
    return bucket, lambda: bucket._wakeups


def _floor() -> tuple[Any, Callable[[], int | None]]:
    return ConditionFloor(1, RATE), lambda: None


CASES: dict[str, Callable[[], tuple[Any, Callable[[], int | None]]]] = {"floor (plain Condition)": _floor, "tbdash ConditionBucket": _tbdash}


def one_round(make: Callable[[], tuple[Any, Callable[[], int | None]]], threads: int, seconds: float) -> Round:
    bucket, wakeups = make()
    grants = [0] * threads
    ready = threading.Barrier(threads + 1)

    def worker(i: int) -> None:
        ready.wait()
        try:
            while True:
                bucket.acquire(1)
                grants[i] += 1
        except (BucketClosed, RuntimeError):
            return

    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    ready.wait()
    time.sleep(0.1)  # let the queue form before measuring
    g0, w0, r0, t0 = sum(grants), wakeups(), resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    time.sleep(seconds)
    g1, w1, r1, t1 = sum(grants), wakeups(), resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    bucket.close()
    for w in workers:
        w.join(10)
    return Round(
        grants=max(1, g1 - g0),
        wall_s=t1 - t0,
        cpu_s=(r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime),
        voluntary=r1.ru_nvcsw - r0.ru_nvcsw,
        involuntary=r1.ru_nivcsw - r0.ru_nivcsw,
        wakeups=None if w0 is None or w1 is None else w1 - w0,
    )


def run(threads: int = 16, rounds: int = 5, seconds: float = 1.0, progress: Callable[[str], None] | None = None) -> dict[str, list[Round]]:
    results: dict[str, list[Round]] = {name: [] for name in CASES}
    for k in range(rounds):
        order = list(CASES)
        if k % 2:
            order.reverse()  # interleaved: load from elsewhere hits both alike
        for name in order:
            if progress:
                progress(f"waiting CPU: {name}, round {k + 1}/{rounds}")
            results[name].append(one_round(CASES[name], threads, seconds))
    return results


def table(results: dict[str, list[Round]], threads: int) -> str:
    floor = results["floor (plain Condition)"]
    lines = [
        f"{threads} threads blocked in acquire(1) on a bucket of {RATE:,} tokens/s; medians of {len(floor)} interleaved rounds",
        "",
        "| case | grants/s | CPU µs/grant | × floor | % of a core | voluntary cs/grant | involuntary cs/grant | wake-ups/grant |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, rounds in results.items():
        med = statistics.median
        cpu = med(r.cpu_us_per_grant for r in rounds)
        ratio = med(r.cpu_us_per_grant / f.cpu_us_per_grant for r, f in zip(rounds, floor))
        wakes = [r.wakeups / r.grants for r in rounds if r.wakeups is not None]
        lines.append(
            f"| {name} | {med(r.grants / r.wall_s for r in rounds):,.0f} | {cpu:.1f} | {ratio:.2f} | "
            f"{100 * med(r.core_share for r in rounds):.1f} | {med(r.voluntary / r.grants for r in rounds):.2f} | "
            f"{med(r.involuntary / r.grants for r in rounds):.2f} | {f'{med(wakes):.2f}' if wakes else '–'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.waiting", description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=1.0, help="measured seconds per round")
    args = p.parse_args(argv)
    print(table(run(args.threads, args.rounds, args.seconds), args.threads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
