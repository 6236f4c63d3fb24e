"""Customers merged into one (``kehu_customers_merged``): the disclosure log of
the merged customers becomes the survivor's; their blind-index rows go.

A disclosure records who saw whose field and why: the person is now the
survivor, so the log follows, with its reason and time unchanged. The merged
records' blind-index rows described their own (archived) values; the survivor's
index is kept by the save that gave it its merged fields. The survivor's values
chosen from a merged record are sealed like every write: encrypted fields stay
encrypted.
"""

from __future__ import annotations

from ..models import BlindIndex, Disclosure


async def merge_disclosures(survivor_id: int, merged_ids: list[int]) -> dict[str, int]:
    moved = await Disclosure.filter(customer_id__in=merged_ids).update(customer_id=survivor_id)
    await BlindIndex.filter(customer_id__in=merged_ids).delete()
    return {"disclosures": moved} if moved else {}
