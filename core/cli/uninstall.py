"""Dropping a disabled plugin's data: ``kehu plugins uninstall NAME [--yes]``.

Disabling a plugin never touches its tables; this is the one deliberate way to
remove them. It works from the plugin's own models (so the package must still be
installed), shows each table with its row count first, and drops only when asked.
Its rows in Tortoise's migrations table go too, so that enabling the plugin again
applies its migrations afresh and re-creates the tables.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import PluginError
from ..server import db

if TYPE_CHECKING:
    from ..server.runtime import Kehu

MIGRATIONS_TABLE = "tortoise_migrations"  # tortoise.migrations.recorder.MigrationRecorder's default


@dataclass
class PluginData:
    name: str
    connection: Any
    # (table, row count), in the order they can be dropped: tables that refer to
    # another of the plugin's tables come before it. None: the table does not exist.
    tables: list[tuple[str, int | None]] = field(default_factory=list)
    migrations: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.migrations and all(rows is None for _, rows in self.tables)


def _load_plugin(name: str) -> Any:
    from ..server.plugin_manager import discover

    found = discover().get(name)
    if found is None:
        raise PluginError(
            f"plugin '{name}' is not installed: its models name its tables, so install it "
            "again to drop its data (then pip uninstall it)"
        )
    source, loader, _version = found
    try:
        return loader()
    except Exception as exc:
        raise PluginError(f"plugin '{name}': failed to import: {exc}") from None


def _models_app(name: str, module: Any) -> dict[str, Any] | None:
    hook = getattr(module, "kehu_models", None)
    spec = hook() if hook is not None else None
    if not spec:
        return None
    return {"models": list(spec["models"]), "migrations": spec["migrations"], "default_connection": "default"}


def _apps_with(kehu: Kehu, name: str) -> dict[str, dict[str, Any]]:
    """The enabled apps plus the plugin's own (and those of plugins it requires,
    whose models its foreign keys may name)."""
    apps = dict(kehu.apps)
    todo = [name]
    while todo:
        current = todo.pop()
        if current in apps:
            continue
        module = _load_plugin(current)
        app = _models_app(current, module)
        if app is not None:
            apps[current] = app
        info = getattr(module, "kehu_plugin_info", None)
        todo += [r for r in ((info() or {}).get("requires", ()) if info else ()) if r not in apps]
    return apps


def _drop_order(models: list[Any]) -> list[str]:
    """Table names, referring tables before the tables they refer to."""
    tables = {m._meta.db_table: m for m in models}
    refers: dict[str, set[str]] = {}
    through: list[str] = []
    for table, model in tables.items():
        targets = set()
        for fk in (*model._meta.fk_fields, *model._meta.o2o_fields):
            related = model._meta.fields_map[fk].related_model._meta.db_table
            if related in tables and related != table:
                targets.add(related)
        refers[table] = targets
        for m2m in model._meta.m2m_fields:
            field_object = model._meta.fields_map[m2m]
            if not getattr(field_object, "_generated", False) and field_object.through not in through:
                through.append(field_object.through)
    order: list[str] = []
    remaining = dict(refers)
    while remaining:
        # a table nobody left refers to can go now
        ready = sorted(t for t in remaining if not any(t in refs for u, refs in remaining.items() if u != t))
        if not ready:  # a reference cycle: drop in any order
            ready = sorted(remaining)
        for table in ready:
            order.append(table)
            remaining.pop(table)
    return through + order


async def _count(connection: Any, table: str) -> int | None:
    try:
        _, rows = await connection.execute_query(f'SELECT COUNT(*) AS n FROM "{table}"')  # nosec B608 - names from models
    except Exception:
        return None
    row = rows[0]
    return int(row["n"] if not isinstance(row, (tuple, list)) else row[0])


def _placeholder(connection: Any) -> str:
    return "$1" if getattr(connection.capabilities, "dialect", "") == "postgres" else "?"


@asynccontextmanager
async def plugin_data(kehu: Kehu, name: str) -> AsyncIterator[PluginData]:
    """Connect with the plugin's models loaded and describe what it has stored."""
    apps = _apps_with(kehu, name)
    ctx = await db.open_context(db.tortoise_config(kehu.config.kehu.database_url, apps))
    try:
        connection = ctx.db()
        data = PluginData(name, connection)
        if name in apps and ctx.apps is not None:
            models = list(ctx.apps[name].values())
            for table in _drop_order(models):
                data.tables.append((table, await _count(connection, table)))
        try:
            _, rows = await connection.execute_query(
                f'SELECT "name" FROM "{MIGRATIONS_TABLE}" WHERE "app" = {_placeholder(connection)} ORDER BY "name"',  # nosec B608
                [name],
            )
            data.migrations = [row["name"] if not isinstance(row, (tuple, list)) else row[0] for row in rows]
        except Exception:  # no migrations table yet: nothing was ever migrated
            data.migrations = []
        yield data
    finally:
        await db.close_context(ctx)


async def drop_plugin_data(data: PluginData) -> None:
    """Drop the tables and forget the migrations, in one transaction where the
    database allows it (PostgreSQL and SQLite both run DDL in transactions)."""
    from tortoise.transactions import in_transaction

    async with in_transaction() as conn:
        for table, rows in data.tables:
            if rows is None:
                continue
            try:
                await conn.execute_script(f'DROP TABLE IF EXISTS "{table}"')
            except Exception as exc:  # e.g. another plugin's table still refers to it
                raise PluginError(f"cannot drop table {table}: {exc}; nothing was dropped") from None
        await conn.execute_query(
            f'DELETE FROM "{MIGRATIONS_TABLE}" WHERE "app" = {_placeholder(data.connection)}',
            [data.name],  # nosec B608
        )
