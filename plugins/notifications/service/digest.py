"""The daily digest: each agent's follow-ups due today (and those overdue for up
to ``digest_overdue_days``), one message per agent and day — a repeated run of
the job the same day sends nothing new."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from kehu.models import AccountOwner, Customer, Interaction
from kehu.writes import write_scope

from .messages import queue, settings_of, zone_of
from .triggers import _console_link, owner_recipient

if TYPE_CHECKING:
    from kehu import Kehu

MAX_ITEMS = 50


def offset_seconds(kehu: Kehu) -> float | None:
    """When in the (UTC) day the digest goes out, for ``kehu.jobs.every``; None: off.
    Computed for today's UTC offset of the zone (a zone with summer time moves it
    by an hour twice a year)."""
    settings = settings_of(kehu)
    if not settings.digest_at:
        return None
    hours, minutes = (int(part) for part in settings.digest_at.split(":"))
    zone = zone_of(kehu)
    utc_offset = kehu.clock.now().astimezone(zone).utcoffset() or dt.timedelta(0)
    return ((hours * 3600 + minutes * 60) - utc_offset.total_seconds()) % 86400


async def follow_ups(owner: AccountOwner, start: dt.datetime, end: dt.datetime) -> list[tuple[Customer, Interaction]]:
    """The owner's customers whose latest interaction asks for a follow-up before
    ``end`` (and not before ``start``), soonest first."""
    rows = (
        await Interaction.filter(
            customer__owner_id=owner.id,
            customer__archived_at__isnull=True,
            next_follow_up_at__gte=start,
            next_follow_up_at__lt=end,
        )
        .select_related("customer")
        .order_by("next_follow_up_at", "id")
    )
    due: dict[int, tuple[Customer, Interaction]] = {}
    for interaction in rows:
        customer = interaction.customer
        if customer.last_interaction_at is not None and customer.last_interaction_at > interaction.occurred_at:
            continue  # contacted again since: followed up
        due.setdefault(customer.id, (customer, interaction))
    return list(due.values())


async def send_digests(kehu: Kehu) -> int:
    """Queue today's digest for every active staff member with follow-ups due."""
    settings = settings_of(kehu)
    zone = zone_of(kehu)
    local = kehu.clock.now().astimezone(zone)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    start = (day_start - dt.timedelta(days=settings.digest_overdue_days)).astimezone(dt.UTC)
    end = (day_start + dt.timedelta(days=1)).astimezone(dt.UTC)
    date = day_start.date().isoformat()
    queued = 0
    for owner in await AccountOwner.filter(active=True, is_service=False).order_by("id"):
        due = await follow_ups(owner, start, end)
        if not due:
            continue
        items = "\n".join(
            f"- {c.name}（{i.next_follow_up_at.astimezone(zone).strftime('%m-%d %H:%M')}）{i.subject or ''}".rstrip()
            for c, i in due[:MAX_ITEMS]
        )
        if len(due) > MAX_ITEMS:
            items += f"\n… +{len(due) - MAX_ITEMS}"
        context = {"count": len(due), "date": date, "items": items, "link": _console_link(kehu, "#/customers")}
        async with write_scope(kehu, None, "notifications.digest", actor_label="notifications digest"):
            queued += len(
                await queue(kehu, "followups.digest", [owner_recipient(owner, kehu)], context, f"digest:{date}")
            )
    return queued
