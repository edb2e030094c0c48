"""Rows out: the JSON and CSV of buckets, for ``tbdash status --json/--csv`` and the dashboard's exports.

One record per bucket (`bucket_json`); CSV has the same columns, a nested
object flattened to ``name.field`` columns (`CSV_COLUMNS`, checked against
the JSON by a test). The dashboard's exports add what only it knows (`Extras`):
each bucket's grants and denials over 1 min, 5 min and 1 h (``window_1m`` …,
with the span they cover and whether it is partial) and the thresholds it
crosses (``alert``); ``tbdash status`` reads one snapshot, which has neither.

Foreign text (user ids, key names) is hostile:

* JSON is pure ASCII; a user id that is valid UTF-8 is given exactly (JSON
  escapes its control characters), one that is not as its escaped form plus
  ``user_base64`` (its exact bytes).
* CSV carries no raw control, bidi or invisible character: ``user`` is the
  escaped form (`dashboard.core.untrusted.shown`), and ``user_base64`` holds
  the exact bytes whenever that form differs from the id (empty otherwise).
  Spreadsheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a
  formula, so such a text cell gets a leading ``'`` (strip it before decoding
  ``user_base64``). Numbers are written as numbers.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
from datetime import datetime
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence, TextIO

from dashboard.core.protocol import BucketRow, InvalidKey, ShadowRow
from dashboard.core.thresholds import Firing
from dashboard.core.windows import WINDOWS, WindowCount
from dashboard.core.untrusted import json_fields, raw_bytes, shown
from limiter.config import BucketConfig

SETTINGS_FIELDS = ("max_tokens", "burst", "refill_count", "refill_interval")
# Record fields that hold an object (or null): flattened to "<name>.<field>" in CSV.
SHADOW_FIELDS = ("tokens", *SETTINGS_FIELDS, "granted", "denied")
WINDOW_FIELDS = ("granted", "denied", "deny_ratio", "span_s", "partial")
WINDOW_NAMES: Mapping[float, str] = {60.0: "window_1m", 300.0: "window_5m", 3600.0: "window_1h"}
assert tuple(WINDOW_NAMES) == WINDOWS  # one record field per window the store keeps
NESTED: Mapping[str, Sequence[str]] = {"other_default": SETTINGS_FIELDS, "shadow": SHADOW_FIELDS,
                                       **{name: WINDOW_FIELDS for name in WINDOW_NAMES.values()}}
FORMULA_STARTS = ("=", "+", "-", "@")


# --------------------------------------------------------------------------- records


def settings_json(config: BucketConfig) -> dict[str, object]:
    return {field: getattr(config, field) for field in SETTINGS_FIELDS}


@dataclass(frozen=True)
class Extras:
    """What the dashboard adds to a bucket's record: its window counts and the thresholds it crosses."""

    windows: Callable[[str], Mapping[float, WindowCount]]  # user -> counts by window (seconds)
    alerts: Mapping[str, Firing]  # user -> the thresholds it crosses (absent: none)


def bucket_json(row: BucketRow, extras: Extras | None = None) -> dict[str, object]:
    """One bucket as ``status --json`` shows it; with ``extras``, as the dashboard exports it."""
    record: dict[str, object] = {
        **json_fields("user", row.user),
        "tokens": row.tokens,
        "max_tokens": row.config.max_tokens,
        "burst": row.config.burst,
        "refill_count": row.config.refill_count,
        "refill_interval": row.config.refill_interval,
        "granted": row.granted,
        "denied": row.denied,
        "overridden": row.overridden,
        "ceiling": row.config.ceiling,
        "ttl_ms": row.ttl_ms,
        # Callers (services) whose default settings differ: how often one replaced the other, and that other one.
        "default_changes": row.default_changes,
        "other_default": settings_json(row.other_default) if row.other_default is not None else None,
        "shadow": shadow_json(row.shadow),
    }
    if extras is not None:
        counts = extras.windows(row.user)
        for window_s, name in WINDOW_NAMES.items():
            record[name] = window_json(counts.get(window_s))
        firing = extras.alerts.get(row.user)
        record["alert"] = "; ".join(r.text for r in firing.reasons) if firing is not None else None  # tbdash's words
    return record


def window_json(count: WindowCount | None) -> dict[str, object] | None:
    """Grants and denials in one window; ``span_s`` is what they cover (shorter than the window: ``partial``)."""
    if count is None:
        return None
    ratio = count.deny_ratio
    return {"granted": count.granted, "denied": count.denied, "deny_ratio": None if ratio is None else round(ratio, 4),
            "span_s": round(count.span_s, 3), "partial": count.partial}


