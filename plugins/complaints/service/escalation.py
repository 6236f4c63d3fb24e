"""The SLA check: missed deadlines recorded, cases escalated (and reassigned)
once, each in its own write; the schedule that runs it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tortoise.expressions import Q

from kehu import jobs
from kehu.ids import to_global_id
from kehu.models import AccountOwner, Customer, Role
from kehu.writes import Rollback, emit, publish, record_change, write_scope

from ..models import Complaint, TimelineKind
from ..settings import ComplaintsSettings, EscalationRule
from .cases import _add_entry, _can_see_customer, _record_breaches
from .deadlines import _fmt, running_deadline
from .workflow import OPEN_STATUSES

if TYPE_CHECKING:
    from kehu import Kehu


log = logging.getLogger(__name__)


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
    settings = kehu.settings_for("complaints", ComplaintsSettings)
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


SLA_JOB = "complaints.sla"


async def scheduled_sla_check(kehu: Kehu) -> None:
    result = await check_sla(kehu)
    if result.breaches or result.escalated:
        log.info("SLA check: %d breach(es), %d escalation(s)", len(result.breaches), len(result.escalated))


def start_scheduler(kehu: Kehu) -> None:
    """Check SLAs every ``scheduler_interval_minutes`` in one worker (kehu.jobs)."""
    settings = kehu.settings_for("complaints", ComplaintsSettings)
    if settings.scheduler_interval_minutes > 0:
        jobs.every(kehu, SLA_JOB, settings.scheduler_interval_minutes * 60, lambda: scheduled_sla_check(kehu))


async def stop_scheduler(kehu: Kehu) -> None:
    await jobs.stop(kehu, SLA_JOB)
