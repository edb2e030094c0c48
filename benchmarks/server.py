"""The benchmark's private redis-server: ``dashboard.embedded.EmbeddedRedis``.

A fresh server on a free loopback port, no persistence (``--save ""``, no
AOF), stopped by its pid when the run ends. The machine's own Redis
(127.0.0.1:6379) is never used.
"""

from __future__ import annotations

from dashboard.embedded import EmbeddedRedis, default_redis_server, probe_binary


class PrivateRedis:
    """``with PrivateRedis() as server:`` → a fresh redis-server on ``server.port``."""

    def __init__(self, binary: str | None = None) -> None:
        self._binary = probe_binary(binary) if binary else default_redis_server()
        self._process = EmbeddedRedis(self._binary)

    @property
    def binary(self) -> str:
        return self._binary.path

    @property
    def version(self) -> str:
        return self._binary.version_string

    @property
    def port(self) -> int:
        return self._process.port

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def __enter__(self) -> PrivateRedis:
        self._process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._process.stop()
