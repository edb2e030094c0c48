"""Every way of not getting to Redis: exit 3 and ONE line naming the endpoint and what went wrong.

Never a password, never a redis-py class name or client repr. Each case is a
real endpoint: a refused port, a stopped and a frozen redis-server, a server
with ``requirepass``, a TCP server that answers HTTP, a Cluster seed and a
Sentinel that are not there.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator

import pytest

from dashboard.cli import main
from dashboard.embedded import free_port

CANARY = "Canary-pw-5e1d77"
WRONG = "Wrong-pw-0b9c42"
COMMANDS = (["status"], ["status", "--json"], ["audit"], ["set", "u", "--burst", "1"], ["load", "u", "--rate", "5", "--duration", "1"])
FAST = "socket_timeout=0.5&connect_timeout=0.5"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_clean_line(out: str, err: str, *needles: str) -> None:
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("tbdash") and len(line) < 300, line
    assert not re.search(r"[A-Z][A-Za-z]*(Error|Exception)\b|redis\.|<[A-Za-z]", line), line  # no class name, no repr
    assert CANARY not in line and WRONG not in line
    for needle in needles:
        assert needle in line, (needle, line)


@pytest.fixture
def http_port() -> Iterator[int]:
    """A TCP server that answers every connection like a web server."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                try:
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    server.close()


def test_a_refused_port_and_a_stopped_redis(capsys, redis_factory) -> None:
    dead = free_port()
    server = redis_factory.redis()
    stopped = server.port
    server.stop()
    for port in (dead, stopped):
        for argv in COMMANDS:
            code, out, err = run(capsys, "--url", f"redis://:{CANARY}@127.0.0.1:{port}/0?{FAST}", *argv)
            assert code == 3, err
            assert_one_clean_line(out, err, f"127.0.0.1:{port}", "connection refused")


def test_a_cluster_seed_that_is_not_there(capsys) -> None:
    """Was: exit 1 and "RedisClusterException: Redis Cluster cannot be connected..."."""
    for argv in COMMANDS:
        code, out, err = run(capsys, "--url", f"redis+cluster://:{CANARY}@127.0.0.1:1?{FAST}", *argv)
        assert code == 3, err
        assert_one_clean_line(out, err, "127.0.0.1:1", "Cluster", "connection refused")


def test_a_server_that_is_not_redis(capsys, http_port: int) -> None:
    """Was: exit 1 and "InvalidResponse: Protocol error, got "H" as reply type byte", no host or port."""
    for url in (f"redis://127.0.0.1:{http_port}/0?{FAST}", f"redis+cluster://127.0.0.1:{http_port}?{FAST}"):
        code, out, err = run(capsys, "--url", url, "status")
        assert code == 3, err
        assert_one_clean_line(out, err, f"127.0.0.1:{http_port}", "does not speak the Redis protocol")


def test_a_wrong_password_is_an_authentication_failure(capsys, redis_factory, monkeypatch) -> None:
    """It was reached: not "cannot reach Redis". Still exit 3; never the password, wherever it came from."""
    server = redis_factory.redis(password=CANARY)
    where = f"127.0.0.1:{server.port}"
    for url in (f"redis://:{WRONG}@{where}/0", f"redis://tb-nobody:{WRONG}@{where}/0", f"redis://{where}/0?password={WRONG}"):
        for argv in COMMANDS:
            code, out, err = run(capsys, "--url", url, *argv)
            assert code == 3, err
            assert_one_clean_line(out, err, where, "authentication failed")
    monkeypatch.setenv("TBDASH_REDIS_PASSWORD", WRONG)
    code, out, err = run(capsys, "--url", f"redis://{where}/0", "status")
    assert code == 3
    assert_one_clean_line(out, err, where, "authentication failed")


def test_no_password_against_requirepass(capsys, redis_factory) -> None:
    """Was: the raw "HELLO must be called with the client already authenticated..." text."""
    server = redis_factory.redis(password=CANARY)
    code, out, err = run(capsys, "--url", f"redis://127.0.0.1:{server.port}/0", "status")
    assert code == 3
    assert_one_clean_line(out, err, f"127.0.0.1:{server.port}", "authentication required", "no")
    assert "HELLO" not in err


def test_an_unreachable_sentinel(capsys) -> None:
    """Was: a ~1,000-character repr of a redis-py client."""
    ports = (free_port(), free_port())
    url = f"redis+sentinel://:{CANARY}@127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}/mymaster?sentinel_password={WRONG}&{FAST}"
    for argv in COMMANDS:
        code, out, err = run(capsys, "--url", url, *argv)
        assert code == 3, err
        assert_one_clean_line(out, err, f"127.0.0.1:{ports[0]}", "Sentinel", "'mymaster'")
        assert re.search(r"connection refused|could not connect", err), err


def test_a_frozen_redis_times_out(capsys, redis_factory) -> None:
    server = redis_factory.redis()
    server.pause()
    try:
        code, out, err = run(capsys, "--url", f"redis://:{CANARY}@127.0.0.1:{server.port}/0?{FAST}", "status")
    finally:
        server.resume()
    assert code == 3
    assert_one_clean_line(out, err, f"127.0.0.1:{server.port}", "did not answer in time")


def test_a_unix_socket_that_is_not_there(capsys, tmp_path) -> None:
    path = tmp_path / "no.sock"
    code, out, err = run(capsys, "--url", f"unix://{path}", "status")
    assert code == 3
    assert_one_clean_line(out, err, f"unix:{path}", "no such file or directory")
