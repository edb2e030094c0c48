"""Key names of the Redis data model.

One hash per user: ``<prefix>:{<user>}``. The braces are a Redis Cluster hash
tag, so every key of one user lands in one slot; a user id that itself holds
``{`` or ``}`` still maps to exactly one key, and the user id is recovered by
stripping the fixed prefix and suffix, never by parsing braces.
"""

from __future__ import annotations

DEFAULT_PREFIX = "token_bucket"
AUDIT_SUFFIX = "audit"  # <prefix>:audit, the stream of changes made through tbdash
BUCKET_OPEN, BUCKET_CLOSE = "{", "}"  # around the user id: <prefix>:{<user>}


def validate_prefix(prefix: str) -> str:
    if not prefix or any(c in prefix for c in "{}*?[]\\") or prefix.strip() != prefix:
        raise ValueError(f"invalid key prefix {prefix!r}: use a non-empty name without braces, glob characters or surrounding spaces")
    return prefix


def validate_user(user: str) -> str:
    if not isinstance(user, str) or user == "":
        raise ValueError("user id must be a non-empty string")
    return user


def namespace(prefix: str) -> str:
    """What every key of the data model starts with: ``<prefix>:``."""
    return f"{prefix}:"


def bucket_key(prefix: str, user: str) -> str:
    return f"{namespace(prefix)}{BUCKET_OPEN}{validate_user(user)}{BUCKET_CLOSE}"


def audit_key(prefix: str) -> str:
    return f"{namespace(prefix)}{AUDIT_SUFFIX}"


def scan_pattern(prefix: str) -> str:
    """SCAN MATCH pattern for bucket keys (glob special characters are excluded from prefixes)."""
    return f"{namespace(prefix)}{BUCKET_OPEN}*{BUCKET_CLOSE}"


def user_of(prefix: str, key: str | bytes) -> str | None:
    """The user id of a bucket key, or None if ``key`` is not one."""
    if isinstance(key, bytes):
        key = key.decode("utf-8", "surrogateescape")
    head = namespace(prefix) + BUCKET_OPEN
    if key.startswith(head) and key.endswith(BUCKET_CLOSE) and len(key) > len(head) + 1:
        return key[len(head) : -1]
    return None
