"""The demo: users seeded with their own audited settings; traffic runs in the background and stops cleanly."""

from __future__ import annotations

import time

import redis.asyncio

from dashboard.core.demo import DEMO_WHO, DemoTraffic, seed_demo
from dashboard.core.poller import Poller
from dashboard.settings import DemoUser
from limiter import BucketConfig

DEFAULT = BucketConfig(max_tokens=10, burst=5)
USERS = [
    DemoUser(name="steady", traffic="steady", rate=50, max_tokens=100, refill_count=10, refill_interval=1),
    DemoUser(name="throttled{x}", traffic="throttled", rate=40, max_tokens=3, refill_count=1, refill_interval=10),
    DemoUser(name="idle", traffic="idle", max_tokens=7),
]


async def test_seed_and_traffic(async_redis_client: redis.asyncio.Redis, redis_url: str) -> None:
    entries = await seed_demo(async_redis_client, "tb", DEFAULT, USERS)
    assert [e.user for e in entries] == ["steady", "throttled{x}", "idle"]
    assert all(e.who == DEMO_WHO and e.action == "configure" for e in entries)

    traffic = DemoTraffic(redis_url, USERS, prefix="tb", default=DEFAULT, seed=1).start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (traffic.sent["steady"] < 5 or traffic.sent["throttled{x}"] < 10):
            time.sleep(0.05)
    finally:
        traffic.stop()
    assert not traffic.running
    sent = dict(traffic.sent)
    rows = {r.user: r for r in (await Poller(async_redis_client, "tb").poll()).buckets}
    assert set(rows) == {"steady", "throttled{x}", "idle"}
    assert all(r.overridden for r in rows.values())
    assert rows["idle"].granted == rows["idle"].denied == 0 and rows["idle"].tokens == 7
    assert rows["throttled{x}"].tokens == 0 and rows["throttled{x}"].denied > 0
    assert rows["steady"].granted > 0
    time.sleep(0.2)
    assert traffic.sent == sent  # stopped means stopped
