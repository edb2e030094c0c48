"""tbdash settings: ``config.toml``, environment overrides and command-line flags.

Lookup (files.py): ``--config PATH``, then ``$TBDASH_CONFIG``, then
``./config.toml``, then ``$XDG_CONFIG_HOME/tbdash/config.toml``
(``~/.config/tbdash/config.toml``), else built-in defaults. A file named
explicitly (flag or variable) must exist.

Precedence, highest first (layers.py): command-line flags (``overrides``),
environment variables ``TBDASH_<SECTION>__<KEY>[__<KEY>...]``
(``TBDASH_REDIS__URL``, ``TBDASH_LIMITER__DEFAULT__MAX_TOKENS``; values read as
TOML scalars when they parse, else as strings), the file, the defaults.

The models: ``[redis]`` in redis.py, ``[limiter]``, ``[dashboard]`` and
``[demo]`` in sections.py, ``[metrics]`` in metrics.py, the whole file in model.py. Every problem becomes
one line of a `ConfigError` (errors.py) naming where the value came from (file,
variable or flag), the field and what is wrong. Secret values are never shown.
Nothing here imports textual.
"""

from __future__ import annotations

from dashboard.settings.errors import ConfigError
from dashboard.settings.files import CONFIG_ENV, ConfigLocation, find_config_file
from dashboard.settings.layers import ENV_PREFIX, OVERRIDE_FLAGS, load_settings
from dashboard.settings.metrics import DEFAULT_LISTEN, ListenAddress, MetricsSettings, parse_listen
from dashboard.settings.model import TbdashSettings
from dashboard.settings.redis import DEFAULT_URL, RedisSettings
from dashboard.settings.sections import (
    DEFAULT_BUCKET,
    DEFAULT_DEMO_USERS,
    DashboardSettings,
    DemoSettings,
    DemoUser,
    LimiterSettings,
)

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_BUCKET",
    "DEFAULT_DEMO_USERS",
    "DEFAULT_LISTEN",
    "DEFAULT_URL",
    "ENV_PREFIX",
    "OVERRIDE_FLAGS",
    "ConfigError",
    "ConfigLocation",
    "DashboardSettings",
    "DemoSettings",
    "DemoUser",
    "LimiterSettings",
    "ListenAddress",
    "MetricsSettings",
    "RedisSettings",
    "TbdashSettings",
    "find_config_file",
    "load_settings",
    "parse_listen",
]
