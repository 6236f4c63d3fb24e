from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    initial = True

    operations = [
        ops.CreateModel(
            name="FollowUpPlan",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "customer",
                    fields.OneToOneField(
                        "core.Customer",
                        source_field="customer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="followups_plan",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("interval_days", fields.IntField()),
                ("next_due_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("last_contact_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("active", fields.BooleanField(default=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "followups_plan",
                "app": "followups",
                "indexes": [Index(fields=["active", "next_due_at"])],
                "pk_attr": "id",
                "table_description": "A customer's follow-up plan: contact them every ``interval_days`` days.",
            },
            bases=["Model"],
        ),
    ]
