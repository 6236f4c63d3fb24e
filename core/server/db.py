"""Connecting to the database and keeping its schema in step with the code.

One Tortoise app per plugin (``core`` for the core), each with its own
migrations package. The context is made the global fallback so that request
tasks — which uvicorn starts outside the lifespan's task — find it
(tortoise 1.x keeps its state in a ContextVar; see docs/internals.md).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from pypika_tortoise.enums import Dialects
from pypika_tortoise.terms import ContainsCriterion, Criterion, Tuple
from pypika_tortoise.utils import format_alias_sql
from tortoise import filters as tortoise_filters
from tortoise.backends.asyncpg.executor import AsyncpgExecutor
from tortoise.backends.base.executor import CHUNK_SIZE
from tortoise.backends.sqlite.executor import SqliteExecutor
from tortoise.context import TortoiseContext
from tortoise.migrations.executor import MigrationExecutor, MigrationTarget

from ..bulk import field_converter as _converter  # shared with kehu.bulk.select_in
from ..config import is_sqlite as is_sqlite  # the runtime's modules import it from here
from ..config import normalise_url, sqlite_file
from ..errors import ConfigError, MigrationsPending

log = logging.getLogger(__name__)


def tortoise_config(
    database_url: str, apps: dict[str, dict[str, Any]], statement_timeout: float | None = None
) -> dict[str, Any]:
    url = normalise_url(database_url)
    if not (url.startswith("sqlite://") or url.startswith("postgres://")):
        raise ConfigError(
            f"kehu.database_url: unsupported database '{url.split(':', 1)[0]}' "
            "(use sqlite://FILE or postgres://USER:PASSWORD@HOST:PORT/DB)"
        )
    if url.startswith("postgres://"):
        from tortoise.backends.base.config_generator import expand_db_url

        # asyncpg pool: a worker serves many requests concurrently.
        connection: Any = expand_db_url(url + ("&" if "?" in url else "?") + "minsize=1&maxsize=10")
        connection["credentials"]["connection_class"] = pg_connection_class()
        if statement_timeout is not None:
            # PostgreSQL ends any statement running longer: a runaway query cannot
            # hold a connection after the request that started it has timed out.
            connection["credentials"]["server_settings"] = {"statement_timeout": str(int(statement_timeout * 1000))}
    else:
        connection = url
    return {
        "connections": {"default": connection},
        "apps": apps,
        "use_tz": True,
        "timezone": "UTC",
    }


@functools.cache
def pg_connection_class() -> type:
    """asyncpg's connection, returned to the pool without its reset statement.

    Tortoise takes a connection from the pool for each statement outside a
    transaction, and asyncpg's pool, on taking it back, sends ``SELECT
    pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;`` — a round trip
    for every such statement: ~80 us of kehu's CPU and ~120 us of wait each,
    more than a point read itself (a signed-in trivial request on PostgreSQL
    made two round trips where it needs one). kehu leaves no session state on a
    pooled connection: settings are ``SET LOCAL``, advisory locks
    ``pg_advisory_xact_lock``, no cursor outlives its statement, and LISTEN has
    a connection of its own (kehu.server.eventbus). What asyncpg still does on
    every return (documented for a subclass that overrides
    ``get_reset_query``): an open transaction is rolled back and the
    connection's listener callbacks are dropped. A plugin's raw SQL must follow
    the same rule (docs/plugins.md, "What a plugin may and may not touch")."""
    import asyncpg

    class PooledConnection(asyncpg.Connection):
        def get_reset_query(self) -> str:
            return ""

    return PooledConnection


async def open_context(config: dict[str, Any], *, global_fallback: bool = True) -> TortoiseContext:
    ctx = TortoiseContext()
    # Models are finalised during init() and look the connection up through the
    # *current* context, so the context must be entered first.
    ctx.__enter__()
    try:
        await ctx.init(config=config, _enable_global_fallback=global_fallback)
        assert ctx.apps is not None  # set by init()
        install_row_builders(ctx.apps.get_models_iterable())
        install_row_readers()
        install_list_parameters(ctx.apps.get_models_iterable())
        await ctx.db().execute_query("SELECT 1")
    except ConfigError:
        raise
    except Exception as exc:
        await close_context(ctx)
        raise ConfigError(f"kehu.database_url: cannot connect: {exc}") from None
    return ctx


async def close_context(ctx: TortoiseContext) -> None:
    await ctx.close_connections()
    try:
        ctx.__exit__(None, None, None)
    except ValueError:  # closed from another task than the one that opened it
        pass


# --------------------------------------------------------------------------- rows -> models


def install_row_builders(models: Any) -> None:
    """Give each model a faster ``_init_from_db`` — what Tortoise calls to turn a
    fetched row into an instance, and what ``kehu.schema.loaders`` calls for its
    ranked pages.

    Tortoise's own version sets four bookkeeping attributes through the model's
    ``__setattr__`` and converts each timestamp and enum through generic code
    that re-reads its settings from ``os.environ``; a page of 100 customers with
    their last interactions builds ~1,000 instances (benchmarks/README.md). This
    one does the same work with the lookups prepared once per field. Like
    Tortoise's, it reads the model's field lists at each call (plugins may move
    a column between them: the masking plugin does, to decrypt it), and it falls
    back to Tortoise's for partial rows (``.only()``) and for subclasses.
    tests/test_rows.py checks that both build the same instance for every model
    of the core and the built-in plugins."""
    for model in models:
        if model.__dict__.get("_kehu_row_builder"):
            continue
        original = model.__dict__.get("_init_from_db")
        original = original.__func__ if isinstance(original, classmethod) else model._init_from_db.__func__
        model._init_from_db = classmethod(_row_builder(model, original))
        model._kehu_row_builder = True


def install_row_readers() -> None:
    """Let Tortoise's SQLite and PostgreSQL executors build models with ``row_reader``.

    Tortoise's ``execute_select`` builds each instance from a row with
    ``_init_from_db(**row)`` on SQLite, and through ``dict(row).items()``, a slice
    and a second dict on PostgreSQL. On SQLite the row is an ``sqlite3.Row``, whose
    ``row[name]`` finds the name by a scan of the row's columns, so unpacking a row
    of n columns compares ~n²/2 names: 5.3 us for 18 columns. A list page builds
    hundreds of instances this way. ``row_reader`` reads the values by position,
    with the column names looked at once per statement. Rows with related models
    (``select_related``) still go through Tortoise's code."""
    from tortoise.backends.asyncpg.client import AsyncpgDBClient
    from tortoise.backends.sqlite.client import SqliteClient

    for client, ours in ((SqliteClient, _SqliteExecutor), (AsyncpgDBClient, _AsyncpgExecutor)):
        if issubclass(client.executor_class, ours):
            continue
        if client.executor_class is not ours.__bases__[-1]:  # pragma: no cover - someone else replaced it
            log.warning("%s's executor was replaced: kehu leaves it as it is", client.__name__)
            continue
        client.executor_class = ours


