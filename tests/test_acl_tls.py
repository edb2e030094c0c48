"""Restricted credentials, TLS and secret hygiene, against real servers of every version.

- ACL recipes (the README prints the same text, see ``recipe_text``): a limiter
  user confined to the prefix and to exactly the commands the limiter and its
  script call; a read-only dashboard user; an operator user. Each is proved to
  work, and to be refused (NOPERM) everywhere else, standalone and on Cluster.
- TLS: ``rediss://`` with certificate checks on: the right CA works, a wrong CA,
  no CA or a wrong host name fail. Skipped only on a server built without TLS.
- Secrets: a canary password never shows in an exception (str, repr,
  traceback), a client's repr, a log line, or the server's command line, for
  wrong passwords and unreachable hosts, through RedisLimiter and limiter.connect.
"""

from __future__ import annotations

import logging
import re
import traceback
from pathlib import Path

import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster

from dashboard.embedded import free_port
from faults_helpers import FROZEN, binary_supports_tls, make_certs
from limiter import BucketConfig, RedisLimiter, RedisUnavailable, script
from limiter.connect import connect, parse_url

PREFIX = "token_bucket"
LUA = Path(script.__file__).parent / "lua" / "token_bucket.lua"

# --------------------------------------------------------------------------- the recipes

# Commands token_bucket.lua calls: the server checks each against the caller's ACL.
SCRIPT_COMMANDS = ["hmget", "hset", "hdel", "pexpire", "persist", "time", "exists", "type", "del"]
LIMITER_COMMANDS = ["evalsha", "eval", "script|load", *SCRIPT_COMMANDS, "client|setname"]
CLUSTER_COMMANDS = ["cluster|slots", "command"]  # what redis-py's RedisCluster reads at start-up
DASHBOARD_READ_COMMANDS = ["scan", "hmget", "hgetall", "pttl", "type", "exists", "time", "ping", "info",
                           "xrevrange", "xrange", "client|setname"]
OPERATOR_EXTRA_COMMANDS = ["evalsha", "eval", "script|load", *SCRIPT_COMMANDS, "xadd"]


def read_key_pattern(binary) -> str:
    """7.0+ can grant read-only access to keys (%R~); 6.2 only read-write (~)."""
    return f"%R~{PREFIX}:*" if binary.at_least(7, 0) else f"~{PREFIX}:*"


def rules(commands: list[str], keys: str) -> list[str]:
    return ["resetkeys", keys, "resetchannels", "-@all", *(f"+{c}" for c in commands)]


def limiter_rules(cluster: bool = False) -> list[str]:
    return rules(LIMITER_COMMANDS + (CLUSTER_COMMANDS if cluster else []), f"~{PREFIX}:*")


def dashboard_rules(binary, cluster: bool = False) -> list[str]:
    return rules(DASHBOARD_READ_COMMANDS + (CLUSTER_COMMANDS if cluster else []), read_key_pattern(binary))


def operator_rules(cluster: bool = False) -> list[str]:
    commands = list(dict.fromkeys(DASHBOARD_READ_COMMANDS + OPERATOR_EXTRA_COMMANDS + (CLUSTER_COMMANDS if cluster else [])))
    return rules(commands, f"~{PREFIX}:*")


def recipe_text() -> str:
    """The recipes as README text (printed by test_limiter_recipe_names_exactly_the_commands_the_script_calls)."""

    def line(user: str, rule: list[str]) -> str:
        return f"ACL SETUSER {user} on >$SECRET " + " ".join(rule)

    class V7:
        @staticmethod
        def at_least(*_: int) -> bool:
            return True

    return "\n".join([
        "# Limiter clients (services): the prefix, and exactly the commands the limiter and its script call.",
        line("tb-limiter", limiter_rules()),
        "#   Cluster: add " + " ".join(f"+{c}" for c in CLUSTER_COMMANDS) + " (redis-py reads the slot map and the command table).",
        "# Read-only dashboard (tbdash --read-only, status): reads under the prefix only. 6.2: ~token_bucket:* instead of %R~.",
        line("tb-dashboard", dashboard_rules(V7())),
        "#   Cluster: add " + " ".join(f"+{c}" for c in CLUSTER_COMMANDS) + ".",
        "# Operator (tbdash set / load): the read-only commands, the limiter's, and XADD for the audit stream.",
        line("tb-operator", operator_rules()),
        "#   Cluster: add " + " ".join(f"+{c}" for c in CLUSTER_COMMANDS) + ".",
        "# ACLs are per server: create the users on every node (Sentinel: primary AND replicas; Cluster: every node).",
    ])


