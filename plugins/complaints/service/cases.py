"""Filing a case and moving it along: transitions, assignment, notes, the
timeline entries they leave, missed deadlines as they are noticed, and the
customer contacts logged as interactions.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kehu import validation as v
from kehu.access import Viewer, visible_customers
from kehu.customers import get_visible_customer, resolve_owner_for
from kehu.errors import Conflict, NotFound, ValidationError
from kehu.ids import to_global_id
from kehu.interactions import log_interaction
from kehu.models import AccountOwner, Customer, Direction, Interaction, InteractionKind
from kehu.writes import current_scope, emit, publish, record_change

from ..models import (
    Complaint,
    ComplaintChannel,
    ComplaintPriority,
    ComplaintStatus,
    ComplaintTimelineEntry,
    TimelineKind,
)
from ..settings import ComplaintsSettings
from .deadlines import _fmt, running_deadline, sla_deadlines
from .queries import get_visible_complaint
from .workflow import (
    CONTACT_KIND,
    CUSTOMER_FACING_BY_DEFAULT,
    MAX_NOTE,
    NOTE_REQUIRED,
    OPEN_STATUSES,
    S,
    check_transition,
)


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
