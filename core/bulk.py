"""Writing rows in bulk, at the speed of the database rather than of the ORM.

For imports and for plugins that rebuild their own data after a bulk load
(``kehu_bulk_loaded``): a batch of thousands of rows goes in as one statement
stream: SQLite gets one prepared
``INSERT`` run for every row (``executemany``), PostgreSQL gets ``COPY``, its bulk
path. Building a Tortoise model instance per row would cost more than the insert
itself (measured: a third of an import's time went to it).

Values must be what the database stores: times as aware UTC ``datetime``, JSON as
text (``encode_json``), enums as their value, money as ``Decimal``. Everything
here runs inside the caller's transaction (``write_scope``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import orjson
from tortoise import fields as tortoise_fields
from tortoise import timezone as tortoise_timezone
from tortoise.fields.data import JSON_DUMPS, CharEnumFieldInstance, IntEnumFieldInstance
from tortoise.models import Model

encode_json = JSON_DUMPS  # what Tortoise's JSONField writes, so reads see no difference


def _db(model: type[Model]):
    return model._meta.db  # the current transaction's connection inside in_transaction()


def is_postgres(model: type[Model]) -> bool:
    """Whether ``model``'s database is PostgreSQL (rather than SQLite)."""
    return _db(model).capabilities.dialect == "postgres"


def _asyncpg_connection(db: Any) -> Any:
    """The asyncpg connection under Tortoise's transaction wrapper (a private
    attribute: ``TransactionWrapper._connection``), or None, in which case the
    caller falls back to ``executemany`` — slower, never wrong."""
    connection = getattr(db, "_connection", None)
    return connection if hasattr(connection, "copy_records_to_table") else None


