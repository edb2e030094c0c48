"""Scraping the exporter: over HTTP with httpx, parsed by prometheus_client's own parser.

`InProcessExporter` runs the core (state, collector, one poll at a time) with
prometheus_client's HTTP server on a free loopback port, so a test decides
when a poll happens. `ExporterProcess` runs the real ``tbdash metrics``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from dashboard.core.backend import RedisBackend
from dashboard.core.exporter import ExporterState, PollLoop, SnapshotCollector
from dashboard.core.metrics_view import ShadowOf, row_shadow
from support.servers import wait_until

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def parse(text: str) -> Samples:
    """sample name -> {sorted labels: value}; a repeated series is an error (Prometheus rejects it)."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            series = out.setdefault(sample.name, {})
            assert labels not in series, f"duplicate series {sample.name}{labels}"
            series[labels] = sample.value
    return out


def value(samples: Samples, name: str) -> float | None:
    return samples.get(name, {}).get(())


def by_user(samples: Samples, name: str) -> dict[str, float]:
    return {dict(labels)["user"]: v for labels, v in samples.get(name, {}).items()}


@dataclass
class Scrape:
    body: bytes
    samples: Samples


def scrape_url(url: str) -> Scrape:
    reply = httpx.get(url, timeout=10)
    reply.raise_for_status()
    return Scrape(reply.content, parse(reply.text))


class InProcessExporter:
    """The exporter's core on one backend; ``await poll()`` runs exactly one poll."""

    def __init__(self, client: Any, *, prefix: str = "token_bucket", top_n: int = 100, shadow_of: ShadowOf = row_shadow) -> None:
        self.backend = RedisBackend(client, prefix=prefix, read_only=True)
        self.state = ExporterState(prefix=prefix, top_n=top_n, shadow_of=shadow_of)

        async def opened() -> RedisBackend:
            return self.backend

        self.loop = PollLoop(self.state, opened, interval=1.0)
        registry = CollectorRegistry()
        registry.register(SnapshotCollector(self.state))
        self.httpd, self.thread = start_http_server(0, addr="127.0.0.1", registry=registry)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/metrics"

    async def poll(self) -> bool:
        return await self.loop.poll_once()

    async def scrape(self) -> Scrape:
        async with httpx.AsyncClient(timeout=10) as client:
            reply = await client.get(self.url)
        reply.raise_for_status()
        return Scrape(reply.content, parse(reply.text))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@dataclass
class ExporterProcess:
    """``tbdash metrics`` as a child process on a free port (``--listen 127.0.0.1:0``), polling fast."""

    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    poll_interval: float = 0.2

    def __post_init__(self) -> None:
        env = {**os.environ, "TBDASH_METRICS__POLL_INTERVAL": str(self.poll_interval), **self.env}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dashboard", "metrics", "--listen", "127.0.0.1:0", *self.args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True, encoding="utf-8", errors="backslashreplace",
        )
        assert self.proc.stderr is not None
        first = self.proc.stderr.readline()
        self.lines = [first]
        match = re.search(r"serving http://127\.0\.0\.1:(\d+)/metrics", first)
        if match is None:
            self.proc.kill()
            raise AssertionError(f"the exporter did not start: {first!r}{self.proc.stderr.read()!r}")
        self.url = f"http://127.0.0.1:{match.group(1)}/metrics"
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def scrape(self) -> Scrape:
        return scrape_url(self.url)

    def wait_for(self, what: str, check: Any, timeout: float = 30.0) -> Scrape:
        """The first scrape for which ``check(samples)`` holds (a deadline only against a hang)."""
        def attempt() -> Scrape | None:
            result = self.scrape()
            return result if check(result.samples) else None

        return wait_until(attempt, timeout, what, error=AssertionError)

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        self._drain.join(timeout=5)
        return code
