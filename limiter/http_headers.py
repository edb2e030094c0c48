"""The response fields of the rate-limit middleware: ``Retry-After`` and the IETF draft's two fields.

draft-ietf-httpapi-ratelimit-headers (-10/-11) defines two Structured Fields
(RFC 9651), each a List of Items whose value is a String naming a policy::

    RateLimit-Policy: "default";q=15;w=15
    RateLimit: "default";r=4;t=1

How a token bucket maps onto them (the README has the reasoning):

- ``q``: the ceiling (``max_tokens + burst``), the most one client can spend at once;
- ``w``: whole seconds (rounded up) to refill the ceiling from empty, so
  ``q / w`` never exceeds the real refill rate;
- ``r``: tokens left after this request;
- ``t``: whole seconds (rounded up) until more tokens are there: on a refusal,
  until this request's cost is there (the same number as ``Retry-After``); on
  a grant, until the next token, when the limiter knows it. Omitted otherwise.

Everything here is pure and allocation-light; nothing is parsed, only written.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from limiter.config import BucketConfig

POLICY_FIELD = "RateLimit-Policy"
LIMIT_FIELD = "RateLimit"
RETRY_AFTER = "Retry-After"
FAIL_MODE_FIELD = "RateLimit-Fail-Mode"

# RFC 9651 §3.3.1: an Integer has at most 15 digits. Larger figures are lowered
# to this (the draft lets a server advertise less than it would grant).
SF_INTEGER_MAX = 999_999_999_999_999
POLICY_NAME_MAX = 64
_US = 1_000_000


def check_policy_name(name: object) -> str:
    """A policy name usable as an sf-string (and as a Prometheus label value): printable ASCII."""
    if not isinstance(name, str) or not 1 <= len(name) <= POLICY_NAME_MAX or not all(" " <= c <= "~" for c in name):
        raise ValueError(
            f"policy must be 1 to {POLICY_NAME_MAX} printable ASCII characters (got {name!r}): "
            "it names the quota in the RateLimit fields and labels the counters"
        )
    return name


def sf_string(text: str) -> str:
    """RFC 9651 §4.1.6: DQUOTE, with backslash before DQUOTE and backslash. ``text`` is printable ASCII."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sf_int(value: int) -> str:
    return str(min(max(value, 0), SF_INTEGER_MAX))


def seconds_up(microseconds: int) -> int:
    """Whole seconds, rounded up (delay-seconds never promise a moment too early)."""
    return -(-microseconds // _US)


def retry_after_seconds(retry_after: float) -> int:
    """``Retry-After`` for a refusal: whole seconds rounded up, and at least 1.

    At least 1 even for a zero wait (a race with a refill): ``Retry-After: 0``
    on a 429 invites a client to spin.
    """
    return max(1, seconds_up(round(retry_after * _US)))


@functools.lru_cache(maxsize=256)  # BucketConfig is frozen and hashable; computed on every response
def window_seconds(config: BucketConfig) -> int:
    """``w``: the time to refill the ceiling from empty, in whole seconds rounded up (at least 1)."""
    ticks = -(-config.ceiling // config.refill_count)
    return max(1, seconds_up(ticks * config.interval_us))


class Quota(NamedTuple):
    """What one decision says about a client's quota, ready to be written as fields.

    ``remaining`` is None when nothing is known (a fail-mode decision made
    without Redis); then no ``RateLimit`` field is written. ``window`` is None
    when the settings in force are not known (``w`` is omitted), ``reset``
    when the time of the next token is not known (``t`` is omitted).
    """

    policy: str
    quota: int
    window: int | None
    remaining: int | None
    reset: int | None


def policy_value(quota: Quota) -> str:
    value = f"{sf_string(quota.policy)};q={_sf_int(quota.quota)}"
    if quota.window is not None:
        value += f";w={_sf_int(quota.window)}"
    return value


def limit_value(quota: Quota) -> str | None:
    if quota.remaining is None:
        return None
    value = f"{sf_string(quota.policy)};r={_sf_int(quota.remaining)}"
    if quota.reset is not None:
        value += f";t={_sf_int(quota.reset)}"
    return value


def quota_fields(quota: Quota) -> list[tuple[str, str]]:
    """``RateLimit-Policy`` and (when the remaining quota is known) ``RateLimit``."""
    fields = [(POLICY_FIELD, policy_value(quota))]
    limit = limit_value(quota)
    if limit is not None:
        fields.append((LIMIT_FIELD, limit))
    return fields
