"""The loyalty plugin's GraphQL surface.

``Customer.loyalty``, the rewards catalogue, the loyalty mutations and the
programme summary. Resolvers translate IDs and call ``service``; every rule is
there. No ``from __future__ import annotations``: it breaks strawberry's lazy types.
"""

import datetime as dt
from decimal import Decimal
from enum import Enum
from typing import Annotated, Optional

import strawberry
from strawberry.types import Info

from kehu.access import of_visible_customers, require_viewer, visible_customers
from kehu.schema import (
    Connection,
    ModelNode,
    Payload,
    batch_field,
    describe_enum_values,
    paginate,
    pk_from_global_id,
)

from . import models, service
from .settings import LoyaltySettings

EntryKindEnum = describe_enum_values(
    strawberry.enum(models.EntryKind, name="LoyaltyEntryKind", description="What moved the points."),
    {
        "EARN": "Earned on a purchase.",
        "BONUS": "A bonus rule, e.g. the first purchase.",
        "AWARD": "Awarded by staff.",
        "ADJUST": "A correction by staff, either way, with a reason.",
        "REFERRAL_BONUS": "The referrer's reward for a referee's first purchase.",
        "REDEEM": "Spent on a reward.",
        "REVERSAL": "Refunded when a voucher was cancelled.",
        "EXPIRE": "Expired.",
    },
)
VoucherStatusEnum = describe_enum_values(
    strawberry.enum(models.VoucherStatus, name="VoucherStatus", description="Whether a voucher still counts."),
    {"ISSUED": "Valid: the customer may use it.", "CANCELLED": "Cancelled; its points were refunded."},
)
TierChangeReasonEnum = describe_enum_values(
    strawberry.enum(models.TierChangeReason, name="TierChangeReason", description="Why a customer's tier changed."),
    {
        "JOINED": "The customer joined the programme.",
        "UPGRADE": "They qualified for a higher tier.",
        "DOWNGRADE": "They no longer qualified for their tier.",
    },
)


@strawberry.enum(description="The length of one row of the loyalty summary.")
class SummaryPeriod(Enum):
    DAY = strawberry.enum_value("DAY", description="A calendar day.")
    WEEK = strawberry.enum_value("WEEK", description="A week, Monday to Sunday.")
    MONTH = strawberry.enum_value("MONTH", description="A calendar month.")


_pk = pk_from_global_id  # the one "global ID -> pk" helper (kehu.schema)


def _settings(info: Info):
    return info.context.kehu.settings_for("loyalty", LoyaltySettings)


def _given(obj, *names: str) -> dict:
    return {n: getattr(obj, n) for n in names if getattr(obj, n) is not strawberry.UNSET}


# --------------------------------------------------------------------------- types


@strawberry.type(description="A membership level and what it brings.")
class LoyaltyTier:
    name: str = strawberry.field(description="The tier's name, as configured.")
    description: str = strawberry.field(description="What the tier is, for members to read.")
    benefits: list[str] = strawberry.field(description="What members of the tier get.")
    multiplier: Decimal = strawberry.field(description="Points multiplier on purchases.")
    min_points: int = strawberry.field(description="Points needed (tier basis 'points').")
    min_spend: Optional[Decimal] = strawberry.field(description="Spend needed in the window (tier basis 'spend').")

    @classmethod
    def of(cls, tier) -> "LoyaltyTier":
        # One object per configured tier (settings live as long as the process):
        # a page of 100 customers shows the same few tiers.
        shown = _TIERS.get(id(tier))
        if shown is None or shown[0] is not tier:
            shown = _TIERS[id(tier)] = (
                tier,
                cls(
                    name=tier.name,
                    description=tier.description,
                    benefits=list(tier.benefits),
                    multiplier=tier.multiplier,
                    min_points=tier.min_points,
                    min_spend=tier.min_spend,
                ),
            )
        return shown[1]


_TIERS: dict[int, tuple[object, LoyaltyTier]] = {}