class _ModelsByPosition:
    """``execute_select`` of Tortoise's executors with ``row_reader``
    (``install_row_readers``); mixed in before Tortoise's executor class."""

    async def execute_select(self, sql: str, values: list | None = None, custom_fields: list | None = None) -> list:
        related = self.select_related_idx or []  # type: ignore[attr-defined]
        if len(related) != 1:  # the model's own columns, then related models'
            return await super().execute_select(sql, values, custom_fields)  # type: ignore[misc]
        _, result = await self.db.execute_query(sql, values)  # type: ignore[attr-defined]
        rows: Sequence[Any] = result  # sqlite3.Row / asyncpg.Record: by name and by position
        instances: list[Any] = []
        if rows:
            names = list(rows[0].keys())
            # The model's columns come first, annotations after: Tortoise builds the
            # instance from the first ``own`` columns and sets each annotation on it.
            build = row_reader(self.model, names[: related[0][1]])  # type: ignore[attr-defined]
            annotations = [(name, names.index(name)) for name in custom_fields or ()]
            for index, row in enumerate(rows):
                if index and index % CHUNK_SIZE == 0:
                    await asyncio.sleep(0)  # as Tortoise's: a large result does not hold the loop
                instance = build(row)
                for name, at in annotations:
                    object.__setattr__(instance, name, row[at])
                instances.append(instance)
        await self._execute_prefetch_queries(instances)  # type: ignore[attr-defined]
        return instances


class _SqliteExecutor(_ModelsByPosition, SqliteExecutor):
    pass


class _AsyncpgExecutor(_ModelsByPosition, AsyncpgExecutor):
    pass


