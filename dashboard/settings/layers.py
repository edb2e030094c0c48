"""Settings in layers: the file, then environment variables, then command-line flags, each remembered by source.

Each layer is a nested dict plus the source of each leaf (the file's path, a
variable's name, ``command line --url``), so an error names where the bad value
came from. pydantic-settings layers the same sources but forgets which one
gave a value, and that is the first thing an operator needs to know.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from pydantic import ValidationError

from dashboard.settings.errors import ConfigError, problems_of
from dashboard.settings.fields import annotation_at, kind
from dashboard.settings.files import find_config_file, read_config_file, toml_scalar
from dashboard.settings.model import TbdashSettings
from dashboard.settings.redis import TARGET_KEYS
from dashboard.settings.sections import DEFAULT_BUCKET

ENV_PREFIX = "TBDASH_"
# Command-line flags that reach load_settings as overrides, so an error can name the flag.
Path_ = tuple[str | int, ...]
OVERRIDE_FLAGS: dict[Path_, str] = {("redis", "url"): "--url", ("limiter", "prefix"): "--prefix", ("dashboard", "read_only"): "--read-only"}
Layer = tuple[dict[str, Any], dict[Path_, str]]


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> TbdashSettings:
    """Settings from the config file, the environment and ``overrides`` (see `dashboard.settings`).

    ``overrides`` holds command-line values, nested (``{"redis": {"url": ...}}``)
    or dotted (``{"redis.url": ...}``); ``None`` values are skipped, so argparse
    defaults can be passed as they are. Raises `ConfigError`.
    """
    env = os.environ if env is None else env
    path, named_by = find_config_file(config_path, env)
    layers: list[Layer] = []
    if path is not None:
        data = read_config_file(path, named_by)
        layers.append((data, leaf_sources(data, os.fspath(path))))
    layers.append(env_layer(env))
    layers.append(override_layer(overrides or {}))

    # A layer that sets one key of [limiter.default] changes that key of the
    # built-in default bucket; the other keys keep their defaults.
    merged: dict[str, Any] = {"limiter": {"default": DEFAULT_BUCKET.model_dump()}}
    sources: dict[Path_, list[str]] = {}
    for layer, layer_sources in layers:
        merge(merged, sources, layer, layer_sources)
    try:
        settings = TbdashSettings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(problems_of(exc, TbdashSettings, sources, path)) from None
    settings._source_file = path
    settings._sources = sources
    settings._env = env
    return settings


def env_layer(env: Mapping[str, str]) -> Layer:
    data: dict[str, Any] = {}
    sources: dict[Path_, str] = {}
    problems: list[str] = []
    for name in sorted(env):
        if not name.upper().startswith(ENV_PREFIX) or "__" not in name:
            continue  # TBDASH_CONFIG, TBDASH_REDIS_PASSWORD, ... are not overrides
        parts = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
        if any(part == "" for part in parts):
            problems.append(f"{name}: malformed name; use TBDASH_<SECTION>__<KEY>, e.g. TBDASH_REDIS__URL")
            continue
        set_path(data, parts, env_value(env[name], kind(annotation_at(TbdashSettings, parts))))
        sources[parts] = name
    if problems:
        raise ConfigError(problems)
    return data, sources


def env_value(raw: str, field_kind: str) -> Any:
    """An environment string as a TOML scalar when it parses as one, else as the string."""
    if field_kind == "secret":
        return raw  # a password is exactly what was set, quotes and all
    parsed, ok = toml_scalar(raw)
    if field_kind == "str":  # prefix = 123 is the string "123"; a quoted value loses its quotes
        return parsed if ok and isinstance(parsed, str) else raw
    if field_kind == "list":
        return parsed if ok and isinstance(parsed, list) else raw  # the model splits "a,b"
    return parsed if ok else raw


def override_layer(overrides: Mapping[str, Any]) -> Layer:
    data: dict[str, Any] = {}
    for key, value in _flatten(overrides):
        if value is not None:
            set_path(data, key, value)
    sources = {}
    for path in leaf_sources(data, "command line"):
        flag = OVERRIDE_FLAGS.get(path) if len(path) == 2 else None
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


def set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def leaf_sources(data: Mapping[str, Any], label: str, prefix: Path_ = ()) -> dict[Path_, str]:
    sources: dict[Path_, str] = {}
    for key, value in data.items():
        path = prefix + (key,)
        if isinstance(value, Mapping) and value:
            sources.update(leaf_sources(value, label, path))
        else:
            sources[path] = label
    return sources


def merge(data: dict[str, Any], sources: dict[Path_, list[str]], layer: dict[str, Any], layer_sources: dict[Path_, str]) -> None:
    """Lay ``layer`` over ``data``: leaves replace leaves, tables merge key by key."""
    new_redis = layer.get("redis")
    if isinstance(new_redis, dict) and ("url" in new_redis or "mode" in new_redis):
        old_redis = data.get("redis")
        if isinstance(old_redis, dict):
            for key in TARGET_KEYS:
                old_redis.pop(key, None)
                sources.pop(("redis", key), None)
    for path, label in layer_sources.items():
        value = _get_path(layer, path)
        if value == {} and isinstance(_find(data, path), dict):
            continue  # an empty [table] changes nothing
        set_path(data, tuple(str(p) for p in path), value)
        for stale in [p for p in sources if p[: len(path)] == path and len(p) > len(path)]:
            del sources[stale]
        sources[path] = [label]
        for depth in range(1, len(path)):
            trail = sources.setdefault(path[:depth], [])
            if label not in trail:
                trail.append(label)


def _find(data: Mapping[str, Any], path: Path_) -> Any:
    try:
        return _get_path(data, path)
    except (KeyError, TypeError):
        return None


def _get_path(data: Mapping[str, Any], path: Path_) -> Any:
    node: Any = data
    for part in path:
        node = node[part]
    return node

