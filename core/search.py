"""The customer search through an index: the same customers as the plain search
(``kehu.customers.search_conditions``), found without reading every customer.

The plain search is an OR of conditions on ``kehu_customer`` — ``LIKE '%term%'`` on
the personal columns and their normalised keys, exact lookups of keys, the masking
plugin's blind index — and a ``LIKE`` with a leading ``%`` reads every row. Here each
condition gets an index that can serve it, and the search becomes::

    id IN (<ids from the index for condition 1> UNION … UNION <for condition n>)
    AND (condition 1 OR … OR condition n)

The first part finds the candidates through the indexes; the second is the plain
search itself, evaluated on those few rows only, so the result is the plain search's
by construction even where an index finds a little more (SQLite's trigram index folds
letter case beyond ASCII, ``LIKE`` does not).

The indexes (core migrations 0011 and 0012):

* SQLite: ``kehu_customer_search``, an FTS5 table with the ``trigram`` tokenizer over
  ``SEARCHED_COLUMNS``, reading its content from ``kehu_customer`` and kept in step by
  triggers — every write, whichever path it takes, updates it in its own transaction.
* PostgreSQL: ``pg_trgm`` GIN indexes on the very expressions Tortoise writes for the
  conditions (``UPPER(CAST(name AS VARCHAR)) LIKE …``), maintained by PostgreSQL.

A trigram index cannot find a substring of fewer than three characters (张伟, ``zw``):
a term with such a condition is searched the plain way, reading every row. So is every
term when the index is missing (``pg_trgm`` not available; see the migration).

Encrypted columns (the masking plugin) hold ciphertext, so only ciphertext reaches an
index; their conditions are exact lookups through the plugin's blind index. Clear
values written before a column was encrypted leave no trace in the SQLite index once
``compact`` has run (the plugin runs it after encrypting).
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any

from pypika_tortoise.terms import Term
from tortoise.expressions import Q, Subquery

from .models import Customer

log = logging.getLogger(__name__)

FTS_TABLE = "kehu_customer_search"
# The columns whose substrings are searched (kehu.customers.search_conditions).
SEARCHED_COLUMNS = ("name", "email", "phone", "name_pinyin", "name_initials", "phone_key", "email_key")
# Lookups that are a LIKE with a leading wildcard, or a prefix: what a trigram index serves.
_LIKE_LOOKUPS = ("icontains", "contains", "startswith")
MIN_CHARS = 3  # a trigram index finds substrings of three characters or more

_COLS = ", ".join(SEARCHED_COLUMNS)
_NEW = ", ".join(f"new.{c}" for c in SEARCHED_COLUMNS)
_OLD = ", ".join(f"old.{c}" for c in SEARCHED_COLUMNS)
SQLITE_SCHEMA = f"""
CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(
    {_COLS}, content='kehu_customer', content_rowid='id', tokenize='trigram case_sensitive 0', detail=none
);
CREATE TRIGGER {FTS_TABLE}_insert AFTER INSERT ON kehu_customer BEGIN
    INSERT INTO {FTS_TABLE}(rowid, {_COLS}) VALUES (new.id, {_NEW});
END;
CREATE TRIGGER {FTS_TABLE}_delete AFTER DELETE ON kehu_customer BEGIN
    INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {_COLS}) VALUES ('delete', old.id, {_OLD});
END;
CREATE TRIGGER {FTS_TABLE}_update AFTER UPDATE OF {_COLS} ON kehu_customer BEGIN
    INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {_COLS}) VALUES ('delete', old.id, {_OLD});
    INSERT INTO {FTS_TABLE}(rowid, {_COLS}) VALUES (new.id, {_NEW});
