"""The bucket hash's field names, written once for Python readers.

`limiter/lua/token_bucket.lua` writes these fields (it is the port: a test
holds every name here to the script); the dashboard reads them. The key
names (``<prefix>:{<user>}``, ``<prefix>:audit``) are in `limiter.keys`.
"""

from __future__ import annotations

LEVEL_FIELDS = ("tokens", "anchor_us")
SETTINGS_FIELDS = ("max_tokens", "burst", "refill_count", "interval_us")  # the settings in force
COUNTER_FIELDS = ("granted", "denied")
DISAGREEMENT_FIELDS = ("default_changes", "other_default")  # present only once callers disagreed
SHADOW_FIELDS = ("shadow",)  # present only while the bucket has shadow settings (a preview)

#: What a reader asks for, in this order: level, settings, operator flag, counters, disagreement record, shadow.
BUCKET_FIELDS: tuple[str, ...] = (
    *LEVEL_FIELDS, *SETTINGS_FIELDS, "operator", *COUNTER_FIELDS, *DISAGREEMENT_FIELDS, *SHADOW_FIELDS
)
