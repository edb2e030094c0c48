"""tbdash's own connection concerns, on top of `limiter.connect`.

- ``embedded://``: a private redis-server that tbdash starts itself
  (`dashboard.embedded`); until it runs there is nothing to connect to.
- Passwords from a file or an environment variable (``[redis]``
  ``password_file`` / ``password_env``), never printed.
- Connections named ``tbdash`` (``CLIENT SETNAME``), so an operator can tell
  the dashboard's connections from the services'.

A *target* is what ``[redis]`` or ``--url`` names: a `limiter.connect.ConnectionSpec`
or `Embedded`. `parse_target` is the one place a URL is parsed for the dashboard.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping, Union

from pydantic import SecretStr

from limiter.connect import ConnectionSpec, HostPort, InvalidConnection, connect, describe_connection, parse_url, redact
from limiter.connection_spec import url_error

__all__ = [
    "CLIENT_NAME",
    "EMBEDDED_URL",
    "Embedded",
    "EmbeddedNotStarted",
    "Target",
    "TargetMode",
    "connect_target",
    "describe_target",
    "parse_target",
    "read_password_file",
    "redact",
    "resolve_password",
]

CLIENT_NAME = "tbdash"
EMBEDDED_URL = "embedded://"
TargetMode = Literal["standalone", "sentinel", "cluster", "embedded"]


class EmbeddedNotStarted(InvalidConnection):
    """``embedded://`` names a server tbdash starts itself; there is nothing to connect to yet."""


@dataclass(frozen=True)
class Embedded:
    """``embedded://`` (or ``mode = "embedded"``): a private redis-server for this run. It has no password."""

    mode: Literal["embedded"] = "embedded"
    hosts: tuple[HostPort, ...] = ()
    unix_path: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    sentinel_password: SecretStr | None = None

    def to_url(self, *, with_password: bool = False) -> str:
        return EMBEDDED_URL

    def __str__(self) -> str:
        return describe_target(self)


Target = Union[ConnectionSpec, Embedded]


def parse_target(url: str) -> Target:
    """``embedded://`` or any URL `limiter.connect.parse_url` takes. Raises `limiter.connect.InvalidURL`."""
    scheme, sep, rest = url.strip().partition("://") if isinstance(url, str) else ("", "", "")
    if sep and scheme.lower() == "embedded":
        if rest.strip("/"):
            raise url_error(url, "embedded:// takes no host, path, credentials or options")
        return Embedded()
    return parse_url(url)


def describe_target(target: Target | str, *, max_hosts: int = 4) -> str:
    """One line naming mode and servers, for status bars and error messages. Never a password."""
    if isinstance(target, str):
        target = parse_target(target)
    if isinstance(target, Embedded):
        return "embedded (a private redis-server for this run)"
    return describe_connection(target, max_hosts=max_hosts)


def connect_target(target: Target | str, *, asyncio: bool = False, client_name: str | None = CLIENT_NAME, **kwargs: Any) -> Any:
    """A redis-py client for ``target`` (see `limiter.connect.connect`), its connections named ``tbdash``.

    Raises `EmbeddedNotStarted` for ``embedded://``: start the server and connect to its URL.
    """
    if isinstance(target, str):
        target = parse_target(target)
    if isinstance(target, Embedded):
        raise EmbeddedNotStarted("embedded:// is a private redis-server that tbdash starts itself; start it and connect to its URL")
    return connect(target, asyncio=asyncio, client_name=client_name, **kwargs)


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
