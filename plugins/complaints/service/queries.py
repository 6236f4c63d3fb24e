"""Reading complaints: only those of customers the viewer may see, filtered, with their timeline."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tortoise.expressions import Q

from kehu.access import Viewer, of_visible_customers
from kehu.errors import NotFound, ValidationError

from ..models import Complaint, ComplaintPriority, ComplaintStatus, ComplaintTimelineEntry


def visible_complaints(viewer: Viewer | None):
    """Complaints of the customers the viewer may see (kehu.access decides which)."""
    return of_visible_customers(Complaint, viewer)


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
