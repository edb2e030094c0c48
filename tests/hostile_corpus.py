"""Hostile user ids, audit entries and foreign keys, written into a real redis-server.

User ids come from production traffic, so the dashboard must show each of
these escaped (dashboard/core/untrusted.py) and never send one raw to the
terminal. `seed` writes them the way a service and another tool would: as
buckets through `RedisLimiter`, as audit entries with XADD, as keys of the
wrong type under the prefix.
"""

from __future__ import annotations

import json

import redis

from limiter import BucketConfig, RedisLimiter

PREFIX = "token_bucket"
SLOW = 3600.0  # nothing refills while a test runs
DEFAULT = BucketConfig(max_tokens=20, burst=0, refill_count=1, refill_interval=SLOW)

# name -> the raw id. Every one is a bucket key; the non-UTF-8 one is bytes on the wire.
HOSTILE_IDS: dict[str, str] = {
    "sgr": "\x1b[31mredu\x1b[0m",
    "osc-title": "\x1b]0;PWNED\x07x",
    "osc52": "\x1b]52;c;UFdORUQ=\x07clip",
    "bidi": "evil\u202egnp.exe",
    "zero-width": "ad\u200bmin",
    "nul": "nul\x00byte",
    "newline": "two\nlines",
    "c1 csi": "c1\x9b31mx",
    "markup": "[bold red]x[/]",
    "link": "[link=https://evil.example]click[/link]",
    "non-utf-8": b"bad\xff\xfe".decode("utf-8", "surrogateescape"),
}

# What the screen shows for each (the escapes styled apart, the text otherwise as it is).
SHOWN: dict[str, str] = {
    "sgr": "\\x1b[31mredu\\x1b[0m",
    "osc-title": "\\x1b]0;PWNED\\x07x",
    "osc52": "\\x1b]52;c;UFdORUQ=\\x07clip",
    "bidi": "evil\\u202egnp.exe",
    "zero-width": "ad\\u200bmin",
    "nul": "nul\\x00byte",
    "newline": "two\\x0alines",
    "c1 csi": "c1\\u009b31mx",
    "markup": "[bold red]x[/]",
    "link": "[link=https://evil.example]click[/link]",
    "non-utf-8": "bad\\xff\\xfe",
}

# Bytes that must never reach the terminal: each would act instead of being read.
FORBIDDEN: dict[str, bytes] = {
    "sgr": b"\x1b[31mredu",
    "osc title": b"\x1b]0;PWNED",
    "osc 52": b"\x1b]52;",
    "bidi override": "\u202e".encode(),
    "zero width space": "\u200b".encode(),
    "nul": b"\x00",
    "newline in an id": b"two\nlines",
    "c1 csi": "\x9b".encode(),
    "non-utf-8": b"bad\xff",
    "hyperlink from markup": b"\x1b]8;",
}

INVALID_KEY = "\x1b]0;PWNED\x07inv"  # a key of another type under the prefix, whose name is hostile
AUDIT_WHO = "\x1b]0;PWNED\x07ops@[bold]host"
AUDIT_USER = "\x1b[31mredu\x1b[0m"


def bucket_name(user: str) -> bytes:
    return f"{PREFIX}:{{{user}}}".encode("utf-8", "surrogateescape")


def seed(client: redis.Redis, *, tokens_taken: int = 3) -> RedisLimiter:
    """Every hostile id as a bucket (some tokens taken), hostile audit entries, a hostile foreign key."""
    limiter = RedisLimiter(client, prefix=PREFIX, default=DEFAULT)
    for name, user in HOSTILE_IDS.items():
        if name == "non-utf-8":
            # redis-py cannot send a str that is not UTF-8: make the bucket under a stand-in name, then rename it.
            limiter.try_acquire("stand-in", tokens_taken)
            client.rename(bucket_name("stand-in"), bucket_name(user))
        else:
            limiter.try_acquire(user, tokens_taken)
    limiter.try_acquire("alice", 1)  # one ordinary neighbour, so the cursor has somewhere to be
    client.set(bucket_name(INVALID_KEY), "not a bucket")  # another type (a string) under the prefix
    audit = f"{PREFIX}:audit"
    client.xadd(
        audit,
        {
            "who": AUDIT_WHO,
            "action": "configure",
            "user": AUDIT_USER,
            "old": json.dumps({"max_tokens": 50, "refill_interval": 1.0, "overridden": False, "note\x1b[5m": "\x1b]52;c;eA==\x07"}),
            "new": json.dumps({"max_tokens": 100, "refill_interval": 2.5, "overridden": True, "note\x1b[5m": "[link=x]y[/link]"}),
        },
    )
    client.xadd(audit, {"who": "ops@host", "action": "delete\u202e", "user": "ad\u200bmin", "old": "{not json \x1b[2J", "new": ""})
    return limiter
