"""Membership tiers: the qualifying value, upgrades as soon as earned, the
periodic review with its grace period.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from tortoise.functions import Sum

from kehu.models import Interaction, InteractionKind
from kehu.writes import record_change, write_scope

from ..models import EARNING_KINDS, LedgerEntry, LoyaltyAccount, TierChange, TierChangeReason
from ..settings import LoyaltySettings, TierSettings

if TYPE_CHECKING:
    from kehu import Kehu


async def qualifying_value(settings: LoyaltySettings, customer_id: int, now: dt.datetime) -> Decimal:
    """What the tier thresholds are compared with: points earned (lifetime or in
    the rolling window) or purchase spend in the window."""
    if settings.tier_basis == "spend":
        since = now - dt.timedelta(days=settings.tier_window_days)
        rows = (
            await Interaction.filter(customer_id=customer_id, kind=InteractionKind.PURCHASE, occurred_at__gte=since)
            .annotate(total=Sum("amount"))
            .values_list("total", flat=True)
        )
        return Decimal(rows[0] or 0) if rows else Decimal(0)
    if settings.tier_window_days == 0:
        rows = await LoyaltyAccount.filter(customer_id=customer_id).values_list("lifetime_points", flat=True)
        return Decimal(rows[0] if rows else 0)
    since = now - dt.timedelta(days=settings.tier_window_days)
    rows = (
        await LedgerEntry.filter(customer_id=customer_id, kind__in=list(EARNING_KINDS), created_at__gte=since)
        .annotate(total=Sum("points"))
        .values_list("total", flat=True)
    )
    return Decimal(rows[0] or 0) if rows else Decimal(0)


def tier_for(settings: LoyaltySettings, value: Decimal) -> TierSettings:
    best = settings.base_tier
    for tier in settings.tiers:
        if value >= settings.threshold(tier):
            best = tier
    return best


def next_tier(settings: LoyaltySettings, current: str) -> TierSettings | None:
    rank = settings.rank(current)
    return settings.tiers[rank + 1] if rank + 1 < len(settings.tiers) else None


async def _change_tier(
    settings: LoyaltySettings, customer_id: int, current: str, new: str, reason: TierChangeReason, now: dt.datetime
) -> bool:
    # Conditional on the tier we read, so two racing upgrades record one change.
    changed = await LoyaltyAccount.filter(customer_id=customer_id, tier=current).update(
        tier=new, tier_since=now, tier_protected_until=now + dt.timedelta(days=settings.tier_grace_days)
    )
    if changed:
        await TierChange.create(customer_id=customer_id, from_tier=current, to_tier=new, reason=reason, changed_at=now)
    return bool(changed)


async def upgrade_if_qualified(
    settings: LoyaltySettings, customer_id: int, now: dt.datetime, *, account: LoyaltyAccount | None = None
) -> str | None:
    """Upgrades happen at once; returns the new tier's name if there was one.
    ``account``: the account as it stands in this transaction, if the caller holds
    it current (its row locked, every change since made through it): not read again,
    and with lifetime points as the basis its ``lifetime_points`` is the value."""
    if account is not None and settings.tier_basis == "points" and settings.tier_window_days == 0:
        value = Decimal(account.lifetime_points)
    else:
        account = account or await LoyaltyAccount.get_or_none(customer_id=customer_id)
        if account is None:
            return None
        value = await qualifying_value(settings, customer_id, now)
    target = tier_for(settings, value)
    if settings.rank(target.name) > settings.rank(account.tier):
        if await _change_tier(settings, customer_id, account.tier, target.name, TierChangeReason.UPGRADE, now):
            return target.name
    return None


@dataclass
class TierReview:
    downgraded: int = 0
    upgraded: int = 0
    kept_in_grace: int = 0


async def review_tiers(kehu: Kehu, now: dt.datetime | None = None) -> TierReview:
    """The scheduled review: downgrade members below their tier's threshold once
    their grace period has run out; members who still qualify get a new grace
    period. Each member is its own small write."""
    settings = kehu.settings_for("loyalty", LoyaltySettings)
    now = now or kehu.clock.now()
    report = TierReview()
    ids = await LoyaltyAccount.all().order_by("id").values_list("customer_id", flat=True)
    for customer_id in ids:
        async with write_scope(kehu, None, "loyalty.reviewTier", actor_label="loyalty tier review"):
            account = await LoyaltyAccount.get(customer_id=customer_id)
            target = tier_for(settings, await qualifying_value(settings, customer_id, now))
            have, want = settings.rank(account.tier), settings.rank(target.name)
            if account.tier != settings.tier(account.tier).name:  # tier removed from the settings
                have = len(settings.tiers)
            if want > have:
                if await _change_tier(settings, customer_id, account.tier, target.name, TierChangeReason.UPGRADE, now):
                    report.upgraded += 1
                    record_change("LoyaltyAccount", account.id, {"tier": (account.tier, target.name)})
            elif want < have:
                if account.tier_protected_until is not None and account.tier_protected_until > now:
                    report.kept_in_grace += 1
                elif await _change_tier(
                    settings, customer_id, account.tier, target.name, TierChangeReason.DOWNGRADE, now
                ):
                    report.downgraded += 1
                    record_change("LoyaltyAccount", account.id, {"tier": (account.tier, target.name)})
            elif have > 0:
                await LoyaltyAccount.filter(id=account.id).update(
                    tier_protected_until=now + dt.timedelta(days=settings.tier_grace_days)
                )
    return report
