"""``tbdash status``: one snapshot of every bucket, as a table, JSON or CSV; ``--alerts`` judges the thresholds.

The records and their CSV live in `dashboard.core.export` (the dashboard's
exports write the same); this module only picks the format and prints.
"""

from __future__ import annotations

from dashboard.cli.context import Context, scrub
from dashboard.cli.errors import EXIT_OK
from dashboard.cli.output import shown, table
from dashboard.core.export import bucket_json, csv_text, invalid_json, json_text, settings_json
from dashboard.core.protocol import Backend, BucketRow, Snapshot
from limiter.config import BucketConfig

__all__ = ["bucket_json", "check_status", "settings_json", "status"]


def check_status(ctx: Context) -> None:
    """What can be judged before connecting (exit 2 even when Redis is down)."""
    from dashboard.cli.alerts import check_alerts

    if ctx.args.alerts or ctx.args.sample_for is not None:
        check_alerts(ctx)


async def status(ctx: Context, backend: Backend) -> int:
    if ctx.args.alerts:
        from dashboard.cli.alerts import alerts

        return await alerts(ctx, backend)
    snapshot = await backend.poll()
    if ctx.args.csv:
        write_raw(ctx, csv_text(sorted(snapshot.buckets, key=lambda r: r.user)))  # the csv module's \r\n line ends, as they are
        return EXIT_OK
    if ctx.args.json:
        ctx.print(json_text(snapshot_json(backend, snapshot)))
        return EXIT_OK
    print_table(ctx, backend, snapshot)
    return EXIT_OK


def write_raw(ctx: Context, text: str) -> None:
    """``text`` exactly (no newline added); a stream that cannot encode a character gets its escape."""
    text = scrub(text, ctx.secrets)
    try:
        ctx.out.write(text)
    except UnicodeEncodeError:
        encoding = getattr(ctx.out, "encoding", None) or "ascii"
        ctx.out.write(text.encode(encoding, "backslashreplace").decode(encoding, "replace"))


def snapshot_json(backend: Backend, snapshot: Snapshot) -> dict[str, object]:
    return {
        "buckets": [bucket_json(r) for r in sorted(snapshot.buckets, key=lambda r: r.user)],
        "invalid": [invalid_json(k) for k in sorted(snapshot.invalid, key=lambda k: k.key)],
        "redis_time_us": snapshot.redis_time_us,
        "prefix": backend.prefix,
        "server": {"mode": backend.info.mode, "address": backend.info.server, "version": shown(backend.info.version)},
    }


def settings_text(config: BucketConfig) -> str:
    return f"max_tokens={config.max_tokens} burst={config.burst} refill={config.refill_count}/{seconds(config.refill_interval)}"


def preview_lines(buckets: list[BucketRow]) -> list[str]:
    """A line per bucket in preview: its shadow settings and what they would have answered."""
    return [
        f"  {shown(r.user)}: {settings_text(r.shadow.config)}, tokens {r.shadow.tokens}; would have granted "
        f"{r.shadow.granted}, denied {r.shadow.denied} (in force: granted {r.granted}, denied {r.denied})"
        for r in buckets if r.shadow is not None
    ]


def disagreement_lines(buckets: list[BucketRow]) -> list[str]:
    """A note per bucket whose callers send different default settings (they keep replacing each other)."""
    lines = []
    for r in buckets:
        if r.default_changes and r.other_default is not None and not r.overridden:
            times = f"{r.default_changes} time{'s' if r.default_changes != 1 else ''}"
            lines.append(f"  {shown(r.user)}: {settings_text(r.config)} now, {settings_text(r.other_default)} before ({times})")
    return lines


def seconds(value: float) -> str:
    return f"{value:g}s"


def print_table(ctx: Context, backend: Backend, snapshot: Snapshot) -> None:
    buckets = sorted(snapshot.buckets, key=lambda r: r.user)
    invalid = sorted(snapshot.invalid, key=lambda k: k.key)
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
    disagree = disagreement_lines(buckets)
    if disagree:
        ctx.print(f"\n{len(disagree)} bucket{'s' if len(disagree) != 1 else ''} whose services send different default settings"
                  " (fix the services, or pin operator settings with tbdash set):")
        for line in disagree:
            ctx.print(line)
    preview = preview_lines(buckets)
    if preview:
        ctx.print(f"\n{len(preview)} bucket{'s' if len(preview) != 1 else ''} in preview (shadow settings counted on live traffic;"
                  " tbdash shadow USER --promote or --discard):")
        for line in preview:
            ctx.print(line)
    if invalid:
        ctx.print(f"\n{len(invalid)} invalid key{'s' if len(invalid) != 1 else ''} under {backend.prefix}: (not valid buckets):")
        for line in table(("key", "reason"), [(shown(k.key), shown(k.reason)) for k in invalid], (False, False)):
            ctx.print("  " + line)

