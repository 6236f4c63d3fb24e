from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from kehu.models import CustomerKind, Direction, InteractionKind, Role, TokenKind


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="AccountOwner",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("name", fields.CharField(max_length=200)),
                ("email", fields.CharField(unique=True, max_length=254)),
                (
                    "role",
                    fields.CharEnumField(
                        description="ADMIN: ADMIN\nMANAGER: MANAGER\nAGENT: AGENT\nANALYST: ANALYST",
                        enum_type=Role,
                        max_length=16,
                    ),
                ),
                ("team", fields.CharField(default="", db_index=True, max_length=100)),
                ("active", fields.BooleanField(default=True)),
                ("is_service", fields.BooleanField(default=False)),
                ("password_hash", fields.CharField(null=True, max_length=255)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "kehu_account_owner",
                "app": "core",
                "pk_attr": "id",
                "table_description": "A staff member who signs in and looks after customers (客户经理).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AccessToken",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("token_hash", fields.CharField(unique=True, max_length=64)),
                (
                    "owner",
                    fields.ForeignKeyField(
                        "core.AccountOwner",
                        source_field="owner_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="tokens",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "kind",
                    fields.CharEnumField(description="SESSION: SESSION\nAPI: API", enum_type=TokenKind, max_length=16),
                ),
                ("name", fields.CharField(default="", max_length=100)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("expires_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("revoked_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("last_used_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "kehu_access_token",
                "app": "core",
                "pk_attr": "id",
                "table_description": "A bearer token: a sign-in session or a named API token. Only its SHA-256 is stored.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AuditEntry",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ("actor_id", fields.IntField(null=True, db_index=True)),
                ("actor_label", fields.CharField(default="", max_length=300)),
                ("operation", fields.CharField(max_length=100)),
                ("entity_type", fields.CharField(null=True, db_index=True, max_length=100)),
                ("entity_id", fields.CharField(null=True, max_length=64)),
                ("changes", fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ("request_id", fields.CharField(null=True, max_length=64)),
            ],
            options={
                "table": "kehu_audit_entry",
                "app": "core",
                "indexes": [Index(fields=["entity_type", "entity_id"])],
                "pk_attr": "id",
                "table_description": "One append-only record per successful write, committed with the write itself.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Customer",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("name", fields.CharField(max_length=200)),
                (
                    "kind",
                    fields.CharEnumField(
                        default=CustomerKind.PERSON,
                        description="PERSON: PERSON\nORGANIZATION: ORGANIZATION",
                        enum_type=CustomerKind,
                        max_length=16,
                    ),
                ),
                ("email", fields.CharField(null=True, db_index=True, max_length=254)),
                ("phone", fields.CharField(null=True, db_index=True, max_length=40)),
                ("address", fields.TextField(null=True, unique=False)),
                ("region", fields.CharField(null=True, db_index=True, max_length=100)),
                ("industry", fields.CharField(null=True, max_length=100)),
                ("tags", fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ("attributes", fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                (
                    "owner",
                    fields.ForeignKeyField(
                        "core.AccountOwner",
                        source_field="owner_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="customers",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "last_interaction_at",
                    fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False),
                ),
                ("archived_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "kehu_customer",
                "app": "core",
                "indexes": [Index(fields=["owner_id", "archived_at"])],
                "pk_attr": "id",
                "table_description": "A person or organization the company does business with.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CustomerTag",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "customer",
                    fields.ForeignKeyField(
                        "core.Customer",
                        source_field="customer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="tag_rows",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("tag", fields.CharField(max_length=64)),
            ],
            options={
                "table": "kehu_customer_tag",
                "app": "core",
                "unique_together": (("customer_id", "tag"),),
                "indexes": [Index(fields=["tag", "customer_id"])],
                "pk_attr": "id",
                "table_description": "One row per (customer, tag): lets ``tags`` filters use an index.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Interaction",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "customer",
                    fields.ForeignKeyField(
                        "core.Customer",
                        source_field="customer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="interactions",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "owner",
                    fields.ForeignKeyField(
                        "core.AccountOwner",
                        source_field="owner_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="interactions",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "kind",
                    fields.CharEnumField(
                        description="CALL: CALL\nVISIT: VISIT\nEMAIL: EMAIL\nMEETING: MEETING\nMESSAGE: MESSAGE\nPURCHASE: PURCHASE\nNOTE: NOTE",
                        enum_type=InteractionKind,
                        max_length=16,
                    ),
                ),
                (
                    "direction",
                    fields.CharEnumField(
                        default=Direction.OUTBOUND,
                        description="INBOUND: INBOUND\nOUTBOUND: OUTBOUND\nINTERNAL: INTERNAL",
                        enum_type=Direction,
                        max_length=16,
                    ),
                ),
                ("occurred_at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ("subject", fields.CharField(default="", max_length=300)),
                ("notes", fields.TextField(default="", unique=False)),
                ("amount", fields.DecimalField(null=True, max_digits=14, decimal_places=2)),
                (
                    "next_follow_up_at",
                    fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "kehu_interaction",
                "app": "core",
                "indexes": [Index(fields=["customer_id", "occurred_at"]), Index(fields=["owner_id", "occurred_at"])],
                "pk_attr": "id",
                "table_description": "One touch point with a customer. PURCHASE interactions carry an amount.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="LoginThrottle",
            fields=[
                ("key", fields.CharField(primary_key=True, unique=True, db_index=True, max_length=300)),
                ("failures", fields.IntField(default=0)),
                ("locked_until", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "kehu_login_throttle",
                "app": "core",
                "pk_attr": "key",
                "table_description": "Failed sign-ins per account (``email:…``) and per client address (``ip:…``).",
            },
            bases=["Model"],
        ),
    ]