END;
INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild');
"""
SQLITE_DROP = f"""
DROP TRIGGER IF EXISTS {FTS_TABLE}_insert;
DROP TRIGGER IF EXISTS {FTS_TABLE}_delete;
DROP TRIGGER IF EXISTS {FTS_TABLE}_update;
DROP TABLE IF EXISTS {FTS_TABLE};
"""

# The btree indexes of the normalised keys that migration 0010 declared
# (``db_index=True``) but Tortoise's AddField does not create: the exact lookups of the
# search (and the duplicate checks) read every row without them.
KEY_INDEXES = "".join(
    f"CREATE INDEX IF NOT EXISTS kehu_customer_{column}_idx ON kehu_customer ({column});\n"
    for column in ("email_key", "phone_key", "name_key", "name_pinyin")
)
KEY_INDEXES_DROP = "".join(
    f"DROP INDEX IF EXISTS kehu_customer_{column}_idx;\n"
    for column in ("email_key", "phone_key", "name_key", "name_pinyin")
)

# PostgreSQL: one GIN index per expression a LIKE condition of the search compares,
# written as Tortoise writes it (kehu.customers.search_conditions; tortoise.filters:
# icontains is UPPER(CAST(col AS VARCHAR)) LIKE UPPER(…), contains and startswith
# CAST(col AS VARCHAR) LIKE …). The planner uses an index only for its exact expression
# — but it sees through a CAST to the column's own type: a GIN index on
# CAST("phone_key" AS VARCHAR) also served ``phone_key IN (…)``, the exact lookups of
# imports and duplicate checks, and chose it over the btree: phone numbers share most
# of their trigrams, so each key walked long posting lists (5.6–7 s per 900 keys at
# 100,000 customers, against 7–12 ms on the btree). The indexes of the two key
# columns that also have exact lookups (``phone_key``; ``name_pinyin``, looked up by
# the duplicate check) are therefore on UPPER(…), which their searches compare
# (``icontains``: digits and pinyin have no letter case to fold) and an exact lookup
# never does. No trigram index may be one a key column's plain equality matches
# (tests/test_search_index.py checks).
POSTGRES_INDEXES = {
    "kehu_customer_search_name": 'UPPER(CAST("name" AS VARCHAR))',
    "kehu_customer_search_email": 'UPPER(CAST("email" AS VARCHAR))',
    "kehu_customer_search_phone": 'UPPER(CAST("phone" AS VARCHAR))',
    "kehu_customer_search_pinyin_upper": 'UPPER(CAST("name_pinyin" AS VARCHAR))',
    "kehu_customer_search_name_initials": 'CAST("name_initials" AS VARCHAR)',
    "kehu_customer_search_phone_digits": 'UPPER(CAST("phone_key" AS VARCHAR))',
}
# Before migration 0012 (see above): the indexes it replaces, and by which.
POSTGRES_REPLACED_INDEXES = {
    "kehu_customer_search_name_pinyin": ('CAST("name_pinyin" AS VARCHAR)', "kehu_customer_search_pinyin_upper"),
    "kehu_customer_search_phone_key": ('CAST("phone_key" AS VARCHAR)', "kehu_customer_search_phone_digits"),
}
POSTGRES_DROP = "".join(f"DROP INDEX IF EXISTS {name};\n" for name in POSTGRES_INDEXES)


class IndexKind(Enum):
    FTS5 = "fts5"  # SQLite
    TRIGRAM = "pg_trgm"  # PostgreSQL


async def create_postgres_indexes(client: Any) -> bool:
    """Create ``pg_trgm`` (if it is not there) and the search's GIN indexes on
    PostgreSQL; ``False``, with a warning logged and nothing changed, when the
    extension is not available to this database or this role."""
    available = await client.execute_query_dict(
        "SELECT installed_version FROM pg_available_extensions WHERE name = 'pg_trgm'"
    )
    if not available:
        log.warning("pg_trgm is not available on this PostgreSQL server: the customer search reads every row")
        return False
    if available[0]["installed_version"] is None:
        # In a savepoint: a refusal (the role may not create extensions) must not
        # abort the migration's transaction.
        await client.execute_script("SAVEPOINT kehu_pg_trgm")
        try:
            await client.execute_script("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except Exception as exc:  # noqa: BLE001 - any refusal means: no index, plain search
            await client.execute_script("ROLLBACK TO SAVEPOINT kehu_pg_trgm")
            log.warning("cannot create pg_trgm (%s): the customer search reads every row", exc)
            return False
        await client.execute_script("RELEASE SAVEPOINT kehu_pg_trgm")
    for name, expression in POSTGRES_INDEXES.items():
        await client.execute_script(trigram_index_sql(name, expression))
    return True


def trigram_index_sql(name: str, expression: str) -> str:
    """``CREATE INDEX IF NOT EXISTS`` of one of the search's GIN indexes (pg_trgm)."""
    return f"CREATE INDEX IF NOT EXISTS {name} ON kehu_customer USING gin (({expression}) gin_trgm_ops)"


