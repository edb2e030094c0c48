"""``[limiter]``, ``[dashboard]`` and ``[demo]``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from dashboard.settings.durations import Duration
from dashboard.settings.redis import Section
from limiter.config import BucketConfig
from limiter.keys import DEFAULT_PREFIX, validate_prefix, validate_user

DEFAULT_BUCKET = BucketConfig(max_tokens=10, burst=5, refill_count=1, refill_interval=1.0)


class LimiterSettings(Section):
    """``[limiter]``: key prefix, what to do when Redis is unreachable, idle expiry, default bucket."""

    prefix: str = DEFAULT_PREFIX
    on_error: Literal["raise", "allow", "deny"] = "raise"
    idle_ttl: float = Field(default=60.0, ge=0, le=9_007_199_254_740)
    default: BucketConfig = DEFAULT_BUCKET

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, prefix: str) -> str:
        return validate_prefix(prefix)


LONGEST_WINDOW = 3600.0  # seconds: the longest window the dashboard keeps counters for (core.windows)


class DashboardSettings(Section):
    """``[dashboard]``: polling, history, read-only, looks, operator name, alert thresholds."""

    poll_interval: float = Field(default=1.0, ge=0.1, le=3600)
    history_length: int = Field(default=300, ge=10, le=100_000)
    read_only: bool = False
    theme: str | None = Field(default=None, min_length=1)
    operator: str | None = Field(default=None, min_length=1, max_length=64)
    export_dir: str | None = Field(default=None, min_length=1)  # where the dashboard's exports go (default: the current directory)
    # Thresholds (dashboard.core.thresholds): a row fires when one is crossed. 0 turns a threshold off.
    deny_ratio: float = Field(default=0.10, ge=0, le=1)  # denials / requests over deny_window
    deny_window: Duration = Field(default=60.0, ge=1, le=LONGEST_WINDOW)
    deny_min_requests: int = Field(default=10, ge=1, le=1_000_000_000)  # fewer requests in the window never fire
    empty_for: Duration = Field(default=30.0, ge=0, le=86_400)  # seconds seen empty (no token) in a row

    @field_validator("operator")
    @classmethod
    def _operator(cls, name: str | None) -> str | None:
        if name is not None and (name.strip() != name or any(c.isspace() and c != " " for c in name)):
            raise ValueError("must be a name without surrounding spaces or line breaks")
        return name


Traffic = Literal["steady", "bursty", "idle", "throttled"]


class DemoUser(BucketConfig):
    """One user of ``tbdash demo``: a bucket plus the synthetic traffic it gets."""

    name: str
    traffic: Traffic = "steady"
    rate: float = Field(default=0.0, ge=0, le=10_000, description="requests per second, on average")
    tokens: int = Field(default=1, ge=1, description="tokens per request")

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        return validate_user(name)

    @model_validator(mode="after")
    def _traffic(self) -> DemoUser:
        if self.traffic == "idle" and self.rate:
            raise ValueError("an idle user sends no traffic: drop rate (or set it to 0)")
        if self.traffic != "idle" and not self.rate:
            raise ValueError(f"traffic = {self.traffic!r} needs rate > 0 (requests per second)")
        if self.traffic == "throttled" and self.rate * self.tokens <= self.rate_per_second:
            raise ValueError(
                f"a throttled user must ask for more than its refill rate ({self.rate_per_second:g} tokens/s); raise rate"
            )
        if self.tokens > self.ceiling:
            raise ValueError(f"tokens per request ({self.tokens}) exceed the ceiling max_tokens + burst ({self.ceiling})")
        return self

    @property
    def bucket(self) -> BucketConfig:
        """The bucket settings alone."""
        return BucketConfig(**self.model_dump(include=set(BucketConfig.model_fields)))


def _demo_user(name: str, traffic: Traffic, rate: float, **bucket: Any) -> DemoUser:
    return DemoUser(name=name, traffic=traffic, rate=rate, **bucket)


# The same users as the [demo] section of the shipped config.toml (a test checks it).
DEFAULT_DEMO_USERS: tuple[DemoUser, ...] = (
    _demo_user("alice", "steady", 4, max_tokens=20, burst=0, refill_count=5, refill_interval=1.0),
    _demo_user("bob", "bursty", 3, max_tokens=10, burst=10, refill_count=2, refill_interval=1.0),
    _demo_user("carol", "idle", 0, max_tokens=15, burst=5, refill_count=1, refill_interval=1.0),
    _demo_user("dave", "throttled", 10, max_tokens=5, burst=0, refill_count=1, refill_interval=1.0),
    _demo_user("erin", "bursty", 8, max_tokens=10, burst=90, refill_count=10, refill_interval=1.0),
    _demo_user("frank", "steady", 0.5, max_tokens=30, burst=0, refill_count=1, refill_interval=10.0),
    _demo_user("user_123", "steady", 80, max_tokens=100, burst=20, refill_count=50, refill_interval=0.5),
    _demo_user("batch{nightly}", "bursty", 1, max_tokens=50, burst=0, refill_count=25, refill_interval=30.0),
)


class DemoSettings(Section):
    """``[demo]``: the sample users of ``tbdash demo``."""

    seed: int | None = None
    users: list[DemoUser] = Field(default_factory=lambda: list(DEFAULT_DEMO_USERS))

    @field_validator("users")
    @classmethod
    def _unique(cls, users: list[DemoUser]) -> list[DemoUser]:
        seen: set[str] = set()
        for user in users:
            if user.name in seen:
                raise ValueError(f"user {user.name!r} appears twice")
            seen.add(user.name)
        return users


