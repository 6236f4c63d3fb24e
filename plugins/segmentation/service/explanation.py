"""Why a customer is classified as it is: the sentence and the inputs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kehu.figures import round_half_up

from ..models import Classification, RecomputeRun
from ..settings import SegmentationSettings
from .scoring import predicted_clv_factor


def money(cents: int | None, symbol: str) -> str:
    amount = Decimal(int(cents or 0)) / 100
    text = f"{amount:,.2f}"
    return symbol + (text[:-3] if text.endswith(".00") else text)


def explain(row: Classification, run: RecomputeRun | None, s: SegmentationSettings) -> str:
    """E.g. "core: R=5 (3 days), F=4 (9 purchases), M=5 (¥48,200), ABC=A; stage ACTIVE"."""
    tier = row.value_tier.lower()
    if row.archived:
        return f"{tier}: archived customer, not scored; stage {row.lifecycle_stage}"
    if row.r is None:
        if row.lifetime_purchases == 0:
            return f"{tier}: no purchase yet; stage {row.lifecycle_stage}"
        return (
            f"{tier}: no purchase in the last {s.window_days} days (last {row.recency_days} days ago); "
            f"ABC={row.abc_class}; stage {row.lifecycle_stage}"
        )
    plural = "purchase" if row.frequency == 1 else "purchases"
    day = "day" if row.recency_days == 1 else "days"
    text = (
        f"{tier}: R={row.r} ({row.recency_days} {day}), F={row.f} ({row.frequency} {plural}), "
        f"M={row.m} ({money(row.monetary_cents, s.currency_symbol)}), ABC={row.abc_class}; "
        f"stage {row.lifecycle_stage}"
    )
    if run is not None:
        text += f"; scored against {run.population} buying customers on {run.started_at:%Y-%m-%d}"
    return text


def inputs(row: Classification, run: RecomputeRun | None, s: SegmentationSettings) -> dict[str, Any]:
    """The inputs and the thresholds in force, for ``Segmentation.inputs``."""
    t = run.thresholds if run else {}
    return {
        "windowDays": s.window_days,
        "recencyDays": row.recency_days,
        "tenureDays": row.tenure_days,
        "frequency": row.frequency,
        "monetary": str(Decimal(row.monetary_cents) / 100),
        "lifetimePurchases": row.lifetime_purchases,
        "lifetimeRevenue": str(Decimal(row.lifetime_revenue_cents) / 100),
        "scoreBorders": {
            "recencyDaysAtMost": t.get("r", {}),
            "frequencyAtLeast": t.get("f", {}),
            "monetaryAtLeast": {k: str(Decimal(v) / 100) for k, v in t.get("m", {}).items()},
            "abcAMin": None if t.get("a_min") is None else str(Decimal(t["a_min"]) / 100),
            "abcBMin": None if t.get("b_min") is None else str(Decimal(t["b_min"]) / 100),
            "population": t.get("population"),
        },
        "frequencyHighMin": s.frequency.high_min,
        "lifecycle": s.lifecycle.model_dump(),
        "clvFactor": str(round_half_up(predicted_clv_factor(s), 4)),
    }
