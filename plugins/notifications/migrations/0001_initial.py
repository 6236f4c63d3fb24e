from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from kehu.plugins.notifications.models import MessageStatus


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    initial = True

    operations = [
        ops.CreateModel(
            name="Message",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("key", fields.CharField(unique=True, max_length=200)),
                ("channel", fields.CharField(max_length=32)),
                ("template", fields.CharField(max_length=100)),
                ("language", fields.CharField(max_length=8)),
                (
                    "owner",
                    fields.ForeignKeyField(
                        "core.AccountOwner",
                        source_field="owner_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "customer",
                    fields.ForeignKeyField(
                        "core.Customer",
                        source_field="customer_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("address", fields.CharField(default="", max_length=320)),
                ("subject", fields.CharField(default="", max_length=300)),
                ("body", fields.TextField(default="", unique=False)),
                ("message_id", fields.CharField(max_length=200)),
                (
                    "status",
                    fields.CharEnumField(
                        default=MessageStatus.QUEUED,
                        description="QUEUED: QUEUED\nSENT: SENT\nFAILED: FAILED\nSKIPPED: SKIPPED",
                        enum_type=MessageStatus,
                        max_length=8,
                    ),
                ),
                ("attempts", fields.IntField(default=0)),
                ("error", fields.CharField(default="", max_length=500)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("sent_at", fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "notifications_message",
                "app": "notifications",
                "indexes": [Index(fields=["status", "created_at"])],
                "pk_attr": "id",
                "table_description": "One message to one recipient on one channel.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="SendWindow",
            fields=[
                ("minute", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("used", fields.IntField(default=0)),
            ],
            options={
                "table": "notifications_send_window",
                "app": "notifications",
                "pk_attr": "minute",
                "table_description": "Messages sent in one minute, across all workers: the rate limit's counter",
            },
            bases=["Model"],
        ),
    ]
