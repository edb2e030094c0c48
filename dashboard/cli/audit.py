"""``tbdash audit``: the change history, newest first. Every field of an entry is foreign text."""

from __future__ import annotations

import time

from dashboard.cli.context import Context
from dashboard.cli.errors import EXIT_OK, UsageError
from dashboard.cli.output import dumps, json_fields, json_safe, shown, table, value_text
from dashboard.core.audit import state_changes
from dashboard.core.inputs import validate_limit
from dashboard.core.protocol import AuditEntry, Backend

MAX_LIMIT = 10_000  # the stream is capped near this length (dashboard.core.audit.DEFAULT_MAXLEN)


def check_audit(ctx: Context) -> int:
    limit, message = validate_limit(ctx.args.limit, most=MAX_LIMIT)
    if limit is None:
        raise UsageError(f"tbdash audit: --limit: {message}")
    return limit


def entry_json(e: AuditEntry) -> dict[str, object]:
    return {
        "id": json_safe(e.id),
        "when": e.when,
        "who": json_safe(e.who),
        "action": json_safe(e.action),
        **json_fields("user", e.user),
        "old": json_safe(e.old),
        "new": json_safe(e.new),
    }


def when_text(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(epoch))


def summary(old: dict[str, object] | None, new: dict[str, object] | None) -> str:
    changes = state_changes(old, new)
    if old is None or new is None:
        if old is None and new is None:
            return ""
        listed = ", ".join(f"{c.key} {value_text(c.after if old is None else c.before)}" for c in changes)
        return f"(no state before) -> {listed}" if old is None else f"{listed} -> (gone)"
    parts = [f"{c.key} {value_text(c.before)}->{value_text(c.after)}" for c in changes if c.changed]
    return ", ".join(parts) or "no change"


async def audit(ctx: Context, backend: Backend) -> int:
    entries = await backend.audit(check_audit(ctx))
    if ctx.args.json:
        ctx.print(dumps([entry_json(e) for e in entries]))
        return EXIT_OK
    if not entries:
        ctx.print(f"no changes recorded in {backend.prefix}:audit")
        return EXIT_OK
    rows = [(when_text(e.when), shown(e.who), shown(e.action), shown(e.user), summary(e.old, e.new)) for e in entries]
    for line in table(("when", "who", "action", "user", "old -> new"), rows, (False,) * 5):
        ctx.print(line)
    return EXIT_OK
