"""Complaint handling rules (客户投诉处理): filing, the workflow, SLA deadlines,
breaches and escalation, follow-up, and the figures a team lead watches.

No GraphQL here: the API, the ``kehu complaints check-sla`` command and the
scheduler call the same functions. Every function takes the ``viewer`` (or runs as
the system) and reads through ``visible_complaints``, so a complaint of a customer
the viewer may not see is reported exactly like one that does not exist. Time is
passed in (``now``) from the application's clock, never read here.

Writes run inside ``kehu.writes.write_scope`` (GraphQL mutations already do).
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tortoise.expressions import Q, Subquery

from kehu import jobs
from kehu import validation as v
from kehu.access import Viewer, visible_customers
from kehu.customers import get_visible_customer, resolve_owner_for
from kehu.errors import Conflict, NotFound, ValidationError
from kehu.ids import to_global_id
from kehu.interactions import log_interaction
from kehu.models import AccountOwner, Customer, Direction, Interaction, InteractionKind, Role
from kehu.writes import Rollback, current_scope, emit, publish, record_change, write_scope

from .models import (
    Complaint,
    ComplaintChannel,
    ComplaintPriority,
    ComplaintStatus,
    ComplaintTimelineEntry,
    TimelineKind,
)
from .settings import ComplaintsSettings, EscalationRule

if TYPE_CHECKING:
    from kehu import Kehu

log = logging.getLogger("kehu.plugins.complaints")

S = ComplaintStatus

# --------------------------------------------------------------------------- the workflow

# The whole state machine: status -> the statuses it may move to. Nothing else in
# the plugin decides which transitions exist.
TRANSITIONS: dict[ComplaintStatus, tuple[ComplaintStatus, ...]] = {
    S.RECEIVED: (S.ACKNOWLEDGED,),
    S.ACKNOWLEDGED: (S.INVESTIGATING,),
    # Investigation judges whether the complaint is valid (判断投诉是否成立).
    S.INVESTIGATING: (S.RESOLUTION_PROPOSED, S.REJECTED),
    # The customer may decline the proposal: back to investigating.
    S.RESOLUTION_PROPOSED: (S.RESOLVED, S.INVESTIGATING),
    # Closing means the follow-up contact (跟踪服务) has been done.
    S.RESOLVED: (S.CLOSED, S.REOPENED),
    S.CLOSED: (S.REOPENED,),
    S.REJECTED: (),
    S.REOPENED: (S.INVESTIGATING,),
}

# Statuses in which the resolution clock runs.
OPEN_STATUSES: tuple[ComplaintStatus, ...] = (
    S.RECEIVED,
    S.ACKNOWLEDGED,
    S.INVESTIGATING,
    S.RESOLUTION_PROPOSED,
    S.REOPENED,
)

# Transitions that need a note, and what it must say.
NOTE_REQUIRED: dict[ComplaintStatus, str] = {
    S.RESOLUTION_PROPOSED: "the proposed resolution",
    S.REJECTED: "the reason the complaint is not valid, as the customer will be told",
    S.REOPENED: "why the case is reopened",
    S.CLOSED: "the outcome of the follow-up contact",
}

# Notes on these transitions are told to the customer unless marked internal.
CUSTOMER_FACING_BY_DEFAULT = frozenset({S.RESOLUTION_PROPOSED, S.REJECTED})

# How a customer-facing contact on a case is logged as an interaction.
CONTACT_KIND: dict[ComplaintChannel, InteractionKind] = {
    ComplaintChannel.HOTLINE: InteractionKind.CALL,
    ComplaintChannel.EMAIL: InteractionKind.EMAIL,
    ComplaintChannel.WEB: InteractionKind.MESSAGE,
    ComplaintChannel.VISIT: InteractionKind.VISIT,
    ComplaintChannel.SOCIAL: InteractionKind.MESSAGE,
    ComplaintChannel.OTHER: InteractionKind.NOTE,
}

MAX_NOTE = 20_000


def allowed_transitions(status: ComplaintStatus) -> tuple[ComplaintStatus, ...]:
    return TRANSITIONS[ComplaintStatus(status)]


def check_transition(current: ComplaintStatus, to: ComplaintStatus) -> None:
    """Raise a ``ValidationError`` naming the current state and the allowed ones
    unless the table allows ``current`` → ``to``."""
    allowed = allowed_transitions(current)
    if to not in allowed:
        names = ", ".join(s.value for s in allowed) or f"none ({current.value} is final)"
        raise ValidationError(
            f"a complaint in status {current.value} cannot move to {to.value}; allowed: {names}",
            field="to",
            code="TRANSITION_NOT_ALLOWED",
        )


# --------------------------------------------------------------------------- SLA


def sla_deadlines(
    priority: ComplaintPriority, start: dt.datetime, settings: ComplaintsSettings
) -> tuple[dt.datetime, dt.datetime]:
    """(first-response deadline, resolution deadline) of a case received at ``start``
    (calendar hours)."""
    p = ComplaintPriority(priority).value
    return (
        start + dt.timedelta(hours=settings.first_response_hours.for_priority(p)),
        start + dt.timedelta(hours=settings.resolution_hours.for_priority(p)),
    )


def running_deadline(complaint: Complaint) -> dt.datetime | None:
    """The deadline the case is working towards now; None once none is running."""
    if complaint.status not in OPEN_STATUSES:
        return None
    pending = [complaint.resolution_due_at]
    if complaint.first_responded_at is None:
        pending.append(complaint.first_response_due_at)
    return min(pending)


def is_overdue(complaint: Complaint, now: dt.datetime) -> bool:
    due = running_deadline(complaint)
    return due is not None and due < now


async def _record_breaches(
    complaint: Complaint, now: dt.datetime, actor: AccountOwner | None
) -> list[ComplaintTimelineEntry]:
    """Record each deadline that passed unmet, once, at the time it happened (the
    deadline). Conditional updates make a concurrent check a no-op."""
    entries = []
    checks = []
    if (
        complaint.status in OPEN_STATUSES
        and complaint.first_responded_at is None
        and complaint.first_response_breached_at is None
        and complaint.first_response_due_at < now
    ):
        checks.append(("first_response_breached_at", complaint.first_response_due_at, "first-response"))
    if (
        complaint.status in OPEN_STATUSES
        and complaint.resolution_breached_at is None
        and complaint.resolution_due_at < now
    ):
        checks.append(("resolution_breached_at", complaint.resolution_due_at, "resolution"))
    for column, due, label in checks:
        updated = await Complaint.filter(id=complaint.id, **{f"{column}__isnull": True}).update(**{column: due})
        if not updated:
            continue
        setattr(complaint, column, due)
        entries.append(
            await _add_entry(
                complaint,
                now,
                actor,
                TimelineKind.SLA_BREACHED,
                note=f"{label} deadline {_fmt(due)} passed ({complaint.priority.value} priority)",
            )
        )
        record_change("Complaint", complaint.id, {column: (None, due)})
        publish(
            "complaint.sla_breached",
            customer_id=complaint.customer_id,
            node_id=to_global_id("Complaint", complaint.id),
            deadline=label.replace("-", "_"),
        )
    return entries


def _fmt(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------- reading


def visible_complaints(viewer: Viewer | None):
    """Complaints of the customers the viewer may see (kehu.access decides which)."""
    return Complaint.filter(customer_id__in=Subquery(visible_customers(viewer).values("id")))


async def get_visible_complaint(viewer: Viewer | None, complaint_id: int, *, field: str = "id") -> Complaint:
    complaint = await visible_complaints(viewer).filter(id=complaint_id).first()
    if complaint is None:
        raise NotFound("no such complaint", field=field)
    return complaint


@dataclass
class ComplaintFilter:
    statuses: list[ComplaintStatus] | None = None
    priorities: list[ComplaintPriority] | None = None
    categories: list[str] | None = None
    assignee_ids: list[int] | None = None
    customer_ids: list[int] | None = None
    overdue: bool | None = None
    due_within_hours: float | None = None
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None


def filter_complaints(viewer: Viewer | None, f: ComplaintFilter | None, now: dt.datetime):
    """The viewer's complaints narrowed by ``f``, newest first. ``overdue``: the
    running deadline has passed; ``due_within_hours``: it passes within that many
    hours from now (and has not yet)."""
    qs = visible_complaints(viewer)
    f = f or ComplaintFilter()
    if f.statuses is not None:
        qs = qs.filter(status__in=[ComplaintStatus(s).value for s in f.statuses])
    if f.priorities is not None:
        qs = qs.filter(priority__in=[ComplaintPriority(p).value for p in f.priorities])
    if f.categories is not None:
        qs = qs.filter(category__in=list(f.categories))
    if f.assignee_ids is not None:
        qs = qs.filter(assignee_id__in=f.assignee_ids)
    if f.customer_ids is not None:
        qs = qs.filter(customer_id__in=f.customer_ids)
    if f.overdue is True:
        qs = qs.filter(next_due_at__lt=now)
    elif f.overdue is False:
        qs = qs.filter(Q(next_due_at__isnull=True) | Q(next_due_at__gte=now))
    if f.due_within_hours is not None:
        if not 0 < f.due_within_hours <= 24 * 365:
            raise ValidationError("must be between 0 and 8760 hours", field="filter.dueWithin")
        qs = qs.filter(next_due_at__gte=now, next_due_at__lt=now + dt.timedelta(hours=f.due_within_hours))
    if f.created_after is not None:
        qs = qs.filter(created_at__gte=f.created_after)
    if f.created_before is not None:
        qs = qs.filter(created_at__lt=f.created_before)
    return qs.order_by("-created_at", "-id")


async def timeline(complaint: Complaint) -> list[ComplaintTimelineEntry]:
    return await ComplaintTimelineEntry.filter(complaint_id=complaint.id).order_by("at", "id")


# --------------------------------------------------------------------------- writing


async def _add_entry(
    complaint: Complaint,
    now: dt.datetime,
    actor: AccountOwner | None,
    kind: TimelineKind,
    *,
    from_status: ComplaintStatus | None = None,
    to_status: ComplaintStatus | None = None,
    note: str = "",
    internal: bool = True,
    interaction: Interaction | None = None,
) -> ComplaintTimelineEntry:
    return await ComplaintTimelineEntry.create(
        complaint_id=complaint.id,
        at=now,
        actor=actor,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        note=note,
        internal=internal,
        interaction=interaction,
    )


async def _log_contact(
    viewer: Viewer,
    complaint: Complaint,
    now: dt.datetime,
    *,
    direction: Direction,
    subject: str,
    notes: str,
    kind: InteractionKind | None = None,
    follow_up_at: dt.datetime | None = None,
) -> Interaction:
    """Log a contact on the case as one of the customer's interactions, through the
    core's ``log_interaction`` (its rules, its event). The audit entry stays about
    the complaint: the core function's ``record_change`` is undone here."""
    scope = current_scope()
    saved = (scope.entity_type, scope.entity_id, dict(scope.changes))
    interaction = await log_interaction(
        viewer,
        {
            "customer_id": complaint.customer_id,
            "kind": kind or CONTACT_KIND[complaint.channel],
            "direction": direction,
            "occurred_at": now,
            "subject": subject[:300],
            "notes": notes,
            "next_follow_up_at": follow_up_at,
        },
        now,
    )
    scope.entity_type, scope.entity_id = saved[0], saved[1]
    scope.changes.clear()
    scope.changes.update(saved[2])
    return interaction


