"""Import and export of customers: CSV, JSON Lines and XLSX, streamed both ways.

Exports carry the import columns (``COLUMNS``), kehu's ``id`` included, so an
export imports again — as updates of the same customers with
``on_conflict="update"``, never as duplicates. Imports read the file row by row
(``kehu.cli.sources``: encodings, delimiters, broken lines) and never hold more
than one batch in memory. Every row is checked with ``clean_customer_fields`` —
the rules of the GraphQL API — before anything is written; a bad row is reported
with its line number, the field, a code and the reason, and never reaches the
database. Good rows are written in batches, each batch one ``write_scope`` (one
transaction, one audit entry), so a long import does not hold SQLite's single
write lock for its whole duration and the API keeps answering.

A customer is matched by ``external_id`` (the id other systems know it by) or,
without one, by kehu's ``id``. ``on_conflict`` says what a row that matches an
existing customer does: ``error`` (report it), ``skip``, or ``update`` (set the
columns the file has). A row equal to the customer it matches changes nothing and
is counted as unchanged in every mode, so running an import twice writes nothing
the second time.

No command-line code here: ``kehu import customers`` / ``kehu export customers``
call these functions; ``kehu.cli.history`` imports interactions.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import io
import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO, cast

from tortoise.exceptions import BaseORMException
from tortoise.models import Model

from .. import bulk, csvsafe, duplicates, matching
from .. import validation as v
from ..access import Viewer
from ..customers import CUSTOMER_RULES, CustomerFilter, clean_customer_fields, filter_customers
from ..errors import PermissionDenied, ValidationError
from ..ids import BadRequest, from_global_id, to_global_id
from ..models import AccountOwner, Customer, CustomerKind, CustomerTag, DuplicateSource, Interaction, Role
from ..writes import write_scope
from .sources import RowError, Source, open_source, parse_json

if TYPE_CHECKING:
    from ..server.runtime import Kehu
    from .history import InteractionImporter

__all__ = ["COLUMNS", "ImportReport", "RowError", "export_customers", "import_customers"]

COLUMNS = (
    "id",
    "external_id",
    "name",
    "kind",
    "email",
    "phone",
    "address",
    "region",
    "industry",
    "tags",
    "owner_email",
    "attributes",
    "created_at",
)
FORMATS = ("csv", "jsonl")
# A customer's interactions in JSON Lines: the interaction columns less the customer's.
NESTED_INTERACTION_COLUMNS = (
    "external_id",
    "kind",
    "occurred_at",
    "direction",
    "amount",
    "subject",
    "notes",
    "owner_email",
    "next_follow_up_at",
)
ON_CONFLICT = ("error", "skip", "update")
EXTRA_COLUMNS = ("error", "ignore", "attributes")
TAG_SEPARATORS = re.compile(r"[;|]")
EXPORT_PAGE_SIZE = 1000
IMPORT_OPERATION = "importCustomers"
# Rows per transaction. Large enough that commits are not what an import waits
# on (each writes every page the batch touched to the WAL: scattered index pages,
# so ~30 % less per row at 10,000 than at 5,000 on SQLite), small enough that
# SQLite's one write lock is held for a fraction of a second at a time (other
# writers wait up to its 5 s busy timeout, on a loaded machine too).
BATCH_SIZE = 10_000
# Up to this many customers, the end-of-load hook names them; beyond, None ("many").
NAMED_CUSTOMERS = 10_000
# The API's camelCase field names in errors, as the file's columns.
_FIELD_COLUMNS = {"externalId": "external_id", "ownerId": "owner_email", "createdAt": "created_at"}

Progress = Callable[..., Any]


class CustomerIds:
    """The customers a load touched, for ``kehu_bulk_loaded``: named while they are
    few, only counted beyond ``NAMED_CUSTOMERS`` — memory stays flat however
    large the file."""

    def __init__(self) -> None:
        self.ids: set[int] | None = set()
        self.count = 0

    def add(self, customer_id: int) -> None:
        if self.ids is not None and customer_id not in self.ids:
            self.ids.add(customer_id)
            if len(self.ids) > NAMED_CUSTOMERS:
                self.ids = None
        self.count += 1

    def update(self, other: Iterable[int]) -> None:
        for customer_id in other:
            self.add(customer_id)

    def __bool__(self) -> bool:
        return self.count > 0

    def named(self) -> list[int] | None:
        return sorted(self.ids) if self.ids is not None else None


def _write_row_notes(out: TextIO | Path, notes: list[RowError]) -> int:
    """``notes`` as CSV (``line,field,code,message``), sorted by line."""
    if isinstance(out, Path):
        with out.open("w", encoding="utf-8", newline="") as f:
            return _write_row_notes(f, notes)
    writer = csvsafe.writer(out)
    writer.writerow(("line", "field", "code", "message"))
    for note in sorted(notes):
        writer.writerow((note.line, note.field or "", note.code, note.message))
    return len(notes)


@dataclass
class ImportReport:
    """What an import did: rows read; customers (or interactions) created, updated,
    left unchanged or skipped; each rejected row; and, when asked for, the key
    each row was matched by and the kehu id it ended up with."""

    path: Path
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    batches: int = 0
    errors: list[RowError] = field(default_factory=list)
    seconds: float = 0.0  # the whole import, plugins' catching up included
    plugin_seconds: float = 0.0  # of which: kehu_bulk_loaded (plugins rebuilding their data)
    encoding: str | None = None
    ids: list[tuple[int, str, str, str]] | None = None  # (line, external id, kehu id, outcome)
    # Rows whose e-mail or phone an existing customer has: skipped, updated or created anyway.
    duplicates: list[RowError] = field(default_factory=list)
    # Customers that carry their interactions (JSON Lines): what became of those.
    interactions: ImportReport | None = None

    @property
    def imported(self) -> int:
        """Rows that were written: created plus updated."""
        return self.created + self.updated

    @property
    def rejected(self) -> int:
        return len(self.errors)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def summary(self, noun: str = "rows") -> str:
        return (
            f"{self.rows:,} {noun} read from {self.path.name}: {self.created:,} created, {self.updated:,} updated, "
            f"{self.unchanged:,} unchanged, {self.skipped:,} skipped, {self.rejected:,} rejected"
        )

    def reject(self, line: int, exc: ValidationError) -> None:
        column = _FIELD_COLUMNS.get(exc.field or "", exc.field)
        self.errors.append(RowError(line, column, exc.message, exc.code))

    def note_duplicate(self, line: int, matches: list[tuple[dict[str, Any], list[str]]], outcome: str) -> None:
        """A row whose e-mail or phone an existing customer has, and what became of it."""
        record, fields = matches[0]
        message = f"customer {to_global_id('Customer', record['id'])} has this {_FIELD_NOUN[fields[0]]}: {outcome}"
        self.duplicates.append(RowError(line, fields[0], message, "DUPLICATE_CUSTOMER"))

    def write_duplicates(self, out: TextIO | Path) -> int:
        """Write the rows that matched an existing customer by e-mail or phone as
        CSV (``line,field,code,message``). Returns the number written."""
        return _write_row_notes(out, self.duplicates)

    def write_errors(self, out: TextIO | Path) -> int:
        """Write the rejected rows as CSV (``line,field,code,message``), sorted by
        line. Returns the number of errors written."""
        return _write_row_notes(out, self.errors)

    def write_ids(self, out: TextIO | Path) -> int:
        """Write ``line,external_id,id,outcome`` for each row written or matched:
        the kehu id (as the API shows it) each external id now has."""
        if isinstance(out, Path):
            with out.open("w", encoding="utf-8", newline="") as f:
                return self.write_ids(f)
        writer = csvsafe.writer(out)
        writer.writerow(("line", "external_id", "id", "outcome"))
        for row in self.ids or []:
            writer.writerow(row)
        return len(self.ids or [])


# --------------------------------------------------------------------------- columns


@dataclass
class ColumnPlan:
    """Which of a file's columns kehu knows, and what happens to the others
    (``extra_columns``: ``error`` refuses the file, ``ignore`` drops them,
    ``attributes`` keeps them in ``Customer.attributes`` under their own name)."""

    known: tuple[str, ...]
    extra_columns: str = "error"
    allow_attributes: bool = True

    def __post_init__(self) -> None:
        if self.extra_columns not in EXTRA_COLUMNS:
            raise ValidationError(
                f"'{self.extra_columns}' is not one of {', '.join(EXTRA_COLUMNS)}",
                field="extra_columns",
                code="INVALID_OPTION",
            )
        if self.extra_columns == "attributes" and not self.allow_attributes:
            raise ValidationError(
                "interactions have no attributes: use --extra-columns ignore",
                field="extra_columns",
                code="INVALID_OPTION",
            )

    def unknown_message(self, unknown: list[str]) -> str:
        return (
            f"unknown column(s) {', '.join(repr(u) for u in unknown)}; the columns are {', '.join(self.known)} "
            f"(use --extra-columns ignore{' or attributes' if self.allow_attributes else ''} to accept others, "
            "or --column FILE_COLUMN=COLUMN to rename)"
        )

    def check_header(self, source: Source, required: Iterable[str] = ()) -> dict[str, str]:
        """Check a CSV/XLSX header; returns ``{normalised extra column: its name as written}``."""
        names = source.header or []
        duplicates = sorted({n for n in names if n and names.count(n) > 1})
        if duplicates:
            raise ValidationError(
                f"column(s) {', '.join(duplicates)} appear more than once", field="header", code="DUPLICATE_COLUMN"
            )
        if "" in names:
            raise ValidationError(
                f"column {names.index('') + 1} has no name in the header", field="header", code="REQUIRED"
            )
        unknown = [n for n in names if n not in self.known]
        if unknown and self.extra_columns == "error":
            raise ValidationError(self.unknown_message(unknown), field="header", code="UNKNOWN_COLUMN")
        for column in required:
            if column not in names:
                raise ValidationError(f"the header has no '{column}' column", field="header", code="REQUIRED")
        raw = source.raw_header or names
        return {n: raw[i] for i, n in enumerate(names) if n in unknown}

    def split(self, row: dict[str, Any], extras: dict[str, str] | None, line: int) -> tuple[dict, dict]:
        """A row's known values, and its extra ones (for attributes). JSON Lines
        rows are checked key by key; ``extras`` is ``None`` for them."""
        if extras is None:
            unknown = [k for k in row if k not in self.known]
            if not unknown:
                return row, {}
            if self.extra_columns == "error":
                raise ValidationError(self.unknown_message(unknown), field=unknown[0], code="UNKNOWN_COLUMN")
            known = {k: value for k, value in row.items() if k in self.known}
            if self.extra_columns == "ignore":
                return known, {}
            return known, {k: row[k] for k in unknown if row[k] is not None and row[k] != ""}
        if not extras:
            return row, {}
        known = {k: value for k, value in row.items() if k not in extras}
        if self.extra_columns == "ignore":
            return known, {}
        kept = {}
        for column, name in extras.items():
            value = row.get(column)
            if isinstance(value, dt.datetime | dt.date):
                value = value.isoformat()
            if value is not None and value != "":
                kept[name] = value
        return known, kept


# --------------------------------------------------------------------------- shared row helpers


def csv_value(column: str, value: Any) -> Any:
    """A CSV or spreadsheet cell as the API would receive it: empty is null, tags
    are split on ``;`` or ``|``, attributes are JSON text."""
    if not isinstance(value, str):
        return value
    if column == "tags":
        return [t for t in TAG_SEPARATORS.split(value) if t.strip()]
    if column == "attributes":
        if not value.strip():
            return None
        try:
            return parse_json(value)
        except ValueError as exc:
            raise ValidationError(f"is not valid JSON: {exc}", field="attributes") from None
    if not value.strip():
        return None
    return value


def kehu_id(value: Any, type_name: str, field: str) -> int | None:
    """kehu's id of a record: the global id the API shows, or the number inside it."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        try:
            return from_global_id(str(value).strip(), type_name, field=field)[1]
        except BadRequest as exc:
            raise ValidationError(exc.message, field=field, code="INVALID_ID") from None
    if not 0 < number < 2**31:
        raise ValidationError("is not a valid id", field=field, code="INVALID_ID")
    return number


