"""Where Redis is and how to talk to it (`ConnectionSpec`), and the only ways to print one without its password.

``redact`` hides every password in a URL (malformed ones too); ``describe_connection``
names mode and servers in one line; ``ConnectionSpec.to_url`` gives the URL
back, with the password only when asked for.
"""

from __future__ import annotations

from typing import Literal, NamedTuple
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from limiter.redaction import redact_url as redact, secret_fragments

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_SOCKET_TIMEOUT",
    "ConnectionSpec",
    "HostPort",
    "InvalidConnection",
    "InvalidURL",
    "Mode",
    "describe_connection",
    "redact",
]

Mode = Literal["standalone", "sentinel", "cluster"]

# redis-py 7.x waits forever by default and 8.x waits 5 s; a rate limiter sits on
# the request path, so it gets short explicit timeouts whatever the library version.
DEFAULT_SOCKET_TIMEOUT = 1.0
DEFAULT_CONNECT_TIMEOUT = 1.0



class InvalidConnection(ValueError):
    """A connection setting is wrong. The message never contains a password."""


class InvalidURL(InvalidConnection):
    """A connection URL cannot be parsed. The message shows the URL redacted."""


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
        return describe_connection(self)

    def to_url(self, *, with_password: bool = False) -> str:
        """The URL form of this spec; the password only if asked for (never for display)."""
        return _to_url(self, with_password)


def _shape_problem(spec: ConnectionSpec) -> str | None:
    """What is inconsistent about a spec, or None."""
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


def url_error(url: str, problem: str) -> InvalidURL:
    """An InvalidURL whose message is guaranteed free of the URL's secrets."""
    if any(secret in problem for secret in secret_fragments(url)):
        # Only happens when the URL is so malformed that part of the password was
        # read as a host, port or option: say so without echoing it.
        problem = "the URL is malformed (percent-encode special characters in the password: / ? # @ : %)"
    return InvalidURL(f"invalid Redis URL {redact(url)!r}: {problem}")


# --------------------------------------------------------------------------- display


def _to_url(spec: ConnectionSpec, with_password: bool) -> str:
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


def describe_connection(spec: ConnectionSpec | str, *, max_hosts: int = 4) -> str:
    """One line naming mode and servers, for status bars and error messages. Never a password."""
    if isinstance(spec, str):
        from limiter.redis_url import parse_url

        spec = parse_url(spec)
    shown = ",".join(str(h) for h in spec.hosts[:max_hosts])
    if len(spec.hosts) > max_hosts:
        shown += f",… (+{len(spec.hosts) - max_hosts} more)"
    if spec.mode == "standalone":
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


