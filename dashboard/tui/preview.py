"""How a bucket in preview (shadow settings, SPEC §6) is told: the texts beside its real figures (no widgets).

The one comparison the operator acts on is "would deny": the shadow's
denials per second against the enforced ones, over the same acquires (both
are counter deltas between the same two polls).
"""

from __future__ import annotations

from rich.text import Text

from dashboard.core.protocol import BucketRow, ShadowRow
from dashboard.tui import format as fmt
from limiter.config import BucketConfig

MARK = "◐"  # a bucket in preview: half its settings are only being tried (the cfg column, the legend)
NONE = "none"


def settings_text(config: BucketConfig) -> str:
    """``10+5 2/1s``: max_tokens+burst and the refill, the shortest way the dashboard writes settings."""
    return f"{config.max_tokens}+{config.burst} {fmt.refill(config)}"


def would_deny(row: BucketRow) -> str | None:
    """``would deny 12/s more`` (or ``fewer``, or ``the same``); None without a shadow or before two polls."""
    shadow = row.shadow
    if shadow is None or shadow.denials_per_s is None or row.denials_per_s is None:
        return None
    difference = shadow.denials_per_s - row.denials_per_s
    if abs(difference) < 0.05:  # fmt.rate shows "0" below this: call it the same
        return "would deny the same"
    return f"would deny {fmt.rate(abs(difference))}/s {'more' if difference > 0 else 'fewer'}"


def preview_details(row: BucketRow, *, style: str) -> Text:
    """The details line's part for a bucket in preview (empty without one): the shadow's figures and the difference."""
    shadow = row.shadow
    if shadow is None:
        return Text("")
    # The difference first: on a narrow screen the end of the line is cut off.
    text = Text()
    text.append(f" {MARK} preview {fmt.tokens(shadow.tokens)}/{fmt.tokens(shadow.config.ceiling)} {settings_text(shadow.config)}", style=style)
    difference = would_deny(row)
    if difference is not None:
        text.append(f" {difference}", style=f"bold {style}")
    text.append(f" ({fmt.rate(shadow.grants_per_s)} grant/s {fmt.rate(shadow.denials_per_s)} deny/s) ·", style=style)
    return text


def shadow_counters(shadow: ShadowRow) -> str:
    return f"{shadow.granted} granted, {shadow.denied} denied since it was set"
