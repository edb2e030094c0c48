"""Server time per script call: ``INFO commandstats`` usec_per_call of each script, on the private server.

The client does not count here: each round sends a batch of calls of one
script in pipelines, between ``CONFIG RESETSTAT`` and ``INFO commandstats``,
and reads the server's own microseconds per ``EVALSHA``. Rounds are
interleaved (every script once per round, in a rotated order) and each
script's ratio to the typical token-bucket script is taken per round.

Shadow settings (issue 10): the same acquire on a bucket with a shadow, and
on a bucket without one through the script of ``main`` (``git show
main:limiter/lua/token_bucket.lua``; ``$TBDASH_BASELINE_REF`` names another
ref), so the lean path's cost of the new feature is a ratio of the same run:
`baseline_table`. Run just this table with ``python -m benchmarks.server_side``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from dataclasses import dataclass, field

import redis

from benchmarks.floors import TYPICAL_TOKEN_BUCKET_LUA

RATE = 1_000_000
BASELINE_REF = os.environ.get("TBDASH_BASELINE_REF", "main")


def baseline_source() -> str | None:
    """token_bucket.lua as ``BASELINE_REF`` has it (None outside a git checkout, or when it is the same file)."""
    from limiter import script

    try:
        out = subprocess.run(["git", "show", f"{BASELINE_REF}:limiter/lua/token_bucket.lua"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0 or out.stdout == script.SOURCE:
        return None
    return out.stdout


@dataclass
class ServerRow:
    key: str
    label: str
    role: str  # floor | tbdash | context
    usec: list[float] = field(default_factory=list)  # per round
    ratios: list[float] = field(default_factory=list)  # per round, to the floor

    @property
    def median(self) -> float:
        return statistics.median(self.usec)

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)


def _scripts(client: redis.Redis) -> list[tuple[ServerRow, Callable[[], tuple[object, ...]]]]:
    """(row, a function giving the EVALSHA arguments of one call), the floor first."""
    from limiter import BucketConfig, RedisLimiter, script

    typical = client.script_load(TYPICAL_TOKEN_BUCKET_LUA)
    one = client.script_load("return 1")
    client.script_load(script.SOURCE)
    grants = RedisLimiter(client, prefix="bench_server", default=BucketConfig(max_tokens=RATE, refill_count=RATE // 1000, refill_interval=0.001))
    denials = RedisLimiter(client, prefix="bench_server", default=BucketConfig(max_tokens=1, refill_count=1, refill_interval=1.0))
    for lim, user in ((grants, "grants"), (grants, "replay-checked"), (denials, "denials"), (grants, "baseline"), (grants, "shadowed")):
        lim.delete(user)
    # A shadow with the same rate: its acquires are grants too, so only the shadow's own cost differs.
    grants.configure("shadowed", grants.default, shadow=True, create=True)
    ids = grants._ids

    def acquire(lim: RedisLimiter, user: str, *first: object, sha: str = script.SHA) -> Callable[[], tuple[object, ...]]:
        key = lim.key(user)
        return lambda: (sha, 1, key, *lim._args("acquire", 1, ids.next()), *first)

    baseline = baseline_source()
    shadow_rows = [
        (ServerRow("server.tbdash_shadowed", "tbdash acquire on a bucket **with a shadow** (a grant and a shadow grant)", "context"),
         acquire(grants, "shadowed", *script.FRESH)),
    ]
    if baseline is not None:
        shadow_rows.append(
            (ServerRow("server.baseline", f"{BASELINE_REF}'s script, the same acquire (a grant, a first attempt; no shadow)", "context"),
             acquire(grants, "baseline", *script.FRESH, sha=client.script_load(baseline))))
    return [
        (ServerRow("server.typical", "floor: the typical token-bucket script", "floor"),
         lambda: (typical, 1, "bench:typical-server", RATE, RATE // 1000, 1000, 1)),
        (ServerRow("server.tbdash", "**tbdash acquire** (a grant; a first attempt, as `try_acquire` sends it)", "tbdash"),
         acquire(grants, "grants", *script.FRESH)),
        (ServerRow("server.tbdash_replay", "tbdash acquire, request id checked (a retry, or an older caller)", "context"),
         acquire(grants, "replay-checked")),
        (ServerRow("server.tbdash_denied", "tbdash acquire, denial-heavy (1 token, 1/s)", "context"),
         acquire(denials, "denials", *script.FRESH)),
        (ServerRow("server.return_1", "`return 1` (context: the cost of calling a script)", "context"), lambda: (one, 0)),
        *shadow_rows,
    ]


def run(client: redis.Redis, rounds: int, calls: int, progress: Callable[[str], None] = lambda _: None) -> list[ServerRow]:
    scripts = _scripts(client)
    for _, args in scripts:  # warm-up: keys exist, caches are hot
        _batch(client, args, min(calls, 500))
    for r in range(rounds):
        progress(f"server time, round {r + 1}/{rounds}")
        order = scripts[r % len(scripts):] + scripts[: r % len(scripts)]
        this_round: dict[str, float] = {}
        for row, args in order:
            client.config_resetstat()
            _batch(client, args, calls)
            row.usec.append(client.info("commandstats")["cmdstat_evalsha"]["usec_per_call"])
            this_round[row.key] = row.usec[-1]
        floor = this_round[scripts[0][0].key]
        for row, _ in scripts:
            row.ratios.append(this_round[row.key] / floor)
    return [row for row, _ in scripts]


def _batch(client: redis.Redis, args: Callable[[], tuple[object, ...]], calls: int) -> None:
    for start in range(0, calls, 500):
        pipe = client.pipeline(transaction=False)
        for _ in range(min(500, calls - start)):
            pipe.execute_command("EVALSHA", *args())
        for reply in pipe.execute(raise_on_error=False):
            if isinstance(reply, Exception):
                raise RuntimeError(f"server-side benchmark call failed: {reply!r}") from reply


def table(rows: list[ServerRow]) -> str:
    lines = [
        "| script (one EVALSHA) | server µs/call | min–max | × typical script | min–max |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.label} | {row.median:.2f} | {min(row.usec):.2f}–{max(row.usec):.2f} | "
            f"{row.ratio:.2f} | {min(row.ratios):.2f}–{max(row.ratios):.2f} |"
        )
    return "\n".join(lines)


def baseline_table(rows: list[ServerRow]) -> str:
    """The acquire without a shadow and with one, each as a ratio to the baseline script's, per round (same run)."""
    by_key = {row.key: row for row in rows}
    base = by_key.get("server.baseline")
    if base is None:
        return f"(no baseline: {BASELINE_REF}'s token_bucket.lua is this one, or git cannot show it)"
    lines = [f"| acquire (one EVALSHA) | × {BASELINE_REF}'s script: median | min–max over rounds |", "|---|---:|---:|"]
    for key, label in (("server.tbdash", "no shadow (the lean path)"), ("server.tbdash_shadowed", "with a shadow")):
        row = by_key[key]
        ratios = [u / b for u, b in zip(row.usec, base.usec)]
        lines.append(f"| {label} | {statistics.median(ratios):.3f} | {min(ratios):.3f}–{max(ratios):.3f} |")
    return "\n".join(lines)


