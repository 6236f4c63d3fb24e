"""Customers merged into one (``kehu_customers_merged``): their survey
invitations and responses become the survivor's.

A response keeps its answers, its date and the account owner it was counted for
(``owner_id``, so results by owner do not change); an open invitation link keeps
working and now answers for the survivor. Runs inside the merge's transaction.
"""

from __future__ import annotations

from ..models import Invitation, Response


async def merge_respondents(survivor_id: int, merged_ids: list[int]) -> dict[str, int]:
    """Move the merged customers' invitations and responses; returns counts."""
    return {
        "invitations": await Invitation.filter(customer_id__in=merged_ids).update(customer_id=survivor_id),
        "responses": await Response.filter(customer_id__in=merged_ids).update(customer_id=survivor_id),
    }
