"""An index for the customer search (``kehu.search``): substrings of the searched
columns found without reading every customer.

SQLite: an FTS5 table with the trigram tokenizer over the columns, its content read
from ``kehu_customer`` and kept in step by triggers, so that every write — the ORM,
imports, merges, raw SQL, the masking plugin's encryption — updates it in the same
transaction. PostgreSQL: ``pg_trgm`` GIN indexes on exactly the expressions the
search's ``LIKE`` conditions compare. Where ``pg_trgm`` cannot be created (not
installed on the server, or the role may not create it) the migration logs a warning
and creates nothing: the search then reads every row, as before, and still finds the
same customers. It also creates the btree indexes of the normalised keys that 0010
declared but did not create (their exact lookups read every row without them).
Running this migration again after installing the extension is not
possible (it is recorded as applied): ``kehu.search.create_postgres_indexes`` does it.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

from kehu import search


async def forward(apps, schema_editor) -> None:
    client = schema_editor.client
    await client.execute_script(search.KEY_INDEXES)
    if client.capabilities.dialect == "sqlite":
        await client.execute_script(search.SQLITE_SCHEMA)
    elif client.capabilities.dialect == "postgres":
        await search.create_postgres_indexes(client)


async def backward(apps, schema_editor) -> None:
    client = schema_editor.client
    await client.execute_script(search.KEY_INDEXES_DROP)
    if client.capabilities.dialect == "sqlite":
        await client.execute_script(search.SQLITE_DROP)
    elif client.capabilities.dialect == "postgres":
        await client.execute_script(search.POSTGRES_DROP)


class Migration(migrations.Migration):
    dependencies = [("core", "0010_duplicates")]

    initial = False

    operations = [ops.RunPython(forward, backward)]
