"""tbdash settings: ``config.toml``, environment overrides and command-line flags.

Lookup: ``--config PATH``, then ``$TBDASH_CONFIG``, then ``./config.toml``, then
``$XDG_CONFIG_HOME/tbdash/config.toml`` (``~/.config/tbdash/config.toml``),
else built-in defaults. A file named explicitly (flag or variable) must exist.

Precedence, highest first: command-line flags (``overrides``), environment
variables ``TBDASH_<SECTION>__<KEY>[__<KEY>...]`` (``TBDASH_REDIS__URL``,
``TBDASH_LIMITER__DEFAULT__MAX_TOKENS``; values read as TOML scalars when they
parse, else as strings), the file, the defaults.

Every problem becomes one line of a `ConfigError` naming where the value came
from (file, variable or flag), the field and what is wrong. Secret values are
never shown. This module does not import textual.
"""

from __future__ import annotations

import difflib
import getpass
import os
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, NamedTuple, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from limiter.config import BucketConfig
from limiter.connect import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_SOCKET_TIMEOUT,
    ConnectionSpec,
    InvalidConnection,
    Mode,
    parse_host_port,
    parse_url,
    redact,
    resolve_password,
)
from limiter.keys import DEFAULT_PREFIX, validate_prefix, validate_user

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 needs the backport (same API)
    import tomli as tomllib

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_URL",
    "ENV_PREFIX",
    "ConfigError",
    "ConfigLocation",
    "DashboardSettings",
    "DemoSettings",
    "DemoUser",
    "LimiterSettings",
    "RedisSettings",
    "Settings",
    "find_config_file",
    "load_settings",
]

CONFIG_ENV = "TBDASH_CONFIG"
ENV_PREFIX = "TBDASH_"
DEFAULT_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PASSWORD_ENV = "TBDASH_REDIS_PASSWORD"
DEFAULT_SENTINEL_PASSWORD_ENV = "TBDASH_SENTINEL_PASSWORD"

