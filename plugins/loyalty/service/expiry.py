"""Points expiry, oldest earned first, and the scheduled round."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tortoise.functions import Sum

from kehu import jobs
from kehu.writes import record_change, write_scope

from ..models import EntryKind, LedgerEntry, LoyaltyAccount
from ..settings import LoyaltySettings
from .ledger import post_entry
from .tiers import review_tiers

if TYPE_CHECKING:
    from kehu import Kehu


@dataclass
class ExpiryReport:
    customers: int = 0
    points: int = 0


async def points_due_to_expire(customer_id: int, now: dt.datetime) -> tuple[int, int | None]:
    """``(points, newest expired credit id)``. Debits consume the oldest credits
    first and every credit expires a fixed time after it was made, so the expired
    credits are the oldest ones: what is left of them is their sum minus every
    debit so far (redemptions, negative adjustments, earlier expiries), if positive.
    Computed from the ledger alone — no mutable "remaining" column."""
    credits = (
        await LedgerEntry.filter(customer_id=customer_id, points__gt=0, expires_at__lte=now)
        .annotate(total=Sum("points"))
        .values_list("total", flat=True)
    )
    expired_credits = int(credits[0] or 0) if credits else 0
    if expired_credits == 0:
        return 0, None
    debits = (
        await LedgerEntry.filter(customer_id=customer_id, points__lt=0)
        .annotate(total=Sum("points"))
        .values_list("total", flat=True)
    )
    due = expired_credits + int(debits[0] or 0 if debits else 0)
    newest = (
        await LedgerEntry.filter(customer_id=customer_id, points__gt=0, expires_at__lte=now)
        .order_by("-expires_at", "-id")
        .values_list("id", flat=True)
    )
    return max(0, due), newest[0]


async def expire_points(kehu: Kehu, now: dt.datetime | None = None) -> ExpiryReport:
    """Expire points past their date, oldest first, one member per transaction (so
    a long run never blocks other writers on SQLite). Idempotent: the entry's key
    names the newest expired credit, so a repeated or concurrent run finds nothing
    more to do."""
    settings = kehu.settings_for("loyalty", LoyaltySettings)
    now = now or kehu.clock.now()
    report = ExpiryReport()
    for customer_id in await _customers_with_points_due(now):
        async with write_scope(kehu, None, "loyalty.expirePoints", actor_label="loyalty expiry"):
            due = await expire_customer(settings, customer_id, now)
            if due:
                report.customers += 1
                report.points += due
    return report


async def _customers_with_points_due(now: dt.datetime) -> list[int]:
    """Customers with expired credits not yet consumed by debits, in one pass over
    the ledger: after an import of years of history nearly every customer has
    expired credits, and all but a few have them expired already."""
    db = LedgerEntry._meta.db
    mark = "$1" if db.capabilities.dialect == "postgres" else "?"
    rows = await db.execute_query_dict(
        "SELECT customer_id FROM loyalty_ledger_entry GROUP BY customer_id HAVING "
        f"SUM(CASE WHEN points > 0 AND expires_at <= {mark} THEN points ELSE 0 END) "
        "+ SUM(CASE WHEN points < 0 THEN points ELSE 0 END) > 0 ORDER BY customer_id",
        [now],
    )
    return [int(r["customer_id"]) for r in rows]


async def expire_customer(settings: LoyaltySettings, customer_id: int, now: dt.datetime) -> int:
    """Expire one customer's points that are past their date; returns how many.
    Runs inside the caller's write scope."""
    # Lock the account first so no redemption slips between the sums and the debit.
    await LoyaltyAccount.filter(customer_id=customer_id).select_for_update().first()
    due, newest = await points_due_to_expire(customer_id, now)
    if due <= 0:
        return 0
    posting = await post_entry(
        settings,
        customer_id,
        EntryKind.EXPIRE,
        -due,
        key=f"expire:{newest}",
        now=now,
        reason=f"{due} points expired",
    )
    if not posting.created:
        return 0
    record_change("LoyaltyLedgerEntry", posting.entry.id, {"points": (None, -due)})
    return due


async def scheduled_round(kehu: Kehu) -> None:
    """The in-server schedule (kehu.jobs, one worker): expiry, then the tier review.
    Both are idempotent."""
    await expire_points(kehu)
    await review_tiers(kehu)


SCHEDULE = "loyalty.expiry-and-tiers"


def start_scheduler(kehu: Kehu) -> None:
    """Expiry and the tier review every ``schedule_hours`` in one worker (kehu.jobs),
    however many serve."""
    hours = kehu.settings_for("loyalty", LoyaltySettings).schedule_hours
    if hours:
        jobs.every(kehu, SCHEDULE, hours * 3600, lambda: scheduled_round(kehu))


async def stop_scheduler(kehu: Kehu) -> None:
    await jobs.stop(kehu, SCHEDULE)
