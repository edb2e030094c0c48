"""``tbdash shadow`` (SPEC §5): preview, promote, discard; audited old -> new, refused in --read-only,
a missing bucket refused (exit 2) unless --create, hostile user ids never reach the output raw;
``tbdash status`` shows the shadow (JSON object or null; a text section for buckets in preview)."""

from __future__ import annotations

import json

import pytest

from dashboard.cli import main
from dashboard.core.untrusted import is_utf8
from test_cli_hostile import FORBIDDEN, HOSTILE, assert_safe, tbdash, text_of
from limiter import BucketConfig, RedisLimiter

SLOW = BucketConfig(max_tokens=10, burst=5, refill_count=1, refill_interval=3600)
AUDIT = "token_bucket:audit"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(client) -> dict[bytes, bytes | None]:
    return {key: client.dump(key) for key in sorted(client.keys("*"))}


@pytest.fixture
def svc(redis_client) -> RedisLimiter:
    limiter = RedisLimiter(redis_client, default=SLOW)
    limiter.try_acquire("svc")  # a service's bucket: its own default, no operator settings
    return limiter


def test_preview_then_promote_is_audited_old_to_new(capsys, redis_client, redis_url, svc) -> None:
    code, out, err = run(capsys, "--url", redis_url, "shadow", "svc", "--max-tokens", "3", "--burst", "0")
    assert (code, err) == (0, "")
    assert out.startswith("svc: previewing these settings")
    assert "shadow_max_tokens      - -> 3" in out and "max_tokens             10 (unchanged)" in out
    state = svc.peek("svc")
    assert state.config == SLOW and not state.overridden  # the settings in force did not move (nor the default)
    assert (state.shadow.config.max_tokens, state.shadow.config.burst, state.shadow.tokens) == (3, 0, 3)
    for _ in range(5):
        svc.try_acquire("svc")
    status = json.loads(run(capsys, "--url", redis_url, "status", "--json")[1])
    [row] = status["buckets"]
    assert row["shadow"] == {"tokens": 0, "max_tokens": 3, "burst": 0, "refill_count": 1, "refill_interval": 3600.0,
                             "granted": 3, "denied": 2}
    text = run(capsys, "--url", redis_url, "status")[1]
    assert "1 bucket in preview" in text and "would have granted 3, denied 2" in text
    code, out, _ = run(capsys, "--url", redis_url, "shadow", "svc", "--promote", "--json")
    entry = json.loads(out)
    assert code == 0 and entry["action"] == "promote"
    assert (entry["old"]["max_tokens"], entry["old"]["shadow_max_tokens"], entry["old"]["shadow_denied"]) == (10, 3, 2)
    assert (entry["new"]["max_tokens"], entry["new"]["overridden"]) == (3, True) and "shadow_max_tokens" not in entry["new"]
    state = svc.peek("svc")
    assert (state.config.max_tokens, state.overridden, state.shadow) == (3, True, None)
    assert json.loads(run(capsys, "--url", redis_url, "status", "--json")[1])["buckets"][0]["shadow"] is None
    actions = [fields[b"action"] for _, fields in redis_client.xrange(AUDIT)]
    assert actions == [b"shadow", b"promote"]


def test_flags_build_on_the_shadow_settings_when_there_are_some(capsys, redis_url, svc) -> None:
    assert run(capsys, "--url", redis_url, "shadow", "svc", "--max-tokens", "4")[0] == 0
    assert run(capsys, "--url", redis_url, "shadow", "svc", "--burst", "1")[0] == 0
    assert svc.peek("svc").shadow.config == BucketConfig(max_tokens=4, burst=1, refill_count=1, refill_interval=3600)
    code, out, _ = run(capsys, "--url", redis_url, "shadow", "svc", "--burst", "1")
    assert code == 0 and out == "svc: previews these settings already; nothing changed, nothing audited\n"


def test_no_ops_write_nothing_and_say_so(capsys, redis_client, redis_url, svc) -> None:
    before = snapshot(redis_client)
    for flag, reason in (("--promote", "has no shadow settings to promote"), ("--discard", "has no shadow settings to discard")):
        code, out, err = run(capsys, "--url", redis_url, "shadow", "svc", flag)
        assert (code, out, err) == (0, f"svc: {reason}; nothing changed, nothing audited\n", "")
    assert snapshot(redis_client) == before