# Command-line flags that reach load_settings as overrides, so an error can name the flag.
OVERRIDE_FLAGS = {
    ("redis", "url"): "--url",
    ("limiter", "prefix"): "--prefix",
    ("dashboard", "read_only"): "--read-only",
}
# [redis] keys that together say WHERE Redis is. A higher layer that sets url or
# mode replaces them all: `--url` must not be mixed with the file's sentinels.
_TARGET_KEYS = ("url", "mode", "sentinels", "service_name", "nodes", "db", "tls")
# Relative paths in a config file are relative to that file, not to the cwd.
_PATH_KEYS = ("password_file", "sentinel_password_file", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile")


class ConfigError(Exception):
    """Bad configuration: one line per problem, ``<source>: <field>: <what is wrong>``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


# --------------------------------------------------------------------------- models


class _Section(BaseModel):
    # Typos are errors, not silently ignored keys.
    # hide_input_in_errors: a raw ValidationError (outside load_settings) must not
    # print a section's input, which can hold a password.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class RedisSettings(_Section):
    """``[redis]``: where Redis is, how to log in, timeouts and TLS."""

    url: str | None = None  # a password in it is moved out at load (see _url_password)
    mode: Mode | None = None
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
        if isinstance(data, dict) and all(data.get(k) in (None, [], False) for k in _TARGET_KEYS):
            return {**data, "url": DEFAULT_URL}
        return data

    @field_validator("url")
    @classmethod
    def _parse_url(cls, url: str | None) -> str | None:
        if url is not None:
            parse_url(url)  # InvalidURL is a ValueError with the URL redacted
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
    def _hide_url_password(self) -> RedisSettings:
        if self.url is not None:
            spec = parse_url(self.url)
            if spec.password is not None or spec.sentinel_password is not None:
                object.__setattr__(self, "url", spec.to_url())  # the model is frozen
                self._url_password = spec.password
                self._url_sentinel_password = spec.sentinel_password
        return self

    @model_validator(mode="after")
    def _one_target(self) -> RedisSettings:
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
            self._spec()  # everything but the password files must already make a valid connection
        except InvalidConnection as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def effective_mode(self) -> Mode:
        if self.url is not None:
            return parse_url(self.url).mode
        assert self.mode is not None  # _default_url gives one of the two
        return self.mode

    def _spec(self) -> ConnectionSpec:
        """The connection with only the URL's own passwords (`Settings.connection_spec` adds the rest)."""
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
        if self.url is not None:
            from_url = parse_url(self.url)
            # What the URL states wins over the table; the table fills in the rest.
            fields.update({name: getattr(from_url, name) for name in from_url.model_fields_set})
            if self._url_password is not None:
                fields["password"] = self._url_password
            if self._url_sentinel_password is not None:
                fields["sentinel_password"] = self._url_sentinel_password
            fields.update(mode=from_url.mode, tls=from_url.tls, hosts=from_url.hosts, unix_path=from_url.unix_path)
        else:
            fields.update(self._table_target())
        fields = {k: v for k, v in fields.items() if v is not None}
        try:
            return ConnectionSpec(**fields)
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
    if r.url is not None:
        if r.mode is not None and r.mode != parse_url(r.url).mode:
            return f"url is a {parse_url(r.url).mode} URL but mode is {r.mode!r}; give one of them"
        if table_keys:
            return f"{', '.join(table_keys)} cannot be combined with url; put everything in the URL or use mode = ... without url"
        return None
    if r.mode is None:
        return f"{', '.join(table_keys)} need{'s' if len(table_keys) == 1 else ''} mode = 'sentinel' or 'cluster'"
    needs: dict[str, tuple[str, ...]] = {
        "standalone": (),
        "sentinel": ("sentinels", "service_name"),
        "cluster": ("nodes",),
        "embedded": (),
    }
    allowed: dict[str, tuple[str, ...]] = {
        "standalone": (),
        "sentinel": ("sentinels", "service_name", "db", "tls"),
        "cluster": ("nodes", "tls"),
        "embedded": (),
    }
    if r.mode == "standalone":
        return "mode = 'standalone' takes url = 'redis://host:6379/0' (or rediss://, unix://)"
    missing = [k for k in needs[r.mode] if k not in table_keys]
    if missing:
        return f"mode = {r.mode!r} needs {' and '.join(missing)}"
    extra = [k for k in table_keys if k not in allowed[r.mode]]
    if extra:
        return f"mode = {r.mode!r} does not take {', '.join(extra)}"
    return None


def _path_str(path: Path | None) -> str | None:
    return os.fspath(path) if path is not None else None


class LimiterSettings(_Section):
    """``[limiter]``: key prefix, what to do when Redis is unreachable, idle expiry, default bucket."""

    prefix: str = DEFAULT_PREFIX
    on_error: Literal["raise", "allow", "deny"] = "raise"
    idle_ttl: float = Field(default=60.0, ge=0, le=9_007_199_254_740)
    default: BucketConfig = BucketConfig(max_tokens=10, burst=5, refill_count=1, refill_interval=1.0)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, prefix: str) -> str:
        return validate_prefix(prefix)


class DashboardSettings(_Section):
    """``[dashboard]``: polling, history, read-only, looks, operator name."""

    poll_interval: float = Field(default=1.0, ge=0.1, le=3600)
    history_length: int = Field(default=300, ge=10, le=100_000)
    read_only: bool = False
    theme: str | None = Field(default=None, min_length=1)
    operator: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("operator")
    @classmethod
    def _operator(cls, name: str | None) -> str | None:
        if name is not None and (name.strip() != name or any(c.isspace() and c != " " for c in name)):
            raise ValueError("must be a name without surrounding spaces or line breaks")
        return name

    def operator_name(self, env: Mapping[str, str] | None = None) -> str:
        """Who is recorded in the audit stream: ``operator``, else the login name."""
        if self.operator:
            return self.operator
        env = os.environ if env is None else env
        for var in ("USER", "LOGNAME", "USERNAME"):
            if env.get(var):
                return env[var]
        try:
            return getpass.getuser()
        except Exception:  # no passwd entry (containers)
            return "unknown"


Traffic = Literal["steady", "bursty", "idle", "throttled"]


