from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    # Only core's first tables are referenced; a later core migration is not needed.
    dependencies = [("core", "0001_initial")]

    initial = True

    operations = [
        ops.CreateModel(
            name="BlindIndex",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "customer",
                    fields.ForeignKeyField(
                        "core.Customer",
                        source_field="customer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="blind_indexes",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("field", fields.CharField(max_length=200)),
                ("digest", fields.CharField(max_length=64)),
            ],
            options={
                "table": "masking_blind_index",
                "app": "masking",
                "indexes": [Index(fields=["field", "digest"]), Index(fields=["customer_id", "field"])],
                "pk_attr": "id",
                "table_description": "A keyed digest of an encrypted field's value, for exact-match lookup: one row",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Disclosure",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                (
                    "actor",
                    fields.ForeignKeyField(
                        "core.AccountOwner",
                        source_field="actor_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="disclosures",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("actor_label", fields.CharField(default="", max_length=300)),
                (
                    "customer",
                    fields.ForeignKeyField(
                        "core.Customer",
                        source_field="customer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="disclosures",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("field", fields.CharField(max_length=200)),
                ("reason", fields.TextField(unique=False)),
                ("request_id", fields.CharField(null=True, max_length=64)),
            ],
            options={
                "table": "masking_disclosure",
                "app": "masking",
                "indexes": [Index(fields=["customer_id", "at"]), Index(fields=["actor_id", "at"])],
                "pk_attr": "id",
                "table_description": "One reveal of a masked field in clear: append-only, written in the same",
            },
            bases=["Model"],
        ),
    ]
