"""What the detail screen shows, as Rich renderables: the bucket's fields, their meanings, its audit entries.

Pure functions of the data (no widgets, no state): the figures come from
`dashboard.core.bucket_detail`; every text tbdash did not write (the user id,
stored defaults read back, audit text) goes through `format.safe_text`.
"""

from __future__ import annotations

import time
from typing import Mapping

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from dashboard.core.bucket_detail import FIELD_MEANINGS, deny_ratio, full_in_s, settings_source
from dashboard.core.protocol import AuditEntry, BucketRow
from dashboard.core.windows import WINDOWS, WindowCount
from dashboard.tui import format as fmt
from dashboard.tui.screens.audit import describe_change, when_text
from limiter.config import BucketConfig

MEANING = dict(FIELD_MEANINGS)
WINDOW_NAMES = {60.0: "1m", 300.0: "5m", 3600.0: "1h"}

DETAIL_CSS = """
BucketDetailScreen #detail-title {
    height: 1;
    background: $panel;
    padding: 0 1;
}
BucketDetailScreen #detail-body {
    height: 1fr;
}
BucketDetailScreen #fields, BucketDetailScreen #audit-entries, BucketDetailScreen #meanings {
    height: auto;
    padding: 0 1;
}
BucketDetailScreen #detail-graph {
    height: 14;
    min-height: 8;
}
BucketDetailScreen.-wide #detail-body {
    layout: horizontal;
}
BucketDetailScreen.-wide #detail-left {
    width: 3fr;
    height: auto;
}
BucketDetailScreen.-wide #detail-right {
    width: 2fr;
    height: auto;
}
BucketDetailScreen.-wide #detail-graph {
    height: 20;
}
BucketDetailScreen #detail-left, BucketDetailScreen #detail-right {
    height: auto;
}
"""


def config_text(config: BucketConfig) -> str:
    """The four settings on one line: ``max 100 + burst 50, refill 10/1s``."""
    return f"max {fmt.tokens(config.max_tokens)} + burst {fmt.tokens(config.burst)}, refill {fmt.refill(config)}"


def _ratio(ratio: float | None) -> str:
    return "–" if ratio is None else f"{100 * ratio:.1f}% denied"


def _window(count: WindowCount | None) -> str:
    if count is None:
        return "–"
    text = f"{count.granted} granted, {count.denied} denied ({_ratio(count.deny_ratio)})"
    return text + (f", partial: the last {fmt.seconds(round(count.span_s))} only" if count.partial else "")


def facts(
    row: BucketRow,
    *,
    now_us: int,
    default: BucketConfig | None,
    windows: Mapping[float, WindowCount] | None,
) -> list[tuple[str, Text, str]]:
    """(field, value, meaning) rows, grouped: level, settings, counters, callers, preview. A "" field starts a group."""
    config = row.config
    out: list[tuple[str, Text, str]] = []

    def add(name: str, value: Text | str, meaning: str = "") -> None:
        out.append((name, value if isinstance(value, Text) else Text(value), meaning))

    add("", Text("level", style="bold"))
    add("tokens", f"{fmt.tokens(row.tokens)} / {fmt.tokens(config.ceiling)} ({100 * row.fill:.0f}%)", MEANING["tokens"])
    if row.anchor_us is not None:
        tick = max(0, now_us - row.anchor_us) / 1_000_000
        add("anchor", f"{row.anchor_us} µs ({fmt.seconds(tick) if tick else '0s'} before the poll)", MEANING["anchor"])
    else:
        add("anchor", "– (not read)", MEANING["anchor"])
    full = full_in_s(row, now_us)
    add("full in", "full now" if full == 0 else "–" if full is None else fmt.seconds(full),
        "until the ceiling if nothing is taken (as of the poll)")
    add("ttl", "persists" if row.ttl_ms is None else fmt.seconds(row.ttl_ms / 1000),
        "an idle full bucket's state expires; operator or preview: persists")

    add("", Text("settings", style="bold"))
    source = settings_source(row, default)
    add("source", Text(source.tag, style="bold"), source.text)
    add("max_tokens", fmt.tokens(config.max_tokens), MEANING["max_tokens"])
    add("burst", fmt.tokens(config.burst), MEANING["burst"])
    add("ceiling", fmt.tokens(config.ceiling), "max_tokens + burst: tokens never exceed it")
    add("refill", f"{fmt.refill(config)} = {fmt.per_second(config.rate_per_second)}", MEANING["refill"])
    add("operator", "1" if row.overridden else "0", MEANING["operator"])

    add("", Text("counters", style="bold"))
    add("granted", str(row.granted), MEANING["granted"])
    add("denied", str(row.denied), MEANING["denied"])
    add("deny ratio", _ratio(deny_ratio(row.granted, row.denied)), "denied / (granted + denied), all time")
    add("grant/s", fmt.per_second(row.grants_per_s), "between the last two polls (– on first sight)")
    add("deny/s", fmt.per_second(row.denials_per_s), "between the last two polls")
    for window in WINDOWS:
        name = WINDOW_NAMES.get(window, fmt.seconds(window))
        if windows is None:
            add(f"last {name}", "– (this dashboard keeps no windows)", f"grants and denials over the last {name}")
        else:
            add(f"last {name}", _window(windows.get(window)), f"grants and denials over the last {name}")

    add("", Text("callers", style="bold"))
    add("default_changes", str(row.default_changes), MEANING["default_changes"])
    other = row.other_default
    add("other_default", "–" if other is None else config_text(other), MEANING["other_default"])
    if row.callers_disagree:
        add("", Text("callers send different defaults for this bucket: it follows the last one", style="bold yellow"))

    add("", Text("preview", style="bold"))
    shadow = row.shadow
    if shadow is None:
        add("shadow", "none", MEANING["shadow"])
    else:
        add("shadow", config_text(shadow.config), MEANING["shadow"])
        add("shadow tokens", f"{fmt.tokens(shadow.tokens)} / {fmt.tokens(shadow.config.ceiling)}", "the preview bucket's own level")
        add("shadow counts", f"{shadow.granted} granted, {shadow.denied} denied ({_ratio(deny_ratio(shadow.granted, shadow.denied))})",
            "what the preview settings would have answered since they were set")
        add("shadow rates", f"{fmt.per_second(shadow.grants_per_s)} granted, {fmt.per_second(shadow.denials_per_s)} denied", "per second, between the last two polls")
    return out


