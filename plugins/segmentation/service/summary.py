"""Filters on classifications and the summary per tier, stage and ABC class
with retention per period.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tortoise.expressions import Subquery
from tortoise.functions import Count, Sum

from kehu.access import Viewer, visible_customers, visible_interactions
from kehu.figures import ratio
from kehu.models import Customer, InteractionKind

from ..models import ChangeDimension, Classification, SegmentChange
from ..settings import SegmentationSettings
from .recompute import latest_run

if TYPE_CHECKING:
    from kehu import Kehu


def classified(viewer: Viewer | None, **conditions: Any):
    """Ids (a subquery) of visible customers whose classification matches."""
    return Subquery(Classification.filter(**conditions).values("customer_id"))


def stage_changed_since(since: dt.datetime, into: str | None = None):
    """Ids (a subquery) of customers whose lifecycle stage changed from another
    stage at or after ``since`` — into ``into`` when given."""
    changes = SegmentChange.filter(
        dimension=ChangeDimension.LIFECYCLE_STAGE, changed_at__gte=since, old_value__isnull=False
    )
    if into is not None:
        changes = changes.filter(new_value=into)
    return Subquery(changes.values("customer_id"))


async def summary(kehu: Kehu, viewer: Viewer | None) -> dict[str, Any]:
    """Customers and revenue share per tier, stage and ABC class (active, visible customers),
    and retention / churn per period: of the customers who bought in the period
    before, the share who bought again in the period (churn = 1 − retention).
    Periods are ``summary_period_days`` calendar days, the latest ending with the
    as-of date of the last recompute."""
    s = kehu.settings_for("segmentation", SegmentationSettings)
    visible = visible_customers(viewer).filter(archived_at__isnull=True).values("id")
    base = Classification.filter(customer_id__in=Subquery(visible))
    out: dict[str, Any] = {}
    for column in ("value_tier", "lifecycle_stage", "abc_class"):
        rows = (
            await base.annotate(n=Count("id"), revenue=Sum("monetary_cents"))
            .group_by(column)
            .values(column, "n", "revenue")
        )
        rows = [r for r in rows if r[column] is not None]  # no ABC class without purchases
        total = sum(int(r["revenue"] or 0) for r in rows)
        out[column] = [
            {
                "key": r[column],
                "customers": int(r["n"]),
                "revenue": Decimal(int(r["revenue"] or 0)) / 100,
                "revenue_share": ratio(int(r["revenue"] or 0), total) if total else Decimal(0),
            }
            for r in sorted(rows, key=lambda r: r[column])
        ]
    # Periods of whole calendar days (business time zone) ending with the last
    # run's as-of date — or today, before any run.
    run = await latest_run()
    calendar = kehu.calendar
    as_of = (run.as_of if run is not None else None) or calendar.date_of(kehu.clock.now())
    length = dt.timedelta(days=s.summary_period_days)
    purchases = visible_interactions(viewer).filter(kind=InteractionKind.PURCHASE)
    periods = []
    for k in range(s.summary_periods):
        end = calendar.end_of(as_of - k * length)
        start = calendar.end_of(as_of - (k + 1) * length)
        before_start = calendar.end_of(as_of - (k + 2) * length)
        before = purchases.filter(occurred_at__gte=before_start, occurred_at__lt=start).values("customer_id")
        during = purchases.filter(occurred_at__gte=start, occurred_at__lt=end).values("customer_id")
        previous = await Customer.filter(id__in=Subquery(before)).count()
        retained = await Customer.filter(id__in=Subquery(before)).filter(id__in=Subquery(during)).count()
        rate = ratio(retained, previous)
        periods.append(
            {
                "start": start,
                "end": end,
                "customers_at_start": previous,
                "retained": retained,
                "retention_rate": rate,
                "churn_rate": (1 - rate) if rate is not None else None,
            }
        )
    out["periods"] = periods
    out["computed_at"] = run.finished_at if run else None
    out["as_of"] = run.as_of if run else None
    return out
