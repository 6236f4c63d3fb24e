"""SLA deadlines: when they fall (calendar hours per priority), which one is running."""

from __future__ import annotations

import datetime as dt

from ..models import Complaint, ComplaintPriority
from ..settings import ComplaintsSettings
from .workflow import OPEN_STATUSES


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


def _fmt(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
