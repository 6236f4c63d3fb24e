from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    """Indexes for the customer list's orderings by name and by last update, so that
    keyset paging reads any page as a range scan (created_at and
    last_interaction_at have theirs)."""

    dependencies = [("core", "0008_interaction_key_per_customer")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="Customer",
            index=Index(fields=["name", "id"]),
        ),
        ops.AddIndex(
            model_name="Customer",
            index=Index(fields=["updated_at", "id"]),
        ),
    ]
