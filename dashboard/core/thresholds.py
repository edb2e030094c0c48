"""Which buckets cross a ``[dashboard]`` threshold, and why.

Two thresholds, each off when set to 0:

* **deny ratio**: denials / requests over ``deny_window`` (from `WindowStore`)
  at least ``deny_ratio``, with at least ``deny_min_requests`` requests in the
  window (one denied request out of one is not a pattern). A window the
  history does not cover yet is judged on the span it covers, and says so.
* **empty**: seen with no token at every poll for at least ``empty_for``
  seconds (from `EmptySince`: a lower bound, counted from the first poll that
  saw it empty).

The reasons are plain text tbdash writes (numbers and durations); the user id
is the caller's to show escaped. Cost: the buckets that denied in the window
and the empty ones, not all buckets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from dashboard.core.emptiness import EmptySince
from dashboard.core.windows import WindowCount, WindowStore

if TYPE_CHECKING:
    from dashboard.settings import DashboardSettings

Kind = Literal["deny_ratio", "empty"]


@dataclass(frozen=True, slots=True)
class Thresholds:
    deny_ratio: float = 0.10  # 0: off
    deny_window: float = 60.0  # seconds
    deny_min_requests: int = 10
    empty_for: float = 30.0  # seconds; 0: off

    @classmethod
    def from_settings(cls, settings: DashboardSettings) -> Thresholds:
        return cls(settings.deny_ratio, settings.deny_window, settings.deny_min_requests, settings.empty_for)

    @property
    def any(self) -> bool:
        """At least one threshold is on."""
        return self.deny_ratio > 0 or self.empty_for > 0

    @property
    def sampling_s(self) -> float:
        """How long polls must watch before every threshold can be judged on full data."""
        return max(self.deny_window if self.deny_ratio > 0 else 0.0, self.empty_for)

    def describe(self) -> str:
        parts = []
        if self.deny_ratio > 0:
            parts.append(f"deny ratio >= {percent(self.deny_ratio)} over {duration_text(self.deny_window)} "
                         f"(at least {self.deny_min_requests} request{'s' if self.deny_min_requests != 1 else ''})")
        if self.empty_for > 0:
            parts.append(f"empty for >= {duration_text(self.empty_for)}")
        return "; ".join(parts) if parts else "no threshold set"


@dataclass(frozen=True, slots=True)
class Reason:
    kind: Kind
    text: str  # e.g. "denied 12 of 80 requests (15%) over 1m": tbdash's words, safe to show
    observed: float  # the deny ratio, or the seconds empty
    limit: float  # the threshold crossed
    window: WindowCount | None = None  # the counts behind a deny-ratio reason


@dataclass(frozen=True, slots=True)
class Firing:
    user: str  # raw: escape it to show it
    reasons: tuple[Reason, ...]

    @property
    def kinds(self) -> tuple[Kind, ...]:
        return tuple(r.kind for r in self.reasons)


def firing(thresholds: Thresholds, windows: WindowStore, empty: EmptySince) -> list[Firing]:
    """Every bucket that crosses a threshold as of the last poll fed to both stores, by user."""
    reasons: dict[str, list[Reason]] = {}
    if thresholds.deny_ratio > 0:
        for user in windows.denying(thresholds.deny_window):
            count = windows.count(user, thresholds.deny_window)
            reason = deny_reason(thresholds, count) if count is not None else None
            if reason is not None:
                reasons.setdefault(user, []).append(reason)
    if thresholds.empty_for > 0:
        for user, seconds in empty.at_least(thresholds.empty_for):
            text = f"empty for {duration_text(seconds)} (>= {duration_text(thresholds.empty_for)})"
            reasons.setdefault(user, []).append(Reason("empty", text, seconds, thresholds.empty_for))
    return [Firing(user, tuple(found)) for user, found in sorted(reasons.items())]


def deny_reason(thresholds: Thresholds, count: WindowCount) -> Reason | None:
    """The deny-ratio reason for one bucket's window, or None when it does not fire."""
    ratio = count.deny_ratio
    if ratio is None or count.requests < thresholds.deny_min_requests or ratio < thresholds.deny_ratio:
        return None
    text = (f"denied {count.denied} of {count.requests} requests ({percent(ratio)} >= {percent(thresholds.deny_ratio)})"
            f" over {span_text(count)}")
    return Reason("deny_ratio", text, ratio, thresholds.deny_ratio, count)


def span_text(count: WindowCount) -> str:
    """The span a count covers: "1m", or "42s (partial: the history is shorter than 1m)"."""
    if count.partial:
        return f"{duration_text(count.span_s)} (partial: the history is shorter than {duration_text(count.window_s)})"
    if count.span_s > count.window_s:
        return f"{duration_text(count.span_s)} ({duration_text(count.window_s)} to the nearest sample)"
    return duration_text(count.window_s)


def percent(ratio: float) -> str:
    return f"{ratio * 100:.3g}%"


def duration_text(seconds: float) -> str:
    """``45s``, ``1m``, ``1m30s``, ``1h``, ``250ms``: short, exact to the second above a minute."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.3g}s" if seconds < 10 else f"{seconds:.0f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return text or "0s"
