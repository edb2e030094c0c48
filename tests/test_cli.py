"""The tbdash command line: every command, every exit code, no traceback, no password."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dashboard.cli import main
from limiter import BucketConfig, RedisLimiter

CANARY = "canary-Pw-93f1c7"
SLOW = BucketConfig(max_tokens=10, burst=5, refill_count=1, refill_interval=3600)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture
def seeded(redis_client, redis_url: str) -> str:
    limiter = RedisLimiter(redis_client, default=SLOW)
    for _ in range(3):
        limiter.try_acquire("alice")
    limiter.configure("bob{ops}", BucketConfig(max_tokens=4, burst=1, refill_count=2, refill_interval=30))
    redis_client.set("token_bucket:stray", "x")
    redis_client.hset("token_bucket:{broken}", mapping={"tokens": "x"})
    return redis_url


def test_help_for_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["status"], ["set"], ["load"], ["audit"], ["demo"], ["dashboard"]):
        code, out, _ = run(capsys, *argv, "--help")
        assert code == 0 and "--url" in out


def test_status_table_and_json(capsys: pytest.CaptureFixture[str], seeded: str) -> None:
    code, out, _ = run(capsys, "--url", seeded, "status")
    assert code == 0
    header, alice, bob = out.splitlines()[:3]
    assert header.split() == ["user", "tokens", "max_tokens", "burst", "refill_count", "refill_interval", "granted", "denied", "operator"]
    assert alice.split() == ["alice", "7", "10", "5", "1", "3600s", "3", "0"]
    # Created by operator settings: full at their own max_tokens (4), not the default's 10 clamped to 5.
    assert bob.split() == ["bob{ops}", "4", "4", "1", "2", "30s", "0", "0", "yes"]
    assert "token_bucket:stray" in out and "token_bucket:{broken}" in out and "2 invalid keys" in out

    code, out, _ = run(capsys, "status", "--json", "--url", seeded)  # common options after the command too
    data = json.loads(out)
    alice_json = next(b for b in data["buckets"] if b["user"] == "alice")
    assert {k: alice_json[k] for k in ("tokens", "max_tokens", "burst", "refill_count", "refill_interval", "granted", "denied", "overridden")} == {
        "tokens": 7, "max_tokens": 10, "burst": 5, "refill_count": 1, "refill_interval": 3600.0, "granted": 3, "denied": 0, "overridden": False
    }
    assert {i["key"] for i in data["invalid"]} == {"token_bucket:stray", "token_bucket:{broken}"}
    assert all(i["reason"] for i in data["invalid"])


def test_prefix_option(capsys: pytest.CaptureFixture[str], seeded: str, redis_client) -> None:
    RedisLimiter(redis_client, prefix="other", default=SLOW).try_acquire("zed")
    code, out, _ = run(capsys, "status", "--json", "--prefix", "other", "--url", seeded)
    assert code == 0 and [b["user"] for b in json.loads(out)["buckets"]] == ["zed"]


def test_set_changes_only_the_given_fields_and_is_audited(capsys: pytest.CaptureFixture[str], seeded: str, redis_client) -> None:
    code, out, _ = run(capsys, "--url", seeded, "set", "alice", "--burst", "0", "--refill-interval", "60")
    assert code == 0 and "burst            5 -> 0" in out and "refill_interval  3600.0 -> 60.0" in out
    state = RedisLimiter(redis_client, default=SLOW).peek("alice")
    assert state is not None and state.overridden
    assert state.config == BucketConfig(max_tokens=10, burst=0, refill_count=1, refill_interval=60)

    code, out, _ = run(capsys, "--url", seeded, "audit", "--json")
    entry = json.loads(out)[0]
    assert (entry["action"], entry["user"], entry["old"]["burst"], entry["new"]["burst"]) == ("configure", "alice", 5, 0)
    assert "@" in entry["who"]

    assert run(capsys, "--url", seeded, "set", "alice", "--default")[0] == 0
    assert run(capsys, "--url", seeded, "set", "alice", "--reset")[0] == 0
    code, _, err = run(capsys, "--url", seeded, "set", "alice", "--delete")
    assert code == 2 and "--yes" in err
    assert run(capsys, "--url", seeded, "set", "alice", "--delete", "--yes")[0] == 0
    assert RedisLimiter(redis_client, default=SLOW).peek("alice") is None
    code, out, _ = run(capsys, "--url", seeded, "audit")
    assert [line.split()[4] for line in out.splitlines()[1:5]] == ["delete", "reset", "unconfigure", "configure"]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["set", "alice"], "nothing to change"),
        (["set", "alice", "--burst", "-1"], "--burst:"),
        (["set", "alice", "--max-tokens", "0"], "--max-tokens:"),
        (["set", "alice", "--refill-interval", "0.0001"], "--refill-interval:"),
        (["set", "alice", "--max-tokens", "x"], "--max-tokens"),
        (["set", "alice", "--burst", "1", "--reset"], "cannot be combined"),
        (["load", "alice", "--rate", "0", "--duration", "1"], "--rate:"),
        (["load", "alice", "--rate", "5", "--duration", "1", "--concurrency", "0"], "--concurrency:"),
        (["load", "alice", "--rate", "5"], "--duration"),
        (["load", "alice", "--rate", "5", "--duration", "1", "--tokens", "99"], "--tokens:"),
        (["bogus"], "invalid choice"),
        (["status", "--no-such-flag"], "--no-such-flag"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], seeded: str, argv: list[str], needle: str) -> None:
    code, out, err = run(capsys, "--url", seeded, *argv)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1 and out == ""


def test_bad_config_names_file_and_field(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "tbdash.toml"
    config.write_text('[limiter.default]\nmax_tokens = 0\n')
    code, _, err = run(capsys, "--config", str(config), "status")
    assert code == 2 and str(config) in err and "max_tokens" in err
    assert run(capsys, "--config", str(tmp_path / "missing.toml"), "status")[0] == 2
    code, _, err = run(capsys, "--url", "nope://x", "status")
    assert code == 2 and "--url" in err


def test_read_only_refuses_changes(capsys: pytest.CaptureFixture[str], seeded: str, redis_client) -> None:
    code, _, err = run(capsys, "--read-only", "--url", seeded, "set", "alice", "--burst", "0")
    assert code == 2 and "read-only" in err
    code, _, err = run(capsys, "load", "alice", "--rate", "5", "--duration", "1", "--read-only", "--url", seeded)
    assert code == 2 and "read-only" in err
    assert redis_client.exists("token_bucket:audit") == 0
    assert run(capsys, "--read-only", "--url", seeded, "status")[0] == 0


def test_load_reports_counts(capsys: pytest.CaptureFixture[str], seeded: str) -> None:
    code, out, _ = run(capsys, "--url", seeded, "load", "alice", "--rate", "100", "--duration", "0.5", "--json")
    report = json.loads(out)
    assert code == 0 and report["sent"] == report["target"] == 50
    assert (report["granted"], report["denied"], report["errors"]) == (7, 43, 0)
    assert report["p50_ms"] is not None and report["p99_ms"] is not None
    code, out, _ = run(capsys, "--url", seeded, "load", "alice", "--rate", "20", "--duration", "0.2")
    assert code == 0 and "sent      4 of 4" in out and "p50" in out and "p99" in out


def test_unreachable_redis_exits_3_naming_host_and_port_never_the_password(capsys: pytest.CaptureFixture[str]) -> None:
    from dashboard.embedded import free_port

    port = free_port()
    for argv in (["status"], ["audit"], ["set", "a", "--burst", "1"], ["load", "a", "--rate", "1", "--duration", "1"]):
        code, out, err = run(capsys, "--url", f"redis://:{CANARY}@127.0.0.1:{port}/0", *argv)
        assert code == 3 and f"127.0.0.1:{port}" in err, err
        assert CANARY not in out + err


def test_password_never_printed(capsys: pytest.CaptureFixture[str], redis_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    server = redis_factory.redis(password=CANARY)
    url = f"redis://:{CANARY}@127.0.0.1:{server.port}/0"
    outputs = []
    for argv in (["status"], ["status", "--json"], ["set", "u", "--burst", "2", "--create"], ["audit", "--json"], ["load", "u", "--rate", "10", "--duration", "0.1", "--json"]):
        code, out, err = run(capsys, "--url", url, *argv)
        assert code == 0, err
        outputs.append(out + err)
    # A wrong password (from the environment) fails cleanly, without echoing it.
    monkeypatch.setenv("TBDASH_REDIS_PASSWORD", CANARY + "-wrong")
    code, out, err = run(capsys, "--url", f"redis://127.0.0.1:{server.port}/0", "status")
    assert code != 0
    outputs.append(out + err)
    assert not any(CANARY in text for text in outputs)


def test_subprocess_status_and_ctrl_c_during_load(seeded: str, redis_client) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TBDASH_")}
    done = subprocess.run([sys.executable, "-m", "dashboard", "status", "--url", seeded], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0 and "alice" in done.stdout and done.stderr == ""

    tbdash = Path(sys.executable).with_name("tbdash")
    command = [str(tbdash)] if tbdash.exists() else [sys.executable, "-m", "dashboard"]
    proc = subprocess.Popen([*command, "load", "alice", "--rate", "50", "--duration", "60", "--url", seeded], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and int(redis_client.hget("token_bucket:{alice}", "denied") or 0) < 5:
            time.sleep(0.05)  # wait until the load is really running
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "CANCELLED" in out and "Traceback" not in out + err
