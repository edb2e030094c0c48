"""``tbdash status``: one snapshot of every bucket, as a table or as JSON."""

from __future__ import annotations

from dashboard.cli.context import Context
from dashboard.cli.errors import EXIT_OK
from dashboard.cli.output import dumps, json_fields, shown, table
from dashboard.core.protocol import Backend, BucketRow, InvalidKey, ShadowRow
from limiter.config import BucketConfig


def bucket_json(row: BucketRow) -> dict[str, object]:
    # A user id that is not valid UTF-8 comes as its escaped form plus "user_base64" (its exact bytes).
    return {
        **json_fields("user", row.user),
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
        # Callers (services) whose default settings differ: how often one replaced the other, and that other one.
        "default_changes": row.default_changes,
        "other_default": settings_json(row.other_default) if row.other_default is not None else None,
        "shadow": shadow_json(row.shadow),
    }


def shadow_json(shadow: ShadowRow | None) -> dict[str, object] | None:
    """A bucket's shadow settings (a preview): their bucket's tokens, the settings, what they answered."""
    if shadow is None:
        return None
    return {"tokens": shadow.tokens, **settings_json(shadow.config), "granted": shadow.granted, "denied": shadow.denied}


def preview_lines(buckets: list[BucketRow]) -> list[str]:
    """A line per bucket in preview: its shadow settings and what they would have answered."""
    return [
        f"  {shown(r.user)}: {settings_text(r.shadow.config)}, tokens {r.shadow.tokens}; would have granted "
        f"{r.shadow.granted}, denied {r.shadow.denied} (in force: granted {r.granted}, denied {r.denied})"
        for r in buckets if r.shadow is not None
    ]


def settings_json(config: BucketConfig) -> dict[str, object]:
    return {
        "max_tokens": config.max_tokens,
        "burst": config.burst,
        "refill_count": config.refill_count,
        "refill_interval": config.refill_interval,
    }


def settings_text(config: BucketConfig) -> str:
    return f"max_tokens={config.max_tokens} burst={config.burst} refill={config.refill_count}/{seconds(config.refill_interval)}"


def disagreement_lines(buckets: list[BucketRow]) -> list[str]:
    """A note per bucket whose callers send different default settings (they keep replacing each other)."""
    lines = []
    for r in buckets:
        if r.default_changes and r.other_default is not None and not r.overridden:
            times = f"{r.default_changes} time{'s' if r.default_changes != 1 else ''}"
            lines.append(f"  {shown(r.user)}: {settings_text(r.config)} now, {settings_text(r.other_default)} before ({times})")
    return lines


def invalid_json(key: InvalidKey) -> dict[str, object]:
    return {**json_fields("key", key.key), "reason": shown(key.reason)}


def seconds(value: float) -> str:
    return f"{value:g}s"


async def status(ctx: Context, backend: Backend) -> int:
    snapshot = await backend.poll()
    buckets = sorted(snapshot.buckets, key=lambda r: r.user)
    invalid = sorted(snapshot.invalid, key=lambda k: k.key)
    if ctx.args.json:
        ctx.print(
            dumps(
                {
                    "buckets": [bucket_json(r) for r in buckets],
                    "invalid": [invalid_json(k) for k in invalid],
                    "redis_time_us": snapshot.redis_time_us,
                    "prefix": backend.prefix,
                    "server": {"mode": backend.info.mode, "address": backend.info.server, "version": shown(backend.info.version)},
                }
            )
        )
        return EXIT_OK
    headers = ("user", "tokens", "max_tokens", "burst", "refill_count", "refill_interval", "granted", "denied", "operator")
    rows = [
        (
            shown(r.user),
            str(r.tokens),
            str(r.config.max_tokens),
            str(r.config.burst),
            str(r.config.refill_count),
            seconds(r.config.refill_interval),
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
    preview = preview_lines(buckets)
    if preview:
        ctx.print(f"\n{len(preview)} bucket{'s' if len(preview) != 1 else ''} in preview (shadow settings counted on live traffic;"
                  " tbdash shadow USER --promote or --discard):")
        for line in preview:
            ctx.print(line)
    disagree = disagreement_lines(buckets)
    if disagree:
        ctx.print(f"\n{len(disagree)} bucket{'s' if len(disagree) != 1 else ''} whose services send different default settings"
                  " (fix the services, or pin operator settings with tbdash set):")
        for line in disagree:
            ctx.print(line)
    if invalid:
        ctx.print(f"\n{len(invalid)} invalid key{'s' if len(invalid) != 1 else ''} under {backend.prefix}: (not valid buckets):")
        for line in table(("key", "reason"), [(shown(k.key), shown(k.reason)) for k in invalid], (False, False)):
            ctx.print("  " + line)
    return EXIT_OK
