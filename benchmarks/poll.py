"""Poll benchmark: ``python -m benchmarks.poll [--buckets 10000 100000] [--url URL]``.

Seeds N bucket hashes the way the Lua script writes them (mixed settings, some
drained, some with operator settings) on a private redis-server (or ``--url``,
which it FLUSHES: never point it at production), then times full polls:
discovery (SCAN), reads (pipelined HMGET + PTTL + TIME) and rows (levels and
rates). Prints the best and the median of ``--polls`` polls per size.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

import redis
import redis.asyncio

from dashboard.core.poller import Poller

CONFIGS = [(10, 5, 1, 1_000_000), (100, 20, 50, 500_000), (5, 0, 1, 1_000_000), (1000, 0, 100, 1_000_000)]


def seed(client: redis.Redis, prefix: str, count: int) -> None:
    rng = random.Random(1)
    now_us = int(time.time() * 1_000_000)
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        mt, b, rc, iv = CONFIGS[i % len(CONFIGS)]
        pipe.hset(
            f"{prefix}:{{user{i}}}",
            mapping={
                "tokens": rng.randint(0, mt + b),
                "anchor_us": now_us - rng.randint(0, 5_000_000),
                "max_tokens": mt, "burst": b, "refill_count": rc, "interval_us": iv,
                "operator": 1 if i % 10 == 0 else 0,
                "granted": rng.randint(0, 10**6), "denied": rng.randint(0, 10**5),
            },
        )
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()


async def measure(url: str, prefix: str, polls: int) -> list[tuple[float, float, float]]:
    client = redis.asyncio.Redis.from_url(url, socket_timeout=30)
    poller = Poller(client, prefix)
    out = []
    try:
        for _ in range(polls):
            snapshot = await poller.poll()
            out.append((poller.last_discovery_s, poller.last_read_s, snapshot.poll_seconds))
    finally:
        await client.aclose()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.poll", description=__doc__.splitlines()[0])
    parser.add_argument("--buckets", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--polls", type=int, default=5)
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
        print(f"{'buckets':>8}  {'discovery ms':>14}  {'read+rows ms':>14}  {'total ms':>14}   (best / median of {args.polls})")
        for count in args.buckets:
            sync.flushall()
            seed(sync, "token_bucket", count)
            results = asyncio.run(measure(url, "token_bucket", args.polls))
            cols = []
            for i in range(3):
                values = [r[i] * 1000 for r in results]
                cols.append(f"{min(values):6.0f} / {statistics.median(values):5.0f}")
            print(f"{count:>8}  {cols[0]:>14}  {cols[1]:>14}  {cols[2]:>14}")
        sync.close()
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
