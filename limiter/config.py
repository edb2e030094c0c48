"""`BucketConfig`: the four settings of a token bucket, validated once."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from limiter.model import MAX_SAFE_INT, Settings

MIN_INTERVAL_US = 1_000  # a tick of at least 1 ms


class BucketConfig(BaseModel):
    """Settings of one bucket; identical meaning in memory and in Redis.

    ``refill_interval`` is in seconds and is kept as whole microseconds, so
    both implementations do integer arithmetic only.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_tokens: int = Field(ge=1, le=MAX_SAFE_INT, description="normal size; a new bucket starts this full")
    burst: int = Field(default=0, ge=0, le=MAX_SAFE_INT, description="headroom above max_tokens that idle time may fill")
    refill_count: int = Field(default=1, ge=1, le=MAX_SAFE_INT, description="tokens added per tick")
    refill_interval: float = Field(default=1.0, description="seconds per tick, at least 0.001")

    @field_validator("max_tokens", "burst", "refill_count", mode="before")
    @classmethod
    def _whole_number(cls, value: object) -> object:
        # pydantic would accept 2.0 for an int; a bucket size of "2.5" must not round silently.
        if isinstance(value, bool):
            raise ValueError("must be a whole number, not a boolean")
        if isinstance(value, float) and not value.is_integer():
            raise ValueError("must be a whole number")
        return value

    @field_validator("refill_interval", mode="before")
    @classmethod
    def _interval(cls, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError("must be a number of seconds")
        seconds = float(value)
        if not math.isfinite(seconds) or seconds * 1_000_000 < MIN_INTERVAL_US - 1e-6:
            raise ValueError("must be at least 0.001 seconds (1 ms)")
        if seconds * 1_000_000 > MAX_SAFE_INT:
            raise ValueError("is too long (at most 2**53 microseconds)")
        return round(seconds * 1_000_000) / 1_000_000

    @model_validator(mode="after")
    def _fits_integer_arithmetic(self) -> BucketConfig:
        # Lua numbers are doubles: every quantity the script computes must stay
        # below 2**53 to remain exact.
        if self.max_tokens + self.burst > MAX_SAFE_INT:
            raise ValueError(f"max_tokens + burst must be at most {MAX_SAFE_INT}")
        ticks_to_fill = -(-self.ceiling // self.refill_count)
        if ticks_to_fill * self.interval_us > MAX_SAFE_INT:
            raise ValueError(
                "refills too slowly to fill the bucket within 2**53 microseconds (~285 years); "
                "raise refill_count or shorten refill_interval"
            )
        return self

    @property
    def ceiling(self) -> int:
        """The most tokens the bucket can ever hold: ``max_tokens + burst``."""
        return self.max_tokens + self.burst

    @property
    def interval_us(self) -> int:
        return round(self.refill_interval * 1_000_000)

    @property
    def rate_per_second(self) -> float:
        """Refill rate, for display only (the buckets never use floats)."""
        return self.refill_count / self.refill_interval

    def settings(self) -> Settings:
        """The integer form used by the reference model and the Lua script."""
        return Settings(self.max_tokens, self.burst, self.refill_count, self.interval_us)

    @classmethod
    def from_settings(cls, settings: Settings) -> BucketConfig:
        return cls(
            max_tokens=settings.max_tokens,
            burst=settings.burst,
            refill_count=settings.refill_count,
            refill_interval=settings.interval_us / 1_000_000,
        )
