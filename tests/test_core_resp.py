"""The poller's raw RESP exchange: replies counted exactly, refusals raised, never a wait for the timeout."""

from __future__ import annotations

import pytest
import redis.asyncio
from hypothesis import given, settings
from hypothesis import strategies as st
from redis import exceptions as rexc

from dashboard.core import resp
from dashboard.core.poller import Poller

PASSWORD = "pw-" + "r" * 20


# --------------------------------------------------------------------------- counting, offline


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


# Replies as a server would send them, including bulk strings full of CRLF, "$",
# "*" and "-" (hostile key names and values must never be taken for framing).
hostile_bytes = st.binary(max_size=24) | st.sampled_from([b"\r\n", b"\r\n-NOPERM x\r\n", b"*3\r\n$1\r\n", b"$-1\r\n", b":5\r\n"])
scalar = st.one_of(
    hostile_bytes.map(_bulk),
    st.integers(-(2**62), 2**62).map(lambda i: b":%d\r\n" % i),
    st.just(b"$-1\r\n"),
    st.just(b"+OK\r\n"),
    st.just(b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    st.just(b"_\r\n"),
    st.just(b"#t\r\n"),
    st.just(b",1.5\r\n"),
)
reply = st.recursive(
    scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5).map(lambda items: b"*%d\r\n" % len(items) + b"".join(items)),
        st.lists(st.tuples(hostile_bytes.map(_bulk), inner), max_size=3).map(lambda kv: b"%%%d\r\n" % len(kv) + b"".join(a + b for a, b in kv)),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(reply, min_size=1, max_size=8), st.data())
def test_counter_finds_exactly_the_reply_boundaries_however_the_bytes_arrive(replies: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(replies)
    assert all(resp.parse(one, 0)[1] == len(one) for one in replies)  # the generator makes valid RESP
    counter = resp.ReplyCounter(len(replies))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    for cut in cuts:
        # A prefix is never complete, unless it holds every reply.
        assert counter.feed(stream[:cut]) is (cut == len(stream))
    assert counter.feed(stream)
    assert counter.pos == len(stream)
    starts, pos = [], 0
    for one in replies:
        starts.append(pos)
        pos += len(one)
    assert counter.starts == starts[-1]
    assert counter.errors == [s for s, one in zip(starts, replies) if one.startswith(b"-")]


def test_count_commands_of_a_payload_with_hostile_keys() -> None:
    payload = resp.pack(b"HMGET", b"k\r\n*2\r\n", b"f") + resp.pack(b"PTTL", b"$5\r\nx") + resp.pack(b"TIME")
    assert resp.count_commands(payload) == 3


def test_a_prefix_longer_than_a_reply_is_a_protocol_error_not_a_hang() -> None:
    with pytest.raises(resp.ProtocolError):
        resp.ReplyCounter(1).feed(b"HTTP/1.1 400 Bad Request\r\n")


# --------------------------------------------------------------------------- against a real server


@pytest.fixture
def acl_user(redis_server, redis_client):
    """A user with exactly ``rules`` on the shared server (deleted after the test); returns its URL."""
    created = []

    def make(name: str, *rules: str) -> str:
        redis_client.execute_command("ACL", "SETUSER", name, "reset", "on", f">{PASSWORD}", "~*", *rules)
        created.append(name)
        return f"redis://{name}:{PASSWORD}@{redis_server.host}:{redis_server.port}/0"

    yield make
    for name in created:
        redis_client.execute_command("ACL", "DELUSER", name)


def _client(url: str) -> redis.asyncio.Redis:
    # A socket timeout far longer than any answer: a refusal that turned into a
    # wait would show as a TimeoutError after 20 s, and the test would fail.
    return redis.asyncio.Redis.from_url(url, socket_timeout=20, socket_connect_timeout=5)


async def test_the_fast_path_needs_no_command_beyond_the_poll_s_own(redis_client, acl_user) -> None:
    """ECHO is not in the README's recipes: the old terminator made every poll of such a user time out."""
    redis_client.hset("token_bucket:{a}", mapping={"tokens": 1})
    url = acl_user("tb-resp-no-echo", "-@all", "+scan", "+hmget", "+pttl", "+time", "+ping", "+type", "+client|setname")
    client = _client(url)
    try:
        buf = await resp.exchange(client, resp.pack(b"SCAN", b"0", b"MATCH", b"token_bucket:*", b"COUNT", b"100"))
        assert b"token_bucket:{a}" in buf
        snapshot = await Poller(client, "token_bucket").poll()
        assert [k.key for k in snapshot.invalid] == ["token_bucket:{a}"]  # a hash without bucket fields
    finally:
        await client.aclose()


async def test_a_refused_terminator_is_an_error_at_once_not_a_timeout(redis_client, acl_user) -> None:
    url = acl_user("tb-resp-no-ping", "-@all", "+scan", "+hmget", "+time")
    client = _client(url)
    try:
        with pytest.raises(rexc.NoPermissionError, match="(?i)ping"):
            await resp.exchange(client, resp.pack(b"SCAN", b"0", b"MATCH", b"token_bucket:*"))
        # The connection went back to the pool whole: the next exchange reads its own replies.
        with pytest.raises(rexc.NoPermissionError, match="(?i)ping"):
            await resp.exchange(client, resp.pack(b"TIME"))
    finally:
        await client.aclose()


async def test_a_refused_read_is_a_permission_error_never_an_invalid_key(redis_client, acl_user) -> None:
    for user in ("a", "b", "c"):
        redis_client.hset(f"token_bucket:{{{user}}}", mapping={"tokens": 1})
    url = acl_user("tb-resp-no-hmget", "-@all", "+scan", "+pttl", "+time", "+ping", "+type")
    client = _client(url)
    try:
        with pytest.raises(rexc.NoPermissionError, match="(?i)hmget"):
            await Poller(client, "token_bucket").poll()
    finally:
        await client.aclose()


async def test_hostile_values_that_look_like_refusals_are_data(async_redis_client) -> None:
    """A value holding "\\r\\n-NOPERM" and CRLFs is a value: counted by its length, not raised."""
    await async_redis_client.hset("token_bucket:{x}", mapping={"tokens": b"1\r\n-NOPERM fake\r\n", "anchor_us": b"$3\r\n*1"})
    buf = await resp.exchange(async_redis_client, resp.pack(b"HMGET", b"token_bucket:{x}", b"tokens", b"anchor_us"))
    assert resp.parse(buf, 0) == ([b"1\r\n-NOPERM fake\r\n", b"$3\r\n*1"], len(buf))
    snapshot = await Poller(async_redis_client, "token_bucket").poll()
    assert [k.key for k in snapshot.invalid] == ["token_bucket:{x}"]


def test_supports_only_the_redis_py_versions_it_was_checked_against(monkeypatch) -> None:
    import redis as redis_py

    client = redis.asyncio.Redis()
    assert resp.supports(client)
    monkeypatch.setattr(redis_py, "__version__", "9.0.0")
    assert not resp.supports(client)
    monkeypatch.setattr(redis_py, "__version__", "7.3.0")
    assert not resp.supports(client)
