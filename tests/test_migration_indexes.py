"""The migrated database has every index the models declare, on both engines, for the
core and every built-in plugin; and a migration that rebuilds a SQLite table keeps
the table's indexes (``kehu.server.db.install_sqlite_remake_keeps_indexes``)."""

import asyncio
import sqlite3

import pytest
from test_model_classes import every_model
from tortoise.fields.relational import BackwardFKRelation, ManyToManyFieldInstance
from tortoise.migrations.executor import MigrationTarget
from tortoise.migrations.schema_editor.sqlite import SqliteSchemaEditor

from kehu.config import Config
from kehu.server import db
from kehu.server.plugin_manager import BUILTIN_PLUGINS
from kehu.server.runtime import Kehu

INTERACTION_INDEXES = {
    ("customer_id", "occurred_at"),
    ("owner_id", "occurred_at"),
    ("occurred_at",),
    ("next_follow_up_at",),
}

SQLITE_INDEXES = """SELECT l.name AS name, i.seqno AS n, i.name AS col
FROM pragma_index_list(?) AS l, pragma_index_info(l.name) AS i"""
POSTGRES_INDEXES = """SELECT c.relname AS name, k.n AS n, a.attname AS col
FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class c ON c.oid = x.indexrelid
CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, n)
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
WHERE t.relname = $1 AND t.relnamespace = 'public'::regnamespace"""


def declared_indexes(model) -> set[tuple[str, ...]]:
    """The column lists ``model`` declares an index for: ``Meta.indexes``,
    ``unique_together``, and fields with ``db_index`` or ``unique``."""
    meta = model._meta

    def column(name: str) -> str:
        field = meta.fields_map.get(name)
        return (field.source_field or field.model_field_name) if field is not None else name

    out = set()
    for entry in (*meta.indexes, *meta.unique_together):
        names = tuple(getattr(entry, "fields", None) or entry)
        if not any("(" in name for name in names):  # an expression index is the migration's business
            out.add(tuple(column(name) for name in names))
    for field in meta.fields_map.values():
        if isinstance(field, (BackwardFKRelation, ManyToManyFieldInstance)) or field.pk:
            continue
        if field.index or field.unique:
            out.add((field.source_field or field.model_field_name,))
    return out


def grouped(rows) -> set[tuple[str, ...]]:
    indexes: dict[str, list[tuple[int, str]]] = {}
    for row in rows:
        indexes.setdefault(row["name"], []).append((row["n"], row["col"]))
    return {tuple(col for _, col in sorted(columns)) for columns in indexes.values()}


def test_every_model_has_the_indexes_it_declares_in_a_migrated_database(make_app, db_url):
    app = make_app(enabled=tuple(BUILTIN_PLUGINS))
    models = list(every_model())
    postgres = db_url.startswith("postgres")

    async def missing():
        from tortoise import connections

        connection = connections.get("default")
        out = {}
        for model in models:
            table = model._meta.db_table
            found = grouped(
                await connection.execute_query_dict(POSTGRES_INDEXES if postgres else SQLITE_INDEXES, [table])
            )
            lacking = declared_indexes(model) - found
            if lacking:
                out[table] = sorted(lacking)
        return out

    assert len(models) > 30  # the core and every built-in plugin
    assert app.run(missing) == {}


def migrate_core_to(path, name: str) -> set[tuple[str, ...]]:
    apps = {"core": Kehu(Config()).apps["core"]}

    async def run():
        ctx = await db.open_context(db.tortoise_config(f"sqlite://{path}", apps), global_fallback=False)
        try:
            await db._executor(ctx, apps).migrate([MigrationTarget(app_label="core", name=name)])
        finally:
            await db.close_context(ctx)

    asyncio.run(run())
    with sqlite3.connect(path) as connection:
        connection.row_factory = sqlite3.Row
        return grouped(connection.execute(SQLITE_INDEXES, ["kehu_interaction"]))


def test_a_migration_that_rebuilds_a_sqlite_table_keeps_its_indexes(tmp_path):
    """Core migration 0008 alters a column of ``kehu_interaction``: SQLite rebuilds the table."""
    path = tmp_path / "kept.db"
    indexes = migrate_core_to(path, "0008_interaction_key_per_customer")
    assert INTERACTION_INDEXES <= indexes
    assert ("customer_id", "idempotency_key") in indexes
    with sqlite3.connect(path) as connection:  # what 0008 dropped stays dropped: a key is unique per customer only
        unique = [row[1] for row in connection.execute("PRAGMA index_list(kehu_interaction)") if row[2]]
        alone = [
            n for n in unique if [r[2] for r in connection.execute(f'PRAGMA index_info("{n}")')] == ["idempotency_key"]
        ]
    assert alone == []


def test_tortoise_alone_drops_them_so_the_fix_is_still_needed(tmp_path, monkeypatch):
    """When a Tortoise release keeps the indexes itself, this fails: drop kehu's fix."""
    db.install_sqlite_remake_keeps_indexes()
    monkeypatch.setattr(SqliteSchemaEditor, "_remake_table", SqliteSchemaEditor._remake_table.__wrapped__)
    monkeypatch.setattr(db, "install_sqlite_remake_keeps_indexes", lambda: None)
    lost = migrate_core_to(tmp_path / "tortoise.db", "0008_interaction_key_per_customer")
    assert not INTERACTION_INDEXES & lost


@pytest.mark.parametrize("lost", [True, False], ids=["lost-by-0008", "kept"])
def test_migration_0013_gives_a_database_its_interaction_indexes_back(tmp_path, lost):
    path = tmp_path / "old.db"
    migrate_core_to(path, "0012_key_search_indexes")
    if lost:
        with sqlite3.connect(path) as connection:
            for name in ("idx_kehu_intera_custome_be71c3", "idx_kehu_intera_owner_i_66514d"):
                connection.execute(f'DROP INDEX "{name}"')
    assert INTERACTION_INDEXES <= migrate_core_to(path, "0013_interaction_indexes")