def paired(client: redis.Redis, rows: list[tuple[ServerRow, Callable[[], tuple[object, ...]]]], pairs: int, calls: int) -> dict[str, list[float]]:
    """Each row's server time over the baseline's, measured in back-to-back pairs (order alternating).

    On a shared machine the load drifts within a round; a pair of short
    batches, one right after the other, sees nearly the same load, so the
    ratio per pair is steadier than a ratio of whole rounds.
    """
    by_key = {row.key: (row, args) for row, args in rows}
    if "server.baseline" not in by_key:
        return {}
    _, base = by_key["server.baseline"]
    out: dict[str, list[float]] = {}
    for key in ("server.tbdash", "server.tbdash_shadowed"):
        _, args = by_key[key]
        ratios = out[key] = []
        for i in range(pairs):
            times = {}
            for name, call in ((("a", args), ("b", base)) if i % 2 == 0 else (("b", base), ("a", args))):
                client.config_resetstat()
                _batch(client, call, calls)
                times[name] = client.info("commandstats")["cmdstat_evalsha"]["usec_per_call"]
            ratios.append(times["a"] / times["b"])
    return out


def paired_table(ratios: dict[str, list[float]], pairs: int, calls: int) -> str:
    if not ratios:
        return f"(no baseline: {BASELINE_REF}'s token_bucket.lua is this one, or git cannot show it)"
    lines = [f"| acquire (one EVALSHA), {pairs} back-to-back pairs of {calls} calls | × {BASELINE_REF}'s script: median | "
             "middle half (25–75 %) |", "|---|---:|---:|"]
    for key, label in (("server.tbdash", "no shadow (the lean path)"), ("server.tbdash_shadowed", "with a shadow")):
        r = sorted(ratios[key])
        q1, q3 = r[len(r) // 4], r[(3 * len(r)) // 4]
        lines.append(f"| {label} | {statistics.median(r):.3f} | {q1:.3f}–{q3:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.server_side [--rounds N] [--calls N]``: this table alone, on a private server."""
    import argparse

    from benchmarks.server import PrivateRedis

    parser = argparse.ArgumentParser(prog="python -m benchmarks.server_side", description="server time per script call, alone")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=4000, help="pipelined calls per script per round")
    parser.add_argument("--pairs", type=int, default=101, help="back-to-back pairs against the baseline script")
    parser.add_argument("--pair-calls", type=int, default=1000, help="calls per batch of a pair")
    parser.add_argument("--redis-server", metavar="PATH")
    args = parser.parse_args(argv)
    with PrivateRedis(args.redis_server) as server:
        client = redis.Redis(host="127.0.0.1", port=server.port)
        try:
            rows = run(client, args.rounds, args.calls, lambda msg: print(msg, file=sys.stderr))
            ratios = paired(client, _scripts(client), args.pairs, args.pair_calls)
        finally:
            client.close()
    print(f"redis-server {server.version}, {args.rounds} rounds of {args.calls:,} calls per script\n")
    print(table(rows))
    print()
    print(baseline_table(rows))
    print()
    print(paired_table(ratios, args.pairs, args.pair_calls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
