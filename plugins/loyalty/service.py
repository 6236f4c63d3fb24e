"""Loyalty rules: the points ledger, earning, tiers, rewards, referrals, expiry.

No GraphQL here: the API, the CLI and the event hook call these functions, and
tests call them directly. Functions that change data run inside the caller's
``kehu.writes.write_scope`` (one transaction, one audit entry); the system jobs
(accrual after a purchase, expiry, the tier review) open their own scopes.

The invariants, and how they hold under concurrency on SQLite and PostgreSQL:

* **The balance equals the ledger sum.** Every entry is inserted in the same
  transaction as the ``UPDATE loyalty_account SET balance = balance + n`` it
  explains; nothing reads a balance into Python and writes it back.
* **No balance below zero, no oversold stock.** Debits are conditional updates
  (``… WHERE balance >= cost``, ``… WHERE stock >= 1``). PostgreSQL re-checks the
  condition once a concurrent writer of the row commits, so the second of two
  racing redemptions sees the balance the first left; SQLite runs one write
  transaction at a time.
* **Idempotency.** Each entry's ``(customer, idempotency_key)`` is unique. The entry
  is inserted first, in a savepoint: a concurrent request with the same key waits
  on the unique index, fails, and returns the entry the first request committed.
* Lock order is always ledger entry → account → reward, so racing writers queue
  rather than deadlock.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from tortoise.connection import connections
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q, Subquery
from tortoise.functions import Count, Sum
from tortoise.transactions import in_transaction

from kehu import validation as v
from kehu.access import Viewer, visible_customers
from kehu.errors import Conflict, NotFound, PermissionDenied, ValidationError
from kehu.models import AccountOwner, Customer, Interaction, InteractionKind
from kehu.writes import record_change, write_scope

from .models import (
    EARNING_KINDS,
    EntryKind,
    LedgerEntry,
    LoyaltyAccount,
    Redemption,
    Referral,
    Reward,
    TierChange,
    TierChangeReason,
    VoucherStatus,
)
from .settings import LoyaltySettings, TierSettings

if TYPE_CHECKING:
    from kehu import Kehu

log = logging.getLogger("kehu.plugins.loyalty")

PLUGIN = "loyalty"
MAX_KEY_LENGTH = 200
# Voucher codes: no 0/O, 1/I/L; 10 characters ≈ 50 bits, so guessing one is hopeless.
VOUCHER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
VOUCHER_LENGTH = 10
MAX_SUMMARY_PERIODS = 400


def settings_of(kehu: Kehu) -> LoyaltySettings:
    settings = kehu.settings_for(PLUGIN)
    return settings if settings is not None else LoyaltySettings()


def viewer_for(kehu: Kehu, owner: AccountOwner) -> Viewer:
    """The viewer acting as ``owner`` (for jobs and tests outside a request)."""
    return Viewer(owner=owner, permissions=kehu.permissions_for(owner.role))


# --------------------------------------------------------------------------- input checks


def _key(value: Any, field: str = "idempotencyKey") -> str:
    key = v.text(value, field, max_length=MAX_KEY_LENGTH, required=True)
    if ":" in key:
        # Keys with a colon are reserved for the system's own entries ("purchase:17").
        raise ValidationError("must not contain ':'", field=field, code="INVALID_KEY")
    return key


def _points(value: Any, settings: LoyaltySettings, field: str = "points", *, signed: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("must be a whole number of points", field=field)
    if value == 0 or (value < 0 and not signed):
        raise ValidationError("must be positive" if not signed else "must not be 0", field=field, code="INVALID_POINTS")
    if abs(value) > settings.max_manual_points:
        raise ValidationError(f"must be at most {settings.max_manual_points} points", field=field, code="TOO_LARGE")
    return value


async def _member_customer(viewer: Viewer | None, customer_id: int, field: str = "customerId") -> Customer:
    """A customer the viewer may see and who is not archived."""
    customer = await visible_customers(viewer).filter(id=customer_id).first()
    if customer is None:
        raise NotFound("no such customer", field=field)
    if customer.archived_at is not None:
        raise ValidationError("the customer is archived", field=field, code="ARCHIVED")
    return customer


# --------------------------------------------------------------------------- accounts and the ledger


async def ensure_account(settings: LoyaltySettings, customer_id: int, now: dt.datetime) -> LoyaltyAccount:
    """The customer's account, created (in the base tier) on first use.

    ``INSERT … ON CONFLICT DO NOTHING`` (``OR IGNORE`` on SQLite) lets two first
    writes for a customer race without either failing.
    """
    account = await LoyaltyAccount.get_or_none(customer_id=customer_id)
    if account is not None:
        return account
    base = settings.base_tier.name
    await LoyaltyAccount.bulk_create(
        [LoyaltyAccount(customer_id=customer_id, tier=base, tier_since=now, created_at=now)],
        ignore_conflicts=True,
    )
    account = await LoyaltyAccount.get(customer_id=customer_id)
    if account.created_at == now and not await TierChange.exists(customer_id=customer_id):
        await TierChange.create(
            customer_id=customer_id, from_tier=None, to_tier=base, reason=TierChangeReason.JOINED, changed_at=now
        )
    return account


@dataclass
class Posting:
    """The result of posting an entry: the entry, and whether this call created it
    (False: the idempotency key had been used and this is the first result)."""

    entry: LedgerEntry
    created: bool


def _replay(entry: LedgerEntry, kind: EntryKind, points: int | None) -> Posting:
    if entry.kind != kind or (points is not None and entry.points != points):
        raise Conflict(
            "this idempotency key was already used for a different request",
            field="idempotencyKey",
            code="IDEMPOTENCY_KEY_REUSED",
        )
    return Posting(entry, created=False)


async def find_entry(customer_id: int, key: str) -> LedgerEntry | None:
    return await LedgerEntry.get_or_none(customer_id=customer_id, idempotency_key=key)


async def post_entry(
    settings: LoyaltySettings,
    customer_id: int,
    kind: EntryKind,
    points: int,
    *,
    key: str,
    now: dt.datetime,
    reason: str = "",
    actor_id: int | None = None,
    interaction_id: int | None = None,
    replay_points: int | None = None,
) -> Posting:
    """Append one entry and move the cached balance with it, atomically.

    A debit that the balance cannot cover raises ``ValidationError``
    (``INSUFFICIENT_POINTS``) and, like any exception here, undoes the whole write.
    Must run inside a transaction (a write scope).
    """
    existing = await find_entry(customer_id, key)
    if existing is not None:
        return _replay(existing, kind, replay_points)
    await ensure_account(settings, customer_id, now)
    expires_at = None
    if points > 0 and settings.expiry_days:
        expires_at = now + dt.timedelta(days=settings.expiry_days)
    try:
        async with in_transaction():  # a savepoint: a duplicate key undoes only this insert
            entry = await LedgerEntry.create(
                customer_id=customer_id,
                kind=kind,
                points=points,
                balance_after=0,
                reason=reason,
                idempotency_key=key,
                created_at=now,
                expires_at=expires_at,
                actor_id=actor_id,
                interaction_id=interaction_id,
            )
    except IntegrityError:
        # A concurrent request with the same key committed first: its result is ours.
        existing = await find_entry(customer_id, key)
        if existing is None:
            raise
        return _replay(existing, kind, replay_points)

    accounts = LoyaltyAccount.filter(customer_id=customer_id)
    if points < 0:
        accounts = accounts.filter(balance__gte=-points)
    changes: dict[str, Any] = {"balance": F("balance") + points}
    if kind in EARNING_KINDS:
        changes["lifetime_points"] = F("lifetime_points") + points
    if await accounts.update(**changes) != 1:
        balance = await LoyaltyAccount.filter(customer_id=customer_id).values_list("balance", flat=True)
        raise ValidationError(
            f"not enough points: {-points} needed, {balance[0] if balance else 0} available",
            field="points" if kind is EntryKind.ADJUST else "customerId",
            code="INSUFFICIENT_POINTS",
        )
    # The row is locked by our update until commit, so this is our own result.
    entry.balance_after = (await LoyaltyAccount.filter(customer_id=customer_id).values_list("balance", flat=True))[0]
    await LedgerEntry.filter(id=entry.id).update(balance_after=entry.balance_after)
    return Posting(entry, created=True)


# --------------------------------------------------------------------------- tiers


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


async def upgrade_if_qualified(settings: LoyaltySettings, customer_id: int, now: dt.datetime) -> str | None:
    """Upgrades happen at once; returns the new tier's name if there was one."""
    account = await LoyaltyAccount.get_or_none(customer_id=customer_id)
    if account is None:
        return None
    target = tier_for(settings, await qualifying_value(settings, customer_id, now))
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
    settings = settings_of(kehu)
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


