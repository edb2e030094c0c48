"""The Redis bucket when its server fails: down and back, paused, blocked by DEBUG SLEEP or a busy script.

Each test runs three limiters on one client, one per ``on_error`` policy, from
several threads at once, against a private server (``redis_factory``). The
client has the explicit short timeouts a service should use (0.3 s, one
jittered retry: what ``limiter.connect`` gives by default). What must hold:
every call returns within the timeouts (no thread hangs), the answer during the
fault is the policy's (``RedisUnavailable`` / allowed / denied, marked with
``fail_mode``), nothing else reaches callers, and the same limiter objects serve
again once the server is back, with no restart.
"""

from __future__ import annotations

import threading
import time

import pytest
import redis

from faults_helpers import FAST, Tally, errorstats, fast_retry, hammer, join_all, report, wait_until
from limiter import BucketConfig, RedisLimiter, RedisUnavailable

POLICIES = ("raise", "allow", "deny")
CFG = BucketConfig(max_tokens=50, refill_count=50, refill_interval=0.1)


class Policies:
    """One limiter and one tally per on_error policy, all on one client, driven by threads."""

    def __init__(self, client: redis.Redis, threads_per_policy: int = 2) -> None:
        self.limiters = {p: RedisLimiter(client, default=CFG, on_error=p) for p in POLICIES}
        self.tallies = {p: Tally() for p in POLICIES}
        self.stop = threading.Event()
        self.workers = [
            w
            for p, lim in self.limiters.items()
            for w in hammer(lim, [f"{p}-{i}" for i in range(3)], threads=threads_per_policy, stop=self.stop,
                            tally=self.tallies[p], pause=0.002)
        ]

    def failed(self) -> int:
        return sum(t.failed for t in self.tallies.values())

    def recovered(self) -> bool:
        return all(t.first_good_after_error is not None for t in self.tallies.values())

    def finish(self) -> list[str]:
        self.stop.set()
        return join_all(self.workers, 30)

    @property
    def slowest(self) -> float:
        return max(t.slowest for t in self.tallies.values())

    def check_policies_applied(self) -> None:
        """During the fault each policy answered its way, and nothing else reached a caller."""
        raised, allowed, denied = (self.tallies[p] for p in POLICIES)
        for tally in self.tallies.values():
            assert not tally.unexpected, tally.unexpected[0]
        assert set(raised.errors) == {"RedisUnavailable"} and not raised.fallback
        assert set(allowed.fallback) == {"allow"} and not allowed.errors
        assert set(denied.fallback) == {"deny"} and not denied.errors


def _client(server) -> redis.Redis:
    return server.client(retry=fast_retry(), **FAST)


def test_fallback_decisions_say_what_they_are(redis_factory):
    """The answers a caller gets while Redis is away, one by one."""
    server = redis_factory.redis()
    client = _client(server)
    lims = {p: RedisLimiter(client, default=CFG, on_error=p) for p in POLICIES}
    assert all(lim.try_acquire("u").allowed for lim in lims.values())
    server.kill()
    durations = []
    for _ in range(3):
        started = time.monotonic()
        with pytest.raises(RedisUnavailable) as err:
            lims["raise"].try_acquire("u")
        assert f"{server.port}" in str(err.value) and isinstance(err.value.__cause__, redis.ConnectionError)
        allow = lims["allow"].try_acquire("u")
        assert allow.allowed and allow.fail_mode == "allow" and allow.limit == CFG.ceiling
        deny = lims["deny"].try_acquire("u")
        assert not deny.allowed and deny.fail_mode == "deny" and deny.retry_after == CFG.refill_interval
        # acquire() gives up at once instead of retrying into the outage.
        assert lims["deny"].acquire("u", timeout=30).fail_mode == "deny"
        durations.append(time.monotonic() - started)
    # peek/configure have no policy: they raise (a dashboard shows "disconnected").
    with pytest.raises(RedisUnavailable):
        lims["allow"].peek("u")
    with pytest.raises(RedisUnavailable):
        lims["deny"].configure("u", CFG)
    assert max(durations) < 5
    server.restart()
    assert all(wait_until(lambda: lim.try_acquire("u").fail_mode is None, 10, "reconnect") for lim in lims.values())


@pytest.mark.slow
def test_redis_down_and_back_fails_fast_and_resumes_by_itself(redis_factory):
    server = redis_factory.redis()
    run = Policies(_client(server))
    try:
        wait_until(lambda: all(t.granted > 0 for t in run.tallies.values()), 10, "traffic")
        assert run.failed() == 0
        server.kill()
        down_at = time.monotonic()
        wait_until(lambda: all(t.failed >= 5 for t in run.tallies.values()), 10, "every policy to answer the outage")
        time.sleep(max(0.0, 1.5 - (time.monotonic() - down_at)))
        failed_while_down = run.failed()
        server.restart()  # same port, empty (no persistence)
        back_at = time.monotonic()
        wait_until(run.recovered, 15, "every limiter to decide again")
        reconnect_s = max(t.first_good_after_error for t in run.tallies.values()) - back_at
        time.sleep(0.3)
    finally:
        stuck = run.finish()
    report(
        f"redis down and back ({server.binary.label})",
        outage_s=back_at - down_at, failed_calls_while_down=failed_while_down,
        worst_call_s=run.slowest, reconnect_after_restart_s=max(0.0, reconnect_s),
    )
    assert not stuck
    run.check_policies_applied()
    assert run.slowest < 5  # fail fast: nothing waited for the server to come back
    assert reconnect_s < 10
    assert all(t.granted > 0 for t in run.tallies.values())


