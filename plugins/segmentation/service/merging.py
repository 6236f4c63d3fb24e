"""Customers merged into one (``kehu_customers_merged``): their segment
memberships and history become the survivor's; their scores go.

Inside the merge's transaction: the history (value tier, lifecycle stage and
segment changes) moves, so the survivor's explains all of its past; static
memberships move (where the survivor is a member already, the earlier one
stays); the merged customers' classifications are deleted — they described a
part of the customer. After the commit, ``kehu_customer_updated`` re-scores the
survivor from all of its purchases and re-evaluates its rule segments (the
plugin's handler of that event), outside the merge's transaction because a
re-score shares the staging table with the full recompute and takes its lock.
"""

from __future__ import annotations

from ..models import Classification, SegmentChange, SegmentMembership


async def merge_classified(survivor_id: int, merged_ids: list[int]) -> dict[str, int]:
    """Move the merged customers' memberships and history; returns counts."""
    moved: dict[str, int] = {}
    mine = set(await SegmentMembership.filter(customer_id=survivor_id).values_list("segment_id", flat=True))
    drop, move = [], []
    memberships = SegmentMembership.filter(customer_id__in=merged_ids).order_by("since", "id")
    for pk, segment_id in await memberships.values_list("id", "segment_id"):
        if segment_id in mine:
            drop.append(pk)
        else:
            mine.add(segment_id)
            move.append(pk)
    if drop:
        await SegmentMembership.filter(id__in=drop).delete()
    if move:
        await SegmentMembership.filter(id__in=move).update(customer_id=survivor_id)
    moved["memberships"] = len(move)
    moved["memberships_combined"] = len(drop)
    moved["history"] = await SegmentChange.filter(customer_id__in=merged_ids).update(customer_id=survivor_id)
    moved["classifications_replaced"] = await Classification.filter(customer_id__in=merged_ids).delete()
    return {k: n for k, n in moved.items() if n}
