"""What every command shares: settings, output streams, secrets to scrub, and the connection."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, TextIO

from dashboard.cli.errors import Failed, UsageError, from_failure
from dashboard.core.failures import ACL_HINT, explain
from limiter.redaction import scrub

if TYPE_CHECKING:
    from dashboard.connection import Target
    from dashboard.core.protocol import Backend
    from dashboard.settings import TbdashSettings


@dataclass
class Context:
    args: argparse.Namespace
    settings: TbdashSettings
    out: TextIO
    err: TextIO
    secrets: list[str]

    def print(self, text: str = "") -> None:
        write(self.out, scrub(text, self.secrets))

    def note(self, text: str) -> None:
        write(self.err, scrub(text, self.secrets))


def write(stream: TextIO, text: str) -> None:
    """One line; a stream that cannot encode a character gets its escape instead of a crash."""
    try:
        print(text, file=stream)
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "ascii"
        print(text.encode(encoding, "backslashreplace").decode(encoding, "replace"), file=stream)


def load_settings(args: argparse.Namespace) -> TbdashSettings:
    from dashboard.settings import ConfigError, load_settings as load
    from limiter.connect import InvalidConnection

    overrides = {
        "redis.url": args.url,
        "limiter.prefix": args.prefix,
        "dashboard.read_only": True if args.read_only else None,
    }
    try:
        return load(args.config, overrides=overrides)
    except ConfigError as exc:
        raise UsageError("tbdash: " + "; ".join(exc.problems)) from None
    except InvalidConnection as exc:
        raise UsageError(f"tbdash: --url: {exc}") from None


def secrets_of(settings: TbdashSettings) -> list[str]:
    try:
        spec = settings.connection_spec()
    except Exception:  # a password file that cannot be read is reported when connecting
        return []
    found = []
    for secret in (spec.password, spec.sentinel_password):
        if secret is not None:
            from urllib.parse import quote

            value = secret.get_secret_value()
            found += [value, quote(value, safe="")]
    return [s for s in found if len(s) >= 3]


def _target(ctx: Context, url: str | None) -> Target | None:
    from dashboard.connection import parse_target

    try:
        return parse_target(url) if url is not None else ctx.settings.connection_spec()
    except Exception:
        return None


def endpoint(spec: Target | None) -> str | None:
    """Where Redis was looked for: host:port list or socket path (never a password)."""
    if spec is None or spec.mode == "embedded":
        return None
    if spec.unix_path is not None:
        return f"unix:{spec.unix_path}"
    hosts = [str(h) for h in spec.hosts[:4]]
    more = f",… (+{len(spec.hosts) - 4} more)" if len(spec.hosts) > 4 else ""
    return ",".join(hosts) + more


def redis_error(ctx: Context, exc: BaseException, *, url: str | None = None, hint: str = ACL_HINT, prefix: str = "tbdash") -> Exception:
    """The CLI error (exit 3, 2 or 1) for a failure talking to Redis: one line, endpoint named."""
    spec = _target(ctx, url)
    user = (spec.username if spec is not None else None) or "default"
    return from_failure(explain(exc, endpoint(spec), user=user, hint=hint), prefix)


def start_embedded(ctx: Context) -> tuple[str, Callable[[], None]]:
    from dashboard.embedded import EmbeddedRedis, RedisServerError

    try:
        process = EmbeddedRedis(unix_socket=True).start()
    except RedisServerError as exc:
        raise Failed(f"tbdash: cannot start the embedded redis-server: {exc}") from None
    return process.url, process.stop


def server_for(ctx: Context) -> tuple[str | None, Callable[[], None]]:
    """For ``mode = "embedded"``: start a private redis-server; (its URL, a stopper)."""
    if ctx.settings.redis.effective_mode != "embedded":
        return None, lambda: None
    return start_embedded(ctx)


async def open_backend(ctx: Context, url: str | None, *, embedded: bool = False) -> Backend:
    """The one connected backend of a command; exit 3 (or 2) with one line when Redis cannot be used.

    ``url``: the private server started for ``embedded`` (``tbdash demo``, ``mode = "embedded"``)."""
    from dashboard.core.backend import RedisBackend
    from dashboard.settings import ConfigError
    from limiter.connect import InvalidConnection

    try:
        backend = RedisBackend.from_settings(ctx.settings, url=url, embedded=embedded)
    except ConfigError as exc:
        raise UsageError("tbdash: " + "; ".join(exc.problems)) from None
    except InvalidConnection as exc:
        raise UsageError(f"tbdash: {exc}") from None
    except Exception as exc:  # a cluster client may contact a node at once
        raise redis_error(ctx, exc, url=url) from None
    try:
        await backend.connect()
    except Exception as exc:
        await quiet_close(backend)
        raise redis_error(ctx, exc, url=url) from None
    return backend


async def quiet_close(backend: Backend) -> None:
    try:
        await backend.aclose()
    except Exception:
        pass  # closing after a failure: the first error is the one to report