def test_limiter_recipe_names_exactly_the_commands_the_script_calls():
    """If the script starts calling another command, the recipes (and the README) must say so."""
    called = {m.lower() for m in re.findall(r"redis\.p?call\('([A-Z]+)'", LUA.read_text())}
    assert called == set(SCRIPT_COMMANDS)
    text = recipe_text()
    assert all(f"+{c}" in text for c in SCRIPT_COMMANDS)
    print("\n" + text)


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def users(redis_server):
    """ACL users created on the shared standalone server for one test, deleted after it."""
    created: list[tuple[object, str]] = []

    def make(name: str, rule: list[str], password: str = "pw-" + "x" * 20, servers=(redis_server,)) -> str:
        for server in servers:
            with server.client() as admin:
                admin.execute_command("ACL", "SETUSER", name, "reset", "on", f">{password}", *rule)
            created.append((server, name))
        return password

    yield make
    for server, name in created:
        with server.client() as admin:
            admin.execute_command("ACL", "DELUSER", name)


def refused(call) -> bool:
    """True if Redis refused the call for lack of permission."""
    try:
        call()
    except redis.exceptions.NoPermissionError:
        return True
    except redis.exceptions.ResponseError as exc:
        # Inside a script the refusal is a script error, worded per version:
        # "The user executing the script can't access ... keys" / "can't run this command".
        return "the user executing the script can't" in str(exc).lower()
    return False


def seed_other_keys(admin) -> dict[str, bytes]:
    admin.set("other:precious", "keep me")
    admin.hset("other:{u}", mapping={"tokens": "5"})
    return {k: admin.dump(k) for k in ("other:precious", "other:{u}")}


# --------------------------------------------------------------------------- limiter user


def test_limiter_user_runs_the_limiter_and_nothing_else(redis_server, redis_client, users):
    password = users("tb-limiter-test", limiter_rules())
    client = connect(f"redis://tb-limiter-test:{password}@{redis_server.host}:{redis_server.port}/0")
    others = seed_other_keys(redis_client)
    lim = RedisLimiter(client, default=BucketConfig(max_tokens=3, **FROZEN))

    # Every limiter operation works with exactly these permissions.
    assert [lim.try_acquire("u").allowed for _ in range(4)] == [True, True, True, False]
    assert lim.configure("u", BucketConfig(max_tokens=5, **FROZEN)).overridden
    assert lim.reset("u").tokens == 5
    assert not lim.unconfigure("u").overridden
    redis_client.script_flush()  # NOSCRIPT: the limiter falls back to EVAL, allowed too
    assert lim.acquire("u", timeout=1).allowed
    redis_client.script_flush()
    assert lim.peek_many(["u", "nobody"])[1] is None  # SCRIPT LOAD
    lim.delete("u")
    assert lim.peek("u") is None

    # Outside the prefix, or any other command: NOPERM, and nothing changes.
    foreign = RedisLimiter(client, prefix="other", default=BucketConfig(max_tokens=3, **FROZEN))
    denied = {
        "limiter on another prefix": lambda: foreign.try_acquire("u"),
        "GET other": lambda: client.get("other:precious"),
        "SET other": lambda: client.set("other:precious", "x"),
        "DEL other": lambda: client.delete("other:precious"),
        "HSET other": lambda: client.hset("other:{u}", "tokens", "999"),
        "GET under the prefix": lambda: client.get(f"{PREFIX}:{{u}}"),
        "FLUSHALL": lambda: client.flushall(),
        "CONFIG SET": lambda: client.config_set("maxmemory", "1"),
        "KEYS": lambda: client.keys("*"),
        "SCRIPT FLUSH": lambda: client.script_flush(),
        "a script touching an undeclared key": lambda: client.eval("return redis.call('DEL', 'other:precious')", 0),
        "a script calling a command not granted": lambda: client.eval("return redis.call('FLUSHALL')", 1, f"{PREFIX}:{{u}}"),
        "a script on a declared key outside the prefix": lambda: client.eval("return 1", 1, "other:precious"),
    }
    not_refused = [name for name, call in denied.items() if not refused(call)]
    assert not_refused == []
    assert {k: redis_client.dump(k) for k in others} == others
    contexts = {entry["context"] for entry in redis_client.acl_log(count=50) if entry["username"] == "tb-limiter-test"}
    assert {"toplevel", "lua"} <= contexts  # the server checked the script's own calls too


