"""The few SQL spots where SQLite and PostgreSQL differ, and the plugin's table names."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tortoise.connection import connections

STAGING = "segmentation_staging"
CLASSIFICATION = "segmentation_classification"
CHANGE = "segmentation_change"
MEMBERSHIP = "segmentation_membership"


class Dialect:
    """The few spots where SQLite and PostgreSQL differ. Only values we produce
    ourselves (numbers, our timestamps, validated setting names) are written into
    SQL as literals; user input always travels as query parameters (rule trees
    compile through Tortoise)."""

    def __init__(self) -> None:
        self.name = connections.get("default").capabilities.dialect
        self.postgres = self.name == "postgres"

    def ts(self, moment: dt.datetime) -> str:
        text = moment.astimezone(dt.UTC).isoformat(" ")
        return f"TIMESTAMPTZ '{text}'" if self.postgres else f"'{text}'"

    def days_since(self, now: dt.datetime, column: str) -> str:
        if self.postgres:
            return f"CAST(FLOOR(EXTRACT(EPOCH FROM ({self.ts(now)} - {column})) / 86400) AS INTEGER)"
        return f"CAST(julianday({self.ts(now)}) - julianday({column}) AS INTEGER)"

    def cents(self, column: str) -> str:
        # SQLite stores decimals as text: ×100 then ROUND gives exact cents.
        return f"CAST(ROUND({column} * 100) AS {'BIGINT' if self.postgres else 'INTEGER'})"

    def integer(self) -> str:
        return "BIGINT" if self.postgres else "INTEGER"


def text_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in_list(values) -> str:
    return "(" + ", ".join(text_literal(str(getattr(v, "value", v))) for v in values) + ")"


class Params(list):
    """A statement's query parameters, in the order the statement names them:
    ``add(value)`` appends one and returns its placeholder (``?`` on SQLite, ``$n``
    on PostgreSQL)."""

    def __init__(self, d: Dialect):
        super().__init__()
        self.numbered = d.postgres

    def add(self, value: Any) -> str:
        self.append(value)
        return f"${len(self)}" if self.numbered else "?"


@dataclass(frozen=True)
class IdRange:
    """The customers one step of the pipeline works on: ids ``first`` to ``last``
    (one customer: both the same)."""

    first: int
    last: int

    def on(self, column: str, params: Params) -> str:
        """The condition on ``column`` (a customer id), its bounds as parameters."""
        return f"{column} BETWEEN {params.add(int(self.first))} AND {params.add(int(self.last))}"


async def _exec(conn, sql: str, params: list | None = None) -> None:
    await conn.execute_query(sql, params or None)
