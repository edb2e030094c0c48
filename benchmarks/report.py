"""The printed (markdown) tables and the PASS/MISS verdicts against the targets of issue 9."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from benchmarks.accuracy import REFILL_COUNT, AccuracyResult
from benchmarks.harness import Case, Measurement

# Issue 9's targets: minimum ratios.
SERVER_TARGET = 1.1  # tbdash acquire's server time, at most this × the typical script's
SYNC_FLOOR_TARGET = 0.9  # RedisLimiter.try_acquire, 1 thread, × the typical-script floor through the same client
ASYNC_FLOOR_TARGET = 2.0  # AsyncRedisLimiter ×64 × that floor
ASYNC_RIVAL_TARGET = 2.0  # ... and × limits' async storage
BATCH_TARGET = 3.0  # try_acquire_many of 64 users × try_acquire one by one
CONDITION_FLOOR_TARGET = 0.85  # ConditionBucket.try_acquire, 1 thread, × the lock floor


@dataclass
class Verdict:
    group: str
    threads: int
    what: str
    value: str
    ok: bool

    def as_dict(self) -> dict:
        return {"group": self.group, "threads": self.threads, "target": self.what, "value": self.value, "pass": self.ok}


def _spread(ratios: list[float]) -> tuple[float, str]:
    """The median of per-round ratios, and "median× (min–max)"."""
    mid = statistics.median(ratios)
    return mid, f"{mid:.2f}× ({min(ratios):.2f}–{max(ratios):.2f})"


def _paired(a: Measurement, b: Measurement) -> list[float]:
    """Per-round a / b (the rounds are interleaved, so paired)."""
    return [x / y for x, y in zip(a.rounds_ops, b.rounds_ops)]


def _at_least(group: str, threads: int, what: str, ratios: list[float], target: float, note: str = "") -> Verdict:
    mid, text = _spread(ratios)
    return Verdict(group, threads, what, text + note, mid >= target)


def _ops(m: Measurement | None) -> str:
    if m is None:
        return "–"
    return f"{m.ops:,.0f} ±{m.spread * 50:.0f}%"


def _ratio(m: Measurement | None) -> str:
    if m is None:
        return "–"
    return f"{m.ratio:.2f} ({min(m.ratios):.2f}–{max(m.ratios):.2f})" if len(m.ratios) > 1 else f"{m.ratio:.2f}"


def _granted(ms: list[Measurement | None]) -> str:
    values = [m.granted for m in ms if m is not None and m.granted is not None]
    if not values:
        return "–"
    pct = [round(v * 100) for v in values]
    return f"{pct[0]}%" if len(set(pct)) == 1 else "/".join(str(p) for p in pct) + "%"


def group_table(cases: list[Case], results: dict[int, dict[str, Measurement]], thread_counts: list[int]) -> str:
    head = ["case"]
    for t in thread_counts:
        head += [f"{t} thread{'s' if t > 1 else ''}: ops/s", "µs/call" if t == 1 else "", "× floor"]
    head = [h for h in head if h != ""]
    head.append("granted")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 2) + ["---:"]) + "|"]
    for case in cases:
        row = [case.label]
        for t in thread_counts:
            m = results.get(t, {}).get(case.key)
            row.append(_ops(m))
            if t == 1:
                row.append("–" if m is None else f"{1e6 / m.ops:.1f}")
            row.append(_ratio(m))
        row.append(_granted([results.get(t, {}).get(case.key) for t in thread_counts]))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _ahead(group: str, threads: int, name: str, tb: Measurement, rivals: list[tuple[Case, Measurement]], libs: str) -> Verdict:
    """``tb`` ahead of every rival: the smallest of its median leads over them, with that rival's min–max."""
    leads = [(statistics.median(_paired(tb, m)), _paired(tb, m), c) for c, m in rivals]
    worst, ratios, who = min(leads, key=lambda x: x[0])
    _, text = _spread(ratios)
    return Verdict(group, threads, f"{name} ahead of {libs}", f"{text} the fastest ({_plain(who.label)})", worst > 1.0)


