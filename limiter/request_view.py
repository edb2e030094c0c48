"""`RequestView`: the one picture of a request that ``key`` and ``cost`` callables see.

The ASGI and WSGI middleware build the same view, so one ``key`` function
works under Starlette, FastAPI, Flask or Django alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

UNKNOWN_CLIENT = "unknown"  # the default key when the client's address cannot be known


class Headers:
    """Request headers, read-only, names case-insensitive; values as the server decoded them (latin-1)."""

    __slots__ = ("_pairs",)

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = [(name.lower(), value) for name, value in pairs]

    def get(self, name: str, default: str | None = None) -> str | None:
        """All values of ``name`` joined by ``", "`` (RFC 9110 §5.3), or ``default``."""
        values = self.getlist(name)
        return ", ".join(values) if values else default

    def getlist(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self._pairs if key == name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(key == name.lower() for key, _ in self._pairs)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(key for key, _ in self._pairs))

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def __repr__(self) -> str:
        return f"Headers({sorted(set(self))!r})"  # names only: values may be credentials


@dataclass(frozen=True)
class RequestView:
    """What ``key(request)`` and ``cost(request)`` get.

    ``client`` is the client's address after the ``trusted_proxies`` rule
    (None when it cannot be known); ``peer`` the immediate peer's address as
    the server reports it. ``path`` is percent-decoded; ``query`` raw.
    ``raw`` is the ASGI scope or the WSGI environ, for anything else.
    """

    method: str
    path: str
    query: str
    headers: Headers
    client: str | None
    peer: str | None
    raw: Any

    def __repr__(self) -> str:
        return f"<RequestView {self.method} {self.path!r} client={self.client!r}>"


def client_address_key(request: RequestView) -> str:
    """The default ``key``: one bucket per client address (``"unknown"`` when there is none)."""
    return request.client or UNKNOWN_CLIENT


def asgi_headers(scope: dict[str, Any]) -> Headers:
    return Headers([(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope.get("headers", ())])


def wsgi_headers(environ: dict[str, Any]) -> Headers:
    pairs = []
    for name, value in environ.items():
        if name.startswith("HTTP_"):
            pairs.append((name[5:].replace("_", "-"), value))
        elif name in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            pairs.append((name.replace("_", "-"), value))
    return Headers(pairs)


def wsgi_path(environ: dict[str, Any]) -> str:
    """SCRIPT_NAME + PATH_INFO as text: PEP 3333 gives them as latin-1-decoded bytes."""
    script: str = environ.get("SCRIPT_NAME", "")
    path: str = environ.get("PATH_INFO", "")
    raw = (script + path).encode("latin-1", "replace")
    return raw.decode("utf-8", "replace")
