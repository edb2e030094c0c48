"""Server time per script call: ``INFO commandstats`` usec_per_call of each script, on the private server.

The client does not count here: each round sends a batch of calls of one
script in pipelines, between ``CONFIG RESETSTAT`` and ``INFO commandstats``,
and reads the server's own microseconds per ``EVALSHA``. Rounds are
interleaved (every script once per round, in a rotated order) and each
script's ratio to the typical token-bucket script is taken per round.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from benchmarks.floors import TYPICAL_TOKEN_BUCKET_LUA

RATE = 1_000_000


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
    for lim, user in ((grants, "grants"), (grants, "replay-checked"), (denials, "denials")):
        lim.delete(user)
    ids = grants._ids

    def acquire(lim: RedisLimiter, user: str, *first: object) -> Callable[[], tuple[object, ...]]:
        key = lim.key(user)
        return lambda: (script.SHA, 1, key, *lim._args("acquire", 1, ids.next()), *first)

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
