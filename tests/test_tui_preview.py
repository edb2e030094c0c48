"""Issue 10, the dashboard: preview (shadow) settings from the edit form, shown beside the real
figures, promoted or discarded with a confirmation; read-only shows them and offers nothing.

Pilot against a real Redis and the real `RedisBackend`; what Redis holds is read with
`RedisLimiter.peek` (another client: what the services see).
"""

from __future__ import annotations

import pytest
import redis
from textual.widgets import Button, Input

from dashboard.tui import actions
from dashboard.tui.preview import MARK
from dashboard.tui.screens.confirm import ConfirmModal
from dashboard.tui.screens.edit import EditBucketModal
from dashboard.tui.widgets.token_graph import TokenGraph
from limiter import BucketConfig, RedisLimiter
from test_tui_pilot import cell_text, palette_prompts, plain
from tui_support import DEFAULT, SLOW, dashboard, move_to, poll, screen_text, settle

TIGHT = BucketConfig(max_tokens=2, burst=0, refill_count=1, refill_interval=SLOW)


@pytest.fixture
def limiter(redis_client: redis.Redis) -> RedisLimiter:
    """A service sharing the buckets, with the dashboard's default."""
    return RedisLimiter(redis_client, default=DEFAULT)


def bucket_fields(redis_client: redis.Redis, user: str) -> dict[bytes, bytes]:
    return redis_client.hgetall(f"token_bucket:{{{user}}}")


def notes(app) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


def details(app) -> str:
    return str(app.screen.query_one(TokenGraph).border_subtitle)


async def fill_form(pilot, form, config: BucketConfig) -> None:
    for field, value in (("max_tokens", config.max_tokens), ("burst", config.burst),
                         ("refill_count", config.refill_count), ("refill_interval", f"{config.refill_interval:g}")):
        form.query_one(f"#{field}", Input).value = str(value)
    await pilot.pause()


async def preview_from_the_form(app, pilot, user: str, config: BucketConfig) -> ConfirmModal:
    """e, the values, ctrl+t: the confirmation (not yet confirmed)."""
    await move_to(app, pilot, user)
    await pilot.press("e")
    form = app.screen
    assert isinstance(form, EditBucketModal)
    await fill_form(pilot, form, config)
    assert not form.query_one("#try", Button).disabled
    await pilot.press("ctrl+t")
    confirm = app.screen
    assert isinstance(confirm, ConfirmModal)
    return confirm


# --------------------------------------------------------------------------- preview from the edit form


async def test_preview_from_the_edit_form_writes_a_shadow_after_old_to_new_and_audits_it(redis_url: str, limiter: RedisLimiter) -> None:
    limiter.try_acquire("alice", 3)
    async with dashboard(redis_url) as (app, pilot):
        confirm = await preview_from_the_form(app, pilot, "alice", TIGHT)
        assert ("preview", "none", "2+0 1/1h") in confirm.changes
        assert ("max_tokens", "10", "2") in confirm.changes and ("ceiling", "10", "2") in confirm.changes
        assert limiter.peek("alice").shadow is None  # nothing written before "y"
        await pilot.press("y")
        await settle(app, pilot)

        state = limiter.peek("alice")
        assert state.shadow is not None and state.shadow.config == TIGHT
        assert state.config == DEFAULT and not state.overridden  # the enforced settings are untouched
        assert state.shadow.tokens == 2  # started from the bucket's 7 tokens, clamped to the shadow's ceiling
        entries = await app.backend.audit(10)
        assert [(e.action, e.user, e.who) for e in entries] == [("shadow", "alice", "tester@tbdash")]
        assert entries[0].new["shadow_max_tokens"] == 2
        assert any("preview settings set" in n for n in notes(app)), notes(app)
        # Polled after the write: the row carries the mark, the details line the shadow's figures.
        assert cell_text(app, "alice", "cfg").rstrip().endswith(MARK)
        assert f"{MARK} preview 2/2 2+0 1/1h" in details(app)


