"""Real HTTP servers for the middleware tests: uvicorn running a Starlette app, waitress running a Flask app.

Each `AppServer` is a subprocess on a free loopback port, running
``tests/middleware_apps.py`` configured by a JSON document in its
environment. ``start()`` returns once ``/health`` answers; ``stop()`` ends the
process by its pid (SIGTERM, then SIGKILL). Its stdout and stderr go to a log
file the tests read (the middleware's log lines land there).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from dashboard.embedded import free_port

TESTS_DIR = Path(__file__).resolve().parent
REPO_DIR = TESTS_DIR.parent
STACKS = ("uvicorn-starlette", "waitress-flask")
CONFIG_ENV = "MW_TEST_APP_CONFIG"


class AppServerError(RuntimeError):
    pass


class AppServer:
    """One app server process; ``stack`` is one of `STACKS`."""

    def __init__(self, stack: str, config: dict[str, Any], log_dir: Path, startup_timeout: float = 30.0) -> None:
        if stack not in STACKS:
            raise ValueError(f"stack must be one of {STACKS} (got {stack!r})")
        self.stack = stack
        self.config = config
        self.log_path = log_dir / f"{stack}.log"
        self.startup_timeout = startup_timeout
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _command(self) -> list[str]:
        if self.stack == "uvicorn-starlette":
            return [sys.executable, "-m", "uvicorn", "middleware_apps:starlette_app", "--factory",
                    "--host", "127.0.0.1", "--port", str(self.port), "--app-dir", str(TESTS_DIR),
                    "--log-level", "warning", "--no-access-log", "--lifespan", "on",
                    # uvicorn rewrites scope["client"] from X-Forwarded-For when the peer is
                    # 127.0.0.1 (its default): off, so the middleware alone reads the header.
                    "--no-proxy-headers"]
        return [sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{self.port}", "--threads=8",
                # waitress 3 deletes X-Forwarded-For and Forwarded unless told not to.
                "--no-clear-untrusted-proxy-headers",
                "--call", "middleware_apps:flask_app"]

    def start(self) -> AppServer:
        for _attempt in range(3):  # another process may take the free port before the server binds it
            self.port = free_port()
            env = {**os.environ, CONFIG_ENV: json.dumps(self.config),
                   "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), str(REPO_DIR), os.environ.get("PYTHONPATH", "")])}
            with open(self.log_path, "ab") as log:
                self._proc = subprocess.Popen(self._command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                                              cwd=str(TESTS_DIR), start_new_session=True)
            if self._wait_ready():
                return self
            if "address already in use" not in self.log_text().lower():
                break
        tail = "\n".join(self.log_text().splitlines()[-30:])
        self.stop()
        raise AppServerError(f"{self.stack} did not start on 127.0.0.1:{self.port}; its log ends:\n{tail}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        assert self._proc is not None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            try:
                if httpx.get(self.url + "/health", timeout=2.0).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        return False

    def stop(self, grace: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: the server and any worker it forked
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def client(source: str = "127.0.0.1", **kwargs: Any) -> httpx.Client:
    """An httpx client whose connections come from ``source`` (any 127.0.0.0/8 address on Linux)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=30.0, **kwargs)


def decisions(server: AppServer) -> dict[tuple[str, str], float]:
    """``{(policy, outcome): value}`` of the app's decision counter, scraped from its /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(server.url + "/metrics", timeout=10.0).text
    values: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "tbdash_ratelimit_decisions_total":
                values[(sample.labels["policy"], sample.labels["outcome"])] = sample.value
    return values
