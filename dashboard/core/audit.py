"""The audit stream ``<prefix>:audit``: every change made through tbdash, capped in length.

One stream entry per change: ``who`` (configured operator name, else OS
``user@host``), ``action``, ``user``, ``old`` and ``new`` (JSON objects, or
empty), ``ts`` (the writer's clock, ISO 8601 UTC, for humans reading it with
redis-cli). The entry id is Redis time, so `AuditEntry.when` comes from it.
``XADD ... MAXLEN ~ 10000`` keeps the stream bounded.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import json
import os
import socket
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from dashboard.core.protocol import AuditEntry, BucketRow
from limiter.keys import audit_key
from limiter.types import BucketState

DEFAULT_MAXLEN = 10_000
ACTIONS = ("configure", "unconfigure", "reset", "delete", "shadow", "promote", "discard_shadow")
# What an entry records of a bucket (`state_dict`), in the order every view lists it;
# the shadow_ keys only while the bucket has shadow settings.
STATE_KEYS = ("max_tokens", "burst", "refill_count", "refill_interval", "overridden", "tokens",
              "shadow_max_tokens", "shadow_burst", "shadow_refill_count", "shadow_refill_interval",
              "shadow_granted", "shadow_denied")


@dataclass(frozen=True, slots=True)
class Change:
    """One recorded value of an audit entry, old → new (None: absent on that side)."""

    key: str
    before: object
    after: object

    @property
    def changed(self) -> bool:
        return self.before != self.after


def state_changes(old: Mapping[str, object] | None, new: Mapping[str, object] | None, keys: Sequence[str] = STATE_KEYS) -> list[Change]:
    """The old → new of an audit entry (or of two `state_dict`s): every key present on either side, in ``keys`` order.

    The one diff of the CLI's ``audit`` and ``set`` and the dashboard's views:
    filter on `Change.changed` for what moved.
    """
    rows = [Change(k, None if old is None else old.get(k), None if new is None else new.get(k)) for k in keys]
    return [c for c in rows if c.before is not None or c.after is not None]


def operator_identity(configured: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """Who the audit stream records: ``configured`` (``[dashboard] operator``) if given, else ``<login>@<host>``.

    The login is the first of ``$LOGNAME``, ``$USER``, ``$USERNAME`` in ``env``
    (the process environment by default), else the passwd entry, else "unknown".
    """
    if configured:
        return configured
    return f"{_login(os.environ if env is None else env)}@{socket.gethostname()}"


def _login(env: Mapping[str, str]) -> str:
    for var in ("LOGNAME", "USER", "USERNAME"):
        if env.get(var):
            return env[var]
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (some containers)
        return "unknown"


def state_dict(state: BucketState | BucketRow | None) -> dict[str, object] | None:
    """What the audit records of a bucket: its settings, operator flag and tokens; its shadow's settings and counters."""
    if state is None:
        return None
    out: dict[str, object] = {
        "max_tokens": state.config.max_tokens,
        "burst": state.config.burst,
        "refill_count": state.config.refill_count,
        "refill_interval": state.config.refill_interval,
        "overridden": state.overridden,
        "tokens": state.tokens,
    }
    shadow = state.shadow
    if shadow is not None:
        out.update({
            "shadow_max_tokens": shadow.config.max_tokens,
            "shadow_burst": shadow.config.burst,
            "shadow_refill_count": shadow.config.refill_count,
            "shadow_refill_interval": shadow.config.refill_interval,
            "shadow_granted": shadow.granted,
            "shadow_denied": shadow.denied,
        })
    return out


def _text(value: Any, errors: str = "replace") -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors)
    return "" if value is None else str(value)


def _json(value: Any) -> dict[str, object] | None:
    text = _text(value)
    if not text:
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return {"unparsed": text}  # a foreign writer: show it, don't crash
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def entry_of(entry_id: Any, fields: Mapping[Any, Any]) -> AuditEntry:
    """An `AuditEntry` from one XRANGE item; tolerant of entries other tools wrote."""
    fields = {_text(k): v for k, v in fields.items()}
    ident = _text(entry_id)
    try:
        when = int(ident.split("-")[0]) / 1000
    except ValueError:
        when = 0.0
    return AuditEntry(
        id=ident,
        when=when,
        who=_text(fields.get("who")) or "?",
        action=_text(fields.get("action")) or "?",
        # The user id exactly, undecodable bytes kept (surrogateescape), as the poller's rows carry it.
        user=_text(fields.get("user"), "surrogateescape"),
        old=_json(fields.get("old")),
        new=_json(fields.get("new")),
    )


class AuditLog:
    """Writes and reads the audit stream of one prefix (``redis.asyncio`` client)."""

    def __init__(self, client: Any, prefix: str, *, who: str, maxlen: int = DEFAULT_MAXLEN) -> None:
        if maxlen < 1:
            raise ValueError("audit maxlen must be >= 1")
        self.client = client
        self.key = audit_key(prefix)
        self.who = who
        self.maxlen = maxlen

    async def write(
        self, action: str, user: str, old: dict[str, object] | None, new: dict[str, object] | None
    ) -> AuditEntry:
        """Append one entry; raises the Redis error if it cannot be written."""
        fields = {
            "who": self.who,
            "action": action,
            "user": user,
            "old": "" if old is None else json.dumps(old, sort_keys=True),
            "new": "" if new is None else json.dumps(new, sort_keys=True),
            "ts": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds"),
        }
        entry_id = await self.client.xadd(self.key, fields, maxlen=self.maxlen, approximate=True)
        return entry_of(entry_id, fields)

    async def read(self, limit: int = 100) -> list[AuditEntry]:
        """The newest ``limit`` entries, newest first."""
        if limit < 1:
            return []
        items = await self.client.xrevrange(self.key, "+", "-", count=limit)
        return [entry_of(entry_id, fields) for entry_id, fields in items]
