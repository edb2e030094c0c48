"""Redis stops under a running app: every ``on_error`` choice is visible (field, counter, one log line).

Each test builds its own Redis server (it is stopped on purpose) and an app
server per stack with three limits: ``on_error="allow"`` on /allow/,
``"deny"`` on /deny/, ``"raise"`` on /raise/.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from ratelimit_fields import fields, retry_after
from web_servers import STACKS, AppServer, client, decisions

DEFAULT = {"max_tokens": 100, "refill_interval": 3600.0}
LIMITS = [
    {"policy": "allow", "path": "/allow/", "limiter": "redis", "on_error": "allow"},
    {"policy": "deny", "path": "/deny/", "limiter": "redis", "on_error": "deny"},
    {"policy": "raise", "path": "/raise/", "limiter": "redis", "on_error": "raise"},
]
SECRET_USER = "user-secret-0042"  # must never reach a log


@pytest.fixture(params=STACKS)
def outage(request: pytest.FixtureRequest, redis_factory: Any, tmp_path: Any) -> Iterator[tuple[AppServer, Any]]:
    redis = redis_factory.redis()
    conf = {"redis_url": redis.url, "prefix": f"mw{uuid.uuid4().hex[:10]}", "default": DEFAULT, "limits": LIMITS}
    with AppServer(request.param, conf, tmp_path) as server:
        yield server, redis


def _log_lines(server: AppServer, needle: str) -> list[str]:
    return [line for line in server.log_text().splitlines() if line.startswith("LOG limiter.middleware") and needle in line]


def test_fail_modes_are_visible_in_fields_counters_and_one_log_line_each(outage: tuple[AppServer, Any]) -> None:
    server, redis = outage
    headers = {"x-user": SECRET_USER}
    with client() as http:
        for path in ("/allow/x", "/deny/x", "/raise/x"):
            up = http.get(server.url + path, headers=headers)
            assert up.status_code == 200 and "ratelimit-fail-mode" not in up.headers
            assert fields(up)[1]  # Redis answered: remaining is known
        redis.stop()
        allowed = [http.get(server.url + "/allow/x", headers=headers) for _ in range(5)]
        denied = [http.get(server.url + "/deny/x", headers=headers) for _ in range(3)]
        # The server closes a connection whose request raised: a new one each time.
        raised = [http.get(server.url + "/raise/x", headers={**headers, "connection": "close"}) for _ in range(2)]

    for response in allowed:
        assert response.status_code == 200
        assert response.headers["ratelimit-fail-mode"] == "allow"
        policies, limits = fields(response)
        assert policies == {"allow": {"q": 100, "w": 360000}} and limits == {}  # remaining unknown: no RateLimit
    for response in denied:
        assert response.status_code == 503  # the service's outage, not the client's excess
        assert response.headers["ratelimit-fail-mode"] == "deny"
        assert retry_after(response) == 3600  # the fallback's hint: one tick of the default
        assert fields(response)[1] == {}
        assert response.json()["type"].endswith("#temporary-reduced-capacity")
    assert [r.status_code for r in raised] == [500, 500]

    counts = decisions(server)
    assert (counts[("allow", "allowed")], counts[("allow", "fail_allow")]) == (1, 5)
    assert (counts[("deny", "allowed")], counts[("deny", "fail_deny")]) == (1, 3)
    assert (counts[("raise", "allowed")], counts[("raise", "error")]) == (1, 2)
    assert sum(v for (policy, outcome), v in counts.items() if outcome == "denied") == 0

    # One line per kind for the whole outage (log_interval is an hour), none with the user id.
    assert len(_log_lines(server, "policy 'allow'")) == 1 and _log_lines(server, "on_error=allow")
    assert len(_log_lines(server, "policy 'deny'")) == 1 and _log_lines(server, "on_error=deny")
    raise_lines = _log_lines(server, "policy 'raise'")
    assert len(raise_lines) == 1 and "RedisUnavailable" in raise_lines[0]
    assert SECRET_USER not in server.log_text()