class OwnerDirectory:
    """Account owners by e-mail (a staff directory of tens to thousands: one query,
    then every row's ``owner_email`` is a dictionary lookup)."""

    def __init__(self, *, active_only: bool = True) -> None:
        self.by_email: dict[str, int] = {}
        self.active_only = active_only

    async def load(self) -> None:
        owners = AccountOwner.filter(active=True) if self.active_only else AccountOwner.all()
        for owner_id, email in await owners.values_list("id", "email"):
            self.by_email[email.lower()] = owner_id

    def lookup(self, value: Any, field: str = "owner_email") -> int | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValidationError("must be text", field=field)
        email = value.strip()
        if not email:
            return None
        owner_id = self.by_email.get(email.lower())
        if owner_id is None:
            which = "active account owner" if self.active_only else "account owner"
            raise ValidationError(f"no {which} has the e-mail '{email}'", field=field, code="UNKNOWN_OWNER")
        return owner_id


def import_actor(kehu: Kehu, actor: AccountOwner | str | None, path: Path) -> tuple[Viewer | None, str]:
    """Who runs an import: an ``AccountOwner`` (recorded as the audit actor and
    passed to event handlers) or a label for the audit log."""
    if isinstance(actor, AccountOwner):
        viewer = Viewer(owner=actor, permissions=kehu.permissions_for(actor.role))
        return viewer, f"{viewer.label} import {path.name}"[:300]
    return None, f"{actor or 'kehu'} import {path.name}"[:300]


