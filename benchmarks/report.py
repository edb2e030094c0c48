"""The printed (markdown) tables and the PASS/MISS verdicts against the targets of issue 2."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from benchmarks.accuracy import REFILL_COUNT, AccuracyResult
from benchmarks.harness import Case, Measurement

# group -> minimum ratio of tbdash to the group's floor (issue 2, "Benchmarks")
FLOOR_TARGET = {"redis": 0.9, "memory": 0.7}


@dataclass
class Verdict:
    group: str
    threads: int
    what: str
    value: str
    ok: bool

    def as_dict(self) -> dict:
        return {"group": self.group, "threads": self.threads, "target": self.what, "value": self.value, "pass": self.ok}


def _ops(m: Measurement | None) -> str:
    if m is None:
        return "–"
    return f"{m.ops:,.0f} ±{m.spread * 50:.0f}%"


def _ratio(m: Measurement | None) -> str:
    return "–" if m is None else f"{m.ratio:.2f}"


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


def _lead(tb: Measurement, rival: Measurement) -> float:
    """Median over rounds of tbdash ops / rival ops (the rounds are interleaved, so paired)."""
    pairs = [a / b for a, b in zip(tb.rounds_ops, rival.rounds_ops)]
    return statistics.median(pairs)


def verdicts(group: str, cases: list[Case], results: dict[int, dict[str, Measurement]]) -> list[Verdict]:
    out: list[Verdict] = []
    tb_case = next((c for c in cases if c.role == "tbdash"), None)
    rivals = [c for c in cases if c.role == "rival"]
    floor_label = "trivial-EVALSHA floor" if group == "redis" else "lock floor"
    name = "Redis bucket" if group == "redis" else "ConditionBucket.try_acquire"
    for threads, by_key in sorted(results.items()):
        if tb_case is None or tb_case.key not in by_key:
            continue
        tb = by_key[tb_case.key]
        target = FLOOR_TARGET[group]
        out.append(Verdict(group, threads, f"{name} ≥ {target}× the {floor_label}", f"{tb.ratio:.2f}×", tb.ratio >= target))
        present = [(c, by_key[c.key]) for c in rivals if c.key in by_key]
        if present:
            leads = [(_lead(tb, m), c) for c, m in present]
            worst, who = min(leads, key=lambda x: x[0])
            libs = "limits and pyrate-limiter" + (" in memory" if group == "memory" else "")
            out.append(
                Verdict(group, threads, f"{name} ahead of {libs}", f"{worst:.2f}× the fastest rival ({_plain(who.label)})", worst > 1.0)
            )
    return out


def _plain(label: str) -> str:
    return label.replace("*", "").replace("`", "")


def verdict_table(vs: list[Verdict]) -> str:
    thread_counts = sorted({v.threads for v in vs})
    targets: list[str] = []
    for v in vs:
        if v.what not in targets:
            targets.append(v.what)
    head = ["target"] + [f"{t} thread{'s' if t > 1 else ''}" for t in thread_counts]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for what in targets:
        row = [what]
        for t in thread_counts:
            v = next((v for v in vs if v.what == what and v.threads == t), None)
            row.append("–" if v is None else f"{'**PASS**' if v.ok else '**MISS**'} {v.value}")
        lines.append("| " + " | ".join(row) + " |")
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
