"""The ``[plugins.loyalty]`` section of plugins.toml, validated at start-up.

::

    [plugins.loyalty]
    points_per_unit = "1"            # points per currency unit (Decimal)
    rounding = "down"                # "down" (never award a fraction) or "half_up"
    expiry_days = 365                # 0: points never expire
    tiers = [
      { name = "silver", min_points = 1000, multiplier = "1.25", benefits = ["Free delivery"] },
      { name = "gold",   min_points = 5000, multiplier = "1.5" },
    ]
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TIER_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


class TierSettings(BaseModel):
    """One membership level. Customers hold the highest tier whose threshold they meet."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    # Threshold when tier_basis = "points": points earned (lifetime, or within
    # tier_window_days).
    min_points: int = Field(0, ge=0)
    # Threshold when tier_basis = "spend": purchase amounts within tier_window_days.
    min_spend: Decimal | None = Field(None, ge=0)
    multiplier: Decimal = Field(Decimal(1), gt=0, le=100)
    description: str = ""
    benefits: list[str] = []

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not TIER_NAME_RE.match(value):
            raise ValueError("tier names are lower-case letters, digits, '-' or '_' (e.g. 'gold')")
        return value


DEFAULT_TIERS = (
    TierSettings(name="member", description="Every loyalty member"),
    TierSettings(name="silver", min_points=1000, min_spend=Decimal(1000), multiplier=Decimal("1.25")),
    TierSettings(name="gold", min_points=5000, min_spend=Decimal(5000), multiplier=Decimal("1.5")),
    TierSettings(name="platinum", min_points=20000, min_spend=Decimal(20000), multiplier=Decimal(2)),
)


class LoyaltySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Earning: points = amount × points_per_unit × tier multiplier (× birthday
    # multiplier), then rounded once with `rounding` ("down": towards zero, so a
    # customer is never credited a fraction they did not earn).
    points_per_unit: Decimal = Field(Decimal(1), ge=0, le=10_000)
    rounding: Literal["down", "half_up"] = "down"
    first_purchase_bonus: int = Field(0, ge=0, le=1_000_000)
    birthday_multiplier: Decimal = Field(Decimal(1), ge=1, le=100)
    # Customer.attributes key holding the birthday, "YYYY-MM-DD" or "MM-DD".
    birthday_attribute: str = "birthday"
    referral_bonus: int = Field(500, ge=0, le=1_000_000)
    # Largest single manual award or adjustment (a typo guard).
    max_manual_points: int = Field(1_000_000, ge=1)

    # Tiers. The lowest tier must have threshold 0: everyone holds at least it.
    tiers: tuple[TierSettings, ...] = DEFAULT_TIERS
    tier_basis: Literal["points", "spend"] = "points"
    # Rolling window for the tier threshold; 0 = lifetime points (basis "points" only).
    tier_window_days: int = Field(0, ge=0, le=3650)
    # A tier, once reached or re-qualified for, is kept at least this long.
    tier_grace_days: int = Field(30, ge=0, le=3650)

    # Points expire this many days after they were credited; 0 = never.
    expiry_days: int = Field(365, ge=0, le=36500)
    cancellation_window_hours: float = Field(72, ge=0, le=24 * 365)
    voucher_prefix: str = Field("KH", pattern=r"^[A-Z0-9]{0,6}$")
    # Money value of one point, for the outstanding-liability figure.
    point_value: Decimal = Field(Decimal("0.01"), ge=0)
    # How often the server runs expiry and the tier review; 0 = only by
    # `kehu loyalty expire` (e.g. from cron).
    schedule_hours: float = Field(24, ge=0, le=24 * 31)

    @model_validator(mode="after")
    def _check_tiers(self) -> "LoyaltySettings":
        if not self.tiers:
            raise ValueError("tiers: at least one tier is needed")
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError("tiers: tier names must be unique")
        if self.tier_basis == "spend":
            if any(t.min_spend is None for t in self.tiers):
                raise ValueError('tiers: every tier needs min_spend when tier_basis = "spend"')
            if self.tier_window_days == 0:
                raise ValueError('tier_window_days: must be > 0 when tier_basis = "spend"')
        thresholds = [self.threshold(t) for t in self.tiers]
        if thresholds != sorted(thresholds) or len(set(thresholds)) != len(thresholds):
            raise ValueError("tiers: list tiers from lowest to highest, with increasing thresholds")
        if thresholds[0] != 0:
            raise ValueError("tiers: the first tier must have threshold 0 (everyone holds it)")
        return self

    def threshold(self, tier: TierSettings) -> Decimal:
        if self.tier_basis == "spend":
            return Decimal(tier.min_spend or 0)
        return Decimal(tier.min_points)

    @property
    def base_tier(self) -> TierSettings:
        return self.tiers[0]

    def tier(self, name: str | None) -> TierSettings:
        for tier in self.tiers:
            if tier.name == name:
                return tier
        # A tier removed from plugins.toml: treat its holders as base members.
        return self.base_tier

    def rank(self, name: str | None) -> int:
        for i, tier in enumerate(self.tiers):
            if tier.name == name:
                return i
        return 0
