"""The ``[plugins.webhooks]`` section of plugins.toml, validated at start-up.

::

    [plugins.webhooks]
    timeout_seconds = 10
    # Pauses before each retry of a failing delivery (Standard Webhooks' schedule:
    # about a day in all); then the delivery is FAILED and can be replayed.
    retry_seconds = [5, 300, 1800, 7200, 18000, 36000, 36000]
    # Endpoints on loopback, private or link-local addresses are refused unless
    # listed here (an address, a network, or a host name).
    allow_private = ["127.0.0.1"]
    log_days = 30
"""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Standard Webhooks' reference schedule (after the first attempt): 5 s, 5 min,
# 30 min, 2 h, 5 h, 10 h, 10 h — about 27 hours in all.
STANDARD_RETRIES = (5, 300, 1800, 7200, 18000, 36000, 36000)


class WebhookSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_seconds: float = Field(10, gt=0, le=60)
    retry_seconds: tuple[float, ...] = STANDARD_RETRIES
    allow_private: tuple[str, ...] = ()
    # Only https:// endpoints (an allowed private address may still use http://).
    require_https: bool = False
    # Delivery logs (attempts, payloads) are kept this long.
    log_days: float = Field(30, ge=1, le=3650)
    # How much of a receiver's answer the log keeps.
    response_excerpt_chars: int = Field(500, ge=0, le=10_000)

    @field_validator("retry_seconds")
    @classmethod
    def _positive(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(seconds <= 0 for seconds in value):
            raise ValueError("every pause must be more than 0 seconds")
        return value

    @field_validator("allow_private")
    @classmethod
    def _entries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            if not entry.strip():
                raise ValueError("empty entry")
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                if not all(part.isalnum() or "-" in part for part in entry.split(".")):
                    raise ValueError(f"'{entry}' is neither an address, a network nor a host name") from None
        return value
