"""The CLI judges its values before connecting, accepts what the dashboard's forms accept, and words errors as they do.

Redis is deliberately unreachable in the refusal tests: a bad value is exit 2
(bad usage), never 3, whatever Redis is doing. The expected message comes from
`dashboard.core.inputs` (the validator the TUI forms use), not from a copy.
"""

from __future__ import annotations

import pytest

from dashboard.cli import main
from dashboard.core.inputs import validate_bucket, validate_load
from dashboard.embedded import free_port
from limiter import BucketConfig, RedisLimiter

GOOD_BUCKET = {"max_tokens": "10", "burst": "5", "refill_count": "1", "refill_interval": "1"}
GOOD_LOAD = {"rate": "10", "duration": "1", "concurrency": "4", "tokens": "1"}
BUCKET_FLAGS = {"max_tokens": "--max-tokens", "burst": "--burst", "refill_count": "--refill-count", "refill_interval": "--refill-interval"}
LOAD_FLAGS = {"rate": "--rate", "duration": "--duration", "concurrency": "--concurrency", "tokens": "--tokens"}


@pytest.fixture(scope="module")
def down() -> str:
    return f"redis://127.0.0.1:{free_port()}/0?socket_timeout=0.5&connect_timeout=0.5"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


BAD_SETTINGS = [
    ("max_tokens", "-1"), ("max_tokens", "0"), ("max_tokens", "1.5"), ("max_tokens", "ten"), ("max_tokens", "nan"),
    ("burst", "-1"), ("burst", "inf"), ("refill_count", "0"), ("refill_count", "-7"),
    ("refill_interval", "0.0001"), ("refill_interval", "0"), ("refill_interval", "-1"), ("refill_interval", "abc"),
    ("refill_interval", "nan"), ("refill_interval", "inf"), ("refill_interval", "5 parsecs"), ("refill_interval", "1e400"),
]


@pytest.mark.parametrize(("field", "value"), BAD_SETTINGS)
def test_a_bad_setting_is_exit_2_before_connecting_in_the_forms_words(capsys, down: str, field: str, value: str) -> None:
    """Was: exit 3 with Redis down, and pydantic's raw "Input should be greater than or equal to 1"."""
    _, errors = validate_bucket({**GOOD_BUCKET, field: value})  # what the edit form says
    assert set(errors) == {field}
    code, out, err = run(capsys, "--url", down, "set", "u", BUCKET_FLAGS[field], value)
    assert (code, out) == (2, "")
    assert err == f"tbdash set: {BUCKET_FLAGS[field]}: {errors[field]}\n"
    assert "Input should be" not in err


BAD_LOADS = [
    ("rate", "-5"), ("rate", "0"), ("rate", "nan"), ("rate", "inf"), ("rate", "-inf"), ("rate", "1e9"), ("rate", "fast"),
    ("duration", "-1"), ("duration", "0"), ("duration", "nan"), ("duration", "inf"), ("duration", "2h"), ("duration", "soon"),
    ("concurrency", "0"), ("concurrency", "-3"), ("concurrency", "1.5"), ("concurrency", "5000"), ("concurrency", "nan"),
    ("tokens", "0"), ("tokens", "-1"), ("tokens", "nan"), ("tokens", "inf"), ("tokens", "2.5"),
]


@pytest.mark.parametrize(("field", "value"), BAD_LOADS)
def test_a_bad_load_flag_is_exit_2_before_connecting_in_the_forms_words(capsys, down: str, field: str, value: str) -> None:
    _, errors = validate_load({**GOOD_LOAD, field: value}, user="u", ceiling=None)  # what the load form says
    assert set(errors) == {field}
    flags = {LOAD_FLAGS[f]: v for f, v in {**GOOD_LOAD, field: value}.items()}
    code, out, err = run(capsys, "--url", down, "load", "u", *[f"{flag}={v}" for flag, v in flags.items()])
    assert (code, out) == (2, "")
    assert err == f"tbdash load: {LOAD_FLAGS[field]}: {errors[field]}\n"


@pytest.mark.parametrize("value", ["-5", "0", "x", "nan", "inf", "1.5", "100000"])
def test_audit_limit_must_be_a_sane_count(capsys, down: str, value: str) -> None:
    """Was: `audit --limit -5` printed "no changes recorded" and exited 0."""
    code, out, err = run(capsys, "--url", down, "audit", "--limit", value)
    assert (code, out) == (2, "")
    assert err.startswith("tbdash audit: --limit: ") and len(err.splitlines()) == 1


def test_intervals_and_numbers_in_the_forms_spellings(capsys, redis_client, redis_url: str) -> None:
    """`250ms`, `2s`, `1m` and grouped digits, exactly as the dashboard's forms take them (was: exit 2)."""
    limiter = RedisLimiter(redis_client, default=BucketConfig(max_tokens=10, refill_interval=3600))
    for value, seconds in (("250ms", 0.25), ("2s", 2.0), ("1m", 60.0), ("0.5", 0.5)):
        code, _, err = run(capsys, "--url", redis_url, "set", "u", "--refill-interval", value, "--max-tokens", "1_000", "--create")
        assert code == 0, err
        state = limiter.peek("u")
        assert state is not None and state.config.refill_interval == seconds and state.config.max_tokens == 1000
    code, out, err = run(capsys, "--url", redis_url, "load", "u", "--rate", "20", "--duration", "200ms", "--json")
    assert code == 0, err
    assert '"sent": 4' in out


def test_a_whole_form_rule_is_judged_against_the_settings_in_force(capsys, redis_client, redis_url: str) -> None:
    RedisLimiter(redis_client, default=BucketConfig(max_tokens=10, refill_interval=3600)).configure("u", BucketConfig(max_tokens=2**52, refill_count=2**20))
    code, _, err = run(capsys, "--url", redis_url, "set", "u", "--burst", str(2**52))
    _, errors = validate_bucket({"max_tokens": str(2**52), "burst": str(2**52), "refill_count": str(2**20), "refill_interval": "1"})
    assert set(errors) == {""}
    assert code == 2 and err == f"tbdash set: settings: {errors['']}\n"
