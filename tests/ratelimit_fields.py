"""Reading the RateLimit fields back, strictly, with an independent RFC 9651 parser (http-sf).

The draft (draft-ietf-httpapi-ratelimit-headers-10/-11) says: both fields are
Lists of Items; each Item's value is a String naming a policy; RateLimit-Policy
has a required ``q`` (non-negative Integer) and an optional ``w`` (positive
Integer); RateLimit has a required ``r`` (non-negative Integer) and an
optional ``t`` (non-negative Integer). ``qu`` and ``pk`` exist but tbdash
never sends them, so any parameter beyond these is an error here.
"""

from __future__ import annotations

import re
from typing import Any

import http_sf

POLICY_PARAMS = {"q": True, "w": False}  # name: required
LIMIT_PARAMS = {"r": True, "t": False}


def _items(response: Any, name: str) -> list[tuple[str, dict[str, int]]]:
    values = response.headers.get_list(name)
    if not values:
        return []
    parsed = http_sf.parse(",".join(values).encode("ascii"), tltype="list")  # RFC 9651 §3.1: fields combine
    items = []
    for member in parsed:
        assert isinstance(member, tuple) and not isinstance(member[0], list), f"{name}: an inner list: {values}"
        value, params = member
        assert type(value) is str, f"{name}: the policy must be an sf-string, got {type(value).__name__}: {values}"
        items.append((value, params))
    return items


def _checked(items: list[tuple[str, dict[str, Any]]], spec: dict[str, bool], name: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for policy, params in items:
        assert policy not in out, f"{name}: policy {policy!r} twice"
        assert set(params) <= set(spec), f"{name}: unexpected parameters {set(params) - set(spec)}"
        for param, required in spec.items():
            assert param in params or not required, f"{name}: {param} is required"
        for param, value in params.items():
            assert type(value) is int and value >= 0, f"{name}: {param}={value!r} is not a non-negative Integer"
        if name == "RateLimit-Policy" and "w" in params:
            assert params["w"] > 0, "RateLimit-Policy: w must be a positive Integer"
        out[policy] = params
    return out


def fields(response: Any) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """``(policies, limits)``: each policy name to its parameters, checked against the draft's grammar."""
    policies = _checked(_items(response, "RateLimit-Policy"), POLICY_PARAMS, "RateLimit-Policy")
    limits = _checked(_items(response, "RateLimit"), LIMIT_PARAMS, "RateLimit")
    assert set(limits) <= set(policies), f"RateLimit names a policy that RateLimit-Policy lacks: {limits}"
    return policies, limits


def retry_after(response: Any) -> int:
    """``Retry-After`` as delay-seconds (RFC 9110 §10.2.3), at least 1 on a refusal."""
    values = response.headers.get_list("Retry-After")
    assert len(values) == 1, f"one Retry-After, got {values}"
    assert re.fullmatch(r"[0-9]+", values[0]), f"Retry-After is not delay-seconds: {values[0]!r}"
    seconds = int(values[0])
    assert seconds >= 1
    return seconds
