"""Exports: CSV with the JSON's columns, hostile ids escaped and parsed back with the csv module, formula cells
defused; files that never overwrite one another."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import datetime
from pathlib import Path

import pytest

from dashboard.core.export import CSV_COLUMNS, EXTRA_COLUMNS, NESTED, WINDOW_FIELDS, WINDOW_NAMES, Extras, bucket_json, csv_safe, csv_text
from dashboard.core.export import export_to, new_file, write_csv, write_json
from dashboard.core.windows import WindowCount
from dashboard.core.poller import Poller
from dashboard.core.protocol import BucketRow, ShadowRow
from dashboard.core.untrusted import raw_bytes, shown
from hostile_corpus import HOSTILE_IDS, SHOWN, seed
from limiter import BucketConfig

CFG = BucketConfig(max_tokens=5, burst=1, refill_count=1, refill_interval=3600)
FORMULAS = ["=1+1", "+SUM(A1:A9)", "-2+3", "@cmd", "=HYPERLINK(\"http://evil\")"]


def csv_text_with(extras: Extras) -> str:
    buffer = io.StringIO(newline="")
    write_csv([BucketRow("u", 1, CFG, 2, 3, True, 40)], buffer, extras=extras)
    return buffer.getvalue()


def _parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_columns_are_the_json_fields_with_nested_ones_flattened() -> None:
    other = BucketConfig(max_tokens=2, burst=0, refill_count=1, refill_interval=1)
    preview = ShadowRow(tokens=1, config=other, granted=4, denied=5)
    record = bucket_json(BucketRow("u", 1, CFG, 2, 3, True, 40, default_changes=1, other_default=other, shadow=preview))
    flat = []
    for name, value in record.items():
        flat += [f"{name}.{f}" for f in value] if isinstance(value, dict) else [name]
    assert set(NESTED) - set(WINDOW_NAMES.values()) == {k for k, v in record.items() if isinstance(v, dict)}
    assert [c for c in CSV_COLUMNS if c != "user_base64"] == flat
    # The dashboard's exports: the same columns, then each window's (flattened) and the alert.
    count = WindowCount(60.0, granted=3, denied=1, span_s=42.0, partial=True)
    extras = Extras(lambda user: {60.0: count}, {})
    record = bucket_json(BucketRow("u", 1, CFG, 2, 3, True, 40), extras)
    assert record["window_1m"] == {"granted": 3, "denied": 1, "deny_ratio": 0.25, "span_s": 42.0, "partial": True}
    assert record["window_5m"] is None and record["alert"] is None
    extra = [c for c in EXTRA_COLUMNS if c not in CSV_COLUMNS]
    assert extra == [f"{w}.{f}" for w in WINDOW_NAMES.values() for f in WINDOW_FIELDS] + ["alert"]
    (line,) = _parse(csv_text_with(extras))
    assert line["window_1m.deny_ratio"] == "0.25" and line["window_1m.partial"] == "true" and line["window_5m.granted"] == ""
    (line,) = _parse(csv_text([BucketRow("u", 1, CFG, 2, 3, True, 40, default_changes=1, other_default=other, shadow=preview)]))
    assert line == {"user": "u", "user_base64": "", "tokens": "1", "max_tokens": "5", "burst": "1", "refill_count": "1",
                    "refill_interval": "3600.0", "granted": "2", "denied": "3", "overridden": "true", "ceiling": "6",
                    "ttl_ms": "40", "default_changes": "1", "other_default.max_tokens": "2", "other_default.burst": "0",
                    "other_default.refill_count": "1", "other_default.refill_interval": "1.0",
                    "shadow.tokens": "1", "shadow.max_tokens": "2", "shadow.burst": "0", "shadow.refill_count": "1",
                    "shadow.refill_interval": "1.0", "shadow.granted": "4", "shadow.denied": "5"}
    (line,) = _parse(csv_text([BucketRow("u", 1, CFG, 2, 3, False, None)]))
    assert line["ttl_ms"] == "" and line["other_default.max_tokens"] == "" and line["shadow.tokens"] == ""


async def test_csv_of_hostile_ids_from_redis_is_escaped_and_gives_the_exact_bytes_back(redis_client, async_redis_client) -> None:
    seed(redis_client)
    for user in FORMULAS:
        redis_client.hset(f"token_bucket:{{{user}}}", mapping={"tokens": 1, "anchor_us": 0, "max_tokens": 5, "burst": 0,
                                                               "refill_count": 1, "interval_us": 10**9, "operator": 0})
    snapshot = await Poller(async_redis_client, "token_bucket").poll()
    text = csv_text(snapshot.buckets)
    assert all(ch == "\n" or ch == "\r" or ch.isprintable() for ch in text), "no raw control character in the document"
    assert "\r\n" in text and text.count("\n") == text.count("\r\n") == len(snapshot.buckets) + 1  # one line per bucket
    lines = {line["user"]: line for line in _parse(text)}
    for name, user in HOSTILE_IDS.items():
        line = lines[csv_safe(user)]
        assert line["user"] == SHOWN[name]
        if SHOWN[name] == user:  # nothing escaped (Rich markup is plain text in a CSV): the cell is the id
            assert line["user_base64"] == ""
        else:  # escaped: the exact bytes beside it
            assert base64.b64decode(line["user_base64"].removeprefix("'")) == raw_bytes(user)
    for user in FORMULAS:
        line = lines["'" + user]  # never a formula in a spreadsheet
        assert line["user_base64"] == ""
    assert lines["alice"]["user_base64"] == "" and lines["alice"]["granted"] == "1"


def test_formula_guard_covers_every_text_cell_and_leaves_numbers_alone() -> None:
    assert [csv_safe(t) for t in ("=x", "+x", "-x", "@x", "x=y", "", "\x1b=")] == ["'=x", "'+x", "'-x", "'@x", "x=y", "", "\\x1b="]
    # A base64 cell can start with "+": guarded too.
    user = "\xfb\xef\xbe" + "\x00"
    encoded = base64.b64encode(raw_bytes(user)).decode()
    (line,) = _parse(csv_text([BucketRow(user, 0, CFG, 0, 0, False, None)]))
    assert line["user"] == shown(user)
    assert line["user_base64"] in (encoded, "'" + encoded)
    assert not line["user_base64"].startswith(("=", "+", "-", "@"))


def test_json_writer_is_ascii_and_round_trips(tmp_path: Path) -> None:
    rows = [BucketRow(u, 0, CFG, 0, 0, False, None) for u in HOSTILE_IDS.values()]
    out = io.StringIO()
    write_json(rows, out, prefix="token_bucket")
    text = out.getvalue()
    assert text.isascii()
    data = json.loads(text)
    assert data["prefix"] == "token_bucket"
    users = [b["user"] if "user_base64" not in b else base64.b64decode(b["user_base64"]).decode("utf-8", "surrogateescape")
             for b in data["buckets"]]
    assert users == list(HOSTILE_IDS.values())


def test_new_files_never_overwrite(tmp_path: Path) -> None:
    when = datetime(2026, 12, 1, 9, 30, 5)
    taken = tmp_path / "tbdash-buckets-20261201-093005.csv"
    taken.write_text("someone else's")
    first = new_file(tmp_path, "tbdash-buckets", ".csv", when=when)
    second = new_file(tmp_path, "tbdash-buckets", ".csv", when=when)
    assert (first.name, second.name) == ("tbdash-buckets-20261201-093005-1.csv", "tbdash-buckets-20261201-093005-2.csv")
    assert taken.read_text() == "someone else's"
    for stem in ("../x", "a/b", "", ".."):
        with pytest.raises(ValueError):
            new_file(tmp_path, stem, ".csv")


def test_export_to_writes_the_file_and_removes_it_when_the_write_fails(tmp_path: Path) -> None:
    rows = [BucketRow("alice", 1, CFG, 2, 3, False, None)]
    path = export_to(tmp_path, "tbdash-buckets", ".csv", lambda out: out.write(csv_text(rows)))
    assert path.parent == tmp_path and _parse(path.read_bytes().decode())[0]["user"] == "alice"

    def broken(out: object) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError):
        export_to(tmp_path, "tbdash-broken", ".csv", broken)
    assert not list(tmp_path.glob("tbdash-broken*"))
