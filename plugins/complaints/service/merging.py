"""Customers merged into one (``kehu_customers_merged``): their complaints, with
their timelines, become the survivor's.

A complaint keeps its status, deadlines, assignee and whole timeline (the
timeline hangs off the complaint, so it moves with it); only whose complaint it
is changes. Runs inside the merge's transaction.
"""

from __future__ import annotations

from ..models import Complaint, ComplaintTimelineEntry


async def merge_cases(survivor_id: int, merged_ids: list[int]) -> dict[str, int]:
    """Move the merged customers' complaints to the survivor; returns counts."""
    ids = await Complaint.filter(customer_id__in=merged_ids).values_list("id", flat=True)
    if not ids:
        return {}
    timeline = await ComplaintTimelineEntry.filter(complaint_id__in=list(ids)).count()
    moved = await Complaint.filter(id__in=list(ids)).update(customer_id=survivor_id)
    return {"complaints": moved, "timeline_entries": timeline}
