"""A raw RESP exchange on one pooled connection: the poller's fast path.

redis-py's pure-Python pipeline costs tens of microseconds per command to pack
and parse, far too slow for 100,000 buckets a second. Here a whole batch is
packed with one ``%`` per key, written at once, and read back as one buffer;
the caller parses it (`parse` for anything, a regex for the common reply).

Only plain ``redis.asyncio.Redis`` clients (standalone and Sentinel-managed
primaries) of a redis-py version whose connection internals this module was
checked against qualify (`supports`): the connection comes from their own
pool, already connected, authenticated and TLS-wrapped. Anything else
(Cluster, another redis-py) takes the ordinary pipeline path.

Where the replies end: a trailing ``PING <random nonce>``, whose reply is the
nonce, marks the end without parsing the batch. PING is the one command every
tbdash user needs anyway (the poll measures its latency with it; the README's
ACL recipes grant it). Should the server refuse or fail that PING (an ACL
without it, ``BUSY``, ``LOADING``...), its reply is an error instead of the
nonce; so whenever a read ends on an error line the replies are counted
exactly (`ReplyCounter`), and a complete batch is returned at once: an error
reply never turns into a wait for the socket timeout. A connection-level
refusal among the replies (``NOPERM``, ``NOAUTH``) is raised as redis-py's own
exception, never passed off as data.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Callable

from redis import exceptions as rexc


class Incomplete(Exception):
    """The buffer ends inside a reply."""


class ProtocolError(Exception):
    """The server sent something that is not RESP."""


def pack(*args: bytes | str | int) -> bytes:
    """One command in RESP (an array of bulk strings)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def parse(buf: bytes, pos: int) -> tuple[Any, int]:
    """One reply starting at ``pos``: (value, position after it). RESP2 and RESP3.

    Errors come back as `redis.exceptions.ResponseError` values (not raised), like
    ``pipeline.execute(raise_on_error=False)``. Nulls are None, maps are dicts.
    """
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise Incomplete
    kind, line, after = buf[pos : pos + 1], buf[pos + 1 : end], end + 2
    if kind == b"$" or kind == b"=" or kind == b"!":
        size = int(line)
        if size < 0:
            return None, after
        if len(buf) < after + size + 2:
            raise Incomplete
        data = buf[after : after + size]
        if kind == b"!":
            return rexc.ResponseError(data.decode("utf-8", "replace")), after + size + 2
        return (data[4:] if kind == b"=" else data), after + size + 2
    if kind == b":" or kind == b"(":
        return int(line), after
    if kind == b"+":
        return line, after
    if kind == b"-":
        return rexc.ResponseError(line.decode("utf-8", "replace")), after
    if kind == b"_":
        return None, after
    if kind == b"#":
        return line == b"t", after
    if kind == b",":
        return float(line), after
    if kind in (b"*", b"~", b">"):
        count = int(line)
        if count < 0:
            return None, after
        items = []
        for _ in range(count):
            item, after = parse(buf, after)
            items.append(item)
        return items, after
    if kind == b"%":
        out = {}
        for _ in range(int(line)):
            key, after = parse(buf, after)
            out[key], after = parse(buf, after)
        return out, after
    raise ProtocolError(f"unexpected RESP type byte {kind!r}")


# redis-py versions whose asyncio `Connection` keeps its stream in ``_reader``
# (checked against 7.4 ... 8.1): any other version takes the pipeline path.
_RAW_REDIS_PY = ((7, 4), (9, 0))


def _redis_py_version() -> tuple[int, int]:
    import redis

    try:
        major, minor = (int(part) for part in redis.__version__.split(".")[:2])
    except (AttributeError, ValueError):
        return (0, 0)
    return major, minor


def supports(client: Any) -> bool:
    """Whether ``client`` is a plain asyncio client whose pool this module can borrow from."""
    try:
        from redis.asyncio import Redis
    except ImportError:  # pragma: no cover
        return False
    low, high = _RAW_REDIS_PY
    if not low <= _redis_py_version() < high:
        return False
    pool = getattr(client, "connection_pool", None)
    return (
        type(client) is Redis
        and pool is not None
        and getattr(client, "single_connection_client", False) is False
        and hasattr(pool, "get_connection")
    )


