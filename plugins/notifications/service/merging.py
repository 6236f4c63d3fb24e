"""Customers merged into one (``kehu_customers_merged``): the messages sent to the
merged customers become the survivor's, so the log shows everything the person
was sent. Their keys, addresses and states are kept: a message queued for a
merged record is still sent once, to the address it was queued for. Runs inside
the merge's transaction.
"""

from __future__ import annotations

from ..models import Message


async def merge_recipients(survivor_id: int, merged_ids: list[int]) -> dict[str, int]:
    """Move the merged customers' messages to the survivor; returns counts."""
    moved = await Message.filter(customer_id__in=merged_ids).update(customer_id=survivor_id)
    return {"messages": moved} if moved else {}