def _row_builder(model: Any, original: Callable[..., Any]) -> Callable[..., Any]:
    compiled: list[Any] = [None, None]  # (shape of the field lists, builder compiled for it)

    def _init_from_db(cls, **row: Any) -> Any:
        if cls is not model:
            return original(cls, **row)
        shape = _field_shape(model)
        if compiled[0] != shape:
            compiled[:] = [shape, _compile_row_builder(model)]
        try:
            return compiled[1](cls, row)
        except KeyError:  # a partial row: Tortoise knows how to build those
            return original(cls, **row)

    return _init_from_db


def _field_shape(model: Any) -> tuple[int, int, int]:
    meta = model._meta
    return (len(meta.db_native_fields), len(meta.db_default_fields), len(meta.db_complex_fields))


def _compile_row_builder(model: Any, positions: dict[str, int] | None = None) -> Callable[[Any, Any], Any]:
    """One function per model and field layout, with every column written out:
    a literal dict display costs a fraction of a loop over the field lists.
    ``build(cls, row)`` reads ``row`` by column name, or by position where
    ``positions`` gives each column's."""
    meta = model._meta
    namespace: dict[str, Any] = {"new": object.__new__, "custom_pk": meta.db_pk_column not in meta.generated_db_fields}

    def at(key: str) -> str:
        return f"row[{key!r}]" if positions is None else f"row[{positions[key]}]"

    items = []
    for key, name, _ in meta.db_native_fields:
        items.append(f"{name!r}: {at(key)}")
    for i, (key, name, field) in enumerate(meta.db_default_fields):
        namespace[f"type{i}"] = field.field_type
        items.append(f"{name!r}: None if (v := {at(key)}) is None else type{i}(v)")
    for i, (key, name, field) in enumerate(meta.db_complex_fields):
        namespace[f"convert{i}"] = _converter(field)
        items.append(f"{name!r}: convert{i}({at(key)})")
    source = (
        "def build(cls, row):\n"
        f"    values = {{{', '.join(items)}}}\n"
        "    self = new(cls)\n"
        "    values.update(_partial=False, _saved_in_db=True, _custom_generated_pk=custom_pk, _await_when_save={})\n"
        "    self.__dict__.update(values)\n"
        "    return self\n"
    )
    exec(compile(source, f"<kehu row builder for {model.__name__}>", "exec"), namespace)  # noqa: S102 - names come from the model's own fields
    return namespace["build"]


def row_reader(model: Any, columns: Sequence[str]) -> Callable[[Sequence[Any]], Any]:
    """A function building a ``model`` instance from a row's values, given the
    result's column names: what ``model._init_from_db(**dict(zip(columns,
    values)))`` builds, without making a dict of every row twice (once for the
    names, once for the keywords) — a quarter of the time a page spends turning
    rows into models. Columns the model does not have (annotations, a rank) are
    left out, as Tortoise leaves them; a row without every column of the model,
    or a model without kehu's row builder, goes through ``_init_from_db``."""
    columns = tuple(columns)
    key = (model, columns, _field_shape(model))
    build = _READERS.get(key)
    if build is None:
        if len(_READERS) >= 512:  # statements' column lists are few; bound it anyway
            _READERS.clear()
        build = _READERS[key] = _new_reader(model, columns)
    return build


def _new_reader(model: Any, columns: tuple[str, ...]) -> Callable[[Sequence[Any]], Any]:
    meta = model._meta
    if model.__dict__.get("_kehu_row_builder") and all(
        key in columns for key, _, _ in (*meta.db_native_fields, *meta.db_default_fields, *meta.db_complex_fields)
    ):
        positions = {column: index for index, column in reversed(list(enumerate(columns)))}
        return functools.partial(_compile_row_builder(model, positions), model)
    return lambda values: model._init_from_db(**dict(zip(columns, values)))


_READERS: dict[tuple, Callable[[Sequence[Any]], Any]] = {}


# --------------------------------------------------------------------------- statements


#: Lists at least this long are sent as one parameter (``install_list_parameters``).
LIST_PARAMETER_MIN = 8