@strawberry.type(description="One movement of points. The ledger is append-only.")
class LoyaltyLedgerEntry(ModelNode, model=models.LedgerEntry):
    kind: EntryKindEnum = strawberry.field(description="What moved the points.")
    points: int = strawberry.field(description="Positive for credits, negative for debits.")
    balance_after: int = strawberry.field(description="The balance after this entry.")
    reason: str = strawberry.field(description="Why, as written by staff or the rule.")
    idempotency_key: str = strawberry.field(description="The key the entry was written under (unique per customer).")
    created_at: dt.datetime = strawberry.field(description="When it was written.")
    expires_at: Optional[dt.datetime] = strawberry.field(description="When a credit's points expire; null: never.")


@strawberry.type(description="An item of the rewards catalogue.")
class Reward(ModelNode, model=models.Reward):
    name: str = strawberry.field(description="The reward's name.")
    description: str = strawberry.field(description="What the customer gets.")
    points_cost: int = strawberry.field(description="Points it costs.")
    stock: Optional[int] = strawberry.field(description="Remaining stock; null: unlimited.")
    min_tier: Optional[str] = strawberry.field(description="The lowest tier that may redeem it; null: any.")
    active_from: Optional[dt.datetime] = strawberry.field(description="Redeemable from then; null: already.")
    active_until: Optional[dt.datetime] = strawberry.field(description="Redeemable until then; null: no end.")
    created_at: dt.datetime = strawberry.field(description="When it was added to the catalogue.")
    updated_at: dt.datetime = strawberry.field(description="When it last changed.")

    @strawberry.field(description="Whether it can be redeemed now (within its active dates).")
    def active(self, info: Info) -> bool:
        return service.reward_is_active(self, info.context.kehu.clock.now())


@strawberry.type(description="A redeemed reward: the voucher code the customer presents.")
class Voucher(ModelNode, model=models.Redemption):
    code: str = strawberry.field(description="The code the customer presents.")
    points: int = strawberry.field(description="Points spent.")
    status: VoucherStatusEnum = strawberry.field(description="Whether it still counts.")
    issued_at: dt.datetime = strawberry.field(description="When it was issued.")
    cancellable_until: dt.datetime = strawberry.field(description="Until when cancelRedemption may cancel it.")
    cancelled_at: Optional[dt.datetime] = strawberry.field(description="When it was cancelled, if it was.")

    @strawberry.field(description="The reward it was issued for.")
    async def reward(self) -> Reward:
        return await models.Reward.get(id=self.reward_id)

    @strawberry.field(description="Whose it is (null if no longer visible to the viewer).")
    async def customer(self, info: Info) -> Optional["Customer"]:
        return await info.context.loaders.customer.load(self.customer_id)


@strawberry.type(description="One change of a customer's tier.")
class TierChange:
    from_tier: Optional[str] = strawberry.field(description="The tier before; null on joining.")
    to_tier: str = strawberry.field(description="The tier after.")
    reason: TierChangeReasonEnum = strawberry.field(description="Why it changed.")
    changed_at: dt.datetime = strawberry.field(description="When it changed.")


@strawberry.type(description="A recorded referral.")
class Referral:
    created_at: dt.datetime = strawberry.field(description="When it was recorded.")
    rewarded_at: Optional[dt.datetime] = strawberry.field(description="When the referrer got the bonus.")

    @strawberry.field(description="The customer who referred (null if not visible to the viewer).")
    async def referrer(self, info: Info) -> Optional["Customer"]:
        return await info.context.loaders.customer.load(self.referrer_id)

    @strawberry.field(description="The customer who was referred (null if not visible to the viewer).")
    async def referee(self, info: Info) -> Optional["Customer"]:
        return await info.context.loaders.customer.load(self.referee_id)


