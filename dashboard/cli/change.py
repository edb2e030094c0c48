"""``tbdash set``: change a bucket's settings live, audited; refuse what would change nothing or no bucket.

Everything that can be judged without Redis (flags, values, the user id) is
judged first (`check_set`), so a bad value is exit 2 even when Redis is down.
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Iterator

from dashboard.cli.audit import entry_json
from dashboard.cli.context import Context
from dashboard.cli.errors import EXIT_OK, Failed, UsageError
from dashboard.cli.output import dumps, json_fields, shown, value_text
from dashboard.core.audit import state_changes
from dashboard.core.errors import AuditWriteFailed, NoSuchBucket
from dashboard.core.inputs import BUCKET_FIELDS, validate_bucket
from dashboard.core.untrusted import is_utf8
from dashboard.core.protocol import AuditEntry, Backend
from limiter.errors import CorruptBucket

FLAGS = {"max_tokens": "--max-tokens", "burst": "--burst", "refill_count": "--refill-count", "refill_interval": "--refill-interval"}


def typed(args: argparse.Namespace) -> dict[str, str]:
    """The setting flags given, as typed."""
    return {field: getattr(args, field) for field in BUCKET_FIELDS if getattr(args, field) is not None}


def mode_of(args: argparse.Namespace) -> str:
    modes = [m for m, on in (("fields", bool(typed(args))), ("default", args.default), ("reset", args.reset), ("delete", args.delete)) if on]
    if not modes:
        raise UsageError("tbdash set: nothing to change: give --max-tokens, --burst, --refill-count, --refill-interval, --default, --reset or --delete")
    if len(modes) > 1:
        names = {"fields": "setting flags", "default": "--default", "reset": "--reset", "delete": "--delete"}
        raise UsageError(f"tbdash set: {' and '.join(names[m] for m in modes)} cannot be combined")
    if args.delete and not args.yes:
        raise UsageError("tbdash set: --delete forgets the bucket and its operator settings; add --yes to confirm")
    if args.yes and not args.delete:
        raise UsageError("tbdash set: --yes only confirms --delete")
    if args.create and modes[0] != "fields":
        raise UsageError("tbdash set: --create goes with setting flags (--max-tokens, ...): it makes a bucket with those settings")
    return modes[0]


def check_user(command: str, user: str) -> None:
    if not user:
        raise UsageError(f"tbdash {command}: USER is empty")
    if not is_utf8(user):
        raise UsageError(f"tbdash {command}: USER '{shown(user)}' is not valid UTF-8; tbdash changes only buckets whose id is text")


def problems(errors: dict[str, str]) -> str:
    """Messages by field as the CLI says them: each prefixed with its flag."""
    return "; ".join(f"{FLAGS[field]}: {message}" if field in FLAGS else f"settings: {message}" for field, message in errors.items())


def check_fields(ctx: Context, command: str) -> None:
    """The user id and the setting flags' own values, before any connection (``tbdash set`` and ``shadow``)."""
    args = ctx.args
    check_user(command, args.user)
    _, errors = validate_bucket(typed(args), base=ctx.settings.limiter.default)
    errors = {f: m for f, m in errors.items() if f}  # whole-form rules wait for the settings they build on
    if errors:
        raise UsageError(f"tbdash {command}: " + problems(errors))


def check_set(ctx: Context) -> str:
    """Usage and value errors, before any connection; returns the mode."""
    mode = mode_of(ctx.args)
    if mode == "fields":
        check_fields(ctx, "set")
    else:
        check_user("set", ctx.args.user)
    return mode


def change_lines(old: dict[str, object] | None, new: dict[str, object] | None) -> list[str]:
    lines = []
    changes = state_changes(old, new)
    width = max([16] + [len(c.key) for c in changes])  # the shadow_ keys are longer
    for c in changes:
        mark = f"{value_text(c.before)} -> {value_text(c.after)}" if c.changed else f"{value_text(c.after)} (unchanged)"
        lines.append(f"  {c.key:<{width}} {mark}")
    return lines


@contextlib.contextmanager
def write_refusals(command: str, *, creating: bool) -> Iterator[None]:
    """A write the backend refused, as the CLI says it: no such bucket is bad usage (exit 2), an
    audit entry that could not be written or a bucket tbdash did not write is a failure."""
    try:
        yield
    except NoSuchBucket as exc:
        hint = "; a typo? --create makes it" if creating else ""
        raise UsageError(f"tbdash {command}: {exc}{hint}") from None
    except AuditWriteFailed as exc:
        raise Failed(f"tbdash {command}: {exc}") from None
    except CorruptBucket as exc:
        raise Failed(f"tbdash {command}: {shown(exc.key)} is not a valid bucket: {shown(exc.reason)}") from None


def report_write(ctx: Context, user: str, entry: AuditEntry | None, *, unchanged: str, done: str) -> int:
    """What a write did: nothing (``unchanged`` says why), or ``done`` with its audit entry and old -> new."""
    if entry is None:
        if ctx.args.json:
            ctx.print(dumps({**json_fields("user", user), "changed": False, "reason": unchanged}))
        else:
            ctx.print(f"{shown(user)}: {unchanged}; nothing changed, nothing audited")
        return EXIT_OK
    if ctx.args.json:
        ctx.print(dumps(entry_json(entry)))
        return EXIT_OK
    ctx.print(f"{shown(user)}: {done} (audited as {shown(entry.who)}, entry {shown(entry.id)})")
    for line in change_lines(entry.old, entry.new):
        ctx.print(line)
    return EXIT_OK


async def set_command(ctx: Context, backend: Backend) -> int:
    args = ctx.args
    mode = check_set(ctx)
    user = args.user
    with write_refusals("set", creating=mode == "fields"):
        if mode == "fields":
            row = await backend.bucket(user)  # the settings in force: the stored ones
            if row is None and not args.create:
                raise NoSuchBucket(user, backend.prefix, "configure")
            config, errors = validate_bucket(typed(args), base=row.config if row is not None else backend.default)
            if config is None:
                raise UsageError("tbdash set: " + problems(errors))
            entry = await backend.configure(user, config, create=args.create)
        elif mode == "default":
            entry = await backend.unconfigure(user)
        elif mode == "reset":
            entry = await backend.reset(user)
        else:
            entry = await backend.delete(user)
    already = "has these operator settings already" if mode == "fields" else "has no operator settings"
    verb = {"fields": "configured", "default": "back to the default settings:", "reset": "reset", "delete": "deleted"}[mode]
    return report_write(ctx, user, entry, unchanged=already, done=verb)


