from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    initial = True

    operations = [
        ops.CreateModel(
            name="Sticker",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "customer",
                    fields.ForeignKeyField(
                        "core.Customer",
                        source_field="customer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="stickers",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("label", fields.CharField(max_length=50)),
            ],
            options={"table": "test_sticker", "app": "stickers", "pk_attr": "id"},
            bases=["Model"],
        ),
    ]
