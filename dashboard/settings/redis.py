"""``[redis]``: where Redis is (a URL, or mode plus sentinels / nodes), how to log in, timeouts and TLS.

The URL is parsed once (`dashboard.connection.parse_target`, cached per URL);
what it states wins over the table's keys, the table fills in the rest.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator

from dashboard.connection import Embedded, Target, TargetMode, parse_target
from limiter.connect import DEFAULT_CONNECT_TIMEOUT, DEFAULT_SOCKET_TIMEOUT, ConnectionSpec, InvalidConnection, parse_host_port

DEFAULT_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PASSWORD_ENV = "TBDASH_REDIS_PASSWORD"
DEFAULT_SENTINEL_PASSWORD_ENV = "TBDASH_SENTINEL_PASSWORD"
# [redis] keys that together say WHERE Redis is. A higher layer that sets url or
# mode replaces them all: `--url` must not be mixed with the file's sentinels.
TARGET_KEYS = ("url", "mode", "sentinels", "service_name", "nodes", "db", "tls")
# Relative paths in a config file are relative to that file, not to the cwd.
PATH_KEYS = ("password_file", "sentinel_password_file", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile")

# What each mode needs and takes of the table's target keys.
_NEEDS: dict[str, tuple[str, ...]] = {"sentinel": ("sentinels", "service_name"), "cluster": ("nodes",)}
_TAKES: dict[str, tuple[str, ...]] = {"sentinel": ("sentinels", "service_name", "db", "tls"), "cluster": ("nodes", "tls")}

_parsed = lru_cache(maxsize=32)(parse_target)  # one parse per URL, however often it is asked for


class Section(BaseModel):
    # Typos are errors, not silently ignored keys.
    # hide_input_in_errors: a raw ValidationError (outside load_settings) must not
    # print a section's input, which can hold a password.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class RedisSettings(Section):
    """``[redis]``: where Redis is, how to log in, timeouts and TLS."""

    url: str | None = None  # a password in it is moved out at load (see _url_password)
    mode: TargetMode | None = None
    sentinels: list[str] = Field(default_factory=list)
    service_name: str | None = None
    nodes: list[str] = Field(default_factory=list)
    db: int | None = Field(default=None, ge=0)
    tls: bool = False

    username: str | None = None
    password: SecretStr | None = None
    password_env: str | None = DEFAULT_PASSWORD_ENV
    password_file: Path | None = None
    sentinel_username: str | None = None
    sentinel_password: SecretStr | None = None
    sentinel_password_env: str | None = DEFAULT_SENTINEL_PASSWORD_ENV
    sentinel_password_file: Path | None = None

    socket_timeout: float = Field(default=DEFAULT_SOCKET_TIMEOUT, gt=0, le=60)
    connect_timeout: float = Field(default=DEFAULT_CONNECT_TIMEOUT, gt=0, le=60)
    ssl_ca_certs: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    insecure: bool = False

    # A password written inside `url` is moved here, so that the url field,
    # repr() and model_dump() never hold it.
    _url_password: SecretStr | None = PrivateAttr(default=None)
    _url_sentinel_password: SecretStr | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _default_url(cls, data: Any) -> Any:
        # Nothing says where Redis is: the local default server.
        if isinstance(data, dict) and all(data.get(k) in (None, [], False) for k in TARGET_KEYS):
            return {**data, "url": DEFAULT_URL}
        return data

    @field_validator("url")
    @classmethod
    def _parse_url(cls, url: str | None) -> str | None:
        if url is not None:
            _parsed(url)  # InvalidURL is a ValueError with the URL redacted
        return url

    @field_validator("sentinels", "nodes", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        # "a:26379,b:26379" is handier than a TOML array in an environment variable.
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("sentinels", "nodes")
    @classmethod
    def _addresses(cls, items: list[str]) -> list[str]:
        for item in items:
            parse_host_port(item)  # InvalidConnection is a ValueError
        return items

    @field_validator("password_file", "sentinel_password_file", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
    @classmethod
    def _expand(cls, path: Path | None) -> Path | None:
        return path.expanduser() if path is not None else None

    @model_validator(mode="after")
    def _one_target(self) -> RedisSettings:
        target = self.url_target
        if target is not None and (target.password is not None or target.sentinel_password is not None):
            object.__setattr__(self, "url", target.to_url())  # the model is frozen
            self._url_password, self._url_sentinel_password = target.password, target.sentinel_password
        problem = _target_problem(self)
        if problem:
            raise ValueError(problem)
        if self.password is not None and self.password_file is not None:
            raise ValueError("give either password or password_file, not both")
        if self.sentinel_password is not None and self.sentinel_password_file is not None:
            raise ValueError("give either sentinel_password or sentinel_password_file, not both")
        sentinel_auth = self.sentinel_username or self.sentinel_password or self.sentinel_password_file
        if sentinel_auth and self.effective_mode != "sentinel":
            raise ValueError("sentinel_username, sentinel_password and sentinel_password_file apply to sentinel mode only")
        try:
            self.url_spec()  # everything but the password files must already make a valid connection
        except InvalidConnection as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def url_target(self) -> Target | None:
        """What ``url`` names (its password moved out), or None without a url."""
        return _parsed(self.url) if self.url is not None else None

    @property
    def effective_mode(self) -> TargetMode:
        target = self.url_target
        if target is not None:
            return target.mode
        assert self.mode is not None  # _default_url gives one of the two
        return self.mode

    def url_spec(self) -> Target:
        """The connection with only the URL's own passwords (`TbdashSettings.connection_spec` adds the rest)."""
        target = self.url_target
        if isinstance(target, Embedded) or (target is None and self.mode == "embedded"):
            return Embedded()
        fields: dict[str, Any] = {
            "username": self.username,
            "sentinel_username": self.sentinel_username,
            "socket_timeout": self.socket_timeout,
            "connect_timeout": self.connect_timeout,
            "ssl_ca_certs": _path_str(self.ssl_ca_certs),
            "ssl_certfile": _path_str(self.ssl_certfile),
            "ssl_keyfile": _path_str(self.ssl_keyfile),
            "insecure": self.insecure,
        }
        if target is not None:
            # What the URL states wins over the table; the table fills in the rest.
            fields.update({name: getattr(target, name) for name in target.model_fields_set})
            fields.update(password=self._url_password, sentinel_password=self._url_sentinel_password)
            fields.update(mode=target.mode, tls=target.tls, hosts=target.hosts, unix_path=target.unix_path)
        else:
            fields.update(self._table_target())
        try:
            return ConnectionSpec(**{k: v for k, v in fields.items() if v is not None})
        except ValidationError as exc:
            first = exc.errors(include_input=False)[0]
            raise InvalidConnection(first["msg"].removeprefix("Value error, ")) from None

    def _table_target(self) -> dict[str, Any]:
        assert self.mode is not None
        fields: dict[str, Any] = {"mode": self.mode, "tls": self.tls, "db": self.db or 0}
        if self.mode == "sentinel":
            fields["hosts"] = tuple(parse_host_port(s, 26379) for s in self.sentinels)
            fields["service_name"] = self.service_name
        elif self.mode == "cluster":
            fields["hosts"] = tuple(parse_host_port(n, 6379) for n in self.nodes)
        return fields


