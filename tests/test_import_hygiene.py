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
        "import dashboard.settings, dashboard.embedded, dashboard.cli\n"
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


BLOCK_WEB = """
import sys

BLOCKED = ("prometheus_client", "starlette", "flask", "werkzeug", "uvicorn", "waitress", "httpx", "http_sf",
           "fastapi", "a2wsgi")

class NoWebPackages:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not installed (blocked by the test)")
        return None

sys.meta_path.insert(0, NoWebPackages())
"""


def test_the_middleware_and_the_core_import_and_run_without_any_extra() -> None:
    # The middleware is pure ASGI / WSGI, and prometheus_client is imported only
    # when counters are asked for: tbdash[asgi] and tbdash[wsgi] need nothing more.
    code = BLOCK_WEB + (
        "import asyncio\n"
        "import limiter, limiter.asgi, limiter.wsgi, limiter.web, limiter.metrics\n"
        "import limiter.http_headers, limiter.client_address, limiter.request_view\n"
        "from limiter import BucketConfig, ConditionBucket\n"
        "bucket = ConditionBucket(BucketConfig(max_tokens=1, refill_interval=3600))\n"
        "def ok(environ, start_response):\n"
        "    start_response('200 OK', [])\n"
        "    return [b'ok']\n"
        "seen = []\n"
        "wsgi = limiter.wsgi.RateLimitMiddleware(ok, bucket)\n"
        "env = {'REQUEST_METHOD': 'GET', 'PATH_INFO': '/', 'REMOTE_ADDR': '192.0.2.1'}\n"
        "wsgi(env, lambda status, headers, exc_info=None: seen.append(status))\n"
        "async def app(scope, receive, send):\n"
        "    raise AssertionError('the bucket is empty: the app is not called')\n"
        "async def send(message):\n"
        "    seen.append(message.get('status'))\n"
        "scope = {'type': 'http', 'method': 'GET', 'path': '/', 'headers': [], 'client': ('192.0.2.1', 1)}\n"
        "asyncio.run(limiter.asgi.RateLimitMiddleware(app, bucket)(scope, None, send))\n"
        "assert seen == ['200 OK', 429, None], seen\n"
        "try:\n"
        "    limiter.metrics.counted(bucket, object())\n"
        "except ImportError as exc:\n"
        "    assert \"pip install 'tbdash[metrics]'\" in str(exc), exc\n"
        "else:\n"
        "    raise AssertionError('counters without prometheus_client')\n"
        "leaked = [m for m in sys.modules if m.split('.')[0] in BLOCKED]\n"
        "assert not leaked, leaked\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_web_blocker_really_blocks() -> None:
    result = subprocess.run([sys.executable, "-c", BLOCK_WEB + "import prometheus_client"], capture_output=True, text=True)
    assert result.returncode != 0 and "blocked by the test" in result.stderr
