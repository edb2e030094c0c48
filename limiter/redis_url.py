"""``parse_url``: one Redis URL into a `ConnectionSpec`. Every error names what is wrong and never shows a password.

URL forms::

    redis://[[user]:password@]host[:6379][/db]          standalone
    rediss://...                                        standalone over TLS
    unix://[[user]:password@]/path/to/redis.sock[?db=N] standalone, Unix socket
    redis+sentinel://[[user]:password@]host[:26379],host2[:port]/service_name[/db]
    rediss+sentinel://...                               Sentinel, TLS to sentinels and primary
    redis+cluster://[[user]:password@]host[:6379],host2[:port]
    rediss+cluster://...                                Cluster over TLS

Query options (all optional): ``db``, ``password``, ``socket_timeout``,
``connect_timeout`` (alias ``socket_connect_timeout``), ``ssl_ca_certs``,
``ssl_certfile``, ``ssl_keyfile``, ``insecure``; for Sentinel also
``sentinel_username`` and ``sentinel_password``. Unknown options are errors,
so a typo never silently falls back to a default.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote

from pydantic import SecretStr, ValidationError

from limiter.connection_spec import ConnectionSpec, HostPort, InvalidConnection, InvalidURL, Mode, redact, url_error

__all__ = ["SCHEMES", "parse_host_port", "parse_url"]

SCHEMES: dict[str, tuple[Mode, bool]] = {
    "redis": ("standalone", False),
    "rediss": ("standalone", True),
    "unix": ("standalone", False),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
}
_DEFAULT_PORT: dict[Mode, int] = {"standalone": 6379, "sentinel": 26379, "cluster": 6379}
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


def parse_url(url: str) -> ConnectionSpec:
    """Parse a connection URL (see the module docstring). Raises `InvalidURL`."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidURL("invalid Redis URL: it is empty")
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        known = ", ".join(f"{s}://" for s in SCHEMES)
        shown = scheme if sep else redact(url)
        raise url_error(url, f"unknown scheme {shown!r}; use one of {known}")
    mode, tls = SCHEMES[scheme]
    rest, _, fragment = rest.partition("#")
    if fragment:
        raise url_error(url, "a '#fragment' has no meaning in a Redis URL")
    userinfo, location, query = _split(rest, unix=scheme == "unix")
    fields: dict[str, Any] = {"mode": mode}
    if tls:
        fields["tls"] = True
    fields.update(_userinfo_fields(userinfo))
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
        raise url_error(url, "a unix:// URL needs an absolute socket path, e.g. unix:///run/redis/redis.sock")
    return {"unix_path": path}


def _tcp_location(url: str, mode: Mode, location: str) -> dict[str, Any]:
    netloc, _, path = location.partition("/")
    hosts = tuple(_host_port(url, item, _DEFAULT_PORT[mode]) for item in netloc.split(","))
    if mode == "standalone" and len(hosts) > 1:
        raise url_error(url, "redis:// takes one host; for several use redis+sentinel:// or redis+cluster://")
    fields: dict[str, Any] = {"hosts": hosts}
    segments = [unquote(s) for s in path.split("/")] if path else []
    if segments and segments[-1] == "":
        segments.pop()  # a trailing slash
    if mode == "sentinel":
        if not segments or not segments[0]:
            raise url_error(url, "redis+sentinel:// needs the service name as its path, e.g. redis+sentinel://host:26379/mymaster")
        fields["service_name"] = segments.pop(0)
    if len(segments) > 1:
        raise url_error(url, f"unexpected path {'/' + path!r}")
    if segments:
        if mode == "cluster":
            raise url_error(url, "a cluster URL takes no path (Redis Cluster has only database 0)")
        fields["db"] = _db_number(url, segments[0])
    return fields


def _host_port(url: str, item: str, default_port: int) -> HostPort:
    try:
        return parse_host_port(item, default_port)
    except InvalidConnection as exc:
        raise url_error(url, str(exc)) from None


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
        raise url_error(url, f"database {text!r} is not a number (the path of a redis:// URL is the database index)")
    return int(text)


def _query_fields(url: str, mode: Mode, query: str, fields: dict[str, Any]) -> dict[str, Any]:
    allowed = _COMMON_OPTIONS + (_SENTINEL_OPTIONS if mode == "sentinel" else ())
    out: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        key = key.lower()
        if key not in allowed:
            raise url_error(url, f"unknown option {key!r}; known options: {', '.join(allowed)}")
        name = "connect_timeout" if key == "socket_connect_timeout" else key
        if name in out:
            raise url_error(url, f"option {key!r} is given twice")
        out[name] = _option_value(url, mode, name, value, fields)
    return out


def _option_value(url: str, mode: Mode, name: str, value: str, fields: dict[str, Any]) -> Any:
    if name in ("password", "sentinel_password"):
        if name == "password" and "password" in fields:
            raise url_error(url, "the password is given twice (in the userinfo and as ?password=)")
        return SecretStr(value)
    if name == "db":
        if "db" in fields:
            raise url_error(url, "the database is given twice (in the path and as ?db=)")
        if mode == "cluster":
            raise url_error(url, "Redis Cluster has only database 0")
        return _db_number(url, value)
    if name in ("socket_timeout", "connect_timeout"):
        try:
            return float(value)
        except ValueError:
            raise url_error(url, f"{name} {value!r} is not a number of seconds") from None
    if name == "insecure":
        if value.lower() not in ("1", "true", "yes", "0", "false", "no"):
            raise url_error(url, f"insecure {value!r} must be true or false")
        return value.lower() in ("1", "true", "yes")
    return value  # file paths


def _build(url: str, fields: dict[str, Any]) -> ConnectionSpec:
    try:
        return ConnectionSpec(**fields)
    except ValidationError as exc:
        raise url_error(url, _first_problem(exc)) from None


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors(include_input=False)[0]
    where = ".".join(str(p) for p in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


