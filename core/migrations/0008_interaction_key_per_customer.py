from tortoise import fields, migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import UniqueConstraint


class Migration(migrations.Migration):
    """Interaction idempotency keys are unique per customer, no longer across all
    customers: a key tells nothing about, and cannot block, another customer's."""

    dependencies = [("core", "0007_outbox")]

    initial = False

    operations = [
        ops.AlterField(
            model_name="Interaction",
            name="idempotency_key",
            field=fields.CharField(null=True, max_length=100),
        ),
        ops.AddConstraint(
            model_name="Interaction",
            constraint=UniqueConstraint(fields=("customer_id", "idempotency_key"), name=None),
        ),
    ]
