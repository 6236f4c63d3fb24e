"""The ``[plugins.segmentation]`` section of plugins.toml, validated at start-up.

Every threshold and choice the classification uses lives here, so a team can tune
it without touching code; ``explanation`` and ``Segmentation.inputs`` show the
values in force. docs/plugins/segmentation.md describes each one (a test checks
that none is missing there).

```toml
[plugins.segmentation]
as_of = "1998-06-30"            # default: today in [kehu] timezone
window_days = 365
rfm_bins = 5
rfm_scoring = "rank"            # or "ntile" (classic equal-sized quintiles)
frequency_unit = "purchases"    # or "days" (purchase days)
count_zero_amounts = true
abc = { a_share = 0.80, b_share = 0.95 }
frequency = { high_min = 4 }
lifecycle = { new_days = 90, at_risk_days = 120, churned_days = 365, loyal_min_purchases = 6 }
clv = { model = "pareto_nbd", horizon_days = 1095, margin = 0.30, discount_rate = 0.10 }
language = "en"                 # explanations: "en" or "zh-CN" (a viewer's own choice wins)
currency_symbol = "¥"           # default: ¥ in zh-CN explanations, none in English
recompute_interval_minutes = 1440
```
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

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
    """Predicted customer lifetime value: a repeat-purchase model fitted on the
    customer base at every full recompute (see service.clv and the docs page).

    ``model``: ``pareto_nbd`` (Pareto/NBD for purchases + Gamma-Gamma for spend,
    the default), ``bg_nbd`` (BG/NBD + Gamma-Gamma, the textbook pairing), or
    ``run_rate`` (no fit: each customer's own purchase rate and average spend,
    fading out between ``lifecycle.at_risk_days`` and ``churned_days``). The
    fitted models need the ``analytics`` extra (numpy, scipy); without it, or
    for a base too small to fit, the run-rate model is used and the
    explanations say so.

    CLV = margin × Σ over the horizon, month by month, of expected spend in the
    month discounted at ``discount_rate`` a year."""

    model: Literal["pareto_nbd", "bg_nbd", "run_rate"] = "pareto_nbd"
    horizon_days: int = Field(default=1095, ge=1, le=36525)
    margin: Decimal = Field(default=Decimal("0.30"), gt=0, le=1)
    discount_rate: Decimal = Field(default=Decimal("0.10"), ge=0, lt=1)
    # Below these the base is too small to fit (the run-rate model is used).
    min_customers: int = Field(default=100, ge=10)
    min_repeat_customers: int = Field(default=20, ge=5)
    # The fit uses at most this many customers (a fixed pseudo-random sample by
    # customer id; 0 = all). Predictions cover every customer.
    fit_sample_size: int = Field(default=10_000, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _lifetime_years(cls, data: Any) -> Any:
        # Before the model was fitted the horizon was ``lifetime_years``: still read.
        if isinstance(data, dict) and "lifetime_years" in data:
            data = dict(data)
            years = data.pop("lifetime_years")
            if isinstance(years, int) and not isinstance(years, bool) and "horizon_days" not in data:
                data["horizon_days"] = years * 365
        return data


DEFAULT_RFM_SEGMENTS = [
    RfmSegmentRule(name="champions", r=(4, 5), f=(4, 5), m=(4, 5)),
    RfmSegmentRule(name="loyal", r=(3, 5), f=(3, 5)),
    RfmSegmentRule(name="potential_loyalists", r=(4, 5), f=(1, 2)),
    RfmSegmentRule(name="at_risk", r=(1, 2), f=(3, 5)),
    RfmSegmentRule(name="hibernating", r=(2, 3), f=(1, 2)),
    RfmSegmentRule(name="lost", r=(1, 1), f=(1, 2)),
]


class SegmentationSettings(_Section):
    # The date results are computed as of (its end, in [kehu] timezone); none:
    # today. `kehu segments recompute --as-of DATE` overrides it for one run.
    as_of: dt.date | None = None
    # Frequency and monetary count the purchases of the last `window_days`
    # calendar days, the as-of date included.
    window_days: int = Field(default=365, ge=1, le=3650)
    rfm_bins: int = Field(default=5, ge=2, le=10)
    # "rank": tied customers share a score (1 + floor(bins × (RANK − 1) / n));
    # "ntile": classic equal-sized bins (NTILE), ties split by customer id.
    rfm_scoring: Literal["rank", "ntile"] = "rank"
    # What F counts: purchase rows, or calendar days with a purchase.
    frequency_unit: Literal["purchases", "days"] = "purchases"
    # Whether a PURCHASE with amount 0 (a gift, a fully discounted order) is a purchase.
    count_zero_amounts: bool = True
    rfm_segments: list[RfmSegmentRule] = DEFAULT_RFM_SEGMENTS
    rfm_default_segment: str = Field(default="others", max_length=40)
    abc: AbcSettings = AbcSettings()
    frequency: FrequencySettings = FrequencySettings()
    value_tiers: ValueTierRules = ValueTierRules()
    lifecycle: LifecycleSettings = LifecycleSettings()
    clv: ClvSettings = ClvSettings()
    # The language of explanations when the viewer has not chosen one.
    language: Literal["en", "zh-CN"] = "en"
    # Shown before amounts in explanations; none: "¥" in Chinese, nothing in English.
    currency_symbol: str | None = Field(default=None, max_length=5)
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
