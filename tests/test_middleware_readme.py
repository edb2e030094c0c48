"""The README's Starlette, FastAPI and Flask examples, taken from its text and run against a real Redis."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ratelimit_fields import fields

README = Path(__file__).resolve().parent.parent / "README.md"


def _example(section: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^### {section}\n\n```python\n(.*?)^```", text, re.S | re.M)
    assert match, f"README has no python block under ### {section}"
    return match.group(1)


def _run(section: str, redis_url: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"REDIS_URL": redis_url, "__name__": "readme_example"}
    exec(compile(_example(section), f"README.md ({section})", "exec"), namespace)
    return namespace


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_the_starlette_example(redis_url: str, redis_client: Any) -> None:
    from starlette.testclient import TestClient

    app = _run("Starlette", redis_url)["app"]
    with TestClient(app) as http:
        response = http.get("/hello")
        health = http.get("/health")
    # A new bucket starts at max_tokens (10); q is the ceiling (10 + burst 5).
    assert response.status_code == 200 and response.text == "hello, 9 requests left\n"
    assert fields(response) == ({"api": {"q": 15, "w": 15}}, {"api": {"r": 9}})
    assert health.status_code == 404 and "ratelimit" not in health.headers  # not limited (and no route)


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_the_fastapi_example(redis_url: str, redis_client: Any) -> None:
    from starlette.testclient import TestClient

    app = _run("FastAPI", redis_url)["app"]
    with TestClient(app) as http:
        keyed = [http.get("/items", headers={"x-api-key": "k1"}) for _ in range(11)]
        other = http.get("/items", headers={"x-api-key": "k2"})
    assert [r.status_code for r in keyed] == [200] * 10 + [429]  # a new bucket holds max_tokens (10)
    assert keyed[0].json() == {"left": 9} and other.json() == {"left": 9}  # one bucket per key
    assert redis_client.exists("token_bucket:{key:k1}") and redis_client.exists("token_bucket:{key:k2}")
    assert int(keyed[-1].headers["Retry-After"]) >= 1


def test_the_flask_example(redis_url: str, redis_client: Any) -> None:
    app = _run("Flask", redis_url)["app"]
    http = app.test_client()
    response = http.get("/report", environ_base={"REMOTE_ADDR": "192.0.2.10"})
    assert response.status_code == 200 and response.text == "5 requests left\n"  # 10, and a report costs 5
    assert response.headers["RateLimit"] == '"api";r=5'