def install_list_parameters(models: Any) -> None:
    """Send the values of a long ``field__in=[…]`` filter as one parameter.

    Tortoise writes ``"customer_id" IN (?,?,…)`` with a pypika term, a parameter
    and a placeholder per value; a page of 100 customers asks for its owners,
    last interactions, counts and each plugin's rows this way, ~700 values, and
    building those terms was ~6 % of the page's instructions. Each different
    length is also a different statement text, which the drivers' statement
    caches keep apart. With this, a list of ``LIST_PARAMETER_MIN`` values or more
    of plain integers and strings is one JSON text on SQLite (``"customer_id" IN
    (SELECT value FROM json_each(?))``, planned as the same index lookups) and
    one array on PostgreSQL (``"customer_id" = ANY($1)``). ``NOT IN`` likewise
    (``<> ALL``: the same answer, NULLs included). Shorter lists, subqueries and
    other values keep Tortoise's ``IN``, as do statements printed without
    parameters (``QuerySet.sql(params_inline=True)``)."""
    replaced = {tortoise_filters.is_in: _list_in, tortoise_filters.not_in: _list_not_in}
    for model in models:
        table = model._meta.filters  # the model's own dict; its entries may be shared (install_filter_tables)
        for key, info in table.items():
            operator = replaced.get(info.get("operator"))
            if operator is not None:
                table[key] = {**info, "operator": operator}


def _list_in(field: Any, value: Any) -> Any:
    if _one_parameter(value):
        return _ListParameterIn(field, value)
    return tortoise_filters.is_in(field, value)


def _list_not_in(field: Any, value: Any) -> Any:
    if _one_parameter(value):
        return _ListParameterIn(field, value, negated=True)
    return tortoise_filters.not_in(field, value)


def _one_parameter(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) >= LIST_PARAMETER_MIN
        and all(v.__class__ is str or (v.__class__ is int and -(2**63) <= v < 2**63) for v in value)
    )


# json_each is built into SQLite from 3.38 on.
_ONE_PARAMETER_DIALECTS = (Dialects.POSTGRESQL, *((Dialects.SQLITE,) if sqlite3.sqlite_version_info >= (3, 38) else ()))


class _ListParameterIn(ContainsCriterion):
    """``term [NOT] IN values`` with the values as one parameter where the
    dialect takes a list in one (see ``install_list_parameters``)."""

    def __init__(self, term: Any, values: list, *, negated: bool = False) -> None:
        Criterion.__init__(self)
        self.term = term
        self.values = values
        self._is_negated = negated

    @property
    def container(self) -> Any:  # type: ignore[override]  # Tortoise's rendering, for the other cases
        return Tuple(*self.values)

    def get_sql(self, ctx: Any) -> str:
        if ctx.parameterizer is None or ctx.dialect not in _ONE_PARAMETER_DIALECTS:
            return super().get_sql(ctx)
        term = self.term.get_sql(ctx)
        if ctx.dialect is Dialects.SQLITE:
            placeholder = ctx.parameterizer.create_param(json.dumps(self.values)).get_sql(ctx)
            sql = f"{term} {'NOT ' if self._is_negated else ''}IN (SELECT value FROM json_each({placeholder}))"
        else:
            placeholder = ctx.parameterizer.create_param(self.values).get_sql(ctx)
            sql = f"{term} <> ALL({placeholder})" if self._is_negated else f"{term} = ANY({placeholder})"
        return format_alias_sql(sql, self.alias, ctx)


# --------------------------------------------------------------------------- migrations


def install_filter_tables() -> None:
    """Let Tortoise's model class reuse the filter table of a field it has seen.

    Every model class Tortoise makes (``ModelMeta.__new__``) asks
    ``tortoise.filters.get_filters_for_field`` for the ~30 lookups of each column
    (``name``, ``name__in``, ``name__icontains``, …), built afresh as a dict of
    dicts. Migrating renders every model of the historical state again for each
    operation it applies (``Migration.apply`` clones the state first), so
    building those tables was two thirds of ``kehu migrate``'s time: ~3 s of CPU
    for the core with every built-in plugin, 1.3 s with this (upstream:
    tortoise/tortoise-orm#2274, open).

    For an ordinary column the table depends only on the field's name, its
    model attribute (``pk`` names the primary key's), its column and whether it
    is a ``TSVectorField``; relations, JSON and array fields still go to
    Tortoise. The model gets its own outer dict; the inner ones are shared, as
    Tortoise never changes them in place (``MetaInfo._generate_filters`` copies
    one before it swaps an operator). tests/test_model_classes.py checks that
    the tables are equal to Tortoise's for every column of the core and the
    built-in plugins. If Tortoise's function is not the one this was written
    for, nothing is installed: migrations are slower, never different."""
    from tortoise import filters, models

    original = filters.get_filters_for_field
    if getattr(models, "get_filters_for_field", None) is not original or list(
        inspect.signature(original).parameters
    ) != ["field_name", "field", "source_field"]:
        return
    delegated = (filters.ManyToManyFieldInstance, filters.BackwardFKRelation, filters.JSONField, filters.ArrayField)
    tables: dict[tuple[str, str, str, bool], dict[str, Any]] = {}

    def get_filters_for_field(field_name: str, field: Any, source_field: str) -> dict[str, Any]:
        if field is None or isinstance(field, delegated):
            return original(field_name, field, source_field)
        attribute = field.model_field_name if field_name == "pk" else field_name
        key = (field_name, attribute, source_field, isinstance(field, filters.TSVectorField))
        table = tables.get(key)
        if table is None:
            table = tables[key] = original(field_name, field, source_field)
        return dict(table)

    models.get_filters_for_field = get_filters_for_field