def verdicts(group: str, cases: list[Case], results: dict[int, dict[str, Measurement]]) -> list[Verdict]:
    """The targets of issue 9 that this group's figures decide."""
    out: list[Verdict] = []
    by_role: dict[str, list[Case]] = {}
    for case in cases:
        by_role.setdefault(case.role, []).append(case)
    for threads, by_key in sorted(results.items()):
        def m(role: str) -> Measurement | None:
            found = [by_key[c.key] for c in by_role.get(role, []) if c.key in by_key]
            return found[0] if found else None

        def rivals(role: str) -> list[tuple[Case, Measurement]]:
            return [(c, by_key[c.key]) for c in by_role.get(role, []) if c.key in by_key]

        if group == "memory" and (tb := m("tbdash")):
            if threads == 1:
                out.append(_at_least(group, threads, f"ConditionBucket.try_acquire ×1 ≥ {CONDITION_FLOOR_TARGET}× the lock floor",
                                     tb.ratios, CONDITION_FLOOR_TARGET))
            if rivals("rival"):
                out.append(_ahead(group, threads, "ConditionBucket.try_acquire", tb, rivals("rival"), "limits and pyrate-limiter in memory"))
        elif group == "redis" and (tb := m("tbdash")):
            if threads == 1:
                out.append(_at_least(group, threads, f"RedisLimiter.try_acquire ×1 ≥ {SYNC_FLOOR_TARGET}× the typical-script floor (same client)",
                                     tb.ratios, SYNC_FLOOR_TARGET))
                if batch := m("batch"):
                    out.append(_at_least(group, threads, f"try_acquire_many of 64 users ≥ {BATCH_TARGET}× one by one (per acquire)",
                                         _paired(batch, tb), BATCH_TARGET))
            if rivals("rival"):
                for case in [*by_role.get("tbdash", []), *by_role.get("batch", []),
                             *[c for c in by_role.get("context", []) if c.label.startswith("tbdash")]]:
                    if case.key in by_key:
                        out.append(_ahead(group, threads, _plain(case.label).split(" (")[0], by_key[case.key], rivals("rival"),
                                          "limits and pyrate-limiter"))
        elif group == "async" and (tb := m("async")):
            out.append(_at_least(group, threads, f"AsyncRedisLimiter ×64 ≥ {ASYNC_FLOOR_TARGET}× the typical-script floor (sync, 1 thread)",
                                 tb.ratios, ASYNC_FLOOR_TARGET))
            if rivals("async rival"):
                leads = [(statistics.median(_paired(tb, mm)), _paired(tb, mm), c) for c, mm in rivals("async rival")]
                worst, ratios, who = min(leads, key=lambda x: x[0])
                mid, text = _spread(ratios)
                out.append(Verdict(group, threads, f"AsyncRedisLimiter ×64 ≥ {ASYNC_RIVAL_TARGET}× limits' async storage",
                                   f"{text} the fastest ({_plain(who.label)})", mid >= ASYNC_RIVAL_TARGET))
    return out


def server_verdict(rows: list) -> Verdict | None:
    tb = next((r for r in rows if r.role == "tbdash"), None)
    if tb is None:
        return None
    mid, text = _spread(tb.ratios)
    return Verdict("server", 1, f"tbdash acquire's server time ≤ {SERVER_TARGET}× the typical script's (INFO commandstats)",
                   text, mid <= SERVER_TARGET)


def _plain(label: str) -> str:
    return label.replace("*", "").replace("`", "")


def verdict_table(vs: list[Verdict]) -> str:
    """Every target beside its figure: the median of per-round ratios and their min–max."""
    lines = ["| target | threads | figure: median (min–max over rounds) | verdict |", "|---|---:|---|---|"]
    for v in vs:
        lines.append(f"| {v.what} | {v.threads} | {v.value} | {'**PASS**' if v.ok else '**MISS**'} |")
    return "\n".join(lines)


def accuracy_table(results: list[AccuracyResult]) -> str:
    lines = [
        "| bucket (8 threads, 50 tokens + 5 per 10 ms) | run | calls | admitted | bound (outer span) | expected (inner span) | admitted / bound | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        extra = "" if r.counter is None else f" (bucket's counter: {r.counter:,})"
        verdict = "**PASS**" if r.ok else "**MISS**"
        if not r.within:
            verdict += " over the bound" if r.admitted > r.bound else " counter disagrees"
        elif not r.close:
            verdict += f" more than {REFILL_COUNT} tokens short of the expected"
        lines.append(
            f"| {r.name} | {r.seconds:.2f} s | {r.calls:,} | {r.admitted:,}{extra} | {r.bound:,} | {r.expected:,} | {r.fraction:.1%} | {verdict} |"
        )
    return "\n".join(lines)