class DemoUser(BucketConfig):
    """One user of ``tbdash demo``: a bucket plus the synthetic traffic it gets."""

    name: str
    traffic: Traffic = "steady"
    rate: float = Field(default=0.0, ge=0, le=10_000, description="requests per second, on average")
    tokens: int = Field(default=1, ge=1, description="tokens per request")

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        return validate_user(name)

    @model_validator(mode="after")
    def _traffic(self) -> DemoUser:
        if self.traffic == "idle" and self.rate:
            raise ValueError("an idle user sends no traffic: drop rate (or set it to 0)")
        if self.traffic != "idle" and not self.rate:
            raise ValueError(f"traffic = {self.traffic!r} needs rate > 0 (requests per second)")
        if self.traffic == "throttled" and self.rate * self.tokens <= self.rate_per_second:
            raise ValueError(
                f"a throttled user must ask for more than its refill rate ({self.rate_per_second:g} tokens/s); raise rate"
            )
        if self.tokens > self.ceiling:
            raise ValueError(f"tokens per request ({self.tokens}) exceed the ceiling max_tokens + burst ({self.ceiling})")
        return self

    @property
    def bucket(self) -> BucketConfig:
        """The bucket settings alone."""
        return BucketConfig(**self.model_dump(include=set(BucketConfig.model_fields)))


def _demo_user(name: str, traffic: Traffic, rate: float, **bucket: Any) -> DemoUser:
    return DemoUser(name=name, traffic=traffic, rate=rate, **bucket)


# The same users as the [demo] section of the shipped config.toml (a test checks it).
DEFAULT_DEMO_USERS: tuple[DemoUser, ...] = (
    _demo_user("alice", "steady", 4, max_tokens=20, burst=0, refill_count=5, refill_interval=1.0),
    _demo_user("bob", "bursty", 3, max_tokens=10, burst=10, refill_count=2, refill_interval=1.0),
    _demo_user("carol", "idle", 0, max_tokens=15, burst=5, refill_count=1, refill_interval=1.0),
    _demo_user("dave", "throttled", 10, max_tokens=5, burst=0, refill_count=1, refill_interval=1.0),
    _demo_user("erin", "bursty", 8, max_tokens=10, burst=90, refill_count=10, refill_interval=1.0),
    _demo_user("frank", "steady", 0.5, max_tokens=30, burst=0, refill_count=1, refill_interval=10.0),
    _demo_user("user_123", "steady", 80, max_tokens=100, burst=20, refill_count=50, refill_interval=0.5),
    _demo_user("batch{nightly}", "bursty", 1, max_tokens=50, burst=0, refill_count=25, refill_interval=30.0),
)


class DemoSettings(_Section):
    """``[demo]``: the sample users of ``tbdash demo``."""

    seed: int | None = None
    users: list[DemoUser] = Field(default_factory=lambda: list(DEFAULT_DEMO_USERS))

    @field_validator("users")
    @classmethod
    def _unique(cls, users: list[DemoUser]) -> list[DemoUser]:
        seen: set[str] = set()
        for user in users:
            if user.name in seen:
                raise ValueError(f"user {user.name!r} appears twice")
            seen.add(user.name)
        return users


class Settings(_Section):
    """The whole of ``config.toml``."""

    redis: RedisSettings = Field(default_factory=RedisSettings)
    limiter: LimiterSettings = Field(default_factory=LimiterSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)

    _source_file: Path | None = PrivateAttr(default=None)
    _sources: dict[tuple[str | int, ...], list[str]] = PrivateAttr(default_factory=dict)
    _env: Mapping[str, str] | None = PrivateAttr(default=None)

    @property
    def source_file(self) -> Path | None:
        """The config file these settings came from, or None (defaults and environment only)."""
        return self._source_file

    def connection_spec(self, env: Mapping[str, str] | None = None) -> ConnectionSpec:
        """The `limiter.connect.ConnectionSpec` of ``[redis]``, passwords resolved.

        Password order: the URL, then ``password`` / ``password_file``, then the
        variable named by ``password_env`` (default ``TBDASH_REDIS_PASSWORD``).
        Raises `ConfigError` when a password file cannot be read.
        """
        env = env if env is not None else (self._env if self._env is not None else os.environ)
        r = self.redis
        spec = r._spec()  # validated at load, so this cannot fail
        fields = _spec_fields(spec)
        fields["password"] = self._password(spec.password, r.password, r.password_file, r.password_env, env, "password_file")
        if spec.mode == "sentinel":
            fields["sentinel_password"] = self._password(
                spec.sentinel_password,
                r.sentinel_password,
                r.sentinel_password_file,
                r.sentinel_password_env,
                env,
                "sentinel_password_file",
            )
        return ConnectionSpec(**fields)

    def _password(
        self,
        url_password: SecretStr | None,
        password: SecretStr | None,
        password_file: Path | None,
        password_env: str | None,
        env: Mapping[str, str],
        file_key: str,
    ) -> SecretStr | None:
        try:
            return resolve_password(
                url_password=url_password,
                password=password,
                password_file=password_file,
                password_env=password_env,
                env=env,
            )
        except InvalidConnection as exc:  # the file cannot be read; the message names it, not its content
            raise ConfigError([self._line(("redis", file_key), str(exc))]) from None

    def _line(self, loc: tuple[str | int, ...], problem: str) -> str:
        return f"{_source_of(loc, self._sources, self._source_file)}: {_field_path(loc)}: {problem}"


