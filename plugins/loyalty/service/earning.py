"""Earning points: purchases (with tier multipliers and birthday bonus),
first-purchase rewards, catching up on missed purchases, manual awards and
corrections.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery

from kehu import validation as v
from kehu.access import Viewer
from kehu.models import AccountOwner, Customer, Interaction, InteractionKind
from kehu.writes import record_change, write_scope

from ..models import EntryKind, LedgerEntry, LoyaltyAccount, Referral, TierChange
from ..settings import LoyaltySettings, TierSettings
from .expiry import expire_customer
from .ledger import Posting, _key, _member_customer, _points, ensure_account, find_entry, post_entry, viewer_for
from .tiers import upgrade_if_qualified

if TYPE_CHECKING:
    from kehu import Kehu


def _round(value: Decimal, settings: LoyaltySettings) -> int:
    mode = ROUND_DOWN if settings.rounding == "down" else ROUND_HALF_UP
    return int(value.quantize(Decimal(1), rounding=mode))


def _birthday_month(customer: Customer, settings: LoyaltySettings, at: dt.datetime, zone: dt.tzinfo) -> bool:
    """Whether ``at`` falls in the customer's birthday month on the business
    calendar (``[kehu] timezone``): 23:30 on 31 May in Shanghai is May there."""
    from .history import _birthday_month as month_of

    month = month_of(customer.attributes, settings)
    return month is not None and month == at.astimezone(zone).month


def purchase_points(settings: LoyaltySettings, amount: Decimal, tier: TierSettings, birthday: bool = False) -> int:
    """Points for a purchase: ``amount × points_per_unit × tier multiplier``
    (× ``birthday_multiplier`` in the birthday month), rounded once at the end with
    ``settings.rounding`` — ¥250 at 1 point/¥ and 1.5× is 375 points; ¥99.99 at
    1 point/¥ is 99 points when rounding down."""
    value = Decimal(amount) * settings.points_per_unit * tier.multiplier
    if birthday:
        value *= settings.birthday_multiplier
    return max(0, _round(value, settings))


async def accrue_purchase(
    kehu: Kehu, interaction: Interaction, actor: AccountOwner | None = None, *, event_id: int | None = None
) -> Posting | None:
    """Credit the points for a logged PURCHASE (the ``kehu_interaction_logged``
    handler), as of the purchase's date: the entry is dated at the purchase, at
    the tier the customer held then, and expires relative to it; points already
    past their date are expired at once. A customer's first purchase replays
    their whole purchase history (``history``), so a back-dated first purchase
    leaves the tiers as if it had arrived live.

    Idempotent per interaction: the entry's key is ``purchase:<id>``, so a
    repeated event credits nothing; with the event's ``event_id`` a repeated
    delivery is rolled back whole (``AlreadyHandled``). Also pays the
    first-purchase bonus and the referrer's bonus. Runs in its own write scope (the
    purchase itself is already committed)."""
    if interaction.kind != InteractionKind.PURCHASE or interaction.amount is None:
        return None
    settings = kehu.settings_for("loyalty", LoyaltySettings)
    now = kehu.clock.now()
    at = min(interaction.occurred_at, now)
    customer_id = interaction.customer_id
    try:
        return await _credit_purchase(kehu, settings, interaction, actor, event_id, now, at, first_contact=True)
    except _NewMember:
        pass
    from .history import catch_up

    try:
        await catch_up(kehu, [customer_id])
    except IntegrityError:
        # Another delivery (another purchase of this new customer, or this one
        # again, in another task or worker) replayed the history at the same
        # time and committed first: its account stands, ours was rolled back
        # whole. Credit this purchase the ordinary way, idempotent by its key.
        return await _credit_purchase(kehu, settings, interaction, actor, event_id, now, at, first_contact=False)
    entry = await find_entry(customer_id, f"purchase:{interaction.id}")
    return Posting(entry, created=True) if entry is not None else None


class _NewMember(Exception):
    """No account and no ledger yet: the customer's history is replayed instead."""


async def _credit_purchase(
    kehu: Kehu,
    settings: LoyaltySettings,
    interaction: Interaction,
    actor: AccountOwner | None,
    event_id: int | None,
    now: dt.datetime,
    at: dt.datetime,
    *,
    first_contact: bool,
) -> Posting | None:
    customer_id = interaction.customer_id
    viewer = viewer_for(kehu, actor) if actor is not None else None
    async with write_scope(
        kehu, viewer, "loyalty.accruePurchase", actor_label=None if actor else "loyalty", event_id=event_id
    ):
        # The account read (and locked) once: absent with no ledger either, this
        # scope is left unwritten and the caller replays the history.
        # With it, whether the customer bought before this purchase: the same statement.
        earlier_purchases = Interaction.filter(
            customer_id=customer_id, kind=InteractionKind.PURCHASE, id__lt=interaction.id
        )
        found = (
            await LoyaltyAccount.filter(customer_id=customer_id)
            .select_for_update()
            .annotate(earlier_purchase=Subquery(earlier_purchases.limit(1).values("id")))
            .first()
        )
        if found is None and first_contact and not await LedgerEntry.exists(customer_id=customer_id):
            raise _NewMember
        if found is not None:
            earlier = found.earlier_purchase is not None  # type: ignore[attr-defined]
        else:
            earlier = await earlier_purchases.exists()
        account = found or await ensure_account(settings, customer_id, at)
        # The account row, locked, is ours until commit: it stays current as long as
        # only post_entry(account=...) moves it (None once anything else may have).
        current: LoyaltyAccount | None = account
        # The account's tier is the one held since ``tier_since``: only a purchase
        # dated before the last change needs the history.
        held = account.tier if account.tier_since <= at else await tier_held(settings, customer_id, at)
        tier = settings.tier(held)
        birthday = settings.birthday_multiplier > 1 and _birthday_month(
            await Customer.get(id=customer_id), settings, at, kehu.calendar.zone
        )
        points = purchase_points(settings, interaction.amount, tier, birthday)
        reason = f"purchase of {interaction.amount} at {tier.name} ×{tier.multiplier}" + (
            " (birthday month)" if birthday else ""
        )
        posting = None
        if points > 0:
            posting = await post_entry(
                settings,
                customer_id,
                EntryKind.EARN,
                points,
                key=f"purchase:{interaction.id}",
                now=at,
                reason=reason,
                actor_id=actor.id if actor else None,
                interaction_id=interaction.id,
                account=account,
            )
            if posting.created:
                record_change("LoyaltyLedgerEntry", posting.entry.id, {"points": (None, points)})
        if not earlier:
            await _first_purchase_rewards(settings, customer_id, interaction, at)
            current = None
        if posting is not None and posting.entry.expires_at is not None and posting.entry.expires_at <= now:
            await expire_customer(settings, customer_id, now)
            current = None
        await upgrade_if_qualified(settings, customer_id, now, account=current)
    return posting