def install_sqlite_remake_keeps_indexes() -> None:
    """Make Tortoise's SQLite table rebuild keep the table's indexes.

    SQLite cannot change a column in place, so Tortoise's ``AlterField`` (and
    ``RemoveField``, a check constraint) rebuilds the table:
    ``SqliteSchemaEditor._remake_table`` creates ``new__<table>``, copies the rows,
    drops the old table — and with it every index on it — and renames the new
    one. Tortoise 1.1 creates no index again (SQLite's own recipe for the rebuild,
    "Making Other Kinds Of Table Schema Changes", step 8, says to). Core migration
    0008 lost ``kehu_interaction``'s four indexes that way on every SQLite
    database (0013 puts them back); a plugin's ``AlterField`` would lose its
    table's.

    This reads the table's ``CREATE INDEX`` statements before the rebuild and runs
    them after it, with a renamed column renamed in them; an index on a column the
    rebuild removes goes with the column. A column's own index is the field's to
    decide: a unique field's comes back with the new table's definition (and an
    altered field that is no longer unique must lose it: 0008 made
    ``idempotency_key`` unique per customer only), and a plain one comes back
    only while the altered field still has ``db_index``. Indexes declared in
    ``Meta.indexes`` or ``unique_together`` always come back.
    tests/test_migration_indexes.py holds every model's declared indexes to the
    migrated database on both engines. Not installed if the method is missing."""
    from tortoise.migrations.schema_editor.sqlite import SqliteSchemaEditor

    original = getattr(SqliteSchemaEditor, "_remake_table", None)
    if original is None or getattr(original, "_kehu_keeps_indexes", False):
        return

    async def _remake_table(self, model, create_field=None, delete_field=None, alter_fields=None) -> None:
        table = model._meta.db_table
        _, rows = await self.client.execute_query(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", [table]
        )
        await original(self, model, create_field=create_field, delete_field=delete_field, alter_fields=alter_fields)
        renamed, altered = {}, {}
        for old, new in alter_fields or ():
            old_column, new_column = old.source_field or old.model_field_name, new.source_field or new.model_field_name
            altered[new_column] = new
            if old_column != new_column:
                renamed[f'"{old_column}"'] = f'"{new_column}"'
        removed = f'"{delete_field.source_field or delete_field.model_field_name}"' if delete_field else None
        declared = {
            tuple(getattr(e, "fields", None) or e) for e in (*model._meta.indexes, *model._meta.unique_together)
        }
        for row in rows:
            sql = row["sql"]
            cut = sql.index("(", sql.upper().index(" ON "))  # CREATE [UNIQUE] INDEX "name" ON "table" | (columns)
            head, columns = sql[:cut], sql[cut:]
            if removed and removed in columns:
                continue
            for old_column, new_column in renamed.items():
                columns = columns.replace(old_column, new_column)
            names = [c.strip().strip('"') for c in columns.strip("() ").split(",")]
            if len(names) == 1 and (names[0],) not in declared:
                # A column's own index, which its field decides: the new table's
                # definition already made a unique field's, and an altered field
                # keeps a plain index only while it still asks for one (0008 made
                # idempotency_key no longer unique: its index must not return).
                if head.upper().startswith("CREATE UNIQUE") or not getattr(altered.get(names[0]), "index", True):
                    continue
            await self._run_sql(head + columns)

    _remake_table._kehu_keeps_indexes = True  # type: ignore[attr-defined]
    _remake_table.__wrapped__ = original  # type: ignore[attr-defined]
    SqliteSchemaEditor._remake_table = _remake_table  # type: ignore[method-assign]


