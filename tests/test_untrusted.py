"""The one rule for showing text tbdash did not write (dashboard/core/untrusted.py)."""

from __future__ import annotations

import base64
import json

import pytest

from dashboard.core.untrusted import json_fields, pieces, shown

HOSTILE = {
    "ansi sgr": ("\x1b[31mredu\x1b[0m", "\\x1b[31mredu\\x1b[0m"),
    "osc title": ("\x1b]0;PWNED\x07x", "\\x1b]0;PWNED\\x07x"),
    "osc 52": ("\x1b]52;c;ZXZpbA==\x07", "\\x1b]52;c;ZXZpbA==\\x07"),
    "bidi override": ("abc\u202edcba", "abc\\u202edcba"),
    "bidi isolate": ("a\u2066b\u2069", "a\\u2066b\\u2069"),
    "zero width": ("ad\u200bmin", "ad\\u200bmin"),
    "nul": ("a\x00b", "a\\x00b"),
    "newline": ("a\nb\r", "a\\x0ab\\x0d"),
    "del": ("a\x7f", "a\\x7f"),
    "c1 csi": ("a\x9b31m", "a\\u009b31m"),
    "line separator": ("a\u2028b", "a\\u2028b"),
    "no-break space": ("alice\u00a0", "alice\\u00a0"),
    "non-utf-8 byte": (b"bad\xff\xfe".decode("utf-8", "surrogateescape"), "bad\\xff\\xfe"),
    "rich markup": ("[bold red]x[/]", "[bold red]x[/]"),  # shown literally by Text, not escaped here
    # Default_Ignorable letters and marks: drawn as nothing, so "admin" and "admin" + one of them look alike.
    "hangul filler": ("adm\u3164in", "adm\\u3164in"),
    "choseong filler": ("\u115f", "\\u115f"),
    "variation selector": ("admin\ufe0f", "admin\\ufe0f"),
    "combining grapheme joiner": ("a\u034fb", "a\\u034fb"),
    "variation selector supplement": ("a\U000e0100", "a\\U000e0100"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_text_is_shown_escaped(name: str) -> None:
    raw, expected = HOSTILE[name]
    assert shown(raw) == expected
    assert shown(raw).isprintable()
    assert "".join(text for text, _ in pieces(raw)) == expected


def test_ordinary_text_is_left_alone() -> None:
    for text in ("user_123", "josé", "用户", "a b", "🙂", "a:b{c}", ""):
        assert shown(text) == text


def test_pieces_mark_the_escapes() -> None:
    assert pieces("a\x1bb") == [("a", False), ("\\x1b", True), ("b", False)]


def test_json_fields_keep_utf8_ids_exact_and_non_utf8_ids_reversible() -> None:
    assert json_fields("user", "a\x1bb") == {"user": "a\x1bb"}
    raw = b"bad\xff"
    fields = json_fields("user", raw.decode("utf-8", "surrogateescape"))
    assert fields["user"] == "bad\\xff"
    assert base64.b64decode(fields["user_base64"]) == raw
    json.dumps(fields, ensure_ascii=False).encode("utf-8")  # valid UTF-8: no lone surrogates


def test_ordinary_combining_marks_are_kept() -> None:
    # A decomposed accent is a real character of the id, drawn in its cell: not an escape.
    assert shown("jose\u0301") == "jose\u0301"


def test_long_ids_are_escaped_the_same_way_and_not_kept() -> None:
    long_id = "\x1b]0;PWNED\x07" * 2000
    assert shown(long_id) == "\\x1b]0;PWNED\\x07" * 2000
    assert "".join(text for text, _ in pieces(long_id)) == shown(long_id)