def _target_problem(r: RedisSettings) -> str | None:
    """Why the url/mode/sentinels/nodes keys do not name exactly one connection, or None."""
    table_keys = [k for k in ("sentinels", "service_name", "nodes", "db") if getattr(r, k) not in (None, [])]
    if r.tls:
        table_keys.append("tls")
    target = r.url_target
    if target is not None:
        if r.mode is not None and r.mode != target.mode:
            return f"url is a {target.mode} URL but mode is {r.mode!r}; give one of them"
        if table_keys:
            return f"{', '.join(table_keys)} cannot be combined with url; put everything in the URL or use mode = ... without url"
        return None
    if r.mode is None:
        return f"{', '.join(table_keys)} need{'s' if len(table_keys) == 1 else ''} mode = 'sentinel' or 'cluster'"
    if r.mode == "standalone":
        return "mode = 'standalone' takes url = 'redis://host:6379/0' (or rediss://, unix://)"
    missing = [k for k in _NEEDS.get(r.mode, ()) if k not in table_keys]
    if missing:
        return f"mode = {r.mode!r} needs {' and '.join(missing)}"
    extra = [k for k in table_keys if k not in _TAKES.get(r.mode, ())]
    if extra:
        return f"mode = {r.mode!r} does not take {', '.join(extra)}"
    return None


def _path_str(path: Path | None) -> str | None:
    return os.fspath(path) if path is not None else None
