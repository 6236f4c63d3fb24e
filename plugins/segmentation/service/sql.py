"""The few SQL spots where SQLite and PostgreSQL differ, and the plugin's table names."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tortoise.connection import connections

from kehu.clock import BusinessCalendar

STAGING = "segmentation_staging"
CLASSIFICATION = "segmentation_classification"
CHANGE = "segmentation_change"
MEMBERSHIP = "segmentation_membership"
CLV_CELL = "segmentation_clv_cell"

EPOCH = dt.date(1970, 1, 1)
# Added before an integer division by 86,400 so that it floors for times before
# 1970 too (SQLite truncates towards zero): 365,250 days, back to the year 970.
_DAY_SHIFT = 365_250


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

    def ts_param(self, moment: dt.datetime, params: Params) -> str:
        """``moment`` as a query parameter of ``params``. For times that change with
        every statement (now): a literal would make each statement's text new, and
        both drivers parse and plan new text again, where they reuse the prepared
        statement of text they saw before."""
        if self.postgres:
            return f"CAST({params.add(moment)} AS TIMESTAMPTZ)"
        return params.add(moment.astimezone(dt.UTC).isoformat(" "))

    def date(self, day: dt.date) -> str:
        return f"DATE '{day.isoformat()}'" if self.postgres else f"'{day.isoformat()}'"

    def local_day(self, column: str, calendar: BusinessCalendar, offsets: list[tuple[dt.datetime, int]]) -> str:
        """The calendar date of the time ``column`` in the business time zone, as a
        day number (days since 1970-01-01). PostgreSQL knows the zone itself;
        SQLite adds the zone's UTC offset, which ``offsets`` (from
        ``calendar.utc_offsets`` over the span of the data) give by period."""
        if self.postgres:
            zone = text_literal(calendar.name)
            return f"(CAST(({column}) AT TIME ZONE {zone} AS DATE) - DATE '1970-01-01')"
        offset = str(offsets[0][1])
        if len(offsets) > 1:  # newest first: most rows are recent
            whens = " ".join(f"WHEN ({column}) >= {self.ts(at)} THEN {value}" for at, value in reversed(offsets[1:]))
            offset = f"(CASE {whens} ELSE {offsets[0][1]} END)"
        seconds = f"CAST(strftime('%s', {column}) AS INTEGER)"
        return f"(({seconds} + {offset} + {_DAY_SHIFT * 86400}) / 86400 - {_DAY_SHIFT})"

    def greatest(self, a: str, b: str) -> str:
        return f"GREATEST({a}, {b})" if self.postgres else f"MAX({a}, {b})"

    def least(self, a: str, b: str) -> str:
        return f"LEAST({a}, {b})" if self.postgres else f"MIN({a}, {b})"

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


@dataclass(frozen=True)
class IdSet:
    """The customers one step of the pipeline works on, not a range: the re-scores
    asked for at once (``recompute_customer``)."""

    ids: tuple[int, ...]

    def on(self, column: str, params: Params) -> str:
        """The condition on ``column`` (a customer id), each id a parameter."""
        return f"{column} IN ({', '.join(params.add(int(i)) for i in self.ids)})"


#: What a pipeline step is given: a range of ids (a full run's batch) or a set.
Customers = IdRange | IdSet


async def _exec(conn, sql: str, params: list | None = None) -> None:
    await conn.execute_query(sql, params or None)
