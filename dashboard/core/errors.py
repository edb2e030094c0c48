"""Errors of the headless layer. Messages are one line, fit for the CLI and the UI, and never hold a password."""

from __future__ import annotations

from typing import Any

from dashboard.core.untrusted import shown


class CoreError(Exception):
    """Base class of the errors `dashboard.core` raises on purpose."""


class ReadOnlyError(CoreError, PermissionError):
    """A mutation was asked of a read-only backend (``--read-only`` or ``[dashboard] read_only``)."""

    def __init__(self, action: str, user: str | None = None) -> None:
        self.action = action
        self.user = user
        target = f" of '{shown(user)}'" if user is not None else ""
        super().__init__(f"read-only mode: {action}{target} refused (started with --read-only or [dashboard] read_only = true)")


class AuditWriteFailed(CoreError):
    """The change WAS applied, but its audit entry could not be written.

    The stream lives in another Cluster slot than the bucket, so the two writes
    cannot be one transaction: the change goes first (an audit entry for a change
    that never happened would be worse), and this error says so loudly.
    ``result`` is what the change returned; ``cause`` the Redis error.
    """

    def __init__(self, action: str, user: str, cause: BaseException, result: Any = None) -> None:
        self.action = action
        self.user = user
        self.cause = cause
        self.result = result
        super().__init__(f"{action} of '{shown(user)}' was applied, but writing the audit entry failed: {shown(str(cause))}")


class LoadSpecError(CoreError, ValueError):
    """A load request outside the sane limits (rate, duration, concurrency, tokens).

    ``field`` names the `LoadSpec` field at fault ("" when it is the request as a
    whole), so a form or a flag can show the message where it belongs.
    """

    def __init__(self, message: str, *, field: str = "") -> None:
        self.field = field
        super().__init__(message)


class NoSuchBucket(CoreError, LookupError):
    """A change was asked for a user that has no bucket (a typo?); nothing was written."""

    def __init__(self, user: str, prefix: str, action: str) -> None:
        self.user = user
        self.prefix = prefix
        self.action = action
        super().__init__(f"no bucket '{shown(user)}' under {prefix}: (nothing to {action})")
