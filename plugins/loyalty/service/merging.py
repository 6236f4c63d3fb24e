"""Customers merged into one (``kehu_customers_merged``): their points, vouchers,
tier history and referrals become the survivor's.

Runs inside the merge's transaction. The ledger entries move whole (each keeps
its date, kind and expiry, so expiry and the history stay right); the account
is the survivor's — or the first merged one's, if the survivor had none — with
its balance and lifetime points recomputed from the ledger it now has (the
invariant ``kehu loyalty check`` verifies) and its tier the best of the tiers
the records held and the tier the combined points qualify for. A referral
between two records of the merge would make the customer their own referrer:
it is removed; a customer left with two referrers keeps the earlier one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise.expressions import Q
from tortoise.functions import Sum

from ..models import EARNING_KINDS, LedgerEntry, LoyaltyAccount, Redemption, Referral, TierChange, TierChangeReason
from ..settings import LoyaltySettings
from .tiers import qualifying_value, tier_for

if TYPE_CHECKING:
    from kehu import Kehu


async def merge_members(kehu: Kehu, survivor_id: int, merged_ids: list[int]) -> dict[str, int]:
    """Move the merged customers' loyalty data to the survivor; returns counts."""
    settings = kehu.settings_for("loyalty", LoyaltySettings)
    now = kehu.clock.now()
    ids = [survivor_id, *merged_ids]
    moved: dict[str, int] = {}

    # Idempotency keys are unique per customer: a key both records used stays
    # apart (a retry meant for one of them must not find the other's entry).
    seen = set(await LedgerEntry.filter(customer_id=survivor_id).values_list("idempotency_key", flat=True))
    for customer_id in merged_ids:
        for pk, key in await LedgerEntry.filter(customer_id=customer_id).values_list("id", "idempotency_key"):
            if key in seen:
                key = f"{key[:180]}|merged:{customer_id}"
                await LedgerEntry.filter(id=pk).update(idempotency_key=key)
            seen.add(key)
    moved["ledger_entries"] = await LedgerEntry.filter(customer_id__in=merged_ids).update(customer_id=survivor_id)
    moved["vouchers"] = await Redemption.filter(customer_id__in=merged_ids).update(customer_id=survivor_id)
    moved["tier_changes"] = await TierChange.filter(customer_id__in=merged_ids).update(customer_id=survivor_id)
    moved.update(await _merge_referrals(survivor_id, ids))

    accounts = await LoyaltyAccount.filter(customer_id__in=ids).order_by("created_at", "id")
    if accounts:
        account = next((a for a in accounts if a.customer_id == survivor_id), accounts[0])
        others = [a for a in accounts if a.id != account.id]
        if others:
            await LoyaltyAccount.filter(id__in=[a.id for a in others]).delete()
            moved["accounts_combined"] = len(others)
        before = account.tier
        balance = await _sum(LedgerEntry.filter(customer_id=survivor_id))
        lifetime = await _sum(LedgerEntry.filter(customer_id=survivor_id, kind__in=list(EARNING_KINDS)))
        held = [a.tier for a in accounts]
        qualified = tier_for(settings, await qualifying_value(settings, survivor_id, now)).name
        tier = max([*held, qualified], key=settings.rank)
        changes = {
            "customer_id": survivor_id,
            "balance": balance,
            "lifetime_points": lifetime,
            "created_at": min(a.created_at for a in accounts),
        }
        if tier != before:
            changes.update(tier=tier, tier_since=now)
            protected = [a.tier_protected_until for a in accounts if a.tier == tier and a.tier_protected_until]
            changes["tier_protected_until"] = max(protected) if protected else account.tier_protected_until
        await LoyaltyAccount.filter(id=account.id).update(**changes)
        if tier != before:
            await TierChange.create(
                customer_id=survivor_id, from_tier=before, to_tier=tier, reason=TierChangeReason.UPGRADE, changed_at=now
            )
    return {k: n for k, n in moved.items() if n}


async def _sum(query) -> int:
    rows = await query.annotate(total=Sum("points")).values_list("total", flat=True)
    return int(rows[0] or 0) if rows else 0


async def _merge_referrals(survivor_id: int, ids: list[int]) -> dict[str, int]:
    """Referrals from or to the merged records become the survivor's; none of
    the survivor to itself, and one referrer at most."""
    merged = set(ids) - {survivor_id}
    referrals = await Referral.filter(Q(referrer_id__in=ids) | Q(referee_id__in=ids)).order_by("created_at", "id")
    drop, move = [], []
    referred_by: int | None = None  # the survivor's kept referral
    for referral in referrals:
        referrer = survivor_id if referral.referrer_id in merged else referral.referrer_id
        referee = survivor_id if referral.referee_id in merged else referral.referee_id
        if referrer == referee:
            drop.append(referral.id)  # the customer would have referred themselves
            continue
        if referee == survivor_id:
            if referred_by is not None:
                drop.append(referral.id)  # one referrer per customer: the earlier stays
                continue
            referred_by = referral.id
        if (referrer, referee) != (referral.referrer_id, referral.referee_id):
            move.append((referral.id, referrer, referee))
    if drop:
        await Referral.filter(id__in=drop).delete()
    for pk, referrer, referee in move:
        await Referral.filter(id=pk).update(referrer_id=referrer, referee_id=referee)
    return {"referrals": len(move), "referrals_removed": len(drop)}
