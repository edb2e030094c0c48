"""The dashboard's dialogs and modal screens (edit, load, audit, help, confirmations), with Pilot on real Redis.

Each test reproduces one operator defect of issue 7 §3 and failed before its fix.
What the operator sees is read from the composed terminal (`screen_text`),
screens below a see-through dialog included.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Iterator

import pytest
import redis
from textual import events
from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key
from textual.widgets import Input, Static

from dashboard.tui.screens.confirm import ConfirmModal
from dashboard.tui.screens.edit import EditBucketModal
from dashboard.tui.screens import help as help_screen
from dashboard.tui.screens.help import HelpScreen
from dashboard.tui.screens.load import LoadModal
from limiter import BucketConfig, RedisLimiter
from tui_support import DEFAULT, SLOW, dashboard, move_to, plain, poll, screen_text, settle


@pytest.fixture
def limiter(redis_client: redis.Redis) -> RedisLimiter:
    """Another client of the same Redis: a production service, with the dashboard's default."""
    return RedisLimiter(redis_client, default=DEFAULT)


@pytest.fixture
def berlin_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time in a zone that is not UTC, so a missing zone shows."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def word(text: str, value: str) -> bool:
    """``value`` appears as a whole word (``100`` is not ``1``, ``10`` or ``1000``)."""
    return re.search(rf"(?<![\w.]){re.escape(value)}(?![\w.])", text) is not None


def column(shown: str, header: str) -> str:
    """The text under ``header`` (the last column of a table), one line per screen line."""
    lines = shown.splitlines()
    top = next(i for i, line in enumerate(lines) if header in line)
    start = lines[top].index(header)
    return "\n".join(line[start:] for line in lines[top + 1 :])


def keys_at_once(app, *keys: str) -> None:
    """Keys the way the terminal driver hands them over, with no wait between them (as Pilot's press has).

    A fast typist's keys, or any keys on a loaded machine, reach the app together like this.
    """
    for key in keys:
        if len(key) == 1 and not key.isalnum():
            key = _character_to_key(key)
        try:
            char: str | None = unicodedata.lookup(_get_unicode_name_from_key(REPLACED_KEYS.get(key, key)))
        except KeyError:
            char = key if len(key) == 1 else None
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)


async def test_keys_typed_together_apply_in_their_order_in_a_form(redis_url: str, limiter: RedisLimiter) -> None:
    """Backspaces then digits, tab, backspaces then digits: the digits stay, each in its field.

    Textual ran an input's bound keys (backspace) only after they bubbled up to the app, and moved
    the focus on tab only then: the digits typed after them were in first (Textual issue #6605), and
    the keys after a tab went to the field it left. The hostile-id pty test saw this under load.
    """
    limiter.try_acquire("alice")
    async with dashboard(redis_url) as (app, pilot):
        await move_to(app, pilot, "alice")
        await pilot.press("l")
        modal = app.screen
        assert isinstance(modal, LoadModal) and app.focused is modal.query_one("#rate", Input)
        keys_at_once(app, *["backspace"] * 12, "4", "0", "tab", *["backspace"] * 12, "0", ".", "3")
        await settle(app, pilot)
        assert [modal.query_one(f"#{field}", Input).value for field in ("rate", "duration")] == ["40", "0.3"]
        keys_at_once(app, "left", "left", "backspace", "1", "end", "5")
        await settle(app, pilot)
        assert modal.query_one("#duration", Input).value == "1.35"  # moved, deleted and typed where the cursor was


# --------------------------------------------------------------------------- §3.2 a wrong value stays in view


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_a_wrong_value_stays_in_view_marked_in_the_edit_and_load_forms(redis_url: str, limiter: RedisLimiter, size: tuple[int, int]) -> None:
    limiter.try_acquire("alice")
    async with dashboard(redis_url, size=size) as (app, pilot):
        for key, field, typed, error in (("e", "max_tokens", "1x5", "must be a whole number"), ("l", "rate", "fast", "must be a number")):
            await pilot.press(key)
            await pilot.pause()
            box = app.screen.query_one(f"#{field}", Input)
            assert app.focused is box
            await pilot.press(*typed)  # the prefilled value is selected: typing replaces it
            assert box.value == typed
            assert box.content_region.height == 1  # its text row is still there (it shrank to a bare border)
            shown = screen_text(app)
            assert typed in shown and f"✗ {error}" in shown
            assert box.has_class("-wrong")
            await pilot.press("escape")
            await pilot.pause()


