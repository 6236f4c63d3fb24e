"""The figures a team lead watches: volumes, medians, SLA compliance, reopen and rejection rates."""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass

from kehu.access import Viewer
from kehu.clock import BusinessCalendar
from kehu.errors import ValidationError
from kehu.figures import percent

from ..models import ComplaintStatus
from .deadlines import is_overdue
from .queries import visible_complaints
from .workflow import OPEN_STATUSES, S


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


def _hours(delta: dt.timedelta) -> float:
    return delta.total_seconds() / 3600


async def complaint_stats(
    viewer: Viewer | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    now: dt.datetime,
    calendar: BusinessCalendar | None = None,
) -> ComplaintStats:
    """Figures for the complaints *received* in [start, end) that the viewer may see
    (default: the last 30 calendar days of the business calendar, today included,
    up to now).

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
    if start is None:
        calendar = calendar or BusinessCalendar()
        start = calendar.start_of(calendar.date_of(end) - dt.timedelta(days=29))
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
        sla_compliance_percent=percent(met, settled),
        reopen_rate_percent=percent(reopened, resolved_once),
        rejection_rate_percent=percent(rejected, len(rows)),
    )
