"""dashboard.connection: what tbdash adds to limiter.connect (``embedded://``, passwords from files
and variables, connections named ``tbdash``). These tests were in test_connect.py when the library
carried these concerns; their assertions are unchanged."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from dashboard.connection import (
    Embedded,
    EmbeddedNotStarted,
    connect_target,
    describe_target,
    parse_target,
    read_password_file,
    resolve_password,
)
from limiter.connect import InvalidConnection, InvalidURL, redact

CANARY = "s3cr3t-CANARY-pw"


def test_embedded_url_round_trips() -> None:
    spec = parse_target("embedded://")
    assert spec == Embedded() and spec.mode == "embedded"
    assert spec.to_url() == "embedded://"
    assert parse_target(spec.to_url()) == spec
    assert parse_target("redis://h:6379/0").mode == "standalone"  # every other URL: the library's parse_url


def test_bad_embedded_url_says_what_is_wrong() -> None:
    with pytest.raises(InvalidURL) as info:
        parse_target("embedded://somewhere")
    assert "embedded:// takes no host" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_embedded_errors_never_contain_the_password() -> None:
    url = f"embedded://:{CANARY}@"
    with pytest.raises(InvalidURL) as info:
        parse_target(url)
    assert "CANARY" not in str(info.value)
    assert "CANARY" not in redact(url)


def test_describe_embedded() -> None:
    assert describe_target("embedded://").startswith("embedded")
    assert describe_target("redis://127.0.0.1:6379/0") == "standalone 127.0.0.1:6379 db 0"


def test_embedded_cannot_be_connected_to() -> None:
    with pytest.raises(EmbeddedNotStarted, match="starts itself"):
        connect_target("embedded://")


def test_tbdash_names_its_connections_without_a_server() -> None:
    client = connect_target(f"redis://alice:{CANARY}@127.0.0.1:1/3")
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"], kwargs["client_name"]) == ("alice", CANARY, "tbdash")


def test_tbdash_names_its_connections_live(redis_url: str) -> None:
    client = connect_target(redis_url)
    try:
        assert client.ping()
        assert client.client_getname() in (b"tbdash", "tbdash")
    finally:
        client.close()


async def test_tbdash_names_its_connections_live_async(redis_url: str) -> None:
    client = connect_target(redis_url, asyncio=True, decode_responses=True)
    try:
        assert await client.ping()
        assert await client.client_getname() == "tbdash"
    finally:
        await client.aclose()


def test_read_password_file(tmp_path) -> None:
    secret = tmp_path / "pw"
    secret.write_text(CANARY + "\n")
    assert read_password_file(secret).get_secret_value() == CANARY
    secret.write_text("\n")
    with pytest.raises(InvalidConnection, match="is empty"):
        read_password_file(secret)
    with pytest.raises(InvalidConnection, match="cannot read password file .*missing"):
        read_password_file(tmp_path / "missing")


def test_password_order(tmp_path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from-file")
    env = {"PW": "from-env"}
    assert resolve_password(url_password="from-url", password_file=secret, password_env="PW", env=env) == SecretStr("from-url")
    assert resolve_password(password="given", password_env="PW", env=env) == SecretStr("given")
    assert resolve_password(password_file=secret, password_env="PW", env=env) == SecretStr("from-file")
    assert resolve_password(password_env="PW", env=env) == SecretStr("from-env")
    assert resolve_password(password_env="PW", env={}) is None
    with pytest.raises(InvalidConnection, match="not both"):
        resolve_password(password="a", password_file=secret)