# --------------------------------------------------------------------------- §3.6 the audit screen


async def test_the_audit_screen_at_80x24_shows_whole_values_with_units_and_zone(redis_url: str, redis_client: redis.Redis, berlin_time: None) -> None:
    RedisLimiter(redis_client, default=BucketConfig(max_tokens=50, burst=0, refill_count=1, refill_interval=1.0)).try_acquire("alice")
    async with dashboard(redis_url, size=(80, 24)) as (app, pilot):
        await app.backend.configure("alice", BucketConfig(max_tokens=100, burst=0, refill_count=1, refill_interval=2.5))  # audited
        await pilot.press("a")
        await settle(app, pilot)
        shown = screen_text(app)
        for value in ("50", "100", "1s", "2.5s", "no", "yes"):
            assert word(shown, value), value  # 100 must not read as 1, nor 2.5s as 2
        change = " ".join(column(shown, "old → new").split())  # the change column, its wrapped lines joined
        assert "max_tokens 50 → 100" in change
        assert "refill_interval 1s → 2.5s" in change
        assert "overridden no → yes" in change
        zone = time.localtime(time.time()).tm_zone
        assert zone in ("CET", "CEST") and word(shown, zone)
        for line in shown.splitlines():
            assert len(line.rstrip()) <= 80


# --------------------------------------------------------------------------- §3.7 help opens fast


async def test_help_is_built_once_per_app_and_is_one_widget(redis_url: str, limiter: RedisLimiter) -> None:
    limiter.try_acquire("alice")
    help_screen.help_document.cache_clear()
    async with dashboard(redis_url, size=(80, 24)) as (app, pilot):
        for _ in range(3):
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            assert "Keys" in screen_text(app)
            # Textual's Markdown widget built ~150 widgets on every open (about a second each time).
            assert len(app.screen.query("*")) <= 4
            await pilot.press("escape")
            await pilot.pause()
    info = help_screen.help_document.cache_info()
    assert (info.misses, info.hits) == (1, 2)


# --------------------------------------------------------------------------- §3.8 the dialogs leave the bucket in view


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_the_edit_and_load_dialogs_leave_the_table_in_view(redis_url: str, limiter: RedisLimiter, size: tuple[int, int]) -> None:
    users = ("alice", "bob", "carol", "dave")
    for user in users:
        limiter.try_acquire(user)
    async with dashboard(redis_url, size=size) as (app, pilot):
        await move_to(app, pilot, "carol")
        for key, screen in (("e", EditBucketModal), ("l", LoadModal)):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, screen)
            lines = screen_text(app).splitlines()
            for user in users:  # every row, with its tokens, still readable
                assert any(re.search(rf"\b{user}\b.*\b9/10\b", line) for line in lines), (user, "\n".join(lines))
            await pilot.press("escape")
            await pilot.pause()


async def test_the_dialogs_follow_the_bucket_while_they_are_open(redis_url: str, redis_client: redis.Redis, limiter: RedisLimiter) -> None:
    limiter.try_acquire("alice")  # 9/10
    async with dashboard(redis_url, size=(80, 24)) as (app, pilot):
        await pilot.press("l")
        await pilot.pause()
        about = app.screen.query_one("#about", Static)
        assert "bucket 9/10 tokens" in plain(about)
        limiter.try_acquire("alice", 4)  # production traffic drains it while the form is open
        await poll(app, pilot)
        assert "bucket 5/10 tokens" in plain(about)

        # A load fired from the dialog drains it: the header shows the tokens Redis has after it.
        for field, value in (("rate", "200"), ("duration", "0.25"), ("concurrency", "2")):
            app.screen.query_one(f"#{field}", Input).value = value
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        progress = app.load_run.progress
        assert progress is not None and progress.done and progress.granted == 5
        assert limiter.peek("alice").tokens == 0
        assert "bucket 0/10 tokens" in plain(about)
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("e")
        await pilot.pause()
        about = app.screen.query_one("#about", Static)
        assert "now 0/10 tokens" in plain(about)
        limiter.configure("alice", BucketConfig(max_tokens=30, burst=0, refill_count=1, refill_interval=SLOW))  # another operator
        await poll(app, pilot)
        text = plain(about)
        assert "now 0/30 tokens" in text and "changed outside this form" in text
        assert app.screen.row.config.max_tokens == 30  # old → new compares with the settings in force


