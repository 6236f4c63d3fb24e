"""Follow-up rules (定期回访). No GraphQL here: the API, the event hooks and the
tests call these functions.

* Every customer may have one plan: contact them every ``interval_days`` days.
* A plan's follow-up is **overdue** once ``next_due_at`` has passed, **due** when it
  falls within ``due_within_days`` from now, **scheduled** otherwise.
* Logging a counting interaction (a call, a visit …) moves the next due date to
  ``occurred_at + interval``; an interaction that names an agreed
  ``next_follow_up_at`` moves it there instead. An interaction older than the last
  contact moves nothing, so logging history late never postpones a follow-up.

Reads start from ``visible_customers`` / ``visible_customer_ids``: a customer the
viewer may not see has no plan for them either. Writes run in a write scope — the
mutation wrapper's for GraphQL, their own for event reactions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from tortoise.expressions import Q

from kehu.access import Viewer, of_visible_customers, visible_customers
from kehu.errors import NotFound, ValidationError
from kehu.models import AccountOwner, Customer, Interaction
from kehu.writes import record_change, write_scope

from .models import FollowUpPlan
from .settings import FollowUpSettings

if TYPE_CHECKING:
    from kehu import Kehu

PLUGIN = "followups"
PLAN = f"{PLUGIN}.plan"
MAX_LISTED = 1000  # plans returned by one due list


class FollowUpStatus(str, Enum):
    OVERDUE = "OVERDUE"
    DUE = "DUE"
    SCHEDULED = "SCHEDULED"
    STOPPED = "STOPPED"


def status_of(plan: FollowUpPlan, now: dt.datetime, settings: FollowUpSettings) -> FollowUpStatus:
    if not plan.active:
        return FollowUpStatus.STOPPED
    if plan.next_due_at < now:
        return FollowUpStatus.OVERDUE
    if plan.next_due_at <= now + dt.timedelta(days=settings.due_within_days):
        return FollowUpStatus.DUE
    return FollowUpStatus.SCHEDULED


def days_overdue(plan: FollowUpPlan, now: dt.datetime) -> int:
    return max(0, (now - plan.next_due_at).days) if plan.active else 0


async def _visible_customer(viewer: Viewer, customer_id: int) -> Customer:
    customer = await visible_customers(viewer).filter(id=customer_id).first()
    if customer is None:
        raise NotFound("no such customer", field="customerId")
    if customer.archived_at is not None:
        raise ValidationError("the customer is archived", field="customerId", code="ARCHIVED")
    return customer


async def last_contact(customer_id: int, settings: FollowUpSettings) -> dt.datetime | None:
    latest = await (
        Interaction.filter(customer_id=customer_id, kind__in=list(settings.counting_kinds))
        .order_by("-occurred_at")
        .first()
    )
    return latest.occurred_at if latest else None


async def set_plan(
    kehu: Kehu,
    viewer: Viewer,
    customer_id: int,
    interval_days: int | None = None,
    next_due_at: dt.datetime | None = None,
) -> FollowUpPlan:
    """Create or change a customer's plan (and restart a stopped one).

    Without ``next_due_at`` the next follow-up falls ``interval_days`` after the
    last counting contact — possibly in the past, i.e. overdue at once — or after
    now when there was none.
    """
    viewer.require(PLAN)
    settings = kehu.settings_for(PLUGIN, FollowUpSettings)
    customer = await _visible_customer(viewer, customer_id)
    interval = settings.default_interval_days if interval_days is None else interval_days
    if not 1 <= interval <= 3650:
        raise ValidationError("must be between 1 and 3650 days", field="intervalDays", code="OUT_OF_RANGE")
    now = kehu.clock.now()
    if next_due_at is not None and next_due_at.tzinfo is None:
        raise ValidationError("needs a time zone", field="nextDueAt")
    plan = await FollowUpPlan.get_or_none(customer_id=customer.id)
    contact = plan.last_contact_at if plan and plan.last_contact_at else await last_contact(customer.id, settings)
    due = next_due_at or (contact or now) + dt.timedelta(days=interval)
    if plan is None:
        plan = await FollowUpPlan.create(
            customer_id=customer.id,
            interval_days=interval,
            next_due_at=due,
            last_contact_at=contact,
            created_at=now,
            updated_at=now,
        )
        record_change("FollowUpPlan", plan.id, {"intervalDays": (None, interval), "nextDueAt": (None, due)})
        return plan
    changes = {
        key: (before, after)
        for key, before, after in (
            ("intervalDays", plan.interval_days, interval),
            ("nextDueAt", plan.next_due_at, due),
            ("active", plan.active, True),
        )
        if before != after
    }
    plan.interval_days, plan.next_due_at, plan.active, plan.updated_at = interval, due, True, now
    await plan.save(update_fields=["interval_days", "next_due_at", "active", "updated_at"])
    record_change("FollowUpPlan", plan.id, changes)
    return plan


async def stop_plan(kehu: Kehu, viewer: Viewer, customer_id: int) -> FollowUpPlan:
    viewer.require(PLAN)
    customer = await _visible_customer(viewer, customer_id)
    plan = await FollowUpPlan.get_or_none(customer_id=customer.id)
    if plan is None or not plan.active:
        raise ValidationError("the customer has no active follow-up plan", field="customerId", code="NO_PLAN")
    plan.active, plan.updated_at = False, kehu.clock.now()
    await plan.save(update_fields=["active", "updated_at"])
    record_change("FollowUpPlan", plan.id, {"active": (True, False)})
    return plan


async def plans_for(customer_ids: list[int]) -> dict[int, FollowUpPlan]:
    return {p.customer_id: p for p in await FollowUpPlan.filter(customer_id__in=customer_ids)}


@dataclass
class OwnerFollowUps:
    owner: AccountOwner | None  # None: customers without an owner
    overdue: list[FollowUpPlan] = field(default_factory=list)
    due: list[FollowUpPlan] = field(default_factory=list)


async def due_follow_ups(
    kehu: Kehu, viewer: Viewer, owner_id: int | None = None, within_days: int | None = None
) -> list[OwnerFollowUps]:
    """Overdue and due follow-ups of the customers ``viewer`` may see, per owner,
    most overdue first; owners ordered by name, unassigned customers last."""
    settings = kehu.settings_for(PLUGIN, FollowUpSettings)
    window = settings.due_within_days if within_days is None else within_days
    if not 0 <= window <= 365:
        raise ValidationError("must be between 0 and 365 days", field="withinDays", code="OUT_OF_RANGE")
    now = kehu.clock.now()
    qs = of_visible_customers(
        FollowUpPlan.filter(
            Q(active=True),
            Q(next_due_at__lte=now + dt.timedelta(days=window)),
            Q(customer__archived_at__isnull=True),
        ),
        viewer,
    )
    if owner_id is not None:
        qs = qs.filter(customer__owner_id=owner_id)
    plans = await qs.select_related("customer", "customer__owner").order_by("next_due_at", "id").limit(MAX_LISTED)
    groups: dict[int | None, OwnerFollowUps] = {}
    for plan in plans:
        owner = plan.customer.owner
        group = groups.setdefault(owner.id if owner else None, OwnerFollowUps(owner))
        (group.overdue if plan.next_due_at < now else group.due).append(plan)
    return sorted(
        groups.values(), key=lambda g: (g.owner is None, g.owner.name if g.owner else "", g.owner.id if g.owner else 0)
    )


# --------------------------------------------------------------------------- event reactions


async def interaction_logged(kehu: Kehu, interaction: Interaction, event_id: int | None = None) -> FollowUpPlan | None:
    """Move the customer's next follow-up after a logged interaction (its own
    write: the interaction is already committed; once per event)."""
    settings = kehu.settings_for(PLUGIN, FollowUpSettings)
    counting = interaction.kind in settings.counting_kinds
    agreed = interaction.next_follow_up_at
    if not counting and agreed is None:
        return None
    async with write_scope(kehu, None, f"{PLUGIN}.interactionLogged", actor_label=PLUGIN, event_id=event_id):
        plan = await FollowUpPlan.get_or_none(customer_id=interaction.customer_id, active=True)
        if plan is None:
            return None
        newer = plan.last_contact_at is None or interaction.occurred_at > plan.last_contact_at
        if not newer and agreed is None:
            return None
        update: dict[str, Any] = {"updated_at": kehu.clock.now()}
        if counting and newer:
            update["last_contact_at"] = interaction.occurred_at
            update["next_due_at"] = interaction.occurred_at + dt.timedelta(days=plan.interval_days)
        if agreed is not None:
            update["next_due_at"] = agreed
        if "next_due_at" not in update:
            return None
        # Conditional on the contact we read: a concurrent, newer interaction wins.
        condition = Q(id=plan.id)
        if "last_contact_at" in update:
            condition &= Q(last_contact_at__isnull=True) | Q(last_contact_at__lt=interaction.occurred_at)
        moved = await FollowUpPlan.filter(condition).update(**update)
        if moved:
            record_change("FollowUpPlan", plan.id, {"nextDueAt": (plan.next_due_at, update["next_due_at"])})
        return await FollowUpPlan.get(id=plan.id)


async def customer_created(kehu: Kehu, customer: Customer, event_id: int | None = None) -> FollowUpPlan | None:
    settings = kehu.settings_for(PLUGIN, FollowUpSettings)
    if not settings.plan_new_customers:
        return None
    now = kehu.clock.now()
    async with write_scope(kehu, None, f"{PLUGIN}.customerCreated", actor_label=PLUGIN, event_id=event_id):
        if await FollowUpPlan.exists(customer_id=customer.id):
            return None
        due = now + dt.timedelta(days=settings.default_interval_days)
        plan = await FollowUpPlan.create(
            customer_id=customer.id,
            interval_days=settings.default_interval_days,
            next_due_at=due,
            created_at=now,
            updated_at=now,
        )
        record_change("FollowUpPlan", plan.id, {"intervalDays": (None, plan.interval_days), "nextDueAt": (None, due)})
    return plan


# --------------------------------------------------------------------------- merges


async def customers_merged(survivor_id: int, merged_ids: list[int]) -> dict[str, int]:
    """Duplicate records merged into ``survivor_id`` (``kehu_customers_merged``,
    inside the merge's transaction): one customer has one plan, so the plans of
    all the records become one. The survivor's is kept (or the oldest merged
    one's, if it had none) and takes what the plans say together: active if any
    was, the shortest interval and the earliest next follow-up of the active
    ones (nobody is called later than one of the records promised), the latest
    contact; the others are deleted. Returns the counts for the merge's answer."""
    plans = await FollowUpPlan.filter(customer_id__in=[survivor_id, *merged_ids]).order_by("created_at", "id")
    if not plans:
        return {}
    kept = next((p for p in plans if p.customer_id == survivor_id), plans[0])
    active = [p for p in plans if p.active] or plans
    contacts = [p.last_contact_at for p in plans if p.last_contact_at is not None]
    others = [p.id for p in plans if p.id != kept.id]
    if others:
        await FollowUpPlan.filter(id__in=others).delete()
    await FollowUpPlan.filter(id=kept.id).update(
        customer_id=survivor_id,
        active=any(p.active for p in plans),
        interval_days=min(p.interval_days for p in active),
        next_due_at=min(p.next_due_at for p in active),
        last_contact_at=max(contacts) if contacts else None,
        created_at=plans[0].created_at,
    )
    moved = {"plans_moved": int(kept.customer_id != survivor_id), "plans_combined": len(others)}
    return {k: n for k, n in moved.items() if n}
