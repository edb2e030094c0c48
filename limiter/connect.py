"""Redis clients from one URL (or `ConnectionSpec`): standalone, Sentinel, Cluster, sync or asyncio.

``connect`` builds a redis-py client with the settings a rate limiter needs:
explicit timeouts, one bounded retry, TLS checks on. URLs are parsed by
`limiter.redis_url.parse_url` (forms listed there); `limiter.connection_spec`
holds the spec and the only ways to print one (``redact``,
``describe_connection``): neither shows a password. This module re-exports
those names, so ``from limiter.connect import parse_url`` keeps working.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from limiter.connection_spec import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_SOCKET_TIMEOUT,
    ConnectionSpec,
    HostPort,
    InvalidConnection,
    InvalidURL,
    Mode,
    describe_connection,
    redact,
)
from limiter.redis_url import parse_host_port, parse_url

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_RETRIES",
    "DEFAULT_SOCKET_TIMEOUT",
    "ConnectionSpec",
    "HostPort",
    "InvalidConnection",
    "InvalidURL",
    "Mode",
    "connect",
    "describe_connection",
    "parse_host_port",
    "parse_url",
    "redact",
]

# redis-py retries any command on ConnectionError/TimeoutError (8.x: 10 times, with
# backoff, each attempt and each reconnect waiting up to socket_timeout). A
# timed-out consume may already have run, so a blind retry can debit twice. The
# Lua script carries a request id and answers a replayed id from its record instead
# of debiting again, so ONE retry is safe and rides out a dropped connection or a
# Sentinel/Cluster failover. This is the client's policy for its own commands and
# for AsyncRedisLimiter's calls (which run under one deadline, limiter/async_calls.py);
# RedisLimiter keeps its own connections and makes its own single retry within the
# deadline (limiter/sync_calls.py), whatever client it is given.
DEFAULT_RETRIES = 1
_BACKOFF_BASE = 0.02  # seconds; jittered, so reconnecting clients do not stampede
_BACKOFF_CAP = 0.2


def connect(
    spec_or_url: ConnectionSpec | str,
    *,
    password: SecretStr | str | None = None,
    username: str | None = None,
    socket_timeout: float | None = None,
    connect_timeout: float | None = None,
    decode_responses: bool = False,
    asyncio: bool = False,
    client_name: str | None = None,
    retries: int = DEFAULT_RETRIES,
    **client_kwargs: Any,
) -> Any:
    """A redis-py client for ``spec_or_url``.

    Returns ``redis.Redis`` (standalone, and the Sentinel-managed primary) or
    ``redis.cluster.RedisCluster``; with ``asyncio=True`` the ``redis.asyncio``
    equivalents. Keyword arguments override the spec; ``None`` keeps it.
    Timeouts are always explicit; ``retries`` bounds redis-py's command retries
    (see DEFAULT_RETRIES). ``client_name`` names the connections (``CLIENT
    SETNAME``; the user then needs ``+client|setname``). Extra keyword
    arguments go to the client class.

    Construction does not contact Redis, except the synchronous
    ``RedisCluster``, which reads the slot map at once (redis-py's design) and
    raises ``redis.exceptions.RedisClusterException`` if no seed node answers.
    """
    spec = parse_url(spec_or_url) if isinstance(spec_or_url, str) else spec_or_url
    if retries < 0:
        raise InvalidConnection("retries must be >= 0")
    kwargs = _client_kwargs(spec, password, username, socket_timeout, connect_timeout, decode_responses, client_name)
    kwargs.update(client_kwargs)
    builders = {"standalone": _standalone, "sentinel": _sentinel, "cluster": _cluster}
    return builders[spec.mode](spec, kwargs, retries, asyncio)


def _client_kwargs(
    spec: ConnectionSpec,
    password: SecretStr | str | None,
    username: str | None,
    socket_timeout: float | None,
    connect_timeout: float | None,
    decode_responses: bool,
    client_name: str | None,
) -> dict[str, Any]:
    secret = password if password is not None else spec.password
    kwargs: dict[str, Any] = {
        "username": username if username is not None else spec.username,
        "password": secret.get_secret_value() if isinstance(secret, SecretStr) else secret,
        "socket_timeout": socket_timeout if socket_timeout is not None else spec.socket_timeout,
        "socket_connect_timeout": connect_timeout if connect_timeout is not None else spec.connect_timeout,
        "decode_responses": decode_responses,
        "client_name": client_name,
    }
    kwargs.update(_tls_kwargs(spec))
    return kwargs


def _tls_kwargs(spec: ConnectionSpec) -> dict[str, Any]:
    if not spec.tls:
        return {}
    # redis-py verifies the certificate and the hostname by default; only an
    # explicit `insecure` turns that off.
    kwargs: dict[str, Any] = {"ssl": True}
    if spec.insecure:
        kwargs.update(ssl_cert_reqs="none", ssl_check_hostname=False)
    for name in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
        if getattr(spec, name):
            kwargs[name] = getattr(spec, name)
    return kwargs


def _retry(retries: int, asyncio: bool) -> Any:
    from redis.backoff import ExponentialWithJitterBackoff

    if asyncio:
        from redis.asyncio.retry import Retry as AsyncRetry

        return AsyncRetry(ExponentialWithJitterBackoff(base=_BACKOFF_BASE, cap=_BACKOFF_CAP), retries)
    from redis.retry import Retry

    return Retry(ExponentialWithJitterBackoff(base=_BACKOFF_BASE, cap=_BACKOFF_CAP), retries)


def _standalone(spec: ConnectionSpec, kwargs: dict[str, Any], retries: int, asyncio: bool) -> Any:
    import redis
    import redis.asyncio

    where: dict[str, Any]
    if spec.unix_path is not None:
        where = {"unix_socket_path": spec.unix_path}
    else:
        where = {"host": spec.hosts[0].host, "port": spec.hosts[0].port}
    client_class: Any = redis.asyncio.Redis if asyncio else redis.Redis
    return client_class(**where, db=spec.db, retry=_retry(retries, asyncio), **kwargs)


def _sentinel(spec: ConnectionSpec, kwargs: dict[str, Any], retries: int, asyncio: bool) -> Any:
    import redis.asyncio.sentinel
    import redis.sentinel

    sentinel_class: Any = redis.asyncio.sentinel.Sentinel if asyncio else redis.sentinel.Sentinel
    sentinel_kwargs: dict[str, Any] = {
        "socket_timeout": kwargs["socket_timeout"],
        "socket_connect_timeout": kwargs["socket_connect_timeout"],
        # Discovery already moves on to the next sentinel when one fails.
        "retry": _retry(0, asyncio),
        **_tls_kwargs(spec),
    }
    if spec.sentinel_username:
        sentinel_kwargs["username"] = spec.sentinel_username
    if spec.sentinel_password is not None:
        sentinel_kwargs["password"] = spec.sentinel_password.get_secret_value()
    sentinel = sentinel_class(list(spec.hosts), sentinel_kwargs=sentinel_kwargs)
    assert spec.service_name is not None  # checked by ConnectionSpec
    return sentinel.master_for(spec.service_name, db=spec.db, retry=_retry(retries, asyncio), **kwargs)


def _cluster(spec: ConnectionSpec, kwargs: dict[str, Any], retries: int, asyncio: bool) -> Any:
    import redis.asyncio.cluster
    import redis.cluster

    cluster: Any = redis.asyncio.cluster if asyncio else redis.cluster
    nodes = [cluster.ClusterNode(h.host, h.port) for h in spec.hosts]
    # The cluster client does its own retries (re-reading the slot map between
    # attempts); the per-node connections it creates are not retried again.
    return cluster.RedisCluster(startup_nodes=nodes, retry=_retry(retries, asyncio), **kwargs)
