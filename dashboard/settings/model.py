"""`TbdashSettings`: the whole of ``config.toml``, and the connection it names with every password resolved."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from pydantic import Field, PrivateAttr, SecretStr

from dashboard.connection import Embedded, Target, resolve_password
from dashboard.settings.errors import ConfigError, problem_line
from dashboard.settings.metrics import MetricsSettings
from dashboard.settings.redis import RedisSettings, Section
from dashboard.settings.sections import DashboardSettings, DemoSettings, LimiterSettings
from limiter.connect import ConnectionSpec, InvalidConnection


class TbdashSettings(Section):
    """The whole of ``config.toml`` (not `limiter.model.Settings`, the bucket model's own settings)."""

    redis: RedisSettings = Field(default_factory=RedisSettings)
    limiter: LimiterSettings = Field(default_factory=LimiterSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    _source_file: Path | None = PrivateAttr(default=None)
    _sources: dict[tuple[str | int, ...], list[str]] = PrivateAttr(default_factory=dict)
    _env: Mapping[str, str] | None = PrivateAttr(default=None)

    @property
    def source_file(self) -> Path | None:
        """The config file these settings came from, or None (defaults and environment only)."""
        return self._source_file

    def connection_spec(self, env: Mapping[str, str] | None = None) -> Target:
        """What ``[redis]`` names, passwords resolved: a `limiter.connect.ConnectionSpec`, or `Embedded`.

        Password order: the URL, then ``password`` / ``password_file``, then the
        variable named by ``password_env`` (default ``TBDASH_REDIS_PASSWORD``).
        Raises `ConfigError` when a password file cannot be read.
        """
        env = env if env is not None else (self._env if self._env is not None else os.environ)
        r = self.redis
        spec = r.url_spec()  # validated at load, so this cannot fail
        if isinstance(spec, Embedded):
            return spec
        fields: dict[str, Any] = {name: getattr(spec, name) for name in ConnectionSpec.model_fields}
        fields["password"] = self._password(spec.password, r.password, r.password_file, r.password_env, env, "password_file")
        if spec.mode == "sentinel":
            fields["sentinel_password"] = self._password(
                spec.sentinel_password, r.sentinel_password, r.sentinel_password_file, r.sentinel_password_env, env, "sentinel_password_file"
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
            return resolve_password(url_password=url_password, password=password, password_file=password_file, password_env=password_env, env=env)
        except InvalidConnection as exc:  # the file cannot be read; the message names it, not its content
            raise ConfigError([problem_line(("redis", file_key), str(exc), self._sources, self._source_file)]) from None
