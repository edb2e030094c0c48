"""``tbdash`` / ``tbdash dashboard`` and ``tbdash demo``: the Textual app, imported only here."""

from __future__ import annotations

import asyncio
from typing import Any

from dashboard.cli.context import Context, open_backend, quiet_close, server_for, start_embedded
from dashboard.cli.errors import EXIT_OK, Failed


def _tui() -> Any:
    try:
        from dashboard.tui.app import TbdashApp
    except ImportError as exc:
        raise Failed(f"tbdash: the dashboard UI cannot be loaded ({exc}); `tbdash status` works without it") from None
    return TbdashApp


def run_app(ctx: Context, url: str | None, *, embedded: bool = False) -> int:
    """Check the connection first (exit 3 rather than a dashboard that never connects), then run the app."""
    import dataclasses

    from dashboard.core.backend import RedisBackend

    TbdashApp = _tui()

    async def check() -> Any:
        backend = await open_backend(ctx, url)
        await quiet_close(backend)  # its connections belong to this loop; the app runs its own
        return backend.info

    info = asyncio.run(check())
    if embedded:  # the private server of `tbdash demo`: say so in the header
        info = dataclasses.replace(info, mode="embedded")
    app_backend = RedisBackend.from_settings(ctx.settings, url=url)
    app_backend.info = info
    app = TbdashApp(
        app_backend,
        poll_interval=ctx.settings.dashboard.poll_interval,
        history_length=ctx.settings.dashboard.history_length,
        read_only=app_backend.read_only,
    )
    app.run()
    return EXIT_OK


def dashboard(ctx: Context) -> int:
    url, stop = server_for(ctx)
    try:
        return run_app(ctx, url)
    finally:
        stop()


def demo(ctx: Context) -> int:
    from dashboard.core.demo import DemoTraffic, seed_demo
    from limiter.connect import connect

    _tui()  # fail before starting anything
    url, stop = start_embedded(ctx)
    traffic = None
    try:
        settings = ctx.settings
        prefix, default, users = settings.limiter.prefix, settings.limiter.default, settings.demo.users

        async def seed() -> None:
            client = connect(url, asyncio=True)
            try:
                await seed_demo(client, prefix, default, users)
            finally:
                await client.aclose()

        asyncio.run(seed())
        traffic = DemoTraffic(url, users, prefix=prefix, default=default, seed=settings.demo.seed).start()
        return run_app(ctx, url, embedded=True)
    finally:
        if traffic is not None:
            traffic.stop()
        stop()
