"""`RateLimitMiddleware` for WSGI apps (Flask, Django, Pyramid, Bottle...): no dependency.

    app.wsgi_app = RateLimitMiddleware(app.wsgi_app, RedisLimiter(client, default=cfg))

The same options and behaviour as `limiter.asgi.RateLimitMiddleware`, on a
`RedisLimiter` or a `ConditionBucket`. The limiter's result for the request
is in ``environ["limiter.ratelimit"][policy]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from limiter.client_address import ForwardedHeader
from limiter.errors import TokensExceedCeiling
from limiter.http_headers import FAIL_MODE_FIELD
from limiter.request_view import RequestView, client_address_key, wsgi_headers, wsgi_path
from limiter.web import PROBLEM_JSON, REASONS, Oversized, RateLimitResult, Rules, problem_body

Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
DenyResponse = Callable[[RequestView, RateLimitResult], WSGIApp]
ENVIRON_KEY = "limiter.ratelimit"

__all__ = ["ENVIRON_KEY", "RateLimitMiddleware", "RateLimitResult", "RequestView"]


class RateLimitMiddleware:
    """Limit every request of ``app`` with ``limiter`` (a `RedisLimiter` or a `ConditionBucket`).

    The options are those of `limiter.asgi.RateLimitMiddleware`;
    ``deny_response(request, result)`` returns the WSGI app that answers a
    refusal (a Flask/Werkzeug ``Response`` is one).
    """

    def __init__(
        self,
        app: WSGIApp,
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
            limiter, asynchronous=False, key=key, cost=cost, trusted_proxies=trusted_proxies,
            forwarded_header=forwarded_header, policy=policy, headers=headers, fail_mode_header=fail_mode_header,
            oversized=oversized, registry=registry, log_interval=log_interval,
        )
        if deny_response is not None and not callable(deny_response):
            raise TypeError("deny_response must be a callable deny_response(request, result) -> WSGI app")
        self.deny_response = deny_response

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        rules = self.rules
        request = rules.view(
            environ.get("REQUEST_METHOD", "GET"), wsgi_path(environ), environ.get("QUERY_STRING", ""),
            wsgi_headers(environ), environ.get("REMOTE_ADDR") or None, environ,
        )
        user, n = rules.subject(request)
        if user is None:
            return self.app(environ, start_response)
        result = self._judge(user, n)
        environ.setdefault(ENVIRON_KEY, {})[rules.policy] = result
        if result.allowed:
            return self.app(environ, _adding(start_response, result.headers, always=True))
        start_response = _adding(start_response, result.headers, always=False)
        if self.deny_response is not None:
            return self.deny_response(request, result)(environ, start_response)
        body = problem_body(result)
        start_response(
            f"{result.status} {REASONS[result.status]}",
            [("Content-Type", PROBLEM_JSON), ("Content-Length", str(len(body)))],
        )
        return [body]

    def _judge(self, user: str, n: int) -> RateLimitResult:
        rules = self.rules
        try:
            if rules.shared:
                return rules.take_shared(user, n)
            decision = rules.limiter.try_acquire(user, n)
        except TokensExceedCeiling as exc:
            return rules.oversized_result(exc, user, n)
        except Exception as exc:
            rules.failed(exc)
            raise
        return rules.result_of(decision, user, n)


def _adding(start_response: StartResponse, fields: tuple[tuple[str, str], ...], *, always: bool) -> StartResponse:
    """``start_response`` with ``fields`` added (see `limiter.asgi._adding` for ``always``)."""
    if not fields:
        return start_response

    def start_response_with_fields(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if always:
            headers = [*headers, *fields]
        else:
            present = {name.lower() for name, _ in headers}
            headers = [*headers, *(pair for pair in fields if pair[0].lower() not in present)]
        return start_response(status, headers, exc_info) if exc_info is not None else start_response(status, headers)

    return start_response_with_fields
