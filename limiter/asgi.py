"""`RateLimitMiddleware` for ASGI apps (Starlette, FastAPI, Litestar, Quart...): pure ASGI, no dependency.

    app = RateLimitMiddleware(app, AsyncRedisLimiter(client, default=cfg), trusted_proxies=["10.0.0.0/8"])

Only ``http`` requests are limited; ``lifespan`` and ``websocket`` scopes
pass through untouched. See `limiter.web` for what is shared with WSGI and
the README ("Middleware") for the fields, the proxies rule and the options.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from limiter.client_address import ForwardedHeader
from limiter.errors import TokensExceedCeiling
from limiter.http_headers import FAIL_MODE_FIELD
from limiter.request_view import RequestView, asgi_headers, client_address_key
from limiter.web import PROBLEM_JSON, Oversized, RateLimitResult, Rules, problem_body

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
DenyResponse = Callable[[RequestView, RateLimitResult], "ASGIApp | Awaitable[ASGIApp]"]

__all__ = ["RateLimitMiddleware", "RateLimitResult", "RequestView"]


class RateLimitMiddleware:
    """Limit every HTTP request of ``app`` with ``limiter``.

    ``limiter``: an `AsyncRedisLimiter` (one bucket per ``key``) or a
    `ConditionBucket` (one bucket shared by every limited request: ``key``
    then only chooses which requests are limited). ``key(request)`` returns
    the user id, or None to let the request through unlimited (default: the
    client's address). ``cost``: tokens per request, an int or
    ``cost(request) -> int``. ``trusted_proxies``: addresses/networks whose
    ``forwarded_header`` is believed. ``policy`` names the quota in the
    fields and the counters. ``headers=False`` sends only ``Retry-After``.
    ``deny_response(request, result)`` returns the ASGI app that answers a
    refusal (a Starlette ``Response`` is one); the middleware adds each of
    its fields the response lacks. ``oversized``: a cost above the ceiling is
    answered 413 (``"reject"``) or raises `TokensExceedCeiling` (``"raise"``).
    ``fail_mode_header`` names the field set on decisions taken without
    Redis (None: none). ``registry``: a prometheus_client registry to count
    decisions in. ``log_interval``: seconds between two log lines of a kind.
    """

    def __init__(
        self,
        app: ASGIApp,
        limiter: Any,
        *,
        key: Callable[[RequestView], str | None] = client_address_key,
        cost: int | Callable[[RequestView], int] = 1,
        trusted_proxies: Any = (),
        forwarded_header: ForwardedHeader = "x-forwarded-for",
        policy: str = "default",
        headers: bool = True,
        deny_response: DenyResponse | None = None,
        oversized: Oversized = "reject",
        fail_mode_header: str | None = FAIL_MODE_FIELD,
        registry: Any = None,
        log_interval: float = 60.0,
    ) -> None:
        self.app = app
        self.rules = Rules(
            limiter, asynchronous=True, key=key, cost=cost, trusted_proxies=trusted_proxies,
            forwarded_header=forwarded_header, policy=policy, headers=headers, fail_mode_header=fail_mode_header,
            oversized=oversized, registry=registry, log_interval=log_interval,
        )
        if deny_response is not None and not callable(deny_response):
            raise TypeError("deny_response must be a callable deny_response(request, result) -> ASGI app")
        self.deny_response = deny_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rules = self.rules
        client = scope.get("client")
        request = rules.view(
            scope.get("method", "GET"), scope.get("path", ""), scope.get("query_string", b"").decode("latin-1"),
            asgi_headers(scope), client[0] if client else None, scope,
        )
        user, n = rules.subject(request)
        if user is None:
            await self.app(scope, receive, send)
            return
        result = await self._judge(user, n)
        scope.setdefault("state", {}).setdefault("ratelimit", {})[rules.policy] = result
        if result.allowed:
            await self.app(scope, receive, _adding(send, result.headers, always=True))
        else:
            await self._refuse(request, result, scope, receive, send)

    async def _judge(self, user: str, n: int) -> RateLimitResult:
        rules = self.rules
        try:
            if rules.shared:
                return rules.take_shared(user, n)
            decision = await rules.limiter.try_acquire(user, n)
        except TokensExceedCeiling as exc:
            return rules.oversized_result(exc, user, n)
        except Exception as exc:
            rules.failed(exc)
            raise
        return rules.result_of(decision, user, n)

    async def _refuse(self, request: RequestView, result: RateLimitResult, scope: Scope, receive: Receive, send: Send) -> None:
        send = _adding(send, result.headers, always=False)
        if self.deny_response is not None:
            response = self.deny_response(request, result)
            if inspect.isawaitable(response):
                response = await response
            await response(scope, receive, send)
            return
        body = problem_body(result)
        await send({
            "type": "http.response.start",
            "status": result.status,
            "headers": [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())],
        })
        await send({"type": "http.response.body", "body": body})


def _adding(send: Send, fields: tuple[tuple[str, str], ...], *, always: bool) -> Send:
    """``send`` with ``fields`` added to the response head.

    ``always``: appended even when the app sent the same field names (several
    middleware with different policies build one list, as RFC 9651 §3.1
    allows); otherwise only the fields the response lacks (a custom refusal
    that wrote its own ``Retry-After`` keeps it).
    """
    if not fields:
        return send
    encoded = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in fields]

    async def send_with_fields(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            if always:
                headers.extend(encoded)
            else:
                present = {bytes(name).lower() for name, _ in headers}
                headers.extend(pair for pair in encoded if pair[0] not in present)
            message = {**message, "headers": headers}
        await send(message)

    return send_with_fields