async def _can_see_customer(owner: AccountOwner, customer_id: int) -> bool:
    return await visible_customers(Viewer(owner=owner)).filter(id=customer_id).exists()


async def _check_assignee(owner: AccountOwner, customer_id: int, field: str) -> None:
    # An assignee who cannot see the customer could not see the case either.
    if not await _can_see_customer(owner, customer_id):
        raise ValidationError(
            f"{owner.name} cannot see this customer, so cannot handle the complaint",
            field=field,
            code="ASSIGNEE_CANNOT_SEE_CUSTOMER",
        )


def _category(value: Any, settings: ComplaintsSettings) -> str:
    name = v.text(value, "category", max_length=100, required=True)
    for known in settings.categories:
        if known.casefold() == name.casefold():
            return known
    raise ValidationError(
        f"'{name}' is not a complaint category (categories: {', '.join(settings.categories)})",
        field="category",
        code="UNKNOWN_CATEGORY",
    )


async def file_complaint(
    viewer: Viewer, data: dict[str, Any], settings: ComplaintsSettings, now: dt.datetime
) -> Complaint:
    """Record a complaint: ``customer_id``, ``channel``, ``category``, ``priority``
    (default NORMAL), ``description``, ``key_points``, ``assignee_id`` (default the
    customer's owner, else the viewer). Starts both SLA clocks and logs the
    customer's contact as an inbound interaction."""
    viewer.require("complaints.file")
    try:
        customer = await get_visible_customer(viewer, data["customer_id"])
    except NotFound:
        raise NotFound("no such customer", field="customerId") from None
    if customer.archived_at is not None:
        raise ValidationError("archived customers cannot get new complaints", field="customerId", code="ARCHIVED")
    channel = v.choice(data.get("channel"), ComplaintChannel, "channel")
    priority = v.choice(data.get("priority") or ComplaintPriority.NORMAL, ComplaintPriority, "priority")
    category = _category(data.get("category"), settings)
    description = v.text(data.get("description"), "description", max_length=MAX_NOTE, required=True, multiline=True)
    key_points = v.text(data.get("key_points"), "keyPoints", max_length=MAX_NOTE, multiline=True) or ""
    if data.get("assignee_id") is not None:
        assignee = await resolve_owner_for(viewer, data["assignee_id"], field="assigneeId")
    else:
        assignee = None
        if customer.owner_id is not None:
            assignee = await AccountOwner.get_or_none(id=customer.owner_id, active=True)
        assignee = assignee or viewer.owner
    await _check_assignee(assignee, customer.id, "assigneeId")

    first_due, resolution_due = sla_deadlines(priority, now, settings)
    complaint = await Complaint.create(
        customer=customer,
        assignee=assignee,
        filed_by=viewer.owner,
        channel=channel,
        category=category,
        priority=priority,
        status=S.RECEIVED,
        description=description,
        key_points=key_points,
        first_response_due_at=first_due,
        resolution_due_at=resolution_due,
        next_due_at=min(first_due, resolution_due),
        created_at=now,
        updated_at=now,
    )
    interaction = await _log_contact(
        viewer,
        complaint,
        now,
        direction=Direction.INBOUND,
        subject=f"Complaint #{complaint.id} ({category})",
        notes=key_points or description,
    )
    await _add_entry(
        complaint, now, viewer.owner, TimelineKind.FILED, to_status=S.RECEIVED, internal=False, interaction=interaction
    )
    record_change(
        "Complaint",
        complaint.id,
        {
            "customer_id": (None, customer.id),
            "status": (None, S.RECEIVED),
            "priority": (None, priority),
            "category": (None, category),
            "channel": (None, channel),
            "assignee_id": (None, assignee.id),
        },
    )
    emit("kehu_complaint_filed", complaint=complaint)
    publish(
        "complaint.filed",
        customer_id=customer.id,
        node_id=to_global_id("Complaint", complaint.id),
        status=S.RECEIVED.value,
        priority=priority.value,
    )
    return complaint


