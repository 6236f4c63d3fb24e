from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from kehu.plugins.loyalty.models import EntryKind, TierChangeReason, VoucherStatus


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    initial = True

    operations = [
        ops.CreateModel(
            name="LoyaltyAccount",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "customer",
                    fields.OneToOneField(
                        "core.Customer",
                        source_field="customer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="loyalty_account",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("balance", fields.BigIntField(default=0)),
                ("lifetime_points", fields.BigIntField(default=0)),
                ("tier", fields.CharField(max_length=40)),
                ("tier_since", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("tier_protected_until", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "loyalty_account",
                "app": "loyalty",
                "indexes": [Index(fields=["tier"])],
                "pk_attr": "id",
                "table_description": "One per member customer: cached balance and lifetime points, current tier.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Referral",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "referrer",
                    fields.ForeignKeyField(
                        "core.Customer",
                        source_field="referrer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="loyalty_referrals",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "referee",
                    fields.OneToOneField(
                        "core.Customer",
                        source_field="referee_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="loyalty_referred_by",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("rewarded_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "loyalty_referral",
                "app": "loyalty",
                "pk_attr": "id",
                "table_description": "Customer ``referrer`` recommended ``referee`` (one referrer per referee).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Reward",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("name", fields.CharField(max_length=200)),
                ("description", fields.TextField(default="", unique=False)),
                ("points_cost", fields.IntField()),
                ("stock", fields.IntField(null=True)),
                ("min_tier", fields.CharField(null=True, max_length=40)),
                ("active_from", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("active_until", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "loyalty_reward",
                "app": "loyalty",
                "pk_attr": "id",
                "table_description": "A catalogue item customers exchange points for.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Redemption",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "customer",
                    fields.ForeignKeyField(
                        "core.Customer",
                        source_field="customer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="loyalty_vouchers",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "reward",
                    fields.ForeignKeyField(
                        "loyalty.Reward",
                        source_field="reward_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="redemptions",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("code", fields.CharField(unique=True, max_length=40)),
                ("points", fields.IntField()),
                (
                    "status",
                    fields.CharEnumField(
                        default=VoucherStatus.ISSUED,
                        description="ISSUED: ISSUED\nCANCELLED: CANCELLED",
                        enum_type=VoucherStatus,
                        max_length=16,
                    ),
                ),
                ("issued_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("cancellable_until", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("cancelled_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "loyalty_redemption",
                "app": "loyalty",
                "indexes": [Index(fields=["customer_id", "issued_at"])],
                "pk_attr": "id",
                "table_description": "A redeemed reward: the voucher the customer receives.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="LedgerEntry",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "customer",
                    fields.ForeignKeyField(
                        "core.Customer",
                        source_field="customer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="loyalty_entries",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "kind",
                    fields.CharEnumField(
                        description="EARN: EARN\nBONUS: BONUS\nAWARD: AWARD\nADJUST: ADJUST\nREFERRAL_BONUS: REFERRAL_BONUS\nREDEEM: REDEEM\nREVERSAL: REVERSAL\nEXPIRE: EXPIRE",
                        enum_type=EntryKind,
                        max_length=20,
                    ),
                ),
                ("points", fields.BigIntField()),
                ("balance_after", fields.BigIntField()),
                ("reason", fields.CharField(default="", max_length=500)),
                ("idempotency_key", fields.CharField(max_length=200)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("expires_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "actor",
                    fields.ForeignKeyField(
                        "core.AccountOwner",
                        source_field="actor_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "interaction",
                    fields.ForeignKeyField(
                        "core.Interaction",
                        source_field="interaction_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "redemption",
                    fields.ForeignKeyField(
                        "loyalty.Redemption",
                        source_field="redemption_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="entries",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
            ],
            options={
                "table": "loyalty_ledger_entry",
                "app": "loyalty",
                "unique_together": (("customer_id", "idempotency_key"),),
                "indexes": [
                    Index(fields=["customer_id", "created_at"]),
                    Index(fields=["created_at", "kind"]),
                    Index(fields=["expires_at"]),
                ],
                "pk_attr": "id",
                "table_description": "One movement of points. Credits carry ``expires_at``, debits are negative.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="TierChange",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "customer",
                    fields.ForeignKeyField(
                        "core.Customer",
                        source_field="customer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="loyalty_tier_changes",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("from_tier", fields.CharField(null=True, max_length=40)),
                ("to_tier", fields.CharField(max_length=40)),
                (
                    "reason",
                    fields.CharEnumField(
                        description="JOINED: JOINED\nUPGRADE: UPGRADE\nDOWNGRADE: DOWNGRADE",
                        enum_type=TierChangeReason,
                        max_length=16,
                    ),
                ),
                ("changed_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "loyalty_tier_change",
                "app": "loyalty",
                "indexes": [Index(fields=["customer_id", "changed_at"])],
                "pk_attr": "id",
                "table_description": "Tier history: one row per change of a customer's tier.",
            },
            bases=["Model"],
        ),
    ]