@strawberry.type(description="A customer's loyalty membership. Customers without points yet show the base tier.")
class CustomerLoyalty:
    customer_id: strawberry.Private[int]
    account: strawberry.Private[Optional[models.LoyaltyAccount]]
    settings: strawberry.Private[LoyaltySettings]

    @strawberry.field(description="Points available; always the sum of the ledger.")
    def balance(self) -> int:
        return self.account.balance if self.account else 0

    @strawberry.field(description="Points ever earned (purchases, awards, bonuses, adjustments).")
    def lifetime_points(self) -> int:
        return self.account.lifetime_points if self.account else 0

    @strawberry.field(description="The customer's tier (the base tier until they have points).")
    def tier(self) -> LoyaltyTier:
        settings = self.settings
        return LoyaltyTier.of(settings.tier(self.account.tier) if self.account else settings.base_tier)

    @strawberry.field(description="Since when they are in it; null for the base tier without an account.")
    def tier_since(self) -> Optional[dt.datetime]:
        return self.account.tier_since if self.account else None

    @strawberry.field(description="The next tier up; null at the top.")
    def next_tier(self) -> Optional[LoyaltyTier]:
        settings = self.settings
        nxt = service.next_tier(settings, self.account.tier if self.account else settings.base_tier.name)
        return LoyaltyTier.of(nxt) if nxt else None

    @strawberry.field(description="Points still needed for the next tier (tier basis 'points'); null at the top.")
    async def points_to_next_tier(self, info: Info) -> Optional[int]:
        settings = self.settings
        nxt = service.next_tier(settings, self.account.tier if self.account else settings.base_tier.name)
        if nxt is None or settings.tier_basis != "points":
            return None
        have = await service.qualifying_value(settings, self.customer_id, info.context.kehu.clock.now())
        return max(0, int(settings.threshold(nxt) - have))

    @strawberry.field(description="The ledger, newest first.")
    async def ledger(
        self,
        info: Info,
        first: Optional[int] = None,
        after: Optional[str] = None,
        last: Optional[int] = None,
        before: Optional[str] = None,
    ) -> Connection[LoyaltyLedgerEntry]:
        qs = models.LedgerEntry.filter(customer_id=self.customer_id)
        return await paginate(qs, first, after, last=last, before=before, order_by=("-id",))

    @strawberry.field(description="Vouchers issued to the customer, newest first.")
    async def vouchers(
        self,
        status: Annotated[
            Optional[VoucherStatusEnum], strawberry.argument(description="Only vouchers in this status.")
        ] = None,
    ) -> list[Voucher]:
        qs = models.Redemption.filter(customer_id=self.customer_id)
        if status is not None:
            qs = qs.filter(status=status)
        return await qs.order_by("-issued_at", "-id").limit(100)

    @strawberry.field(description="Every change of tier, oldest first.")
    async def tier_history(self) -> list[TierChange]:
        return await models.TierChange.filter(customer_id=self.customer_id).order_by("changed_at", "id")

    @strawberry.field(description="Who referred this customer, if anyone.")
    async def referred_by(self) -> Optional[Referral]:
        return await models.Referral.get_or_none(referee_id=self.customer_id)

    @strawberry.field(description="Customers this customer referred.")
    async def referrals(self) -> list[Referral]:
        return await models.Referral.filter(referrer_id=self.customer_id).order_by("created_at", "id")


@strawberry.type
class CustomerLoyaltyFields:
    @batch_field(description="Loyalty membership: points, tier, ledger, vouchers.")
    async def loyalty(customers: list["Customer"], info: Info) -> list[CustomerLoyalty]:
        # The customers are ones the viewer may see; one query for the whole page.
        ids = [c.id for c in customers]
        accounts = {a.customer_id: a for a in await models.LoyaltyAccount.filter(customer_id__in=ids)}
        settings = _settings(info)
        return [CustomerLoyalty(customer_id=i, account=accounts.get(i), settings=settings) for i in ids]


@strawberry.type(description="Members of one tier.")
class TierCount:
    tier: str = strawberry.field(description="The tier.")
    members: int = strawberry.field(description="How many members (among the customers the viewer may see).")


