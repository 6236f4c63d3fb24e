"""Results out: each customer's classification as one flat row, for
``kehu export segments`` (CSV, JSON Lines, XLSX) and ``segmentationResults``
(GraphQL, paged). Both read the same rows in the same order (by customer id),
a page at a time, never the whole base at once.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

from tortoise.expressions import Subquery

from kehu.access import Viewer, of_visible_customers
from kehu.errors import NotFound, ValidationError
from kehu.models import Customer

from ..models import Classification, RecomputeRun, Segment, SegmentMembership
from ..settings import SegmentationSettings
from .explanation import explain, tier_rule

if TYPE_CHECKING:
    from kehu import Kehu

FORMATS = ("csv", "jsonl", "xlsx")
PAGE_SIZE = 1000

# The columns of an export, in order: what an analyst needs to reproduce the
# classification and to join it with other systems' data.
COLUMNS = (
    "as_of",
    "customer_id",
    "external_id",
    "name",
    "recency_days",
    "frequency",
    "monetary",
    "r",
    "f",
    "m",
    "rfm_score",
    "rfm_segment",
    "abc_class",
    "frequency_class",
    "value_tier",
    "tier_rule",
    "lifecycle_stage",
    "lifetime_purchases",
    "purchase_days",
    "lifetime_revenue",
    "clv_predicted",
    "expected_purchases",
    "expected_revenue",
    "probability_alive",
    "clv_model",
    "explanation",
)


@dataclass(frozen=True)
class ResultFilter:
    """Narrows the rows: members of a segment (its key), a tier, a stage, a class."""

    segment: str | None = None
    value_tier: str | None = None
    lifecycle_stage: str | None = None
    abc_class: str | None = None


def _has_external_id() -> bool:
    return "external_id" in Customer._meta.fields_map


async def results(viewer: Viewer | None, f: ResultFilter | None = None, *, everyone: bool = False):
    """Classifications of active customers the viewer may see (every customer with
    ``everyone``: the CLI), filtered, by customer id. An unknown segment key is
    ``NotFound``."""
    f = f or ResultFilter()
    qs = Classification.filter(archived=False)
    if not everyone:
        qs = of_visible_customers(qs, viewer)
    if f.segment is not None:
        segment = await Segment.get_or_none(key=f.segment)
        if segment is None:
            raise NotFound(f"no segment with key '{f.segment}'", field="segment")
        qs = qs.filter(customer_id__in=Subquery(SegmentMembership.filter(segment_id=segment.id).values("customer_id")))
    for column in ("value_tier", "lifecycle_stage", "abc_class"):
        value = getattr(f, column)
        if value is not None:
            qs = qs.filter(**{column: value})
    return qs.order_by("customer_id")


async def customer_fields(ids: list[int]) -> dict[int, dict[str, Any]]:
    """Name and external id of the customers ``ids``."""
    columns = ["id", "name"] + (["external_id"] if _has_external_id() else [])
    return {r["id"]: r for r in await Customer.filter(id__in=ids).values(*columns)}


async def runs_of(rows: list[Classification], cache: dict[int, RecomputeRun]) -> dict[int, RecomputeRun]:
    missing = {r.run_id for r in rows if r.run_id and r.run_id not in cache}
    if missing:
        cache.update({run.id: run for run in await RecomputeRun.filter(id__in=missing)})
    return cache


def _money(cents: int | None) -> Decimal:
    return (Decimal(int(cents or 0)) / 100).quantize(Decimal("0.01"))


def record(
    row: Classification,
    customer: dict[str, Any] | None,
    run: RecomputeRun | None,
    s: SegmentationSettings,
    language: str,
) -> dict[str, Any]:
    """One export row (Python values: dates, Decimals, floats, None)."""
    customer = customer or {}
    model = (run.clv_model if run else None) or {}
    return {
        "as_of": row.as_of,
        "customer_id": row.customer_id,
        "external_id": customer.get("external_id"),
        "name": customer.get("name"),
        "recency_days": row.recency_days,
        "frequency": row.frequency,
        "monetary": _money(row.monetary_cents),
        "r": row.r,
        "f": row.f,
        "m": row.m,
        "rfm_score": f"{row.r}{row.f}{row.m}" if row.r is not None else None,
        "rfm_segment": row.rfm_segment,
        "abc_class": row.abc_class,
        "frequency_class": row.frequency_class,
        "value_tier": row.value_tier,
        "tier_rule": tier_rule(row, s, language),
        "lifecycle_stage": row.lifecycle_stage,
        "lifetime_purchases": row.lifetime_purchases,
        "purchase_days": row.purchase_days,
        "lifetime_revenue": _money(row.lifetime_revenue_cents),
        "clv_predicted": _money(row.clv_predicted_cents),
        "expected_purchases": None if row.expected_purchases is None else round(row.expected_purchases, 4),
        "expected_revenue": _money(row.expected_revenue_cents),
        "probability_alive": None if row.p_alive is None else round(row.p_alive, 4),
        "clv_model": (model.get("model") if row.lifetime_purchases else None),
        "explanation": explain(row, run, s, language),
    }


async def export_results(
    kehu: Kehu,
    out: IO,
    *,
    format: str = "csv",
    filter: ResultFilter | None = None,
    language: str | None = None,
    progress: Callable[[int], Any] | None = None,
) -> int:
    """Write every active customer's classification to ``out`` (text for CSV and
    JSON Lines, binary for XLSX), in pages by customer id; returns the rows
    written. For the CLI: every customer, as an administrator sees them."""
    if format not in FORMATS:
        raise ValidationError(f"'{format}' is not one of {', '.join(FORMATS)}", field="format")
    s = kehu.settings_for("segmentation", SegmentationSettings)
    language = language or s.language
    qs = await results(None, filter, everyone=True)
    writer = _writer(format, out)
    writer.header(COLUMNS)
    runs: dict[int, RecomputeRun] = {}
    written, last = 0, 0
    while True:
        page = await qs.filter(customer_id__gt=last).limit(PAGE_SIZE)
        if not page:
            break
        customers = await customer_fields([r.customer_id for r in page])
        await runs_of(page, runs)
        for row in page:
            writer.row(record(row, customers.get(row.customer_id), runs.get(row.run_id), s, language))
        written += len(page)
        last = page[-1].customer_id
        if progress is not None:
            progress(written)
        if len(page) < PAGE_SIZE:
            break
    writer.close()
    return written


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


class _CsvWriter:
    def __init__(self, out: IO):
        from kehu import csvsafe

        self.writer = csvsafe.writer(out)

    def header(self, columns) -> None:
        self.columns = columns
        self.writer.writerow(columns)

    def row(self, record: dict[str, Any]) -> None:
        self.writer.writerow([_text(record[c]) for c in self.columns])

    def close(self) -> None:
        pass


class _JsonLinesWriter:
    def __init__(self, out: IO):
        self.out = out

    def header(self, columns) -> None:
        self.columns = columns

    def row(self, record: dict[str, Any]) -> None:
        # Money as strings (exact decimals), as GraphQL's Decimal.
        values = {c: (str(v) if isinstance(v, Decimal) else v) for c, v in record.items()}
        self.out.write(json.dumps(values, ensure_ascii=False, default=_text) + "\n")

    def close(self) -> None:
        pass


class _XlsxWriter:
    """A streaming workbook (openpyxl's write-only mode): memory stays flat."""

    def __init__(self, out: IO):
        try:
            from openpyxl import Workbook
        except ImportError:
            raise ValidationError("XLSX needs openpyxl (pip install openpyxl)", field="format") from None
        self.out = out
        self.book = Workbook(write_only=True)
        self.sheet = self.book.create_sheet("segments")

    def header(self, columns) -> None:
        self.columns = columns
        self.sheet.freeze_panes = "A2"
        self.sheet.append(list(columns))

    def row(self, record: dict[str, Any]) -> None:
        # Numbers and dates stay typed; text stays text: openpyxl would store a
        # string starting with "=" (a customer's name, say) as a formula.
        self.sheet.append([self._cell(record[c]) for c in self.columns])

    def _cell(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith("="):
            from openpyxl.cell import WriteOnlyCell

            cell = WriteOnlyCell(self.sheet, value=value)
            cell.data_type = "s"
            return cell
        return value

    def close(self) -> None:
        self.book.save(self.out)


def _writer(format: str, out: IO):
    return {"csv": _CsvWriter, "jsonl": _JsonLinesWriter, "xlsx": _XlsxWriter}[format](out)