async def test_a_load_from_the_dialog_keeps_the_services_own_settings(redis_url: str, redis_client: redis.Redis) -> None:
    own = BucketConfig(max_tokens=40, burst=0, refill_count=1, refill_interval=SLOW)  # not the dashboard's default
    RedisLimiter(redis_client, default=own).try_acquire("svc")
    async with dashboard(redis_url, size=(80, 24)) as (app, pilot):
        await pilot.press("l")
        await pilot.pause()
        for field, value in (("rate", "100"), ("duration", "0.2")):
            app.screen.query_one(f"#{field}", Input).value = value
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.load_run.progress.granted > 0
    fields = redis_client.hgetall("token_bucket:{svc}")
    assert fields[b"max_tokens"] == b"40"  # the load used to rewrite it with the dashboard's default (10)
    assert fields.get(b"overridden", b"0") in (b"0",) or b"overridden" not in fields


# --------------------------------------------------------------------------- §3.10 say what will apply


async def test_dropping_operator_settings_shows_old_and_new(redis_url: str, limiter: RedisLimiter) -> None:
    limiter.configure("alice", BucketConfig(max_tokens=50, burst=5, refill_count=2, refill_interval=SLOW))
    async with dashboard(redis_url, size=(80, 24)) as (app, pilot):
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        shown = screen_text(app)
        expected = [("settings", "operator", "default"), ("max_tokens", "50", "10"), ("burst", "5", "0"), ("refill_count", "2", "1"), ("ceiling", "55", "10")]
        tokens = limiter.peek("alice").tokens
        if tokens > 10:
            expected.append(("tokens", str(tokens), "10 (clamped)"))
        for field, old, new in expected:
            assert re.search(rf"{field}\s+{re.escape(old)}\s+→\s+{re.escape(new)}", shown), (field, shown)
        await pilot.press("y")
        await settle(app, pilot)
        row = app.dashboard.table.bucket("alice")
        assert row is not None and not row.overridden and row.config == DEFAULT and row.tokens == min(tokens, 10)  # as shown


async def test_the_edit_form_says_what_saving_does_from_the_buckets_state(redis_url: str, limiter: RedisLimiter) -> None:
    limiter.configure("operator-set", BucketConfig(max_tokens=50, burst=0, refill_count=1, refill_interval=SLOW))
    limiter.try_acquire("service-default")
    async with dashboard(redis_url, size=(80, 24)) as (app, pilot):
        for user, overridden in (("operator-set", True), ("service-default", False)):
            await move_to(app, pilot, user)
            await pilot.press("e")
            await pilot.pause()
            text = plain(app.screen.query_one("#about", Static))
            assert ("saving makes them operator settings" in text) is not overridden, text
            assert ("saving changes them" in text) is overridden, text
            assert ("the services' default settings" in text) is not overridden, text
            await pilot.press("escape")
            await pilot.pause()


async def test_a_change_that_changes_nothing_says_so_and_audits_nothing(redis_url: str, redis_client) -> None:
    """Dropping operator settings of a bucket that has none writes nothing: the dashboard must not say "applied (audited)"."""
    from limiter import RedisLimiter
    from tests.tui_support import DEFAULT, dashboard, settle

    RedisLimiter(redis_client, default=DEFAULT).try_acquire("plain")
    async with dashboard(redis_url) as (app, pilot):
        app.write("unconfigure", "plain")
        await settle(app, pilot)
        messages = [n.message for n in app._notifications]
        assert any("plain: nothing changed" in m for m in messages), messages
        assert not any("audited)." in m for m in messages), messages
    assert redis_client.exists("token_bucket:audit") == 0
