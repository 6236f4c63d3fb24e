"""The ``[plugins.surveys]`` section of plugins.toml, validated at start-up.

```toml
[plugins.surveys]
public_base_url = "https://crm.example.com"   # links read <base>/s/<token>
invitation_expiry_days = 14
max_body_bytes = 65536                         # larger form posts are refused
max_invitations_per_request = 1000

# A detractor (NPS 0–6) or unhappy CSAT (1–2) response becomes a follow-up
# interaction for the customer's owner, due this many days later; 0: off.
detractor_follow_up_days = 2

# Which survey to send when another plugin asks for one (kehu_survey_requested),
# by reason; "*" is the fallback. Values are survey ids.
[plugins.surveys.on_request]
complaint_resolved = 3
```
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SurveySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Links are built as public_base_url + "/s/" + token; empty: a relative path.
    public_base_url: str = ""
    invitation_expiry_days: int = Field(14, ge=1, le=365)
    on_request: dict[str, int] = {}
    detractor_follow_up_days: int = Field(0, ge=0, le=90)
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=1024 * 1024)
    max_invitations_per_request: int = Field(1000, ge=1, le=100_000)

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http://)")
        return value

    @field_validator("on_request")
    @classmethod
    def _survey_ids(cls, value: dict[str, int]) -> dict[str, int]:
        for reason, survey_id in value.items():
            if survey_id < 1:
                raise ValueError(f"{reason}: must be a survey id (a positive integer)")
        return value

    def survey_for(self, reason: str) -> int | None:
        return self.on_request.get(reason, self.on_request.get("*"))

    def link(self, token: str) -> str:
        return f"{self.public_base_url}/s/{token}"
