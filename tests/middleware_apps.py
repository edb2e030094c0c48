"""The apps the middleware tests serve: a Starlette app (for uvicorn) and a Flask app (for waitress).

Both are built from the JSON document in ``$MW_TEST_APP_CONFIG``::

    {"redis_url": ..., "prefix": ..., "default": {BucketConfig fields},
     "trusted_proxies": [...],
     "limits": [{"policy": "api", "path": "/api/", "limiter": "redis" | "bucket",
                 "on_error": "raise", "config": {...} (bucket), "default": {...} (redis),
                 "forwarded_header": ...,
                 "headers": true, "deny": "problem" | "custom"}, ...]}

Each limit is one RateLimitMiddleware, stacked in order; it limits the paths
under its ``path`` (its key is the ``x-user`` header, else the client's
address) and costs the ``x-cost`` header (default 1). Every limited path
answers JSON: what each middleware decided (``state["ratelimit"]``).
``/health`` and ``/metrics`` (the decision counters) are never limited.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

from limiter import AsyncRedisLimiter, BucketConfig, ConditionBucket, RedisLimiter
from limiter.connect import connect
from limiter.request_view import RequestView, client_address_key


def _config() -> dict[str, Any]:
    return json.loads(os.environ["MW_TEST_APP_CONFIG"])


def _key_for(prefix: str) -> Any:
    def key(request: RequestView) -> str | None:
        if not request.path.startswith(prefix):
            return None
        return request.headers.get("x-user") or client_address_key(request)

    return key


def _cost(request: RequestView) -> int:
    return int(request.headers.get("x-cost", "1"))


def _limiter(conf: dict[str, Any], limit: dict[str, Any], asynchronous: bool) -> Any:
    if limit["limiter"] == "bucket":
        return ConditionBucket(BucketConfig(**limit["config"]))
    client = connect(conf["redis_url"], asyncio=asynchronous, socket_timeout=2.0, connect_timeout=2.0)
    cls = AsyncRedisLimiter if asynchronous else RedisLimiter
    default = BucketConfig(**limit.get("default", conf["default"]))
    return cls(client, prefix=redis_prefix(conf["prefix"], limit["policy"]), default=default, on_error=limit.get("on_error", "raise"))


def redis_prefix(prefix: str, policy: str) -> str:
    """Each policy its own buckets: two limits on one prefix would share a user's bucket."""
    return f"{prefix}_{policy}"


def _options(conf: dict[str, Any], limit: dict[str, Any], registry: Any, custom_deny: Any) -> dict[str, Any]:
    return {
        "key": _key_for(limit["path"]),
        "cost": _cost,
        "trusted_proxies": conf.get("trusted_proxies", ()),
        "forwarded_header": limit.get("forwarded_header", "x-forwarded-for"),
        "policy": limit["policy"],
        "headers": limit.get("headers", True),
        "deny_response": custom_deny if limit.get("deny") == "custom" else None,
        "registry": registry,
        "log_interval": 3600.0,
    }


def _report(results: dict[str, Any]) -> dict[str, Any]:
    return {
        policy: {"status": r.status, "key": r.key, "remaining": r.remaining, "cost": r.cost, "fail_mode": r.fail_mode}
        for policy, r in results.items()
    }


def _logging() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="LOG %(name)s %(levelname)s %(message)s")


def starlette_app() -> Any:
    from contextlib import asynccontextmanager

    from prometheus_client import CollectorRegistry, generate_latest
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route

    from limiter.asgi import RateLimitMiddleware

    _logging()
    conf = _config()
    registry = CollectorRegistry()
    started = []

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        started.append(True)  # proves the middleware passed the lifespan scope through
        yield

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok" if started else "lifespan did not run", status_code=200 if started else 500)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")

    async def limited(request: Request) -> Response:
        return JSONResponse(_report(request.state.ratelimit if hasattr(request.state, "ratelimit") else {}))

    def custom_deny(request: RequestView, result: Any) -> Any:
        return PlainTextResponse("slow down\n", status_code=result.status, headers={"x-custom": "yes"})

    middleware = [
        Middleware(RateLimitMiddleware, limiter=_limiter(conf, limit, True), **_options(conf, limit, registry, custom_deny))
        for limit in conf["limits"]
    ]
    routes = [Route("/health", health), Route("/metrics", metrics), Route("/{path:path}", limited)]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


def flask_app() -> Any:
    from flask import Flask, Response, jsonify, request
    from prometheus_client import CollectorRegistry, generate_latest

    from limiter.wsgi import ENVIRON_KEY, RateLimitMiddleware

    _logging()
    conf = _config()
    registry = CollectorRegistry()
    app = Flask("middleware_test_app")

    @app.get("/health")
    def health() -> Any:
        return "ok"

    @app.get("/metrics")
    def metrics() -> Any:
        return Response(generate_latest(registry), mimetype="text/plain")

    @app.route("/<path:path>", methods=["GET", "POST"])
    def limited(path: str) -> Any:
        return jsonify(_report(request.environ.get(ENVIRON_KEY, {})))

    def custom_deny(req: RequestView, result: Any) -> Any:
        return Response("slow down\n", status=result.status, headers={"X-Custom": "yes"}, mimetype="text/plain")

    # The first limit is the outermost, as in Starlette's middleware list.
    for limit in reversed(conf["limits"]):
        app.wsgi_app = RateLimitMiddleware(app.wsgi_app, _limiter(conf, limit, False), **_options(conf, limit, registry, custom_deny))
    return app