# --------------------------------------------------------------------------- counting replies


class ReplyCounter:
    """Counts complete RESP replies (RESP2 and RESP3) in a growing buffer, exactly, without building them.

    Feed it the whole buffer each time (it resumes where it stopped); every
    length prefix is honoured, so no byte inside a bulk string (a hostile key
    or value) can be taken for a reply boundary. Top-level error replies are
    remembered by their start offset.
    """

    __slots__ = ("pos", "_stack", "errors", "starts")

    def __init__(self, expected: int) -> None:
        self.pos = 0
        self._stack = [expected] if expected > 0 else []  # items still to skip, per nesting level
        self.errors: list[int] = []
        self.starts = 0  # start offset of the last complete top-level reply

    @property
    def done(self) -> bool:
        return not self._stack

    @property
    def left(self) -> int:
        """Top-level replies still missing (counting the one in progress)."""
        return self._stack[0] if self._stack else 0

    def feed(self, buf: bytes) -> bool:
        """Skip every complete item from where the last call stopped; True when all replies are in."""
        stack = self._stack
        if not stack:
            return True
        find, size, pos = buf.find, len(buf), self.pos
        left = stack.pop()
        try:
            while True:
                if left == 0:
                    if not stack:
                        return True
                    left = stack.pop()
                    continue
                end = find(b"\r\n", pos)
                if end < 0:
                    break
                kind = buf[pos]
                top = not stack
                if kind == 36 or kind == 61 or kind == 33:  # $ bulk, = verbatim, ! blob error
                    length = int(buf[pos + 1 : end])
                    after = end + 4 + length if length >= 0 else end + 2
                    if after > size:
                        break
                    if top:
                        self.starts = pos
                        if kind == 33:
                            self.errors.append(pos)
                    pos = after
                    left -= 1
                elif kind == 42 or kind == 126 or kind == 62 or kind == 37 or kind == 124:  # * ~ > % |
                    count = int(buf[pos + 1 : end])
                    if top:
                        self.starts = pos
                    pos = end + 2
                    if kind != 124:  # an attribute map is not a reply: the reply follows it
                        left -= 1
                    if count > 0:
                        stack.append(left)
                        left = count * 2 if kind == 37 or kind == 124 else count
                elif kind in _SIMPLE:
                    if top:
                        self.starts = pos
                        if kind == 45:
                            self.errors.append(pos)
                    pos = end + 2
                    left -= 1
                else:
                    raise ProtocolError(f"unexpected RESP type byte {bytes([kind])!r}")
        except ValueError:
            raise ProtocolError("a RESP length is not a number") from None
        finally:
            if left or stack:
                stack.append(left)
            self.pos = pos
        return False


_SIMPLE = frozenset(b"+-:_#,(")


def count_commands(payload: bytes) -> int:
    """How many commands a packed ``payload`` holds (it is RESP too: arrays of bulk strings)."""
    counter = ReplyCounter(len(payload))  # more than it can hold: it stops at the end
    counter.feed(payload)
    if counter.pos != len(payload):
        raise ValueError("the payload ends inside a command")
    return len(payload) - counter.left


# Error replies that are about the server or the user, not about one key: raised,
# like redis-py raises them for a normal command, instead of passed off as data.
_RAISED_PREFIXES = (b"NOPERM", b"NOAUTH", b"WRONGPASS", b"BUSY ", b"LOADING", b"MASTERDOWN")


def _refusal(buf: bytes, counter: ReplyCounter | None, replies: Callable[[], int]) -> Exception | None:
    """The first top-level error reply of ``buf`` that is about the server or user, or None."""
    if not any(buf.startswith(b"-" + p) or b"\r\n-" + p in buf for p in _RAISED_PREFIXES):
        return None  # the common case: a few scans in C, no counting
    if counter is None or not counter.done:
        counter = ReplyCounter(replies())
        counter.feed(buf)
    for start in counter.errors:
        if buf.startswith(_RAISED_PREFIXES, start + 1):
            return error_of(parse(buf, start)[0])
    return None


