"""Text tbdash did not write — user ids, key names, audit fields — made safe to show.

User ids come from production traffic, so they are attacker-controlled. Before
any of it reaches a terminal, a log, a CSV or a JSON document, every character
that could act instead of being read is replaced by a visible escape:

* ``\\xNN`` for one byte: an ASCII control character (C0, ESC, DEL), or a
  byte that is not valid UTF-8 (ids are decoded with ``surrogateescape``);
* ``\\uNNNN`` / ``\\UNNNNNNNN`` for one code point: C1 controls, bidi
  overrides and isolates, zero-width and other invisible format characters,
  line and paragraph separators, spaces other than the ASCII space, and the
  other code points Unicode says to render invisibly (Default_Ignorable: the
  Hangul fillers, variation selectors, the combining grapheme joiner), which
  would let two different ids look the same.

Everything else (letters of any script, punctuation, emoji) is shown as it is.
Rich markup is not this module's concern: the screens build `rich.text.Text`
objects, never markup strings, and pass ``markup=False`` to notifications.

`json_fields` gives a JSON document the exact id too, reversibly: a valid
UTF-8 id as itself, an id that is not valid UTF-8 as its escaped form plus its
bytes in base64.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from functools import lru_cache

# Categories shown escaped: Cc control, Cf format (bidi, zero-width, BOM, soft
# hyphen...), Cs surrogates (undecodable bytes), Zl/Zp separators, Zs spaces
# (but the ASCII space), Co private use and Cn unassigned (no agreed glyph).
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Zs", "Co", "Cn"})
# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties) outside those categories:
# letters and marks that terminals draw as nothing, or that change how the character before looks.
_INVISIBLE_RANGES = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul choseong / jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian free variation selectors
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xE0100, 0xE01EF),  # variation selectors supplement
)
_INVISIBLE = frozenset(chr(code) for first, last in _INVISIBLE_RANGES for code in range(first, last + 1))
# A quick pre-check: plain printable ASCII needs no work (the common case).
_PLAIN_ASCII = re.compile(r"[ -~]*")


def _needs_escape(char: str) -> bool:
    return char != " " and (unicodedata.category(char) in _ESCAPED_CATEGORIES or char in _INVISIBLE)


def escape_char(char: str) -> str:
    """The visible escape of one character (see the module docstring)."""
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the byte that was not valid UTF-8
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x80:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


# Only short texts are cached: ids are attacker-chosen, and 65,536 ids of 10 KB each must not
# stay in memory for the life of a dashboard.
_CACHED_LENGTH = 256


def shown(text: str) -> str:
    """``text`` with every character that could act on a terminal replaced by a visible escape."""
    if _PLAIN_ASCII.fullmatch(text):
        return text
    return _shown_cached(text) if len(text) <= _CACHED_LENGTH else _escaped(text)


def _escaped(text: str) -> str:
    return "".join(escape_char(c) if _needs_escape(c) else c for c in text)


_shown_cached = lru_cache(maxsize=65_536)(_escaped)


def pieces(text: str) -> list[tuple[str, bool]]:
    """``text`` cut into runs of (text, is_escape), so a screen can style the escapes apart."""
    if _PLAIN_ASCII.fullmatch(text):
        return [(text, False)] if text else []
    out: list[tuple[str, bool]] = []
    plain: list[str] = []
    for char in text:
        if _needs_escape(char):
            if plain:
                out.append(("".join(plain), False))
                plain = []
            out.append((escape_char(char), True))
        else:
            plain.append(char)
    if plain:
        out.append(("".join(plain), False))
    return out


def is_utf8(text: str) -> bool:
    """False when ``text`` carries bytes that were not valid UTF-8 (decoded with ``surrogateescape``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def raw_bytes(text: str) -> bytes:
    """The exact bytes of an id decoded with ``surrogateescape``."""
    return text.encode("utf-8", "surrogateescape")


def json_fields(name: str, text: str) -> dict[str, str]:
    """JSON fields for an untrusted string: ``{name: text}``, exact and valid UTF-8.

    An id that is not valid UTF-8 cannot be a JSON string; it becomes
    ``{name: <escaped form>, name + "_base64": <its exact bytes>}``, so a
    reader can tell it apart and get the original back.
    """
    if is_utf8(text):
        return {name: text}
    return {name: shown(text), f"{name}_base64": base64.b64encode(raw_bytes(text)).decode("ascii")}
