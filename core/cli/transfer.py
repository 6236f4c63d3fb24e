"""Import and export of customers: CSV and JSON Lines, streamed both ways.

Both formats carry the same columns (``COLUMNS``), so an export imports again.
Imports read the file line by line and never hold more than one batch in memory.
Every row is checked with ``clean_customer_fields`` — the rules of the GraphQL API —
before anything is written; a bad row is reported with its line number, the field
and the reason, and never reaches the database. Good rows are written in batches,
each batch one ``write_scope`` (one transaction, one audit entry), so a long import
does not hold SQLite's single write lock for its whole duration.

No command-line code here: ``kehu import customers`` / ``kehu export customers``
call these functions.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple, TextIO

from tortoise.exceptions import BaseORMException
from tortoise.models import Model

from ..access import Viewer
from ..customers import CustomerFilter, clean_customer_fields, filter_customers
from ..errors import PermissionDenied, ValidationError
from ..models import AccountOwner, Customer, CustomerKind, CustomerTag, Role
from ..writes import write_scope

if TYPE_CHECKING:
    from ..server.runtime import Kehu

COLUMNS = (
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
)
FORMATS = ("csv", "jsonl")
TAG_SEPARATORS = re.compile(r"[;|]")
EXPORT_PAGE_SIZE = 1000
IMPORT_OPERATION = "importCustomers"

Progress = Callable[[int], Any]


class RowError(NamedTuple):
    """One rejected row: its (first) line number in the file, the column at fault
    (``None`` when the whole line is unreadable) and why."""

    line: int
    field: str | None
    message: str


@dataclass
class ImportReport:
    """What an import did: rows read, rows imported, and each rejected row."""

    path: Path
    rows: int = 0
    imported: int = 0
    batches: int = 0
    errors: list[RowError] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        text = f"{self.imported} of {self.rows} rows imported from {self.path.name}"
        if self.errors:
            text += f"; {len(self.errors)} rejected"
        return text

    def write_errors(self, out: TextIO | Path) -> int:
        """Write the rejected rows as CSV (``line,field,message``), sorted by line.
        Returns the number of errors written."""
        if isinstance(out, Path):
            with out.open("w", encoding="utf-8", newline="") as f:
                return self.write_errors(f)
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("line", "field", "message"))
        for error in sorted(self.errors):
            writer.writerow((error.line, error.field or "", error.message))
        return len(self.errors)


# --------------------------------------------------------------------------- reading


def _decoded_lines(raw_lines: Iterable[bytes], bad: dict[int, str]) -> Iterator[str]:
    """Decode UTF-8 line by line, so one bad byte costs one row, not the file.

    An undecodable line is still yielded (with U+FFFD in place of the bad bytes) so
    that a CSV reader stays in step; its number and the reason go into ``bad``.
    """
    for number, raw in enumerate(raw_lines, start=1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):  # spreadsheet exports
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad[number] = f"is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at position {exc.start + 1})"
            yield raw.decode("utf-8", "replace")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _parse_json(text: str) -> Any:
    # NaN and Infinity are not JSON, and PostgreSQL's jsonb refuses them.
    return json.loads(text, parse_constant=_reject_constant)


def _check_header(header: list[str]) -> list[str]:
    names = [h.strip().lower() for h in header]
    unknown = [h for h in names if h not in COLUMNS]
    if unknown:
        raise ValidationError(
            f"unknown column(s) {', '.join(repr(h) for h in unknown)}; the columns are {', '.join(COLUMNS)}",
            field="header",
            code="UNKNOWN_COLUMN",
        )
    duplicates = sorted({h for h in names if names.count(h) > 1})
    if duplicates:
        raise ValidationError(f"column(s) {', '.join(duplicates)} appear more than once", field="header")
    if "name" not in names:
        raise ValidationError("the header has no 'name' column", field="header", code="REQUIRED")
    return names


def _csv_cell(column: str, value: str) -> Any:
    if column == "tags":
        return TAG_SEPARATORS.split(value)
    if column == "attributes":
        if not value.strip():
            return None
        try:
            return _parse_json(value)
        except ValueError as exc:
            raise ValidationError(f"is not valid JSON: {exc}", field="attributes") from None
    if column == "kind" and not value.strip():
        return None
    return value


Record = tuple[int, "dict[str, Any] | RowError"]


def _blank(record: list[str]) -> bool:
    # Spreadsheets like to leave lines of bare separators after the data.
    return not any(cell.strip() for cell in record)


def _read_csv(path: Path) -> Iterator[Record]:
    """Yield ``(line, row)`` for each CSV record, or ``(line, RowError)`` for one
    that cannot be read; ``line`` is where the record starts."""
    bad: dict[int, str] = {}
    with path.open("rb") as f:
        reader = csv.reader(_decoded_lines(f, bad), strict=True)
        header: list[str] | None = None
        last = 0
        while True:
            first = last + 1
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                last = reader.line_num
                yield first, RowError(first, None, f"is not valid CSV: {exc}")
                continue
            last = reader.line_num
            broken = [n for n in range(first, last + 1) if n in bad]
            if header is None:
                if broken:
                    raise ValidationError(f"the header line {bad[broken[0]]}", field="header", code="INVALID_ENCODING")
                if record and not _blank(record):
                    header = _check_header(record)
                continue
            if broken:
                reason = bad[broken[0]]
                for n in broken:
                    del bad[n]
                yield first, RowError(broken[0], None, reason)
                continue
            if _blank(record):
                continue
            if len(record) != len(header):
                yield first, RowError(first, None, f"has {len(record)} values but the header has {len(header)} columns")
                continue
            try:
                yield first, {column: _csv_cell(column, value) for column, value in zip(header, record)}
            except ValidationError as exc:
                yield first, RowError(first, exc.field, exc.message)
    if header is None:
        raise ValidationError("the file is empty (a header line is needed)", field="header", code="REQUIRED")


def _read_jsonl(path: Path) -> Iterator[Record]:
    """Yield ``(line, object)`` for each JSON Lines record, or ``(line, RowError)``."""
    bad: dict[int, str] = {}
    with path.open("rb") as f:
        for number, line in enumerate(_decoded_lines(f, bad), start=1):
            if number in bad:
                yield number, RowError(number, None, bad.pop(number))
                continue
            if not line.strip():
                continue
            try:
                row = _parse_json(line)
            except ValueError as exc:
                yield number, RowError(number, None, f"is not valid JSON: {exc}")
                continue
            if not isinstance(row, dict):
                yield number, RowError(number, None, "must be a JSON object")
                continue
            unknown = [k for k in row if k not in COLUMNS]
            if unknown:
                yield number, RowError(number, unknown[0], f"unknown field; the fields are {', '.join(COLUMNS)}")
                continue
            yield number, row


def _reader_for(path: Path):
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl
    raise ValidationError(f"{path.name}: unsupported file type (use .csv or .jsonl)", field="path", code="UNSUPPORTED")


# --------------------------------------------------------------------------- writing


async def bulk_create_with_ids(model: type[Model], objects: list[Model]) -> None:
    """``bulk_create`` that also gives each object its primary key.

    Tortoise's ``bulk_create`` does not report generated keys, but dependent rows
    (customer tags, interactions) need them. PostgreSQL: reserve the keys from the
    table's sequence first (safe with concurrent writers). SQLite: insert, then read
    the newest keys back — sound because a transaction holds SQLite's write lock
    from its first insert to its commit, so no other row can slip in between.
    Must run inside a transaction (``write_scope``).
    """
    if not objects:
        return
    db = model._meta.db
    table, pk = model._meta.db_table, model._meta.db_pk_column
    if db.capabilities.dialect == "postgres":
        rows = await db.execute_query_dict(
            f"SELECT nextval(pg_get_serial_sequence('{table}', '{pk}')) AS id FROM generate_series(1, $1)",
            [len(objects)],
        )
        for obj, key in zip(objects, sorted(r["id"] for r in rows)):
            obj.pk = key
            obj._custom_generated_pk = True
        await model.bulk_create(objects)
    else:
        await model.bulk_create(objects)
        rows = await db.execute_query_dict(
            f'SELECT "{pk}" AS id FROM "{table}" ORDER BY "{pk}" DESC LIMIT ?', [len(objects)]
        )
        for obj, key in zip(objects, sorted(r["id"] for r in rows)):
            obj.pk = key
    for obj in objects:
        obj._saved_in_db = True


@dataclass
class _PendingRow:
    line: int
    customer: Customer


class _Importer:
    def __init__(
        self, kehu: Kehu, path: Path, report: ImportReport, viewer: Viewer | None, actor_label: str, events: bool
    ):
        self.kehu = kehu
        self.events = events
        self.path = path
        self.report = report
        self.viewer = viewer
        self.actor_label = actor_label
        self.owners: dict[str, int] = {}

    async def load_owners(self) -> None:
        # Account owners are a staff directory (tens to thousands): one query, then
        # every row's owner_email is a dictionary lookup.
        for owner_id, email in await AccountOwner.filter(active=True).values_list("id", "email"):
            self.owners[email.lower()] = owner_id

    def prepare(self, row: dict[str, Any], now: dt.datetime) -> Customer:
        """Build an unsaved customer from a row; raises ``ValidationError``."""
        values = clean_customer_fields({k: v for k, v in row.items() if k != "owner_email"}, creating=True)
        owner_id = None
        owner_email = row.get("owner_email")
        if owner_email is not None:
            if not isinstance(owner_email, str):
                raise ValidationError("must be text", field="owner_email")
            if owner_email.strip():
                owner_id = self.owners.get(owner_email.strip().lower())
                if owner_id is None:
                    raise ValidationError(
                        f"no active account owner has the e-mail '{owner_email.strip()}'",
                        field="owner_email",
                        code="UNKNOWN_OWNER",
                    )
        values.setdefault("kind", CustomerKind.PERSON)
        return Customer(**values, owner_id=owner_id, created_at=now)

    async def write(self, batch: list[_PendingRow]) -> None:
        """Write a batch in one transaction. Should the database still refuse it
        (every row already passed validation, so this is rare), split the batch to
        find the refused rows, report them, and write the rest."""
        try:
            await self._write_batch(batch)
        except BaseORMException as exc:
            if len(batch) == 1:
                self.report.errors.append(RowError(batch[0].line, None, f"the database refused the row: {exc}"))
                return
            for row in batch:  # undo the keys the failed attempt handed out
                row.customer.pk = None
                row.customer._custom_generated_pk = False
                row.customer._saved_in_db = False
            middle = len(batch) // 2
            await self.write(batch[:middle])
            await self.write(batch[middle:])

    async def _write_batch(self, batch: list[_PendingRow]) -> None:
        customers = [row.customer for row in batch]
        async with write_scope(self.kehu, self.viewer, IMPORT_OPERATION, actor_label=self.actor_label) as scope:
            await bulk_create_with_ids(Customer, customers)
            tags = [CustomerTag(customer_id=c.pk, tag=t) for c in customers for t in c.tags]
            if tags:
                await CustomerTag.bulk_create(tags)
            scope.entity_type = "Customer"
            scope.changes["imported"] = len(customers)
            if self.events:
                for customer in customers:
                    scope.emit("kehu_customer_created", customer=customer)
        self.report.imported += len(customers)
        self.report.batches += 1


async def import_customers(
    kehu: Kehu,
    path: Path,
    *,
    actor: AccountOwner | str | None = None,
    batch_size: int = 1000,
    progress: Progress | None = None,
    events: bool = False,
) -> ImportReport:
    """Import customers from a ``.csv`` (header row) or ``.jsonl`` file.

    Columns / keys: ``COLUMNS``. CSV tags are separated by ``;`` or ``|``, CSV
    attributes are a JSON object; in JSON Lines tags are a list. ``owner_email``
    must name an active account owner.

    Good rows are imported in batches of ``batch_size``, each batch one transaction
    with one audit entry (operation ``importCustomers``, entity type ``Customer``,
    changes ``{"imported": n}``). Bad rows are collected in ``report.errors`` with
    their line number, field and reason, and nothing of them is written.

    :param events: fire ``kehu_customer_created`` for each imported customer
        (slow with plugins enabled); by default one ``kehu_bulk_loaded`` follows
        (after its batch commits), as ``createCustomer`` does. Off by default: a
        bulk load would run every plugin's handler once per row — measured with
        segmentation enabled, a few milliseconds per customer, minutes for 100,000
        rows — while plugins catch up in their own full runs
        (``kehu segments recompute``). Turn it on for small imports.

    :param actor: who runs the import: an ``AccountOwner`` (recorded as the audit
        actor and passed to event handlers) or a label for the audit log.
    :param progress: called with the number of rows read so far after each batch.
    :raises ValidationError: when the file as a whole is unusable (unknown type,
        unknown or missing header columns). Batches committed before an
        unexpected error stay committed.
    """
    path = Path(path)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    reader = _reader_for(path)
    report = ImportReport(path=path)
    if isinstance(actor, AccountOwner):
        viewer = Viewer(owner=actor, permissions=kehu.permissions_for(actor.role))
        label = f"{viewer.label} import {path.name}"
    else:
        viewer = None
        label = f"{actor or 'kehu'} import {path.name}"
    importer = _Importer(kehu, path, report, viewer, label[:300], events)
    await importer.load_owners()
    started = time.perf_counter()
    now = kehu.clock.now()
    batch: list[_PendingRow] = []
    for line, row in reader(path):
        report.rows += 1
        if isinstance(row, RowError):
            report.errors.append(row)
            continue
        try:
            batch.append(_PendingRow(line, importer.prepare(row, now)))
        except ValidationError as exc:
            report.errors.append(RowError(line, exc.field, exc.message))
        if len(batch) >= batch_size:
            await importer.write(batch)
            batch = []
            if progress is not None:
                progress(report.rows)
    if batch:
        await importer.write(batch)
    if report.imported and not events:
        await kehu.hooks.dispatch_event(
            "kehu_bulk_loaded",
            reason="import",
            customer_ids=None,
            actor=viewer.owner if viewer else None,
        )
    report.seconds = time.perf_counter() - started
    if progress is not None:
        progress(report.rows)
    return report


# --------------------------------------------------------------------------- export


def _everyone() -> Viewer:
    """``filter_customers`` scopes by viewer; an export without one (the CLI, run by
    whoever holds the database) sees every customer, as an administrator would."""
    return Viewer(owner=AccountOwner(id=0, name="kehu", email="kehu@localhost", role=Role.ADMIN, team=""))


# Columns that may carry a field policy (``Customer.<column>``).
PERSONAL_COLUMNS = ("name", "email", "phone", "address", "attributes")


def _export_record(row: tuple, owner_emails: dict[int, str]) -> dict[str, Any]:
    _, name, kind, email, phone, address, region, industry, tags, owner_id, attributes = row
    return {
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
    text: TextIO = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True) if binary else out  # type: ignore[arg-type]
    try:
        return await _export(
            kehu, text, format, viewer or _everyone(), filter or CustomerFilter(), progress, masked=viewer is not None
        )
    finally:
        text.flush()
        if binary:
            text.detach()


async def _export(kehu, out: TextIO, format: str, viewer: Viewer, f: CustomerFilter, progress, *, masked: bool) -> int:
    owner_emails = dict(await AccountOwner.all().values_list("id", "email"))
    writer = csv.writer(out, lineterminator="\n") if format == "csv" else None
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
