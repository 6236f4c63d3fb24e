from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("core", "0003_rate_bucket")]

    initial = False

    operations = [
        ops.CreateModel(
            name="TrustedDocument",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("sha256", fields.CharField(unique=True, max_length=64)),
                ("body", fields.TextField(unique=False)),
                ("operations", fields.CharField(default="", max_length=500)),
                ("source", fields.CharField(default="", max_length=500)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "kehu_trusted_document",
                "app": "core",
                "pk_attr": "id",
                "table_description": "A GraphQL document the server accepts in trusted-documents mode, by the",
            },
            bases=["Model"],
        ),
    ]