# --------------------------------------------------------------------------- earning


def _round(value: Decimal, settings: LoyaltySettings) -> int:
    mode = ROUND_DOWN if settings.rounding == "down" else ROUND_HALF_UP
    return int(value.quantize(Decimal(1), rounding=mode))


def _birthday_month(customer: Customer, settings: LoyaltySettings, now: dt.datetime) -> bool:
    raw = (customer.attributes or {}).get(settings.birthday_attribute)
    if not isinstance(raw, str):
        return False
    parts = raw.strip().split("-")
    try:
        month = int(parts[-2])
    except (IndexError, ValueError):
        return False
    return month == now.month


def purchase_points(settings: LoyaltySettings, amount: Decimal, tier: TierSettings, birthday: bool = False) -> int:
    """Points for a purchase: ``amount × points_per_unit × tier multiplier``
    (× ``birthday_multiplier`` in the birthday month), rounded once at the end with
    ``settings.rounding`` — ¥250 at 1 point/¥ and 1.5× is 375 points; ¥99.99 at
    1 point/¥ is 99 points when rounding down."""
    value = Decimal(amount) * settings.points_per_unit * tier.multiplier
    if birthday:
        value *= settings.birthday_multiplier
    return max(0, _round(value, settings))


async def accrue_purchase(kehu: Kehu, interaction: Interaction, actor: AccountOwner | None = None) -> Posting | None:
    """Credit the points for a logged PURCHASE (the ``kehu_interaction_logged``
    handler). Idempotent per interaction: the entry's key is ``purchase:<id>``, so a
    repeated event credits nothing. Also pays the first-purchase bonus and the
    referrer's bonus. Runs in its own write scope (the purchase itself is already
    committed)."""
    if interaction.kind != InteractionKind.PURCHASE or interaction.amount is None:
        return None
    settings = settings_of(kehu)
    now = kehu.clock.now()
    customer_id = interaction.customer_id
    viewer = viewer_for(kehu, actor) if actor is not None else None
    async with write_scope(kehu, viewer, "loyalty.accruePurchase", actor_label=None if actor else "loyalty"):
        account = await ensure_account(settings, customer_id, now)
        customer = await Customer.get(id=customer_id)
        tier = settings.tier(account.tier)
        birthday = settings.birthday_multiplier > 1 and _birthday_month(customer, settings, now)
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
                now=now,
                reason=reason,
                actor_id=actor.id if actor else None,
                interaction_id=interaction.id,
            )
            if posting.created:
                record_change("LoyaltyLedgerEntry", posting.entry.id, {"points": (None, points)})
        earlier = await Interaction.exists(
            customer_id=customer_id, kind=InteractionKind.PURCHASE, id__lt=interaction.id
        )
        if not earlier:
            await _first_purchase_rewards(settings, customer_id, interaction, now)
        await upgrade_if_qualified(settings, customer_id, now)
    return posting


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
    if referral is None:
        return
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
            reason=f"referral: customer {customer_id}'s first purchase",
            interaction_id=interaction.id,
        )
        await upgrade_if_qualified(settings, referral.referrer_id, now)


