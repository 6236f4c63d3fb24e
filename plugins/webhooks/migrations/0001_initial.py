from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from kehu.plugins.webhooks.models import DeliveryStatus


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    initial = True

    operations = [
        ops.CreateModel(
            name="WebhookEndpoint",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("url", fields.CharField(max_length=2000)),
                ("description", fields.CharField(default="", max_length=300)),
                ("topics", fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ("secret", fields.CharField(max_length=200)),
                ("previous_secret", fields.CharField(null=True, max_length=200)),
                ("previous_secret_expires_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("active", fields.BooleanField(default=True)),
                ("role", fields.CharField(null=True, max_length=16)),
                (
                    "service_owner",
                    fields.ForeignKeyField(
                        "core.AccountOwner",
                        source_field="service_owner_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "webhooks_endpoint",
                "app": "webhooks",
                "pk_attr": "id",
                "table_description": "A receiver registered by an admin: where to send which topics, signed with which secret.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="WebhookDelivery",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "endpoint",
                    fields.ForeignKeyField(
                        "webhooks.WebhookEndpoint",
                        source_field="endpoint_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="deliveries",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("event_id", fields.BigIntField()),
                ("message_id", fields.CharField(unique=True, max_length=64)),
                ("topic", fields.CharField(max_length=100)),
                ("body", fields.TextField(unique=False)),
                (
                    "status",
                    fields.CharEnumField(
                        default=DeliveryStatus.PENDING,
                        description="PENDING: PENDING\nDELIVERED: DELIVERED\nFAILED: FAILED",
                        enum_type=DeliveryStatus,
                        max_length=16,
                    ),
                ),
                ("attempts", fields.IntField(default=0)),
                ("last_status_code", fields.IntField(null=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("delivered_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "webhooks_delivery",
                "app": "webhooks",
                "unique_together": (("endpoint_id", "event_id"),),
                "indexes": [Index(fields=["endpoint_id", "created_at"]), Index(fields=["status", "created_at"])],
                "pk_attr": "id",
                "table_description": "One event for one endpoint, sent until it is delivered or its retries are spent.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="WebhookAttempt",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "delivery",
                    fields.ForeignKeyField(
                        "webhooks.WebhookDelivery",
                        source_field="delivery_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="attempt_log",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("status_code", fields.IntField(null=True)),
                ("latency_ms", fields.IntField(default=0)),
                ("response_excerpt", fields.TextField(default="", unique=False)),
                ("error", fields.CharField(default="", max_length=500)),
                ("replay", fields.BooleanField(default=False)),
            ],
            options={
                "table": "webhooks_attempt",
                "app": "webhooks",
                "indexes": [Index(fields=["delivery_id", "at"])],
                "pk_attr": "id",
                "table_description": "One HTTP request of a delivery: what came back and how long it took.",
            },
            bases=["Model"],
        ),
    ]
