"""The ``[plugins.complaints]`` section of plugins.toml, validated at start-up.

```toml
[plugins.complaints]
categories = ["product", "service", "billing", "delivery", "other"]
reopen_window_days = 30
follow_up_delay_hours = 72
scheduler_interval_minutes = 5        # 0: no scheduler (run `kehu complaints check-sla`)

[plugins.complaints.first_response_hours]
low = 72
normal = 24
high = 4
urgent = 1

[plugins.complaints.resolution_hours]
low = 240
normal = 120
high = 48
urgent = 24

[[plugins.complaints.escalation]]     # first rule naming a case's priority applies
priorities = ["high", "urgent"]
before_breach_minutes = 30            # escalate this long before a deadline; 0: once breached
action = "reassign"                   # or "notify" (event hook only)
reassign_to = "team_manager"          # or an account owner's e-mail
```

SLA hours are calendar hours.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PriorityName = Literal["low", "normal", "high", "urgent"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlaHours(_Strict):
    """Calendar hours per priority."""

    low: float = Field(gt=0, le=24 * 365)
    normal: float = Field(gt=0, le=24 * 365)
    high: float = Field(gt=0, le=24 * 365)
    urgent: float = Field(gt=0, le=24 * 365)

    def for_priority(self, priority: str) -> float:
        return getattr(self, priority.lower())


class EscalationRule(_Strict):
    priorities: list[PriorityName] = Field(default_factory=lambda: ["low", "normal", "high", "urgent"], min_length=1)
    before_breach_minutes: float = Field(0, ge=0, le=24 * 60 * 30)
    action: Literal["notify", "reassign"] = "notify"
    # "team_manager": an active MANAGER of the assignee's team; otherwise an e-mail.
    reassign_to: str | None = None

    @model_validator(mode="after")
    def _reassign_needs_target(self) -> "EscalationRule":
        if self.action == "reassign" and not self.reassign_to:
            raise ValueError("action 'reassign' needs reassign_to ('team_manager' or an e-mail)")
        return self


class ComplaintsSettings(_Strict):
    categories: list[str] = Field(
        default_factory=lambda: ["product", "service", "billing", "delivery", "other"], min_length=1
    )
    first_response_hours: SlaHours = SlaHours(low=72, normal=24, high=4, urgent=1)
    resolution_hours: SlaHours = SlaHours(low=240, normal=120, high=48, urgent=24)
    reopen_window_days: float = Field(30, ge=0, le=3650)
    escalation: list[EscalationRule] = Field(default_factory=lambda: [EscalationRule()])
    follow_up_delay_hours: float = Field(72, ge=0, le=24 * 365)
    scheduler_interval_minutes: float = Field(5, ge=0, le=24 * 60)

    @field_validator("categories")
    @classmethod
    def _clean_categories(cls, value: list[str]) -> list[str]:
        cleaned = [c.strip() for c in value]
        if any(not c or len(c) > 100 for c in cleaned):
            raise ValueError("categories must be non-empty names of at most 100 characters")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("categories must not repeat")
        return cleaned

    @model_validator(mode="after")
    def _resolution_after_first_response(self) -> "ComplaintsSettings":
        for name in ("low", "normal", "high", "urgent"):
            if self.resolution_hours.for_priority(name) < self.first_response_hours.for_priority(name):
                raise ValueError(f"resolution_hours.{name} must not be shorter than first_response_hours.{name}")
        return self

    def escalation_rule(self, priority: str) -> EscalationRule | None:
        """The first rule naming ``priority``, or None (the case is never escalated)."""
        name = priority.lower()
        return next((rule for rule in self.escalation if name in rule.priorities), None)