def report_progress(progress: Progress | None, report: ImportReport, source: Source) -> None:
    if progress is None:
        return
    try:
        progress(report.rows, source.fraction)
    except TypeError:  # a one-argument callback (list.append, say)
        progress(report.rows)


async def bulk_loaded(
    kehu: Kehu,
    viewer: Viewer | None,
    *,
    reason: str,
    customer_ids: CustomerIds | set[int],
    interaction_ids: range | None = None,
    since: dt.datetime | None = None,
) -> float:
    """Tell the plugins, once, what a bulk load wrote (``kehu_bulk_loaded``);
    returns the seconds they took.

    The event goes through the outbox like any other: a small write of its own
    after the load (an audit entry ``bulkLoaded`` with the load's totals, and the
    event, committed together), delivered right after, before this returns; a
    handler that fails is retried, and a process killed before delivering it
    leaves it for the next one to deliver."""
    started = time.perf_counter()
    named = customer_ids.named() if isinstance(customer_ids, CustomerIds) else sorted(customer_ids)
    await bulk.analyze(Customer, CustomerTag, Interaction)
    async with write_scope(kehu, viewer, "bulkLoaded", actor_label=None if viewer else f"kehu {reason}") as scope:
        scope.changes.update(
            reason=reason,
            customers=customer_ids.count if isinstance(customer_ids, CustomerIds) else len(customer_ids),
            interactions=len(interaction_ids) if interaction_ids is not None else 0,
        )
        scope.emit(
            "kehu_bulk_loaded",
            reason=reason,
            customer_ids=named,
            interaction_ids=interaction_ids,
            since=since,
            actor=viewer.owner if viewer else None,
        )
    return time.perf_counter() - started


async def write_or_split(write_batch: Callable[[list], Any], batch: list, report: ImportReport) -> None:
    """Write a batch in one transaction. Should the database still refuse it
    (every row already passed validation, so this is rare), split the batch to
    find the refused rows, report them, and write the rest."""
    try:
        await write_batch(batch)
    except BaseORMException as exc:
        if len(batch) == 1:
            report.errors.append(RowError(batch[0].line, None, f"the database refused the row: {exc}", "REFUSED"))
            return
        middle = len(batch) // 2
        await write_or_split(write_batch, batch[:middle], report)
        await write_or_split(write_batch, batch[middle:], report)


