"""The dashboard's writes, by verb: which `Backend` call each `ChangeRequested` makes (no widgets).

Each returns the audit entry, or None when the backend found nothing to change
(nothing written, nothing audited): settings already in force, a preview of the
settings already previewed, promote or discard on a bucket without a preview.
"""

from __future__ import annotations

from dashboard.core.protocol import AuditEntry, Backend
from limiter.config import BucketConfig


async def perform(backend: Backend, verb: str, user: str, new: BucketConfig | None) -> AuditEntry | None:
    # create=False throughout: a bucket that expired since the poll is not re-created by an edit.
    if verb == "configure":
        return await backend.configure(user, _settings(verb, new), create=False)
    if verb == "shadow":
        return await backend.shadow(user, _settings(verb, new), create=False)
    if verb == "unconfigure":
        return await backend.unconfigure(user)
    if verb == "reset":
        return await backend.reset(user)
    if verb == "delete":
        return await backend.delete(user)
    if verb == "promote":
        return await backend.promote(user)
    if verb == "discard_shadow":
        return await backend.discard_shadow(user)
    raise ValueError(f"unknown change {verb!r}")


def _settings(verb: str, new: BucketConfig | None) -> BucketConfig:
    if new is None:
        raise ValueError(f"{verb} needs the new settings")
    return new