ACCRUE_CHUNK = 200


async def accrue_missing(kehu: Kehu, since: dt.datetime | None = None) -> int:
    """Accrue purchases that have no EARN entry (an event handler failed, or the
    plugin was enabled later). Safe to repeat: accrual is idempotent per purchase."""
    purchases = Interaction.filter(kind=InteractionKind.PURCHASE, amount__isnull=False)
    if since is not None:
        purchases = purchases.filter(occurred_at__gte=since)
    done = LedgerEntry.filter(kind=EntryKind.EARN, interaction_id__isnull=False).values("interaction_id")
    count = 0
    pending = await purchases.exclude(id__in=Subquery(done)).order_by("id")
    # Chunks of 200 per transaction: each accrual is a savepoint inside it, so a
    # bulk load costs a handful of commits (fsyncs) rather than one per purchase,
    # and other writers still get a turn between chunks.
    for start in range(0, len(pending), ACCRUE_CHUNK):
        async with in_transaction():
            for interaction in pending[start : start + ACCRUE_CHUNK]:
                if (posting := await accrue_purchase(kehu, interaction)) is not None and posting.created:
                    count += 1
    return count


async def award_points(
    kehu: Kehu, viewer: Viewer, customer_id: int, points: int, reason: str | None, idempotency_key: str
) -> Posting:
    """A manual award by staff holding ``loyalty.award``."""
    viewer.require("loyalty.award")
    settings = settings_of(kehu)
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
    settings = settings_of(kehu)
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