async def transition_complaint(
    viewer: Viewer,
    complaint_id: int,
    to: Any,
    note: str | None,
    internal: bool | None,
    settings: ComplaintsSettings,
    now: dt.datetime,
) -> Complaint:
    """Move a case along the workflow (see ``TRANSITIONS``). A refused transition
    raises before anything is written. Each transition adds one timeline entry;
    customer-facing notes are also logged as interactions; resolving schedules the
    follow-up contact and asks for a satisfaction survey."""
    viewer.require("complaints.handle")
    complaint = await get_visible_complaint(viewer, complaint_id)
    target = v.choice(to, ComplaintStatus, "to")
    current = ComplaintStatus(complaint.status)
    check_transition(current, target)
    note = v.text(note, "note", max_length=MAX_NOTE, multiline=True)
    if target in NOTE_REQUIRED and not note:
        raise ValidationError(
            f"moving to {target.value} needs a note: {NOTE_REQUIRED[target]}", field="note", code="REQUIRED"
        )
    if target is S.REJECTED and internal:
        raise ValidationError(
            "the rejection reason is told to the customer; it cannot be an internal note", field="internal"
        )
    customer_facing = (target in CUSTOMER_FACING_BY_DEFAULT) if internal is None else not internal
    if target is S.REOPENED:
        window = dt.timedelta(days=settings.reopen_window_days)
        if complaint.resolved_at is None or now - complaint.resolved_at > window:
            raise ValidationError(
                f"the reopen window ({settings.reopen_window_days:g} days after resolution) has passed; "
                "file a new complaint instead",
                field="to",
                code="REOPEN_WINDOW_CLOSED",
            )

    # Deadlines missed before this transition are recorded as of their time.
    await _record_breaches(complaint, now, viewer.owner)

    changes: dict[str, Any] = {"status": target, "updated_at": now}
    if target is S.ACKNOWLEDGED:
        changes["first_responded_at"] = now
    elif target is S.RESOLUTION_PROPOSED:
        changes["resolution"] = note
    elif target is S.RESOLVED:
        changes["resolved_at"] = now
        changes["follow_up_due_at"] = now + dt.timedelta(hours=settings.follow_up_delay_hours)
    elif target is S.CLOSED:
        changes["closed_at"] = now
    elif target is S.REJECTED:
        changes["rejected_at"] = now
        changes["rejection_reason"] = note
    elif target is S.REOPENED:
        changes.update(
            reopened_at=now,
            reopen_count=complaint.reopen_count + 1,
            resolved_at=None,
            closed_at=None,
            follow_up_due_at=None,
            resolution_due_at=sla_deadlines(complaint.priority, now, settings)[1],
        )
    before = {name: getattr(complaint, name) for name in (*changes, "next_due_at")}
    for name, value in changes.items():
        setattr(complaint, name, value)
    complaint.next_due_at = changes["next_due_at"] = running_deadline(complaint)
    # Conditional on the status read above: a concurrent transition makes this one fail.
    if not await Complaint.filter(id=complaint.id, status=current).update(**changes):
        raise Conflict("the complaint was changed meanwhile; reload it and try again", field="id")

    interaction = None
    label = f"Complaint #{complaint.id}"
    if target is S.RESOLVED:
        interaction = await _log_contact(
            viewer,
            complaint,
            now,
            direction=Direction.OUTBOUND if customer_facing else Direction.INTERNAL,
            kind=None if customer_facing else InteractionKind.NOTE,
            subject=f"{label} resolved: follow up with the customer",
            notes=note or complaint.resolution or "",
            follow_up_at=complaint.follow_up_due_at,
        )
        complaint.follow_up_interaction_id = interaction.id
        await Complaint.filter(id=complaint.id).update(follow_up_interaction_id=interaction.id)
    elif target is S.CLOSED:
        interaction = await _log_contact(
            viewer,
            complaint,
            now,
            direction=Direction.OUTBOUND,
            subject=f"{label}: follow-up done",
            notes=note,
        )
    elif customer_facing and note:
        interaction = await _log_contact(
            viewer,
            complaint,
            now,
            direction=Direction.OUTBOUND,
            subject=f"{label}: {target.value.replace('_', ' ').lower()}",
            notes=note,
        )
    await _add_entry(
        complaint,
        now,
        viewer.owner,
        TimelineKind.TRANSITION,
        from_status=current,
        to_status=target,
        note=note or "",
        internal=not customer_facing,
        interaction=interaction,
    )
    record_change(
        "Complaint",
        complaint.id,
        {
            name: (before[name], changes[name])
            for name in changes
            if name != "updated_at" and before[name] != changes[name]
        },
    )
    emit("kehu_complaint_transitioned", complaint=complaint, from_status=current, to_status=target)
    publish(
        "complaint.status_changed",
        customer_id=complaint.customer_id,
        node_id=to_global_id("Complaint", complaint.id),
        status=target.value,
        fromStatus=current.value,
    )
    if target is S.RESOLVED:
        emit("kehu_complaint_resolved", complaint=complaint)
        # Answered by the surveys plugin when it is enabled; nobody listens otherwise.
        customer = await Customer.get(id=complaint.customer_id)
        emit(
            "kehu_survey_requested",
            customer=customer,
            reason="complaint_resolved",
            reference=to_global_id("Complaint", complaint.id),
        )
    return complaint


