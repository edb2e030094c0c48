"""One bucket in detail: what each stored field means, where its settings come from, when it is full.

Pure functions of a `BucketRow` (one poll's view of the bucket): the TUI's
detail screen renders what they return. Time until full is `limiter.model`'s
arithmetic (`full_in_us`) on the row's level and anchor, so it is exact to the
tick, as the script would refill it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from dashboard.core.protocol import AuditEntry, BucketRow
from limiter.config import BucketConfig
from limiter.model import Level, full_in_us

# The stored fields of a bucket hash (README, data model), in the order the screen lists them.
FIELD_MEANINGS: tuple[tuple[str, str], ...] = (
    ("tokens", "tokens now, refill applied as of the poll (Redis time)"),
    ("anchor", "when the current tick started; the next lands one interval later"),
    ("max_tokens", "normal size; a new bucket starts with this many"),
    ("burst", "headroom above max_tokens that idle time fills"),
    ("refill", "refill_count tokens every refill_interval"),
    ("operator", "1: operator settings (persist); 0: callers' default"),
    ("granted", "acquires granted since the state was created"),
    ("denied", "acquires refused since the state was created"),
    ("default_changes", "times a caller's default replaced a different stored default (callers disagree)"),
    ("other_default", "the last default so replaced"),
    ("shadow", "preview settings evaluated on every acquire beside the enforced ones (they decide nothing)"),
)


@dataclass(frozen=True, slots=True)
class Source:
    """Where the settings in force come from, in words and as a short tag."""

    tag: str  # operator | caller default
    text: str


def settings_source(row: BucketRow, default: BucketConfig | None) -> Source:
    """Operator settings (they persist), or the default of the last caller that used the bucket."""
    if row.overridden:
        return Source("operator", "set by an operator (tbdash or configure()); they persist")
    if default is not None and row.config == default:
        return Source("caller default", "the callers' default (= tbdash's [limiter.default])")
    return Source("caller default", "the last caller's default (not tbdash's [limiter.default])")


def full_in_s(row: BucketRow, now_us: int) -> float | None:
    """Seconds from ``now_us`` until the bucket is at its ceiling, if nothing takes from it.

    0.0 when full; None when the row does not carry its anchor (the tick's phase is unknown).
    """
    if row.tokens >= row.config.ceiling:
        return 0.0
    if row.anchor_us is None:
        return None
    return max(0, full_in_us(Level(row.tokens, row.anchor_us), row.config.settings(), now_us)) / 1_000_000


def deny_ratio(granted: int, denied: int) -> float | None:
    """Denied / (granted + denied); None before any acquire."""
    total = granted + denied
    return denied / total if total else None


def audit_for(entries: Iterable[AuditEntry], user: str) -> list[AuditEntry]:
    """The entries about ``user`` only (exact match: a user id is any string), newest first as given."""
    return [entry for entry in entries if entry.user == user]
