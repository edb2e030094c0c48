"""How the dashboard screen looks: its CSS, and the texts it builds from the state and the table
(the status, the table's titles, the graph's details line)."""

from __future__ import annotations

from typing import Sequence

from rich.text import Text

from dashboard.core.export import Extras
from dashboard.core.protocol import BucketRow
from dashboard.core.thresholds import Firing
from dashboard.core.windows import WindowCount
from dashboard.tui import format as fmt
from dashboard.tui.preview import preview_details
from dashboard.tui.state import TuiState
from dashboard.tui.widgets.bucket_table import COLUMNS, WINDOW_COLUMNS, BucketTable
from dashboard.tui.widgets.window_cells import PARTIAL, ratio_text
from dashboard.tui.widgets.status_bar import Status

HEADERS = {key: label for key, label, *_ in COLUMNS}

DASHBOARD_CSS = """
    DashboardScreen {
        layout: vertical;
    }
    DashboardScreen #top {
        dock: top;
        height: auto;
    }
    DashboardScreen #main {
        layout: vertical;
        height: 1fr;
    }
    DashboardScreen #left {
        height: auto;
        max-height: 60%;
    }
    DashboardScreen #left BucketTable {
        height: auto;
        max-height: 100%;
    }
    DashboardScreen TokenGraph {
        height: 1fr;
        min-height: 8;
    }
    DashboardScreen.-wide #main {
        layout: horizontal;
    }
    DashboardScreen.-wide #left {
        height: 1fr;
        max-height: 100%;
        width: 3fr;
    }
    DashboardScreen.-wide #left BucketTable {
        height: 1fr;
    }
    DashboardScreen.-wide TokenGraph {
        height: 1fr;
        width: 2fr;
    }
    DashboardScreen BucketTable {
        border: round $primary 60%;
        border-title-align: left;
        border-subtitle-align: right;
        min-height: 5;
    }
    DashboardScreen BucketTable:focus {
        border: round $primary;
    }
    """


def status_of(state: TuiState, *, shown: int | None) -> Status:
    """The status bar's content; ``shown``: the rows the filter leaves (None without a filter)."""
    snapshot, run = state.snapshot, state.load_run
    load = None
    if run is not None and run.running:
        load = f"{fmt.safe_str(run.spec.user, width=20)} {min(run.fraction * 100, 100):.0f}%"
    return Status(
        info=state.info,
        link=state.link,
        paused=state.paused,
        read_only=state.read_only,
        stale_for=state.stale_for(),
        interval=state.poll_interval,
        latency_ms=snapshot.latency_ms if snapshot else None,
        poll_seconds=snapshot.poll_seconds if snapshot else None,
        buckets=len(snapshot.buckets) if snapshot else None,
        shown=shown if snapshot else None,
        invalid=len(snapshot.invalid) if snapshot else 0,
        load=load,
        alerts=len(state.alerts),
    )


def table_titles(table: BucketTable) -> tuple[Text, Text]:
    """The border title (filter, truncation) and subtitle (position, sort) of the bucket table."""
    sort = table.sort_spec
    title = Text("buckets", style="bold")
    if table.pattern:
        title.append("  filter ")
        title.append_text(fmt.safe_text(table.pattern, style="bold reverse", width=30, escape_style="underline"))
        title.append(f" {table.matched} match")
    if table.top:
        title.append(f"  top throttled over {fmt.seconds(table.window_s)}", style="bold")
        title.append(f": {table.matched} denied (t leaves, w window)")
    if table.truncated:
        title.append(f"  first {table.row_count} of {table.matched} by sort; / narrows", style="italic")
    position = f"{table.cursor_row + 1}/{table.row_count} · " if table.row_count else ""
    column = HEADERS.get(sort.column, sort.column) + (f" {fmt.seconds(table.window_s)}" if sort.column == "ratio" else "")
    subtitle = Text(f"{position}sort {column} {'▼' if sort.descending else '▲'} (s, S, 1-0) · window {fmt.seconds(table.window_s)} (w) ")
    if table.row_count:
        subtitle.append("· ⏎ detail ")  # (the key bar has no room for it at 160 columns)
    return title, subtitle


def view_about(table: BucketTable) -> dict[str, object]:
    """What the table shows (filter, sort, view, window): the fields beside the rows of a JSON export."""
    return {"filter": table.pattern, "sort": table.sort_spec.column, "descending": table.sort_spec.descending,
            "top_throttled": table.top, "window_s": WINDOW_COLUMNS[table.window]}


def export_extras(state: TuiState, rows: Sequence[BucketRow]) -> Extras:
    """The rows' window counts and alerts as of now, for an export (read here: the file is written in a thread)."""
    counts = {row.user: state.windows.counts(row.user) for row in rows}
    return Extras(lambda user: counts.get(user, {}), dict(state.alerts))


def windows_text(counts: dict[float, WindowCount]) -> str:
    """``denied 1m 12/80 (15%) · 5m ~40/300 (13%) · 1h ~40/300 (13%)``: ~ marks a partial window."""
    parts = []
    for window_s, count in counts.items():
        mark = PARTIAL if count.partial else ""
        parts.append(f"{fmt.seconds(window_s)} {mark}{count.denied}/{count.requests} ({ratio_text(count)})")
    return "denied " + " · ".join(parts) if parts else ""


def bucket_details(
    row: BucketRow | None, *, disagree_style: str, alert: Firing | None = None, alert_style: str = "bold",
    windows: dict[float, WindowCount] | None = None, preview_style: str = "",
) -> Text:
    """The graph's subtitle: the bucket under the cursor in one line (first what to act on: alerts, a preview, disagreement)."""
    if row is None:
        return Text("")
    c = row.config
    text = Text()
    text.append_text(fmt.safe_text(row.user, style="bold", width=20))
    if alert is not None:  # tbdash's own words (numbers and durations): safe to show as they are
        text.append(" ! " + "; ".join(r.text for r in alert.reasons) + " ·", style=alert_style)
    text.append_text(preview_details(row, style=preview_style))
    if row.callers_disagree and row.other_default is not None:  # first: it is what the operator must act on
        o = row.other_default
        text.append(
            f" services disagree: {c.max_tokens}+{c.burst} {fmt.refill(c)} vs {o.max_tokens}+{o.burst} {fmt.refill(o)}"
            f" ({row.default_changes}×) ·",
            style=disagree_style,
        )
    text.append(f" max {c.max_tokens}+{c.burst} · {fmt.refill(c)} · ")
    text.append(f"granted {row.granted} denied {row.denied}")
    text.append(" · operator" if row.overridden else " · default")
    if row.ttl_ms is not None:
        text.append(f" · ttl {fmt.ago(row.ttl_ms / 1000)}")
    if windows:  # last: the line is clipped to the graph's width
        text.append(f" · {windows_text(windows)}")
    text.append(" ")
    return text