async def _copy(connection: Any, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
    """``COPY`` through asyncpg, its errors as Tortoise's (as the ORM's own
    statements raise them), so callers handle one kind of database error."""
    import asyncpg
    from tortoise.exceptions import IntegrityError, OperationalError

    try:
        await connection.copy_records_to_table(table, records=rows, columns=list(columns))
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(exc) from exc
    except (asyncpg.PostgresError, asyncpg.DataError) as exc:
        raise OperationalError(exc) from exc


# A bulk load's SQLite settings (see ``bulk_session``): the page cache, in KiB
# when negative, as PRAGMA cache_size takes it.
BULK_CACHE_KIB = 64 * 1024


@asynccontextmanager
async def bulk_session(model: type[Model]) -> AsyncIterator[None]:
    """Settings for a bulk load on SQLite, restored afterwards (the connection is
    the process's one; other requests of this process share them meanwhile):

    * ``synchronous = NORMAL`` (in WAL mode only): a commit appends to the WAL
      without waiting for the disk; the disk catches up at checkpoints. A killed
      process loses nothing committed; a power failure may lose the last commits —
      each whole, never half a batch, never a corrupt file — and an import run
      again writes what is missing.
    * a larger page cache (``BULK_CACHE_KIB``, fixed whatever the file's size):
      each row goes into the table and several indexes at scattered places, and
      with SQLite's default 2 MB the index pages go back and forth to the OS.

    Indexes, foreign keys and constraints stay as they are. Measured (1M
    interactions, six indexes): ~45 µs of CPU per inserted row with the defaults,
    ~26 µs with these. PostgreSQL: nothing to change; ``COPY`` is its bulk path.
    """
    db = model._meta.db
    if db.capabilities.dialect != "sqlite":
        yield
        return

    async def pragma(name: str) -> Any:
        return (await db.execute_query(f"PRAGMA {name}"))[1][0][0]

    journal, synchronous, cache = (
        await pragma("journal_mode"),
        await pragma("synchronous"),
        int(await pragma("cache_size")),
    )
    changes: list[tuple[str, Any, Any]] = []  # (pragma, value for the load, value to restore)
    if str(journal).lower() == "wal" and int(synchronous) > 1:  # 2 FULL, 3 EXTRA
        changes.append(("synchronous", "NORMAL", synchronous))
    cache_kib = -cache if cache < 0 else cache * int(await pragma("page_size")) // 1024  # KiB, or pages
    if cache_kib < BULK_CACHE_KIB:
        changes.append(("cache_size", -BULK_CACHE_KIB, cache))
    for name, value, _ in changes:
        await db.execute_query(f"PRAGMA {name} = {value}")
    try:
        yield
    finally:
        for name, _, old in reversed(changes):
            await db.execute_query(f"PRAGMA {name} = {old}")


async def bulk_transaction(model: type[Model]) -> None:
    """Call first inside each transaction of a bulk load. PostgreSQL, for this
    transaction only (``SET LOCAL``):

    * ``plan_cache_mode = force_custom_plan``: a load runs the same lookups
      (``select_in``) batch after batch while the table grows from nothing.
      asyncpg prepares each statement once, and after five runs PostgreSQL may
      keep a generic plan made when the table was empty — a sequential scan,
      each row checked against 900 keys: measured 0.3 s a lookup by the
      20,000th row, against 1 ms through the index.
    * ``synchronous_commit = off``: the commit returns before its WAL reaches
      the disk (as SQLite's ``synchronous = NORMAL`` in ``bulk_session``): a
      server crash may lose the last commits, each whole; nothing is corrupted,
      and an import run again writes what is missing.

    SQLite: nothing (``bulk_session`` set the connection up)."""
    db = model._meta.db
    if db.capabilities.dialect == "postgres":
        await db.execute_script("SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL synchronous_commit = off")


async def analyze(*models: type[Model]) -> None:
    """PostgreSQL: refresh the planner's statistics of tables a load has just
    filled (``ANALYZE``), before anything queries them at scale — the plugins'
    after-load work plans its joins on them (measured: segmentation's recompute of
    100,000 imported customers 7.9 s before, 6.3 s after, for 0.4 s of
    ``ANALYZE``). Autovacuum would get there, but later. SQLite: nothing."""
    if models and is_postgres(models[0]):
        await _db(models[0]).execute_script("; ".join(f'ANALYZE "{m._meta.db_table}"' for m in models))


async def reserve_ids(model: type[Model], count: int) -> list[int]:
    """PostgreSQL: ``count`` keys from the table's sequence, safe with concurrent writers."""
    db = _db(model)
    table, pk = model._meta.db_table, model._meta.db_pk_column
    rows = await db.execute_query_dict(
        f"SELECT nextval(pg_get_serial_sequence('{table}', '{pk}')) AS id FROM generate_series(1, $1)", [count]
    )
    return sorted(int(r["id"]) for r in rows)


async def insert_rows(
    model: type[Model], columns: Sequence[str], rows: list[tuple], *, with_ids: bool = False
) -> list[int] | None:
    """Insert ``rows`` (tuples in the order of ``columns``) into ``model``'s table.

    With ``with_ids``, return the new rows' primary keys in row order. PostgreSQL:
    the keys are reserved from the sequence first and written with the rows.
    SQLite: insert, then read the newest key back; the rows have the ``n`` keys
    up to it — sound because the transaction holds SQLite's write lock from its
    first insert to its commit, so no other row can slip in between, and one
    ``executemany`` numbers its rows one after another.
    """
    if not rows:
        return [] if with_ids else None
    db = _db(model)
    table, pk = model._meta.db_table, model._meta.db_pk_column
    if db.capabilities.dialect == "postgres":
        ids = None
        if with_ids:
            ids = await reserve_ids(model, len(rows))
            columns = (pk, *columns)
            rows = [(key, *row) for key, row in zip(ids, rows)]
        connection = _asyncpg_connection(db)
        if connection is not None:
            await _copy(connection, table, columns, rows)
        else:
            marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
            names = ", ".join(f'"{c}"' for c in columns)
            await db.execute_many(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)
        return ids
    names = ", ".join(f'"{c}"' for c in columns)
    payload = json_rows(rows)
    if payload is not None:
        cells = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(columns)))
        sql = f'INSERT INTO "{table}" ({names}) SELECT {cells} FROM json_each(?) ORDER BY key'
        await db.execute_query(sql, [payload])
    else:
        marks = ", ".join("?" for _ in columns)
        await db.execute_many(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)
    if not with_ids:
        return None
    last = int((await db.execute_query_dict(f'SELECT MAX("{pk}") AS id FROM "{table}"'))[0]["id"])
    return list(range(last - len(rows) + 1, last + 1))


# SQLite: from this many rows on, an insert sends them as one JSON text.
JSON_ROWS = 64