def shadow_json(shadow: ShadowRow | None) -> dict[str, object] | None:
    """A bucket's shadow settings (a preview): their bucket's tokens, the settings, what they answered."""
    if shadow is None:
        return None
    return {"tokens": shadow.tokens, **settings_json(shadow.config), "granted": shadow.granted, "denied": shadow.denied}


def invalid_json(key: InvalidKey) -> dict[str, object]:
    return {**json_fields("key", key.key), "reason": shown(key.reason)}


def json_text(value: Any) -> str:
    """JSON that is pure ASCII (every other character as a \\u escape): valid UTF-8 whatever the data."""
    return json.dumps(value, indent=2, ensure_ascii=True)


def write_json(rows: Iterable[BucketRow], out: TextIO, *, extras: Extras | None = None, **document: object) -> None:
    """``{"buckets": [...], **document}`` to ``out`` (the dashboard's export of its filtered table)."""
    out.write(json_text({"buckets": [bucket_json(r, extras) for r in rows], **document}) + "\n")


# --------------------------------------------------------------------------- CSV


def csv_columns(extras: bool = False) -> tuple[str, ...]:
    """The CSV header: `CSV_COLUMNS` for ``status --csv``, more with the dashboard's extras."""
    columns: list[str] = []
    sample = Extras(lambda user: {}, {}) if extras else None
    for name in bucket_json(_SAMPLE_ROW, sample):
        if name == "user":
            columns += ["user", "user_base64"]
        elif name in NESTED:
            columns += [f"{name}.{field}" for field in NESTED[name]]
        elif name != "user_base64":
            columns.append(name)
    return tuple(columns)


_SAMPLE_ROW = BucketRow("u", 0, BucketConfig(max_tokens=1), 0, 0, False, None)


def csv_safe(text: str) -> str:
    """A text cell: escaped (no control character), and never read as a formula by a spreadsheet."""
    text = shown(text)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _cell(value: object) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    return csv_safe(str(value))


def csv_record(row: BucketRow, extras: Extras | None = None) -> list[str | int | float]:
    """One CSV line's cells, in `csv_columns` order."""
    record = bucket_json(row, extras)
    out: dict[str, object] = {}
    for name, value in record.items():
        if name in NESTED:
            nested = value if isinstance(value, Mapping) else {}
            for field in NESTED[name]:
                out[f"{name}.{field}"] = nested.get(field)
        elif name not in ("user", "user_base64"):
            out[name] = value
    exact = shown(row.user) != row.user
    out["user"] = row.user
    out["user_base64"] = base64.b64encode(raw_bytes(row.user)).decode("ascii") if exact else None
    return [_cell(out.get(column)) for column in (CSV_COLUMNS if extras is None else EXTRA_COLUMNS)]


def write_csv(rows: Iterable[BucketRow], out: TextIO, *, extras: Extras | None = None) -> None:
    """A header and one line per bucket (RFC 4180 quoting, ``\\r\\n`` line ends, as the csv module writes)."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS if extras is None else EXTRA_COLUMNS)
    for row in rows:
        writer.writerow(csv_record(row, extras))


def csv_text(rows: Iterable[BucketRow]) -> str:
    buffer = io.StringIO(newline="")
    write_csv(rows, buffer)
    return buffer.getvalue()


CSV_COLUMNS: tuple[str, ...] = csv_columns()
EXTRA_COLUMNS: tuple[str, ...] = csv_columns(extras=True)


# --------------------------------------------------------------------------- files


def new_file(directory: str | os.PathLike[str], stem: str, suffix: str, *, when: datetime | None = None) -> Path:
    """Create and return an empty file ``<stem>-<YYYYmmdd-HHMMSS>[-N]<suffix>`` in ``directory`` that did not exist.

    Created with ``O_EXCL``, so two exports in the same second (or a file put
    there by someone else) never overwrite each other: the next free ``-N`` wins.
    ``stem`` is tbdash's own word ("tbdash-buckets"), never a user id.
    """
    if os.sep in stem or (os.altsep and os.altsep in stem) or stem in ("", ".", ".."):
        raise ValueError(f"not a file name stem: {stem!r}")
    folder = Path(directory).expanduser()
    stamp = (when or datetime.now()).strftime("%Y%m%d-%H%M%S")
    for n in range(10_000):
        path = folder / f"{stem}-{stamp}{'' if n == 0 else f'-{n}'}{suffix}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        os.close(fd)
        return path
    raise FileExistsError(f"no free file name for {stem}-{stamp}{suffix} in {folder}")


def export_to(directory: str | os.PathLike[str], stem: str, suffix: str, write: Callable[[TextIO], None]) -> Path:
    """Write one export to a new file (see `new_file`) and return its path; a failed write leaves no half file."""
    path = new_file(directory, stem, suffix)
    try:
        with path.open("w", encoding="utf-8", newline="") as out:
            write(out)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path
