"""[limiter] idle_ttl: how long tbdash's own writes keep a full, unconfigured bucket."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.cli import main
from dashboard.settings import ConfigError, load_settings
from limiter import BucketConfig, RedisLimiter

FAST_FULL = BucketConfig(max_tokens=10, burst=0, refill_count=10, refill_interval=0.001)


# The script rounds an expiry up to a multiple of idle_ttl / 8 (issue 9: it is sent only when it moves).
@pytest.mark.parametrize("idle_ttl, low, high", [(5, 4_000, 5_626), (600, 590_000, 675_001)])
def test_reset_from_tbdash_uses_the_configured_idle_ttl(redis_client, redis_url, tmp_path: Path, capsys, idle_ttl, low, high):
    RedisLimiter(redis_client, default=FAST_FULL).try_acquire("alice")
    config = tmp_path / "config.toml"
    config.write_text(f"[limiter]\nidle_ttl = {idle_ttl}\n")
    assert main(["--config", str(config), "--url", redis_url, "set", "alice", "--reset"]) == 0
    capsys.readouterr()
    assert low < redis_client.pttl("token_bucket:{alice}") <= high  # full now: the TTL is idle_ttl (rounded up)


def test_a_bad_idle_ttl_names_the_field(tmp_path: Path):
    config = tmp_path / "config.toml"
    config.write_text("[limiter]\nidle_ttl = -1\n")
    with pytest.raises(ConfigError) as err:
        load_settings(str(config))
    assert "limiter.idle_ttl" in str(err.value)