async def test_previewing_the_settings_already_previewed_says_nothing_changed(redis_url: str, limiter: RedisLimiter) -> None:
    limiter.try_acquire("alice")
    async with dashboard(redis_url) as (app, pilot):
        confirm = await preview_from_the_form(app, pilot, "alice", TIGHT)
        limiter.configure("alice", TIGHT, shadow=True)  # someone else set the same preview meanwhile
        limiter.try_acquire("alice")  # counted by the shadow: setting it again would start it at 0
        await pilot.press("y")
        await settle(app, pilot)
        assert any("nothing changed (these settings are already previewed)" in n for n in notes(app)), notes(app)
        assert await app.backend.audit(10) == []
        assert limiter.peek("alice").shadow.granted == 1  # not set again

        await pilot.press("e")
        form = app.screen
        await fill_form(pilot, form, TIGHT)
        assert form.query_one("#try", Button).disabled  # the form knows it too, from the poll
        await pilot.press("ctrl+t")
        assert app.screen is form
        assert any("already previewed" in n for n in notes(app))


# --------------------------------------------------------------------------- shown beside the real figures


async def test_traffic_moves_the_shadow_counters_shown_and_would_deny(redis_url: str, limiter: RedisLimiter) -> None:
    limiter.try_acquire("alice")
    limiter.configure("alice", TIGHT, shadow=True)
    async with dashboard(redis_url) as (app, pilot):
        await move_to(app, pilot, "alice")
        for _ in range(5):  # the enforced 9 tokens grant all 5; the shadow's 2 grant 2 and deny 3
            assert limiter.try_acquire("alice").allowed
        await poll(app, pilot)
        row = app.dashboard.table.bucket("alice")
        peeked = limiter.peek("alice").shadow
        assert (row.shadow.granted, row.shadow.denied) == (peeked.granted, peeked.denied) == (2, 3)
        assert row.shadow.denials_per_s > 0 and row.denials_per_s == 0
        shown = details(app)
        from dashboard.tui import format as fmt

        assert f"would deny {fmt.rate(row.shadow.denials_per_s - row.denials_per_s)}/s more" in shown, shown
        assert f"{fmt.rate(row.shadow.denials_per_s)} deny/s" in shown

        # The graph draws the shadow's level beside the real one, on one axis up to the larger ceiling.
        series = app.screen.query_one(TokenGraph).series
        assert [s.user for s in series] == ["alice"]
        assert series[0].shadow[-1] == 0 and series[0].tokens[-1] == 4
        assert series[0].shadow_ceiling == 2 and series[0].top == 10
        assert "preview" in str(app.screen.query_one(TokenGraph).border_title)


# --------------------------------------------------------------------------- promote and discard


async def test_promote_asks_with_old_to_new_then_enforces_the_preview_and_audits(redis_url: str, limiter: RedisLimiter) -> None:
    limiter.try_acquire("alice", 3)
    limiter.configure("alice", TIGHT, shadow=True)
    async with dashboard(redis_url) as (app, pilot):
        await move_to(app, pilot, "alice")
        assert "P/D Preview" in screen_text(app).splitlines()[-1]  # the keys show where they act
        await pilot.press("P")
        confirm = app.screen
        assert isinstance(confirm, ConfirmModal)
        assert ("settings", "default", "operator") in confirm.changes
        assert ("max_tokens", "10", "2") in confirm.changes
        assert ("tokens", "7", "2 (clamped)") in confirm.changes
        await pilot.press("n")
        await settle(app, pilot)
        assert limiter.peek("alice").shadow is not None  # "no" wrote nothing

        await pilot.press("P", "y")
        await settle(app, pilot)
        state = limiter.peek("alice")
        assert state.config == TIGHT and state.overridden and state.shadow is None
        assert [e.action for e in await app.backend.audit(10)] == ["promote"]
        assert any("promoted" in n for n in notes(app)), notes(app)
        assert MARK not in cell_text(app, "alice", "cfg")
        assert "P/D Preview" not in screen_text(app).splitlines()[-1]