async def tier_held(settings: LoyaltySettings, customer_id: int, at: dt.datetime) -> str:
    """The tier the customer held at ``at``, from the tier history (the base tier
    before the first change)."""
    change = await TierChange.filter(customer_id=customer_id, changed_at__lte=at).order_by("-changed_at", "-id").first()
    return change.to_tier if change is not None else settings.base_tier.name


async def _first_purchase_rewards(
    settings: LoyaltySettings, customer_id: int, interaction: Interaction, now: dt.datetime
) -> None:
    if settings.first_purchase_bonus:
        await post_entry(
            settings,
            customer_id,
            EntryKind.BONUS,
            settings.first_purchase_bonus,
            key=f"first-purchase:{customer_id}",
            now=now,
            reason="first purchase bonus",
            interaction_id=interaction.id,
        )
    referral = await Referral.get_or_none(referee_id=customer_id, rewarded_at=None)
    if referral is not None:
        await pay_referral(settings, referral, now, interaction.id)


async def pay_referral(settings: LoyaltySettings, referral: Referral, now: dt.datetime, interaction_id=None) -> None:
    """The referrer's bonus for the referee's first purchase, once."""
    # Conditional: of two racing first purchases only one pays (the key guards too).
    if await Referral.filter(id=referral.id, rewarded_at=None).update(rewarded_at=now) != 1:
        return
    if settings.referral_bonus:
        await post_entry(
            settings,
            referral.referrer_id,
            EntryKind.REFERRAL_BONUS,
            settings.referral_bonus,
            key=f"referral:{referral.id}",
            now=now,
            reason=f"referral: customer {referral.referee_id}'s first purchase",
            interaction_id=interaction_id,
        )
        await upgrade_if_qualified(settings, referral.referrer_id, now)


async def accrue_missing(kehu: Kehu, customer_ids: list[int] | None = None) -> int:
    """Accrue purchases that have no EARN entry (an import, an event handler that
    failed, the plugin enabled later), each as of its date (``history``). Safe to
    repeat: accrual is idempotent per purchase. Returns the purchases credited."""
    from .history import catch_up

    return (await catch_up(kehu, customer_ids)).purchases


async def award_points(
    kehu: Kehu, viewer: Viewer, customer_id: int, points: int, reason: str | None, idempotency_key: str
) -> Posting:
    """A manual award by staff holding ``loyalty.award``."""
    viewer.require("loyalty.award")
    settings = kehu.settings_for("loyalty", LoyaltySettings)
    key = _key(idempotency_key)
    points = _points(points, settings)
    reason = v.text(reason, "reason", max_length=500, required=True)
    await _member_customer(viewer, customer_id)
    now = kehu.clock.now()
    posting = await post_entry(
        settings,
        customer_id,
        EntryKind.AWARD,
        points,
        key=key,
        now=now,
        reason=reason,
        actor_id=viewer.id,
        replay_points=points,
    )
    if posting.created:
        record_change("LoyaltyLedgerEntry", posting.entry.id, {"points": (None, points), "reason": (None, reason)})
        await upgrade_if_qualified(settings, customer_id, now)
    return posting


async def adjust_points(
    kehu: Kehu, viewer: Viewer, customer_id: int, points: int, reason: str | None, idempotency_key: str
) -> Posting:
    """A correction of either sign, with a mandatory reason (``loyalty.adjust``).
    A negative adjustment may not take the balance below zero."""
    viewer.require("loyalty.adjust")
    settings = kehu.settings_for("loyalty", LoyaltySettings)
    key = _key(idempotency_key)
    points = _points(points, settings, signed=True)
    reason = v.text(reason, "reason", max_length=500, required=True)
    await _member_customer(viewer, customer_id)
    now = kehu.clock.now()
    posting = await post_entry(
        settings,
        customer_id,
        EntryKind.ADJUST,
        points,
        key=key,
        now=now,
        reason=reason,
        actor_id=viewer.id,
        replay_points=points,
    )
    if posting.created:
        record_change("LoyaltyLedgerEntry", posting.entry.id, {"points": (None, points), "reason": (None, reason)})
        if points > 0:
            await upgrade_if_qualified(settings, customer_id, now)
    return posting
