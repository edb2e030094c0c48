"""Exit codes, and the three ways a command ends early (each one line on stderr)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dashboard.core.failures import Failure

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class UsageError(Exception):
    """Bad usage or configuration, a missing bucket, a missing permission: exit 2 with this one-line message."""


class Unreachable(Exception):
    """Redis cannot be reached, or refused the connection: exit 3 with this one-line message."""


class Failed(Exception):
    """The command ran but failed: exit 1 with this message."""


def from_failure(failure: Failure, prefix: str = "tbdash") -> Exception:
    """The CLI error for a `dashboard.core.failures.Failure`."""
    text = f"{prefix}: {failure.text}"
    if failure.unreachable:
        return Unreachable(text)
    if failure.kind == "permission":
        return UsageError(text)
    return Failed(text)