async def assign_complaint(
    viewer: Viewer, complaint_id: int, assignee_id: int | None, note: str | None, now: dt.datetime
) -> Complaint:
    """Hand a case to another account owner (who must be able to see the customer)."""
    viewer.require("complaints.assign")
    complaint = await get_visible_complaint(viewer, complaint_id)
    if assignee_id is None:
        raise ValidationError("is required", field="assigneeId", code="REQUIRED")
    assignee = await resolve_owner_for(viewer, assignee_id, field="assigneeId")
    await _check_assignee(assignee, complaint.customer_id, "assigneeId")
    note = v.text(note, "note", max_length=MAX_NOTE, multiline=True)
    previous_id = complaint.assignee_id
    if previous_id != assignee.id:
        previous = await AccountOwner.get_or_none(id=previous_id) if previous_id else None
        complaint.assignee_id = assignee.id
        complaint.updated_at = now
        await complaint.save(update_fields=["assignee_id", "updated_at"])
        text = f"assigned to {assignee.name}" + (f" (was {previous.name})" if previous else "")
        await _add_entry(complaint, now, viewer.owner, TimelineKind.ASSIGNED, note=text + (f": {note}" if note else ""))
        emit("kehu_complaint_assigned", complaint=complaint, previous_assignee=previous, assignee=assignee)
        publish(
            "complaint.assigned", customer_id=complaint.customer_id, node_id=to_global_id("Complaint", complaint.id)
        )
    record_change(
        "Complaint", complaint.id, {"assignee_id": (previous_id, assignee.id)} if previous_id != assignee.id else {}
    )
    return complaint


