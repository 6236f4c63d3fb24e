"""Importing history: interactions (purchases, calls, visits …) from CSV, JSON
Lines or XLSX — the functions behind ``kehu import interactions``.

Each row names its customer by ``customer_external_id``, ``customer_id`` (kehu's
id) or ``customer_email``, and carries the interaction's own fields, checked by
``clean_interaction_fields`` — the rules of ``logInteraction`` — with times
without an offset read in the business time zone (``[kehu] timezone``). A row's
``external_id`` (an order number) makes it land once: the same file imported
again writes nothing new, and an external id that comes back with a different
customer, kind, time or amount is rejected.

Rows are written in batches (one transaction and one audit entry each) straight
into the table (``kehu.cli.bulk``), without an event per row. When the whole file
is in, plugins hear once, through ``kehu_bulk_loaded``, which customers and which
interactions arrived and the earliest date among them, and bring their own data
up to date as of each record's date (loyalty accrues each purchase at its date
and tier; segmentation re-scores the loaded customers once).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .. import bulk
from .. import validation as v
from ..errors import ValidationError
from ..interactions import clean_interaction_fields, interaction_rules
from ..models import AccountOwner, Customer, Interaction
from ..writes import write_scope
from .sources import open_source
from .transfer import (
    BATCH_SIZE,
    ColumnPlan,
    CustomerIds,
    ImportReport,
    OwnerDirectory,
    Progress,
    bulk_loaded,
    import_actor,
    kehu_id,
    report_progress,
    run_batches,
    write_or_split,
)

if TYPE_CHECKING:
    from ..access import Viewer
    from ..server.runtime import Kehu

INTERACTION_COLUMNS = (
    "external_id",
    "customer_external_id",
    "customer_id",
    "customer_email",
    "kind",
    "occurred_at",
    "direction",
    "amount",
    "subject",
    "notes",
    "owner_email",
    "next_follow_up_at",
)
CUSTOMER_REFERENCES = ("customer_external_id", "customer_id", "customer_email")
IMPORT_OPERATION = "importInteractions"
# What Chinese spreadsheets call the kinds (the import also takes the English names).
KIND_ALIASES = {
    "购买": "PURCHASE",
    "购物": "PURCHASE",
    "订单": "PURCHASE",
    "交易": "PURCHASE",
    "电话": "CALL",
    "来电": "CALL",
    "拜访": "VISIT",
    "上门": "VISIT",
    "邮件": "EMAIL",
    "会议": "MEETING",
    "消息": "MESSAGE",
    "微信": "MESSAGE",
    "短信": "MESSAGE",
    "备注": "NOTE",
    "记录": "NOTE",
}
# The columns of an imported interaction, its customer last (``_Row.head``).
_INSERT_COLUMNS = (
    "owner_id",
    "kind",
    "direction",
    "occurred_at",
    "subject",
    "notes",
    "amount",
    "next_follow_up_at",
    "external_id",
    "created_at",
    "customer_id",
)


@dataclass
class _Row:
    line: int
    values: dict[str, Any]
    reference: tuple[str, Any] | None  # ("external_id", "C-1") / ("id", 17) / ("email", "a@b.c"); None: known id
    customer_id: int | None = None
    # The row as inserted, but for its customer (``_INSERT_COLUMNS``): built while
    # the file is read, off the path of the batch being written.
    head: tuple = ()


class InteractionImporter:
    """Checks interaction rows and writes them in batches. Used by
    ``import_interactions`` and, for customers that carry their interactions, by
    ``import_customers`` (with the customer's id already known)."""

    def __init__(self, kehu: Kehu, report: ImportReport, viewer: Viewer | None, label: str, *, now, events=False):
        self.kehu = kehu
        self.report = report
        self.viewer = viewer
        self.label = label
        self.now = now
        self.events = events
        self.zone = kehu.config.kehu.zone
        # Who logged an interaction years ago may have left since: any owner, active or not.
        self.owners = OwnerDirectory(active_only=False)
        self.cells = True  # CSV/XLSX text cells; False for JSON Lines, whose values are typed
        self.rules, self.cell_rules = _import_rules(self.zone)
        self.customers = CustomerIds()
        self.earliest: dt.datetime | None = None
        self.first_id: int | None = None
        self.last_id: int | None = None

    def prepare(self, line: int, row: dict[str, Any], customer_id: int | None = None) -> _Row:
        """Check one row; raises ``ValidationError``."""
        data = dict(row)  # cells: text or None (blank)
        reference: tuple[str, Any] | None = None
        if customer_id is None:
            if data.get("customer_external_id") is not None:
                value = data["customer_external_id"]
                reference = ("external_id", str(value).strip() if not isinstance(value, str) else value.strip())
            elif data.get("customer_id") is not None:
                reference = ("id", kehu_id(data["customer_id"], "Customer", "customer_id"))
            elif data.get("customer_email") is not None:
                email = data["customer_email"]
                if not isinstance(email, str):
                    raise ValidationError("must be text", field="customer_email")
                reference = ("email", email.strip())
            else:
                raise ValidationError(
                    "name the customer with customer_external_id, customer_id or customer_email",
                    field="customer_external_id",
                    code="REQUIRED",
                )
        if data.get("occurred_at") is None:
            raise ValidationError("is required in an import", field="occurred_at", code="REQUIRED")
        try:
            values = clean_interaction_fields(data, self.now, rules=self.cell_rules if self.cells else self.rules)
        except ValidationError as exc:
            raise _as_column(exc) from None
        values["owner_id"] = self.owners.lookup(data.get("owner_email"))
        head = (
            values["owner_id"],
            values["kind"]._value_,
            values["direction"]._value_,
            values["occurred_at"],
            values["subject"],
            values["notes"],
            values["amount"],
            values["next_follow_up_at"],
            values["external_id"],
            self.now,
        )
        return _Row(line, values, reference, customer_id, head)

    async def resolve(self, batch: list[_Row]) -> tuple[list[tuple[int, ValidationError]], dict[int, Any]]:
        """Find each row's customer; returns the rows that name none (or an archived
        one), and each customer's ``last_interaction_at`` as it stands."""
        problems: list[tuple[int, ValidationError]] = []
        last: dict[int, Any] = {}
        wanted: dict[str, set] = {"external_id": set(), "id": set(), "email": set()}
        known: set[int] = set()
        for r in batch:
            if r.reference is None:
                known.add(cast(int, r.customer_id))
            else:
                wanted[r.reference[0]].add(r.reference[1])
        unique: dict[str, dict[Any, dict[str, Any]]] = {}  # by external id, by id: one customer each
        for kind in ("external_id", "id"):
            columns = ("id", "archived_at", "last_interaction_at") + (() if kind == "id" else (kind,))
            records = await bulk.select_in(Customer, columns, kind, list(wanted[kind]))
            unique[kind] = {record[kind]: record for record in records}
        emails: dict[str, list[dict[str, Any]]] = {}  # several customers may share one
        for record in await bulk.select_in(
            Customer, ("id", "archived_at", "last_interaction_at", "email"), "email", list(wanted["email"])
        ):
            emails.setdefault(record["email"], []).append(record)
        missing = [key for key in wanted["email"] if key not in emails]
        if missing:  # e-mail addresses match whatever their case
            db = Customer._meta.db
            for start in range(0, len(missing), 500):
                lowered = [m.lower() for m in missing[start : start + 500]]
                sql = (
                    f"SELECT id, email, archived_at, last_interaction_at FROM kehu_customer WHERE lower(email) IN "
                    f"({bulk.placeholders(Customer, len(lowered))})"
                )
                by_lower: dict[str, list] = {}
                for record in await db.execute_query_dict(sql, lowered):
                    by_lower.setdefault(record["email"].lower(), []).append(record)
                for key in missing[start : start + 500]:
                    if key.lower() in by_lower:
                        emails[key] = by_lower[key.lower()]
        archived = set()
        for record in await bulk.select_in(Customer, ("id", "archived_at", "last_interaction_at"), "id", list(known)):
            last[record["id"]] = record["last_interaction_at"]
            if record["archived_at"] is not None:
                archived.add(record["id"])
        for row in batch:
            if row.reference is None:
                if row.customer_id in archived:
                    problems.append((row.line, _archived()))
                continue
            kind, key = row.reference
            if kind == "email":
                records = emails.get(key, [])
                if len(records) > 1:
                    records = [r for r in records if r["archived_at"] is None]
                    if len(records) != 1:
                        problems.append(
                            (
                                row.line,
                                ValidationError(
                                    f"{len(emails[key])} customers have this e-mail; name the customer by "
                                    "customer_external_id or customer_id",
                                    field="customer_email",
                                    code="AMBIGUOUS_CUSTOMER",
                                ),
                            )
                        )
                        continue
                found = records[0] if records else None
            else:
                found = unique[kind].get(key)
            if found is None:
                what = {"external_id": "external id", "id": "id", "email": "e-mail"}[kind]
                column = {"external_id": "customer_external_id", "id": "customer_id", "email": "customer_email"}[kind]
                shown = key if kind != "email" else "this e-mail"
                problems.append(
                    (
                        row.line,
                        ValidationError(
                            f"no customer has the {what} {shown!r}" if kind != "email" else f"no customer has {shown}",
                            field=column,
                            code="UNKNOWN_CUSTOMER",
                        ),
                    )
                )
                continue
            if found["archived_at"] is not None:
                problems.append((row.line, _archived()))
                continue
            row.customer_id = customer_id = found["id"]
            last[customer_id] = found["last_interaction_at"]
        return problems, last

    async def write(self, batch: list[_Row]) -> None:
        await write_or_split(self._write_batch, batch, self.report)

    async def _write_batch(self, batch: list[_Row]) -> None:
        report = self.report
        async with write_scope(self.kehu, self.viewer, IMPORT_OPERATION, actor_label=self.label) as scope:
            await bulk.bulk_transaction(Interaction)
            problems, last = await self.resolve(batch)
            bad = {line for line, _ in problems}
            rows = [r for r in batch if r.line not in bad]
            rows, unchanged, reused = await self._new_only(rows)
            problems += reused
            tuples = [(*r.head, r.customer_id) for r in rows]
            # The insert runs in the database's thread while Python works out which
            # customers' last_interaction_at moves.
            inserting = asyncio.ensure_future(bulk.insert_rows(Interaction, _INSERT_COLUMNS, tuples, with_ids=True))
            latest: dict[int, dt.datetime] = {}
            for r in rows:
                customer_id = cast(int, r.customer_id)  # every row's customer is resolved by now
                at, before = r.values["occurred_at"], latest.get(customer_id) or last.get(customer_id)
                if before is None or at > before:
                    latest[customer_id] = at
            ids = await inserting or []
            await _advance_last_interaction(latest)
            scope.entity_type = "Interaction"
            scope.changes["imported"] = len(rows)
            if self.events and ids:
                interactions = await Interaction.filter(id__in=ids).select_related("customer").order_by("id")
                for interaction in interactions:
                    scope.emit("kehu_interaction_logged", interaction=interaction)
        for line, exc in problems:
            report.reject(line, exc)
        report.created += len(rows)
        report.unchanged += unchanged
        report.batches += 1
        if ids:
            self.first_id = ids[0] if self.first_id is None else min(self.first_id, ids[0])
            self.last_id = ids[-1] if self.last_id is None else max(self.last_id, ids[-1])
        for r in rows:
            self.customers.add(cast(int, r.customer_id))
            if self.earliest is None or r.values["occurred_at"] < self.earliest:
                self.earliest = r.values["occurred_at"]

    async def _new_only(self, rows: list[_Row]) -> tuple[list[_Row], int, list[tuple[int, ValidationError]]]:
        """Drop rows whose external id was imported before (or earlier in this
        batch) with the same content; reject those that reuse one for something else."""
        keys = [r.values["external_id"] for r in rows if r.values["external_id"] is not None]
        if not keys:
            return rows, 0, []
        stored: dict[str, tuple] = {}
        columns = ("external_id", "customer_id", "kind", "occurred_at", "amount")
        for record in await bulk.select_in(Interaction, columns, "external_id", list(set(keys))):
            stored[record["external_id"]] = _fingerprint(
                record["customer_id"], record["kind"], record["occurred_at"], record["amount"]
            )
        earlier: dict[str, _Row] = {}  # the first row of the batch with each external id
        new, unchanged, reused = [], 0, []
        for r in rows:
            key = r.values["external_id"]
            if key is None:
                new.append(r)
                continue
            known = stored.get(key)
            if known is None:
                first = earlier.get(key)
                if first is None:
                    earlier[key] = r
                    new.append(r)
                    continue
                known = _row_fingerprint(first)
            if known == _row_fingerprint(r):
                unchanged += 1
            else:
                reused.append(
                    (
                        r.line,
                        ValidationError(
                            "this external id was already imported for a different customer, kind, time or amount",
                            field="external_id",
                            code="EXTERNAL_ID_REUSED",
                        ),
                    )
                )
        return new, unchanged, reused

    @property
    def interaction_ids(self) -> range | None:
        if self.first_id is None or self.last_id is None:
            return None
        return range(self.first_id, self.last_id + 1)


def _row_fingerprint(row: _Row) -> tuple:
    values = row.values
    return _fingerprint(cast(int, row.customer_id), values["kind"], values["occurred_at"], values["amount"])


def _fingerprint(customer_id: int, kind: Any, occurred_at: dt.datetime, amount: Any) -> tuple:
    return (
        customer_id,
        getattr(kind, "value", kind),
        occurred_at.astimezone(dt.UTC),
        None if amount is None else Decimal(amount).quantize(Decimal("0.01")),
    )


def _archived() -> ValidationError:
    return ValidationError(
        "archived customers cannot get new interactions", field="customer_external_id", code="ARCHIVED"
    )


def _kind(rule: v.Rule) -> v.Rule:
    """The kind rule, taking what Chinese spreadsheets call the kinds as well."""

    def kind(value: Any) -> Any:
        return rule(KIND_ALIASES.get(value.strip(), value) if isinstance(value, str) else value)

    return kind


# Columns whose values repeat from row to row (kinds, dates, prices), whose rule
# an import remembers per distinct text (``kehu.validation.remembered``).
_REPEATING = ("kind", "direction", "occurred_at", "amount", "subject", "next_follow_up_at")


def _import_rules(zone: Any) -> tuple[dict[str, v.Rule], dict[str, v.Rule]]:
    """``clean_interaction_fields``'s rules for an import: for typed values (JSON
    Lines), and for text cells (CSV, XLSX), remembered where values repeat."""
    rules = dict(interaction_rules(zone))
    rules["kind"] = _kind(rules["kind"])
    cells = {name: v.remembered(rule) if name in _REPEATING else rule for name, rule in rules.items()}
    return rules, cells


_COLUMN_OF = {"occurredAt": "occurred_at", "nextFollowUpAt": "next_follow_up_at", "externalId": "external_id"}


def _as_column(exc: ValidationError) -> ValidationError:
    """An error of the API's rules, naming the file's column."""
    return ValidationError(exc.message, field=_COLUMN_OF.get(exc.field or "", exc.field), code=exc.code)


async def _advance_last_interaction(latest: dict[int, dt.datetime]) -> None:
    """``last_interaction_at`` only moves forward (as ``log_interaction`` does)."""
    if not latest:
        return
    db = Customer._meta.db
    if bulk.is_postgres(Customer):  # one statement: a row at a time is a round trip each
        sql = (
            "UPDATE kehu_customer c SET last_interaction_at = v.at "
            "FROM unnest($1::int[], $2::timestamptz[]) AS v(id, at) "
            "WHERE c.id = v.id AND (c.last_interaction_at IS NULL OR c.last_interaction_at < v.at)"
        )
        await db.execute_query(sql, [list(latest), list(latest.values())])
        return
    payload = bulk.json_rows(list(latest.items()))
    if payload is not None:  # one statement, without the GIL (kehu.bulk.json_rows)
        sql = (
            "UPDATE kehu_customer SET last_interaction_at = v.at FROM (SELECT json_extract(value, '$[0]') AS id, "
            "json_extract(value, '$[1]') AS at FROM json_each(?)) AS v WHERE kehu_customer.id = v.id "
            "AND (kehu_customer.last_interaction_at IS NULL OR kehu_customer.last_interaction_at < v.at)"
        )
        await db.execute_query(sql, [payload])
        return
    sql = (
        "UPDATE kehu_customer SET last_interaction_at = ? WHERE id = ? "
        "AND (last_interaction_at IS NULL OR last_interaction_at < ?)"
    )
    await db.execute_many(sql, [[at, cid, at] for cid, at in latest.items()])


async def import_interactions(
    kehu: Kehu,
    path: Path,
    *,
    actor: AccountOwner | str | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
    events: bool = False,
    extra_columns: str = "error",
    encoding: str | None = None,
    delimiter: str | None = None,
    columns: dict[str, str] | None = None,
) -> ImportReport:
    """Import interactions from a ``.csv``/``.tsv``, ``.jsonl`` or ``.xlsx`` file.

    Columns: ``INTERACTION_COLUMNS``; ``kind`` and ``occurred_at`` are required,
    and one of ``customer_external_id``, ``customer_id``, ``customer_email`` names
    the customer. Rows whose ``external_id`` was imported before with the same
    content are counted as unchanged and not written again.

    After the last batch, ``kehu_bulk_loaded`` (reason ``"import"``) names the
    customers, the range of new interaction ids and the earliest ``occurred_at``;
    with ``events``, ``kehu_interaction_logged`` fires per interaction instead.
    Other parameters: see ``import_customers``. ``report.created`` counts the new
    interactions.
    """
    path = Path(path)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    plan = ColumnPlan(INTERACTION_COLUMNS, extra_columns, allow_attributes=False)
    source = open_source(path, encoding=encoding, delimiter=delimiter, columns=columns)
    try:
        extras = None
        if source.header is not None:
            extras = plan.check_header(source, ["kind", "occurred_at"])
            if not any(c in source.header for c in CUSTOMER_REFERENCES):
                raise ValidationError(
                    "the header names no customer column (customer_external_id, customer_id or customer_email)",
                    field="header",
                    code="REQUIRED",
                )
    except ValidationError:
        source.close()
        raise
    report = ImportReport(path=path, encoding=source.encoding)
    viewer, label = import_actor(kehu, actor, path)
    importer = InteractionImporter(kehu, report, viewer, label, now=kehu.clock.now(), events=events)
    importer.cells = source.format != "jsonl"
    await importer.owners.load()
    started = time.perf_counter()

    def prepare(line: int, row: dict[str, Any]) -> _Row:
        return importer.prepare(line, plan.split(row, extras, line)[0])

    async with bulk.bulk_session(Customer):
        await run_batches(source, report, prepare, importer.write, batch_size, progress)
        if importer.customers and not events:
            report.plugin_seconds = await bulk_loaded(
                kehu,
                viewer,
                reason="import",
                customer_ids=importer.customers,
                interaction_ids=importer.interaction_ids,
                since=importer.earliest,
            )
    report.seconds = time.perf_counter() - started
    report_progress(progress, report, source)
    return report
