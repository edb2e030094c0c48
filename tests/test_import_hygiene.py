"""`limiter` and the dashboard's headless core work where textual is not installed."""

from __future__ import annotations

import subprocess
import sys

BLOCK_TEXTUAL = """
import sys

class NoTextual:
    def find_spec(self, name, path=None, target=None):
        if name == "textual" or name.startswith(("textual.", "textual_plotext", "plotext")):
            raise ImportError(f"{name} is not installed (blocked by the test)")
        return None

sys.meta_path.insert(0, NoTextual())
"""


def test_limiter_and_the_headless_core_import_without_textual() -> None:
    code = BLOCK_TEXTUAL + (
        "import limiter, limiter.connect, limiter.model, limiter.condition, limiter.script\n"
        "import dashboard.settings, dashboard.servers, dashboard.cli\n"
        "import dashboard.core.backend, dashboard.core.poller, dashboard.core.loadgen, dashboard.core.audit\n"
        "import dashboard.core.demo, dashboard.core.history, dashboard.core.discovery\n"
        "from limiter import BucketConfig, ConditionBucket\n"
        "with ConditionBucket(BucketConfig(max_tokens=2)) as b:\n"
        "    assert b.try_acquire(2) and not b.try_acquire()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_blocker_really_blocks() -> None:
    # The test above proves nothing if textual could be imported under it.
    result = subprocess.run([sys.executable, "-c", BLOCK_TEXTUAL + "import textual"], capture_output=True, text=True)
    assert result.returncode != 0 and "blocked by the test" in result.stderr
