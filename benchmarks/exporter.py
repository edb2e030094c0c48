"""Exporter benchmark: ``python -m benchmarks.exporter [--buckets 20000] [--top-n 100] [--rounds 10] [--url URL]``.

Seeds N buckets (as `benchmarks.poll` does) on a private redis-server (or
``--url``, which it FLUSHES: never point it at production), then runs the
exporter's core (`dashboard.core.exporter`) with prometheus_client's HTTP
server on a free loopback port and measures, per round:

* poll: wall time and CPU time of `Backend.poll` (the dashboard's poller);
* view: CPU time of turning that poll into the exported view (top N, totals);
* scrape: wall time of one ``GET /metrics`` over HTTP (httpx), and its size.

Side by side, the same scrape with every bucket exported (``top_n = N``): what
the bound saves Prometheus and the scrape. Prints best and median per figure.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass

import httpx
import redis
import redis.asyncio
from prometheus_client import CollectorRegistry, start_http_server

from benchmarks.poll import seed
from dashboard.core.backend import RedisBackend
from dashboard.core.exporter import ExporterState, SnapshotCollector
from dashboard.core.metrics_view import MetricsView


@dataclass
class Round:
    poll_wall: float
    poll_cpu: float
    view_cpu: float
    scrape: float
    size: int


async def measure(url: str, top_n: int, rounds: int) -> list[Round]:
    client = redis.asyncio.Redis.from_url(url, socket_timeout=30)
    backend = RedisBackend(client, read_only=True)
    state = ExporterState(prefix=backend.prefix, top_n=top_n)
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(state))
    httpd, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    out = []
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            for _ in range(rounds + 1):  # the first round warms caches; dropped
                w0, c0 = time.perf_counter(), time.process_time()
                snapshot = await backend.poll()
                w1, c1 = time.perf_counter(), time.process_time()
                state.succeeded(MetricsView.of(snapshot, top_n, state.totals))
                c2 = time.process_time()
                s0 = time.perf_counter()
                reply = await http.get(f"http://127.0.0.1:{httpd.server_port}/metrics")
                s1 = time.perf_counter()
                reply.raise_for_status()
                out.append(Round(w1 - w0, c1 - c0, c2 - c1, s1 - s0, len(reply.content)))
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
        await client.aclose()
    return out[1:]


def _ms(values: list[float]) -> str:
    return f"{min(values) * 1000:7.1f} / {statistics.median(values) * 1000:7.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.exporter", description=__doc__.splitlines()[0])
    parser.add_argument("--buckets", type=int, default=20_000)
    parser.add_argument("--top-n", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--url", help="an EMPTY scratch Redis (it is flushed); default: a private redis-server")
    args = parser.parse_args(argv)
    server = None
    if args.url is None:
        from dashboard.embedded import EmbeddedRedis

        server = EmbeddedRedis().start()
        url = server.url
    else:
        url = args.url
    try:
        sync = redis.Redis.from_url(url)
        sync.flushall()
        seed(sync, "token_bucket", args.buckets)
        sync.close()
        print(f"{args.buckets} buckets, {args.rounds} rounds; ms as best / median\n")
        print("| exported | poll wall | poll CPU | view CPU | scrape (HTTP) | scrape bytes |")
        print("|---|---|---|---|---|---|")
        scrapes, shares = {}, []
        for top_n in (args.top_n, args.buckets):
            rounds = asyncio.run(measure(url, top_n, args.rounds))
            scrapes[top_n] = statistics.median(r.scrape for r in rounds)
            if top_n == args.top_n:
                shares = [r.view_cpu / r.poll_cpu for r in rounds if r.poll_cpu > 0]
            label = f"top {top_n}" if top_n < args.buckets else f"all {top_n}"
            print(f"| {label} | {_ms([r.poll_wall for r in rounds])} | {_ms([r.poll_cpu for r in rounds])} | "
                  f"{_ms([r.view_cpu for r in rounds])} | {_ms([r.scrape for r in rounds])} | {rounds[-1].size:,} |")
        ratio = scrapes[args.buckets] / scrapes[args.top_n]
        print(f"\nscrape, every bucket exported / top {args.top_n}: {ratio:.0f}x (median)")
        if shares:
            print(f"view CPU / poll CPU, top {args.top_n}: {statistics.median(shares):.1%} (median; min {min(shares):.1%}, max {max(shares):.1%})")
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