async def add_complaint_note(
    viewer: Viewer, complaint_id: int, note: str | None, internal: bool, now: dt.datetime
) -> tuple[Complaint, ComplaintTimelineEntry]:
    """Add a note to the timeline. A customer-facing note records a contact with
    the customer, so it is also logged as an interaction."""
    viewer.require("complaints.handle")
    complaint = await get_visible_complaint(viewer, complaint_id)
    note = v.text(note, "note", max_length=MAX_NOTE, required=True, multiline=True)
    interaction = None
    if not internal:
        interaction = await _log_contact(
            viewer,
            complaint,
            now,
            direction=Direction.OUTBOUND,
            subject=f"Complaint #{complaint.id}: note",
            notes=note,
        )
    entry = await _add_entry(
        complaint, now, viewer.owner, TimelineKind.NOTE, note=note, internal=internal, interaction=interaction
    )
    complaint.updated_at = now
    await complaint.save(update_fields=["updated_at"])
    record_change("Complaint", complaint.id, {"timeline_entry_id": (None, entry.id)})
    return complaint, entry


# --------------------------------------------------------------------------- SLA checks & escalation


@dataclass
class SlaCheckResult:
    breaches: list[tuple[int, str]] = field(default_factory=list)  # (complaint id, which deadline)
    escalated: list[int] = field(default_factory=list)
    reassigned: list[int] = field(default_factory=list)