def _spec_fields(spec: ConnectionSpec) -> dict[str, Any]:
    return {name: getattr(spec, name) for name in ConnectionSpec.model_fields}


# --------------------------------------------------------------------------- loading


class ConfigLocation(NamedTuple):
    path: Path | None  # None: no file, built-in defaults
    named_by: str | None  # "--config" or "TBDASH_CONFIG" when named explicitly (it must exist then)


def find_config_file(
    config_path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> ConfigLocation:
    """Which config file to read: ``--config``, ``$TBDASH_CONFIG``, ``./config.toml``, the user's."""
    env = os.environ if env is None else env
    if config_path is not None and os.fspath(config_path) != "":
        return ConfigLocation(Path(config_path).expanduser(), "--config")
    if env.get(CONFIG_ENV):
        return ConfigLocation(Path(env[CONFIG_ENV]).expanduser(), CONFIG_ENV)
    if Path("config.toml").is_file():
        return ConfigLocation(Path("config.toml"), None)
    user = _user_config_dir(env) / "tbdash" / "config.toml"
    if user.is_file():
        return ConfigLocation(user, None)
    return ConfigLocation(None, None)


def _user_config_dir(env: Mapping[str, str]) -> Path:
    xdg = env.get("XDG_CONFIG_HOME", "")
    if xdg and Path(xdg).is_absolute():  # the XDG spec says to ignore relative values
        return Path(xdg)
    home = env.get("HOME")
    return (Path(home) if home else Path.home()) / ".config"


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Settings from the config file, the environment and ``overrides`` (see the module docstring).

    ``overrides`` holds command-line values, nested (``{"redis": {"url": ...}}``)
    or dotted (``{"redis.url": ...}``); ``None`` values are skipped, so argparse
    defaults can be passed as they are. Raises `ConfigError`.
    """
    env = os.environ if env is None else env
    path, named_by = find_config_file(config_path, env)
    layers: list[tuple[dict[str, Any], dict[tuple[str | int, ...], str]]] = []
    if path is not None:
        layers.append(_file_layer(path, named_by))
    layers.append(_env_layer(env))
    layers.append(_override_layer(overrides or {}))

    # A layer that sets one key of [limiter.default] changes that key of the
    # built-in default bucket; the other keys keep their defaults.
    data: dict[str, Any] = {"limiter": {"default": LimiterSettings().default.model_dump()}}
    sources: dict[tuple[str | int, ...], list[str]] = {}
    for layer, layer_sources in layers:
        _merge(data, sources, layer, layer_sources)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, data, sources, path)) from None
    settings._source_file = path
    settings._sources = sources
    settings._env = env
    return settings


def _file_layer(path: Path, named_by: str | None) -> tuple[dict[str, Any], dict[tuple[str | int, ...], str]]:
    label = os.fspath(path)
    if not path.exists():
        raise ConfigError([f"{label}: config file not found (named by {named_by or 'the lookup'})"])
    if path.is_dir():
        raise ConfigError([f"{label}: is a directory, not a config file"])
    try:
        with path.open("rb") as fp:
            data = tomllib.load(fp)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_toml_problem(label, exc)]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{label}: invalid TOML: the file is not UTF-8 text"]) from None
    except OSError as exc:
        raise ConfigError([f"{label}: cannot read: {exc.strerror or exc}"]) from None
    _anchor_paths(data, path.parent)
    return data, _leaf_sources(data, label)


def _toml_problem(label: str, exc: tomllib.TOMLDecodeError) -> str:
    message = str(exc)
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if match:
        message = message[: match.start()]
        return f"{label}: line {match.group(1)}, column {match.group(2)}: invalid TOML: {message}"
    return f"{label}: invalid TOML: {message}"


def _anchor_paths(data: dict[str, Any], base: Path) -> None:
    redis = data.get("redis")
    if not isinstance(redis, dict):
        return
    for key in _PATH_KEYS:
        value = redis.get(key)
        if isinstance(value, str) and value and not value.startswith("~") and not os.path.isabs(value):
            redis[key] = os.fspath(base / value)


def _env_layer(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[tuple[str | int, ...], str]]:
    data: dict[str, Any] = {}
    sources: dict[tuple[str | int, ...], str] = {}
    problems: list[str] = []
    for name in sorted(env):
        if not name.upper().startswith(ENV_PREFIX) or "__" not in name:
            continue  # TBDASH_CONFIG, TBDASH_REDIS_PASSWORD, ... are not overrides
        parts = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
        if any(part == "" for part in parts):
            problems.append(f"{name}: malformed name; use TBDASH_<SECTION>__<KEY>, e.g. TBDASH_REDIS__URL")
            continue
        _set_path(data, parts, _env_value(env[name], _annotation_at(parts)))
        sources[parts] = name
    if problems:
        raise ConfigError(problems)
    return data, sources


def _env_value(raw: str, annotation: Any) -> Any:
    """An environment string as a TOML scalar when it parses as one, else as the string."""
    try:
        parsed: Any = tomllib.loads(f"v = {raw}")["v"]
        ok = True
    except tomllib.TOMLDecodeError:
        parsed, ok = raw, False
    kind = _kind(annotation)
    if _strip_optional(annotation) is SecretStr:
        return raw  # a password is exactly what was set, quotes and all
    if kind == "str":  # prefix = 123 is the string "123"; a quoted value loses its quotes
        return parsed if ok and isinstance(parsed, str) else raw
    if kind == "list":
        return parsed if ok and isinstance(parsed, list) else raw  # the model splits "a,b"
    return parsed if ok else raw


def _override_layer(overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[tuple[str | int, ...], str]]:
    data: dict[str, Any] = {}
    for key, value in _flatten(overrides):
        if value is not None:
            _set_path(data, key, value)
    sources = {}
    for path in _leaf_sources(data, "command line"):
        flag = OVERRIDE_FLAGS.get(path[:2]) if len(path) == 2 else None
        sources[path] = f"command line {flag}" if flag else "command line"
    return data, sources


def _flatten(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    items: list[tuple[tuple[str, ...], Any]] = []
    for key, value in tree.items():
        path = prefix + tuple(key.replace("-", "_").split("."))
        if isinstance(value, Mapping):
            items += _flatten(value, path)
        else:
            items.append((path, value))
    return items


def _set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def _leaf_sources(data: Mapping[str, Any], label: str, prefix: tuple[str | int, ...] = ()) -> dict[tuple[str | int, ...], str]:
    sources: dict[tuple[str | int, ...], str] = {}
    for key, value in data.items():
        path = prefix + (key,)
        if isinstance(value, Mapping) and value:
            sources.update(_leaf_sources(value, label, path))
        else:
            sources[path] = label
    return sources


def _merge(
    data: dict[str, Any],
    sources: dict[tuple[str | int, ...], list[str]],
    layer: dict[str, Any],
    layer_sources: dict[tuple[str | int, ...], str],
) -> None:
    """Lay ``layer`` over ``data``: leaves replace leaves, tables merge key by key."""
    new_redis = layer.get("redis")
    if isinstance(new_redis, dict) and ("url" in new_redis or "mode" in new_redis):
        old_redis = data.get("redis")
        if isinstance(old_redis, dict):
            for key in _TARGET_KEYS:
                old_redis.pop(key, None)
                sources.pop(("redis", key), None)
    for path, label in layer_sources.items():
        value = _get_path(layer, path)
        if value == {} and isinstance(_find(data, path), dict):
            continue  # an empty [table] changes nothing
        _set_path(data, tuple(str(p) for p in path), value)
        for stale in [p for p in sources if p[: len(path)] == path and len(p) > len(path)]:
            del sources[stale]
        sources[path] = [label]
        for depth in range(1, len(path)):
            trail = sources.setdefault(path[:depth], [])
            if label not in trail:
                trail.append(label)


def _find(data: Mapping[str, Any], path: tuple[str | int, ...]) -> Any:
    try:
        return _get_path(data, path)
    except (KeyError, TypeError):
        return None


def _get_path(data: Mapping[str, Any], path: tuple[str | int, ...]) -> Any:
    node: Any = data
    for part in path:
        node = node[part]
    return node


# --------------------------------------------------------------------------- model walking


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _annotation_at(path: tuple[str | int, ...]) -> Any:
    """The type of the field at ``path`` of `Settings`, or None if there is no such field."""
    annotation: Any = Settings
    for part in path:
        annotation = _strip_optional(annotation)
        if isinstance(part, int):
            args = typing.get_args(annotation)
            if typing.get_origin(annotation) is not list or not args:
                return None
            annotation = args[0]
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(part)
            if field is None:
                return None
            annotation = field.annotation
        else:
            return None
    return annotation


def _kind(annotation: Any) -> str:
    annotation = _strip_optional(annotation)
    if annotation in (str, SecretStr, Path) or typing.get_origin(annotation) is Literal:
        return "str"
    if typing.get_origin(annotation) is list:
        return "list"
    return "other"


# --------------------------------------------------------------------------- error messages


def _problems(
    exc: ValidationError,
    data: Mapping[str, Any],
    sources: dict[tuple[str | int, ...], list[str]],
    path: Path | None,
) -> list[str]:
    lines = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        lines.append(f"{_source_of(loc, sources, path)}: {_field_path(loc)}: {_describe_error(error, loc)}")
    return list(dict.fromkeys(lines))  # a union can repeat one problem


def _source_of(loc: tuple[Any, ...], sources: Mapping[tuple[Any, ...], list[str]], path: Path | None) -> str:
    """Where the value at ``loc`` came from: the deepest recorded ancestor's source(s)."""
    for depth in range(len(loc), 0, -1):
        labels = sources.get(tuple(loc[:depth]))
        if labels:
            return " + ".join(labels)
    return os.fspath(path) if path is not None else "built-in defaults"


def _field_path(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _is_secret(loc: tuple[Any, ...]) -> bool:
    return any(isinstance(p, str) and ("password" in p or "secret" in p) for p in loc)


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _describe_error(error: Mapping[str, Any], loc: tuple[Any, ...]) -> str:
    kind = error["type"]
    ctx = {key: _number(value) for key, value in (error.get("ctx") or {}).items()}
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    if kind in ("value_error", "assertion_error"):
        return str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    simple = {
        "missing": "is required",
        "greater_than_equal": f"must be >= {ctx.get('ge')}",
        "greater_than": f"must be > {ctx.get('gt')}",
        "less_than_equal": f"must be <= {ctx.get('le')}",
        "less_than": f"must be < {ctx.get('lt')}",
        "literal_error": f"must be one of {ctx.get('expected')}",
        "int_parsing": "must be a whole number",
        "int_type": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_parsing": "must be a number",
        "float_type": "must be a number",
        "finite_number": "must be a finite number",
        "bool_parsing": "must be true or false",
        "bool_type": "must be true or false",
        "string_type": "must be a string",
        "string_too_short": "must not be empty",
        "string_too_long": f"must be at most {ctx.get('max_length')} characters",
        "list_type": "must be a list (a TOML array)",
        "model_type": "must be a table",
        "dict_type": "must be a table",
        "model_attributes_type": "must be a table",
        "path_type": "must be a file path",
    }
    message = simple.get(kind, str(error["msg"]))
    if kind != "missing":
        message += _got(error.get("input"), loc)
    return message


def _got(value: Any, loc: tuple[Any, ...]) -> str:
    if _is_secret(loc) or isinstance(value, (dict, list)):
        return ""
    shown = redact(value) if isinstance(value, str) else value
    text = repr(shown)
    return f" (got {text if len(text) <= 60 else text[:57] + '...'})"


def _unknown_key(loc: tuple[Any, ...]) -> str:
    parent = _annotation_at(loc[:-1]) if loc else None
    parent = _strip_optional(parent)
    what = "section" if len(loc) == 1 else "key"
    if not (isinstance(parent, type) and issubclass(parent, BaseModel)):
        return f"unknown {what}"
    allowed = list(parent.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {what}{hint} (allowed: {', '.join(allowed)})"
