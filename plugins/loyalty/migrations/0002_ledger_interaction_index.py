from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    """An index on the ledger's interaction: a purchase's EARN entry is found by
    index, so catching up on one new member's purchases (their first purchase)
    no longer reads the whole ledger."""

    dependencies = [("core", "0011_customer_search"), ("loyalty", "0001_initial")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="LedgerEntry",
            index=Index(fields=["interaction_id"]),
        ),
    ]