async def _escalation_target(complaint: Complaint, rule: EscalationRule) -> AccountOwner | None:
    if rule.reassign_to == "team_manager":
        team = ""
        for owner_id in (complaint.assignee_id, (await Customer.get(id=complaint.customer_id)).owner_id):
            owner = await AccountOwner.get_or_none(id=owner_id) if owner_id else None
            if owner is not None and owner.team:
                team = owner.team
                break
        if not team:
            return None
        return (
            await AccountOwner.filter(role=Role.MANAGER, team=team, active=True, is_service=False)
            .order_by("id")
            .first()
        )
    return await AccountOwner.get_or_none(email=rule.reassign_to, active=True)


async def _escalate_if_due(
    complaint: Complaint, settings: ComplaintsSettings, now: dt.datetime, result: SlaCheckResult
) -> bool:
    """Escalate a breached or nearly breached case — once: ``escalated_at`` is set
    by a conditional update, so repeated or concurrent checks do nothing more."""
    rule = settings.escalation_rule(complaint.priority.value)
    due = running_deadline(complaint)
    if rule is None or due is None or complaint.escalated_at is not None:
        return False
    if not due - dt.timedelta(minutes=rule.before_breach_minutes) < now:
        return False
    what = (
        "first response"
        if complaint.first_responded_at is None and due == complaint.first_response_due_at
        else "resolution"
    )
    reason = f"{complaint.priority.value} priority: {what} " + (
        f"overdue since {_fmt(due)}" if due < now else f"due at {_fmt(due)}"
    )
    if not await Complaint.filter(id=complaint.id, escalated_at__isnull=True).update(
        escalated_at=now, escalation_reason=reason, updated_at=now
    ):
        return False
    complaint.escalated_at, complaint.escalation_reason, complaint.updated_at = now, reason, now
    note = reason
    previous_id = complaint.assignee_id
    if rule.action == "reassign":
        target = await _escalation_target(complaint, rule)
        if target is None:
            note += f"; nobody to reassign to ({rule.reassign_to})"
        elif target.id == previous_id:
            note += f"; already with {target.name}"
        elif not await _can_see_customer(target, complaint.customer_id):
            note += f"; {target.name} cannot see this customer, not reassigned"
        else:
            await Complaint.filter(id=complaint.id).update(assignee_id=target.id)
            complaint.assignee_id = target.id
            note += f"; reassigned to {target.name}"
            result.reassigned.append(complaint.id)
    await _add_entry(complaint, now, None, TimelineKind.ESCALATED, note=note)
    record_change(
        "Complaint",
        complaint.id,
        {
            "escalated_at": (None, now),
            "assignee_id": (previous_id, complaint.assignee_id),
        },
    )
    emit("kehu_complaint_escalated", complaint=complaint, reason=reason)
    publish(
        "complaint.escalated",
        customer_id=complaint.customer_id,
        node_id=to_global_id("Complaint", complaint.id),
        priority=complaint.priority.value,
    )
    result.escalated.append(complaint.id)
    return True