def json_rows(rows: list[tuple]) -> str | None:
    """SQLite: ``rows`` as one JSON array, for ``INSERT … SELECT … FROM
    json_each(?)`` — or None, to use ``executemany``.

    Why: the sqlite3 module's ``executemany`` binds each row's values holding the
    GIL and lets go of it only while the row is stepped, so while Python works in
    the main thread (reading and checking the next batch, replaying loyalty) the
    database's thread waits for the GIL at every row: measured, 100,000 rows took
    3.5× as long beside a busy main thread. One statement with one text parameter
    runs to its end without the GIL. The values are encoded as the sqlite3
    adapters Tortoise registers would bind them (times with ``isoformat(" ")``,
    ``Decimal`` as text), so the stored values are the same, and ``ORDER BY key``
    keeps the rows' order, so new ids follow it as with ``executemany``.
    SQLite extracts the values at ~2 µs a row more CPU — in its own thread.
    """
    if len(rows) < JSON_ROWS or not _sqlite_has_json():
        return None
    try:
        return orjson.dumps(rows, default=_sqlite_value, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()
    except TypeError:  # a value JSON cannot carry as SQLite would store it: executemany does
        return None


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


@functools.cache
def _sqlite_has_json() -> bool:
    """The SQLite library this Python links has the JSON functions (built in since
    3.38; an option before) and ``UPDATE … FROM`` (3.33)."""
    import sqlite3

    if sqlite3.sqlite_version_info < (3, 33):
        return False
    try:
        with contextlib.closing(sqlite3.connect(":memory:")) as connection:
            connection.execute("SELECT json_extract('[1]', '$[0]') FROM json_each('[1]')")
    except sqlite3.Error:
        return False
    return True


async def update_rows(model: type[Model], columns: Sequence[str], rows: list[tuple]) -> None:
    """``UPDATE … SET columns WHERE pk = ?`` for each row: ``(*values, pk)``."""
    if not rows:
        return
    db = _db(model)
    table, pk = model._meta.db_table, model._meta.db_pk_column
    if db.capabilities.dialect == "postgres":
        sets = ", ".join(f'"{c}" = ${i}' for i, c in enumerate(columns, start=1))
        where = f'"{pk}" = ${len(columns) + 1}'
    else:
        sets = ", ".join(f'"{c}" = ?' for c in columns)
        where = f'"{pk}" = ?'
    await db.execute_many(f'UPDATE "{table}" SET {sets} WHERE {where}', rows)


def placeholders(model: type[Model], count: int, start: int = 1) -> str:
    """``?, ?, ?`` (SQLite) or ``$1, $2, $3`` (PostgreSQL)."""
    if is_postgres(model):
        return ", ".join(f"${i}" for i in range(start, start + count))
    return ", ".join("?" for _ in range(count))


# SQLite builds may cap a statement at 999 parameters.
_IN_CHUNK = 900


#: SQLite: per connection, the index ``select_in`` names for each (table, key column).
_sqlite_key_indexes: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], str]] = weakref.WeakKeyDictionary()


async def _sqlite_index_hint(db: Any, table: str, key: str) -> str:
    """`` INDEXED BY "name"`` for an index of ``table`` that starts with ``key``, or "".

    Once ``ANALYZE`` (or ``PRAGMA optimize``, as SQLite advises) has run, SQLite's
    statistics count the NULLs of a mostly empty unique column as one key that
    matches every row: ``sqlite_stat1`` says "10000000 10000000" for the
    interactions' ``external_id`` when few interactions have one. An ``IN`` list on
    that column is then planned as a scan of the table (``=`` is not: a unique
    index gives one row), measured at 1.2 s per 900 keys against 10,000,000
    interactions, 2 ms through the index; an import's duplicate check did that
    for every batch. An ``IN`` list of at most ``_IN_CHUNK`` keys is always served
    best by an index on the key, so the statement names it. Looked up once per
    connection (a new database file is a new connection)."""
    connection = getattr(db, "_connection", None)
    if connection is None:
        return ""
    known = _sqlite_key_indexes.setdefault(connection, {})
    hint = known.get((table, key))
    if hint is None:
        rows = await db.execute_query_dict(
            "SELECT l.name AS name FROM pragma_index_list(?) AS l, pragma_index_info(l.name) AS i"
            ' WHERE i.seqno = 0 AND i.name = ? AND l.partial = 0 ORDER BY l."unique" DESC, l.name LIMIT 1',
            [table, key],
        )
        name = rows[0]["name"] if rows else None
        hint = known[(table, key)] = f' INDEXED BY "{name}"' if name else ""
    return hint


