"""Find the buckets: SCAN MATCH ``<prefix>:*`` COUNT 1000, never KEYS.

One scan of ``<prefix>:*`` finds both the bucket keys (``<prefix>:{user}``)
and everything else under the prefix, which is reported as `InvalidKey`
(the audit stream ``<prefix>:audit`` excepted). SCAN may return a key twice
(the guarantee is "at least once"), so keys are de-duplicated; and under an ACL
that limits key patterns SCAN still lists foreign names (redis/redis#8152), so
every name is filtered again here.

On a Cluster, redis-py's ``scan_iter`` walks one cursor per primary until all
are done (sync and asyncio clients alike), so every primary is covered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from dashboard.core import resp
from dashboard.core.protocol import InvalidKey
from limiter.keys import BUCKET_CLOSE, BUCKET_OPEN, audit_key, namespace, user_of, validate_prefix

SCAN_COUNT = 1000


@dataclass(slots=True)
class Discovery:
    """Bucket keys (raw, as Redis returned them) with their users, and the invalid names."""

    keys: list[bytes | str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    invalid: list[InvalidKey] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.keys)


def display_key(key: bytes | str) -> str:
    """A key name fit to print: undecodable bytes shown as escapes, never lost."""
    return key.decode("utf-8", "backslashreplace") if isinstance(key, bytes) else key


def classify(prefix: str, names: Sequence[bytes | str], known: dict[bytes, str] | None = None) -> Discovery:
    """Sort scanned names into buckets and invalid keys (duplicates dropped).

    Same rule as `limiter.keys.user_of`, inlined on bytes: 100,000 names must
    cost milliseconds, not a decode and two string builds each. ``known``
    (bucket key -> user, kept by the caller between polls) skips even that for
    the keys seen before; it is pruned here to the keys of this scan when it
    has grown to twice their number, so churn leaves nothing behind.
    """
    found = Discovery()
    keys, users, invalid = found.keys, found.users, found.invalid
    if known is not None and len(known) > 2 * len(names) + 1024:
        for gone in set(known).difference(names):
            del known[gone]
    lookup = known.get if known is not None else None
    head_s = namespace(prefix)
    head_b = head_s.encode()
    audit_b, audit_s = audit_key(prefix).encode(), audit_key(prefix)
    open_b, close_b = BUCKET_OPEN.encode(), BUCKET_CLOSE.encode()
    open_at = len(head_b)  # where "{" must be, in bytes
    for name in dict.fromkeys(names):  # ordered de-duplication
        if isinstance(name, bytes):
            if lookup is not None:
                user = lookup(name)
                if user is not None:
                    keys.append(name)
                    users.append(user)
                    continue
            if not name.startswith(head_b) or name == audit_b:
                continue  # a foreign name leaked by SCAN under ACL, or the audit stream
            if name[open_at : open_at + 1] == open_b and name[-1:] == close_b and len(name) > open_at + 2:
                user = name[open_at + 1 : -1].decode("utf-8", "surrogateescape")
                keys.append(name)
                users.append(user)
                if known is not None:
                    known[name] = user
                continue
        else:
            if not name.startswith(head_s) or name == audit_s:
                continue
            user = user_of(prefix, name)
            if user is not None:
                keys.append(name)
                users.append(user)
                continue
        invalid.append(InvalidKey(display_key(name), f"not a bucket key: expected {head_s}{BUCKET_OPEN}<user>{BUCKET_CLOSE}"))
    return found


async def discover(client: Any, prefix: str, *, count: int = SCAN_COUNT, known: dict[bytes, str] | None = None) -> Discovery:
    """Every key under ``prefix`` on ``client`` (standalone, Sentinel primary or Cluster; asyncio).

    ``known``: see `classify` (the poller keeps one between polls)."""
    validate_prefix(prefix)
    pattern = namespace(prefix) + "*"
    if resp.supports(client):
        names = await _scan_raw(client, pattern.encode(), count)
    else:
        names = [name async for name in client.scan_iter(match=pattern, count=count)]
    return classify(prefix, names, known)


def discover_sync(client: Any, prefix: str, *, count: int = SCAN_COUNT) -> Discovery:
    """`discover` for synchronous clients (``redis.Redis``, ``RedisCluster``)."""
    validate_prefix(prefix)
    return classify(prefix, list(client.scan_iter(match=namespace(prefix) + "*", count=count)))


async def _scan_raw(client: Any, pattern: bytes, count: int) -> list[bytes]:
    """SCAN to the end on the raw fast path; parses key lists without per-key objects."""
    names: list[bytes] = []
    cursor = b"0"
    while True:
        buf = await resp.exchange(client, resp.pack(b"SCAN", cursor, b"MATCH", pattern, b"COUNT", count))
        cursor, pos = _scan_header(buf)
        # The reply is `*2 $n cursor *k ($len key){k}`: read k length-prefixed names.
        end = buf.index(b"\r\n", pos)
        size = int(buf[pos + 1 : end])
        pos = end + 2
        for _ in range(size):
            end = buf.index(b"\r\n", pos)
            length = int(buf[pos + 1 : end])
            start = end + 2
            names.append(buf[start : start + length])
            pos = start + length + 2
        if cursor == b"0":
            return names


def _scan_header(buf: bytes) -> tuple[bytes, int]:
    """The cursor of a SCAN reply and where its key array starts; raises on an error reply."""
    if buf[:1] == b"-":
        value, _ = resp.parse(buf, 0)
        raise value
    end = buf.index(b"\r\n")  # "*2"
    cursor, pos = resp.parse(buf, end + 2)
    return cursor, pos