def test_limiter_user_on_cluster(cluster_group, cluster_client, users):
    password = users("tb-limiter-cl", limiter_rules(cluster=True), servers=cluster_group.nodes)
    nodes = [ClusterNode(h, p) for h, p in cluster_group.startup_nodes]
    client = RedisCluster(startup_nodes=nodes, username="tb-limiter-cl", password=password, socket_timeout=5)
    try:
        lim = RedisLimiter(client, default=BucketConfig(max_tokens=2, **FROZEN))
        names = [f"c{i}" for i in range(30)]  # spread over the three primaries
        assert all(lim.try_acquire(u).allowed for u in names)
        assert all(s.tokens == 1 for s in lim.peek_many(names))
        assert lim.configure("c0", BucketConfig(max_tokens=9, **FROZEN)).overridden
        assert refused(lambda: RedisLimiter(client, prefix="other", default=BucketConfig(max_tokens=1)).try_acquire("u"))
        assert refused(lambda: client.set("other:precious", "x"))
        assert refused(lambda: client.flushall(target_nodes=RedisCluster.PRIMARIES))
    finally:
        client.close()
    # Without the cluster commands redis-py cannot even start: the recipe needs them.
    users("tb-limiter-cl2", limiter_rules(cluster=False), servers=cluster_group.nodes)
    with pytest.raises(redis.RedisError):
        RedisCluster(startup_nodes=nodes, username="tb-limiter-cl2", password="pw-" + "x" * 20, socket_timeout=5)


# --------------------------------------------------------------------------- dashboard users


