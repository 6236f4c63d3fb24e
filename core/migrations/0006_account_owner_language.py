from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("core", "0005_external_ids")]

    initial = False

    operations = [
        ops.AddField(
            model_name="AccountOwner",
            name="language",
            field=fields.CharField(null=True, max_length=16),
        ),
    ]
