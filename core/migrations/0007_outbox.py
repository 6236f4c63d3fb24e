from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.data import JSON_DUMPS
from tortoise.indexes import Index
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import UniqueConstraint

from kehu.models import OutboxKind, OutboxState


class Migration(migrations.Migration):
    dependencies = [("core", "0006_account_owner_language")]

    initial = False

    operations = [
        ops.CreateModel(
            name="OutboxEvent",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "kind",
                    fields.CharEnumField(
                        default=OutboxKind.EVENT,
                        description="EVENT: EVENT\nJOB: JOB",
                        enum_type=OutboxKind,
                        max_length=8,
                    ),
                ),
                ("name", fields.CharField(max_length=200)),
                ("topic", fields.CharField(null=True, max_length=100)),
                ("arguments", fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ("actor_id", fields.IntField(null=True)),
                ("request_id", fields.CharField(null=True, max_length=64)),
                ("dedupe_key", fields.CharField(null=True, unique=True, max_length=200)),
                (
                    "state",
                    fields.CharEnumField(
                        default=OutboxState.PENDING,
                        description="PENDING: PENDING\nDONE: DONE\nFAILED: FAILED",
                        enum_type=OutboxState,
                        max_length=8,
                    ),
                ),
                ("remaining", fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ("attempts", fields.IntField(default=0)),
                ("due_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("locked_by", fields.CharField(null=True, max_length=64)),
                ("locked_until", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("last_error", fields.TextField(default="", unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("finished_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "kehu_outbox",
                "app": "core",
                "indexes": [Index(fields=["state", "due_at"])],
                "pk_attr": "id",
                "table_description": "An event hook call (or a periodic job's run) waiting for delivery.",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="AuditEntry",
            name="event_id",
            field=fields.BigIntField(null=True),
        ),
        ops.AddConstraint(
            model_name="AuditEntry",
            constraint=UniqueConstraint(fields=("event_id", "operation"), name=None),
        ),
    ]
