"""``tbdash demo``: seed the ``[demo]`` users and give them synthetic traffic.

Each demo user gets its own operator settings (through ``configure``, so they
show as overridden and are audited as ``tbdash demo``) and one traffic shape:

- ``steady``: ``rate`` requests/s, evenly spaced with a little jitter;
- ``bursty``: every few seconds, a burst worth ``rate`` x the pause, sent at once;
- ``idle``: nothing (the bucket sits full);
- ``throttled``: ``rate`` requests/s against a bucket that refills slower, so it
  stays at 0 and most requests are denied.

The traffic runs in its own thread, event loop and client, so it never
competes with the dashboard's loop, and `DemoTraffic.stop` ends it cleanly.
A lost server makes the senders pause and retry, never die.
"""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Any, Iterable

from dashboard.core.backend import RedisBackend
from dashboard.core.protocol import AuditEntry
from dashboard.settings import DemoUser
from limiter.async_limiter import AsyncRedisLimiter
from limiter.config import BucketConfig

DEMO_WHO = "tbdash demo"


async def seed_demo(client: Any, prefix: str, default: BucketConfig, users: Iterable[DemoUser]) -> list[AuditEntry]:
    """Give every demo user its settings (live ``configure``, audited as ``tbdash demo``); a user that has them already is skipped."""
    backend = RedisBackend(client, prefix=prefix, default=default, who=DEMO_WHO)
    entries = []
    for user in users:
        entry = await backend.configure(user.name, user.bucket)
        if entry is not None:
            entries.append(entry)
    return entries


class DemoTraffic:
    """Synthetic traffic for the demo users, in a background thread. ``start()`` / ``stop()``.

    ``url``: where Redis is (the embedded server); ``users``: ``DemoUser``s
    (name, traffic, rate, tokens). ``sent`` counts requests per user.
    """

    def __init__(
        self,
        url: str,
        users: Iterable[DemoUser],
        *,
        prefix: str,
        default: BucketConfig,
        seed: int | None = None,
    ) -> None:
        self.url = url
        self.users = list(users)
        self.prefix = prefix
        self.default = default
        self.sent: dict[str, int] = {u.name: 0 for u in self.users}
        self.errors = 0
        self._random = random.Random(seed)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    def start(self, timeout: float = 10.0) -> DemoTraffic:
        if self._thread is not None:
            raise RuntimeError("demo traffic already started")
        self._thread = threading.Thread(target=self._main, name="tbdash-demo-traffic", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("demo traffic did not start")
        if self._failure is not None:
            raise self._failure
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every sender, close the client, join the thread. Idempotent."""
        if self._thread is None:
            return
        if self._loop is not None and self._stopping is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stopping.set)
            except RuntimeError:
                pass  # the loop is already gone
        self._thread.join(timeout)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> DemoTraffic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- the thread

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # noqa: BLE001 - reported through start()
            self._failure = exc
            self._ready.set()

    async def _run(self) -> None:
        from limiter.connect import connect

        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        client = connect(self.url, asyncio=True, client_name="tbdash-demo")
        limiter = AsyncRedisLimiter(client, prefix=self.prefix, default=self.default, on_error="deny")
        senders = [asyncio.ensure_future(self._send(limiter, user)) for user in self.users if user.traffic != "idle"]
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            for task in senders:
                task.cancel()
            await asyncio.gather(*senders, return_exceptions=True)
            await client.aclose()

    async def _send(self, limiter: AsyncRedisLimiter, user: Any) -> None:
        shape = {"steady": self._steady, "throttled": self._steady, "bursty": self._bursty}[user.traffic]
        await shape(limiter, user)

    async def _one(self, limiter: AsyncRedisLimiter, user: Any) -> None:
        try:
            decision = await limiter.try_acquire(user.name, user.tokens)
        except Exception:  # noqa: BLE001 - a demo keeps going; the dashboard shows the trouble
            self.errors += 1
            await asyncio.sleep(1.0)
            return
        self.sent[user.name] += 1
        if decision.fail_mode is not None:
            self.errors += 1
            await asyncio.sleep(1.0)  # Redis is away: don't spin

    async def _steady(self, limiter: AsyncRedisLimiter, user: Any) -> None:
        period = 1.0 / user.rate
        while True:
            await self._one(limiter, user)
            await asyncio.sleep(period * self._random.uniform(0.7, 1.3))

    async def _bursty(self, limiter: AsyncRedisLimiter, user: Any) -> None:
        while True:
            pause = self._random.uniform(2.0, 8.0)
            await asyncio.sleep(pause)
            burst = max(1, round(user.rate * pause))
            for _ in range(burst):
                await self._one(limiter, user)
