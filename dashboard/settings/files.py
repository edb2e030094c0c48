"""Which config file, and reading it: TOML errors with line and column, relative paths anchored to the file."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any, Mapping, NamedTuple

from dashboard.settings.errors import ConfigError
from dashboard.settings.redis import PATH_KEYS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 needs the backport (same API)
    import tomli as tomllib

CONFIG_ENV = "TBDASH_CONFIG"


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


def read_config_file(path: Path, named_by: str | None) -> dict[str, Any]:
    """The file's tables, relative paths made relative to the file. Raises `ConfigError` naming the file."""
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
    return data


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
    for key in PATH_KEYS:
        value = redis.get(key)
        if isinstance(value, str) and value and not value.startswith("~") and not os.path.isabs(value):
            redis[key] = os.fspath(base / value)


def toml_scalar(raw: str) -> tuple[Any, bool]:
    """(value, True) when ``raw`` parses as a TOML value, else (raw, False)."""
    try:
        return tomllib.loads(f"v = {raw}")["v"], True
    except tomllib.TOMLDecodeError:
        return raw, False