async def index_kind(client: Any) -> IndexKind | None:
    """Which search index the database has (``None``: none, search the plain way)."""
    dialect = client.capabilities.dialect
    if dialect == "sqlite":
        rows = await client.execute_query_dict(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", [FTS_TABLE]
        )
        return IndexKind.FTS5 if rows else None
    if dialect == "postgres":
        rows = await client.execute_query_dict(
            "SELECT count(*) AS n FROM pg_indexes WHERE tablename = 'kehu_customer' AND indexname = ANY($1::text[])",
            [list(POSTGRES_INDEXES)],
        )
        return IndexKind.TRIGRAM if rows and rows[0]["n"] == len(POSTGRES_INDEXES) else None
    return None


async def compact(client: Any) -> None:
    """Rewrite the SQLite index without the entries of values since replaced (an
    FTS5 deletion only marks them until segments merge): run after clear values
    were overwritten with ciphertext. Nothing to do on PostgreSQL (VACUUM)."""
    if await index_kind(client) is IndexKind.FTS5:
        await client.execute_script(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')")


class _AnyOf(Term):
    """``SELECT … UNION SELECT …``: the ids any of the parts finds (for ``id__in``)."""

    def __init__(self, parts: list[Any]) -> None:
        super().__init__()
        self.parts = parts

    def get_sql(self, ctx: Any) -> str:
        inner = ctx.copy(subquery=False)  # SQLite takes no parentheses around a UNION's parts
        return "(" + " UNION ".join(p if isinstance(p, str) else Subquery(p).get_sql(inner) for p in self.parts) + ")"


def _trigrams(value: str) -> list[str]:
    """Trigrams of ``value`` that cover it: every third one and the last. A row
    holding ``value`` holds them all; the plain conditions drop the few rows that
    hold them apart."""
    starts = sorted({*range(0, len(value) - 2, 3), len(value) - 3})
    return list(dict.fromkeys(value[i : i + 3] for i in starts))


def _fts_query(values: list[str]) -> str:
    """``SELECT rowid …`` of the rows holding the trigrams of any of ``values``.

    The index stores rowids only (``detail=none``: a fraction of the size, and a
    trigram's postings read fast — digits and pinyin have few distinct trigrams, so
    each is held by many rows), hence no phrases and no column filters: an AND of
    trigrams finds a superset, which the plain conditions narrow."""
    groups = []
    for value in dict.fromkeys(values):
        tokens = " AND ".join('"' + t.replace('"', '""') + '"' for t in _trigrams(value))
        groups.append(f"({tokens})")
    literal = "'" + " OR ".join(groups).replace("'", "''") + "'"
    return f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH {literal}"


def _substring(condition: Any) -> tuple[str, Any] | None:
    """``(column, value)`` when ``condition`` is a ``LIKE`` on one searched column."""
    if not isinstance(condition, Q) or condition.children or len(condition.filters) != 1:
        return None
    ((key, value),) = condition.filters.items()
    column, _, lookup = key.partition("__")
    return (column, value) if lookup in _LIKE_LOOKUPS and column in SEARCHED_COLUMNS else None


def indexed_condition(kind: IndexKind | None, conditions: list[Any]) -> Any:
    """``conditions`` (OR-ed) as a condition an index serves, or ``None`` when the
    plain OR must do (no index; a substring too short for one)."""
    if kind is None or not conditions:
        return None
    # Each condition an index serves becomes a query of candidate ids — on
    # PostgreSQL too, not the plain OR of the conditions it could BitmapOr itself:
    # given the OR, ``ORDER BY id DESC LIMIT 20`` tempts the planner into walking
    # the primary key backwards and testing every row until 20 match, which for a
    # rare term (a person's name) reads most of the table — measured at 100,000
    # customers: 93 ms that way, 4 ms through the candidates.
    parts: list[Any] = []  # queries of ids: the candidates
    values: list[str] = []  # substrings for the FTS5 table
    for condition in conditions:
        substring = _substring(condition)
        if substring is not None:
            if not isinstance(substring[1], str) or len(substring[1]) < MIN_CHARS:
                return None  # a trigram index cannot find it
            if kind is IndexKind.FTS5:
                values.append(substring[1])
                continue
        # a substring (PostgreSQL's trigram index), an exact lookup of a key (its
        # btree index) or a subquery (the masking plugin's blind index)
        parts.append(Customer.filter(condition).values("id"))
    if values:
        parts.append(_fts_query(values))
    return Q(Q(id__in=_AnyOf(parts)), Q(*conditions, join_type=Q.OR))