@strawberry.type(description="Points moved in one period of the summary.")
class LoyaltyPeriod:
    start: dt.datetime = strawberry.field(description="The period's first instant.")
    end: dt.datetime = strawberry.field(description="The instant after the period.")
    issued: int = strawberry.field(description="Points earned, awarded, bonused or adjusted (net).")
    redeemed: int = strawberry.field(description="Points spent on rewards, net of cancellations.")
    expired: int = strawberry.field(description="Points that expired.")
    outstanding: int = strawberry.field(description="Points held by members at the period's end.")
    outstanding_value: Decimal = strawberry.field(description="Outstanding points × point_value: the liability.")


@strawberry.type(description="The programme at a glance, over the customers the viewer may see.")
class LoyaltySummary:
    members_per_tier: list[TierCount] = strawberry.field(description="Members per tier now.")
    periods: list[LoyaltyPeriod] = strawberry.field(description="Points moved, period by period.")
    outstanding: int = strawberry.field(description="Points held by members now.")
    outstanding_value: Decimal = strawberry.field(description="outstanding × point_value: the liability now.")


# --------------------------------------------------------------------------- queries


@strawberry.type
class LoyaltyQuery:
    @strawberry.field(description="The rewards catalogue (active rewards unless includeInactive).")
    async def rewards(
        self,
        info: Info,
        first: Optional[int] = None,
        after: Optional[str] = None,
        include_inactive: Annotated[
            bool, strawberry.argument(description="Also rewards outside their active dates.")
        ] = False,
    ) -> Connection[Reward]:
        require_viewer(info.context.viewer)
        qs = models.Reward.all()
        if not include_inactive:
            from tortoise.expressions import Q

            now = info.context.kehu.clock.now()
            qs = qs.filter(
                (Q(active_from__isnull=True) | Q(active_from__lte=now))
                & (Q(active_until__isnull=True) | Q(active_until__gt=now))
            )
        return await paginate(qs.order_by("points_cost", "id"), first, after)

    @strawberry.field(description="Members per tier and points issued / redeemed / expired / outstanding per period.")
    async def loyalty_summary(
        self,
        info: Info,
        from_: Annotated[dt.datetime, strawberry.argument(name="from", description="The summary's first instant.")],
        to: Annotated[Optional[dt.datetime], strawberry.argument(description="Its end; default: now.")] = None,
        period: Annotated[SummaryPeriod, strawberry.argument(description="The length of one row.")] = (
            SummaryPeriod.MONTH
        ),
    ) -> LoyaltySummary:
        viewer = require_viewer(info.context.viewer)
        end = to or info.context.kehu.clock.now()
        summary = await service.loyalty_summary(info.context.kehu, viewer, from_, end, period.value)
        return LoyaltySummary(
            members_per_tier=[TierCount(tier=t, members=n) for t, n in summary.members_per_tier],
            periods=[
                LoyaltyPeriod(
                    start=p.start,
                    end=p.end,
                    issued=p.issued,
                    redeemed=p.redeemed,
                    expired=p.expired,
                    outstanding=p.outstanding,
                    outstanding_value=p.outstanding_value,
                )
                for p in summary.periods
            ],
            outstanding=summary.outstanding,
            outstanding_value=summary.outstanding_value,
        )


# --------------------------------------------------------------------------- mutations


@strawberry.input(description="A new reward in the catalogue.")
class CreateRewardInput:
    name: str = strawberry.field(description="The reward's name.")
    points_cost: int = strawberry.field(description="Points it costs (positive).")
    description: Optional[str] = strawberry.field(default=None, description="What the customer gets.")
    stock: Optional[int] = strawberry.field(default=None, description="null: unlimited.")
    min_tier: Optional[str] = strawberry.field(default=None, description="The lowest tier that may redeem it.")
    active_from: Optional[dt.datetime] = strawberry.field(default=None, description="Redeemable from then.")
    active_until: Optional[dt.datetime] = strawberry.field(default=None, description="Redeemable until then.")