def test_read_only_dashboard_user_reads_and_cannot_write(redis_server, redis_client, users):
    binary = redis_server.binary
    password = users("tb-dash-ro", dashboard_rules(binary))
    admin = RedisLimiter(redis_client, default=BucketConfig(max_tokens=3, **FROZEN))
    for u in ("a", "b{c}", "d"):
        admin.try_acquire(u)
    redis_client.xadd(f"{PREFIX}:audit", {"who": "alice", "what": "max_tokens 3 -> 5"})
    others = seed_other_keys(redis_client)
    bucket = admin.key("a")
    before = {k: redis_client.dump(k) for k in (bucket, f"{PREFIX}:audit")}
    ro = connect(f"redis://tb-dash-ro:{password}@{redis_server.host}:{redis_server.port}/0")

    # What the dashboard reads.
    found = sorted(ro.scan_iter(match=f"{PREFIX}:*", count=100))
    assert found == sorted(k.encode() for k in (admin.key("a"), admin.key("b{c}"), admin.key("d"), f"{PREFIX}:audit"))
    assert ro.hmget(bucket, "tokens", "granted") == [b"2", b"1"]
    assert ro.hgetall(bucket)[b"max_tokens"] == b"3"
    assert ro.pttl(bucket) > 0 and ro.type(bucket) == b"hash" and ro.exists(bucket) == 1
    assert ro.time() and ro.ping() and "redis_version" in ro.info("server")
    assert ro.xrevrange(f"{PREFIX}:audit", count=10)[0][1][b"who"] == b"alice"
    assert ro.xrange(f"{PREFIX}:audit")

    # What it must never do.
    ro_limiter = RedisLimiter(ro, default=BucketConfig(max_tokens=3, **FROZEN))
    denied = {
        "HSET": lambda: ro.hset(bucket, "tokens", "999"),
        "DEL": lambda: ro.delete(bucket),
        "PEXPIRE": lambda: ro.pexpire(bucket, 1),
        "XADD": lambda: ro.xadd(f"{PREFIX}:audit", {"who": "mallory"}),
        "limiter acquire (EVALSHA)": lambda: ro_limiter.try_acquire("a"),
        "limiter configure": lambda: ro_limiter.configure("a", BucketConfig(max_tokens=99)),
        "EVAL": lambda: ro.eval("return 1", 0),
        "FLUSHALL": lambda: ro.flushall(),
        "CONFIG SET": lambda: ro.config_set("maxmemory", "1"),
        "read outside the prefix": lambda: ro.hgetall("other:{u}"),
        "TYPE outside the prefix": lambda: ro.type("other:precious"),
    }
    not_refused = [name for name, call in denied.items() if not refused(call)]
    assert not_refused == []
    assert {k: redis_client.dump(k) for k in before} == before
    assert {k: redis_client.dump(k) for k in others} == others

    # SCAN ignores key patterns (redis#8152): a bare SCAN shows every key NAME, so
    # the dashboard must always send MATCH <prefix>:* (and filter again).
    leaked = [k for k in ro.scan_iter(count=100) if not k.startswith(PREFIX.encode())]
    print(f"\nNOTE bare SCAN by the read-only user returns {len(leaked)} key names outside the prefix (server behaviour)")

    if binary.at_least(7, 0):
        # %R~ refuses writes by key permission too: even a user granted HSET by mistake cannot write.
        pw = users("tb-dash-ro-hset", dashboard_rules(binary) + ["+hset"])
        careless = redis.Redis(host=redis_server.host, port=redis_server.port, username="tb-dash-ro-hset", password=pw)
        assert refused(lambda: careless.hset(bucket, "tokens", "999"))
        assert redis_client.dump(bucket) == before[bucket]


def test_operator_user_changes_buckets_and_audits_but_nothing_else(redis_server, redis_client, users):
    password = users("tb-operator", operator_rules())
    op = connect(f"redis://tb-operator:{password}@{redis_server.host}:{redis_server.port}/0")
    others = seed_other_keys(redis_client)
    lim = RedisLimiter(op, default=BucketConfig(max_tokens=3, **FROZEN))
    assert lim.try_acquire("a").allowed  # `tbdash load`
    assert lim.configure("a", BucketConfig(max_tokens=7, **FROZEN)).config.max_tokens == 7  # `tbdash set`
    op.xadd(f"{PREFIX}:audit", {"who": "tb-operator", "what": "max_tokens 3 -> 7"}, maxlen=1000, approximate=True)
    assert lim.reset("a").tokens == 7
    assert sorted(op.scan_iter(match=f"{PREFIX}:*")) == sorted([lim.key("a").encode(), f"{PREFIX}:audit".encode()])
    denied = {
        "FLUSHALL": lambda: op.flushall(),
        "CONFIG SET": lambda: op.config_set("maxmemory", "1"),
        "SCRIPT FLUSH": lambda: op.script_flush(),
        "write outside the prefix": lambda: op.set("other:precious", "x"),
        "limiter on another prefix": lambda: RedisLimiter(op, prefix="other", default=BucketConfig(max_tokens=1)).try_acquire("u"),
    }
    assert [name for name, call in denied.items() if not refused(call)] == []
    assert {k: redis_client.dump(k) for k in others} == others


# --------------------------------------------------------------------------- TLS


