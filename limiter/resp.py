"""The script calls in the Redis protocol (RESP): packed once, sent as they are.

redis-py packs a command argument by argument in Python (5-7 µs for an
acquire); ``hiredis.pack_command``, when hiredis is installed (a default
dependency), does it in C (~1.5 µs). The pure-Python fallback covers the
three kinds of arguments the limiter sends: bytes, str (UTF-8, strict: a
user id that cannot be encoded is refused before anything is sent) and int.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

_hiredis_pack: Callable[[tuple[object, ...]], bytes] | None
try:
    from hiredis import pack_command as _hiredis_pack  # type: ignore[assignment]  # it packs what we send
except ImportError:  # pragma: no cover - hiredis is a dependency; this is the fallback
    _hiredis_pack = None


def _pack_python(args: Sequence[object]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int) and not isinstance(arg, bool):
            data = b"%d" % arg
        else:
            raise TypeError(f"cannot send {type(arg).__name__} to Redis: {arg!r}")
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


pack: Callable[[tuple[object, ...]], bytes] = _hiredis_pack if _hiredis_pack is not None else _pack_python  # one command -> bytes


def pack_many(commands: Iterable[tuple[object, ...]]) -> bytes:
    """Several commands in one buffer: a pipeline."""
    return b"".join(map(pack, commands))

