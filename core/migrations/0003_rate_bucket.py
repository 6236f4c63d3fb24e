from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("core", "0002_interaction_idempotency_key")]

    initial = False

    operations = [
        ops.CreateModel(
            name="RateBucket",
            fields=[
                ("key", fields.CharField(primary_key=True, unique=True, db_index=True, max_length=300)),
                ("used", fields.IntField(default=0)),
                ("minute", fields.BigIntField(db_index=True)),
            ],
            options={
                "table": "kehu_rate_bucket",
                "app": "core",
                "pk_attr": "key",
                "table_description": "Cost points spent by one caller in one minute (PostgreSQL deployments, so",
            },
            bases=["Model"],
        ),
    ]
