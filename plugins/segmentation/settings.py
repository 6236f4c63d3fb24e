"""The ``[plugins.segmentation]`` section of plugins.toml, validated at start-up.

Every threshold the classification uses lives here, so a team can tune it without
touching code; ``explanation`` and ``Segmentation.inputs`` show the values in force.

```toml
[plugins.segmentation]
window_days = 365
rfm_bins = 5
abc = { a_share = 0.80, b_share = 0.95 }
frequency = { high_min = 4 }
lifecycle = { new_days = 90, at_risk_days = 120, churned_days = 365, loyal_min_purchases = 6 }
clv = { margin = 0.30, discount_rate = 0.10, lifetime_years = 3 }
recompute_interval_minutes = 1440
```
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ABC = Literal["A", "B", "C"]
FREQUENCY_CLASS = Literal["HIGH", "LOW", "ZERO"]
STAGE = Literal["PROSPECT", "NEW", "ACTIVE", "LOYAL", "AT_RISK", "CHURNED"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RfmSegmentRule(_Section):
    """A named RFM segment: the score ranges (inclusive) it covers. First match wins."""

    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")
    r: tuple[int, int] = (1, 5)
    f: tuple[int, int] = (1, 5)
    m: tuple[int, int] = (1, 5)


class TierCondition(_Section):
    """All given bounds must hold (a score that is null — no purchase in the window —
    satisfies no bound)."""

    min_r: int | None = None
    min_f: int | None = None
    min_m: int | None = None
    max_r: int | None = None
    abc_classes: list[ABC] | None = None
    frequency_classes: list[FREQUENCY_CLASS] | None = None
    lifecycle_stages: list[STAGE] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> "TierCondition":
        if all(v is None for v in self.model_dump().values()):
            raise ValueError("a tier condition needs at least one bound")
        return self


class ValueTierRules(_Section):
    """A customer is CORE when any ``core`` condition holds, else POTENTIAL when any
    ``potential`` condition holds, else GENERAL."""

    # Core customers (核心客户): among the top revenue (ABC A), buying often and recently.
    core: list[TierCondition] = [TierCondition(abc_classes=["A"], min_f=3, min_r=3)]
    # Potential customers (潜力客户): high recent value, or high revenue not (yet) loyal.
    potential: list[TierCondition] = [
        TierCondition(min_r=4, min_m=3),
        TierCondition(abc_classes=["A", "B"], min_r=2),
    ]


class AbcSettings(_Section):
    """Cumulative revenue shares: A makes the top ``a_share``, B up to ``b_share``."""

    a_share: Decimal = Field(default=Decimal("0.80"), gt=0, lt=1)
    b_share: Decimal = Field(default=Decimal("0.95"), gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> "AbcSettings":
        if self.b_share <= self.a_share:
            raise ValueError("b_share must be greater than a_share")
        return self


class FrequencySettings(_Section):
    """HIGH from ``high_min`` purchases in the window, LOW from 1, ZERO without."""

    high_min: int = Field(default=4, ge=2)


class LifecycleSettings(_Section):
    """PROSPECT: never bought. CHURNED: no purchase for ``churned_days``. AT_RISK: none
    for ``at_risk_days``. NEW: first purchase within ``new_days``. LOYAL: at least
    ``loyal_min_purchases`` purchases in the window. ACTIVE: the rest."""

    new_days: int = Field(default=90, ge=1)
    at_risk_days: int = Field(default=120, ge=1)
    churned_days: int = Field(default=365, ge=1)
    loyal_min_purchases: int = Field(default=6, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> "LifecycleSettings":
        if self.churned_days <= self.at_risk_days:
            raise ValueError("churned_days must be greater than at_risk_days")
        return self


class ClvSettings(_Section):
    """Predicted CLV = average order value × purchases per year × margin × Σ_{t=1..L}
    1/(1+d)^t (see service.predicted_clv_factor)."""

    margin: Decimal = Field(default=Decimal("0.30"), gt=0, le=1)
    discount_rate: Decimal = Field(default=Decimal("0.10"), ge=0, lt=1)
    lifetime_years: int = Field(default=3, ge=1, le=50)


DEFAULT_RFM_SEGMENTS = [
    RfmSegmentRule(name="champions", r=(4, 5), f=(4, 5), m=(4, 5)),
    RfmSegmentRule(name="loyal", r=(3, 5), f=(3, 5)),
    RfmSegmentRule(name="potential_loyalists", r=(4, 5), f=(1, 2)),
    RfmSegmentRule(name="at_risk", r=(1, 2), f=(3, 5)),
    RfmSegmentRule(name="hibernating", r=(2, 3), f=(1, 2)),
    RfmSegmentRule(name="lost", r=(1, 1), f=(1, 2)),
]


class SegmentationSettings(_Section):
    window_days: int = Field(default=365, ge=1, le=3650)
    rfm_bins: int = Field(default=5, ge=2, le=10)
    rfm_segments: list[RfmSegmentRule] = DEFAULT_RFM_SEGMENTS
    rfm_default_segment: str = Field(default="others", max_length=40)
    abc: AbcSettings = AbcSettings()
    frequency: FrequencySettings = FrequencySettings()
    value_tiers: ValueTierRules = ValueTierRules()
    lifecycle: LifecycleSettings = LifecycleSettings()
    clv: ClvSettings = ClvSettings()
    currency_symbol: str = Field(default="¥", max_length=5)
    # Full recompute: customers per batch (one short transaction each) and the
    # schedule (0 = only on demand, `kehu segments recompute`).
    batch_size: int = Field(default=20_000, ge=100)
    recompute_interval_minutes: int = Field(default=1440, ge=0)
    # The retention / churn table of segmentationSummary.
    summary_periods: int = Field(default=4, ge=1, le=24)
    summary_period_days: int = Field(default=90, ge=1)

    @model_validator(mode="after")
    def _scores_in_range(self) -> "SegmentationSettings":
        for rule in self.rfm_segments:
            for dim in ("r", "f", "m"):
                lo, hi = getattr(rule, dim)
                if not 1 <= lo <= hi <= self.rfm_bins:
                    raise ValueError(f"rfm_segments '{rule.name}': {dim} range must lie within 1..{self.rfm_bins}")
        return self
