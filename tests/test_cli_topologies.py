"""Every tbdash command on Sentinel and Cluster, by --url and by config.toml tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboard.cli import main
from limiter import BucketConfig, RedisLimiter

SLOW = BucketConfig(max_tokens=10, burst=5, refill_count=1, refill_interval=3600)
USERS = ["alice", "bob{ops}", "carol:eu", *(f"user{i}" for i in range(20))]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code == 0, err
    return code, out


def every_command(capsys: pytest.CaptureFixture[str], client, *where: str) -> None:
    limiter = RedisLimiter(client, default=SLOW)
    for user in USERS:
        limiter.try_acquire(user)

    _, out = run(capsys, *where, "status", "--json")
    rows = {b["user"]: b for b in json.loads(out)["buckets"]}
    assert set(rows) == set(USERS) and all(r["tokens"] == 9 for r in rows.values())

    run(capsys, *where, "set", "bob{ops}", "--max-tokens", "3", "--burst", "0")
    state = limiter.peek("bob{ops}")
    assert state.overridden and (state.config.max_tokens, state.config.burst, state.tokens) == (3, 0, 3)

    _, out = run(capsys, *where, "load", "carol:eu", "--rate", "40", "--duration", "0.5", "--json")
    report = json.loads(out)
    assert report["granted"] == 9 and report["denied"] == report["sent"] - 9 and report["errors"] == 0

    _, out = run(capsys, *where, "audit", "--json")
    [entry] = json.loads(out)
    assert entry["user"] == "bob{ops}" and entry["new"]["max_tokens"] == 3


def test_every_command_on_sentinel_by_url(capsys, sentinel_group, sentinel_client) -> None:
    every_command(capsys, sentinel_client, "--url", sentinel_group.url)


def test_every_command_on_cluster_by_url(capsys, cluster_group, cluster_client) -> None:
    every_command(capsys, cluster_client, "--url", cluster_group.url)


def test_every_command_on_sentinel_by_config_table(capsys, sentinel_group, sentinel_client, tmp_path: Path) -> None:
    sentinels = ", ".join(f'"{host}:{port}"' for host, port in sentinel_group.sentinels)
    config = tmp_path / "config.toml"
    config.write_text(f'[redis]\nmode = "sentinel"\nsentinels = [{sentinels}]\nservice_name = "{sentinel_group.service_name}"\n')
    every_command(capsys, sentinel_client, "--config", str(config))


def test_every_command_on_cluster_by_config_table(capsys, cluster_group, cluster_client, tmp_path: Path) -> None:
    nodes = ", ".join(f'"{node.host}:{node.port}"' for node in cluster_group.primaries)
    config = tmp_path / "config.toml"
    config.write_text(f'[redis]\nmode = "cluster"\nnodes = [{nodes}]\n')
    every_command(capsys, cluster_client, "--config", str(config))