def _executor(ctx: TortoiseContext, apps: dict[str, dict[str, Any]]) -> MigrationExecutor:
    install_filter_tables()
    install_sqlite_remake_keeps_indexes()
    return MigrationExecutor(ctx.db(), apps)


async def pending_migrations(ctx: TortoiseContext, apps: dict[str, dict[str, Any]]) -> list[str]:
    """Names (``app.migration``) of migrations not applied yet."""
    plan = await _executor(ctx, apps).plan([MigrationTarget(app_label=label, name="__latest__") for label in apps])
    return [f"{s.migration.app_label}.{s.migration.name}" for s in plan if not s.backward]


async def migrate(
    ctx: TortoiseContext,
    apps: dict[str, dict[str, Any]],
    progress: Callable[[str, str, str], object] | None = None,
) -> list[str]:
    """Apply every pending migration of the enabled apps; returns what was applied."""
    pending = await pending_migrations(ctx, apps)
    if pending:
        await _executor(ctx, apps).migrate(
            [MigrationTarget(app_label=label, name="__latest__") for label in apps],
            progress=progress,
        )
    return pending


async def require_migrated(ctx: TortoiseContext, apps: dict[str, dict[str, Any]]) -> None:
    pending = await pending_migrations(ctx, apps)
    if pending:
        raise MigrationsPending(
            f"the database needs {len(pending)} migration(s) ({', '.join(pending[:3])}"
            f"{'…' if len(pending) > 3 else ''}): run `kehu migrate` (or `kehu serve --migrate`)"
        )


#: The logger Tortoise writes each statement to: ``LoopReads`` writes its own there
#: too, so what counts statements (kehu.testing.QueryCounter, the benchmarks) counts them.
_statements = logging.getLogger("tortoise.db_client")


class LoopReads:
    """Small reads of a SQLite file on the calling thread — the event loop's.

    aiosqlite runs every statement on its connection's own thread: a hand-over
    there and a wake-up back (a queue, a future, the loop's self-pipe) for each.
    For a statement that finds one row through a unique index — the token check
    that every request makes — the hand-over costs several times the read:
    ~200 of a signed-in trivial request's ~420 us of CPU (benchmarks W2). ``rows``
    runs such a read on a connection of the calling thread instead, and holds the
    loop for the read alone (tens of microseconds).

    What it sees is what the pool would see: in WAL mode (which Tortoise turns on)
    a reader never waits for a writer, and each statement outside a transaction
    starts a new read, which sees every commit made before it — on any
    connection, in any process. The connections are opened read-only and do not
    wait: ``rows`` returns None when it cannot answer at once (the database busy,
    not in WAL mode, gone), and the caller asks through the pool as before. For
    point reads only: anything that may scan holds every other request meanwhile.
    """

    def __init__(self, path: str):
        self.path = path
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.closed = False

    @classmethod
    def for_url(cls, database_url: str) -> LoopReads | None:
        """A reader for a SQLite file, or None (PostgreSQL, an in-memory database)."""
        path = sqlite_file(database_url)
        return None if path is None else cls(path)

    def _connection(self) -> sqlite3.Connection | None:
        """This thread's connection: opened on first use, or False for good when it
        cannot be (the file is gone, or not in WAL mode, where a reader can wait)."""
        if self.closed:
            return None
        connection: Any = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._open() or False
        return connection or None

    def _open(self) -> sqlite3.Connection | None:
        try:
            connection = sqlite3.connect(
                f"file:{urllib.parse.quote(self.path)}?mode=ro",
                uri=True,
                timeout=0,
                isolation_level=None,
                check_same_thread=False,
            )
            if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                connection.close()
                return None
        except sqlite3.Error:
            return None
        with self._lock:
            self._opened.append(connection)
        return connection

    def rows(self, sql: str, params: list[Any]) -> list[dict[str, Any]] | None:
        """The rows of ``sql`` as Tortoise's ``execute_query_dict`` gives them, or
        None when this reader cannot answer at once."""
        connection = self._connection()
        if connection is None:
            return None
        try:
            cursor = connection.execute(sql, params)
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, row)) for row in cursor.fetchall()]
        except sqlite3.Error:
            return None  # the pool runs it, and logs it, instead
        _statements.debug("%s: %s", sql, params)
        return rows

    def close(self) -> None:
        self.closed = True
        with self._lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.close()
