"""``tbdash metrics``: a Prometheus exporter on the dashboard's poller (the work is in `dashboard.core.exporter`).

Order of things: the listen address and the extra are checked first (exit 2),
then the port is bound (exit 2 when it cannot be: in use, no such address,
no permission), then the poll loop starts. Redis being down, at start or
later, does not stop the exporter: it keeps serving with ``tbdash_up 0`` and
says so on stderr, once per change of problem. Read-only: the backend is
opened read-only (the parser sets ``--read-only`` for this command) and the
loop only polls. SIGTERM stops it (exit 0), Ctrl-C too (exit 130).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
from typing import TYPE_CHECKING, Any, Iterator

from dashboard.cli.context import Context, open_backend, redis_error, server_for
from dashboard.cli.errors import EXIT_OK, Failed, UsageError

if TYPE_CHECKING:
    from dashboard.core.protocol import Backend
    from dashboard.settings import ListenAddress

PREFIX = "tbdash metrics"


def listen_address(ctx: Context) -> ListenAddress:
    """``--listen``, else ``[metrics] listen`` (validated when the settings loaded)."""
    from dashboard.settings import parse_listen

    given = getattr(ctx.args, "listen", None)
    if given is None:
        return ctx.settings.metrics.address
    try:
        return parse_listen(given)
    except ValueError as exc:
        raise UsageError(f"{PREFIX}: --listen: {exc}") from None


def _exporter_modules() -> Any:
    try:
        from dashboard.core import exporter
    except ImportError as exc:
        if "prometheus_client" not in str(exc):
            raise
        raise UsageError(f"{PREFIX}: needs prometheus_client: pip install 'tbdash[metrics]'") from None
    return exporter


@contextlib.contextmanager
def serving(registry: Any, address: ListenAddress) -> Iterator[tuple[str, int]]:
    """prometheus_client's HTTP server on ``address`` (threads); yields the (host, port) bound."""
    from prometheus_client import start_http_server

    try:
        httpd, thread = start_http_server(address.port, addr=address.host, registry=registry)
    except OSError as exc:
        raise UsageError(f"{PREFIX}: cannot listen on {address}: {_bind_problem(exc)}") from None
    try:
        host, port = httpd.server_address[:2]
        yield str(host), int(port)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _bind_problem(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "the address is already in use (another exporter? pick another port with --listen)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "no interface of this host has that address"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges)"
    import socket

    if isinstance(exc, socket.gaierror):
        return "the host name cannot be resolved"
    return exc.strerror or type(exc).__name__


def metrics(ctx: Context) -> int:
    address = listen_address(ctx)  # judged before anything starts
    exporter = _exporter_modules()
    return asyncio.run(_serve(ctx, exporter, address))


async def _serve(ctx: Context, exporter: Any, address: ListenAddress) -> int:
    from prometheus_client import CollectorRegistry

    settings = ctx.settings.metrics
    state = exporter.ExporterState(prefix=ctx.settings.limiter.prefix, top_n=settings.top_n)
    registry = CollectorRegistry()
    registry.register(exporter.SnapshotCollector(state))
    url, stop_server = server_for(ctx)
    try:
        with serving(registry, address) as (host, port):
            shown_host = f"[{host}]" if ":" in host else host
            ctx.note(f"{PREFIX}: serving http://{shown_host}:{port}/metrics (top {settings.top_n} buckets by denials under "
                     f"{ctx.settings.limiter.prefix}:, a poll every {settings.poll_interval:g}s)")
            loop = exporter.PollLoop(
                state,
                lambda: _open(ctx, url),
                interval=settings.poll_interval,
                describe=lambda exc: _problem(ctx, exc, url),
                report=lambda text: ctx.note(f"{PREFIX}: {text}"),
                fatal=(UsageError, Failed),
            )
            stop = asyncio.Event()
            with _stopped_by_sigterm(stop):
                await loop.run(stop)
    finally:
        stop_server()
    return EXIT_OK


async def _open(ctx: Context, url: str | None) -> Backend:
    from dashboard.cli.errors import Unreachable

    try:
        return await open_backend(ctx, url, embedded=url is not None)
    except Unreachable as exc:  # not fatal: counted, reported, retried
        raise _Unavailable(str(exc)) from None


class _Unavailable(Exception):
    """Redis could not be reached while opening; the message is the CLI's one line."""


def _problem(ctx: Context, exc: BaseException, url: str | None) -> str:
    if isinstance(exc, _Unavailable):
        return str(exc).removeprefix("tbdash: ")
    from redis.exceptions import RedisError

    if isinstance(exc, (RedisError, OSError)):
        return str(redis_error(ctx, exc, url=url, prefix="tbdash")).removeprefix("tbdash: ")
    from dashboard.core.untrusted import shown

    return f"unexpected error ({type(exc).__name__}): {shown(str(exc))}"


@contextlib.contextmanager
def _stopped_by_sigterm(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
