"""The calling convention of ``lua/token_bucket.lua``, shared by the sync and async limiters.

Everything here is pure: building ARGV, turning replies into `Decision` /
`BucketState`, and sorting Redis errors into "unreachable" (the ``on_error``
policy decides) and "bad data" (always raised).
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections import Counter
from importlib import resources
from typing import Literal, Mapping, Sequence

from redis import exceptions as rexc

from limiter.config import BucketConfig
from limiter.errors import CorruptBucket, LimiterError, TokensExceedCeiling
from limiter.model import Settings, check_n  # noqa: F401  (the rule lives in model; importable from here too)
from limiter.types import BucketState, Decision, ShadowState

Call = tuple[str, tuple[object, ...]]  # one script call: (key, ARGV)

SOURCE: str = resources.files("limiter").joinpath("lua/token_bucket.lua").read_text(encoding="utf-8")
SHA: str = hashlib.sha1(SOURCE.encode()).hexdigest()

Operation = Literal["acquire", "peek", "configure", "unconfigure", "reset", "delete", "shadow", "promote", "discard"]
OnError = Literal["raise", "allow", "deny"]
ON_ERROR_CHOICES = ("raise", "allow", "deny")

# ARGV[5] of an acquire: "this request id was never sent before", so the script need not
# look for an earlier answer. Sent only on a first attempt, and only by callers whose
# retries are the limiter's own (a retry of the same id never carries it).
FRESH = (b"1",)

# Reply layouts (see the header of token_bucket.lua). Acquire: six numbers in one string,
# a seventh on a bucket with a shadow.
CODE, ALLOWED, TOKENS, WAIT_US, CEILING, ACQUIRE_NOW_US, SHADOW_ALLOWED = range(7)
# peek, configure, unconfigure, reset: an array.
MAX_TOKENS, BURST, REFILL_COUNT, INTERVAL_US, GRANTED, DENIED, OPERATOR, NOW_US, ANCHOR_US, DEFAULT_CHANGES, OTHER_DEFAULT, SHADOW = range(4, 16)
CODE_OK, CODE_TOO_MANY, CODE_REPLAYED = 0, 1, 2


def acquire_reply(reply: bytes | str) -> list[int]:
    """The six (seven with a shadow) numbers of an acquire reply, in the order above."""
    return [int(x) for x in reply.split()]


# Errors that mean "Redis is not answering usefully right now", as opposed to
# an answer about the data. ReadOnlyError: a demoted primary after failover.
UNAVAILABLE = (
    rexc.ConnectionError,
    rexc.TimeoutError,
    rexc.ClusterError,
    rexc.ReadOnlyError,
    rexc.TryAgainError,
)


def settings_arg(settings: Settings, *extra: int) -> bytes:
    """One ARGV: ``"<max_tokens> <burst> <refill_count> <interval_us>[ <extra>...]"``."""
    values = (settings.max_tokens, settings.burst, settings.refill_count, settings.interval_us, *extra)
    return " ".join(map(str, values)).encode()


class RequestIds:
    """Unique ids for consumes, so a client-side retry of the same call is not debited twice."""

    def __init__(self) -> None:
        self._prefix = os.urandom(6).hex()
        self._counter = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):x}"


# -- sending a broken pipeline's calls again -------------------------------------------------
#
# The server runs a pipeline's calls in order. When the connection breaks, any first few of
# the unanswered ones may have run. An acquire sent again with its request id is answered as
# a replay only if it was the last to run on its bucket (the script remembers one request id
# per bucket, in its ``req`` field), so of the unanswered acquires:
# - after a timeout, none is sent again: the server may still be reading the old connection,
#   and a first copy (sent with FRESH) that runs after its retry is debited again;
# - on a connection the server closed (it runs nothing more of it), a bucket's one unanswered
#   acquire is sent again, whether it ran or not (README: a caller that wrote the bucket in
#   between makes it a double debit);
# - a bucket with several is asked first. Its ``req`` names one of them: it and those before
#   it ran and are not sent again (their answers are lost: ``on_error`` answers them), those
#   after it are (they did not run, so another writer in the meantime changes nothing; the
#   one named would be a replay only if nobody wrote the bucket between the question and the
#   retry). It names one answered before the break: none of them ran, all are sent again.
#   Anything else (another caller or lane wrote the bucket since): none is sent again.


def unsure_keys(calls: Sequence[Call], todo: Sequence[int]) -> list[str]:
    """The keys with more than one unanswered acquire: their ``req`` field is read before a retry."""
    counts = Counter(calls[i][0] for i in todo if is_acquire(calls[i][1]))
    return [key for key, count in counts.items() if count > 1]


def retry_plan(calls: Sequence[Call], todo: Sequence[int], last: Mapping[str, object] | None) -> tuple[list[int], list[int]]:
    """The unanswered calls (``todo``) to send again, and those not to, by the rules above.

    ``last``: the ``req`` field (``"<request id> <allowed> <wait_us>..."`` or None) of each key
    of `unsure_keys`; None after a timeout. The calls not in ``todo`` were answered.
    """
    if last is None:
        withheld = {i for i in todo if is_acquire(calls[i][1])}
    else:
        pending, withheld = set(todo), set()
        for key, field in last.items():
            last_id = _text(field).split(" ", 1)[0] if field is not None else None
            acquires = [i for i, (k, args) in enumerate(calls) if k == key and is_acquire(args)]
            unanswered = [i for i in acquires if i in pending]
            ids = [_text(calls[i][1][3]) for i in unanswered]
            if last_id in ids:
                withheld.update(unanswered[: ids.index(last_id) + 1])
            elif last_id not in {_text(calls[i][1][3]) for i in acquires if i not in pending}:
                withheld.update(unanswered)
    return [i for i in todo if i not in withheld], [i for i in todo if i in withheld]


def is_acquire(args: tuple[object, ...]) -> bool:
    """Whether a call's ARGV is an acquire with a request id."""
    return len(args) > 3 and args[0] in (b"acquire", "acquire") and args[3] not in ("", b"")


