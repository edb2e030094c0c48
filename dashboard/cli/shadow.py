"""``tbdash shadow``: preview settings on a bucket's live traffic, then promote or discard them; audited.

The setting flags are `tbdash set`'s (parsed and judged by `dashboard.core.inputs`):
only the given fields change, on top of the bucket's shadow settings if it has
some, else of the settings in force. Everything that can be judged without
Redis is judged first (`check_shadow`), so a bad value is exit 2 even when
Redis is down.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

from dashboard.cli.change import check_fields, check_user, problems, report_write, typed, write_refusals
from dashboard.cli.context import Context
from dashboard.cli.errors import UsageError
from dashboard.core.errors import NoSuchBucket
from dashboard.core.inputs import validate_bucket
from dashboard.core.protocol import AuditEntry, Backend

NO_OP = {
    "fields": "previews these settings already",
    "promote": "has no shadow settings to promote",
    "discard": "has no shadow settings to discard",
}
DONE = {
    "fields": "previewing these settings on its live traffic (only the settings in force decide)",
    "promote": "shadow settings promoted: they are its operator settings now",
    "discard": "shadow settings discarded",
}


def add_parser(commands: Any, common: Callable[..., None]) -> None:
    """The ``shadow`` subcommand (``commands``: the parser's subparsers); ``common`` adds the common options."""
    sub = commands.add_parser(
        "shadow", help="preview settings on a bucket's live traffic; promote or discard them (audited)",
        description="Give a bucket shadow settings: every acquire is also counted against them (shadow grants and "
                    "denials, in tbdash status) while only the settings in force decide. Only the given fields "
                    "change, on top of the bucket's shadow settings if it has some, else of the settings in force; "
                    "setting them again starts the shadow again. --promote makes them the operator settings (a live "
                    "change), --discard drops them. A user with no bucket is refused (a typo?) unless --create is "
                    "given. Audited; refused in --read-only.")
    common(sub, top=False)
    sub.add_argument("user", metavar="USER", help="the user id of the bucket")
    sub.add_argument("--max-tokens", metavar="N", help="normal size (>= 1)")
    sub.add_argument("--burst", metavar="N", help="headroom above max_tokens (>= 0)")
    sub.add_argument("--refill-count", metavar="N", help="tokens per tick (>= 1)")
    sub.add_argument("--refill-interval", metavar="S", help="length of a tick: seconds (0.5) or 250ms, 2s, 1m (>= 1ms)")
    sub.add_argument("--create", action="store_true", help="make the bucket (at the default settings) if the user has none")
    sub.add_argument("--promote", action="store_true", help="make the shadow settings the operator settings")
    sub.add_argument("--discard", action="store_true", help="drop the shadow settings")
    sub.add_argument("--json", action="store_true", help="print the audit entry as JSON")


def mode_of(args: argparse.Namespace) -> str:
    modes = [m for m, on in (("fields", bool(typed(args))), ("promote", args.promote), ("discard", args.discard)) if on]
    if not modes:
        raise UsageError("tbdash shadow: nothing to do: give --max-tokens, --burst, --refill-count, --refill-interval, --promote or --discard")
    if len(modes) > 1:
        names = {"fields": "setting flags", "promote": "--promote", "discard": "--discard"}
        raise UsageError(f"tbdash shadow: {' and '.join(names[m] for m in modes)} cannot be combined")
    if args.create and modes[0] != "fields":
        raise UsageError("tbdash shadow: --create goes with setting flags (--max-tokens, ...): it makes a bucket to preview them on")
    return modes[0]


def check_shadow(ctx: Context) -> str:
    """Usage and value errors, before any connection; returns the mode."""
    mode = mode_of(ctx.args)
    if mode == "fields":
        check_fields(ctx, "shadow")
    else:
        check_user("shadow", ctx.args.user)
    return mode


async def shadow_command(ctx: Context, backend: Backend) -> int:
    args = ctx.args
    mode = check_shadow(ctx)
    user = args.user
    entry: AuditEntry | None
    with write_refusals("shadow", creating=mode == "fields"):
        if mode == "fields":
            row = await backend.bucket(user)
            if row is None and not args.create:
                raise NoSuchBucket(user, backend.prefix, "shadow")
            base = backend.default if row is None else row.shadow.config if row.shadow is not None else row.config
            config, errors = validate_bucket(typed(args), base=base)
            if config is None:
                raise UsageError("tbdash shadow: " + problems(errors))
            entry = await backend.shadow(user, config, create=args.create)
        elif mode == "promote":
            entry = await backend.promote(user)
        else:
            entry = await backend.discard_shadow(user)
    return report_write(ctx, user, entry, unchanged=NO_OP[mode], done=DONE[mode])
