"""Checking the ledger against the balances, and the programme summary per period."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tortoise.functions import Count, Sum

from kehu.access import Viewer, of_visible_customers
from kehu.clock import BusinessCalendar
from kehu.errors import PermissionDenied, ValidationError

from ..models import EARNING_KINDS, EntryKind, LedgerEntry, LoyaltyAccount
from ..settings import LoyaltySettings

if TYPE_CHECKING:
    from kehu import Kehu


MAX_SUMMARY_PERIODS = 400


@dataclass
class Discrepancy:
    customer_id: int
    problem: str


async def check_ledger() -> list[Discrepancy]:
    """Every account's cached balance and lifetime points against its ledger; no
    negative balances; no ledger without an account."""
    problems: list[Discrepancy] = []
    sums = {
        r["customer_id"]: int(r["total"] or 0)
        for r in await LedgerEntry.all()
        .group_by("customer_id")
        .annotate(total=Sum("points"))
        .values("customer_id", "total")
    }
    earned = {
        r["customer_id"]: int(r["total"] or 0)
        for r in await LedgerEntry.filter(kind__in=list(EARNING_KINDS))
        .group_by("customer_id")
        .annotate(total=Sum("points"))
        .values("customer_id", "total")
    }
    seen = set()
    for account in await LoyaltyAccount.all().order_by("customer_id"):
        seen.add(account.customer_id)
        ledger = sums.get(account.customer_id, 0)
        if account.balance != ledger:
            problems.append(Discrepancy(account.customer_id, f"balance {account.balance} != ledger sum {ledger}"))
        if account.balance < 0:
            problems.append(Discrepancy(account.customer_id, f"negative balance {account.balance}"))
        lifetime = earned.get(account.customer_id, 0)
        if account.lifetime_points != lifetime:
            problems.append(
                Discrepancy(account.customer_id, f"lifetime points {account.lifetime_points} != earned {lifetime}")
            )
    for customer_id in sorted(set(sums) - seen):
        problems.append(Discrepancy(customer_id, "ledger entries without an account"))
    return problems


@dataclass
class PeriodTotals:
    start: dt.datetime
    end: dt.datetime
    issued: int = 0
    redeemed: int = 0
    expired: int = 0
    outstanding: int = 0
    outstanding_value: Decimal = Decimal(0)


@dataclass
class Summary:
    members_per_tier: list[tuple[str, int]]
    periods: list[PeriodTotals]
    outstanding: int
    outstanding_value: Decimal
    extra: dict[str, Any] = field(default_factory=dict)


def period_starts(
    start: dt.datetime, end: dt.datetime, period: str, calendar: BusinessCalendar | None = None
) -> list[dt.datetime]:
    """Boundaries of DAY / WEEK (Monday) / MONTH periods covering [start, end), on
    the business calendar (``kehu.calendar``; UTC without one): a month begins at
    midnight of its 1st in ``[kehu] timezone``. Returned as UTC instants."""
    calendar = calendar or BusinessCalendar()
    first = calendar.date_of(start)
    if period == "WEEK":
        first -= dt.timedelta(days=first.weekday())
    elif period == "MONTH":
        first = first.replace(day=1)
    days = [first]
    bounds = [calendar.start_of(first)]
    while bounds[-1] < end:
        cur = days[-1]
        if period == "DAY":
            nxt = cur + dt.timedelta(days=1)
        elif period == "WEEK":
            nxt = cur + dt.timedelta(days=7)
        else:
            nxt = (cur.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        days.append(nxt)
        bounds.append(calendar.start_of(nxt))
        if len(bounds) > MAX_SUMMARY_PERIODS + 1:
            raise ValidationError(
                f"at most {MAX_SUMMARY_PERIODS} periods per summary", field="to", code="TOO_MANY_PERIODS"
            )
    return bounds


async def loyalty_summary(
    kehu: Kehu, viewer: Viewer, start: dt.datetime, end: dt.datetime, period: str = "MONTH"
) -> Summary:
    """Members per tier and, per period, points issued (earned, awarded, bonuses,
    adjustments), redeemed (net of cancellations), expired and outstanding at the
    period's end — over the customers the viewer may see (``loyalty.report``)."""
    if not viewer.can("loyalty.report"):
        raise PermissionDenied(f"your role ({viewer.role.value}) may not do this (loyalty.report)")
    if end <= start:
        raise ValidationError("must be after 'from'", field="to", code="INVALID_RANGE")
    settings = kehu.settings_for("loyalty", LoyaltySettings)
    entries = of_visible_customers(LedgerEntry, viewer)
    counts = {
        r["tier"]: r["n"]
        for r in await of_visible_customers(LoyaltyAccount, viewer)
        .group_by("tier")
        .annotate(n=Count("id"))
        .values("tier", "n")
    }
    tiers = [(t.name, counts.pop(t.name, 0)) for t in settings.tiers]
    tiers += sorted(counts.items())  # members of tiers no longer configured
    bounds = period_starts(start, end, period, kehu.calendar)
    before = (
        await entries.filter(created_at__lt=bounds[0]).annotate(total=Sum("points")).values_list("total", flat=True)
    )
    running = int(before[0] or 0) if before else 0
    periods = []
    for lo, hi in zip(bounds, bounds[1:]):
        rows = (
            await entries.filter(created_at__gte=lo, created_at__lt=hi)
            .group_by("kind")
            .annotate(total=Sum("points"))
            .values("kind", "total")
        )
        by_kind = {
            EntryKind(r["kind"]) if not isinstance(r["kind"], EntryKind) else r["kind"]: int(r["total"] or 0)
            for r in rows
        }
        totals = PeriodTotals(start=lo, end=hi)
        totals.issued = sum(by_kind.get(k, 0) for k in EARNING_KINDS)
        totals.redeemed = -(by_kind.get(EntryKind.REDEEM, 0) + by_kind.get(EntryKind.REVERSAL, 0))
        totals.expired = -by_kind.get(EntryKind.EXPIRE, 0)
        running += sum(by_kind.values())
        totals.outstanding = running
        totals.outstanding_value = running * settings.point_value
        periods.append(totals)
    now_total = await entries.annotate(total=Sum("points")).values_list("total", flat=True)
    outstanding = int(now_total[0] or 0) if now_total else 0
    return Summary(tiers, periods, outstanding, outstanding * settings.point_value)
