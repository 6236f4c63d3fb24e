"""PostgreSQL: the trigram indexes of the phone and pinyin searches move to
UPPER(column), so that exact lookups of those keys (imports, duplicate checks) use
their btree indexes again instead of the trigram ones (kehu.search.POSTGRES_INDEXES
says why). SQLite: nothing."""

from tortoise import migrations
from tortoise.migrations import operations as ops

from kehu import search


async def _exists(client, name: str) -> bool:
    return bool(await client.execute_query_dict("SELECT 1 FROM pg_indexes WHERE indexname = $1", [name]))


async def forward(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    had_indexes = False
    for old in search.POSTGRES_REPLACED_INDEXES:
        had_indexes |= await _exists(client, old)
        await client.execute_script(f"DROP INDEX IF EXISTS {old}")
    if had_indexes:  # the search had its indexes (pg_trgm): build the new ones
        await search.create_postgres_indexes(client)


async def backward(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    for old, (expression, new) in search.POSTGRES_REPLACED_INDEXES.items():
        if await _exists(client, new):
            await client.execute_script(f"DROP INDEX IF EXISTS {new}")
            await client.execute_script(search.trigram_index_sql(old, expression))


class Migration(migrations.Migration):
    dependencies = [("core", "0011_customer_search")]

    initial = False

    operations = [ops.RunPython(forward, backward)]
