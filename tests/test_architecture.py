"""The layout holds: the import contracts (import-linter) and the type check (mypy), as configured in pyproject.toml.

Run here, so the README's one test command (and so .ci/run) checks them. Each
takes seconds; their own output says what broke.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)


def test_import_contracts_hold() -> None:
    """limiter imports nothing of dashboard; the headless core no textual; widgets no redis; one-way layers."""
    result = _run(str(Path(sys.executable).with_name("lint-imports")), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_types_check() -> None:
    """mypy: strict on limiter.connect and the middleware, the normal level on the rest (see [tool.mypy])."""
    result = _run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout
