"""The ``[plugins.followups]`` section of plugins.toml, validated at start-up::

[plugins.followups]
default_interval_days = 30     # a new plan's interval when none is given
due_within_days = 7            # "due": falls due within this many days ("overdue": already past)
counting_kinds = ["CALL", "VISIT", "MEETING"]   # interactions that count as a follow-up
plan_new_customers = false     # give every new customer a plan with the default interval
"""

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kehu.models import InteractionKind


class FollowUpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default_interval_days: int = Field(30, ge=1, le=3650)
    due_within_days: int = Field(7, ge=0, le=365)
    counting_kinds: tuple[str, ...] = ("CALL", "VISIT", "MEETING", "EMAIL", "MESSAGE")
    plan_new_customers: bool = False

    @field_validator("counting_kinds")
    @classmethod
    def _kinds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = {k.value for k in InteractionKind}
        unknown = [k for k in value if k not in known]
        if unknown:
            raise ValueError(f"unknown interaction kind {unknown[0]!r} (kinds: {', '.join(sorted(known))})")
        return value
