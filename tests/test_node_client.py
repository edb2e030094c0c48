"""A Node.js service following the README's calling convention sees the same shadow counters (issue 10).

tests/node/shadow_client.js is written from the README alone: a RESP client
over `net`, SCRIPT LOAD / EVALSHA, the replies parsed as documented. It and
the Python limiter take turns on one bucket of a test redis-server; each sees
what the other did: the shadow's answers, tokens, grants and denials, and a
shadow set, promoted or discarded by the other side.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from limiter import BucketConfig, RedisLimiter, script

NODE = shutil.which("node")
CLIENT = Path(__file__).parent / "node" / "shadow_client.js"
LUA = Path(script.__file__).parent / "lua" / "token_bucket.lua"
FROZEN = dict(refill_count=1, refill_interval=3600.0)

pytestmark = pytest.mark.skipif(NODE is None, reason="node (Node.js) is not installed: the cross-language client needs it")


def node(port: int, key: str, default: bytes, steps: list[list[object]]) -> list[dict | None]:
    plan = json.dumps({"key": key, "default": default.decode(), "steps": steps})
    done = subprocess.run([NODE, str(CLIENT), str(port), str(LUA), plan], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["results"]


def shadow_dict(state) -> dict[str, int]:
    s = state.shadow
    return {"max_tokens": s.config.max_tokens, "burst": s.config.burst, "refill_count": s.config.refill_count,
            "interval_us": s.config.interval_us, "tokens": s.tokens, "anchor_us": s.anchor_us,
            "granted": s.granted, "denied": s.denied}


def test_a_node_client_sees_the_same_shadow_as_the_python_limiter(redis_client, redis_server):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=5, **FROZEN))
    port, key, default = redis_server.port, lim.key("shared"), lim._default_arg
    lim.try_acquire("shared")
    lim.configure("shared", BucketConfig(max_tokens=2, **FROZEN), shadow=True)
    redis_client.script_flush()  # the Node client must load the script itself

    results = node(port, key, default, [["acquire", 1], ["acquire", 1], ["acquire", 1], ["peek"]])
    *acquires, peek = results
    assert [(a["code"], a["allowed"], a["shadow_allowed"]) for a in acquires] == [(0, True, True), (0, True, True), (0, True, False)]
    state = lim.peek("shared")
    assert peek["shadow"] == shadow_dict(state) | {"anchor_us": peek["shadow"]["anchor_us"]}  # (anchor: refill moves it to now)
    assert (peek["shadow"]["granted"], peek["shadow"]["denied"], peek["granted"], peek["tokens"]) == (2, 1, 4, 1)

    # Python's acquires, then Node's view of them.
    decisions = [lim.try_acquire("shared") for _ in range(2)]
    assert [(d.allowed, d.shadow_allowed) for d in decisions] == [(True, False), (False, False)]
    [peek] = node(port, key, default, [["peek"]])
    state = lim.peek("shared")
    assert (peek["granted"], peek["denied"], peek["shadow"]["granted"], peek["shadow"]["denied"]) == (5, 1, 2, 3)
    assert (peek["shadow"]["granted"], peek["shadow"]["denied"]) == (state.shadow.granted, state.shadow.denied)


def test_node_sets_promotes_and_discards_and_python_follows(redis_client, redis_server):
    lim = RedisLimiter(redis_client, default=BucketConfig(max_tokens=6, **FROZEN))
    port, key, default = redis_server.port, lim.key("n"), lim._default_arg
    shadow_settings = "3 1 1 3600000000"
    results = node(port, key, default, [
        ["promote"],  # no bucket: nil
        ["acquire", 2],
        ["shadow", shadow_settings],
        ["acquire", 1],
        ["discard"],
        ["discard"],  # no shadow any more: nil, nothing written
        ["shadow", shadow_settings],
        ["acquire", 5],  # above the shadow's ceiling (3 + 1): a shadow denial, whatever it holds
        ["promote"],
        ["acquire", 1],
    ])
    promote_missing, first, shadow_set, shadowed, discarded, again, _, too_many_for_shadow, promoted, after = results
    assert promote_missing is None and again is None
    assert first["shadow_allowed"] is None and shadow_set["shadow"]["tokens"] == 4  # 4 tokens left, ceiling 3 + 1
    assert shadowed["shadow_allowed"] is True and discarded["shadow"] is None
    assert (too_many_for_shadow["allowed"], too_many_for_shadow["shadow_allowed"]) == (False, False)  # 3 left of 6: denied too
    assert (promoted["max_tokens"], promoted["burst"], promoted["operator"], promoted["shadow"]) == (3, 1, 1, None)
    assert after["shadow_allowed"] is None and after["ceiling"] == 4
    state = lim.peek("n")
    assert (state.config.max_tokens, state.overridden, state.shadow, state.tokens) == (3, True, None, 2)
    assert redis_client.pttl(key) == -1
