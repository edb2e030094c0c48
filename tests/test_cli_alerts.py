"""``tbdash status --alerts`` (exit 1 when a threshold fires, 0 otherwise) and ``tbdash status --csv``, on a real Redis."""

from __future__ import annotations

import csv
import io
import json
import threading
from pathlib import Path

import pytest

from dashboard.cli import main
from hostile_corpus import HOSTILE_IDS, SHOWN
from limiter import BucketConfig, RedisLimiter

SLOW = BucketConfig(max_tokens=3, burst=0, refill_count=1, refill_interval=3600)  # drained stays drained
RED = HOSTILE_IDS["sgr"]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text('[dashboard]\npoll_interval = 0.1\ndeny_ratio = 0.5\ndeny_window = "1s"\ndeny_min_requests = 3\nempty_for = "0.5s"\n')
    return path


def test_no_threshold_fires_exit_0(redis_client, redis_url: str, config: Path) -> None:
    RedisLimiter(redis_client, default=SLOW).try_acquire("alice")
    code, out, err = run("--url", redis_url, "--config", str(config), "status", "--alerts", "--for", "0.6s")
    assert code == 0 and out.startswith("no threshold fires: 1 bucket under token_bucket:")
    assert "watching for 600ms" in err


def test_an_empty_bucket_fires_exit_1_and_its_id_is_escaped(redis_client, redis_url: str, config: Path) -> None:
    limiter = RedisLimiter(redis_client, default=SLOW)
    for _ in range(3):
        limiter.try_acquire(RED)
    limiter.try_acquire("alice")
    code, out, _ = run("--url", redis_url, "--config", str(config), "status", "--alerts", "--for", "0.6s")
    assert code == 1
    assert "\x1b" not in out and SHOWN["sgr"] in out and "alice" not in out
    assert "1 bucket of 2 under token_bucket: cross a threshold" in out and "empty for" in out


def test_denials_while_watching_fire_the_deny_ratio(redis_client, redis_url: str, config: Path) -> None:
    limiter = RedisLimiter(redis_client, default=SLOW)
    for _ in range(3):
        limiter.try_acquire("busy")
    for _ in range(50):
        limiter.try_acquire("before")  # denials from before the watch: never counted
    limiter.reset("before")  # full again; its counters stay
    stop = threading.Event()

    def traffic() -> None:
        while not stop.wait(0.01):
            limiter.try_acquire("busy")  # empty: every one denied

    thread = threading.Thread(target=traffic)
    thread.start()
    try:
        code, out, _ = run("--url", redis_url, "--config", str(config), "status", "--alerts", "--json", "--for", "1s")
    finally:
        stop.set()
        thread.join()
    assert code == 1
    report = json.loads(out)
    (busy,) = report["firing"]
    assert busy["user"] == "busy"
    deny = next(r for r in busy["reasons"] if r["kind"] == "deny_ratio")
    assert deny["window"]["granted"] == 0 and deny["window"]["denied"] >= 3 and deny["observed"] == 1.0
    assert deny["window"]["span_s"] >= 1.0 and report["sampled_s"] >= 1.0
    assert report["thresholds"] == {"deny_ratio": 0.5, "deny_window_s": 1.0, "deny_min_requests": 3, "empty_for_s": 0.5}


def test_alerts_usage_errors_exit_2_before_connecting(tmp_path: Path, config: Path) -> None:
    dead = "redis://127.0.0.1:1"  # nothing listens: usage is judged first
    off = tmp_path / "off.toml"
    off.write_text("[dashboard]\ndeny_ratio = 0\nempty_for = 0\n")
    cases = [
        (("--config", str(config), "status", "--for", "1s"), "--for only goes with --alerts"),
        (("--config", str(config), "status", "--alerts", "--csv"), "use --json"),
        (("--config", str(config), "status", "--alerts", "--for", "soon"), "--for: must be a duration"),
        (("--config", str(config), "status", "--alerts", "--for", "2h"), "--for: must be more than 0 and at most 1h"),
        (("--config", str(off), "status", "--alerts"), "no threshold is set"),
        (("--config", str(config), "status", "--json", "--csv"), "not allowed with argument"),
    ]
    for argv, message in cases:
        code, _, err = run("--url", dead, *argv)
        assert code == 2 and message in err, (argv, err)
    code, _, _ = run("--url", dead, "--config", str(config), "status", "--alerts", "--for", "1s")
    assert code == 3


def test_status_csv_has_the_json_columns_and_escaped_ids(redis_client, redis_url: str) -> None:
    limiter = RedisLimiter(redis_client, default=SLOW)
    limiter.try_acquire(RED)
    limiter.try_acquire("=1+1")
    code, out, _ = run("--url", redis_url, "status", "--csv")
    assert code == 0 and "\x1b" not in out
    lines = list(csv.DictReader(io.StringIO(out, newline="")))
    assert [line["user"] for line in lines] == [SHOWN["sgr"], "'=1+1"]  # in the JSON's order (by raw id)
    code, out_json, _ = run("--url", redis_url, "status", "--json")
    bucket = json.loads(out_json)["buckets"][1]
    assert {k: lines[1][k] for k in ("tokens", "granted", "denied")} == {k: str(bucket[k]) for k in ("tokens", "granted", "denied")}