async def select_in(
    model: type[Model], columns: Sequence[str], key: str, values: Sequence[Any], *, where: str | None = None
) -> list[dict]:
    """``SELECT columns FROM table WHERE key IN (values) [AND where]`` in chunks, as
    plain SQL: building a 5,000-value ``IN`` through the ORM's query builder costs
    more than running it. Values come back converted by the model's fields (times
    as ``datetime``, JSON decoded). ``where`` is SQL text of your own, never input."""
    if not values:
        return []
    db = _db(model)
    table = model._meta.db_table
    convert = _converters(model, tuple(columns))
    names = ", ".join(f'"{c}"' for c in columns)
    source = f'"{table}"' if is_postgres(model) else f'"{table}"{await _sqlite_index_hint(db, table, key)}'
    out: list[dict] = []
    values = list(values)
    for start in range(0, len(values), _IN_CHUNK):
        chunk = values[start : start + _IN_CHUNK]
        sql = f'SELECT {names} FROM {source} WHERE "{key}" IN ({placeholders(model, len(chunk))})'
        if where:
            sql += f" AND {where}"
        for row in await db.execute_query_dict(sql, chunk):
            for column, converter in convert:
                if row[column] is not None:
                    row[column] = converter(row[column])
            out.append(row)
    return out


@functools.lru_cache(maxsize=256)
def _converters(model: type[Model], columns: tuple[str, ...]) -> list[tuple[str, Callable[[Any], Any]]]:
    """``(column, its field's to_python_value)`` for the columns that have a field
    (column names are field names in kehu's models), with the row builders'
    faster equivalents for timestamps and enums (``field_converter``)."""
    fields = model._meta.fields_map
    return [(column, field_converter(fields[column])) for column in columns if column in fields]


# --------------------------------------------------------------------------- values read -> Python


def _datetime_converter(field: Any) -> Callable[[Any], Any]:
    """Tortoise's ``DatetimeField.to_python_value`` with its settings read once:
    it looks ``USE_TZ`` and the time zone up in ``os.environ`` for every value.

    One difference: a value read in UTC keeps ``datetime.UTC`` as its time zone
    (as kehu's clock and validation make them) where Tortoise converts it to
    ``ZoneInfo("UTC")`` — the same instant, offset and ISO text, without a
    conversion per value (~0.4 us, and a page of 100 customers reads ~1,700
    timestamps). kehu always configures Tortoise for UTC
    (``kehu.server.db.tortoise_config``)."""
    from tortoise.fields.data import parse_datetime  # ciso8601 when installed, as Tortoise chose

    use_tz = tortoise_timezone.get_use_tz()
    zone = tortoise_timezone.get_default_timezone()
    utc = use_tz and str(zone) in ("UTC", "Etc/UTC")
    overrides = field.__dict__

    def convert(value: Any) -> Any:
        if value is None:
            return None
        if "to_python_value" in overrides:
            return field.to_python_value(value)
        if value.__class__ is str:
            value = parse_datetime(value)
        elif value.__class__ is not dt.datetime:  # PostgreSQL's values are datetimes already
            return field.to_python_value(value)
        if value.tzinfo is dt.UTC and utc:
            return value
        if use_tz:
            return value.astimezone(zone) if value.tzinfo is not None else field.to_python_value(value)
        return value.replace(tzinfo=None) if value.tzinfo is not None else value

    return convert


def _enum_converter(field: Any) -> Callable[[Any], Any]:
    members = {member.value: member for member in field.enum_type}
    overrides = field.__dict__

    def convert(value: Any) -> Any:
        member = members.get(value)
        if member is None or "to_python_value" in overrides:
            return field.to_python_value(value)
        return member

    return convert


def field_converter(field: Any) -> Callable[[Any], Any]:
    """A faster equivalent of ``field.to_python_value`` where there is one (the row
    builders of ``kehu.server.db`` and ``select_in`` use it).
    Each defers to the field's own method once a plugin has replaced it on the
    field (the masking plugin decrypts columns that way)."""
    if type(field) is tortoise_fields.DatetimeField:
        return _datetime_converter(field)
    if type(field) in (CharEnumFieldInstance, IntEnumFieldInstance):
        return _enum_converter(field)
    return lambda value: field.to_python_value(value)