@pytest.mark.slow
def test_paused_server_times_out_by_policy_and_no_thread_hangs(redis_factory):
    """SIGSTOP: the port still accepts connections but nothing answers (a hung host)."""
    server = redis_factory.redis()
    run = Policies(_client(server))
    pause_s = 2.0
    try:
        wait_until(lambda: all(t.granted > 0 for t in run.tallies.values()), 10, "traffic")
        server.pause()
        paused_at = time.monotonic()
        time.sleep(pause_s)
        failed_while_paused = run.failed()
        server.resume()
        resumed_at = time.monotonic()
        wait_until(run.recovered, 15, "every limiter to decide again")
        recover_s = max(t.first_good_after_error for t in run.tallies.values()) - resumed_at
    finally:
        if server.paused:
            server.resume()
        stuck = run.finish()
    report(
        f"paused server ({server.binary.label})",
        paused_s=resumed_at - paused_at, failed_calls_while_paused=failed_while_paused,
        worst_call_s=run.slowest, recover_after_resume_s=max(0.0, recover_s),
    )
    assert not stuck
    run.check_policies_applied()
    # Threads kept getting answers while the server was frozen, and no call waited
    # for it: a client without timeouts would block its first call for the whole pause.
    assert failed_while_paused >= len(run.workers)
    assert run.slowest < pause_s - 0.5
    assert recover_s < 10


@pytest.mark.slow
def test_debug_sleep_blocks_the_server_and_decisions_come_back_by_policy(redis_factory):
    server = redis_factory.redis(debug_command=True)
    run = Policies(_client(server))
    sleep_s = 2.0

    def block() -> None:
        with server.client(socket_timeout=30) as blocker:
            blocker.execute_command("DEBUG", "SLEEP", sleep_s)  # 7.x: needs enable-debug-command

    blocker = threading.Thread(target=block)
    try:
        wait_until(lambda: all(t.granted > 0 for t in run.tallies.values()), 10, "traffic")
        blocked_at = time.monotonic()
        blocker.start()
        blocker.join(30)
        unblocked_at = time.monotonic()
        failed_while_blocked = run.failed()
        wait_until(run.recovered, 15, "every limiter to decide again")
        recover_s = max(t.first_good_after_error for t in run.tallies.values()) - unblocked_at
    finally:
        stuck = run.finish()
    report(
        f"DEBUG SLEEP {sleep_s} s ({server.binary.label})",
        blocked_s=unblocked_at - blocked_at, failed_calls_while_blocked=failed_while_blocked,
        worst_call_s=run.slowest, recover_after_unblock_s=max(0.0, recover_s),
    )
    assert not blocker.is_alive() and not stuck
    run.check_policies_applied()
    assert failed_while_blocked >= len(run.workers)
    assert run.slowest < sleep_s - 0.5  # answered by policy, not after the server woke up
    assert recover_s < 10


@pytest.mark.slow
def test_busy_script_gets_busy_replies_answered_by_policy(redis_factory):
    """A runaway read-only script from another client: after busy-reply-threshold, BUSY; then SCRIPT KILL."""
    server = redis_factory.redis()
    with server.client() as admin:
        # 7.0 calls it busy-reply-threshold; lua-time-limit is the name on 6.2 and an alias on 7.x.
        admin.config_set("lua-time-limit", 100)
    run = Policies(_client(server))
    outcome: list[BaseException] = []

    def runaway() -> None:
        with server.client(socket_timeout=30) as looper:
            try:
                looper.eval("while true do end", 0)
            except redis.RedisError as exc:  # "script killed" expected; anything else fails below
                outcome.append(exc)

    looper = threading.Thread(target=runaway)
    before = errorstats([server])
    try:
        wait_until(lambda: all(t.granted > 0 for t in run.tallies.values()), 10, "traffic")
        failed_before = run.failed()
        looper.start()
        # While the script runs the server answers BUSY to everything else (INFO too).
        wait_until(lambda: run.failed() > failed_before + 20, 15, "callers to meet the busy server")
        time.sleep(1.0)
        failed_while_busy = run.failed()
        with server.client(socket_timeout=5) as admin:
            admin.script_kill()
        killed_at = time.monotonic()
        looper.join(30)
        wait_until(run.recovered, 15, "every limiter to decide again")
        recover_s = max(t.first_good_after_error for t in run.tallies.values()) - killed_at
    finally:
        stuck = run.finish()
    busy = errorstats([server])["BUSY"] - before["BUSY"]
    report(
        f"busy script ({server.binary.label})",
        busy_replies=busy, failed_calls_while_busy=failed_while_busy, worst_call_s=run.slowest,
        recover_after_script_kill_s=max(0.0, recover_s),
    )
    assert not looper.is_alive() and not stuck
    assert outcome and "killed" in str(outcome[0]).lower()
    run.check_policies_applied()
    assert failed_while_busy >= len(run.workers)
    assert run.slowest < 5
    assert recover_s < 10
