"""The loyalty plugin's tables (Tortoise app ``loyalty``).

The ledger is append-only: a committed entry is never changed or deleted; every
correction is a new entry. ``LoyaltyAccount.balance`` caches the ledger sum for
speed and is only ever changed by an atomic ``UPDATE … SET balance = balance + n``
in the same transaction as the entry that explains it (``kehu loyalty check``
verifies that they agree).
"""

from enum import Enum

from tortoise import fields
from tortoise.models import Model


class EntryKind(str, Enum):
    EARN = "EARN"  # accrued on a purchase
    BONUS = "BONUS"  # bonus rule (first purchase)
    AWARD = "AWARD"  # manual award by staff
    ADJUST = "ADJUST"  # manual correction, either sign, with a reason
    REFERRAL_BONUS = "REFERRAL_BONUS"  # the referrer's reward for a referee's first purchase
    REDEEM = "REDEEM"  # points spent on a reward
    REVERSAL = "REVERSAL"  # refund of a cancelled redemption
    EXPIRE = "EXPIRE"  # points past their expiry date


# Entries that count towards lifetime points (and so towards tiers).
EARNING_KINDS = (EntryKind.EARN, EntryKind.BONUS, EntryKind.AWARD, EntryKind.ADJUST, EntryKind.REFERRAL_BONUS)


class VoucherStatus(str, Enum):
    ISSUED = "ISSUED"
    CANCELLED = "CANCELLED"


class TierChangeReason(str, Enum):
    JOINED = "JOINED"
    UPGRADE = "UPGRADE"
    DOWNGRADE = "DOWNGRADE"


class LoyaltyAccount(Model):
    """One per member customer: cached balance and lifetime points, current tier."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    customer = fields.OneToOneField("core.Customer", related_name="loyalty_account", on_delete=fields.RESTRICT)
    balance = fields.BigIntField(default=0)
    lifetime_points = fields.BigIntField(default=0)
    tier = fields.CharField(max_length=40)
    tier_since = fields.DatetimeField()
    # Downgrades wait until then (the grace period after reaching or re-qualifying).
    tier_protected_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "loyalty_account"
        indexes = (("tier",),)


class LedgerEntry(Model):
    """One movement of points. Credits carry ``expires_at``, debits are negative."""

    _no_comments = True

    id = fields.BigIntField(primary_key=True)
    customer = fields.ForeignKeyField("core.Customer", related_name="loyalty_entries", on_delete=fields.RESTRICT)
    kind = fields.CharEnumField(EntryKind, max_length=20)
    points = fields.BigIntField()
    balance_after = fields.BigIntField()
    reason = fields.CharField(max_length=500, default="")
    # Unique per customer: a retried request finds the first result here.
    idempotency_key = fields.CharField(max_length=200)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(null=True)
    actor = fields.ForeignKeyField("core.AccountOwner", related_name=False, null=True, on_delete=fields.RESTRICT)
    interaction = fields.ForeignKeyField("core.Interaction", related_name=False, null=True, on_delete=fields.RESTRICT)
    redemption = fields.ForeignKeyField(
        "loyalty.Redemption", related_name="entries", null=True, on_delete=fields.RESTRICT
    )

    class Meta:
        table = "loyalty_ledger_entry"
        unique_together = (("customer_id", "idempotency_key"),)
        # interaction_id: a purchase's EARN entry, found by index (catching up on one
        # customer's purchases must not read the whole ledger).
        indexes = (("customer_id", "created_at"), ("created_at", "kind"), ("expires_at",), ("interaction_id",))


class Reward(Model):
    """A catalogue item customers exchange points for."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    points_cost = fields.IntField()
    # None: unlimited. Decremented atomically (``WHERE stock >= 1``), never below 0.
    stock = fields.IntField(null=True)
    min_tier = fields.CharField(max_length=40, null=True)
    active_from = fields.DatetimeField(null=True)
    active_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "loyalty_reward"


class Redemption(Model):
    """A redeemed reward: the voucher the customer receives."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    customer = fields.ForeignKeyField("core.Customer", related_name="loyalty_vouchers", on_delete=fields.RESTRICT)
    reward = fields.ForeignKeyField("loyalty.Reward", related_name="redemptions", on_delete=fields.RESTRICT)
    code = fields.CharField(max_length=40, unique=True)
    points = fields.IntField()
    status = fields.CharEnumField(VoucherStatus, max_length=16, default=VoucherStatus.ISSUED)
    issued_at = fields.DatetimeField()
    cancellable_until = fields.DatetimeField()
    cancelled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "loyalty_redemption"
        indexes = (("customer_id", "issued_at"),)


class TierChange(Model):
    """Tier history: one row per change of a customer's tier."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    customer = fields.ForeignKeyField("core.Customer", related_name="loyalty_tier_changes", on_delete=fields.RESTRICT)
    from_tier = fields.CharField(max_length=40, null=True)
    to_tier = fields.CharField(max_length=40)
    reason = fields.CharEnumField(TierChangeReason, max_length=16)
    changed_at = fields.DatetimeField()

    class Meta:
        table = "loyalty_tier_change"
        indexes = (("customer_id", "changed_at"),)


class Referral(Model):
    """Customer ``referrer`` recommended ``referee`` (one referrer per referee)."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    referrer = fields.ForeignKeyField("core.Customer", related_name="loyalty_referrals", on_delete=fields.RESTRICT)
    referee = fields.OneToOneField("core.Customer", related_name="loyalty_referred_by", on_delete=fields.RESTRICT)
    created_at = fields.DatetimeField()
    # Set when the referral bonus was credited (the referee's first purchase).
    rewarded_at = fields.DatetimeField(null=True)

    class Meta:
        table = "loyalty_referral"
