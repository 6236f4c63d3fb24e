"""The rewards catalogue, redeeming a reward for a voucher, cancelling one."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from kehu import validation as v
from kehu.access import Viewer, of_visible_customers
from kehu.errors import Conflict, NotFound, ValidationError
from kehu.writes import record_change

from ..models import EntryKind, LedgerEntry, Redemption, Reward, VoucherStatus
from ..settings import LoyaltySettings
from .ledger import _key, _member_customer, ensure_account, find_entry, post_entry

if TYPE_CHECKING:
    from kehu import Kehu


VOUCHER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
VOUCHER_LENGTH = 10


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
    values = _clean_reward(kehu.settings_for("loyalty", LoyaltySettings), data, creating=True)
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
    values = _clean_reward(kehu.settings_for("loyalty", LoyaltySettings), data, creating=False)
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
    settings = kehu.settings_for("loyalty", LoyaltySettings)
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
    settings = kehu.settings_for("loyalty", LoyaltySettings)
    voucher = await of_visible_customers(Redemption, viewer).filter(id=voucher_id).first()
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