@strawberry.input(description="Only the fields sent are changed; send null to clear one.")
class UpdateRewardInput:
    id: strawberry.ID = strawberry.field(description="The reward to change.")
    name: Optional[str] = strawberry.field(default=strawberry.UNSET, description="The reward's name.")
    description: Optional[str] = strawberry.field(default=strawberry.UNSET, description="What the customer gets.")
    points_cost: Optional[int] = strawberry.field(default=strawberry.UNSET, description="Points it costs.")
    stock: Optional[int] = strawberry.field(default=strawberry.UNSET, description="Remaining stock; null: unlimited.")
    min_tier: Optional[str] = strawberry.field(
        default=strawberry.UNSET, description="The lowest tier that may redeem it; null: any."
    )
    active_from: Optional[dt.datetime] = strawberry.field(default=strawberry.UNSET, description="Redeemable from then.")
    active_until: Optional[dt.datetime] = strawberry.field(
        default=strawberry.UNSET, description="Redeemable until then."
    )


@strawberry.type(description="The reward as written, or why nothing was.")
class RewardPayload(Payload):
    reward: Optional[Reward] = strawberry.field(default=None, description="null when there are userErrors.")


@strawberry.input(description="Points given to a customer by staff.")
class AwardPointsInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    points: int = strawberry.field(description="How many (positive).")
    reason: str = strawberry.field(description="Why, for the ledger.")
    idempotency_key: str = strawberry.field(
        description="Retrying with the same key changes nothing and returns the first result."
    )


@strawberry.input(description="A correction of a customer's balance.")
class AdjustPointsInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    points: int = strawberry.field(description="Positive or negative; never takes the balance below 0.")
    reason: str = strawberry.field(description="Why, for the ledger.")
    idempotency_key: str = strawberry.field(
        description="Retrying with the same key changes nothing and returns the first result."
    )


@strawberry.type(description="The ledger entry written (or found again), or why nothing was.")
class LoyaltyEntryPayload(Payload):
    entry: Optional[LoyaltyLedgerEntry] = strawberry.field(default=None, description="The entry.")
    customer: Optional["Customer"] = strawberry.field(default=None, description="The customer, with the new balance.")
    replayed: bool = strawberry.field(default=False, description="True when the key had been used: nothing changed.")


@strawberry.input(description="A reward a customer takes for points.")
class RedeemRewardInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    reward_id: strawberry.ID = strawberry.field(description="The reward.")
    idempotency_key: str = strawberry.field(
        description="Retrying with the same key issues nothing new and returns the first voucher."
    )


@strawberry.input(description="The voucher to cancel.")
class CancelRedemptionInput:
    voucher_id: strawberry.ID = strawberry.field(description="The voucher's global ID.")


@strawberry.type(description="The voucher issued (or found again, or cancelled), or why not.")
class VoucherPayload(Payload):
    voucher: Optional[Voucher] = strawberry.field(default=None, description="The voucher.")
    customer: Optional["Customer"] = strawberry.field(default=None, description="The customer, with the new balance.")
    replayed: bool = strawberry.field(default=False, description="True when the key had been used: nothing changed.")


@strawberry.input(description="One customer referred another.")
class RecordReferralInput:
    referrer_id: strawberry.ID = strawberry.field(description="The customer who referred.")
    referee_id: strawberry.ID = strawberry.field(description="The customer who was referred.")


@strawberry.type(description="The referral recorded, or why not.")
class ReferralPayload(Payload):
    referral: Optional[Referral] = strawberry.field(default=None, description="null when there are userErrors.")


async def _customer(info: Info, customer_id: int):
    return await visible_customers(info.context.viewer).filter(id=customer_id).first()


