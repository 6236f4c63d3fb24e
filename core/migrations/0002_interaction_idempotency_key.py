from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Interaction",
            name="idempotency_key",
            field=fields.CharField(null=True, unique=True, max_length=100),
        ),
    ]
