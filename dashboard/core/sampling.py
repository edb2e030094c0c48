"""Watch the buckets for a while: poll every ``interval`` seconds until ``period`` seconds of Redis time have passed.

One snapshot cannot know a bucket's denials over the last minute (its
counters count since the bucket was created) nor how long it has been empty;
a run of polls can. Each snapshot goes to every ``feed`` (a `WindowStore`, an
`EmptySince`...), so their windows and runs cover the sampled period. The
period is measured in Redis time (the clock of the samples), the waits on the
local clock.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Protocol

from dashboard.core.protocol import Backend, Snapshot


class Feed(Protocol):
    def feed(self, snapshot: Snapshot) -> None: ...


@dataclass(frozen=True, slots=True)
class Sampled:
    first: Snapshot
    last: Snapshot
    polls: int

    @property
    def seconds(self) -> float:
        """Redis time from the first poll to the last."""
        return (self.last.redis_time_us - self.first.redis_time_us) / 1_000_000


async def sample(
    backend: Backend,
    period: float,
    interval: float,
    feeds: tuple[Feed, ...],
    *,
    on_poll: Callable[[Snapshot, float], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Sampled:
    """Poll until ``period`` seconds of Redis time separate the first and the last poll.

    ``on_poll(snapshot, elapsed)`` after each poll (progress). Raises what `Backend.poll` raises.
    A Redis clock that stops or goes back (a failover) cannot make it run on:
    it also stops after twice the period on the local clock.
    """
    if period < 0 or interval <= 0:
        raise ValueError("period must be >= 0 and interval > 0")
    first = snapshot = await backend.poll()
    for feed in feeds:
        feed.feed(snapshot)
    elapsed, polls = 0.0, 1
    give_up = time.monotonic() + 2 * period + interval
    if on_poll is not None:
        on_poll(snapshot, elapsed)
    while elapsed < period and time.monotonic() < give_up:
        await sleep(max(0.0, min(interval, period - elapsed)))
        snapshot = await backend.poll()
        polls += 1
        for feed in feeds:
            feed.feed(snapshot)
        elapsed = (snapshot.redis_time_us - first.redis_time_us) / 1_000_000
        if on_poll is not None:
            on_poll(snapshot, elapsed)
    return Sampled(first, snapshot, polls)
