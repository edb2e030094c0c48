"""``tbdash metrics``, the real process: bad input, ports, Redis down and back, read-only, no secret anywhere."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.cli import main
from limiter import BucketConfig, RedisLimiter
from metrics_support import ExporterProcess, by_user, value
from test_acl_tls import RECIPE_PASSWORD, recipe_users  # noqa: F401 - the README's ACL users, as a fixture
from test_import_hygiene import BLOCK_WEB

SLOW = BucketConfig(max_tokens=10, burst=5, refill_count=1, refill_interval=3600)
CANARY = "canary-Pw-5e0d21"


def run(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    code = main(list(argv), out=io.StringIO(), err=err)
    assert "Traceback" not in err.getvalue()
    return code, err.getvalue()


@pytest.mark.parametrize(
    ("listen", "problem"),
    [
        ("9464", "'9464' is a port without a host; write HOST:PORT, e.g. 127.0.0.1:9464"),
        ("localhost", "'localhost' has no port"),
        (":9464", "has no host; write 0.0.0.0:PORT to listen on every interface"),
        ("127.0.0.1:http", "port 'http' is not a number from 0 to 65535"),
        ("127.0.0.1:65536", "port '65536' is not a number from 0 to 65535"),
        ("::1:9464", "an IPv6 address needs brackets, e.g. [::1]:9464"),
        ("[::1]", "write an IPv6 address as [::1]:9464"),
        ("a b:1", "bad host 'a b'"),
    ],
)
def test_a_bad_listen_address_is_exit_2_naming_what_is_wrong(listen: str, problem: str) -> None:
    # Judged before anything starts: no Redis at that URL, and no server is bound.
    code, err = run("metrics", "--url", "redis://127.0.0.1:1", "--listen", listen)
    assert code == 2
    assert err.startswith("tbdash metrics: --listen: ") and problem in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("toml", "line"),
    [
        ("[metrics]\ntop_n = 0\n", "config.toml: metrics.top_n: must be >= 1 (got 0)"),
        ("[metrics]\nlisten = \"9464\"\n", "config.toml: metrics.listen: '9464' is a port without a host"),
        ("[metrics]\npoll_interval = 0\n", "config.toml: metrics.poll_interval: must be >= 0.1 (got 0)"),
        ("[metrics]\ntopn = 5\n", "config.toml: metrics.topn: unknown key; did you mean 'top_n'?"),
    ],
)
def test_bad_metrics_settings_are_exit_2_naming_the_field(toml: str, line: str) -> None:
    Path("config.toml").write_text(toml)
    code, err = run("metrics")
    assert code == 2 and err.startswith("tbdash: " + line), err


def test_a_port_in_use_is_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = run("metrics", "--url", "redis://127.0.0.1:1", "--listen", f"127.0.0.1:{port}")
    assert code == 2
    assert err == f"tbdash metrics: cannot listen on 127.0.0.1:{port}: the address is already in use (another exporter? pick another port with --listen)\n"


def test_an_address_of_no_interface_is_exit_2() -> None:
    code, err = run("metrics", "--url", "redis://127.0.0.1:1", "--listen", "192.0.2.1:9464")  # TEST-NET-1: on no interface here
    assert code == 2 and "cannot listen on 192.0.2.1:9464: no interface of this host has that address" in err


def test_without_prometheus_client_it_says_which_extra() -> None:
    code = BLOCK_WEB + "from dashboard.cli import main\nsys.exit(main(['metrics', '--url', 'redis://127.0.0.1:1']))\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert result.stderr == "tbdash metrics: needs prometheus_client: pip install 'tbdash[metrics]'\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_redis_down_at_start_it_serves_up_0_and_never_shows_the_password() -> None:
    port = free_port()  # nothing listens there
    exporter = ExporterProcess(["--url", f"redis://ops:{CANARY}@127.0.0.1:{port}/0"])
    try:
        scraped = exporter.wait_for("two failed polls", lambda s: (value(s, "tbdash_poll_errors_total") or 0) >= 2)
        assert value(scraped.samples, "tbdash_up") == 0
        assert value(scraped.samples, "tbdash_last_success_timestamp_seconds") is None
        assert not [name for name in scraped.samples if name.startswith("tbdash_bucket")]
        assert CANARY.encode() not in scraped.body
    finally:
        code = exporter.stop()
    assert code == 0  # SIGTERM: a clean stop
    assert f"poll failed: cannot connect to Redis at 127.0.0.1:{port}: connection refused" in exporter.stderr
    assert exporter.stderr.count("poll failed") == 1  # said once, not once per poll
    assert CANARY not in exporter.stderr and "Traceback" not in exporter.stderr


def test_redis_lost_and_back_while_serving(redis_factory) -> None:
    server = redis_factory.redis()
    RedisLimiter(server.client(), default=SLOW).try_acquire("alice", 4)
    exporter = ExporterProcess(["--url", server.url])
    try:
        scraped = exporter.wait_for("a poll", lambda s: value(s, "tbdash_up") == 1)
        assert by_user(scraped.samples, "tbdash_bucket_tokens") == {"alice": 6}
        server.kill()
        scraped = exporter.wait_for("a failed poll", lambda s: value(s, "tbdash_up") == 0)
        assert (value(scraped.samples, "tbdash_poll_errors_total") or 0) >= 1
        assert by_user(scraped.samples, "tbdash_bucket_tokens") == {}
        server.restart()
        RedisLimiter(server.client(), default=SLOW).try_acquire("bob", 2)
        # A poll may come between the restart and bob's bucket: wait for one that sees a bucket.
        scraped = exporter.wait_for("a poll after the restart", lambda s: value(s, "tbdash_up") == 1 and value(s, "tbdash_buckets"))
        assert by_user(scraped.samples, "tbdash_bucket_tokens") == {"bob": 8}
    finally:
        assert exporter.stop() == 0
    assert f"poll failed: cannot connect to Redis at 127.0.0.1:{server.port}" in exporter.stderr
    assert "poll succeeded again" in exporter.stderr


def write_commands(client, names: set[str]) -> set[str]:
    flagged = set()
    for name in names:
        info = client.execute_command("COMMAND", "INFO", name.removeprefix("cmdstat_").split("|")[0])
        flags = info[0][2] if isinstance(info, list) else next(iter(info.values()))["flags"]
        if any((f.decode() if isinstance(f, bytes) else f) == "write" for f in flags):
            flagged.add(name)
    return flagged


def commands(client) -> dict[str, int]:
    return {name: stats["calls"] for name, stats in client.info("commandstats").items()}


def test_read_only_with_the_readme_dashboard_user_and_equal_to_status(recipe_users, redis_client) -> None:  # noqa: F811
    limiter = RedisLimiter(redis_client, default=SLOW)
    for user, takes in (("alice", 3), ("bob", 20)):
        for _ in range(takes):
            limiter.try_acquire(user)
    limiter.configure("carol", BucketConfig(max_tokens=4, burst=1, refill_count=2, refill_interval=30))
    url = recipe_users["tb-dashboard"]  # the read-only ACL user: no write command is allowed to it
    before = commands(redis_client)
    exporter = ExporterProcess(["--url", url])
    try:
        scraped = exporter.wait_for("two polls", lambda s: value(s, "tbdash_up") == 1 and value(s, "tbdash_polls_total") >= 2)
    finally:
        assert exporter.stop() == 0
    ran = {name for name, calls in commands(redis_client).items() if calls > before.get(name, 0)}
    assert write_commands(redis_client, ran) == set()
    assert value(scraped.samples, "tbdash_poll_errors_total") == 0

    out = io.StringIO()
    assert main(["--url", url, "status", "--json"], out=out, err=io.StringIO()) == 0
    status = {b["user"]: b for b in json.loads(out.getvalue())["buckets"]}
    assert by_user(scraped.samples, "tbdash_bucket_tokens") == {u: b["tokens"] for u, b in status.items()} == {"alice": 7, "bob": 0, "carol": 4}
    assert by_user(scraped.samples, "tbdash_bucket_denied_total") == {u: b["denied"] for u, b in status.items()}
    assert by_user(scraped.samples, "tbdash_bucket_granted_total") == {u: b["granted"] for u, b in status.items()}
    assert RECIPE_PASSWORD.encode() not in scraped.body and RECIPE_PASSWORD not in exporter.stderr


def test_help_names_the_listen_option() -> None:
    result = subprocess.run([sys.executable, "-m", "dashboard", "metrics", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--listen HOST:PORT" in result.stdout and "--url" in result.stdout


def test_on_sentinel(sentinel_group, sentinel_client) -> None:
    exported_equal_denials(sentinel_group.url, sentinel_client)


def test_on_cluster(cluster_group, cluster_client) -> None:
    exported_equal_denials(cluster_group.url, cluster_client)


def exported_equal_denials(url: str, client) -> None:
    limiter = RedisLimiter(client, default=SLOW)
    users = ["alice", "bob{x}", "carol", "dave"]
    for i, user in enumerate(users):
        for _ in range(11 + i):
            limiter.try_acquire(user)
    exporter = ExporterProcess(["--url", url])
    try:
        scraped = exporter.wait_for("a poll", lambda s: value(s, "tbdash_up") == 1)
    finally:
        assert exporter.stop() == 0
    assert by_user(scraped.samples, "tbdash_bucket_denied_total") == {u: 1 + i for i, u in enumerate(users)}
    assert by_user(scraped.samples, "tbdash_bucket_tokens") == dict.fromkeys(users, 0)
    assert value(scraped.samples, "tbdash_buckets") == 4
