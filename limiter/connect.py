"""Redis connections from one URL: standalone, Sentinel, Cluster (and `embedded`).

``parse_url`` turns a URL into a `ConnectionSpec`; ``connect`` turns a spec into
a redis-py client with the settings a rate limiter needs (explicit timeouts, a
bounded retry, TLS checks on). ``redact`` and ``describe`` are the only ways a
connection should ever be printed: neither shows a password.

URL forms::

    redis://[[user]:password@]host[:6379][/db]          standalone
    rediss://...                                        standalone over TLS
    unix://[[user]:password@]/path/to/redis.sock[?db=N] standalone, Unix socket
    redis+sentinel://[[user]:password@]host[:26379],host2[:port]/service_name[/db]
    rediss+sentinel://...                               Sentinel, TLS to sentinels and primary
    redis+cluster://[[user]:password@]host[:6379],host2[:port]
    rediss+cluster://...                                Cluster over TLS
    embedded://                                         a private redis-server (started by tbdash)

Query options (all optional): ``db``, ``password``, ``socket_timeout``,
``connect_timeout`` (alias ``socket_connect_timeout``), ``ssl_ca_certs``,
``ssl_certfile``, ``ssl_keyfile``, ``insecure``; for Sentinel also
``sentinel_username`` and ``sentinel_password``. Unknown options are errors,
so a typo never silently falls back to a default.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal, Mapping, NamedTuple
from urllib.parse import parse_qsl, quote, unquote

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_RETRIES",
    "DEFAULT_SOCKET_TIMEOUT",
    "ConnectionSpec",
    "EmbeddedNotStarted",
    "HostPort",
    "InvalidConnection",
    "InvalidURL",
    "Mode",
    "connect",
    "describe",
    "parse_host_port",
    "parse_url",
    "read_password_file",
    "redact",
    "resolve_password",
]

Mode = Literal["standalone", "sentinel", "cluster", "embedded"]

# redis-py 7.x waits forever by default and 8.x waits 5 s; a rate limiter sits on
# the request path, so it gets short explicit timeouts whatever the library version.
DEFAULT_SOCKET_TIMEOUT = 1.0
DEFAULT_CONNECT_TIMEOUT = 1.0

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

MASK = "***"

_SCHEMES: dict[str, tuple[Mode, bool]] = {
    "redis": ("standalone", False),
    "rediss": ("standalone", True),
    "unix": ("standalone", False),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
    "embedded": ("embedded", False),
}
_DEFAULT_PORT: dict[Mode, int] = {"standalone": 6379, "sentinel": 26379, "cluster": 6379, "embedded": 0}
_COMMON_OPTIONS = (
    "db",
    "password",
    "socket_timeout",
    "connect_timeout",
    "socket_connect_timeout",
    "ssl_ca_certs",
    "ssl_certfile",
    "ssl_keyfile",
    "insecure",
)
_SENTINEL_OPTIONS = ("sentinel_username", "sentinel_password")
# Query keys whose values are masked by redact(): anything that looks like a secret.
_SECRET_KEY = re.compile(r"pass|secret|token|auth|credential", re.IGNORECASE)


# --------------------------------------------------------------------------- errors


class InvalidConnection(ValueError):
    """A connection setting is wrong. The message never contains a password."""


class InvalidURL(InvalidConnection):
    """A connection URL cannot be parsed. The message shows the URL redacted."""


class EmbeddedNotStarted(InvalidConnection):
    """``embedded://`` names a server tbdash starts itself; there is nothing to connect to yet."""


# --------------------------------------------------------------------------- the spec


