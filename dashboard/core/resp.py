"""A raw RESP exchange on one pooled connection: the poller's fast path.

redis-py's pure-Python pipeline costs tens of microseconds per command to pack
and parse, far too slow for 100,000 buckets a second. Here a whole batch is
packed with one ``%`` per key, written at once, and read back as one buffer;
the caller parses it (`parse` for anything, a regex for the common reply).

Only plain ``redis.asyncio.Redis`` clients (standalone and Sentinel-managed
primaries) qualify: the connection comes from their own pool, already
connected, authenticated and TLS-wrapped. Anything else (Cluster) takes the
ordinary pipeline path. The end of the replies is found by a trailing
``ECHO <random nonce>``, so no reply has to be parsed while reading.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

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


def supports(client: Any) -> bool:
    """Whether ``client`` is a plain asyncio client whose pool this module can borrow from."""
    try:
        from redis.asyncio import Redis
    except ImportError:  # pragma: no cover
        return False
    pool = getattr(client, "connection_pool", None)
    return (
        type(client) is Redis
        and pool is not None
        and getattr(client, "single_connection_client", False) is False
        and hasattr(pool, "get_connection")
    )


async def exchange(client: Any, payload: bytes) -> bytes:
    """Send ``payload`` (packed commands) and return the raw bytes of all their replies.

    Raises redis-py's ConnectionError/TimeoutError like a normal command does.
    A connection left mid-reply (error or cancellation) is closed, never reused.
    """
    nonce = os.urandom(16).hex().encode()
    terminator = b"$%d\r\n%s\r\n" % (len(nonce), nonce)
    pool = client.connection_pool
    conn = await pool.get_connection()
    clean = False
    try:
        reader = getattr(conn, "_reader", None)
        if reader is None:  # a redis-py version without a stream reader: be loud, not wrong
            raise rexc.ConnectionError("raw exchange is not available on this connection")
        await conn.send_packed_command(payload + pack(b"ECHO", nonce), check_health=False)
        timeout = conn.socket_timeout
        chunks: list[bytes] = []
        tail = b""
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
            # The terminator may straddle two reads: look at the joined tail.
            tail = (tail + chunk)[-len(terminator) :]
            if tail == terminator:
                break
        clean = True
        data = b"".join(chunks)
        return data[: len(data) - len(terminator)]
    finally:
        if not clean:
            await conn.disconnect()
        await pool.release(conn)