@pytest.fixture
def tls_server(redis_factory, tmp_path):
    """A private server with a TLS port (and its plain port, used only for the readiness probe)."""
    binary = redis_factory.binary
    if not binary_supports_tls(binary.path):
        pytest.skip(f"{binary.label} at {binary.path} is built without TLS (BUILD_TLS=no): "
                    "rediss:// cannot be tested on this server binary")
    certs = make_certs(tmp_path / "certs", server_names=("localhost",), server_ips=())  # no IP: 127.0.0.1 must fail
    tls_port = free_port()
    server = redis_factory.redis(extra_args=[
        "--tls-port", str(tls_port), "--tls-cert-file", str(certs.cert), "--tls-key-file", str(certs.key),
        "--tls-ca-cert-file", str(certs.ca), "--tls-auth-clients", "no",
    ])
    return server, tls_port, certs


def test_rediss_works_with_the_right_ca_and_fails_without_it(tls_server):
    server, port, certs = tls_server
    cfg = BucketConfig(max_tokens=2, **FROZEN)

    good = connect(f"rediss://localhost:{port}/0?ssl_ca_certs={certs.ca}")
    lim = RedisLimiter(good, default=cfg)
    assert [lim.try_acquire("t").allowed for _ in range(3)] == [True, True, False]
    connection = good.connection_pool.get_connection()
    assert isinstance(connection, redis.SSLConnection)
    good.connection_pool.release(connection)
    with server.client() as plain:  # the same server saw it
        assert plain.hget(lim.key("t"), "granted") == b"2"

    failures = {
        "a CA that did not sign the certificate": f"rediss://localhost:{port}/0?ssl_ca_certs={certs.other_ca}",
        "no CA (system trust store)": f"rediss://localhost:{port}/0",
        "a host name the certificate does not name": f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={certs.ca}",
        "plain text to the TLS port": f"redis://localhost:{port}/0",
    }
    for why, url in failures.items():
        limiter = RedisLimiter(connect(url, socket_timeout=2, connect_timeout=2), default=cfg)
        with pytest.raises(RedisUnavailable) as err:
            limiter.try_acquire("t")
        if url.startswith("rediss"):
            assert "certificate" in str(err.value).lower() or "hostname" in str(err.value).lower(), (why, str(err.value))

    # Checks off only when asked for, explicitly.
    insecure = RedisLimiter(connect(f"rediss://127.0.0.1:{port}/0?insecure=true"), default=cfg)
    assert insecure.try_acquire("t2").allowed


# --------------------------------------------------------------------------- secrets

CANARY = "CANARY-7f1e-pw-s3cr3t"
WRONG = "WRONG-CANARY-9a8b"


def _texts_of(exc: BaseException) -> list[str]:
    return [str(exc), repr(exc), "".join(traceback.format_exception(exc))]