async def check_sla(kehu: Kehu, now: dt.datetime | None = None) -> SlaCheckResult:
    """Record missed deadlines and escalate what the settings say, each case in its
    own write (one audit entry per case that changed, none for the others). Safe to
    run as often as wanted: nothing is recorded or escalated twice."""
    settings: ComplaintsSettings = kehu.settings_for("complaints")
    now = now or kehu.clock.now()
    lead = max((rule.before_breach_minutes for rule in settings.escalation), default=0)
    candidate_ids = (
        await Complaint.filter(status__in=[s.value for s in OPEN_STATUSES])
        .filter(
            Q(first_responded_at__isnull=True, first_response_breached_at__isnull=True, first_response_due_at__lt=now)
            | Q(resolution_breached_at__isnull=True, resolution_due_at__lt=now)
            | Q(escalated_at__isnull=True, next_due_at__lt=now + dt.timedelta(minutes=lead))
        )
        .order_by("id")
        .values_list("id", flat=True)
    )
    result = SlaCheckResult()
    for complaint_id in candidate_ids:
        try:
            async with write_scope(kehu, None, "complaints.checkSla", actor_label="complaints SLA check"):
                complaint = await Complaint.get(id=complaint_id)
                entries = await _record_breaches(complaint, now, None)
                escalated = await _escalate_if_due(complaint, settings, now, result)
                if not entries and not escalated:
                    raise Rollback
                for entry in entries:
                    which = "first_response" if "first-response" in entry.note else "resolution"
                    result.breaches.append((complaint.id, which))
                await Complaint.filter(id=complaint.id).update(updated_at=now)
        except Rollback:
            continue
    return result


