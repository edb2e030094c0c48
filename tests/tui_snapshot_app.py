"""The dashboard on fixed data, for SVG snapshots: frozen clock, polls only when asked, no cursor blink.

Run it by hand to look at the same screens the snapshots hold:
``python tests/tui_snapshot_app.py`` (polls every second on the fixed data).
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field, replace
from typing import AsyncIterator

from textual.pilot import Pilot
from textual.widgets import Input

from dashboard.core.protocol import (
    AuditEntry,
    BucketRow,
    ConnectionInfo,
    InvalidKey,
    LoadProgress,
    LoadSpec,
    ShadowRow,
    Snapshot,
)
from dashboard.tui.app import TbdashApp
from limiter.config import BucketConfig


# --------------------------------------------------------------------------- fixed data
# The Redis path of the dashboard is tested against real servers with the real
# `RedisBackend` (tests/test_tui_pilot.py); this backend only exists so that
# snapshots show the same pixels on every run.

T0 = 1_790_000_000.0  # the frozen clock: every frame is T0 + its index


def _levels(user: str, frame: int, ceiling: int) -> int:
    """A deterministic shape per user."""
    if user == "checkout-api":  # drained by steady overload, refilled in steps
        return max(0, ceiling - 7 * (frame % 24))
    if user == "search":  # sawtooth
        return (frame * 9) % (ceiling + 1)
    if user == "batch-export":  # always throttled
        return frame % 3
    if user == "mobile-app":  # mostly full, a dip
        return ceiling if frame % 20 < 14 else ceiling - 40 * (frame % 20 - 13)
    return ceiling  # idle and full


USERS: tuple[tuple[str, BucketConfig, bool], ...] = (
    ("checkout-api", BucketConfig(max_tokens=100, burst=50, refill_count=10, refill_interval=1.0), True),
    ("search", BucketConfig(max_tokens=200, burst=0, refill_count=50, refill_interval=0.5), False),
    ("batch-export", BucketConfig(max_tokens=10, burst=0, refill_count=1, refill_interval=2.0), True),
    ("mobile-app", BucketConfig(max_tokens=300, burst=100, refill_count=100, refill_interval=1.0), False),
    ("user_42", BucketConfig(max_tokens=10, burst=5, refill_count=1, refill_interval=1.0), False),
    ("tenant-[eu]-{a}", BucketConfig(max_tokens=60, burst=0, refill_count=1, refill_interval=0.25), False),
)


@dataclass
class FixedBackend:
    """Frame ``n`` on the n-th poll; configure/reset/... are recorded, not applied."""

    info: ConnectionInfo = field(default_factory=lambda: ConnectionInfo(mode="standalone", server="127.0.0.1:6379", version="7.0.15"))
    read_only: bool = False
    frame: int = -1
    writes: list[tuple[str, str, object]] = field(default_factory=list)
    closed: bool = False
    failure: Exception | None = None  # set it and every poll raises it (a Redis that went away)
    prefix: str = "token_bucket"
    default: BucketConfig = field(default_factory=lambda: BucketConfig(max_tokens=10, burst=0, refill_count=1, refill_interval=1.0))
    # Users in preview: their shadow settings and the frame the shadow was set at (`shadow` records it).
    shadows: dict[str, tuple[BucketConfig, int]] = field(default_factory=dict)

    async def connect(self) -> ConnectionInfo:
        return self.info

    def now(self) -> float:
        return T0 + max(self.frame, 0)

    def rows(self, frame: int) -> tuple[BucketRow, ...]:
        rows = []
        for i, (user, config, overridden) in enumerate(USERS):
            tokens = _levels(user, frame, config.ceiling)
            previous = _levels(user, frame - 1, config.ceiling) if frame > 0 else None
            grants = None if previous is None else float(max(0, previous - tokens) + (7 if user == "checkout-api" else 0))
            denials = None if previous is None else (4.0 if user == "batch-export" else 0.0)
            rows.append(
                BucketRow(
                    user=user,
                    tokens=tokens,
                    config=config,
                    granted=1000 * (i + 1) + frame * 3,
                    denied=37 * i + frame if user == "batch-export" else 2 * i,
                    overridden=overridden,
                    ttl_ms=None if overridden else 60_000,
                    grants_per_s=grants,
                    denials_per_s=denials,
                    shadow=self._shadow(user, frame, tokens, grants, denials),
                    anchor_us=int(self.now() * 1_000_000) - (0 if tokens >= config.ceiling else 250_000),
                )
            )
        return tuple(rows)

    def _shadow(self, user: str, frame: int, tokens: int, grants: float | None, denials: float | None) -> ShadowRow | None:
        """A preview that takes the same acquires on its tighter settings: lower, denying more."""
        if user not in self.shadows:
            return None
        config, since = self.shadows[user]
        level = min(config.ceiling, tokens // 2 + (frame % 5))
        extra = 3.0 + frame % 4  # denials the tighter settings add
        shadow_denials = None if denials is None else denials + extra
        shadow_grants = None if grants is None else max(0.0, grants - extra)
        age = max(0, frame - since)
        return ShadowRow(level, config, granted=11 * age, denied=int((4 + extra) * age), grants_per_s=shadow_grants, denials_per_s=shadow_denials)

    async def poll(self) -> Snapshot:
        if self.failure is not None:
            raise self.failure
        self.frame += 1
        return Snapshot(
            taken_at=self.now(),
            redis_time_us=int(self.now() * 1_000_000),
            buckets=self.rows(self.frame),
            invalid=(InvalidKey("token_bucket:{legacy-user}", "not a hash (string)"),),
            poll_seconds=0.004,
            latency_ms=0.3,
        )

    async def configure(self, user: str, config: BucketConfig, *, create: bool = True) -> AuditEntry:
        self.writes.append(("configure", user, config))
        return AuditEntry("1-0", self.now(), "ops@host", "configure", user, None, config.model_dump())

    async def unconfigure(self, user: str) -> AuditEntry:
        self.writes.append(("unconfigure", user, None))
        return AuditEntry("2-0", self.now(), "ops@host", "unconfigure", user, None, None)

    async def reset(self, user: str) -> AuditEntry:
        self.writes.append(("reset", user, None))
        return AuditEntry("3-0", self.now(), "ops@host", "reset", user, None, None)

    async def delete(self, user: str) -> AuditEntry:
        self.writes.append(("delete", user, None))
        return AuditEntry("4-0", self.now(), "ops@host", "delete", user, None, None)

    async def shadow(self, user: str, config: BucketConfig, *, create: bool = False) -> AuditEntry | None:
        self.writes.append(("shadow", user, config))
        self.shadows[user] = (config, self.frame)
        return AuditEntry("5-0", self.now(), "ops@host", "shadow", user, None, None)

    async def promote(self, user: str) -> AuditEntry | None:
        self.writes.append(("promote", user, None))
        return None if self.shadows.pop(user, None) is None else AuditEntry("6-0", self.now(), "ops@host", "promote", user, None, None)

    async def discard_shadow(self, user: str) -> AuditEntry | None:
        self.writes.append(("discard_shadow", user, None))
        return None if self.shadows.pop(user, None) is None else AuditEntry("7-0", self.now(), "ops@host", "discard_shadow", user, None, None)

    async def audit(self, limit: int = 100) -> list[AuditEntry]:
        return [
            AuditEntry("1-0", T0 - 60, "ops@host", "configure", "checkout-api",
                       {"max_tokens": 100, "burst": 0, "refill_count": 10, "refill_interval": 1.0},
                       {"max_tokens": 100, "burst": 50, "refill_count": 10, "refill_interval": 1.0}),
        ][:limit]

    async def bucket(self, user: str) -> BucketRow | None:
        return next((row for row in self.rows(max(self.frame, 0)) if row.user == user), None)

    async def peek(self, user: str) -> None:
        return None

    async def check_load(self, spec: LoadSpec) -> BucketRow | None:
        return None

    def load(self, spec: LoadSpec, *, bucket: BucketRow | None = None) -> FixedLoad:
        return FixedLoad(self._progress(spec))

    async def _progress(self, spec: LoadSpec) -> AsyncIterator[LoadProgress]:
        steps = 4
        for i in range(1, steps + 1):
            await asyncio.sleep(0)
            elapsed = spec.duration * i / steps
            sent = int(spec.rate * elapsed)
            granted = min(sent, 150)
            yield LoadProgress(spec, elapsed, sent, granted, sent - granted, 0, 0.4, 1.9, spec.rate, done=i == steps)

    async def aclose(self) -> None:
        self.closed = True


class FixedLoad:
    """The fixed load's progress as a `LoadStream` (`cancel` ends it at the next step, partial)."""

    def __init__(self, steps: AsyncIterator[LoadProgress]) -> None:
        self.steps = steps
        self.final: LoadProgress | None = None
        self.cancelled = False

    async def __aiter__(self) -> AsyncIterator[LoadProgress]:
        async for progress in self.steps:
            if self.cancelled:
                progress = replace(progress, done=True, cancelled=True)
            if progress.done:
                self.final = progress
            yield progress
            if progress.done:
                return

    def cancel(self) -> None:
        self.cancelled = True

    async def aclose(self) -> None:
        await self.steps.aclose()  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- the app