def is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, UNAVAILABLE):
        return True
    # BUSY (a long script) and LOADING have no dedicated class on every redis-py version.
    return isinstance(exc, rexc.ResponseError) and str(exc).startswith(("BUSY", "LOADING", "MASTERDOWN", "CLUSTERDOWN"))


def translate_response_error(exc: rexc.ResponseError, key: str) -> LimiterError | None:
    """A script error about the data, as a `LimiterError`; None if it is something else."""
    message = str(exc)
    marker = "token_bucket: "
    at = message.find(marker)
    if at < 0:
        return None
    reason = message[at + len(marker) :].split(" script:")[0].strip()
    if reason.startswith(key):
        return CorruptBucket(key, reason[len(key) :].lstrip(" :"))
    return LimiterError(reason)


def _int(value: object) -> int:
    if isinstance(value, (int, bytes, str)):  # replies are integers; RESP2 bytes too
        return int(value)
    raise TypeError(f"not an integer reply: {type(value).__name__}")


def config_of(reply: Sequence[object]) -> BucketConfig:
    return BucketConfig.from_settings(
        Settings(_int(reply[MAX_TOKENS]), _int(reply[BURST]), _int(reply[REFILL_COUNT]), _int(reply[INTERVAL_US]))
    )


def decision_of(reply: bytes | str, n: int, user: str) -> Decision:
    """The `Decision` of an acquire reply ("<code> <allowed> <tokens> <wait_us> <ceiling> <now_us>")."""
    parts = reply.split()
    if len(parts) != 6:
        return _shadowed_decision(parts, n, user)
    code, allowed, tokens, wait_us, ceiling, _now = parts
    if code == b"1" or code == "1":
        raise TokensExceedCeiling(n, int(ceiling), user)
    if wait_us == b"0" or wait_us == "0":  # a grant (and most replays): no float division
        return Decision(allowed == b"1" or allowed == "1", int(tokens), 0.0, int(ceiling))
    return Decision(allowed == b"1" or allowed == "1", int(tokens), int(wait_us) / 1_000_000, int(ceiling))


def _shadowed_decision(parts: Sequence[bytes | str], n: int, user: str) -> Decision:
    """An acquire reply with a seventh number: what the bucket's shadow settings answered."""
    if len(parts) != 7:
        raise LimiterError(f"token_bucket: unexpected acquire reply with {len(parts)} fields")
    code, allowed, tokens, wait_us, ceiling, _now, shadow = parts
    if code == b"1" or code == "1":
        raise TokensExceedCeiling(n, int(ceiling), user)
    return Decision(allowed == b"1" or allowed == "1", int(tokens), int(wait_us) / 1_000_000, int(ceiling),
                    None, shadow == b"1" or shadow == "1")


def _text(raw: object) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def shadow_of(raw: object) -> ShadowState | None:
    """The ``shadow`` reply field ("" or "<max_tokens> <burst> <refill_count> <interval_us> <tokens> <anchor_us> <granted> <denied>")."""
    text = _text(raw)
    if not text:
        return None
    max_tokens, burst, count, interval_us, tokens, anchor_us, granted, denied = map(int, text.split())
    return ShadowState(tokens, BucketConfig.from_settings(Settings(max_tokens, burst, count, interval_us)), granted, denied, anchor_us)


def other_default_of(raw: object) -> BucketConfig | None:
    """The ``other_default`` reply field ("<max_tokens> <burst> <refill_count> <interval_us>" or "")."""
    text = _text(raw)
    if not text:
        return None
    return BucketConfig.from_settings(Settings(*map(int, text.split())))


def state_of(reply: Sequence[object] | None, user: str) -> BucketState | None:
    if reply is None:
        return None
    return BucketState(
        user=user,
        tokens=_int(reply[TOKENS]),
        config=config_of(reply),
        granted=_int(reply[GRANTED]),
        denied=_int(reply[DENIED]),
        overridden=bool(_int(reply[OPERATOR])),
        now_us=_int(reply[NOW_US]),
        anchor_us=_int(reply[ANCHOR_US]),
        default_changes=_int(reply[DEFAULT_CHANGES]),
        other_default=other_default_of(reply[OTHER_DEFAULT]),
        shadow=shadow_of(reply[SHADOW]) if len(reply) > SHADOW else None,
    )


def fallback_decision(on_error: OnError, default: BucketConfig) -> Decision:
    """The answer ``on_error`` gives when Redis cannot be reached."""
    if on_error == "allow":
        return Decision(True, -1, 0.0, default.ceiling, fail_mode="allow")
    # Deny with a retry hint of one tick, so callers that sleep retry_after don't spin.
    return Decision(False, 0, default.refill_interval, default.ceiling, fail_mode="deny")


def check_on_error(on_error: str) -> OnError:
    if on_error not in ON_ERROR_CHOICES:
        raise ValueError(f"on_error must be one of {', '.join(ON_ERROR_CHOICES)} (got {on_error!r})")
    return on_error  # type: ignore[return-value]