def test_canary_password_never_shows(redis_factory, caplog):
    server = redis_factory.redis(password=CANARY)
    caplog.set_level(logging.DEBUG)
    with open(f"/proc/{server.pid}/cmdline", "rb") as f:
        assert CANARY.encode() not in f.read()  # requirepass went in a private file, not argv

    dead = free_port()
    host = f"127.0.0.1:{server.port}"
    cfg = BucketConfig(max_tokens=2, **FROZEN)
    shown: list[str] = []

    # It works with the right password, and nothing printable holds it.
    good = connect(f"redis://:{CANARY}@{host}/0")
    lim = RedisLimiter(good, default=cfg)
    assert lim.try_acquire("u").allowed
    shown += [repr(good), str(good), repr(good.connection_pool), repr(lim), repr(parse_url(f"redis://:{CANARY}@{host}/0"))]
    direct = redis.Redis.from_url(f"redis://:{CANARY}@{host}/0")
    shown += [repr(direct), repr(direct.connection_pool)]

    # Errors: a wrong password, unreachable hosts, in every URL form.
    failing = {
        "wrong password": f"redis://:{WRONG}@{host}/0",
        "wrong password as ?password=": f"redis://{host}/0?password={WRONG}",
        "wrong user and password": f"redis://nobody:{WRONG}@{host}/0",
        "no password": f"redis://{host}/0",
        "unreachable": f"redis://:{CANARY}@127.0.0.1:{dead}/0",
        "unreachable, ?password=": f"redis://127.0.0.1:{dead}/0?password={CANARY}",
        "unreachable sentinel": f"redis+sentinel://:{CANARY}@127.0.0.1:{dead}/mymaster?sentinel_password={WRONG}",
    }
    builders = {
        "limiter.connect": lambda u: connect(u, socket_timeout=0.5, connect_timeout=0.5),
        "redis.Redis.from_url": lambda u: redis.Redis.from_url(u, socket_timeout=0.5, socket_connect_timeout=0.5),
    }
    for why, url in failing.items():
        for how, build in builders.items():
            if url.startswith("redis+") and how != "limiter.connect":
                continue  # redis-py has no URL form for Sentinel
            client = build(url)
            shown += [repr(client), str(client)]
            for on_error in ("raise", "allow"):
                limiter = RedisLimiter(client, default=cfg, on_error=on_error)
                try:
                    decision = limiter.try_acquire("u")
                    assert on_error == "allow" and decision.fail_mode == "allow", (why, how)
                except (RedisUnavailable, redis.exceptions.AuthenticationError) as exc:
                    shown += _texts_of(exc)  # bad credentials raise whatever on_error says
            with pytest.raises((RedisUnavailable, redis.exceptions.AuthenticationError)) as err:
                RedisLimiter(client, default=cfg).peek("u")
            shown += _texts_of(err.value)
    with pytest.raises(redis.exceptions.RedisClusterException) as err:  # the cluster client connects at once
        connect(f"redis+cluster://:{CANARY}@127.0.0.1:{dead}", socket_timeout=0.5, connect_timeout=0.5)
    shown += _texts_of(err.value)

    shown.append(caplog.text)
    leaks = [text for text in shown if CANARY in text or WRONG in text]
    assert leaks == []
    assert len(shown) > 50


# --------------------------------------------------------------------------- the README's recipes, as printed


README = Path(__file__).resolve().parent.parent / "README.md"
RECIPE_PASSWORD = "recipe-pw-" + "z" * 16


def readme_recipes(binary) -> dict[str, list[str]]:
    """User name -> ACL SETUSER arguments, exactly as the README's 'ACL recipes' ```text block gives them.

    The block's own notes are applied: $SECRET is the password; on 6.2 ``~`` replaces ``%R~``.
    """
    section = README.read_text().split("## ACL recipes", 1)[1]
    block = section.split("```text\n", 1)[1].split("```", 1)[0]
    recipes = {}
    for line in block.splitlines():
        if line.startswith("ACL SETUSER "):
            words = line.replace("$SECRET", RECIPE_PASSWORD).split()
            if not binary.at_least(7, 0):
                words = [w.replace("%R~", "~") for w in words]
            recipes[words[2]] = words[3:]
    return recipes


@pytest.fixture
def recipe_users(redis_server, redis_client):
    """The README's users on the shared server; deleted after the test."""
    recipes = readme_recipes(redis_server.binary)
    assert {"tb-limiter", "tb-dashboard", "tb-operator"} <= set(recipes)
    for name, words in recipes.items():
        redis_client.execute_command("ACL", "SETUSER", name, *words)
    yield {name: f"redis://{name}:{RECIPE_PASSWORD}@{redis_server.host}:{redis_server.port}/0" for name in recipes}
    for name in recipes:
        redis_client.execute_command("ACL", "DELUSER", name)


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    from dashboard.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def seed_recipe_buckets(redis_client) -> None:
    limiter = RedisLimiter(redis_client, default=BucketConfig(max_tokens=5, **FROZEN))
    limiter.try_acquire("alice")
    limiter.configure("bob", BucketConfig(max_tokens=7, **FROZEN))