# The previews of the preview snapshots: tighter settings on two users, set 30 frames in.
PREVIEWS = {
    "checkout-api": (BucketConfig(max_tokens=60, burst=0, refill_count=5, refill_interval=1.0), 30),
    "mobile-app": (BucketConfig(max_tokens=200, burst=250, refill_count=50, refill_interval=1.0), 30),
}


def make_app(*, read_only: bool = False, previews: bool = False) -> TbdashApp:
    backend = FixedBackend(shadows=dict(PREVIEWS) if previews else {})
    return TbdashApp(backend, start_paused=True, read_only=read_only, poll_interval=1.0, history_length=120, clock=backend.now)


async def warm(pilot: Pilot, frames: int = 40) -> None:
    """``frames`` fixed frames (a frozen second apart), so the trend column and the graph have history.

    All but the last go straight into the history (rendering each would only
    slow the tests down); the last is a real poll through the app.
    """
    app = pilot.app
    assert isinstance(app, TbdashApp)
    await app.workers.wait_for_complete()
    await pilot.pause()
    backend = app.backend
    while backend.frame < frames - 2:
        app.history.record(await backend.poll())
    app.poll_now()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def still(pilot: Pilot) -> None:
    """No blinking cursors, nothing left to run."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    for box in pilot.app.screen.query(Input):
        box.cursor_blink = False
    await pilot.pause()


if __name__ == "__main__":
    backend = FixedBackend()
    TbdashApp(backend, poll_interval=1.0, read_only="--read-only" in sys.argv).run()
