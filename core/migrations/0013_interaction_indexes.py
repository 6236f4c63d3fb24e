"""SQLite: the interactions' indexes come back. Migration 0008 rebuilt
``kehu_interaction`` (SQLite cannot alter a column in place) and Tortoise's rebuild
did not create the table's indexes again (``kehu.server.db``,
``install_sqlite_remake_keeps_indexes``, says why and keeps them from now on): a
customer's timeline, an owner's interactions, the follow-ups due and every date
range read the whole table or sorted it. The names are those 0001 gave them, as
on PostgreSQL, where nothing was lost. PostgreSQL: nothing."""

from tortoise import migrations
from tortoise.migrations import operations as ops

INDEXES = {
    "idx_kehu_intera_custome_be71c3": '"customer_id", "occurred_at"',
    "idx_kehu_intera_owner_i_66514d": '"owner_id", "occurred_at"',
    "idx_kehu_intera_occurre_30aa40": '"occurred_at"',
    "idx_kehu_intera_next_fo_399c4a": '"next_follow_up_at"',
}


async def forward(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "sqlite":
        return
    for name, columns in INDEXES.items():
        await client.execute_script(f'CREATE INDEX IF NOT EXISTS "{name}" ON "kehu_interaction" ({columns})')


async def backward(apps, schema_editor) -> None:
    """Nothing: the indexes are the model's own (0001); 0008 was not meant to drop them."""


class Migration(migrations.Migration):
    dependencies = [("core", "0012_key_search_indexes")]

    initial = False

    operations = [ops.RunPython(forward, backward)]