# --------------------------------------------------------------------------- rewards


REWARD_FIELDS = ("name", "description", "points_cost", "stock", "min_tier", "active_from", "active_until")


def _clean_reward(settings: LoyaltySettings, data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if creating or "name" in data:
        out["name"] = v.text(data.get("name"), "name", max_length=200, required=True)
    if "description" in data:
        out["description"] = v.text(data["description"], "description", max_length=5000, multiline=True) or ""
    if creating or "points_cost" in data:
        cost = data.get("points_cost")
        if isinstance(cost, bool) or not isinstance(cost, int) or cost <= 0:
            raise ValidationError("must be a positive whole number of points", field="pointsCost")
        out["points_cost"] = cost
    if "stock" in data:
        stock = data["stock"]
        if stock is not None and (isinstance(stock, bool) or not isinstance(stock, int) or stock < 0):
            raise ValidationError("must be 0 or more (null: unlimited)", field="stock")
        out["stock"] = stock
    if "min_tier" in data:
        tier = data["min_tier"]
        if tier is not None and tier not in {t.name for t in settings.tiers}:
            names = ", ".join(t.name for t in settings.tiers)
            raise ValidationError(f"unknown tier '{tier}' (tiers: {names})", field="minTier", code="UNKNOWN_TIER")
        out["min_tier"] = tier
    for name, graphql_name in (("active_from", "activeFrom"), ("active_until", "activeUntil")):
        if name in data:
            out[name] = v.moment(data[name], graphql_name)
    return out


def _check_window(reward_from: dt.datetime | None, reward_until: dt.datetime | None) -> None:
    if reward_from and reward_until and reward_until <= reward_from:
        raise ValidationError("must be after activeFrom", field="activeUntil", code="INVALID_RANGE")


async def create_reward(kehu: Kehu, viewer: Viewer, data: dict[str, Any]) -> Reward:
    viewer.require("loyalty.rewards")
    values = _clean_reward(settings_of(kehu), data, creating=True)
    _check_window(values.get("active_from"), values.get("active_until"))
    now = kehu.clock.now()
    reward = await Reward.create(**values, created_at=now, updated_at=now)
    record_change("LoyaltyReward", reward.id, {k: (None, val) for k, val in values.items()})
    return reward


async def update_reward(kehu: Kehu, viewer: Viewer, reward_id: int, data: dict[str, Any]) -> Reward:
    """Change the fields given. Setting ``stock`` replaces the remaining stock."""
    viewer.require("loyalty.rewards")
    reward = await Reward.get_or_none(id=reward_id)
    if reward is None:
        raise NotFound("no such reward", field="id")
    values = _clean_reward(settings_of(kehu), data, creating=False)
    _check_window(values.get("active_from", reward.active_from), values.get("active_until", reward.active_until))
    changes = {k: (getattr(reward, k), val) for k, val in values.items() if getattr(reward, k) != val}
    if changes:
        await Reward.filter(id=reward.id).update(**values, updated_at=kehu.clock.now())
        await reward.refresh_from_db()
    record_change("LoyaltyReward", reward.id, changes)
    return reward


def reward_is_active(reward: Reward, now: dt.datetime) -> bool:
    return (reward.active_from is None or reward.active_from <= now) and (
        reward.active_until is None or now < reward.active_until
    )


def _voucher_code(settings: LoyaltySettings) -> str:
    body = "".join(secrets.choice(VOUCHER_ALPHABET) for _ in range(VOUCHER_LENGTH))
    body = f"{body[:5]}-{body[5:]}"
    return f"{settings.voucher_prefix}-{body}" if settings.voucher_prefix else body


async def redeem_reward(
    kehu: Kehu, viewer: Viewer, customer_id: int, reward_id: int, idempotency_key: str
) -> tuple[Redemption, bool]:
    """Spend points on a reward and issue its voucher. Returns ``(voucher, created)``;
    a retried key returns the first voucher. Refusals (``ValidationError``):
    REWARD_INACTIVE, TIER_TOO_LOW, INSUFFICIENT_POINTS, OUT_OF_STOCK."""
    viewer.require("loyalty.redeem")
    settings = settings_of(kehu)
    key = _key(idempotency_key)
    await _member_customer(viewer, customer_id)
    existing = await find_entry(customer_id, key)
    if existing is not None:
        return await _replayed_voucher(existing, reward_id), False
    reward = await Reward.get_or_none(id=reward_id)
    if reward is None:
        raise NotFound("no such reward", field="rewardId")
    now = kehu.clock.now()
    if not reward_is_active(reward, now):
        raise ValidationError("this reward is not available now", field="rewardId", code="REWARD_INACTIVE")
    account = await ensure_account(settings, customer_id, now)
    if reward.min_tier and settings.rank(account.tier) < settings.rank(reward.min_tier):
        raise ValidationError(
            f"this reward needs tier {reward.min_tier}; the customer is {account.tier}",
            field="rewardId",
            code="TIER_TOO_LOW",
        )
    posting = await post_entry(
        settings,
        customer_id,
        EntryKind.REDEEM,
        -reward.points_cost,
        key=key,
        now=now,
        reason=f"redeemed: {reward.name}",
        actor_id=viewer.id,
    )
    if not posting.created:
        return await _replayed_voucher(posting.entry, reward_id), False
    # Stock after points: both are conditional updates; either refusal undoes all.
    in_stock = await Reward.filter(Q(id=reward.id) & (Q(stock__isnull=True) | Q(stock__gte=1))).update(
        stock=F("stock") - 1
    )
    if in_stock != 1:
        raise ValidationError("this reward is out of stock", field="rewardId", code="OUT_OF_STOCK")
    voucher = None
    for _ in range(5):  # a code collision is astronomically rare; retry anyway
        try:
            async with in_transaction():
                voucher = await Redemption.create(
                    customer_id=customer_id,
                    reward_id=reward.id,
                    code=_voucher_code(settings),
                    points=reward.points_cost,
                    status=VoucherStatus.ISSUED,
                    issued_at=now,
                    cancellable_until=now + dt.timedelta(hours=settings.cancellation_window_hours),
                )
            break
        except IntegrityError:
            continue
    if voucher is None:
        raise RuntimeError("could not generate a unique voucher code")
    await LedgerEntry.filter(id=posting.entry.id).update(redemption_id=voucher.id)
    record_change(
        "LoyaltyVoucher",
        voucher.id,
        {"reward_id": (None, reward.id), "points": (None, reward.points_cost), "customer_id": (None, customer_id)},
    )
    return voucher, True


async def _replayed_voucher(entry: LedgerEntry, reward_id: int) -> Redemption:
    if entry.kind != EntryKind.REDEEM or entry.redemption_id is None:
        raise Conflict(
            "this idempotency key was already used for a different request",
            field="idempotencyKey",
            code="IDEMPOTENCY_KEY_REUSED",
        )
    voucher = await Redemption.get(id=entry.redemption_id)
    if voucher.reward_id != reward_id:
        raise Conflict(
            "this idempotency key was already used to redeem another reward",
            field="idempotencyKey",
            code="IDEMPOTENCY_KEY_REUSED",
        )
    return voucher


async def cancel_redemption(kehu: Kehu, viewer: Viewer, voucher_id: int) -> Redemption:
    """Cancel a voucher within the cancellation window: the points come back as a
    REVERSAL entry (expiring afresh) and the stock is restored."""
    viewer.require("loyalty.redeem")
    settings = settings_of(kehu)
    voucher = await Redemption.filter(
        id=voucher_id, customer_id__in=Subquery(visible_customers(viewer).values("id"))
    ).first()
    if voucher is None:
        raise NotFound("no such voucher", field="voucherId")
    now = kehu.clock.now()
    if voucher.status != VoucherStatus.ISSUED:
        raise ValidationError("this voucher is already cancelled", field="voucherId", code="ALREADY_CANCELLED")
    if now > voucher.cancellable_until:
        raise ValidationError(
            "the cancellation window of this voucher has closed", field="voucherId", code="CANCELLATION_WINDOW_CLOSED"
        )
    # Conditional: of two racing cancellations exactly one refunds.
    if (
        await Redemption.filter(id=voucher.id, status=VoucherStatus.ISSUED).update(
            status=VoucherStatus.CANCELLED, cancelled_at=now
        )
        != 1
    ):
        raise ValidationError("this voucher is already cancelled", field="voucherId", code="ALREADY_CANCELLED")
    posting = await post_entry(
        settings,
        voucher.customer_id,
        EntryKind.REVERSAL,
        voucher.points,
        key=f"cancel:{voucher.id}",
        now=now,
        reason=f"voucher {voucher.code} cancelled",
        actor_id=viewer.id,
    )
    await LedgerEntry.filter(id=posting.entry.id).update(redemption_id=voucher.id)
    await Reward.filter(id=voucher.reward_id, stock__isnull=False).update(stock=F("stock") + 1)
    await voucher.refresh_from_db()
    record_change("LoyaltyVoucher", voucher.id, {"status": (VoucherStatus.ISSUED, VoucherStatus.CANCELLED)})
    return voucher


# --------------------------------------------------------------------------- referrals


async def record_referral(kehu: Kehu, viewer: Viewer, referrer_id: int, referee_id: int) -> Referral:
    """Record that ``referrer`` recommended ``referee``. Refused (``ValidationError``):
    SELF_REFERRAL, ALREADY_REFERRED (one referrer per referee), REFERRAL_CYCLE (the
    referee is already up the referrer's chain), ALREADY_PURCHASED (the referee was
    a buying customer before)."""
    viewer.require("loyalty.refer")
    if referrer_id == referee_id:
        raise ValidationError("a customer cannot refer themselves", field="refereeId", code="SELF_REFERRAL")
    await _member_customer(viewer, referrer_id, "referrerId")
    await _member_customer(viewer, referee_id, "refereeId")
    await _serialize_referrals()
    if await Referral.exists(referee_id=referee_id):
        raise ValidationError("this customer already has a referrer", field="refereeId", code="ALREADY_REFERRED")
    # Walk up the referrer's chain: finding the referee there would close a cycle.
    seen = {referrer_id}
    current = referrer_id
    while True:
        parent = await Referral.filter(referee_id=current).values_list("referrer_id", flat=True)
        if not parent:
            break
        current = parent[0]
        if current == referee_id:
            raise ValidationError(
                "the referee already referred the referrer (directly or through others)",
                field="refereeId",
                code="REFERRAL_CYCLE",
            )
        if current in seen:  # defensive: the data already has a cycle
            break
        seen.add(current)
    if await Interaction.exists(customer_id=referee_id, kind=InteractionKind.PURCHASE):
        raise ValidationError(
            "the referee has already made purchases; referrals are for new customers",
            field="refereeId",
            code="ALREADY_PURCHASED",
        )
    now = kehu.clock.now()
    try:
        async with in_transaction():
            referral = await Referral.create(referrer_id=referrer_id, referee_id=referee_id, created_at=now)
    except IntegrityError:
        raise ValidationError(
            "this customer already has a referrer", field="refereeId", code="ALREADY_REFERRED"
        ) from None
    record_change(
        "LoyaltyReferral", referral.id, {"referrer_id": (None, referrer_id), "referee_id": (None, referee_id)}
    )
    return referral


async def _serialize_referrals() -> None:
    """Cycle checks read a chain that a concurrent referral could extend (A→B and
    B→A at once). On PostgreSQL a transaction-scoped advisory lock makes referral
    writes take turns; SQLite runs one write transaction at a time anyway."""
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        await conn.execute_query("SELECT pg_advisory_xact_lock(7012001)")


# --------------------------------------------------------------------------- expiry


@dataclass
class ExpiryReport:
    customers: int = 0
    points: int = 0


async def points_due_to_expire(customer_id: int, now: dt.datetime) -> tuple[int, int | None]:
    """``(points, newest expired credit id)``. Debits consume the oldest credits
    first and every credit expires a fixed time after it was made, so the expired
    credits are the oldest ones: what is left of them is their sum minus every
    debit so far (redemptions, negative adjustments, earlier expiries), if positive.
    Computed from the ledger alone — no mutable "remaining" column."""
    credits = (
        await LedgerEntry.filter(customer_id=customer_id, points__gt=0, expires_at__lte=now)
        .annotate(total=Sum("points"))
        .values_list("total", flat=True)
    )
    expired_credits = int(credits[0] or 0) if credits else 0
    if expired_credits == 0:
        return 0, None
    debits = (
        await LedgerEntry.filter(customer_id=customer_id, points__lt=0)
        .annotate(total=Sum("points"))
        .values_list("total", flat=True)
    )
    due = expired_credits + int(debits[0] or 0 if debits else 0)
    newest = (
        await LedgerEntry.filter(customer_id=customer_id, points__gt=0, expires_at__lte=now)
        .order_by("-expires_at", "-id")
        .values_list("id", flat=True)
    )
    return max(0, due), newest[0]


async def expire_points(kehu: Kehu, now: dt.datetime | None = None) -> ExpiryReport:
    """Expire points past their date, oldest first, one member per transaction (so
    a long run never blocks other writers on SQLite). Idempotent: the entry's key
    names the newest expired credit, so a repeated or concurrent run finds nothing
    more to do."""
    settings = settings_of(kehu)
    now = now or kehu.clock.now()
    report = ExpiryReport()
    candidates = (
        await LedgerEntry.filter(points__gt=0, expires_at__lte=now)
        .distinct()
        .order_by("customer_id")
        .values_list("customer_id", flat=True)
    )
    for customer_id in candidates:
        async with write_scope(kehu, None, "loyalty.expirePoints", actor_label="loyalty expiry"):
            # Lock the account first so no redemption slips between the sums and the debit.
            await LoyaltyAccount.filter(customer_id=customer_id).select_for_update().first()
            due, newest = await points_due_to_expire(customer_id, now)
            if due <= 0:
                continue
            posting = await post_entry(
                settings,
                customer_id,
                EntryKind.EXPIRE,
                -due,
                key=f"expire:{newest}",
                now=now,
                reason=f"{due} points expired",
            )
            if posting.created:
                record_change("LoyaltyLedgerEntry", posting.entry.id, {"points": (None, -due)})
                report.customers += 1
                report.points += due
    return report


async def scheduled_round(kehu: Kehu) -> None:
    """The in-server schedule (kehu.jobs, one worker): expiry, then the tier review.
    Both are idempotent."""
    await expire_points(kehu)
    await review_tiers(kehu)


# --------------------------------------------------------------------------- checks and reports


@dataclass
class Discrepancy:
    customer_id: int
    problem: str


async def check_ledger() -> list[Discrepancy]:
    """Every account's cached balance and lifetime points against its ledger; no
    negative balances; no ledger without an account."""
    problems: list[Discrepancy] = []
    sums = {
        r["customer_id"]: int(r["total"] or 0)
        for r in await LedgerEntry.all()
        .group_by("customer_id")
        .annotate(total=Sum("points"))
        .values("customer_id", "total")
    }
    earned = {
        r["customer_id"]: int(r["total"] or 0)
        for r in await LedgerEntry.filter(kind__in=list(EARNING_KINDS))
        .group_by("customer_id")
        .annotate(total=Sum("points"))
        .values("customer_id", "total")
    }
    seen = set()
    for account in await LoyaltyAccount.all().order_by("customer_id"):
        seen.add(account.customer_id)
        ledger = sums.get(account.customer_id, 0)
        if account.balance != ledger:
            problems.append(Discrepancy(account.customer_id, f"balance {account.balance} != ledger sum {ledger}"))
        if account.balance < 0:
            problems.append(Discrepancy(account.customer_id, f"negative balance {account.balance}"))
        lifetime = earned.get(account.customer_id, 0)
        if account.lifetime_points != lifetime:
            problems.append(
                Discrepancy(account.customer_id, f"lifetime points {account.lifetime_points} != earned {lifetime}")
            )
    for customer_id in sorted(set(sums) - seen):
        problems.append(Discrepancy(customer_id, "ledger entries without an account"))
    return problems


@dataclass
class PeriodTotals:
    start: dt.datetime
    end: dt.datetime
    issued: int = 0
    redeemed: int = 0
    expired: int = 0
    outstanding: int = 0
    outstanding_value: Decimal = Decimal(0)


@dataclass
class Summary:
    members_per_tier: list[tuple[str, int]]
    periods: list[PeriodTotals]
    outstanding: int
    outstanding_value: Decimal
    extra: dict[str, Any] = field(default_factory=dict)


def period_starts(start: dt.datetime, end: dt.datetime, period: str) -> list[dt.datetime]:
    """Boundaries of DAY / WEEK (Monday) / MONTH periods covering [start, end), UTC."""
    start = start.astimezone(dt.UTC)
    first = start.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "WEEK":
        first -= dt.timedelta(days=first.weekday())
    elif period == "MONTH":
        first = first.replace(day=1)
    bounds = [first]
    while bounds[-1] < end:
        cur = bounds[-1]
        if period == "DAY":
            nxt = cur + dt.timedelta(days=1)
        elif period == "WEEK":
            nxt = cur + dt.timedelta(days=7)
        else:
            nxt = (cur.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        bounds.append(nxt)
        if len(bounds) > MAX_SUMMARY_PERIODS + 1:
            raise ValidationError(
                f"at most {MAX_SUMMARY_PERIODS} periods per summary", field="to", code="TOO_MANY_PERIODS"
            )
    return bounds


async def loyalty_summary(
    kehu: Kehu, viewer: Viewer, start: dt.datetime, end: dt.datetime, period: str = "MONTH"
) -> Summary:
    """Members per tier and, per period, points issued (earned, awarded, bonuses,
    adjustments), redeemed (net of cancellations), expired and outstanding at the
    period's end — over the customers the viewer may see (``loyalty.report``)."""
    if not viewer.can("loyalty.report"):
        raise PermissionDenied(f"your role ({viewer.role.value}) may not do this (loyalty.report)")
    if end <= start:
        raise ValidationError("must be after 'from'", field="to", code="INVALID_RANGE")
    settings = settings_of(kehu)
    visible = Subquery(visible_customers(viewer).values("id"))
    entries = LedgerEntry.filter(customer_id__in=visible)
    counts = {
        r["tier"]: r["n"]
        for r in await LoyaltyAccount.filter(customer_id__in=visible)
        .group_by("tier")
        .annotate(n=Count("id"))
        .values("tier", "n")
    }
    tiers = [(t.name, counts.pop(t.name, 0)) for t in settings.tiers]
    tiers += sorted(counts.items())  # members of tiers no longer configured
    bounds = period_starts(start, end, period)
    before = (
        await entries.filter(created_at__lt=bounds[0]).annotate(total=Sum("points")).values_list("total", flat=True)
    )
    running = int(before[0] or 0) if before else 0
    periods = []
    for lo, hi in zip(bounds, bounds[1:]):
        rows = (
            await entries.filter(created_at__gte=lo, created_at__lt=hi)
            .group_by("kind")
            .annotate(total=Sum("points"))
            .values("kind", "total")
        )
        by_kind = {
            EntryKind(r["kind"]) if not isinstance(r["kind"], EntryKind) else r["kind"]: int(r["total"] or 0)
            for r in rows
        }
        totals = PeriodTotals(start=lo, end=hi)
        totals.issued = sum(by_kind.get(k, 0) for k in EARNING_KINDS)
        totals.redeemed = -(by_kind.get(EntryKind.REDEEM, 0) + by_kind.get(EntryKind.REVERSAL, 0))
        totals.expired = -by_kind.get(EntryKind.EXPIRE, 0)
        running += sum(by_kind.values())
        totals.outstanding = running
        totals.outstanding_value = running * settings.point_value
        periods.append(totals)
    now_total = await entries.annotate(total=Sum("points")).values_list("total", flat=True)
    outstanding = int(now_total[0] or 0) if now_total else 0
    return Summary(tiers, periods, outstanding, outstanding * settings.point_value)