class HostPort(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class ConnectionSpec(BaseModel):
    """Where Redis is and how to talk to it. Passwords are `SecretStr`: repr/str show ``**********``."""

    # hide_input_in_errors: a ValidationError must not print the password it was given.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    mode: Mode
    hosts: tuple[HostPort, ...] = ()  # the server, the sentinels or the cluster seed nodes
    unix_path: str | None = None
    db: int = Field(default=0, ge=0)
    service_name: str | None = None  # Sentinel: the monitored primary's name
    username: str | None = None
    password: SecretStr | None = None
    sentinel_username: str | None = None
    sentinel_password: SecretStr | None = None
    socket_timeout: float = Field(default=DEFAULT_SOCKET_TIMEOUT, gt=0, le=3600)
    connect_timeout: float = Field(default=DEFAULT_CONNECT_TIMEOUT, gt=0, le=3600)
    tls: bool = False
    ssl_ca_certs: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    insecure: bool = False  # TLS without certificate or hostname checks: explicit, never a default

    @field_validator("hosts")
    @classmethod
    def _valid_hosts(cls, hosts: tuple[HostPort, ...]) -> tuple[HostPort, ...]:
        for host, port in hosts:
            if not host or not 0 < port < 65536:
                raise ValueError(f"bad address {host!r}:{port}")
        return hosts

    @model_validator(mode="after")
    def _consistent(self) -> ConnectionSpec:
        problem = _shape_problem(self)
        if problem:
            raise ValueError(problem)
        return self

    def __str__(self) -> str:
        return describe(self)

    def to_url(self, *, with_password: bool = False) -> str:
        """The URL form of this spec; the password only if asked for (never for display)."""
        return _to_url(self, with_password)


def _shape_problem(spec: ConnectionSpec) -> str | None:
    """What is inconsistent about a spec, or None."""
    if spec.mode == "embedded":
        return None
    if spec.mode == "standalone":
        if (spec.unix_path is None) == (len(spec.hosts) != 1):
            return "standalone mode needs exactly one host:port or one Unix socket path"
        if spec.unix_path is not None and spec.tls:
            return "TLS is not available over a Unix socket"
    if spec.mode in ("sentinel", "cluster"):
        if not spec.hosts:
            return f"{spec.mode} mode needs at least one host:port"
        if spec.unix_path is not None:
            return f"{spec.mode} mode does not take a Unix socket path"
    if spec.mode == "sentinel" and not spec.service_name:
        return "sentinel mode needs a service name (the primary's name in the sentinels' config)"
    if spec.mode != "sentinel" and spec.service_name:
        return "only sentinel mode takes a service name"
    if spec.mode == "cluster" and spec.db != 0:
        return "Redis Cluster has only database 0"
    if spec.mode != "sentinel" and (spec.sentinel_username or spec.sentinel_password):
        return "sentinel_username/sentinel_password apply to sentinel mode only"
    tls_options = spec.ssl_ca_certs or spec.ssl_certfile or spec.ssl_keyfile or spec.insecure
    if tls_options and not spec.tls:
        return "TLS options (ssl_ca_certs, ssl_certfile, ssl_keyfile, insecure) need TLS: use a rediss:// URL or tls = true"
    if bool(spec.ssl_certfile) != bool(spec.ssl_keyfile):
        return "a client certificate needs both ssl_certfile and ssl_keyfile"
    return None


# --------------------------------------------------------------------------- redaction


def redact(url: str) -> str:
    """``url`` with every password replaced by ``***`` (userinfo and query options).

    Works on malformed URLs too, and errs towards hiding more: everything
    between ``://`` and the LAST ``@`` counts as userinfo, so a password holding
    an unencoded ``/``, ``?`` or ``@`` is still hidden whole.
    """
    text = _redact_query(url)
    head, sep, rest = text.partition("://")
    if not sep:
        return text
    at = rest.rfind("@")
    if at < 0:
        return text
    userinfo, hostpart = rest[:at], rest[at + 1 :]
    user, colon, _password = userinfo.partition(":")
    return f"{head}://{user}{colon}{MASK if colon else ''}@{hostpart}"


def _redact_query(url: str) -> str:
    def mask(match: re.Match[str]) -> str:
        key = match.group(2)
        return match.group(0) if not _SECRET_KEY.search(key) else f"{match.group(1)}{key}={MASK}"

    return re.sub(r"([?&;])([^=&;#?]*)=([^&;#]*)", mask, url)


def _secret_fragments(url: str) -> list[str]:
    """Every piece of ``url`` that ``redact`` hides, raw and percent-decoded."""
    pieces: list[str] = []
    for match in re.finditer(r"[?&;]([^=&;#?]*)=([^&;#]*)", url):
        if _SECRET_KEY.search(match.group(1)):
            pieces.append(match.group(2))
    _, sep, rest = url.partition("://")
    if sep and "@" in rest:
        pieces.append(rest[: rest.rfind("@")].partition(":")[2])
    pieces += [unquote(p) for p in pieces]
    return [p for p in pieces if p]


def _url_error(url: str, problem: str) -> InvalidURL:
    """An InvalidURL whose message is guaranteed free of the URL's secrets."""
    if any(secret in problem for secret in _secret_fragments(url)):
        # Only happens when the URL is so malformed that part of the password was
        # read as a host, port or option: say so without echoing it.
        problem = "the URL is malformed (percent-encode special characters in the password: / ? # @ : %)"
    return InvalidURL(f"invalid Redis URL {redact(url)!r}: {problem}")


# --------------------------------------------------------------------------- parsing


def parse_url(url: str) -> ConnectionSpec:
    """Parse a connection URL (see the module docstring). Raises `InvalidURL`."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidURL("invalid Redis URL: it is empty")
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _SCHEMES:
        known = ", ".join(f"{s}://" for s in _SCHEMES)
        shown = scheme if sep else redact(url)
        raise _url_error(url, f"unknown scheme {shown!r}; use one of {known}")
    mode, tls = _SCHEMES[scheme]
    rest, _, fragment = rest.partition("#")
    if fragment:
        raise _url_error(url, "a '#fragment' has no meaning in a Redis URL")
    userinfo, location, query = _split(rest, unix=scheme == "unix")
    fields: dict[str, Any] = {"mode": mode}
    if tls:
        fields["tls"] = True
    fields.update(_userinfo_fields(userinfo))
    if mode == "embedded":
        if userinfo or location.strip("/") or query:
            raise _url_error(url, "embedded:// takes no host, path, credentials or options")
        return _build(url, fields)
    if scheme == "unix":
        fields.update(_unix_location(url, location))
    else:
        fields.update(_tcp_location(url, mode, location))
    fields.update(_query_fields(url, mode, query, fields))
    return _build(url, fields)


def _split(rest: str, *, unix: bool) -> tuple[str, str, str]:
    """(userinfo, host-and-path, query) of the part after ``scheme://``."""
    before_query, _, query = rest.partition("?")
    if unix:
        # A socket path may contain '@'; userinfo can only come before the path's first '/'.
        slash = before_query.find("/")
        at = (before_query if slash < 0 else before_query[:slash]).rfind("@")
    else:
        # Hosts and paths hold no '@', so the last one ends the userinfo, even
        # when a password holds an unencoded '/' or '@'.
        at = before_query.rfind("@")
    if at < 0:
        return "", before_query, query
    return before_query[:at], before_query[at + 1 :], query


def _userinfo_fields(userinfo: str) -> dict[str, Any]:
    if not userinfo:
        return {}
    user, colon, password = userinfo.partition(":")
    fields: dict[str, Any] = {}
    if user:
        fields["username"] = unquote(user)
    if colon and password:
        fields["password"] = SecretStr(unquote(password))
    return fields


def _unix_location(url: str, location: str) -> dict[str, Any]:
    path = unquote(location)
    if not path.startswith("/"):
        raise _url_error(url, "a unix:// URL needs an absolute socket path, e.g. unix:///run/redis/redis.sock")
    return {"unix_path": path}


def _tcp_location(url: str, mode: Mode, location: str) -> dict[str, Any]:
    netloc, _, path = location.partition("/")
    hosts = tuple(_host_port(url, item, _DEFAULT_PORT[mode]) for item in netloc.split(","))
    if mode == "standalone" and len(hosts) > 1:
        raise _url_error(url, "redis:// takes one host; for several use redis+sentinel:// or redis+cluster://")
    fields: dict[str, Any] = {"hosts": hosts}
    segments = [unquote(s) for s in path.split("/")] if path else []
    if segments and segments[-1] == "":
        segments.pop()  # a trailing slash
    if mode == "sentinel":
        if not segments or not segments[0]:
            raise _url_error(url, "redis+sentinel:// needs the service name as its path, e.g. redis+sentinel://host:26379/mymaster")
        fields["service_name"] = segments.pop(0)
    if len(segments) > 1:
        raise _url_error(url, f"unexpected path {'/' + path!r}")
    if segments:
        if mode == "cluster":
            raise _url_error(url, "a cluster URL takes no path (Redis Cluster has only database 0)")
        fields["db"] = _db_number(url, segments[0])
    return fields


def _host_port(url: str, item: str, default_port: int) -> HostPort:
    try:
        return parse_host_port(item, default_port)
    except InvalidConnection as exc:
        raise _url_error(url, str(exc)) from None


def parse_host_port(item: str, default_port: int = 6379) -> HostPort:
    """``host``, ``host:port`` or ``[ipv6]:port`` as a `HostPort`. Raises `InvalidConnection`."""
    item = item.strip()
    if not item:
        raise InvalidConnection("a host is missing (an empty entry in the host list?)")
    if item.startswith("["):  # [IPv6]:port
        host, bracket, tail = item[1:].partition("]")
        if not bracket or (tail and not tail.startswith(":")):
            raise InvalidConnection(f"bad IPv6 address {item!r}; write it as [::1]:6379")
        port_text = tail[1:]
    elif item.count(":") > 1:
        raise InvalidConnection(f"IPv6 address {item!r} needs brackets, e.g. [::1]:6379")
    else:
        host, _, port_text = item.partition(":")
    if not host or any(c in host for c in "/?#@ "):
        raise InvalidConnection(f"bad host in {item!r}")
    if not port_text:
        return HostPort(host, default_port)
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InvalidConnection(f"port {port_text!r} of {host} is not a number from 1 to 65535")
    return HostPort(host, int(port_text))


def _db_number(url: str, text: str) -> int:
    if not text.isdigit():
        raise _url_error(url, f"database {text!r} is not a number (the path of a redis:// URL is the database index)")
    return int(text)


def _query_fields(url: str, mode: Mode, query: str, fields: dict[str, Any]) -> dict[str, Any]:
    allowed = _COMMON_OPTIONS + (_SENTINEL_OPTIONS if mode == "sentinel" else ())
    out: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        key = key.lower()
        if key not in allowed:
            raise _url_error(url, f"unknown option {key!r}; known options: {', '.join(allowed)}")
        name = "connect_timeout" if key == "socket_connect_timeout" else key
        if name in out:
            raise _url_error(url, f"option {key!r} is given twice")
        out[name] = _option_value(url, mode, name, value, fields)
    return out


def _option_value(url: str, mode: Mode, name: str, value: str, fields: dict[str, Any]) -> Any:
    if name in ("password", "sentinel_password"):
        if name == "password" and "password" in fields:
            raise _url_error(url, "the password is given twice (in the userinfo and as ?password=)")
        return SecretStr(value)
    if name == "db":
        if "db" in fields:
            raise _url_error(url, "the database is given twice (in the path and as ?db=)")
        if mode == "cluster":
            raise _url_error(url, "Redis Cluster has only database 0")
        return _db_number(url, value)
    if name in ("socket_timeout", "connect_timeout"):
        try:
            return float(value)
        except ValueError:
            raise _url_error(url, f"{name} {value!r} is not a number of seconds") from None
    if name == "insecure":
        if value.lower() not in ("1", "true", "yes", "0", "false", "no"):
            raise _url_error(url, f"insecure {value!r} must be true or false")
        return value.lower() in ("1", "true", "yes")
    return value  # file paths


def _build(url: str, fields: dict[str, Any]) -> ConnectionSpec:
    try:
        return ConnectionSpec(**fields)
    except ValidationError as exc:
        raise _url_error(url, _first_problem(exc)) from None


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors(include_input=False)[0]
    where = ".".join(str(p) for p in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


# --------------------------------------------------------------------------- display


def _to_url(spec: ConnectionSpec, with_password: bool) -> str:
    if spec.mode == "embedded":
        return "embedded://"
    scheme = {"standalone": "redis", "sentinel": "redis+sentinel", "cluster": "redis+cluster"}[spec.mode]
    if spec.tls:
        scheme = scheme.replace("redis", "rediss", 1)
    userinfo = quote(spec.username or "", safe="")
    if with_password and spec.password is not None:
        userinfo += ":" + quote(spec.password.get_secret_value(), safe="")
    auth = f"{userinfo}@" if userinfo else ""
    query: list[tuple[str, str]] = []
    if spec.unix_path is not None:
        location = f"unix://{auth}{quote(spec.unix_path)}"
        if spec.db:
            query.append(("db", str(spec.db)))
    else:
        location = f"{scheme}://{auth}{','.join(str(h) for h in spec.hosts)}"
        path = [spec.service_name] if spec.service_name else []
        if spec.mode == "standalone" or spec.db:
            path.append(str(spec.db))
        if path:
            location += "/" + "/".join(quote(p, safe="") for p in path)
    query += _query_of(spec, with_password)
    if query:
        location += "?" + "&".join(f"{k}={quote(v, safe='/')}" for k, v in query)
    return location


def _query_of(spec: ConnectionSpec, with_password: bool) -> list[tuple[str, str]]:
    query: list[tuple[str, str]] = []
    if spec.sentinel_username:
        query.append(("sentinel_username", spec.sentinel_username))
    if with_password and spec.sentinel_password is not None:
        query.append(("sentinel_password", spec.sentinel_password.get_secret_value()))
    if spec.socket_timeout != DEFAULT_SOCKET_TIMEOUT:
        query.append(("socket_timeout", repr(spec.socket_timeout)))
    if spec.connect_timeout != DEFAULT_CONNECT_TIMEOUT:
        query.append(("connect_timeout", repr(spec.connect_timeout)))
    for name in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
        value = getattr(spec, name)
        if value:
            query.append((name, value))
    if spec.insecure:
        query.append(("insecure", "true"))
    return query


def describe(spec: ConnectionSpec | str, *, max_hosts: int = 4) -> str:
    """One line naming mode and servers, for status bars and error messages. Never a password."""
    if isinstance(spec, str):
        spec = parse_url(spec)
    shown = ",".join(str(h) for h in spec.hosts[:max_hosts])
    if len(spec.hosts) > max_hosts:
        shown += f",… (+{len(spec.hosts) - max_hosts} more)"
    if spec.mode == "embedded":
        text = "embedded (a private redis-server for this run)"
    elif spec.mode == "standalone":
        where = f"unix:{spec.unix_path}" if spec.unix_path is not None else shown
        text = f"standalone {where} db {spec.db}"
    elif spec.mode == "sentinel":
        text = f"sentinel {spec.service_name} via {shown} db {spec.db}"
    else:
        count = len(spec.hosts)
        text = f"cluster {count} seed node{'s' if count != 1 else ''} {shown}"
    extras = []
    if spec.tls:
        extras.append("TLS, NO CERTIFICATE CHECKS" if spec.insecure else "TLS")
    if spec.username:
        extras.append(f"user {spec.username}")
    return f"{text} ({', '.join(extras)})" if extras else text


# --------------------------------------------------------------------------- passwords


def read_password_file(path: str | os.PathLike[str]) -> SecretStr:
    """The password stored in ``path`` (one trailing newline is ignored)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise InvalidConnection(f"cannot read password file {os.fspath(path)}: {reason}") from None
    password = text.removesuffix("\n").removesuffix("\r")
    if not password:
        raise InvalidConnection(f"password file {os.fspath(path)} is empty")
    return SecretStr(password)


def resolve_password(
    *,
    url_password: SecretStr | str | None = None,
    password: SecretStr | str | None = None,
    password_file: str | os.PathLike[str] | None = None,
    password_env: str | None = None,
    env: Mapping[str, str] | None = None,
) -> SecretStr | None:
    """The one password to use, from the first source that has one.

    Order: the URL (a URL that embeds a password is complete by itself), then
    ``password`` or ``password_file`` (giving both is an error: which one was
    meant?), then the environment variable named ``password_env``.
    """
    if password is not None and password_file is not None:
        raise InvalidConnection("give either password or password_file, not both")
    for value in (url_password, password):
        if value is not None:
            return value if isinstance(value, SecretStr) else SecretStr(value)
    if password_file is not None:
        return read_password_file(password_file)
    if password_env:
        value = (os.environ if env is None else env).get(password_env)
        if value:
            return SecretStr(value)
    return None


# --------------------------------------------------------------------------- clients


def connect(
    spec_or_url: ConnectionSpec | str,
    *,
    password: SecretStr | str | None = None,
    username: str | None = None,
    socket_timeout: float | None = None,
    connect_timeout: float | None = None,
    decode_responses: bool = False,
    asyncio: bool = False,
    client_name: str | None = "tbdash",
    retries: int = DEFAULT_RETRIES,
    **client_kwargs: Any,
) -> Any:
    """A redis-py client for ``spec_or_url``.

    Returns ``redis.Redis`` (standalone, and the Sentinel-managed primary) or
    ``redis.cluster.RedisCluster``; with ``asyncio=True`` the ``redis.asyncio``
    equivalents. Keyword arguments override the spec; ``None`` keeps it.
    Timeouts are always explicit; ``retries`` bounds redis-py's command retries
    (see DEFAULT_RETRIES). Extra keyword arguments go to the client class.

    Construction does not contact Redis, except the synchronous
    ``RedisCluster``, which reads the slot map at once (redis-py's design) and
    raises ``redis.exceptions.RedisClusterException`` if no seed node answers.
    """
    spec = parse_url(spec_or_url) if isinstance(spec_or_url, str) else spec_or_url
    if spec.mode == "embedded":
        raise EmbeddedNotStarted(
            "embedded:// is a private redis-server that tbdash starts itself; start it and connect to its URL"
        )
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
    if asyncio:
        from redis.asyncio import Redis
    else:
        from redis import Redis
    where: dict[str, Any]
    if spec.unix_path is not None:
        where = {"unix_socket_path": spec.unix_path}
    else:
        where = {"host": spec.hosts[0].host, "port": spec.hosts[0].port}
    return Redis(**where, db=spec.db, retry=_retry(retries, asyncio), **kwargs)


def _sentinel(spec: ConnectionSpec, kwargs: dict[str, Any], retries: int, asyncio: bool) -> Any:
    if asyncio:
        from redis.asyncio.sentinel import Sentinel
    else:
        from redis.sentinel import Sentinel
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
    sentinel = Sentinel(list(spec.hosts), sentinel_kwargs=sentinel_kwargs)
    assert spec.service_name is not None  # checked by ConnectionSpec
    return sentinel.master_for(spec.service_name, db=spec.db, retry=_retry(retries, asyncio), **kwargs)


def _cluster(spec: ConnectionSpec, kwargs: dict[str, Any], retries: int, asyncio: bool) -> Any:
    if asyncio:
        from redis.asyncio.cluster import ClusterNode, RedisCluster
    else:
        from redis.cluster import ClusterNode, RedisCluster
    nodes = [ClusterNode(h.host, h.port) for h in spec.hosts]
    # The cluster client does its own retries (re-reading the slot map between
    # attempts); the per-node connections it creates are not retried again.
    return RedisCluster(startup_nodes=nodes, retry=_retry(retries, asyncio), **kwargs)
