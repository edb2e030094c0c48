"""Writing one setting back to a config file, keeping everything else in it (comments, order, layout).

Only the dashboard writes, and only what the operator chose in it (the
theme): the file's other keys and comments are left as they are (tomlkit
edits the document, it does not re-serialise a dict). The new text replaces
the file at once (a temporary file in the same directory, then a rename), so
a crash never leaves half a config; its permissions are kept.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Mapping

import tomlkit
from tomlkit.exceptions import TOMLKitError

from dashboard.settings.errors import ConfigError
from dashboard.settings.files import _user_config_dir


def user_config_file(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/tbdash/config.toml`` (else ``~/.config/tbdash/config.toml``)."""
    return _user_config_dir(os.environ if env is None else env) / "tbdash" / "config.toml"


def save_setting(path: Path, section: str, key: str, value: str) -> Path:
    """Set ``[section] key = value`` in the TOML file at ``path`` (created, with its directory, if missing)."""
    label = os.fspath(path)
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        document = tomlkit.parse(text)
    except (TOMLKitError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{label}: not saved: the file is not valid TOML ({exc})"]) from None
    except OSError as exc:
        raise ConfigError([f"{label}: not saved: cannot read: {exc.strerror or exc}"]) from None
    table = document.get(section)
    if table is None:
        document[section] = table = tomlkit.table()
    elif not isinstance(table, dict):
        raise ConfigError([f"{label}: not saved: {section} is not a table"])
    table[key] = value
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                out.write(tomlkit.dumps(document))
            os.chmod(temporary, mode)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError([f"{label}: not saved: cannot write: {exc.strerror or exc}"]) from None
    return path
