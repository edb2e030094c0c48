"""Thresholds: which buckets fire and why (deny ratio over a window, time empty), on a fake clock; their settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.core.emptiness import EmptySince
from dashboard.core.protocol import BucketRow
from dashboard.core.thresholds import Thresholds, duration_text, firing
from dashboard.core.windows import WindowStore
from dashboard.settings import ConfigError, load_settings
from limiter import BucketConfig

CFG = BucketConfig(max_tokens=5, burst=0, refill_count=1, refill_interval=3600)


def row(user: str, granted: int = 0, denied: int = 0, tokens: int = 1) -> BucketRow:
    return BucketRow(user, tokens, CFG, granted, denied, False, None)


class Watch:
    def __init__(self) -> None:
        self.windows, self.empty = WindowStore(), EmptySince()

    def poll(self, second: float, *rows: BucketRow) -> None:
        us = round(second * 1_000_000)
        self.windows.update(us, rows)
        self.empty.update(us, rows)

    def firing(self, thresholds: Thresholds) -> dict[str, list[str]]:
        return {f.user: [r.text for r in f.reasons] for f in firing(thresholds, self.windows, self.empty)}


T = Thresholds(deny_ratio=0.10, deny_window=60, deny_min_requests=10, empty_for=30)


def test_deny_ratio_fires_at_the_threshold_and_not_below_it() -> None:
    watch = Watch()
    watch.poll(0, row("at", 0, 0), row("below", 0, 0), row("few", 0, 0), row("none", 0, 0))
    watch.poll(100, row("at", 0, 0), row("below", 0, 0), row("few", 0, 0), row("none", 0, 0))
    watch.poll(130, row("at", 90, 10), row("below", 91, 9), row("few", 0, 9), row("none", 500, 0))
    fired = watch.firing(T)
    assert fired == {"at": ["denied 10 of 100 requests (10% >= 10%) over 1m"]}  # "few": 9 requests < deny_min_requests


def test_denials_older_than_the_window_do_not_fire() -> None:
    watch = Watch()
    watch.poll(0, row("a"))
    watch.poll(1, row("a", 0, 50))
    assert "a" in watch.firing(T)
    for second in range(2, 62):
        watch.poll(second, row("a", second, 50))
    # The 1 s denials are just past the window, but its nearest sample is at 0 s: counted, and the span says so.
    assert watch.firing(T) == {"a": ["denied 50 of 111 requests (45% >= 10%) over 1m1s (1m to the nearest sample)"]}
    for second in range(62, 67):
        watch.poll(second, row("a", second, 50))
    assert watch.firing(T) == {}


def test_a_partial_window_fires_on_what_it_covers_and_says_so() -> None:
    watch = Watch()
    watch.poll(0, row("a", 100, 100))  # counted before the dashboard: not in any window
    watch.poll(20, row("a", 100, 120))
    assert watch.firing(T) == {"a": ["denied 20 of 20 requests (100% >= 10%) over 20s (partial: the history is shorter than 1m)"]}


def test_empty_for_counts_consecutive_empty_polls_from_the_first_that_saw_it() -> None:
    watch = Watch()
    watch.poll(0, row("a", tokens=0), row("b", tokens=0))
    watch.poll(29, row("a", tokens=0), row("b", tokens=0))
    assert watch.firing(T) == {}
    watch.poll(30, row("a", tokens=0), row("b", tokens=1))  # one token seen: b's run ends
    assert watch.firing(T) == {"a": ["empty for 30s (>= 30s)"]}
    watch.poll(45, row("a", tokens=0), row("b", tokens=0))
    assert watch.firing(T) == {"a": ["empty for 45s (>= 30s)"]}
    assert watch.empty.empty_for("b") == 0.0
    watch.poll(46, row("b", tokens=0))  # a is gone: forgotten
    assert watch.empty.empty_for("a") is None and len(watch.empty) == 1


def test_both_reasons_on_one_bucket_and_thresholds_turned_off() -> None:
    watch = Watch()
    watch.poll(0, row("a", 0, 0, tokens=0))
    watch.poll(40, row("a", 5, 20, tokens=0))
    assert [len(r) for r in watch.firing(T).values()] == [2]
    assert watch.firing(Thresholds(deny_ratio=0, empty_for=0)) == {}
    assert list(watch.firing(Thresholds(deny_ratio=0, empty_for=30))["a"]) == ["empty for 40s (>= 30s)"]
    assert not Thresholds(deny_ratio=0, empty_for=0).any
    assert Thresholds(deny_ratio=0.5, deny_window=300, empty_for=30).sampling_s == 300
    assert Thresholds(deny_ratio=0, deny_window=300, empty_for=30).sampling_s == 30


def test_a_clock_that_goes_back_restarts_empty_runs() -> None:
    empty = EmptySince()
    empty.update(100_000_000, [row("a", tokens=0)])
    empty.update(50_000_000, [row("a", tokens=0)])
    assert empty.empty_for("a") == 0.0


@pytest.mark.parametrize(("seconds", "text"), [(0.25, "250ms"), (1.5, "1.5s"), (45, "45s"), (60, "1m"), (90, "1m30s"), (3600, "1h"), (3725, "1h2m5s")])
def test_duration_text(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


# --------------------------------------------------------------------------- settings


def _settings(tmp_path: Path, body: str, env: dict[str, str] | None = None):
    path = tmp_path / "config.toml"
    path.write_text(body)
    return load_settings(path, env=env or {})


def test_thresholds_from_config_toml_with_durations_as_everywhere(tmp_path: Path) -> None:
    settings = _settings(tmp_path, '[dashboard]\ndeny_ratio = 0.25\ndeny_window = "5m"\ndeny_min_requests = 3\nempty_for = "1.5s"\n')
    assert Thresholds.from_settings(settings.dashboard) == Thresholds(0.25, 300.0, 3, 1.5)
    settings = _settings(tmp_path, "[dashboard]\ndeny_window = 90\nempty_for = 0\n")
    assert (settings.dashboard.deny_window, settings.dashboard.empty_for) == (90.0, 0.0)
    assert Thresholds.from_settings(load_settings(None, env={}).dashboard) == Thresholds()  # the defaults agree
    env = {"TBDASH_DASHBOARD__DENY_WINDOW": "2m", "TBDASH_DASHBOARD__DENY_RATIO": "0.5"}
    settings = _settings(tmp_path, "", env)
    assert (settings.dashboard.deny_window, settings.dashboard.deny_ratio) == (120.0, 0.5)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('deny_window = "soon"', "dashboard.deny_window: must be a duration: seconds (0.5) or with a unit (250ms, 2s, 1m) (got 'soon')"),
        ('deny_window = "2h"', "dashboard.deny_window: must be <= 3600"),
        ('deny_window = "500ms"', "dashboard.deny_window: must be >= 1"),
        ("deny_window = true", "dashboard.deny_window: must be a duration"),
        ("deny_ratio = 1.5", "dashboard.deny_ratio: must be <= 1"),
        ("deny_ratio = -0.1", "dashboard.deny_ratio: must be >= 0"),
        ('deny_ratio = "lots"', "dashboard.deny_ratio: must be a number"),
        ("deny_min_requests = 0", "dashboard.deny_min_requests: must be >= 1"),
        ('empty_for = "-3s"', "dashboard.empty_for: must be >= 0"),
        ('empty_for = "2d"', "dashboard.empty_for: must be a duration"),
        ("deny_windw = 60", "dashboard.deny_windw: unknown key; did you mean 'deny_window'?"),
    ],
)
def test_threshold_errors_name_the_file_and_the_field(tmp_path: Path, body: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(tmp_path, f"[dashboard]\n{body}\n")
    (line,) = caught.value.problems
    assert line.startswith(str(tmp_path / "config.toml") + ": ") and problem in line


def test_threshold_errors_from_the_environment_name_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(tmp_path, "", {"TBDASH_DASHBOARD__EMPTY_FOR": "forever"})
    assert caught.value.problems[0].startswith("TBDASH_DASHBOARD__EMPTY_FOR: dashboard.empty_for: must be a duration")