class Pipeline:
    """Writes one batch while the next is read. The database works in its own
    thread (aiosqlite; asyncpg's I/O) and the sqlite3 module lets go of the GIL
    while a statement runs, so reading and checking rows overlaps with writing
    them: on two cores an import runs at about the speed of the slower of the two
    instead of their sum. Batches are still written one after another, each
    after the previous one committed."""

    YIELD_EVERY = 256  # rows read between turns of the event loop

    def __init__(self, write: Callable[[list], Any]):
        self._write = write
        self._pending: asyncio.Future | None = None

    async def submit(self, batch: list) -> None:
        await self.drain()
        self._pending = asyncio.ensure_future(self._write(batch))

    async def tick(self) -> None:
        """Call every ``YIELD_EVERY`` rows read: lets the writing task take its turn."""
        if self._pending is not None:
            await asyncio.sleep(0)

    async def drain(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending


async def run_batches(
    source: Source,
    report: ImportReport,
    prepare: Callable[[int, dict[str, Any]], Any],
    write: Callable[[list], Any],
    batch_size: int,
    progress: Progress | None,
    *,
    key: Callable[[Any], Any] | None = None,
) -> None:
    """Read ``source`` row by row, ``prepare`` each (a ``ValidationError`` rejects
    the row), and ``write`` them in batches through a ``Pipeline``. Rows with the
    same ``key`` (or sharing one, when ``key`` returns a list) never share a
    batch: the first is committed before the second is looked at."""
    pipeline = Pipeline(write)
    batch: list = []
    keys: set = set()
    every = Pipeline.YIELD_EVERY
    try:
        for line, row in source.records():
            report.rows += 1
            if report.rows % every == 0:
                await pipeline.tick()
            if isinstance(row, RowError):
                report.errors.append(row)
                continue
            try:
                prepared = prepare(line, row)
            except ValidationError as exc:
                report.reject(line, exc)
                continue
            if key is not None and (k := key(prepared)) is not None:
                marks = k if isinstance(k, list) else [k]
                if not keys.isdisjoint(marks):
                    await pipeline.submit(batch)
                    batch, keys = [], set()
                keys.update(marks)
            batch.append(prepared)
            if len(batch) >= batch_size:
                await pipeline.submit(batch)
                batch, keys = [], set()
                report_progress(progress, report, source)
        if batch:
            await pipeline.submit(batch)
    finally:
        await pipeline.drain()


# --------------------------------------------------------------------------- writing


async def bulk_create_with_ids(model: type[Model], objects: Sequence[Model]) -> None:
    """``bulk_create`` that also gives each object its primary key (the demo
    builds model instances; imports write tuples through ``kehu.cli.bulk``).
    Must run inside a transaction (``write_scope``); see ``bulk.insert_rows``."""
    if not objects:
        return
    if bulk.is_postgres(model):
        for obj, key in zip(objects, await bulk.reserve_ids(model, len(objects))):
            obj.pk = key
            obj._custom_generated_pk = True
        await model.bulk_create(objects)
    else:
        db = model._meta.db
        table, pk = model._meta.db_table, model._meta.db_pk_column
        await model.bulk_create(objects)
        rows = await db.execute_query_dict(
            f'SELECT "{pk}" AS id FROM "{table}" ORDER BY "{pk}" DESC LIMIT ?', [len(objects)]
        )
        for obj, key in zip(objects, sorted(r["id"] for r in rows)):
            obj.pk = key
    for obj in objects:
        obj._saved_in_db = True


# Customer columns an import writes, in the order of the INSERT.
_INSERT_COLUMNS = (
    "external_id",
    "name",
    "kind",
    "email",
    "phone",
    "address",
    "region",
    "industry",
    "tags",
    "attributes",
    "owner_id",
    "created_at",
    "updated_at",
    *duplicates.KEY_COLUMNS,
)
# Columns compared and updated on a match (the file's columns decide which).
_UPDATABLE = tuple(c for c in _INSERT_COLUMNS if c != "updated_at" and c not in duplicates.KEY_COLUMNS)


@dataclass
class _Row:
    line: int
    values: dict[str, Any]  # cleaned, in model column names
    key: tuple[str, Any] | None  # ("external_id", "C-17") or ("id", 17)
    extras: dict[str, Any]
    id: int | None = None
    interactions: list | None = None  # JSON Lines: the customer's history, written after it
    keys: matching.CustomerKeys | None = None  # the row's normalised keys, clear

    def batch_keys(self) -> list[Any]:
        """What two rows must not share within a batch: the key they match by,
        and their e-mail and phone (the second is checked against the first)."""
        marks: list[Any] = [self.key] if self.key else []
        if self.keys is not None:
            marks += [(f, k) for f, k in (("email", self.keys.email_key), ("phone", self.keys.phone_key)) if k]
        return marks


# Columns whose values repeat from row to row (kinds, places, tags, attributes),
# whose rule an import remembers per distinct text (``kehu.validation.remembered``).
_REPEATING = ("kind", "region", "industry", "tags", "attributes")


def _cell_rules() -> dict[str, v.Rule]:
    """``clean_customer_fields``'s rules for text cells (CSV, XLSX): tags split on
    ``;`` or ``|``, attributes read as JSON (``csv_value``), then the API's rules."""
    rules = dict(CUSTOMER_RULES)
    for column in ("tags", "attributes"):
        rules[column] = functools.partial(_from_text, column=column, rule=rules[column])
    return {name: v.remembered(rule) if name in _REPEATING else rule for name, rule in rules.items()}


def _from_text(value: Any, column: str, rule: v.Rule) -> Any:
    return rule(csv_value(column, value))


class _CustomerImporter:
    def __init__(
        self,
        kehu: Kehu,
        report: ImportReport,
        viewer,
        label,
        *,
        on_conflict,
        events,
        columns,
        now,
        allow_duplicates=False,
    ):
        self.kehu = kehu
        self.report = report
        self.viewer = viewer
        self.label = label
        self.on_conflict = on_conflict
        self.allow_duplicates = allow_duplicates
        self.region = duplicates.phone_region(kehu)
        self.events = events
        self.columns = columns  # the file's known columns (None: JSON Lines, per row)
        self.now = now
        self.owners = OwnerDirectory()
        self.cells = True  # CSV/XLSX text cells; False for JSON Lines, whose values are typed
        self.cell_rules = _cell_rules()
        self.created_at = v.remembered(functools.partial(v.moment, field="created_at", zone=kehu.config.kehu.zone))
        self.written = CustomerIds()
        self.earliest: dt.datetime | None = None
        self.history: InteractionImporter | None = None  # once a customer carries interactions

    def prepare(self, line: int, row: dict[str, Any], extras: dict[str, Any]) -> _Row:
        """Check one row; raises ``ValidationError``."""
        data = dict(row)  # cells: text or None (blank); tags and attributes are read by their rules (_cell_rules)
        interactions = data.pop("interactions", None)
        if interactions is not None and not isinstance(interactions, list):
            raise ValidationError("must be a list of interactions", field="interactions")
        row_id = kehu_id(data.pop("id", None), "Customer", "id")
        owner_given = "owner_email" in data
        owner_id = self.owners.lookup(data.pop("owner_email", None)) if owner_given else None
        created_given = "created_at" in data
        created_at = self.created_at(data.pop("created_at", None))
        if created_at is not None and created_at > self.now:
            raise ValidationError("must not be in the future", field="created_at", code="IN_FUTURE")
        values = clean_customer_fields(data, creating=True, rules=self.cell_rules if self.cells else CUSTOMER_RULES)
        if owner_given:
            values["owner_id"] = owner_id
        if created_given and created_at is not None:
            values["created_at"] = created_at
        key = None
        if values.get("external_id") is not None:
            key = ("external_id", values["external_id"])
        elif row_id is not None:
            key = ("id", row_id)
        keys = matching.customer_keys(values["name"], values.get("email"), values.get("phone"), self.region)
        return _Row(line, values, key, extras, interactions=interactions or None, keys=keys)

    async def matches(self, rows: list[_Row]) -> dict[tuple[str, Any], dict[str, Any]]:
        """Existing customers the rows' keys name, keyed like ``_Row.key``. A key
        of a customer merged into another names that one (``"merged_from"`` set
        on its record)."""
        found: dict[tuple[str, Any], dict[str, Any]] = {}
        fields = ("id", "archived_at", "merged_into_id", *_UPDATABLE)
        for column in ("external_id", "id"):
            keys = list({r.key[1] for r in rows if r.key and r.key[0] == column})
            for record in await bulk.select_in(Customer, fields, column, keys):
                found[(column, record[column])] = record
        merged = {key: record["merged_into_id"] for key, record in found.items() if record["merged_into_id"]}
        if merged:
            survivors = {r["id"]: r for r in await bulk.select_in(Customer, fields, "id", list(set(merged.values())))}
            for key, target in merged.items():
                if target in survivors:
                    found[key] = {**survivors[target], "merged_from": found[key]["id"]}
        return found

    async def duplicates_of(self, rows: list[_Row]) -> dict[int, list[tuple[dict[str, Any], list[str]]]]:
        """For new rows: existing customers (not merged away) with the same e-mail
        or phone, ``{line: [(record, ["email", …]), …]}``."""
        columns = ("id", "archived_at", "owner_id", *_UPDATABLE)
        tables = {
            name: await duplicates.customers_by_key(
                self.kehu, name, {k for r in rows if (k := getattr(r.keys, f"{name}_key"))}, columns
            )
            for name in duplicates.EXACT_FIELDS
        }
        out: dict[int, list[tuple[dict[str, Any], list[str]]]] = {}
        for row in rows:
            matches: dict[int, tuple[dict[str, Any], list[str]]] = {}
            for name in duplicates.EXACT_FIELDS:
                key = getattr(row.keys, f"{name}_key")
                for record in tables[name].get(key, []) if key else []:
                    matches.setdefault(record["id"], (record, []))[1].append(name)
            if matches:
                out[row.line] = list(matches.values())
        return out

    async def _sort_duplicates(
        self,
        new: list[_Row],
        counts: dict[str, int],
        changed: list,
        rejected: list,
        outcomes: list,
    ) -> tuple[list[_Row], list[tuple[_Row, dict[str, Any], list[str]]]]:
        """Rows that match no customer by key but have an existing customer's
        e-mail or phone: ``--on-conflict`` decides, as for a key match — unless
        ``allow_duplicates``, or the importing account may not be told of that
        customer (``kehu.duplicates.reportable``: it learns nothing of it): those
        are created and the pair flagged for review. Returns the rows to create, and the pairs to flag once they exist."""
        found = await self.duplicates_of([r for r in new if r.keys is not None])
        if not found:
            return new, []
        told: set[int] | None = None  # None: the system imports, and sees everything
        if self.viewer is not None:
            told = await duplicates.reportable(
                self.kehu,
                self.viewer,
                [
                    (record["id"], record["owner_id"], fields)
                    for matches in found.values()
                    for record, fields in matches
                ],
            )
        create, flag = [], []
        for row in new:
            matches = found.get(row.line)
            if not matches:
                create.append(row)
                continue
            seen = [(r, f) for r, f in matches if told is None or r["id"] in told]
            if not seen or self.allow_duplicates:
                create.append(row)
                flag += [(row, record, fields) for record, fields in matches]
                if seen:
                    self.report.note_duplicate(
                        row.line, seen, "created anyway (--allow-duplicates), flagged for review"
                    )
                continue
            record, fields = seen[0]
            if self.on_conflict == "error":
                rejected.append((row.line, _duplicate_error(seen)))
            elif self.on_conflict == "skip":
                counts["skipped"] += 1
                outcomes.append((row, "skipped"))
                row.id = record["id"]
                self.report.note_duplicate(row.line, seen, "skipped")
            elif len(seen) > 1:
                rejected.append((row.line, _duplicate_error(seen, "--on-conflict update needs one: ")))
            elif row.values.get("external_id") and record.get("external_id") not in (None, row.values["external_id"]):
                rejected.append(
                    (
                        row.line,
                        ValidationError(
                            f"customer {to_global_id('Customer', record['id'])} has this {_FIELD_NOUN[fields[0]]} "
                            f"and another external id ({record['external_id']}): two records in your system "
                            "(--allow-duplicates creates this one)",
                            field=fields[0],
                            code="DUPLICATE_CUSTOMER",
                        ),
                    )
                )
            elif record["archived_at"] is not None:
                rejected.append(
                    (row.line, ValidationError("archived customers cannot be edited", field="id", code="ARCHIVED"))
                )
            else:
                row.id = record["id"]
                diff = {k: value for k, value in self._merged(row, record).items() if record.get(k) != value}
                if diff:
                    changed.append((row, diff, record))
                    self.report.note_duplicate(row.line, seen, "updated")
                else:
                    counts["unchanged"] += 1
                    outcomes.append((row, "unchanged"))
        return create, flag

    async def _flag(self, flag: list[tuple[_Row, dict[str, Any], list[str]]]) -> None:
        """Record the pairs of customers created although their key was taken."""
        for row, record, fields in flag:
            assert row.id is not None  # written before the pairs are flagged
            mine = matching.Profile.of(row.id, phone_region=self.region, **_profile_fields(row.values))
            theirs = matching.Profile.of(record["id"], phone_region=self.region, **_profile_fields(record))
            score, reasons = matching.compare(mine, theirs, matching.Frequencies.of([mine, theirs]))
            await duplicates.upsert_pair(
                row.id,
                record["id"],
                score,
                [
                    *(duplicates.REASON_OF[f] for f in fields),
                    *(r for r in reasons if r not in duplicates.REASON_OF.values()),
                ],
                source=DuplicateSource.IMPORT,
                now=self.now,
            )

    async def write(self, batch: list[_Row]) -> None:
        await write_or_split(self._write_batch, batch, self.report)

    async def _write_batch(self, batch: list[_Row]) -> None:
        report = self.report
        counts = {"created": 0, "updated": 0, "unchanged": 0, "skipped": 0}
        outcomes: list[tuple[_Row, str]] = []
        async with write_scope(self.kehu, self.viewer, IMPORT_OPERATION, actor_label=self.label) as scope:
            await bulk.bulk_transaction(Customer)
            existing = await self.matches(batch)
            new: list[_Row] = []
            changed: list[tuple[_Row, dict[str, Any], dict[str, Any]]] = []
            rejected: list[tuple[int, ValidationError]] = []
            for row in batch:
                match = existing.get(row.key) if row.key else None
                if match is None:
                    if row.key and row.key[0] == "id":
                        rejected.append(
                            (
                                row.line,
                                ValidationError(
                                    f"no customer has id {row.key[1]} here (ids are each database's own; "
                                    "match customers across systems with external_id)",
                                    field="id",
                                    code="UNKNOWN_ID",
                                ),
                            )
                        )
                        continue
                    new.append(row)
                    continue
                row.id = match["id"]
                if match.get("merged_from"):
                    # The key was a merged customer's: it stays on that record.
                    row.values.pop("external_id", None)
                values = self._merged(row, match)
                diff = {k: value for k, value in values.items() if match.get(k) != value}
                if not diff:
                    counts["unchanged"] += 1
                    outcomes.append((row, "unchanged"))
                elif self.on_conflict == "skip":
                    counts["skipped"] += 1
                    outcomes.append((row, "skipped"))
                elif self.on_conflict == "error":
                    assert row.key is not None  # it matched by its key
                    what = f"external id '{row.key[1]}'" if row.key[0] == "external_id" else f"id {row.key[1]}"
                    rejected.append(
                        (
                            row.line,
                            ValidationError(
                                f"a customer with {what} exists and differs in {', '.join(sorted(diff))} "
                                "(--on-conflict update changes it, skip leaves it)",
                                field=row.key[0],
                                code="DUPLICATE",
                            ),
                        )
                    )
                elif match["archived_at"] is not None:
                    rejected.append(
                        (row.line, ValidationError("archived customers cannot be edited", field="id", code="ARCHIVED"))
                    )
                else:
                    changed.append((row, diff, match))
            new, flag = await self._sort_duplicates(new, counts, changed, rejected, outcomes)
            new_rows = [self._insert_tuple(r) for r in new]
            ids = await bulk.insert_rows(Customer, _INSERT_COLUMNS, new_rows, with_ids=True)
            for row, key in zip(new, ids or []):
                row.id = key
                outcomes.append((row, "created"))
            counts["created"] = len(new)
            await self._apply_updates(changed)
            counts["updated"] = len(changed)
            outcomes += [(row, "updated") for row, _, _ in changed]
            tags = [(r.id, t) for r in new for t in r.values.get("tags", [])]
            retagged = [row.id for row, diff, _ in changed if "tags" in diff]
            if retagged:
                await CustomerTag.filter(customer_id__in=retagged).delete()
                tags += [(row.id, t) for row, diff, _ in changed if "tags" in diff for t in diff["tags"]]
            await bulk.insert_rows(CustomerTag, ("customer_id", "tag"), tags)
            await self._flag(flag)
            scope.entity_type = "Customer"
            scope.changes.update({k: n for k, n in counts.items() if n and k in ("created", "updated")})
            scope.changes["imported"] = counts["created"] + counts["updated"]
            if self.events:
                await self._emit(scope, new, changed)
        for line, exc in rejected:
            report.reject(line, exc)
        report.created += counts["created"]
        report.updated += counts["updated"]
        report.unchanged += counts["unchanged"]
        report.skipped += counts["skipped"]
        report.batches += 1
        for row in new:
            assert row.id is not None  # given by the insert
            self.written.add(row.id)
            created = row.values.get("created_at", self.now)
            if self.earliest is None or created < self.earliest:
                self.earliest = created
        self.written.update(cast(int, row.id) for row, _, _ in changed)  # matched rows have ids
        if report.ids is not None:
            for row, outcome in outcomes:
                external = row.values.get("external_id") or ""
                report.ids.append((row.line, external, to_global_id("Customer", row.id), outcome))
        await self._write_history([row for row, _ in outcomes if row.interactions])

    async def _write_history(self, rows: list[_Row]) -> None:
        """The interactions customers carry (JSON Lines), once the customers exist."""
        if not rows:
            return
        history = self.history
        if history is None:
            from .history import InteractionImporter  # history builds on this module

            history = self.history = InteractionImporter(
                self.kehu, ImportReport(self.report.path), self.viewer, self.label, now=self.now
            )
            history.cells = False
            await history.owners.load()
        batch = []
        for row in rows:
            for index, item in enumerate(row.interactions or []):
                try:
                    if not isinstance(item, dict):
                        raise ValidationError("must be a JSON object", field=None)
                    unknown = [k for k in item if k not in NESTED_INTERACTION_COLUMNS]
                    if unknown:
                        raise ValidationError(
                            f"unknown field; the fields are {', '.join(NESTED_INTERACTION_COLUMNS)}",
                            field=unknown[0],
                            code="UNKNOWN_COLUMN",
                        )
                    batch.append(history.prepare(row.line, item, customer_id=row.id))
                except ValidationError as exc:
                    where = f"interactions.{index}" + (f".{exc.field}" if exc.field else "")
                    history.report.errors.append(RowError(row.line, where, exc.message, exc.code))
        for start in range(0, len(batch), BATCH_SIZE):
            await history.write(batch[start : start + BATCH_SIZE])

    def _merged(self, row: _Row, match: dict[str, Any]) -> dict[str, Any]:
        """The row's values as they would be stored on ``match``: extra columns
        are added to its attributes rather than replacing them."""
        values = {k: value for k, value in row.values.items() if k in _UPDATABLE}
        if row.extras:
            base = values.get("attributes", match.get("attributes") or {})
            values["attributes"] = v.attributes({**(base or {}), **row.extras})
        return values

    def _insert_tuple(self, row: _Row) -> tuple:
        values = row.values
        attributes = values.get("attributes") or {}
        if row.extras:
            attributes = v.attributes({**attributes, **row.extras})
        kind = values.get("kind") or CustomerKind.PERSON
        return (
            values.get("external_id"),
            values["name"],
            kind.value,
            values.get("email"),
            values.get("phone"),
            values.get("address"),
            values.get("region"),
            values.get("industry"),
            bulk.encode_json(values.get("tags") or []),
            bulk.encode_json(attributes),
            values.get("owner_id"),
            values.get("created_at", self.now),
            self.now,
            *duplicates.stored_keys(
                self.kehu, values["name"], values.get("email"), values.get("phone"), clear=row.keys
            ).values(),
        )

    async def _apply_updates(self, changed: list[tuple[_Row, dict[str, Any], dict[str, Any]]]) -> None:
        # One UPDATE per set of changed columns (a file's rows mostly share one).
        groups: dict[tuple[str, ...], list[tuple]] = {}
        for row, diff, match in changed:
            columns = tuple(c for c in _UPDATABLE if c in diff)
            values = []
            for column in columns:
                value = diff[column]
                if column in ("tags", "attributes"):
                    value = bulk.encode_json(value if value is not None else ([] if column == "tags" else {}))
                elif column == "kind":
                    value = (value or CustomerKind.PERSON).value
                values.append(value)
            if not diff.keys().isdisjoint(duplicates.KEYED_FIELDS):
                # Name, e-mail or phone changed: their keys with them.
                now = {f: diff.get(f, match.get(f)) for f in duplicates.KEYED_FIELDS}
                stored = duplicates.stored_keys(self.kehu, now["name"], now["email"], now["phone"])
                columns += tuple(stored)
                values += stored.values()
            groups.setdefault(columns + ("updated_at",), []).append((*values, self.now, row.id))
        for columns, rows in groups.items():
            await bulk.update_rows(Customer, columns, rows)

    async def _emit(self, scope, new: list[_Row], changed) -> None:
        ids = [r.id for r in new] + [row.id for row, _, _ in changed]
        customers = {c.id: c for c in await Customer.filter(id__in=ids)}
        for row in new:
            scope.emit("kehu_customer_created", customer=customers[cast(int, row.id)])
        for row, diff, match in changed:
            scope.emit(
                "kehu_customer_updated",
                customer=customers[row.id],
                changes={k: (match.get(k), value) for k, value in diff.items()},
            )


_FIELD_NOUN = {"email": "e-mail address", "phone": "phone number"}


def _duplicate_error(matches: list[tuple[dict[str, Any], list[str]]], prefix: str = "") -> ValidationError:
    record, fields = matches[0]
    more = f" (and {len(matches) - 1} more)" if len(matches) > 1 else ""
    return ValidationError(
        f"{prefix}customer {to_global_id('Customer', record['id'])}{more} already has this {_FIELD_NOUN[fields[0]]} "
        "(--on-conflict update changes it, skip leaves it, --allow-duplicates creates another)",
        field=fields[0],
        code="DUPLICATE_CUSTOMER",
    )


def _profile_fields(values: dict[str, Any]) -> dict[str, Any]:
    kind = values.get("kind") or CustomerKind.PERSON
    attributes = values.get("attributes")
    company = attributes.get("company") if isinstance(attributes, dict) else None
    return {
        "name": values.get("name"),
        "kind": getattr(kind, "value", kind),
        "email": values.get("email"),
        "phone": values.get("phone"),
        "region": values.get("region"),
        "address": values.get("address"),
        "company": company if isinstance(company, str) else None,
    }


def _merged_ids(first: CustomerIds, second: CustomerIds | None) -> CustomerIds:
    if second is None or not second:
        return first
    merged = CustomerIds()
    for part in (first, second):
        if part.ids is None:
            merged.ids = None
        elif merged.ids is not None:
            merged.update(part.ids)
    merged.count = first.count + second.count
    return merged


async def import_customers(
    kehu: Kehu,
    path: Path,
    *,
    actor: AccountOwner | str | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
    events: bool = False,
    on_conflict: str = "error",
    extra_columns: str = "error",
    encoding: str | None = None,
    delimiter: str | None = None,
    columns: dict[str, str] | None = None,
    ids: bool = False,
    allow_duplicates: bool = False,
) -> ImportReport:
    """Import customers from a ``.csv``/``.tsv`` (header row), ``.jsonl`` or
    ``.xlsx`` (first sheet, header row) file.

    Columns / keys: ``COLUMNS``. ``id`` is kehu's id (the API's global id or its
    number) and matches existing customers only; ``external_id`` matches or
    creates. CSV tags are separated by ``;`` or ``|``, CSV attributes are a JSON
    object; in JSON Lines tags are a list. ``owner_email`` must name an active
    account owner. ``created_at`` ("customer since") defaults to now; a time without
    an offset is in ``[kehu] timezone``.

    Good rows are written in batches of ``batch_size``, each batch one transaction
    with one audit entry (operation ``importCustomers``, entity type ``Customer``,
    changes ``{"imported": n, "created": n, "updated": n}``). Bad rows are collected
    in ``report.errors`` with their line number, field, code and reason, and nothing
    of them is written.

    :param on_conflict: a row matching an existing customer that differs from it:
        ``error`` (reject the row), ``skip`` or ``update``. A row that names no
        customer by key but has an existing customer's e-mail or phone number (a
        duplicate, ``kehu.duplicates``) is such a row too: rejected with code
        ``DUPLICATE_CUSTOMER``, skipped, or made an update of that customer; each
        is listed in ``report.duplicates`` with its line.
    :param allow_duplicates: create those rows anyway; each pair is flagged for
        review (``duplicateCandidates``). Rows matching customers the importing
        account may not see are always created and flagged, never reported.
    :param extra_columns: columns kehu does not know: ``error`` (refuse the file),
        ``ignore``, or ``attributes`` (kept in ``Customer.attributes``).
    :param events: fire ``kehu_customer_created``/``kehu_customer_updated`` for each
        customer (slow with plugins enabled); by default one ``kehu_bulk_loaded``
        follows the import instead, and plugins catch up in one pass.
    :param actor: who runs the import: an ``AccountOwner`` (the audit actor, passed
        to event handlers) or a label for the audit log.
    :param progress: called after each batch with the rows read so far and the
        share of the file read (0-1, or None when unknown).
    :param ids: keep ``(line, external id, kehu id, outcome)`` per written or
        matched row in ``report.ids`` (``ImportReport.write_ids``).
    :raises ValidationError: when the file as a whole is unusable (unknown type or
        encoding, unknown or missing header columns). Batches committed before an
        unexpected error stay committed.
    """
    path = Path(path)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if on_conflict not in ON_CONFLICT:
        raise ValidationError(
            f"'{on_conflict}' is not one of {', '.join(ON_CONFLICT)}", field="on_conflict", code="INVALID_OPTION"
        )
    plan = ColumnPlan((*COLUMNS, "interactions"), extra_columns)
    source = open_source(path, encoding=encoding, delimiter=delimiter, columns=columns)
    try:
        extras = plan.check_header(source, ["name"]) if source.header is not None else None
    except ValidationError:
        source.close()
        raise
    report = ImportReport(path=path, encoding=source.encoding, ids=[] if ids else None)
    viewer, label = import_actor(kehu, actor, path)
    now = kehu.clock.now()
    importer = _CustomerImporter(
        kehu,
        report,
        viewer,
        label,
        on_conflict=on_conflict,
        events=events,
        columns=source.header,
        now=now,
        allow_duplicates=allow_duplicates,
    )
    importer.cells = source.format != "jsonl"
    await importer.owners.load()
    started = time.perf_counter()

    def prepare(line: int, row: dict[str, Any]) -> _Row:
        known, extra = plan.split(row, extras, line)
        return importer.prepare(line, known, extra)

    async with bulk.bulk_session(Customer):
        await run_batches(source, report, prepare, importer.write, batch_size, progress, key=lambda r: r.batch_keys())
        history = importer.history
        if history is not None:
            report.interactions = history.report
            report.errors += history.report.errors
        if importer.written and not events:
            since = importer.earliest
            if history is not None and history.earliest is not None:
                since = min(since, history.earliest) if since else history.earliest
            report.plugin_seconds = await bulk_loaded(
                kehu,
                viewer,
                reason="import",
                customer_ids=_merged_ids(importer.written, history.customers if history else None),
                interaction_ids=history.interaction_ids if history else None,
                since=since,
            )
    report.seconds = time.perf_counter() - started
    report_progress(progress, report, source)
    return report


# --------------------------------------------------------------------------- export


def _everyone() -> Viewer:
    """``filter_customers`` scopes by viewer; an export without one (the CLI, run by
    whoever holds the database) sees every customer, as an administrator would."""
    return Viewer(owner=AccountOwner(id=0, name="kehu", email="kehu@localhost", role=Role.ADMIN, team=""))


# Columns that may carry a field policy (``Customer.<column>``).
PERSONAL_COLUMNS = ("name", "email", "phone", "address", "attributes")


def _export_record(row: tuple, owner_emails: dict[int, str]) -> dict[str, Any]:
    pk, name, kind, email, phone, address, region, industry, tags, owner_id, attributes, external_id, created_at = row
    return {
        "id": to_global_id("Customer", pk),
        "external_id": external_id,
        "name": name,
        "kind": kind.value if isinstance(kind, CustomerKind) else kind,
        "email": email,
        "phone": phone,
        "address": address,
        "region": region,
        "industry": industry,
        "tags": list(tags or []),
        "owner_email": owner_emails.get(owner_id) if owner_id is not None else None,
        "attributes": attributes or {},
        "created_at": created_at.astimezone(dt.UTC).isoformat() if created_at else None,
    }


def _csv_row(record: dict[str, Any]) -> list[str]:
    out = []
    for column in COLUMNS:
        value = record[column]
        if column == "tags":
            value = ";".join(value)
        elif column == "attributes":
            value = json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""
        out.append("" if value is None else value)
    return out


async def export_customers(
    kehu: Kehu,
    out: TextIO | BinaryIO,
    *,
    format: str = "csv",
    viewer: Viewer | None = None,
    filter: CustomerFilter | None = None,
    progress: Progress | None = None,
) -> int:
    """Write customers to ``out`` as CSV (with header) or JSON Lines, UTF-8, in the
    columns of ``COLUMNS`` — so the file imports again. Returns the rows written.

    Reads in pages of ``EXPORT_PAGE_SIZE`` by ascending id, never all at once.

    :param viewer: ``None`` exports every customer in clear (the CLI, run by whoever
        holds the database and its keys); otherwise only what
        ``filter_customers(viewer, filter)`` shows the viewer, who needs the
        ``customers.export`` permission, with personal fields as the viewer may see
        them (``kehu.field_guard``: masked for a role that sees them masked).
    :param filter: narrows the export; by default archived customers are left out.
    :param progress: called with the number of rows written so far after each page.
    """
    if format not in FORMATS:
        raise ValidationError(f"'{format}' is not one of {', '.join(FORMATS)}", field="format")
    if viewer is not None and not viewer.can("customers.export"):
        raise PermissionDenied(f"your role ({viewer.role.value}) may not export customers (customers.export)")
    binary = not isinstance(out, io.TextIOBase) and "b" in getattr(out, "mode", "b")
    wrapper = (
        io.TextIOWrapper(cast(BinaryIO, out), encoding="utf-8", newline="", write_through=True) if binary else None
    )
    text: TextIO = wrapper if wrapper is not None else cast(TextIO, out)
    try:
        return await _export(
            kehu, text, format, viewer or _everyone(), filter or CustomerFilter(), progress, masked=viewer is not None
        )
    finally:
        text.flush()
        if wrapper is not None:
            wrapper.detach()


async def _export(kehu, out: TextIO, format: str, viewer: Viewer, f: CustomerFilter, progress, *, masked: bool) -> int:
    owner_emails = dict(await AccountOwner.all().values_list("id", "email"))
    writer = csvsafe.writer(out) if format == "csv" else None
    guard = kehu.field_guard
    if writer is not None:
        writer.writerow(COLUMNS)
    written, last_id = 0, 0
    while True:
        page = await (
            filter_customers(viewer, f, kehu=kehu)
            .filter(id__gt=last_id)
            .order_by("id")
            .limit(EXPORT_PAGE_SIZE)
            .values_list(
                "id",
                "name",
                "kind",
                "email",
                "phone",
                "address",
                "region",
                "industry",
                "tags",
                "owner_id",
                "attributes",
                "external_id",
                "created_at",
            )
        )
        if not page:
            break
        for row in page:
            record = _export_record(row, owner_emails)
            if masked:
                # Personal fields as the viewer may see them (kehu.field_guard).
                for column in PERSONAL_COLUMNS:
                    record[column] = guard.mask(viewer, f"Customer.{column}", record[column], owner_id=row[9])
            if writer is not None:
                writer.writerow(_csv_row(record))
            else:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        written += len(page)
        last_id = page[-1][0]
        if progress is not None:
            progress(written)
        if len(page) < EXPORT_PAGE_SIZE:
            break
    return written