def error_of(reply: rexc.ResponseError) -> Exception:
    """redis-py's own exception for an error reply (NoPermissionError for NOPERM, ...), worded as redis-py words it."""
    text = str(reply)
    code, _, rest = text.partition(" ")
    classes: dict[str, type[Exception]] = {
        "NOPERM": rexc.NoPermissionError,
        "NOAUTH": rexc.AuthenticationError,
        "WRONGPASS": rexc.AuthenticationError,
        "LOADING": rexc.BusyLoadingError,
    }
    if code in classes:
        return classes[code](rest)  # redis-py drops the code from the message too
    return reply


# --------------------------------------------------------------------------- the exchange


def _stream_reader(conn: Any) -> asyncio.StreamReader:
    reader = getattr(conn, "_reader", None)
    if not isinstance(reader, asyncio.StreamReader):  # `supports` gates the versions: a bug, not an outage
        raise RuntimeError("the raw RESP exchange does not know this redis-py connection (no stream reader)")
    return reader


async def exchange(client: Any, payload: bytes, *, replies: int | None = None) -> bytes:
    """Send ``payload`` (``replies`` packed commands; counted if not given) and return the raw bytes of their replies.

    Raises redis-py's ConnectionError/TimeoutError like a normal command does,
    and its NoPermissionError / AuthenticationError / BusyLoadingError when the
    server refused the batch (see the module docstring). A connection left
    mid-reply (error or cancellation) is closed, never reused.
    """
    def commands() -> int:
        return count_commands(payload) if replies is None else replies

    nonce = os.urandom(16).hex().encode()
    terminator = b"$%d\r\n%s\r\n" % (len(nonce), nonce)
    pool = client.connection_pool
    conn = await pool.get_connection()
    clean = False
    try:
        reader = _stream_reader(conn)
        await conn.send_packed_command(payload + pack(b"PING", nonce), check_health=False)
        timeout = conn.socket_timeout
        chunks: list[bytes] = []
        tail = b""
        counter: ReplyCounter | None = None
        while True:
            try:
                if timeout:
                    chunk = await asyncio.wait_for(reader.read(1 << 20), timeout)
                else:
                    chunk = await reader.read(1 << 20)
            except asyncio.TimeoutError:
                raise rexc.TimeoutError("Timeout reading from socket") from None
            except OSError as exc:
                raise rexc.ConnectionError(f"Error while reading from socket: {exc}") from exc
            if not chunk:
                raise rexc.ConnectionError("Connection closed by server.")
            chunks.append(chunk)
            # The terminator (or an error line) may straddle two reads: look at the joined tail.
            tail = (tail + chunk)[-_TAIL:]
            if tail.endswith(terminator):
                data = b"".join(chunks)
                body = data[: len(data) - len(terminator)]
                break
            if tail.endswith(b"\r\n") and _last_line_may_be_error(tail):
                # Perhaps the PING itself was refused: count the replies to know.
                data = b"".join(chunks)
                chunks = [data]
                if counter is None:
                    counter = ReplyCounter(commands() + 1)
                if counter.feed(data):
                    if counter.pos != len(data):
                        raise ProtocolError("more replies than commands")
                    clean = True  # every reply was read: the connection can be reused
                    raise _refusal(data, counter, commands) or error_of(parse(data, counter.starts)[0])
        clean = True
        refused = _refusal(body, None, commands)
        if refused is not None:
            raise refused
        return body
    finally:
        if not clean:
            await conn.disconnect()
        await pool.release(conn)


_TAIL = 512  # bytes of the stream kept to find the terminator and the last line


def _last_line_may_be_error(tail: bytes) -> bool:
    start = tail.rfind(b"\r\n", 0, len(tail) - 2)
    if start < 0:
        return len(tail) == _TAIL or tail[:1] == b"-"  # a line longer than the tail: cannot tell, so count
    return tail[start + 2 : start + 3] == b"-"
