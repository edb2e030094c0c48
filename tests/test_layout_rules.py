"""Issue 13 §3 and §5: the bucket hash's fields, the key layout and redaction each written once in Python."""

from __future__ import annotations

import re
from pathlib import Path

from dashboard.core import discovery, poller
from dashboard.tui import format as fmt
from limiter import keys, layout, redaction
from limiter.connect import redact

LUA = (Path(layout.__file__).parent / "lua" / "token_bucket.lua").read_text()


def test_every_field_the_poller_reads_is_one_the_script_writes() -> None:
    quoted = set(re.findall(r"'([a-z_]+)'", LUA))
    assert set(layout.BUCKET_FIELDS) <= quoted, set(layout.BUCKET_FIELDS) - quoted
    assert poller.FIELDS == layout.BUCKET_FIELDS  # the poller asks for the layout's fields, in its order


def test_discovery_follows_the_key_layout() -> None:
    prefix = "tb"
    user = "al{ic}e"
    key = keys.bucket_key(prefix, user)
    found = discovery.classify(prefix, [key, key.encode(), keys.audit_key(prefix), f"{keys.namespace(prefix)}stray"])
    assert found.users == [user, user]
    assert [k.key for k in found.invalid] == ["tb:stray"]
    assert keys.user_of(prefix, key) == user


def test_redaction_is_one_module() -> None:
    assert redact is redaction.redact_url
    assert fmt.redact is redaction.redact_message
    assert redaction.scrub("pw is hunter2", ["hunter2"]) == f"pw is {redaction.MASK}"
    assert "s3cret" not in redaction.redact_message("redis://u:s3cret@h:1/0 and password=s3cret")
