"""Dispatch: parse, load settings, judge the arguments, connect, run one command, map every failure to one line and an exit code."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import TYPE_CHECKING, Awaitable, Callable, Sequence, TextIO

from dashboard.cli.audit import audit, check_audit
from dashboard.cli.change import check_set, set_command
from dashboard.cli.context import Context, load_settings, open_backend, quiet_close, redis_error, scrub, secrets_of, server_for, write
from dashboard.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, Failed, Unreachable, UsageError
from dashboard.cli.load import load, load_spec
from dashboard.cli.metrics import metrics
from dashboard.cli.parser import build_parser
from dashboard.cli.shadow import check_shadow, shadow_command
from dashboard.cli.status import check_status, status
from dashboard.core.failures import ACL_HINT, OPERATOR_HINT

if TYPE_CHECKING:
    from dashboard.core.protocol import Backend

COMMANDS: dict[str, Callable[[Context, Backend], Awaitable[int]]] = {
    "status": status, "set": set_command, "load": load, "audit": audit, "shadow": shadow_command,
}
WRITES = frozenset({"set", "load", "shadow"})


async def _run_command(ctx: Context) -> int:
    from redis.exceptions import RedisError

    from dashboard.core.errors import CoreError

    command = ctx.args.command
    url, stop = server_for(ctx)
    try:
        backend = await open_backend(ctx, url, embedded=url is not None)
        try:
            return await COMMANDS[command](ctx, backend)
        except (BrokenPipeError, CoreError):  # the reader left; the core's own errors say what they mean
            raise
        except (RedisError, OSError) as exc:  # RedisUnavailable is a ConnectionError, so an OSError
            hint = OPERATOR_HINT if command in WRITES else ACL_HINT
            raise redis_error(ctx, exc, url=url, hint=hint, prefix=f"tbdash {command}") from None
        finally:
            await quiet_close(backend)
    finally:
        stop()


def _check_before_connecting(ctx: Context, command: str) -> None:
    """Every argument that can be judged without Redis is judged first: exit 2 even when Redis is down."""
    if command == "set":
        check_set(ctx)
    elif command == "load":
        load_spec(ctx)
    elif command == "audit":
        check_audit(ctx)
    elif command == "shadow":
        check_shadow(ctx)
    elif command == "status":
        check_status(ctx)


def _dispatch(ctx: Context) -> int:
    from dashboard.cli import tui
    from dashboard.core.errors import ReadOnlyError

    command = ctx.args.command or "dashboard"
    _check_before_connecting(ctx, command)
    try:
        if command == "dashboard":
            return tui.dashboard(ctx)
        if command == "demo":
            return tui.demo(ctx)
        if command == "metrics":  # a server: it opens (and reopens) its own backend
            return metrics(ctx)
        return asyncio.run(_run_command(ctx))
    except ReadOnlyError as exc:
        raise UsageError(f"tbdash {command}: {exc}") from None


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run tbdash; returns the exit code (the console script passes it to ``sys.exit``)."""
    out = out or sys.stdout
    err = err or sys.stderr
    secrets: list[str] = []
    try:
        args = build_parser().parse_args(argv)
        settings = load_settings(args)
        secrets = secrets_of(settings)
        return _dispatch(Context(args, settings, out, err, secrets))
    except UsageError as exc:
        write(err, scrub(str(exc), secrets))
        return EXIT_USAGE
    except Unreachable as exc:
        write(err, scrub(str(exc), secrets))
        return EXIT_UNREACHABLE
    except Failed as exc:
        write(err, scrub(str(exc), secrets))
        return EXIT_FAILED
    except KeyboardInterrupt:
        write(err, "tbdash: interrupted")
        return EXIT_INTERRUPTED
    except SystemExit as exc:  # --help (0) and argparse's own exits
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except BrokenPipeError:
        # `tbdash status | head`: the reader left; not an error worth a traceback.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return EXIT_OK
    except Exception as exc:  # a bug or an unexpected answer: one line, no traceback
        if os.environ.get("TBDASH_DEBUG"):
            raise
        from dashboard.core.untrusted import shown

        write(err, scrub(f"tbdash: unexpected error ({type(exc).__name__}): {shown(str(exc))}", secrets))
        return EXIT_FAILED
