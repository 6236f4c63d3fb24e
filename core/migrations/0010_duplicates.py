from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from kehu.models import DuplicateSource, DuplicateStatus


class Migration(migrations.Migration):
    dependencies = [("core", "0009_customer_order_indexes")]

    initial = False

    operations = [
        ops.CreateModel(
            name="DuplicatePair",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "customer_a",
                    fields.ForeignKeyField(
                        "core.Customer",
                        source_field="customer_a_id",
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "customer_b",
                    fields.ForeignKeyField(
                        "core.Customer",
                        source_field="customer_b_id",
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("score", fields.SmallIntField()),
                ("reasons", fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                (
                    "status",
                    fields.CharEnumField(
                        default=DuplicateStatus.OPEN,
                        description="OPEN: OPEN\nDISMISSED: DISMISSED",
                        enum_type=DuplicateStatus,
                        max_length=16,
                    ),
                ),
                (
                    "source",
                    fields.CharEnumField(
                        description="SCAN: SCAN\nENTRY: ENTRY\nIMPORT: IMPORT", enum_type=DuplicateSource, max_length=16
                    ),
                ),
                ("found_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("decided_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "decided_by",
                    fields.ForeignKeyField(
                        "core.AccountOwner",
                        source_field="decided_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("note", fields.CharField(default="", max_length=500)),
            ],
            options={
                "table": "kehu_duplicate_pair",
                "app": "core",
                "unique_together": (("customer_a_id", "customer_b_id"),),
                "indexes": [Index(fields=["status", "score"]), Index(fields=["customer_b_id"])],
                "pk_attr": "id",
                "table_description": "Two customers that may be one (``customer_a_id < customer_b_id``), with",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="Customer",
            name="email_key",
            field=fields.CharField(null=True, db_index=True, max_length=254),
        ),
        ops.AddField(
            model_name="Customer",
            name="merged_into",
            field=fields.ForeignKeyField(
                "core.Customer",
                source_field="merged_into_id",
                null=True,
                db_constraint=True,
                to_field="id",
                related_name="merged_customers",
                on_delete=OnDelete.RESTRICT,
            ),
        ),
        ops.AddField(
            model_name="Customer",
            name="name_initials",
            field=fields.CharField(null=True, max_length=100),
        ),
        ops.AddField(
            model_name="Customer",
            name="name_key",
            field=fields.CharField(null=True, db_index=True, max_length=200),
        ),
        ops.AddField(
            model_name="Customer",
            name="name_pinyin",
            field=fields.CharField(null=True, db_index=True, max_length=400),
        ),
        ops.AddField(
            model_name="Customer",
            name="phone_key",
            field=fields.CharField(null=True, db_index=True, max_length=100),
        ),
    ]