@strawberry.type
class LoyaltyMutation:
    @strawberry.mutation(description="Add a reward to the catalogue.")
    async def create_reward(self, info: Info, input: CreateRewardInput) -> RewardPayload:
        data = {
            "name": input.name,
            "points_cost": input.points_cost,
            "description": input.description,
            "stock": input.stock,
            "min_tier": input.min_tier,
            "active_from": input.active_from,
            "active_until": input.active_until,
        }
        reward = await service.create_reward(info.context.kehu, require_viewer(info.context.viewer), data)
        return RewardPayload(reward=reward)

    @strawberry.mutation(description="Change a reward; only the fields sent change.")
    async def update_reward(self, info: Info, input: UpdateRewardInput) -> RewardPayload:
        data = _given(input, *service.REWARD_FIELDS)
        reward = await service.update_reward(
            info.context.kehu, require_viewer(info.context.viewer), _pk(input.id, "Reward", "id"), data
        )
        return RewardPayload(reward=reward)

    @strawberry.mutation(description="Award points to a customer (loyalty.award).")
    async def award_points(self, info: Info, input: AwardPointsInput) -> LoyaltyEntryPayload:
        customer_id = _pk(input.customer_id, "Customer", "customerId")
        posting = await service.award_points(
            info.context.kehu,
            require_viewer(info.context.viewer),
            customer_id,
            input.points,
            input.reason,
            input.idempotency_key,
        )
        return LoyaltyEntryPayload(
            entry=posting.entry, customer=await _customer(info, customer_id), replayed=not posting.created
        )

    @strawberry.mutation(
        description="Correct a balance by a positive or negative amount, with a reason (loyalty.adjust)."
    )
    async def adjust_points(self, info: Info, input: AdjustPointsInput) -> LoyaltyEntryPayload:
        customer_id = _pk(input.customer_id, "Customer", "customerId")
        posting = await service.adjust_points(
            info.context.kehu,
            require_viewer(info.context.viewer),
            customer_id,
            input.points,
            input.reason,
            input.idempotency_key,
        )
        return LoyaltyEntryPayload(
            entry=posting.entry, customer=await _customer(info, customer_id), replayed=not posting.created
        )

    @strawberry.mutation(description="Exchange points for a reward; returns the voucher.")
    async def redeem_reward(self, info: Info, input: RedeemRewardInput) -> VoucherPayload:
        customer_id = _pk(input.customer_id, "Customer", "customerId")
        voucher, created = await service.redeem_reward(
            info.context.kehu,
            require_viewer(info.context.viewer),
            customer_id,
            _pk(input.reward_id, "Reward", "rewardId"),
            input.idempotency_key,
        )
        return VoucherPayload(voucher=voucher, customer=await _customer(info, customer_id), replayed=not created)

    @strawberry.mutation(description="Cancel a voucher within its cancellation window; refunds the points.")
    async def cancel_redemption(self, info: Info, input: CancelRedemptionInput) -> VoucherPayload:
        voucher = await service.cancel_redemption(
            info.context.kehu, require_viewer(info.context.viewer), _pk(input.voucher_id, "Voucher", "voucherId")
        )
        return VoucherPayload(voucher=voucher, customer=await _customer(info, voucher.customer_id))

    @strawberry.mutation(description="Record that one customer referred another.")
    async def record_referral(self, info: Info, input: RecordReferralInput) -> ReferralPayload:
        referral = await service.record_referral(
            info.context.kehu,
            require_viewer(info.context.viewer),
            _pk(input.referrer_id, "Customer", "referrerId"),
            _pk(input.referee_id, "Customer", "refereeId"),
        )
        return ReferralPayload(referral=referral)


# --------------------------------------------------------------------------- registration


async def _reward_node(info: Info, pk: int):
    if info.context.viewer is None:
        return None
    return await models.Reward.get_or_none(id=pk)


async def _voucher_node(info: Info, pk: int):
    return await of_visible_customers(models.Redemption, info.context.viewer).filter(id=pk).first()


async def _entry_node(info: Info, pk: int):
    return await of_visible_customers(models.LedgerEntry, info.context.viewer).filter(id=pk).first()


def register(graphql) -> None:
    graphql.extend("Customer", CustomerLoyaltyFields)
    graphql.query(LoyaltyQuery)
    graphql.mutation(LoyaltyMutation)
    graphql.types(Reward, Voucher, LoyaltyLedgerEntry)
    graphql.node("Reward", _reward_node)
    graphql.node("Voucher", _voucher_node)
    graphql.node("LoyaltyLedgerEntry", _entry_node)