def test_the_readme_read_only_recipe_runs_status_and_audit_and_is_told_why_it_cannot_write(capsys, redis_client, recipe_users) -> None:
    """Was: `tbdash status` exit 3 "Redis unavailable: Timeout reading from socket" (the poll's ECHO was not granted);
    `tbdash set` printed "tbdash: NoPermissionError: ..."."""
    seed_recipe_buckets(redis_client)
    url = recipe_users["tb-dashboard"]
    code, out, err = cli(capsys, "--url", url, "status")
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()[1:3]] == ["alice", "bob"]
    code, out, err = cli(capsys, "--url", url, "status", "--json")
    assert code == 0 and '"user": "bob"' in out, err
    code, out, err = cli(capsys, "--url", url, "audit")
    assert code == 0 and "no changes recorded" in out, err
    before = {k: redis_client.dump(k) for k in redis_client.keys("*")}
    for argv, command in ((["set", "bob", "--max-tokens", "9"], "EVALSHA"), (["load", "alice", "--rate", "5", "--duration", "0.2"], "EVALSHA")):
        code, out, err = cli(capsys, "--url", url, *argv)
        assert (code, out) == (2, ""), err
        assert err == (f"tbdash {argv[0]}: Redis user 'tb-dashboard' may not run {command} (NOPERM): "
                       "changing buckets needs an operator user, see README 'ACL recipes'\n")
    assert {k: redis_client.dump(k) for k in redis_client.keys("*")} == before


def test_the_readme_operator_recipe_runs_every_command(capsys, redis_client, recipe_users) -> None:
    seed_recipe_buckets(redis_client)
    url = recipe_users["tb-operator"]
    for argv in (["status"], ["status", "--json"], ["set", "bob", "--max-tokens", "9"], ["set", "new", "--max-tokens", "3", "--create"],
                 ["load", "alice", "--rate", "20", "--duration", "0.2"], ["set", "bob", "--reset"], ["audit"], ["audit", "--json"]):
        code, out, err = cli(capsys, "--url", url, *argv)
        assert code == 0, (argv, err)
    assert redis_client.xlen(f"{PREFIX}:audit") == 3
    assert RedisLimiter(redis_client, default=BucketConfig(max_tokens=5, **FROZEN)).peek("bob").config.max_tokens == 9


@pytest.mark.parametrize("user", ["tb-dashboard", "tb-operator"])
async def test_the_dashboard_goes_live_with_each_readme_recipe_user(redis_client, recipe_users, user: str) -> None:
    """Was: DISCONNECTED for ever with the read-only recipe."""
    from dashboard.core.backend import RedisBackend
    from dashboard.settings import load_settings
    from dashboard.tui.app import TbdashApp

    seed_recipe_buckets(redis_client)
    settings = load_settings(None, overrides={"redis.url": recipe_users[user]})
    app = TbdashApp(RedisBackend.from_settings(settings), poll_interval=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        assert app.link == "live", app.error
        assert app.snapshot is not None and sorted(r.user for r in app.snapshot.buckets) == ["alice", "bob"]


def test_a_refused_poll_is_shown_as_the_missing_permission(redis_server, redis_client, users) -> None:
    """The dashboard's banner text (`describe`) for a poll the ACL refuses: the command, never a timeout or an outage."""
    import asyncio

    from dashboard.core.backend import RedisBackend
    from dashboard.settings import load_settings
    from dashboard.tui.polling import describe, is_disconnect

    seed_recipe_buckets(redis_client)
    password = users("tb-no-hmget", rules([c for c in DASHBOARD_READ_COMMANDS if c != "hmget"], f"~{PREFIX}:*"))
    url = f"redis://tb-no-hmget:{password}@{redis_server.host}:{redis_server.port}/0"

    async def poll() -> BaseException:
        backend = RedisBackend.from_settings(load_settings(None, overrides={"redis.url": url}))
        try:
            await backend.connect()
            await backend.poll()
        except Exception as exc:
            return exc
        finally:
            await backend.aclose()
        raise AssertionError("the poll was not refused")

    exc = asyncio.run(poll())
    assert not is_disconnect(exc)
    assert describe(exc) == "this Redis user may not run HMGET (NOPERM): see README 'ACL recipes'"
