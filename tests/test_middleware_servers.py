"""The middleware under real servers: Starlette under uvicorn, Flask under waitress, hit with httpx.

One app server per stack and Redis version (module scope), each with its own
key prefix; every test uses its own user ids, so the tests do not share
buckets. Counts are exact (a bucket that does not refill during the test);
nothing here measures time.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from limiter import BucketConfig, RedisLimiter
from ratelimit_fields import fields, retry_after
from web_servers import STACKS, AppServer, client, decisions

SLOW = {"max_tokens": 5, "burst": 0, "refill_count": 1, "refill_interval": 3600.0}  # no refill during a test
ROOMY = {"max_tokens": 1000, "refill_interval": 3600.0}  # for tests that look at keys, not counts
W_SLOW = 5 * 3600  # w: time to refill the ceiling (5 tokens) from empty

LIMITS = [
    {"policy": "api", "path": "/api/", "limiter": "redis"},
    {"policy": "shared", "path": "/shared/", "limiter": "bucket", "config": SLOW},
    {"policy": "shared-fast", "path": "/shared-fast/", "limiter": "bucket", "config": {"max_tokens": 1, "refill_interval": 1.0}},
    {"policy": "quiet", "path": "/quiet/", "limiter": "redis", "headers": False},
    {"policy": "custom", "path": "/custom/", "limiter": "redis", "deny": "custom"},
    {"policy": "xff", "path": "/xff/", "limiter": "redis", "default": ROOMY},
    {"policy": "fwd", "path": "/fwd/", "limiter": "redis", "default": ROOMY, "forwarded_header": "forwarded"},
]
TRUSTED = ["127.0.0.1", "10.0.0.0/8", "2001:db8:ffff::/48"]


@pytest.fixture(scope="module", params=STACKS)
def app_server(request: pytest.FixtureRequest, redis_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    prefix = f"mw{uuid.uuid4().hex[:10]}"
    conf = {"redis_url": redis_server.url, "prefix": prefix, "default": SLOW, "trusted_proxies": TRUSTED, "limits": LIMITS}
    server = AppServer(request.param, conf, tmp_path_factory.mktemp("app")).start()
    yield server
    server.stop()


def _user() -> str:
    return f"user-{uuid.uuid4().hex[:12]}"


def _delta(before: dict[tuple[str, str], float], after: dict[tuple[str, str], float], policy: str) -> dict[str, float]:
    return {outcome: after[(p, outcome)] - before.get((p, outcome), 0.0) for p, outcome in after if p == policy}


def _key_of(response: Any, policy: str) -> str:
    assert response.status_code == 200, response.text
    return response.json()[policy]["key"]


# --------------------------------------------------------------------------- counts and fields


def test_a_redis_bucket_refuses_exactly_what_exceeds_it_and_every_response_carries_the_fields(app_server: AppServer) -> None:
    user, before = _user(), decisions(app_server)
    with client() as http:
        responses = [http.get(app_server.url + "/api/x", headers={"x-user": user}) for _ in range(12)]
    assert [r.status_code for r in responses] == [200] * 5 + [429] * 7
    for i, response in enumerate(responses):
        policies, limits = fields(response)
        assert policies == {"api": {"q": 5, "w": W_SLOW}}
        if response.status_code == 200:
            assert limits == {"api": {"r": 4 - i}}  # Redis does not say when the next tick comes: no t
            assert "retry-after" not in response.headers
        else:
            seconds = retry_after(response)
            assert seconds <= 3600  # one tick at most
            assert limits == {"api": {"r": 0, "t": seconds}}  # t no later than Retry-After (the draft's SHOULD)
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert problem["status"] == 429 and problem["violated-policies"] == ["api"]
    assert _delta(before, decisions(app_server), "api") == {
        "allowed": 5, "denied": 7, "fail_allow": 0, "fail_deny": 0, "oversized": 0, "error": 0,
    }


def test_concurrent_requests_are_granted_exactly_the_ceiling(app_server: AppServer) -> None:
    user, before = _user(), decisions(app_server)
    with client() as http, ThreadPoolExecutor(max_workers=12) as pool:
        statuses = Counter(pool.map(lambda _: http.get(app_server.url + "/api/c", headers={"x-user": user}).status_code, range(40)))
    assert statuses == {200: 5, 429: 35}
    delta = _delta(before, decisions(app_server), "api")
    assert (delta["allowed"], delta["denied"]) == (5, 35)


def test_a_condition_bucket_is_one_bucket_shared_by_every_key(app_server: AppServer) -> None:
    before = decisions(app_server)
    with client() as http:
        # A different user on every request: the shared bucket still grants 5 in all.
        responses = [http.get(app_server.url + "/shared/x", headers={"x-user": _user()}) for _ in range(9)]
    assert [r.status_code for r in responses] == [200] * 5 + [429] * 4
    for i, response in enumerate(responses):
        policies, limits = fields(response)
        assert policies == {"shared": {"q": 5, "w": W_SLOW}}
        if response.status_code == 200:
            # In process the next token's time is known: t is sent on grants too.
            assert limits["shared"]["r"] == 4 - i and 1 <= limits["shared"]["t"] <= 3600
        else:
            assert limits == {"shared": {"r": 0, "t": retry_after(response)}}
    delta = _delta(before, decisions(app_server), "shared")
    assert (delta["allowed"], delta["denied"]) == (5, 4)


def _until_refused(http: Any, url: str, headers: dict[str, str]) -> Any:
    for _ in range(100):  # a slow machine may see a refill between two requests: ask again
        response = http.get(url, headers=headers)
        if response.status_code == 429:
            return response
        assert response.status_code == 200, response.text
    raise AssertionError(f"{url} never refused a request")


def test_a_client_that_waits_retry_after_then_succeeds_redis(app_server: AppServer, redis_server: Any) -> None:
    user = _user()
    prefix = f"{app_server.config['prefix']}_api"
    limiter = RedisLimiter(redis_server.client(), prefix=prefix, default=BucketConfig(**SLOW))
    limiter.configure(user, BucketConfig(max_tokens=2, refill_count=1, refill_interval=1.0))  # operator settings
    with client() as http:
        refused = _until_refused(http, app_server.url + "/api/r", {"x-user": user})
        policies, _ = fields(refused)
        # Another ceiling than the default: q is the live one, w (refill unknown) is left out.
        assert policies == {"api": {"q": 2}}
        time.sleep(retry_after(refused))
        assert http.get(app_server.url + "/api/r", headers={"x-user": user}).status_code == 200


def test_a_client_that_waits_retry_after_then_succeeds_condition_bucket(app_server: AppServer) -> None:
    with client() as http:
        refused = _until_refused(http, app_server.url + "/shared-fast/r", {})
        assert fields(refused)[0] == {"shared-fast": {"q": 1, "w": 1}}
        time.sleep(retry_after(refused))
        assert http.get(app_server.url + "/shared-fast/r").status_code == 200


def test_cost_is_taken_all_or_nothing_and_a_cost_above_the_ceiling_is_413(app_server: AppServer) -> None:
    user, before = _user(), decisions(app_server)
    url = app_server.url + "/api/cost"
    with client() as http:
        first = http.get(url, headers={"x-user": user, "x-cost": "3"})
        refused = http.get(url, headers={"x-user": user, "x-cost": "3"})
        last = http.get(url, headers={"x-user": user, "x-cost": "2"})
        oversized = http.get(url, headers={"x-user": user, "x-cost": "6"})
    assert (first.status_code, refused.status_code, last.status_code) == (200, 429, 200)
    assert fields(first)[1] == {"api": {"r": 2}}
    assert fields(refused)[1]["api"]["r"] == 2  # nothing taken
    assert fields(last)[1] == {"api": {"r": 0}}
    assert oversized.status_code == 413
    assert "retry-after" not in oversized.headers  # waiting never helps
    assert fields(oversized) == ({"api": {"q": 5, "w": W_SLOW}}, {})
    assert oversized.json()["status"] == 413
    delta = _delta(before, decisions(app_server), "api")
    assert (delta["allowed"], delta["denied"], delta["oversized"]) == (2, 1, 1)


def test_headers_off_leaves_only_retry_after(app_server: AppServer) -> None:
    user = _user()
    with client() as http:
        responses = [http.get(app_server.url + "/quiet/x", headers={"x-user": user}) for _ in range(6)]
    assert [r.status_code for r in responses] == [200] * 5 + [429]
    for response in responses:
        assert "ratelimit" not in response.headers and "ratelimit-policy" not in response.headers
    retry_after(responses[-1])


def test_a_custom_refusal_gets_the_fields_it_lacks(app_server: AppServer) -> None:
    user = _user()
    with client() as http:
        responses = [http.get(app_server.url + "/custom/x", headers={"x-user": user}) for _ in range(6)]
    refused = responses[-1]
    assert refused.status_code == 429 and refused.text == "slow down\n" and refused.headers["x-custom"] == "yes"
    assert fields(refused) == ({"custom": {"q": 5, "w": W_SLOW}}, {"custom": {"r": 0, "t": retry_after(refused)}})


def test_unlimited_paths_carry_no_fields(app_server: AppServer) -> None:
    with client() as http:
        response = http.get(app_server.url + "/health")  # 200 under uvicorn only once the lifespan ran
    assert response.status_code == 200
    assert not any(name.startswith("ratelimit") for name in response.headers)


# --------------------------------------------------------------------------- client address and proxies


def test_a_spoofed_x_forwarded_for_from_an_untrusted_peer_is_ignored(app_server: AppServer) -> None:
    with client("127.0.0.2") as http:  # 127.0.0.2 is not a trusted proxy
        responses = [http.get(app_server.url + "/api/spoof", headers={"x-forwarded-for": f"203.0.113.{i}"}) for i in range(8)]
        forwarded = http.get(app_server.url + "/fwd/spoof", headers={"forwarded": "for=203.0.113.50"})
    assert [r.status_code for r in responses] == [200] * 5 + [429] * 3  # one bucket, whatever the header says
    assert {_key_of(r, "api") for r in responses[:5]} == {"127.0.0.2"}
    assert _key_of(forwarded, "fwd") == "127.0.0.2"


@pytest.mark.parametrize(
    ("header", "client_is"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("203.0.113.66, 198.51.100.8", "198.51.100.8"),  # what the client wrote on the left is never read
        ("198.51.100.9, 10.1.2.3", "198.51.100.9"),  # trusted hops are skipped, right to left
        ("198.51.100.10, ::ffff:10.9.9.9", "198.51.100.10"),  # an IPv4-mapped trusted hop
        ("[2001:db8::5]:443", "2001:db8::5"),
        ("2001:db8:ffff::1", "2001:db8:ffff::1"),  # all trusted: the leftmost
        ("garbage", "127.0.0.1"),  # unparsable: the last hop that can be vouched for
        ("198.51.100.11, unknown", "127.0.0.1"),
        ("", "127.0.0.1"),
        (",,,", "127.0.0.1"),
        ("1.2.3.4.5", "127.0.0.1"),
        ("[::1", "127.0.0.1"),
        ("198.51.100.12, " * 400 + "junk", "127.0.0.1"),
        ("\u00ff\u00fe, 198.51.100.13", "198.51.100.13"),  # latin-1 bytes that are not UTF-8
    ],
)
def test_x_forwarded_for_from_a_trusted_peer(app_server: AppServer, header: str, client_is: str) -> None:
    with client("127.0.0.1") as http:
        response = http.get(app_server.url + "/xff/who", headers={"x-forwarded-for": header.encode("latin-1")})
    assert _key_of(response, "xff") == client_is


def test_several_x_forwarded_for_fields_are_one_list(app_server: AppServer) -> None:
    with client("127.0.0.1") as http:
        response = http.get(app_server.url + "/xff/two", headers=[("x-forwarded-for", "198.51.100.20"), ("x-forwarded-for", "10.0.0.1")])
    assert _key_of(response, "xff") == "198.51.100.20"


def test_each_forwarded_client_has_its_own_bucket(app_server: AppServer) -> None:
    url = app_server.url + "/api/per-client"
    with client("127.0.0.1") as http:
        statuses = [http.get(url, headers={"x-forwarded-for": "198.51.100.30"}).status_code for _ in range(6)]
        other = http.get(url, headers={"x-forwarded-for": "198.51.100.31"})
    assert statuses == [200] * 5 + [429]
    assert _key_of(other, "api") == "198.51.100.31"


@pytest.mark.parametrize(
    ("header", "client_is"),
    [
        ("for=198.51.100.40;proto=https", "198.51.100.40"),
        ('for="[2001:db8:cafe::17]:4711"', "2001:db8:cafe::17"),
        ("for=203.0.113.1, for=198.51.100.41;by=10.0.0.2", "198.51.100.41"),
        ("for=198.51.100.42, for=10.0.0.7", "198.51.100.42"),
        ('for=9.9.9.9;x=", for=198.51.100.43', "127.0.0.1"),  # an open quote swallowing the proxy's element
        ("for=_hidden, for=198.51.100.44", "198.51.100.44"),
        ("for=198.51.100.45, for=unknown", "127.0.0.1"),
        ("proto=https", "127.0.0.1"),
        ("for=", "127.0.0.1"),
    ],
)
def test_forwarded_from_a_trusted_peer(app_server: AppServer, header: str, client_is: str) -> None:
    with client("127.0.0.1") as http:
        response = http.get(app_server.url + "/fwd/who", headers={"forwarded": header, "x-forwarded-for": "203.0.113.99"})
    assert _key_of(response, "fwd") == client_is  # and X-Forwarded-For, not the configured header, is never read