def test_discard_is_audited_and_the_bucket_expires_again(capsys, redis_client, redis_url, svc) -> None:
    run(capsys, "--url", redis_url, "shadow", "svc", "--max-tokens", "2")
    assert redis_client.pttl(svc.key("svc")) == -1
    code, out, _ = run(capsys, "--url", redis_url, "shadow", "svc", "--discard")
    assert code == 0 and out.startswith("svc: shadow settings discarded")
    assert "shadow_max_tokens      2 -> -" in out
    assert svc.peek("svc").shadow is None and redis_client.pttl(svc.key("svc")) > 0


def test_a_missing_bucket_is_refused_unless_create(capsys, redis_client, redis_url) -> None:
    for argv in (["--max-tokens", "3"], ["--promote"], ["--discard"]):
        code, out, err = run(capsys, "--url", redis_url, "shadow", "nobody", *argv)
        assert code == 2 and out == "" and "no bucket 'nobody'" in err
    assert redis_client.keys("*") == []
    code, _, err = run(capsys, "--url", redis_url, "shadow", "nobody", "--max-tokens", "3", "--create")
    assert (code, err) == (0, "")
    state = RedisLimiter(redis_client, default=BucketConfig(max_tokens=10)).peek("nobody")
    assert state.shadow.config.max_tokens == 3 and redis_client.pttl(b"token_bucket:{nobody}") == -1


def test_read_only_refuses_every_shadow_change_and_writes_nothing(capsys, redis_client, redis_url, svc) -> None:
    svc.configure("svc", BucketConfig(max_tokens=2, **{"refill_count": 1, "refill_interval": 3600}), shadow=True)
    before = snapshot(redis_client)
    for argv in (["--max-tokens", "3"], ["--promote"], ["--discard"], ["--max-tokens", "3", "--create"]):
        code, out, err = run(capsys, "--url", redis_url, "--read-only", "shadow", "svc", *argv)
        assert code == 2 and out == "" and "read-only" in err
    assert snapshot(redis_client) == before


@pytest.mark.parametrize("argv, message", [
    ([], "nothing to do"),
    (["--promote", "--discard"], "--promote and --discard cannot be combined"),
    (["--max-tokens", "3", "--promote"], "setting flags and --promote cannot be combined"),
    (["--promote", "--create"], "--create goes with setting flags"),
    (["--max-tokens", "0"], "--max-tokens:"),
    (["--refill-interval", "0.1us"], "--refill-interval:"),
])
def test_bad_usage_is_exit_2_before_connecting(capsys, argv, message) -> None:
    code, out, err = run(capsys, "--url", "redis://127.0.0.1:1", "shadow", "u", *argv)  # nothing listens there
    assert code == 2 and out == "" and message in err, err


def test_hostile_user_ids_never_reach_the_output_raw(capsys, redis_client, redis_url) -> None:
    lim = RedisLimiter(redis_client, default=SLOW)
    lim.try_acquire("template")
    fields = redis_client.hgetall(lim.key("template"))
    for raw in HOSTILE:  # real buckets under hostile ids, bytes as they are (some are not UTF-8)
        redis_client.hset(b"token_bucket:{" + raw + b"}", mapping=fields)
    users = [text_of(raw) for raw in HOSTILE]
    forbidden = [text_of(b) for b in FORBIDDEN]
    for user in users:
        for argv in (["--max-tokens", "3"], ["--promote"], ["--max-tokens", "2"], ["--discard"], ["--burst", "0"]):
            code, out, err = run(capsys, "--url", redis_url, "shadow", user, *argv)
            leaked = [f for f in forbidden if f in out + err]
            assert leaked == [] and "Traceback" not in err, (user, argv, leaked)
            assert code == (0 if is_utf8(user) else 2), (user, argv, err)
    # The real command's bytes, for a few of them: status in text and JSON, and a change.
    for raw in (HOSTILE[0], HOSTILE[3], HOSTILE[9]):
        code, out, err = tbdash("--url", redis_url, "shadow", raw, "--max-tokens", "1")
        assert code == 0 and "shadow_max_tokens" in assert_safe(out + err)
    code, out, err = tbdash("--url", redis_url, "status")
    assert code == 0 and "in preview" in assert_safe(out + err)
    code, out, err = tbdash("--url", redis_url, "status", "--json")
    previews = {row["user"]: row["shadow"] for row in json.loads(assert_safe(out))["buckets"] if row["shadow"]}
    assert {previews[text_of(raw)]["max_tokens"] for raw in (HOSTILE[0], HOSTILE[3], HOSTILE[9])} == {1}