async def check_sla_command(kehu: Kehu, args: Any) -> int:
    """``kehu complaints check-sla``: one round of ``check_sla``, summarised."""
    result = await check_sla(kehu)
    print(
        f"{len(result.breaches)} deadline(s) newly missed, {len(result.escalated)} case(s) escalated"
        f" ({len(result.reassigned)} reassigned)"
    )
    return 0


SLA_JOB = "complaints.sla"


async def scheduled_sla_check(kehu: Kehu) -> None:
    result = await check_sla(kehu)
    if result.breaches or result.escalated:
        log.info("SLA check: %d breach(es), %d escalation(s)", len(result.breaches), len(result.escalated))


def start_scheduler(kehu: Kehu) -> None:
    """Check SLAs every ``scheduler_interval_minutes`` in one worker (kehu.jobs)."""
    settings: ComplaintsSettings = kehu.settings_for("complaints")
    if settings.scheduler_interval_minutes > 0:
        jobs.every(kehu, SLA_JOB, settings.scheduler_interval_minutes * 60, lambda: scheduled_sla_check(kehu))


async def stop_scheduler(kehu: Kehu) -> None:
    await jobs.stop(kehu, SLA_JOB)


# --------------------------------------------------------------------------- statistics


@dataclass
class ComplaintStats:
    start: dt.datetime
    end: dt.datetime
    total: int
    by_category: dict[str, int]
    by_status: dict[ComplaintStatus, int]
    median_first_response_hours: float | None
    median_resolution_hours: float | None
    sla_compliance_percent: float | None
    reopen_rate_percent: float | None
    rejection_rate_percent: float | None


def _percent(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


def _hours(delta: dt.timedelta) -> float:
    return delta.total_seconds() / 3600


async def complaint_stats(
    viewer: Viewer | None, start: dt.datetime | None, end: dt.datetime | None, now: dt.datetime
) -> ComplaintStats:
    """Figures for the complaints *received* in [start, end) that the viewer may see
    (default: the 30 days up to now).

    * median time to first response / to resolution (hours), over the cases that
      have one (a reopened case counts from receipt to its latest resolution);
    * SLA compliance %: of the cases whose SLA outcome is known — a deadline was
      missed (recorded, or running and passed), or the case is no longer open — the
      share that missed none;
    * reopen rate %: of the cases resolved at least once, the share reopened;
    * rejection rate %: of all cases received, the share rejected as not valid.
    """
    qs = visible_complaints(viewer)
    if end is None:  # up to and including now
        end = now
        qs = qs.filter(created_at__lte=now)
    else:
        qs = qs.filter(created_at__lt=end)
    start = start or end - dt.timedelta(days=30)
    if start >= end:
        raise ValidationError("the period must end after it starts", field="period")
    rows = await qs.filter(created_at__gte=start)
    by_category: dict[str, int] = {}
    by_status: dict[ComplaintStatus, int] = {}
    first_response, resolution = [], []
    settled = met = resolved_once = reopened = rejected = 0
    for c in rows:
        status = ComplaintStatus(c.status)
        by_category[c.category] = by_category.get(c.category, 0) + 1
        by_status[status] = by_status.get(status, 0) + 1
        if c.first_responded_at is not None:
            first_response.append(_hours(c.first_responded_at - c.created_at))
        if c.resolved_at is not None:
            resolution.append(_hours(c.resolved_at - c.created_at))
        missed = bool(c.first_response_breached_at or c.resolution_breached_at) or is_overdue(c, now)
        if missed or status not in OPEN_STATUSES:
            settled += 1
            met += not missed
        if c.resolved_at is not None or c.reopen_count > 0:
            resolved_once += 1
            reopened += c.reopen_count > 0
        rejected += status is S.REJECTED
    return ComplaintStats(
        start=start,
        end=end,
        total=len(rows),
        by_category=by_category,
        by_status=by_status,
        median_first_response_hours=statistics.median(first_response) if first_response else None,
        median_resolution_hours=statistics.median(resolution) if resolution else None,
        sla_compliance_percent=_percent(met, settled),
        reopen_rate_percent=_percent(reopened, resolved_once),
        rejection_rate_percent=_percent(rejected, len(rows)),
    )
