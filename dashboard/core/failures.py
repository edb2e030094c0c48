"""What went wrong talking to Redis, in one line an operator can act on.

`explain` turns any exception from redis-py, the limiter or the backend into a
`Failure`: a kind (which decides the CLI's exit code and whether the dashboard
is disconnected) and one line naming the endpoint and the problem. The line is
built from fixed wording; nothing of redis-py's own message is shown except
what was recognised in it (an errno, a command name), so no class name, no
client repr and no password ever reaches the operator.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
from dataclasses import dataclass
from typing import Literal

from redis import exceptions as rexc

from dashboard.core.untrusted import shown
from limiter.errors import RedisUnavailable

Kind = Literal["unreachable", "timeout", "not_redis", "auth", "permission", "busy", "failed"]

ACL_HINT = "see README 'ACL recipes'"
OPERATOR_HINT = "changing buckets needs an operator user, see README 'ACL recipes'"

# Kinds after which Redis was not usable at all: exit 3 in the CLI.
UNREACHABLE_KINDS = frozenset({"unreachable", "timeout", "not_redis", "auth", "busy"})


@dataclass(frozen=True, slots=True)
class Failure:
    kind: Kind
    text: str  # one line, no "tbdash:" prefix

    @property
    def unreachable(self) -> bool:
        return self.kind in UNREACHABLE_KINDS


def explain(exc: BaseException, where: str | None = None, *, user: str | None = None, hint: str = ACL_HINT) -> Failure:
    """One line for ``exc``. ``where`` names the endpoint (never a password); ``user`` the ACL user, if known."""
    where = where or getattr(exc, "where", None)
    at = f" at {where}" if where else ""
    for cause in _chain(exc):
        found = _explain_one(cause, at, where, f"Redis user '{shown(user)}'" if user else "this Redis user", hint)
        if found is not None:
            return found
    if isinstance(exc, RedisUnavailable):  # the limiter's or the backend's own message
        return Failure("unreachable", _safe_text(exc))
    return Failure("failed", f"Redis{at}: {_safe_text(exc)}")


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes, outermost first (the backend wraps redis-py's error)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


_NOPERM_COMMAND = re.compile(r"run the '([^']+)' command")
_SCRIPT_REFUSED = re.compile(r"user executing the script can't (run|access)", re.IGNORECASE)
_ERRNO = re.compile(r"Error (-?\d+) connecting")


def _explain_one(exc: BaseException, at: str, where: str | None, user: str, hint: str) -> Failure | None:
    text = str(exc)
    if isinstance(exc, RedisUnavailable) and (exc.__cause__ is not None or exc.__context__ is not None):
        return None  # a wrapper: its cause says what happened
    if isinstance(exc, rexc.NoPermissionError) or text.startswith("NOPERM"):
        match = _NOPERM_COMMAND.search(text)
        if match:
            command = shown(match.group(1).upper())
            return Failure("permission", f"{user} may not run {command} (NOPERM): {hint}")
        return Failure("permission", f"{user} may not access these keys (NOPERM): {hint}")
    refused = _SCRIPT_REFUSED.search(text) if isinstance(exc, rexc.ResponseError) else None
    if refused is not None:
        what = "run a command" if "run" in refused.group(1).lower() else "access a key"
        return Failure("permission", f"{user} may not {what} that the limiter's script needs (NOPERM): {hint}")
    if isinstance(exc, rexc.AuthenticationError) or text.startswith(("WRONGPASS", "NOAUTH")):
        if "must be called with the client already authenticated" in text or "NOAUTH" in text or "Authentication required" in text:
            return Failure("auth", f"authentication required{at}: the server wants a password and none was given (URL, [redis] password_file or password_env)")
        return Failure("auth", f"authentication failed{at}: wrong password for {user}, or the user is disabled")
    if type(exc).__name__ == "MasterNotFoundError":
        return _sentinel(text, at)
    if isinstance(exc, rexc.InvalidResponse) or "Protocol error" in text:
        return Failure("not_redis", f"the server{at} does not speak the Redis protocol (another service on that port? TLS needed: rediss://?)")
    if isinstance(exc, rexc.RedisClusterException) and "cannot be connected" in text:
        cause = exc.__cause__ or exc.__context__
        inner = _explain_one(cause, at, where, user, hint) if cause is not None else None
        if inner is not None and inner.kind not in ("unreachable", "timeout"):
            return inner  # reached, but refused the login or is not Redis: that is the news
        if inner is None and "Protocol error" in text:
            return Failure("not_redis", f"the server{at} does not speak the Redis protocol (another service on that port? TLS needed: rediss://?)")
        return Failure("unreachable", f"cannot connect to any Redis Cluster seed node{at}: {_connect_reason(text)}")
    if isinstance(exc, (rexc.TimeoutError, asyncio.TimeoutError, TimeoutError)) or "Timeout" in text:
        if "connecting" in text:
            return Failure("timeout", f"cannot connect to Redis{at}: timed out while connecting")
        return Failure("timeout", f"Redis{at} did not answer in time (timed out waiting for a reply)")
    if text.startswith("BUSY"):
        return Failure("busy", f"Redis{at} is busy running a long script (BUSY)")
    if isinstance(exc, rexc.BusyLoadingError) or text.startswith("LOADING"):
        return Failure("busy", f"Redis{at} is loading its data set into memory (LOADING)")
    if text.startswith("MASTERDOWN") or type(exc).__name__ == "MasterDownError":
        return Failure("busy", f"Redis{at} is a replica whose primary is down (MASTERDOWN)")
    if text.startswith("CLUSTERDOWN") or isinstance(exc, rexc.ClusterDownError):
        return Failure("busy", f"the Redis Cluster{at} is down (CLUSTERDOWN)")
    if isinstance(exc, OSError) and not isinstance(exc, rexc.RedisError) and exc.errno is not None:
        return Failure("unreachable", f"cannot connect to Redis{at}: {_strerror(exc.errno)}")
    if isinstance(exc, rexc.ConnectionError):
        if _ERRNO.search(text):
            return Failure("unreachable", f"cannot connect to Redis{at}: {_connect_reason(text)}")
        if "closed" in text.lower():
            return Failure("unreachable", f"Redis{at} closed the connection")
        return None  # look at its cause
    return None


def _sentinel(text: str, at: str) -> Failure:
    service = re.search(r"No master found for '([^']*)'", text)
    name = shown(service.group(1)) if service else "?"
    if " : " in text:  # redis-py lists the sentinels it could not ask
        reasons = sorted({_connect_reason(part) for part in text.split(" : ", 1)[1].split(", <")})
        return Failure("unreachable", f"no Sentinel{at} answered for primary {name!r}: {'; '.join(reasons)}")
    return Failure("unreachable", f"the Sentinels{at} know no healthy primary named {name!r}")


def _connect_reason(text: str) -> str:
    match = _ERRNO.search(text)
    if match:
        return _strerror(int(match.group(1)))
    if "Timeout" in text or "timed out" in text:
        return "timed out"
    if "ConnectionError" in text:  # redis-py 8 lists a sentinel's failure as "network:ConnectionError"
        return "could not connect"
    if "Protocol error" in text:
        return "not a Redis server (protocol error)"
    if "invalid username-password" in text or "WRONGPASS" in text:
        return "authentication failed (wrong password)"
    if "NOAUTH" in text or "must be called with the client already authenticated" in text:
        return "authentication required (no password given)"
    return "no answer"


def _strerror(number: int) -> str:
    if number == -2 or number == -5:  # getaddrinfo: EAI_NONAME, EAI_NODATA
        return "host name not found"
    if number == -3:
        return "host name lookup failed (temporary)"
    if number > 0:
        return os.strerror(number).lower() if number in errno.errorcode else f"error {number}"
    return f"error {number}"


def _safe_text(exc: BaseException) -> str:
    """The first line of a message we did not recognise, without reprs, shown safely, short."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else "unexpected error"
    text = re.sub(r"<[^<>]*(<[^<>]*>[^<>]*)*>", "<...>", text)  # client reprs
    if len(text) > 200:
        text = text[:200] + "…"
    return shown(text)
