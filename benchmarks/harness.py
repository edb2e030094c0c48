"""Timing: fixed-work rounds, 1 or N threads, interleaved across the cases of a group.

Method (also in benchmarks/README.md):

* A round is a fixed number of calls, split evenly over the threads. Threads
  wait on a barrier; the clock (``time.perf_counter``) starts when the barrier
  opens and stops when the last thread is joined. ops/s = calls / elapsed.
* Before the rounds, each case is warmed up at the same thread count; the
  warm-up also calibrates the number of calls so one round takes about
  ``round_s`` seconds, and counts how many calls were granted.
* Rounds are interleaved: round k runs every case of the group once (in a
  rotated order) before round k+1 starts. A burst of load from elsewhere on the
  machine then hits all cases alike, and each case's ratio to the floor is
  the median of the per-round ratios (paired), not a ratio of medians.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Op = Callable[[], Any]
Prepared = tuple[Op, Callable[[], None] | None]  # the call to time, and how to clean up after
Make = Callable[[], Prepared]


@dataclass
class Case:
    """One thing to measure: ``make()`` builds it and returns (the zero-argument call to time, close)."""

    key: str  # stable id, used in --json
    label: str  # what the table shows
    make: Make
    role: str = "other"  # floor | tbdash | rival (a target compares against it) | context | other
    per_op: int = 1  # limiter calls one op makes (a batch, or a burst of concurrent coroutines)
    op: Op | None = None
    close: Callable[[], None] | None = None

    def prepare(self) -> None:
        self.op, self.close = self.make()

    def finish(self) -> None:
        if self.close is not None:
            self.close()
        self.op = self.close = None


@dataclass
class Measurement:
    key: str
    threads: int
    calls_per_round: int
    rounds_ops: list[float] = field(default_factory=list)  # ops/s of each round
    ratios: list[float] = field(default_factory=list)  # per-round ratio to the floor
    granted: float | None = None  # fraction of warm-up calls that were granted

    @property
    def ops(self) -> float:
        return statistics.median(self.rounds_ops)

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios) if self.ratios else float("nan")

    @property
    def spread(self) -> float:
        """(max - min) / median of the rounds, as a fraction."""
        if len(self.rounds_ops) < 2:
            return 0.0
        return (max(self.rounds_ops) - min(self.rounds_ops)) / self.ops


def _worker(op: Op, calls: int, barrier: threading.Barrier, errors: list[BaseException]) -> None:
    try:
        barrier.wait()
        for _ in range(calls):
            op()
    except BaseException as exc:  # report, don't hang the run
        errors.append(exc)


def _counting_worker(op: Op, calls: int, barrier: threading.Barrier, out: list[int], errors: list[BaseException], per_op: int) -> None:
    granted = 0
    try:
        barrier.wait()
        for _ in range(calls):
            result = op()
            # A batch op returns how many of its calls were granted; a single call, a truthy answer.
            granted += result if per_op > 1 else bool(result)
    except BaseException as exc:
        errors.append(exc)
    out.append(granted)


def run_fixed(op: Op, threads: int, calls: int, count: bool = False, per_op: int = 1) -> tuple[float, int]:
    """Run ``calls`` calls of ``op`` spread over ``threads`` threads; (elapsed seconds, granted)."""
    per_thread = max(1, calls // threads)
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []
    granted: list[int] = []
    if count:
        workers = [threading.Thread(target=_counting_worker, args=(op, per_thread, barrier, granted, errors, per_op)) for _ in range(threads)]
    else:
        workers = [threading.Thread(target=_worker, args=(op, per_thread, barrier, errors)) for _ in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"benchmark call failed: {errors[0]!r}") from errors[0]
    return elapsed, sum(granted)


def calibrate(op: Op, threads: int, warmup_s: float, round_s: float, per_op: int = 1) -> tuple[int, float]:
    """Warm up for about ``warmup_s`` seconds; return (ops per round, fraction of calls granted)."""
    calls = 16 * threads
    spent = 0.0
    done = granted = 0
    rate = 0.0
    while True:
        elapsed, g = run_fixed(op, threads, calls, count=True, per_op=per_op)
        per_thread = max(1, calls // threads)
        done += per_thread * threads
        granted += g
        spent += elapsed
        rate = per_thread * threads / max(elapsed, 1e-9)
        if spent >= warmup_s:
            break
        # Aim the next warm-up step at what is left of the budget (at least doubling).
        calls = max(calls * 2, int(rate * min(warmup_s - spent, warmup_s / 2)))
    per_round = max(threads, int(rate * round_s))
    per_round -= per_round % threads
    return per_round, granted / max(done * per_op, 1)


def run_group(
    cases: list[Case],
    threads: int,
    rounds: int,
    round_s: float,
    warmup_s: float,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Measurement]:
    """Measure every case of a group at one thread count; the first case is the floor."""
    results: dict[str, Measurement] = {}
    for case in cases:
        assert case.op is not None
        progress(f"warm-up {case.label} ({threads} thread{'s' if threads > 1 else ''})")
        calls, granted = calibrate(case.op, threads, warmup_s, round_s, case.per_op)
        results[case.key] = Measurement(case.key, threads, calls, granted=granted)
    floor = cases[0].key
    for r in range(rounds):
        progress(f"round {r + 1}/{rounds} ({threads} thread{'s' if threads > 1 else ''})")
        order = cases[r % len(cases):] + cases[: r % len(cases)]
        this_round: dict[str, float] = {}
        for case in order:
            m = results[case.key]
            elapsed, _ = run_fixed(case.op, threads, m.calls_per_round)  # type: ignore[arg-type]
            this_round[case.key] = m.calls_per_round * case.per_op / elapsed  # limiter calls per second
        for key, ops in this_round.items():
            results[key].rounds_ops.append(ops)
            results[key].ratios.append(ops / this_round[floor])
    return results
