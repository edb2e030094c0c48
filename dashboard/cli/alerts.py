"""``tbdash status --alerts [--for DURATION]``: watch the buckets, judge the ``[dashboard]`` thresholds, exit 1 when any fires.

One snapshot cannot tell denials over the last minute (the counters count
since each bucket was created) nor how long a bucket has been empty, so
``--alerts`` polls (every ``poll_interval``) for a sampling period: by default
the longer of ``deny_window`` and ``empty_for``, so both judge full data;
``--for`` sets another. The deny ratio is then over the denials of the
sampled period (partial, and said so, when it is shorter than the window), and
"empty for" counts from the first poll that saw the bucket empty.
"""

from __future__ import annotations

from dashboard.cli.context import Context
from dashboard.cli.errors import EXIT_FAILED, EXIT_OK, UsageError
from dashboard.cli.output import json_fields, shown, table
from dashboard.core.emptiness import EmptySince
from dashboard.core.export import json_text
from dashboard.core.inputs import parse_seconds
from dashboard.core.protocol import Backend
from dashboard.core.sampling import sample
from dashboard.core.thresholds import Firing, Reason, Thresholds, duration_text, firing
from dashboard.core.windows import WindowStore

MAX_SAMPLING = 3600.0  # seconds: the longest window kept


def thresholds_of(ctx: Context) -> Thresholds:
    return Thresholds.from_settings(ctx.settings.dashboard)


def sampling_period(ctx: Context) -> float:
    """``--for`` in seconds, or the thresholds' own period; raises `UsageError` naming the flag."""
    raw = ctx.args.sample_for
    if raw is None:
        return thresholds_of(ctx).sampling_s
    try:
        value = parse_seconds(raw)
    except ValueError as exc:
        raise UsageError(f"tbdash status: --for: {exc}") from None
    if not 0 < value <= MAX_SAMPLING:
        raise UsageError("tbdash status: --for: must be more than 0 and at most 1h")
    return value


def check_alerts(ctx: Context) -> None:
    if not ctx.args.alerts:
        raise UsageError("tbdash status: --for only goes with --alerts (the sampling period of the thresholds)")
    if ctx.args.csv:
        raise UsageError("tbdash status: --alerts prints a report, not a CSV snapshot; use --json for machine output")
    if not thresholds_of(ctx).any:
        raise UsageError("tbdash status: --alerts: no threshold is set ([dashboard] deny_ratio and empty_for are both 0)")
    sampling_period(ctx)


async def alerts(ctx: Context, backend: Backend) -> int:
    thresholds = thresholds_of(ctx)
    period = sampling_period(ctx)
    interval = min(ctx.settings.dashboard.poll_interval, max(period, 0.1))
    windows, empty = WindowStore(), EmptySince()
    ctx.note(f"tbdash status --alerts: watching for {duration_text(period)} (a poll every {duration_text(interval)}): {thresholds.describe()}")
    if thresholds.deny_ratio > 0 and period < thresholds.deny_window:
        ctx.note(f"tbdash status --alerts: --for {duration_text(period)} is shorter than deny_window: the deny ratio is over {duration_text(period)} (partial)")
    if thresholds.empty_for > period:
        ctx.note(f"tbdash status --alerts: --for {duration_text(period)} is shorter than empty_for: no bucket can be seen empty that long")
    sampled = await sample(backend, period, interval, (windows, empty))
    last = sampled.last
    fired = firing(thresholds, windows, empty)
    if ctx.args.json:
        ctx.print(json_text({
            "firing": [firing_json(f) for f in fired],
            "buckets": len(last.buckets),
            "sampled_s": round(sampled.seconds, 3),
            "polls": sampled.polls,
            "thresholds": {"deny_ratio": thresholds.deny_ratio, "deny_window_s": thresholds.deny_window,
                           "deny_min_requests": thresholds.deny_min_requests, "empty_for_s": thresholds.empty_for},
            "redis_time_us": last.redis_time_us,
            "prefix": backend.prefix,
        }))
    elif fired:
        ctx.print(f"{len(fired)} bucket{'s' if len(fired) != 1 else ''} of {len(last.buckets)} under {backend.prefix}: cross a threshold:")
        rows = [(shown(f.user), "; ".join(r.text for r in f.reasons)) for f in fired]
        for line in table(("user", "why"), rows, (False, False)):
            ctx.print("  " + line)
    else:
        ctx.print(f"no threshold fires: {len(last.buckets)} bucket{'s' if len(last.buckets) != 1 else ''} under {backend.prefix}: "
                  f"watched for {duration_text(sampled.seconds)} ({thresholds.describe()})")
    return EXIT_FAILED if fired else EXIT_OK


def firing_json(f: Firing) -> dict[str, object]:
    return {**json_fields("user", f.user), "reasons": [reason_json(r) for r in f.reasons]}


def reason_json(r: Reason) -> dict[str, object]:
    out: dict[str, object] = {"kind": r.kind, "text": r.text, "observed": r.observed, "limit": r.limit}
    if r.window is not None:
        out["window"] = {"window_s": r.window.window_s, "granted": r.window.granted, "denied": r.window.denied,
                         "span_s": r.window.span_s, "partial": r.window.partial}
    return out