def fields_table(rows: list[tuple[str, Text, str]], *, meanings: bool, stale: bool) -> Table:
    """The facts as a table; ``meanings`` adds the meaning column (wide screens)."""
    table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
    table.add_column("field", style="dim", no_wrap=True)
    table.add_column("value", ratio=1, style="dim" if stale else "")
    if meanings:
        table.add_column("meaning", ratio=1, style="italic dim")
    for name, value, meaning in rows:
        if not name:
            table.add_row(value, "", *([""] if meanings else []))
            continue
        table.add_row(name, value, *([meaning] if meanings else []))
    return table


def meanings_table(rows: list[tuple[str, Text, str]]) -> Table:
    """The fields explained (narrow screens: below the rest)."""
    table = Table(box=None, show_header=False, padding=(0, 1), expand=True, title="what the fields mean", title_justify="left", title_style="bold")
    table.add_column("field", style="dim", no_wrap=True)
    table.add_column("meaning", style="italic dim")
    for name, _, meaning in rows:
        if name and meaning:
            table.add_row(name, meaning)
    return table


def audit_view(entries: list[AuditEntry] | None, *, error: str | None, read: int, width: int) -> RenderableType:
    """This bucket's audit entries, newest first; or why there are none."""
    title = Text("audit entries for this bucket", style="bold")
    if error is not None:
        return Group(title, fmt.safe_text("could not read the audit stream: " + error, style="red"))
    if entries is None:
        return Group(title, Text("reading…", style="dim"))
    if not entries:
        return Group(title, Text(f"none among the last {read} changes made through tbdash", style="dim"))
    # One entry: when, who and what on a line, the change (old → new) indented below it, so the
    # change has the whole width whatever the column (a value is never clipped to a narrow cell).
    lines: list[RenderableType] = [title]
    for entry in sorted(entries, key=lambda e: e.when, reverse=True):
        head = when_text(entry.when, one_line=True)
        head.append("  ")
        head.append_text(fmt.safe_text(entry.who, width=24))
        head.append("  ")
        head.append_text(fmt.safe_text(entry.action, style="bold", width=12))
        lines += [head, Padding(describe_change(entry, max(20, width - 6)), (0, 0, 0, 4))]
    return Group(*lines)


def title_line(user: str, row: BucketRow | None, *, gone_since: float | None, stale_for: float | None) -> Text:
    """``bucket <user> · operator settings · live`` (or vanished / stale)."""
    text = Text("bucket ", style="bold")
    text.append_text(fmt.safe_text(user, style="bold", width=60))
    if row is not None:
        text.append("  · " + settings_source(row, None).tag, style="dim")
    if gone_since is not None:
        text.append(f"  · GONE: not in the polls since {time.strftime('%H:%M:%S', time.localtime(gone_since))}"
                    " (expired or deleted); the last values seen are shown", style="bold red")
    elif stale_for is not None:
        text.append(f"  · STALE: data {fmt.ago(stale_for)} old", style="bold yellow")
    return text