async def test_discard_asks_then_drops_the_preview_only(redis_url: str, limiter: RedisLimiter) -> None:
    limiter.try_acquire("alice")
    limiter.configure("alice", TIGHT, shadow=True)
    async with dashboard(redis_url) as (app, pilot):
        await move_to(app, pilot, "alice")
        await pilot.press("D")
        confirm = app.screen
        assert isinstance(confirm, ConfirmModal)
        assert confirm.changes == [("preview", "2+0 1/1h", "none")]
        await pilot.press("y")
        await settle(app, pilot)
        state = limiter.peek("alice")
        assert state.shadow is None and state.config == DEFAULT and not state.overridden
        assert [e.action for e in await app.backend.audit(10)] == ["discard_shadow"]
        assert "preview" not in details(app)


async def test_promote_and_discard_without_a_preview_say_so_and_write_nothing(redis_url: str, redis_client: redis.Redis, limiter: RedisLimiter) -> None:
    limiter.try_acquire("alice")
    before = bucket_fields(redis_client, "alice")
    async with dashboard(redis_url) as (app, pilot):
        await move_to(app, pilot, "alice")
        for key in ("P", "D"):
            await pilot.press(key)
            assert app.screen is app.dashboard, key  # no question: there is nothing to promote or discard
        await settle(app, pilot)
        said = [n for n in notes(app) if n.startswith("No preview")]
        assert len(said) == 2 and "nothing to promote" in said[0] and "nothing to discard" in said[1], said
        # And when the preview went away between the poll and the write: the backend writes nothing either.
        app.write("promote", "alice")
        app.write("discard_shadow", "alice")
        await settle(app, pilot)
        assert any("nothing changed (no preview to promote)" in n for n in notes(app)), notes(app)
        assert any("nothing changed (no preview to discard)" in n for n in notes(app)), notes(app)
        assert await app.backend.audit(10) == []
    assert bucket_fields(redis_client, "alice") == before


# --------------------------------------------------------------------------- read-only


async def test_read_only_shows_the_preview_but_offers_no_action(redis_url: str, redis_client: redis.Redis, limiter: RedisLimiter) -> None:
    limiter.try_acquire("alice")
    limiter.configure("alice", TIGHT, shadow=True)
    before = bucket_fields(redis_client, "alice")
    async with dashboard(redis_url, read_only=True) as (app, pilot):
        await move_to(app, pilot, "alice")
        assert cell_text(app, "alice", "cfg").rstrip().endswith(MARK)
        assert f"{MARK} preview" in details(app)
        assert not {"P", "D"} & set(app.screen.active_bindings)
        assert "Preview" not in screen_text(app).splitlines()[-1]
        for key in ("P", "D", "e"):
            await pilot.press(key)
            assert app.screen is app.dashboard, key

        await pilot.press("ctrl+p")
        prompts = await palette_prompts(pilot, app.screen, "")
        assert not [p for p in prompts if "romote" in p or "iscard" in p], prompts
        await pilot.press("escape")
        await pilot.press("question_mark")
        help_text = plain(app.screen.query_one("#help-text"))
        assert "Promote the preview" not in help_text and "Discard the preview" not in help_text
        await pilot.press("escape")

        # The form's preview button follows the same rule (the form itself never opens read-only).
        form = EditBucketModal(app.state, app.dashboard.table.bucket("alice"))
        await app.push_screen(form)
        await pilot.pause()
        assert not form.query("#try")
        form.action_try()
        await settle(app, pilot)
    assert bucket_fields(redis_client, "alice") == before


def test_the_preview_actions_are_in_the_one_action_table() -> None:
    by_name = {a.name: a for a in actions.DASHBOARD}
    for name in ("promote", "discard_shadow"):
        assert by_name[name].mutating and by_name[name] in actions.DASHBOARD
        assert any(name in entry.actions for entry in actions.KEY_BAR)
    from dashboard.tui.screens.help import keys_markdown

    assert "Promote the preview settings" in keys_markdown(read_only=False)
    assert "Promote the preview settings" not in keys_markdown(read_only=True)
