"""The ``[plugins.notifications]`` section of plugins.toml, validated at start-up.

::

    [plugins.notifications]
    public_base_url = "https://crm.example.com"   # links in messages are absolute
    default_language = "zh-CN"                    # or "en"; a customer's attributes.language wins
    timezone = "Asia/Shanghai"                    # the digest's day (default: [kehu] timezone)
    digest_at = "08:00"                           # "" : no daily digest
    rate_per_minute = 60

    [plugins.notifications.smtp]
    host = "smtp.example.com"
    port = 587
    starttls = true
    username = "crm@example.com"
    password_env = "KEHU_SMTP_PASSWORD"           # the password itself stays in the environment
    from_address = "crm@example.com"
    from_name = "客户服务"
"""

from __future__ import annotations

import re
import zoneinfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

LANGUAGES = ("zh-CN", "en")
TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class SmtpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "localhost"
    port: int = Field(25, ge=1, le=65535)
    # STARTTLS after connecting (port 587), or TLS from the start (port 465).
    starttls: bool = False
    use_tls: bool = False
    username: str = ""
    password_env: str = "KEHU_SMTP_PASSWORD"
    from_address: str = "kehu@localhost"
    from_name: str = "kehu"
    timeout_seconds: float = Field(30, gt=0, le=300)


class NotificationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    public_base_url: str = ""
    default_language: str = "zh-CN"
    # Channels messages go out through, by name ("email"; plugins add more).
    channels: tuple[str, ...] = ("email",)
    smtp: SmtpSettings = SmtpSettings()
    # Messages sent per minute across all workers; more wait their turn.
    rate_per_minute: int = Field(60, ge=1, le=100_000)
    # Pauses before each retry of a message that could not be sent; then FAILED.
    retry_seconds: tuple[float, ...] = (60, 300, 1800, 7200, 21600, 43200)
    # The digest's day; "" (the default): kehu's business calendar, [kehu] timezone.
    timezone: str = ""
    digest_at: str = "08:00"
    # Follow-ups this many days overdue still appear in the digest.
    digest_overdue_days: int = Field(7, ge=0, le=90)
    send_survey_invitations: bool = True
    notify_complaints: bool = True
    # Message bodies are erased from the log once sent (links carry tokens); the
    # log itself (who, what, when, outcome) is kept this long.
    log_days: float = Field(90, ge=1, le=3650)

    @field_validator("default_language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"one of {', '.join(LANGUAGES)}")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _base(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("an absolute http:// or https:// URL, e.g. https://crm.example.com")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if not value:
            return value
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}' (an IANA name such as Asia/Shanghai)") from None
        return value

    @field_validator("digest_at")
    @classmethod
    def _time(cls, value: str) -> str:
        if value and not TIME_RE.match(value):
            raise ValueError('HH:MM (24 hours), or "" for no digest')
        return value
