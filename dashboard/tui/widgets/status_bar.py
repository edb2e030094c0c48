"""The one-line status bar at the top: connection, badges, counts and timings.

Segments have priorities; when the terminal is narrow the least important
ones are dropped first, so the state badges always show.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from dashboard.core.protocol import ConnectionInfo
from dashboard.tui import format as fmt


@dataclass(frozen=True, slots=True)
class Status:
    """Everything the status bar shows; the app builds a new one on every change."""

    info: ConnectionInfo = field(default_factory=lambda: ConnectionInfo(mode="?", server="?"))
    link: str = "connecting"  # connecting | live | disconnected | failing
    paused: bool = False
    read_only: bool = False
    stale_for: float | None = None  # seconds since the last good poll, when the data is stale
    interval: float = 1.0
    latency_ms: float | None = None
    poll_seconds: float | None = None
    buckets: int | None = None
    shown: int | None = None  # rows left by the filter
    invalid: int = 0
    load: str | None = None  # "alice 45%" while a load runs
    alerts: int = 0  # buckets crossing a [dashboard] threshold


class StatusBar(Widget):
    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $foreground;
    }
    """

    status: reactive[Status] = reactive(Status, layout=False)

    def render(self) -> Text:
        return self.line(self.size.width)

    def line(self, width: int) -> Text:
        s = self.status
        v = self.app.theme_variables
        error, warning, success, accent = v.get("error", "red"), v.get("warning", "yellow"), v.get("success", "green"), v.get("accent", "cyan")
        on = v.get("panel", "black")

        # (priority, text, is_right): higher priority survives longer
        left: list[tuple[int, Text]] = []
        right: list[tuple[int, Text]] = []

        def badge(label: str, colour: str) -> Text:
            return Text(f" {label} ", style=f"bold {on} on {colour}")

        left.append((10, Text(" tbdash ", style=f"bold {accent}")))
        link = {
            "live": badge("LIVE", success),
            "connecting": badge("CONNECTING", warning),
            "disconnected": badge("DISCONNECTED", error),
            "failing": badge("POLL FAILED", error),
        }[s.link]
        if s.paused and s.link == "live":
            link = badge("PAUSED", warning)  # not LIVE: nothing is polled
        left.append((99, link))
        if s.stale_for is not None:
            left.append((98, badge(f"STALE {fmt.ago(s.stale_for)}", warning)))
        if s.paused and s.link != "live":
            left.append((97, badge("PAUSED", warning)))
        if s.read_only:
            left.append((96, badge("READ-ONLY", accent)))
        if s.load:
            left.append((95, badge(f"LOAD {s.load}", accent)))
        left.append((60, Text(f" {s.info.mode} ", style="bold")))
        server = s.info.server
        if len(server) > 32:  # a unix socket path in a temporary directory, say
            server = server[:10] + "…" + server[-21:]
        left.append((59, fmt.safe_text(server)))  # a Sentinel names the primary: not tbdash's text
        if s.info.version:
            left.append((20, Text(f" · redis {fmt.safe_str(s.info.version, width=16)}", style="dim")))

        if s.buckets is not None:
            count = f"{s.buckets} bucket{'s' if s.buckets != 1 else ''}"
            if s.shown is not None and s.shown != s.buckets:
                count = f"{s.shown}/{s.buckets} buckets"
            right.append((70, Text(count)))
        if s.alerts:
            right.append((72, Text(f"! {s.alerts} alert{'s' if s.alerts != 1 else ''}", style=f"bold {error}")))
        if s.invalid:
            right.append((69, Text(f"{s.invalid} invalid", style=f"bold {warning}")))
        if s.link in ("disconnected", "failing"):
            # The last figures describe a connection that is gone: unknown, not stale numbers.
            right.append((40, Text("rtt –", style="dim")))
            right.append((30, Text("poll –", style="dim")))
        else:
            if s.latency_ms is not None:
                right.append((40, Text(f"rtt {s.latency_ms:.1f}ms")))
            if s.poll_seconds is not None:
                right.append((30, Text(f"poll {s.poll_seconds * 1000:.0f}ms")))
        right.append((50, Text(f"every {fmt.seconds(s.interval)}")))

        def total() -> int:
            sep = 3 * max(0, len(right) - 1) + 1
            return sum(t.cell_len for _, t in left) + sum(t.cell_len for _, t in right) + sep + 1

        while total() > width and (left or right):
            pool = [(p, i, "l") for i, (p, _) in enumerate(left)] + [(p, i, "r") for i, (p, _) in enumerate(right)]
            _, index, side = min(pool)
            (left if side == "l" else right).pop(index)

        text = Text(no_wrap=True, overflow="ellipsis", end="")
        for _, part in left:
            text.append_text(part)
        tail = Text(end="")
        for i, (_, part) in enumerate(right):
            if i:
                tail.append(" · ", style="dim")
            tail.append_text(part)
        tail.append(" ")
        gap = max(1, width - text.cell_len - tail.cell_len)
        text.append(" " * gap)
        text.append_text(tail)
        return text
