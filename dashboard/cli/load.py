"""``tbdash load``: fire open-loop test load at one bucket and report what came back."""

from __future__ import annotations

import asyncio
import re
import signal

from dashboard.cli.change import check_user
from dashboard.cli.context import Context
from dashboard.cli.errors import EXIT_INTERRUPTED, EXIT_OK, UsageError
from dashboard.cli.output import dumps, json_fields, shown
from dashboard.core.inputs import validate_load
from dashboard.core.protocol import Backend, LoadProgress, LoadSpec

FLAGS = {"rate": "--rate", "duration": "--duration", "concurrency": "--concurrency", "tokens": "--tokens"}


def load_spec(ctx: Context, ceiling: int | None = None) -> LoadSpec:
    """The load request from the flags, judged as the dashboard's load form judges it (exit 2 if wrong)."""
    args = ctx.args
    check_user("load", args.user)
    raw = {"rate": args.rate, "duration": args.duration, "concurrency": args.concurrency, "tokens": args.tokens}
    spec, errors = validate_load(raw, user=args.user, ceiling=ceiling)
    if spec is None:
        raise UsageError("tbdash load: " + "; ".join(f"{FLAGS.get(f, '--rate')}: {m}" for f, m in errors.items()))
    return spec


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ms"


def _error_text(text: str) -> str:
    """The load generator's last error, without the exception's class name."""
    return shown(re.sub(r"^[A-Za-z_.]+(Error|Exception|Unavailable): ", "", text))


def progress_line(p: LoadProgress) -> str:
    return (
        f"\r{p.elapsed:6.1f}s  sent {p.sent}/{p.target}  granted {p.granted}  denied {p.denied}  "
        f"errors {p.errors}  {p.achieved_rate:.0f}/s  p50 {_ms(p.p50_ms)}  p99 {_ms(p.p99_ms)}   "
    )


def load_json(p: LoadProgress) -> dict[str, object]:
    return {
        **json_fields("user", p.spec.user),
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
        "last_error": _error_text(p.last_error) if p.last_error else None,
        "cancelled": p.cancelled,
    }


def load_report(p: LoadProgress) -> list[str]:
    s = p.spec
    head = f"load on {shown(s.user)}: {s.rate:g} req/s for {s.duration:g} s, concurrency {s.concurrency}, {s.tokens} token{'s' if s.tokens != 1 else ''} each"
    lines = [head + (" (CANCELLED: partial report)" if p.cancelled else "")]
    rows = [
        ("sent", f"{p.sent} of {p.target}"),
        ("granted", str(p.granted)),
        ("denied", str(p.denied)),
        ("errors", str(p.errors) + (f"  (last: {_error_text(p.last_error)})" if p.last_error else "")),
        ("achieved", f"{p.achieved_rate:.1f} req/s over {p.elapsed:.2f} s"),
        ("latency", f"p50 {_ms(p.p50_ms)}  p99 {_ms(p.p99_ms)}  (service time)"),
        ("queued", f"{p.queued} requests found every worker busy (lag p99 {_ms(p.lag_p99_ms)})"),
    ]
    lines += [f"  {k:<9} {v}" for k, v in rows]
    return lines


async def load(ctx: Context, backend: Backend) -> int:
    from dashboard.core.errors import LoadSpecError

    spec = load_spec(ctx)
    try:
        bucket = await backend.check_load(spec)
    except LoadSpecError as exc:
        raise UsageError(f"tbdash load: --tokens: {shown(str(exc))}") from None
    # One read through the limiter's script first: a user who may not run it is
    # told so once (exit 2), not with N failed requests.
    await backend.peek(spec.user)
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
    assert final is not None  # a load always ends with a report, partial when cancelled
    if ctx.args.json:
        ctx.print(dumps(load_json(final)))
    else:
        for line in load_report(final):
            ctx.print(line)
    return EXIT_INTERRUPTED if interrupted or final.cancelled else EXIT_OK
