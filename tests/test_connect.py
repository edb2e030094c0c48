"""limiter.connect: URL parsing, redaction, and the clients it builds (tbdash's own additions: test_connection.py).

Parsing and client construction need no server (constructing a redis-py client
does not connect, except the synchronous RedisCluster). The tests marked by the
``redis_url`` / ``sentinel_group`` / ``cluster_group`` / ``redis_factory``
fixtures talk to real servers started by tests/conftest.py.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.sentinel
import redis.cluster
import redis.sentinel
from pydantic import SecretStr, ValidationError

from limiter.connect import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_RETRIES,
    DEFAULT_SOCKET_TIMEOUT,
    ConnectionSpec,
    HostPort,
    InvalidConnection,
    InvalidURL,
    connect,
    describe_connection as describe,
    parse_host_port,
    parse_url,
    redact,
)

CANARY = "s3cr3t-CANARY-pw"


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://localhost:6380/3",
        "redis://alice@10.0.0.5:6379/0",
        "rediss://cache.example.com:6380/1",
        "rediss://h:6380/0?ssl_ca_certs=/etc/ca.pem&ssl_certfile=/c.pem&ssl_keyfile=/c.key",
        "rediss://h:6380/0?insecure=true",
        "redis://[::1]:6379/0",
        "redis://h:6379/0?socket_timeout=0.25&connect_timeout=2.0",
        "unix:///run/redis/redis.sock",
        "unix:///run/redis/redis.sock?db=2",
        "redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster",
        "redis+sentinel://a:26379/mymaster/4",
        "redis+sentinel://a:26379/mymaster?sentinel_username=watcher",
        "rediss+sentinel://a:26379,b:26379/mymaster",
        "redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002",
        "rediss+cluster://[::1]:7000,node-b:7001",
    ],
)
def test_canonical_urls_round_trip(url: str) -> None:
    spec = parse_url(url)
    assert spec.to_url() == url
    assert parse_url(spec.to_url()) == spec


@pytest.mark.parametrize(
    "url",
    [
        f"redis://:{CANARY}@h:6379/0",
        f"redis://alice:{quote('p@ss/w:rd?#%', safe='')}@h:6379/0",
        f"rediss://bob:{CANARY}@h:6380/1?ssl_ca_certs=/ca.pem",
        f"unix://:{CANARY}@/tmp/redis.sock?db=1",
        f"redis+sentinel://u:{CANARY}@a:26379,b:26380/svc/2?sentinel_password=other",
        f"redis+cluster://:{CANARY}@a:7000,b:7001",
    ],
)
def test_urls_with_passwords_round_trip(url: str) -> None:
    spec = parse_url(url)
    again = parse_url(spec.to_url(with_password=True))
    assert again == spec
    assert again.password is not None and spec.password is not None
    assert again.password.get_secret_value() == spec.password.get_secret_value()
    assert CANARY not in spec.to_url()


def test_standalone_fields() -> None:
    spec = parse_url("rediss://alice:pw@cache:6380/2?socket_timeout=0.5")
    assert spec.mode == "standalone"
    assert spec.hosts == (HostPort("cache", 6380),)
    assert (spec.db, spec.tls, spec.username, spec.socket_timeout) == (2, True, "alice", 0.5)
    assert spec.connect_timeout == DEFAULT_CONNECT_TIMEOUT
    assert spec.password == SecretStr("pw")


def test_default_ports_and_db() -> None:
    assert parse_url("redis://h").hosts == (HostPort("h", 6379),)
    assert parse_url("redis://h").db == 0
    assert parse_url("redis://h/").db == 0
    sentinel = parse_url("redis+sentinel://a,b:26380/mymaster")
    assert sentinel.hosts == (HostPort("a", 26379), HostPort("b", 26380))
    assert sentinel.service_name == "mymaster"
    assert parse_url("redis+cluster://a,b").hosts == (HostPort("a", 6379), HostPort("b", 6379))


def test_unix_socket_and_query_password() -> None:
    spec = parse_url(f"unix:///run/user@1/redis.sock?db=3&password={CANARY}")
    assert spec.unix_path == "/run/user@1/redis.sock"  # '@' in a socket path is not userinfo
    assert spec.db == 3
    assert spec.password == SecretStr(CANARY)


def test_percent_encoded_credentials_are_decoded() -> None:
    spec = parse_url(f"redis://{quote('a:b', safe='')}:{quote('p@ss/w:rd', safe='')}@h/0")
    assert spec.username == "a:b"
    assert spec.password == SecretStr("p@ss/w:rd")


def test_scheme_is_case_insensitive_and_spaces_are_trimmed() -> None:
    assert parse_url("  REDIS+CLUSTER://a:7000 ").mode == "cluster"


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("", "empty"),
        ("localhost:6379", "unknown scheme"),
        ("http://h:6379", "unknown scheme 'http'"),
        ("redis://h:abc/0", "port 'abc' of h is not a number"),
        ("redis://h:70000/0", "1 to 65535"),
        ("redis://:6379/0", "bad host"),
        ("redis:///0", "host is missing"),
        ("redis://h/zero", "database 'zero' is not a number"),
        ("redis://h/0/1", "unexpected path"),
        ("redis://h/0?db=1", "database is given twice"),
        ("redis://a:1,b:2/0", "redis:// takes one host"),
        ("redis://::1:6379/0", "needs brackets"),
        ("redis://[::1/0", "bad IPv6"),
        ("redis://h/0?timeout=1", "unknown option 'timeout'"),
        ("redis://h/0?socket_timeout=soon", "socket_timeout 'soon' is not a number"),
        ("redis://h/0?socket_timeout=0", "socket_timeout"),
        ("redis://h/0?insecure=maybe", "must be true or false"),
        ("redis://h/0?ssl_ca_certs=/ca.pem", "need TLS"),
        ("rediss://h/0?ssl_certfile=/c.pem", "both ssl_certfile and ssl_keyfile"),
        ("redis://h/0#frag", "fragment"),
        ("unix://relative/path.sock", "absolute socket path"),
        ("redis+sentinel://a:26379", "needs the service name"),
        ("redis+sentinel://a:26379/", "needs the service name"),
        ("redis+sentinel://a:26379/m/x", "database 'x' is not a number"),
        ("redis+sentinel://a,,b/m", "host is missing"),
        ("redis+cluster://a:7000/0", "takes no path"),
        ("redis+cluster://a:7000?db=1", "only database 0"),
        ("redis+cluster://a:7000?sentinel_password=x", "unknown option 'sentinel_password'"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, fragment: str) -> None:
    with pytest.raises(InvalidURL) as info:
        parse_url(url)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_spec_checks_its_own_shape() -> None:
    with pytest.raises(ValidationError, match="service name"):
        ConnectionSpec(mode="sentinel", hosts=(HostPort("a", 26379),))
    with pytest.raises(ValidationError, match="exactly one host"):
        ConnectionSpec(mode="standalone")
    with pytest.raises(ValidationError, match="bad address"):
        ConnectionSpec(mode="cluster", hosts=(HostPort("a", 0),))
    with pytest.raises(ValidationError, match="TLS is not available over a Unix socket"):
        ConnectionSpec(mode="standalone", unix_path="/s", tls=True)


def test_parse_host_port() -> None:
    assert parse_host_port("h") == HostPort("h", 6379)
    assert parse_host_port(" h:1 ", 26379) == HostPort("h", 1)
    assert parse_host_port("[fe80::1]:7000") == HostPort("fe80::1", 7000)
    assert str(HostPort("fe80::1", 7000)) == "[fe80::1]:7000"
    with pytest.raises(InvalidConnection, match="not a number"):
        parse_host_port("h:x")


# --------------------------------------------------------------------------- secrets


@pytest.mark.parametrize(
    "url",
    [
        f"redis://:{CANARY}@h:6379/0",
        f"redis://user:{CANARY}@h:6379/0",
        f"redis://h:6379/0?password={CANARY}",
        f"redis+sentinel://:{CANARY}@a:26379/m?sentinel_password={CANARY}",
        f"redis+cluster://u:{CANARY}@a:7000,b:7001",
        f"unix://:{CANARY}@/tmp/redis.sock",
    ],
)
def test_password_never_shown(url: str) -> None:
    spec = parse_url(url)
    shown = [repr(spec), str(spec), describe(spec), describe(url), spec.to_url(), redact(url), repr(spec.password)]
    shown.append(str(spec.model_dump()))
    for text in shown:
        assert CANARY not in text, text
    assert "***" in redact(url)


@pytest.mark.parametrize(
    "template",
    [
        "redis://:{pw}@h:abc/0",  # bad port
        "redis://u:{pw}@h/zero",  # bad db
        "redis://h/0?password={pw}&bogus=1",  # unknown option
        "redis://h:0/0?password={pw}",
        "redis+sentinel://:{pw}@a:26379",  # no service name
        "redis+cluster://:{pw}@a:7000/1",
        "ftp://:{pw}@h",
        "redis://:{pw}@h/0?password={pw}",  # given twice
        "redis://:{pw}@h/0?ssl_ca_certs=/x",
        # Malformed on purpose: special characters in the password NOT percent-encoded.
        "redis://:s3cr3t/CANARY/pw@h:6379/0",
        "redis://:s3cr3t?CANARY=pw@h:6379/0",
        "redis://:s3cr3t:CANARY:pw@h:notaport/0",
        "redis://:s3cr3t@CANARY@pw@h:x/0",
        "redis://:s3cr3t#CANARY@h/0",
        "unix://:s3cr3t/CANARY-pw@/tmp/sock",
        "redis+sentinel://:s3cr3t,CANARY@a/m?bad=1",
    ],
)
def test_errors_never_contain_the_password(template: str) -> None:
    url = template.format(pw=CANARY)
    try:
        spec = parse_url(url)
    except InvalidURL as exc:
        shown = str(exc)
    else:  # some unencoded passwords still parse: the last '@' ends the userinfo
        shown = f"{spec!r} {spec} {spec.to_url()}"
    assert "CANARY" not in shown, shown
    assert "CANARY" not in redact(url)


def test_redact_keeps_what_is_not_secret() -> None:
    assert redact("redis://alice:pw@h:6379/0") == "redis://alice:***@h:6379/0"
    assert redact("redis://alice@h:6379/0") == "redis://alice@h:6379/0"
    assert redact("redis://h:6379/0?password=x&db=1") == "redis://h:6379/0?password=***&db=1"
    assert redact("redis://h/0?sentinel_password=x") == "redis://h/0?sentinel_password=***"
    assert redact("redis://h:6379/0") == "redis://h:6379/0"
    assert redact("not a url") == "not a url"


def test_describe() -> None:
    assert describe(parse_url("redis://127.0.0.1:6379/0")) == "standalone 127.0.0.1:6379 db 0"
    assert describe("unix:///tmp/r.sock?db=2") == "standalone unix:/tmp/r.sock db 2"
    assert describe("rediss://bob:pw@h:6380/1") == "standalone h:6380 db 1 (TLS, user bob)"
    assert describe("rediss://h/0?insecure=1") == "standalone h:6379 db 0 (TLS, NO CERTIFICATE CHECKS)"
    assert (
        describe("redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster")
        == "sentinel mymaster via 127.0.0.1:26379,127.0.0.1:26380 db 0"
    )
    assert (
        describe("redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002")
        == "cluster 3 seed nodes 127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002"
    )
    many = "redis+cluster://" + ",".join(f"n{i}:7000" for i in range(6))
    assert describe(many) == "cluster 6 seed nodes n0:7000,n1:7000,n2:7000,n3:7000,… (+2 more)"


# --------------------------------------------------------------------------- clients (no server)


def _pool_kwargs(client: redis.Redis) -> dict:
    return client.connection_pool.connection_kwargs


def test_standalone_client_has_explicit_timeouts_and_one_retry() -> None:
    client = connect(f"redis://alice:{CANARY}@127.0.0.1:1/3")
    kwargs = _pool_kwargs(client)
    assert isinstance(client, redis.Redis)
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("127.0.0.1", 1, 3)
    assert kwargs["socket_timeout"] == DEFAULT_SOCKET_TIMEOUT
    assert kwargs["socket_connect_timeout"] == DEFAULT_CONNECT_TIMEOUT
    assert (kwargs["username"], kwargs["password"], kwargs["client_name"]) == ("alice", CANARY, None)  # services name their own
    assert client.get_retry()._retries == DEFAULT_RETRIES == 1
    assert CANARY not in repr(client) and CANARY not in repr(client.connection_pool)


def test_keyword_arguments_override_the_spec() -> None:
    client = connect(
        "redis://:from-url@h/0",
        password=SecretStr("given"),
        username="bob",
        socket_timeout=0.3,
        connect_timeout=0.2,
        decode_responses=True,
        client_name="svc",
        retries=0,
    )
    kwargs = _pool_kwargs(client)
    assert (kwargs["password"], kwargs["username"]) == ("given", "bob")
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (0.3, 0.2)
    assert kwargs["decode_responses"] is True and kwargs["client_name"] == "svc"
    assert client.get_retry()._retries == 0
    with pytest.raises(InvalidConnection, match="retries"):
        connect("redis://h/0", retries=-1)


def test_unix_socket_client() -> None:
    client = connect("unix:///tmp/nowhere.sock?db=2")
    kwargs = _pool_kwargs(client)
    assert kwargs["path"] == "/tmp/nowhere.sock" and kwargs["db"] == 2
    assert kwargs["socket_timeout"] == DEFAULT_SOCKET_TIMEOUT


def test_tls_checks_certificates_unless_insecure() -> None:
    strict = connect("rediss://h:6380/0?ssl_ca_certs=/etc/ca.pem")
    kwargs = _pool_kwargs(strict)
    assert strict.connection_pool.connection_class is redis.SSLConnection
    assert kwargs["ssl_cert_reqs"] == "required"
    assert kwargs["ssl_check_hostname"] is True
    assert kwargs["ssl_ca_certs"] == "/etc/ca.pem"
    loose = _pool_kwargs(connect("rediss://h:6380/0?insecure=true"))
    assert loose["ssl_cert_reqs"] == "none" and loose["ssl_check_hostname"] is False
    assert connect("redis://h/0").connection_pool.connection_class is redis.Connection


def test_sentinel_client() -> None:
    client = connect(f"redis+sentinel://:{CANARY}@a:26379,b:26380/mymaster/2?sentinel_password=sentinel-pw")
    pool = client.connection_pool
    assert isinstance(pool, redis.sentinel.SentinelConnectionPool)
    assert pool.service_name == "mymaster"
    assert pool.connection_kwargs["db"] == 2
    assert pool.connection_kwargs["password"] == CANARY
    assert pool.connection_kwargs["socket_timeout"] == DEFAULT_SOCKET_TIMEOUT
    assert client.get_retry()._retries == 1
    sentinels = pool.sentinel_manager.sentinels
    assert [(_pool_kwargs(s)["host"], _pool_kwargs(s)["port"]) for s in sentinels] == [("a", 26379), ("b", 26380)]
    first = _pool_kwargs(sentinels[0])
    assert first["password"] == "sentinel-pw"  # the sentinels' own password, not the primary's
    assert first["socket_timeout"] == DEFAULT_SOCKET_TIMEOUT
    assert first["socket_connect_timeout"] == DEFAULT_CONNECT_TIMEOUT
    assert first["retry"]._retries == 0  # discovery moves on to the next sentinel instead
    assert CANARY not in repr(client) and CANARY not in repr(pool)


def test_sentinel_without_own_password_sends_none() -> None:
    client = connect(f"redis+sentinel://:{CANARY}@a/m")
    assert _pool_kwargs(client.connection_pool.sentinel_manager.sentinels[0])["password"] is None


def test_tls_sentinel_uses_tls_for_sentinels_and_primary() -> None:
    client = connect("rediss+sentinel://a/m")
    assert client.connection_pool.connection_class is redis.sentinel.SentinelManagedSSLConnection
    sentinel = client.connection_pool.sentinel_manager.sentinels[0]
    assert sentinel.connection_pool.connection_class is redis.SSLConnection


async def test_async_clients() -> None:
    standalone = connect("redis://h:1/0", asyncio=True)
    assert isinstance(standalone, redis.asyncio.Redis)
    assert standalone.connection_pool.connection_kwargs["socket_timeout"] == DEFAULT_SOCKET_TIMEOUT
    assert standalone.get_retry()._retries == 1
    sentinel = connect("redis+sentinel://a/m", asyncio=True)
    assert isinstance(sentinel, redis.asyncio.Redis)
    assert isinstance(sentinel.connection_pool, redis.asyncio.sentinel.SentinelConnectionPool)
    cluster = connect("redis+cluster://a:7000,b:7001", asyncio=True)  # async cluster connects lazily
    assert isinstance(cluster, redis.asyncio.cluster.RedisCluster)
    assert cluster.retry._retries == 1
    assert [(n.host, n.port) for n in cluster.nodes_manager.startup_nodes.values()] == [("a", 7000), ("b", 7001)]
    for client in (standalone, sentinel, cluster):
        await client.aclose()


def test_standalone_live(redis_url: str) -> None:
    client = connect(redis_url)
    try:
        assert client.ping()
        assert client.client_getname() is None  # the library names no connection; tbdash names its own
    finally:
        client.close()


async def test_standalone_live_async(redis_url: str) -> None:
    client = connect(redis_url, asyncio=True, decode_responses=True)
    try:
        assert await client.ping()
        assert await client.client_getname() is None
    finally:
        await client.aclose()


def test_password_and_unix_socket_live(redis_factory) -> None:
    server = redis_factory.redis(unix_socket=True, password=CANARY)
    spec = parse_url(server.url)
    assert spec.unix_path is not None and spec.password == SecretStr(CANARY)
    client = connect(spec)
    try:
        assert client.ping()
    finally:
        client.close()
    # A wrong password: the error says so without showing either password.
    wrong = connect(spec, password="not-" + CANARY)
    with pytest.raises(redis.exceptions.AuthenticationError) as info:
        wrong.ping()
    assert CANARY not in str(info.value) and CANARY not in repr(info.value)
    wrong.close()


def test_unreachable_server_fails_fast_and_names_the_address() -> None:
    client = connect(f"redis://:{CANARY}@127.0.0.1:1/0", connect_timeout=0.5)
    with pytest.raises(redis.exceptions.ConnectionError) as info:
        client.ping()
    assert "127.0.0.1:1" in str(info.value)
    assert CANARY not in str(info.value)
    client.close()


def test_sentinel_live(sentinel_group) -> None:
    spec = parse_url(sentinel_group.url)
    assert spec.mode == "sentinel"
    client = connect(spec, decode_responses=True)
    try:
        client.set("tbdash:connect-test", "1")
        assert client.get("tbdash:connect-test") == "1"
        client.delete("tbdash:connect-test")
    finally:
        client.close()


def test_cluster_live(cluster_group) -> None:
    spec = parse_url(cluster_group.url)
    assert spec.mode == "cluster"
    client = connect(spec, decode_responses=True)
    try:
        assert isinstance(client, redis.cluster.RedisCluster)
        assert len(client.get_primaries()) == 3
        client.set("{tbdash}:connect-test", "1")
        assert client.get("{tbdash}:connect-test") == "1"
        client.delete("{tbdash}:connect-test")
    finally:
        client.close()


async def test_cluster_live_async(cluster_group) -> None:
    client = connect(cluster_group.url, asyncio=True)
    try:
        assert await asyncio.wait_for(client.ping(), 10)
    finally:
        await client.aclose()


def test_sync_cluster_connects_at_once_and_fails_without_the_password() -> None:
    # redis-py's sync RedisCluster reads the slot map in its constructor, and
    # raises RedisClusterException (not ConnectionError) when no seed answers.
    with pytest.raises(redis.exceptions.RedisClusterException) as info:
        connect(f"redis+cluster://:{CANARY}@127.0.0.1:1", connect_timeout=0.2)
    assert "127.0.0.1:1" in str(info.value)
    assert CANARY not in str(info.value) and CANARY not in repr(info.value)
