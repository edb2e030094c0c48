"""``tbdash`` / ``tbdash dashboard`` and ``tbdash demo``: the Textual app, imported only here."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from dashboard.cli.context import Context, open_backend, server_for, start_embedded
from dashboard.cli.errors import EXIT_OK, Failed

if TYPE_CHECKING:
    from dashboard.tui.app import TbdashApp


def _tui() -> type[TbdashApp]:
    try:
        from dashboard.tui.app import TbdashApp
    except ImportError as exc:
        raise Failed(f"tbdash: the dashboard UI cannot be loaded ({exc}); `tbdash status` works without it") from None
    return TbdashApp


def run_app(ctx: Context, url: str | None, *, embedded: bool = False) -> int:
    """Connect first (exit 3 rather than a dashboard that never connects), then run the app on that backend.

    The check and the app share one event loop, so the backend (and its
    connections) that passed the check is the one the app uses and closes.
    """
    app_class = _tui()

    from dashboard.core.thresholds import Thresholds
    from dashboard.settings.saving import save_setting, user_config_file

    settings = ctx.settings.dashboard
    config_file = ctx.settings.source_file or user_config_file()  # the theme goes to the file in use

    async def main() -> None:
        backend = await open_backend(ctx, url, embedded=embedded)
        app = app_class(
            backend,
            poll_interval=settings.poll_interval,
            history_length=settings.history_length,
            read_only=backend.read_only,
            thresholds=Thresholds.from_settings(settings),
            export_dir=settings.export_dir,
            theme=settings.theme,
            save_theme=lambda name: save_setting(config_file, "dashboard", "theme", name),
        )
        await app.run_async()  # what App.run() does, in this loop; the app closes the backend

    asyncio.run(main())
    return EXIT_OK


def dashboard(ctx: Context) -> int:
    url, stop = server_for(ctx)
    try:
        return run_app(ctx, url, embedded=url is not None)
    finally:
        stop()


def demo(ctx: Context) -> int:
    from dashboard.connection import connect_target
    from dashboard.core.demo import DemoTraffic, seed_demo

    _tui()  # fail before starting anything
    url, stop = start_embedded(ctx)
    traffic = None
    try:
        settings = ctx.settings
        prefix, default, users = settings.limiter.prefix, settings.limiter.default, settings.demo.users

        async def seed() -> None:
            client = connect_target(url, asyncio=True)
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
