from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("core", "0004_trusted_document")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Customer",
            name="external_id",
            field=fields.CharField(null=True, unique=True, max_length=200),
        ),
        ops.AddField(
            model_name="Interaction",
            name="external_id",
            field=fields.CharField(null=True, unique=True, max_length=200),
        ),
    ]
