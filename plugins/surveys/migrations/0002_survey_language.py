from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("surveys", "0001_initial")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Survey",
            name="language",
            field=fields.CharField(null=True, max_length=16),
        ),
    ]
