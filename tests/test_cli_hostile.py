"""Hostile ids through every CLI output, asserted on the BYTES the real command writes.

User ids come from production traffic. The corpus goes into a real Redis as
bucket keys, invalid keys and audit entries; `tbdash` runs as a subprocess
with a strict UTF-8 stdout (PYTHONIOENCODING=utf-8:strict). What comes out
must be valid UTF-8 with no control, C1, bidi or zero-width character taken
from the data, the escaped forms visible, and JSON that gives back the exact
ids (``user_base64`` for an id that is not UTF-8).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest

from dashboard.core.untrusted import shown
from limiter import BucketConfig, RedisLimiter

HOSTILE: list[bytes] = [
    b"\x1b[31mredu\x1b[0m",  # ANSI SGR
    b"\x1b]0;PWNED\x07x",  # OSC title
    b"\x1b]52;c;ZXZpbA==\x07",  # OSC 52 clipboard
    "abc\u202edcba".encode(),  # bidi override
    "\u2066isolated\u2069".encode(),  # bidi isolate
    "zero\u200bwidth".encode(),  # zero-width space
    b"nul\x00byte",
    b"new\nline",
    b"[bold red]markup[/]",  # Rich markup
    "\u009b31mC1".encode(),  # C1 CSI
    b"\xff\xfe-not-utf8",  # not UTF-8
    b"bad\xc3(",  # a broken UTF-8 sequence
]
FORBIDDEN = [b"\x1b", b"\x00", b"\x07", "\u202e".encode(), "\u2066".encode(), "\u2069".encode(), "\u200b".encode()] + [
    chr(c).encode() for c in range(0x80, 0xA0)
]
SLOW = BucketConfig(max_tokens=10, burst=5, refill_count=1, refill_interval=3600)


def text_of(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


@pytest.fixture
def hostile_redis(redis_client, redis_url: str) -> str:
    limiter = RedisLimiter(redis_client, default=SLOW)
    limiter.try_acquire("template")
    fields = redis_client.hgetall(limiter.key("template"))
    redis_client.delete(limiter.key("template"))
    for raw in HOSTILE:
        redis_client.hset(b"token_bucket:{" + raw + b"}", mapping=fields)  # a real bucket under a hostile id
        redis_client.set(b"token_bucket:" + raw, b"x")  # and a foreign key named after it
        old = json.dumps({"max_tokens": 10, "note": text_of(raw)}, ensure_ascii=False).encode("utf-8", "surrogateescape")
        redis_client.xadd("token_bucket:audit", {b"who": raw, b"action": raw, b"user": raw, b"old": old, b"new": b""})
    return redis_url


def tbdash(*argv: str | bytes) -> tuple[int, bytes, bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TBDASH_")}
    env["PYTHONIOENCODING"] = "utf-8:strict"
    done = subprocess.run([sys.executable, "-m", "dashboard", *argv], capture_output=True, env=env, timeout=120)
    return done.returncode, done.stdout, done.stderr


def assert_safe(data: bytes) -> str:
    text = data.decode("utf-8")  # strict: valid UTF-8 or the test fails
    leaked = [b for b in FORBIDDEN if b in data]
    assert leaked == [], leaked
    assert "Traceback" not in text
    return text


def test_status_table_shows_every_id_escaped(hostile_redis: str) -> None:
    code, out, err = tbdash("--url", hostile_redis, "status")
    assert code == 0, err
    text = assert_safe(out + err)
    for raw in HOSTILE:
        assert shown(text_of(raw)) in text
    assert "\\x1b[31mredu\\x1b[0m" in text and "\\x1b]0;PWNED\\x07x" in text and "abc\\u202edcba" in text
    assert "new\\x0aline" in text and "nul\\x00byte" in text and "\\xff\\xfe-not-utf8" in text
    assert "[bold red]markup[/]" in text  # markup literally
    assert f"{len(HOSTILE)} invalid keys" in text


def test_status_json_round_trips_the_exact_ids(hostile_redis: str) -> None:
    """Was: exit 1 with "UnicodeEncodeError: surrogates not allowed" under a strict UTF-8 stdout."""
    code, out, err = tbdash("--url", hostile_redis, "status", "--json")
    assert code == 0, err
    assert_safe(out + err)
    assert out.isascii()
    data = json.loads(out)
    ids = [base64.b64decode(b["user_base64"]) if "user_base64" in b else b["user"].encode() for b in data["buckets"]]
    assert sorted(ids) == sorted(HOSTILE)
    for bucket in data["buckets"]:
        if "user_base64" in bucket:
            assert bucket["user"] == shown(text_of(base64.b64decode(bucket["user_base64"])))
    keys = {k["key"] for k in data["invalid"]}
    assert len(keys) == len(HOSTILE) and "token_bucket:\x1b]0;PWNED\x07x" in keys  # valid UTF-8: exact, as a JSON escape


def test_audit_text_and_json(hostile_redis: str) -> None:
    code, out, err = tbdash("--url", hostile_redis, "audit")
    assert code == 0, err
    text = assert_safe(out + err)
    assert "\\x1b]52;c;ZXZpbA==\\x07" in text and "zero\\u200bwidth" in text
    code, out, err = tbdash("--url", hostile_redis, "audit", "--json")
    assert code == 0, err
    assert_safe(out + err)
    assert out.isascii()
    entries = json.loads(out)
    ids = [base64.b64decode(e["user_base64"]) if "user_base64" in e else e["user"].encode() for e in entries]
    assert sorted(ids) == sorted(HOSTILE)


def test_set_load_and_errors_on_hostile_ids(hostile_redis: str) -> None:
    sgr = HOSTILE[0].decode()
    code, out, err = tbdash("--url", hostile_redis, "set", sgr, "--max-tokens", "3")
    assert code == 0, err
    assert "\\x1b[31mredu\\x1b[0m: configured" in assert_safe(out + err)
    code, out, err = tbdash("--url", hostile_redis, "set", sgr, "--max-tokens", "3", "--json")
    assert code == 0 and json.loads(out)["changed"] is False
    assert_safe(out + err)
    code, out, err = tbdash("--url", hostile_redis, "load", sgr, "--rate", "20", "--duration", "0.1")
    assert code == 0, err
    assert "load on \\x1b[31mredu\\x1b[0m" in assert_safe(out + err)
    code, out, err = tbdash("--url", hostile_redis, "load", sgr, "--rate", "20", "--duration", "0.1", "--json")
    assert code == 0 and json.loads(out)["user"] == sgr
    assert_safe(out + err)
    # Refusals echo the id escaped, too.
    code, out, err = tbdash("--url", hostile_redis, "set", "\x1b]0;PWNED\x07nope", "--max-tokens", "3")
    assert code == 2 and "no bucket '\\x1b]0;PWNED\\x07nope'" in assert_safe(out + err)
    code, out, err = tbdash("--url", hostile_redis, "set", b"\xff\xfe-not-utf8", "--max-tokens", "3")
    assert code == 2 and "\\xff\\xfe-not-utf8" in assert_safe(out + err)
