"""Segmentation rules: RFM, ABC, frequency class, value tier, lifecycle stage, CLV,
rule-based and static segments. No GraphQL here.

Everything is computed set-based in SQL; no customer is ever classified row by row
in Python. The pipeline (``recompute_all``) is:

1. **Inputs** — per customer, from PURCHASE interactions (``occurred_at <= now``):
   recency (whole days since the last purchase, ever), tenure (days since the first),
   frequency and monetary (purchases and their sum *within the window*), lifetime
   purchases and revenue. Written to ``segmentation_staging`` in id batches.
2. **Score borders** — over the *population*: active (not archived) customers with
   at least one purchase in the window. RFM scores use rank arithmetic, not NTILE:
   ``score = 1 + floor(bins × (RANK() − 1) / n)`` where ``RANK()`` orders
   ascending by goodness (older recency first; fewer purchases first; lower
   monetary first). Tied customers share one RANK — the position of the first of
   them — so ties always get the same score and the result never depends on row
   order (NTILE would split a tie across two scores arbitrarily). With
   ``n = 10, bins = 5`` ranks 1–2 → 1, 3–4 → 2, …; ten customers tied at the
   bottom all score 1. For each score the border value (the least good value that
   still earns it) is kept in ``RecomputeRun.thresholds``.
   ABC: customers ordered by monetary, descending; a customer is A when the revenue
   of customers *strictly above* them is below ``a_share`` of the total (they are
   needed to reach the top 80%), B below ``b_share``, else C. Ties share a class.
   Customers without revenue in the window are C; archived ones have no class.
3. **Classes** — one ``UPDATE`` applies the borders (the same SQL scores one
   customer incrementally, against the last run's borders), then the named RFM
   segment, value tier and CLV.
4. **History and swap** — changes of value tier and lifecycle stage become
   ``SegmentChange`` rows; the batch replaces its ``Classification`` rows.
5. **Rule segments** — each rule compiles to one SQL query; joins and leaves are
   diffed against the stored memberships in SQL.

Each batch is its own short transaction, so API reads are never blocked for long
(SQLite serialises everything behind one connection).

Refunds: the core refuses negative amounts, so the plugin assumes a PURCHASE amount
is ≥ 0. Should a negative one ever arrive (an import, a future refund kind), it is
treated as a refund: it is not a purchase (no frequency, no recency) but reduces
monetary and lifetime revenue, which are floored at zero.

CLV: historical = lifetime revenue. Predicted = average order value × expected
purchases per year × margin × Σ_{t=1..L} 1/(1+d)^t, where purchases per year =
frequency × 365 / window_days, L = ``clv.lifetime_years`` and d =
``clv.discount_rate``; AOV × frequency is the window's monetary, so predicted =
monetary × 365/window × margin × annuity(L, d). Prospects, churned and archived
customers have a predicted CLV of 0.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import pluggy
from tortoise.connection import connections
from tortoise.expressions import Q, Subquery
from tortoise.functions import Count, Sum
from tortoise.transactions import in_transaction

from kehu.access import Viewer, visible_customers, visible_interactions
from kehu.errors import NotFound, ValidationError
from kehu.models import AccountOwner, Customer, CustomerKind, CustomerTag, InteractionKind

from .models import (
    AbcClass,
    ChangeDimension,
    Classification,
    FrequencyClass,
    LifecycleStage,
    RecomputeRun,
    Segment,
    SegmentChange,
    SegmentKind,
    SegmentMembership,
    ValueTier,
)
from .settings import SegmentationSettings, TierCondition

if TYPE_CHECKING:
    from kehu import Kehu

log = logging.getLogger("kehu.plugins.segmentation")

STAGING = "segmentation_staging"
CLASSIFICATION = "segmentation_classification"
CHANGE = "segmentation_change"
MEMBERSHIP = "segmentation_membership"

# One full or incremental recompute at a time per process: they share the staging
# table. (Several workers recomputing at once on PostgreSQL would need an advisory
# lock; run the schedule in one worker.)
_locks: "weakref.WeakKeyDictionary[Any, asyncio.Lock]" = weakref.WeakKeyDictionary()


def _lock(kehu: Kehu) -> asyncio.Lock:
    lock = _locks.get(kehu)
    if lock is None:
        lock = _locks[kehu] = asyncio.Lock()
    return lock


def settings_of(kehu: Kehu) -> SegmentationSettings:
    return kehu.settings_for("segmentation") or SegmentationSettings()


# --------------------------------------------------------------------------- SQL dialect


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


async def _exec(conn, sql: str, params: list | None = None) -> None:
    await conn.execute_query(sql, params or None)


# --------------------------------------------------------------------------- steps 1-3: inputs and classes


def inputs_sql(d: Dialect, s: SegmentationSettings, now: dt.datetime, where: str) -> str:
    """INSERT the inputs of the customers matching ``where`` (on ``id``) into staging."""
    window_start = now - dt.timedelta(days=s.window_days)
    ws, nw = d.ts(window_start), d.ts(now)
    cents = d.cents("amount")
    bought = "amount >= 0"
    return f"""
INSERT INTO {STAGING} (customer_id, archived, recency_days, tenure_days, frequency, monetary_cents,
                       lifetime_purchases, lifetime_revenue_cents, clv_predicted_cents)
SELECT c.id, c.archived_at IS NOT NULL,
       {d.days_since(now, "p.last_at")}, {d.days_since(now, "p.first_at")},
       COALESCE(p.freq, 0),
       CASE WHEN COALESCE(p.mon, 0) > 0 THEN p.mon ELSE 0 END,
       COALESCE(p.n, 0),
       CASE WHEN COALESCE(p.rev, 0) > 0 THEN p.rev ELSE 0 END,
       0
FROM kehu_customer c
LEFT JOIN (
    SELECT customer_id,
           MIN(CASE WHEN {bought} THEN occurred_at END) AS first_at,
           MAX(CASE WHEN {bought} THEN occurred_at END) AS last_at,
           SUM(CASE WHEN {bought} THEN 1 ELSE 0 END) AS n,
           SUM({cents}) AS rev,
           SUM(CASE WHEN {bought} AND occurred_at >= {ws} THEN 1 ELSE 0 END) AS freq,
           SUM(CASE WHEN occurred_at >= {ws} THEN {cents} ELSE 0 END) AS mon
    FROM kehu_interaction
    WHERE kind = 'PURCHASE' AND amount IS NOT NULL AND occurred_at <= {nw} AND {where.replace("id", "customer_id")}
    GROUP BY customer_id
) p ON p.customer_id = c.id
WHERE {where.replace("id", "c.id")}"""


POPULATION = f"FROM {STAGING} WHERE archived = FALSE AND frequency > 0"


async def score_borders(conn, s: SegmentationSettings) -> dict[str, Any]:
    """The borders of every RFM score and of the ABC classes over the staged
    population (see the module docstring for the tie rule)."""
    rows = await conn.execute_query_dict(f"SELECT COUNT(*) AS n {POPULATION}")
    n = int(rows[0]["n"])
    out: dict[str, Any] = {"population": n, "bins": s.rfm_bins, "r": {}, "f": {}, "m": {}, "a_min": None, "b_min": None}
    if n == 0:
        return out
    bins = int(s.rfm_bins)
    for dim, column, order, agg in (
        ("r", "recency_days", "DESC", "MAX"),
        ("f", "frequency", "ASC", "MIN"),
        ("m", "monetary_cents", "ASC", "MIN"),
    ):
        sql = (
            f"SELECT score, {agg}(v) AS border FROM (SELECT {column} AS v, "
            f"1 + ({bins} * (RANK() OVER (ORDER BY {column} {order}) - 1)) / {n} AS score {POPULATION}) t "
            "GROUP BY score"
        )
        for row in await conn.execute_query_dict(sql):
            out[dim][str(int(row["score"]))] = int(row["border"])
    a_bp = int(s.abc.a_share * 10000)
    b_bp = int(s.abc.b_share * 10000)
    sql = f"""
SELECT MIN(CASE WHEN above * 10000 < {a_bp} * total THEN v END) AS a_min,
       MIN(CASE WHEN above * 10000 < {b_bp} * total THEN v END) AS b_min
FROM (
    SELECT v,
           SUM(v) OVER (ORDER BY v DESC RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
             - SUM(v) OVER (PARTITION BY v) AS above,
           SUM(v) OVER () AS total
    FROM (SELECT monetary_cents AS v FROM {STAGING} WHERE archived = FALSE AND monetary_cents > 0) pop
) ranked"""
    row = (await conn.execute_query_dict(sql))[0]
    out["a_min"] = None if row["a_min"] is None else int(row["a_min"])
    out["b_min"] = None if row["b_min"] is None else int(row["b_min"])
    return out


def _score_case(column: str, borders: dict[str, int], higher_is_better: bool) -> str:
    whens = []
    for score in sorted((int(k) for k in borders), reverse=True):
        if score == 1:
            continue
        op = ">=" if higher_is_better else "<="
        whens.append(f"WHEN {column} {op} {int(borders[str(score)])} THEN {score}")
    return f"CASE WHEN archived = TRUE OR frequency = 0 THEN NULL {' '.join(whens)} ELSE 1 END"


def _condition_sql(c: TierCondition) -> str:
    parts = []
    for column, bound in (("r", c.min_r), ("f", c.min_f), ("m", c.min_m)):
        if bound is not None:
            parts.append(f"{column} >= {int(bound)}")
    if c.max_r is not None:
        parts.append(f"r <= {int(c.max_r)}")
    for column, allowed in (
        ("abc_class", c.abc_classes),
        ("frequency_class", c.frequency_classes),
        ("lifecycle_stage", c.lifecycle_stages),
    ):
        if allowed is not None:
            parts.append(f"{column} IN {_in_list(allowed)}" if allowed else "1 = 0")
    return "(" + " AND ".join(parts) + ")"


def predicted_clv_factor(s: SegmentationSettings) -> Decimal:
    """Monetary-in-window → predicted CLV: 365/window × margin × annuity(L, d)."""
    d = s.clv.discount_rate
    annuity = sum((Decimal(1) / (1 + d) ** t for t in range(1, s.clv.lifetime_years + 1)), Decimal(0))
    return Decimal(365) / Decimal(s.window_days) * s.clv.margin * annuity


def classify_sql(d: Dialect, s: SegmentationSettings, borders: dict[str, Any], where: str) -> list[str]:
    """UPDATEs that turn staged inputs into classes, for the rows matching ``where``
    (on ``customer_id``). SET expressions see the row's old values, hence two steps."""
    lc = s.lifecycle
    a_min, b_min = borders.get("a_min"), borders.get("b_min")
    abc = ["WHEN archived = TRUE THEN NULL"]
    if a_min is not None:
        abc.append(f"WHEN monetary_cents > 0 AND monetary_cents >= {int(a_min)} THEN 'A'")
    if b_min is not None:
        abc.append(f"WHEN monetary_cents > 0 AND monetary_cents >= {int(b_min)} THEN 'B'")
    first = f"""
UPDATE {STAGING} SET
    r = {_score_case("recency_days", borders.get("r", {}), False)},
    f = {_score_case("frequency", borders.get("f", {}), True)},
    m = {_score_case("monetary_cents", borders.get("m", {}), True)},
    abc_class = CASE {" ".join(abc)} ELSE 'C' END,
    frequency_class = CASE WHEN frequency >= {int(s.frequency.high_min)} THEN 'HIGH'
                           WHEN frequency >= 1 THEN 'LOW' ELSE 'ZERO' END,
    lifecycle_stage = CASE WHEN archived = TRUE THEN 'CHURNED'
                           WHEN lifetime_purchases = 0 THEN 'PROSPECT'
                           WHEN recency_days >= {int(lc.churned_days)} THEN 'CHURNED'
                           WHEN recency_days >= {int(lc.at_risk_days)} THEN 'AT_RISK'
                           WHEN tenure_days < {int(lc.new_days)} THEN 'NEW'
                           WHEN frequency >= {int(lc.loyal_min_purchases)} THEN 'LOYAL'
                           ELSE 'ACTIVE' END
WHERE {where}"""
    named = " ".join(
        f"WHEN r BETWEEN {rule.r[0]} AND {rule.r[1]} AND f BETWEEN {rule.f[0]} AND {rule.f[1]} "
        f"AND m BETWEEN {rule.m[0]} AND {rule.m[1]} THEN {text_literal(rule.name)}"
        for rule in s.rfm_segments
    )
    core = " OR ".join(_condition_sql(c) for c in s.value_tiers.core) or "1 = 0"
    potential = " OR ".join(_condition_sql(c) for c in s.value_tiers.potential) or "1 = 0"
    factor = predicted_clv_factor(s)
    second = f"""
UPDATE {STAGING} SET
    rfm_segment = CASE WHEN r IS NULL THEN NULL {named} ELSE {text_literal(s.rfm_default_segment)} END,
    value_tier = CASE WHEN archived = TRUE THEN 'GENERAL' WHEN {core} THEN 'CORE'
                      WHEN {potential} THEN 'POTENTIAL' ELSE 'GENERAL' END,
    clv_predicted_cents = CASE WHEN archived = TRUE OR lifecycle_stage IN ('PROSPECT', 'CHURNED') THEN 0
                               ELSE CAST(ROUND(monetary_cents * {factor:.12f}) AS {d.integer()}) END
WHERE {where}"""
    return [first, second]


COLUMNS = (
    "customer_id, archived, recency_days, tenure_days, frequency, monetary_cents, lifetime_purchases, "
    "lifetime_revenue_cents, r, f, m, rfm_segment, abc_class, frequency_class, value_tier, lifecycle_stage, "
    "clv_predicted_cents"
)


def history_and_swap_sql(
    d: Dialect, where: str, now: dt.datetime, cause: str, run_id: int | None, fresher_than: dt.datetime | None = None
) -> list[str]:
    """Record tier and stage changes of the staged rows, then replace their
    classification rows. ``fresher_than``: leave alone customers re-scored
    incrementally after that moment (a full run must not overwrite newer data)."""
    at = d.ts(now)
    keep = ""
    if fresher_than is not None:
        keep = f" AND NOT EXISTS (SELECT 1 FROM {CLASSIFICATION} k WHERE k.customer_id = s.customer_id AND k.computed_at > {d.ts(fresher_than)})"
    statements = []
    for dimension, column in (("VALUE_TIER", "value_tier"), ("LIFECYCLE_STAGE", "lifecycle_stage")):
        statements.append(f"""
INSERT INTO {CHANGE} (customer_id, dimension, segment_key, old_value, new_value, cause, changed_at)
SELECT s.customer_id, '{dimension}', NULL, c.{column}, s.{column}, {text_literal(cause)}, {at}
FROM {STAGING} s LEFT JOIN {CLASSIFICATION} c ON c.customer_id = s.customer_id
WHERE {where.replace("customer_id", "s.customer_id")} AND (c.{column} IS NULL OR c.{column} <> s.{column}){keep}""")
    delete_keep = ""
    if fresher_than is not None:
        delete_keep = f" AND computed_at <= {d.ts(fresher_than)}"
    statements.append(f"DELETE FROM {CLASSIFICATION} WHERE {where}{delete_keep}")
    statements.append(f"""
INSERT INTO {CLASSIFICATION} ({COLUMNS}, computed_at, run_id)
SELECT {", ".join("s." + c.strip() for c in COLUMNS.split(","))}, {at}, {"NULL" if run_id is None else int(run_id)}
FROM {STAGING} s
WHERE {where.replace("customer_id", "s.customer_id")}
  AND NOT EXISTS (SELECT 1 FROM {CLASSIFICATION} k WHERE k.customer_id = s.customer_id)""")
    return statements


@dataclass
class RecomputeResult:
    customers: int
    population: int
    changes: int
    seconds: float
    run_id: int


async def recompute_all(kehu: Kehu, *, progress: Callable[[int, int], object] | None = None) -> RecomputeResult:
    """Full recompute of every customer, then of every rule segment, in batches."""
    async with _lock(kehu):
        return await _recompute_all(kehu, progress)


async def _recompute_all(kehu: Kehu, progress) -> RecomputeResult:
    import time

    started = time.perf_counter()
    s = settings_of(kehu)
    now = kehu.clock.now()
    d = Dialect()
    conn = connections.get("default")
    run = await RecomputeRun.create(started_at=now)
    changes_before = await SegmentChange.all().count()
    bounds = await conn.execute_query_dict("SELECT MIN(id) AS lo, MAX(id) AS hi, COUNT(*) AS n FROM kehu_customer")
    lo, hi, total = bounds[0]["lo"], bounds[0]["hi"], int(bounds[0]["n"])
    batches = []
    if lo is not None:
        step = s.batch_size
        batches = [(b, min(b + step - 1, int(hi))) for b in range(int(lo), int(hi) + 1, step)]
    await conn.execute_query(f"DELETE FROM {STAGING}")
    for b_lo, b_hi in batches:  # step 1: inputs, one short transaction per batch
        async with in_transaction() as tx:
            await _exec(tx, inputs_sql(d, s, now, f"id BETWEEN {b_lo} AND {b_hi}"))
    async with in_transaction() as tx:  # step 2
        borders = await score_borders(tx, s)
    done = 0
    for b_lo, b_hi in batches:  # steps 3-4
        where = f"customer_id BETWEEN {b_lo} AND {b_hi}"
        async with in_transaction() as tx:
            for sql in classify_sql(d, s, borders, where):
                await _exec(tx, sql)
            for sql in history_and_swap_sql(d, where, now, "RECOMPUTE", run.id, fresher_than=now):
                await _exec(tx, sql)
        done += 1
        if progress:
            progress(done, len(batches))
    await conn.execute_query(f"DELETE FROM {STAGING}")
    for segment in await Segment.filter(kind=SegmentKind.RULE).order_by("id"):  # step 5
        async with in_transaction() as tx:
            await refresh_rule_segment(tx, kehu, segment, now, "RECOMPUTE")
    run.finished_at = kehu.clock.now()
    run.population = borders["population"]
    run.customers = total
    run.thresholds = borders
    run.changes = await SegmentChange.all().count() - changes_before
    await run.save()
    return RecomputeResult(total, run.population, run.changes, time.perf_counter() - started, run.id)


async def scheduled_recompute(kehu: Kehu) -> None:
    """The in-server schedule (kehu.jobs, one worker): a full recompute."""
    result = await recompute_all(kehu)
    log.info("scheduled recompute: %d customers, %d changes, %.1fs", result.customers, result.changes, result.seconds)


async def recompute_command(kehu: Kehu, args) -> int:
    """``kehu segments recompute``."""
    result = await recompute_all(kehu)
    print(
        f"recomputed {result.customers} customers ({result.population} with purchases in the window), "
        f"{result.changes} changes recorded, in {result.seconds:.1f}s"
    )
    return 0


async def latest_run() -> RecomputeRun | None:
    return await RecomputeRun.filter(finished_at__isnull=False).order_by("-id").first()


async def recompute_customer(kehu: Kehu, customer_id: int, cause: str) -> None:
    """Re-score one customer against the last full run's borders (its own inputs are
    fresh; the rest of the base moves at the next full run), record the changes,
    and re-evaluate its rule-segment memberships. Without a usable run yet, the
    whole base is recomputed once."""
    run = await latest_run()
    if run is None or (run.population == 0 and await _has_purchases(customer_id)):
        await recompute_all(kehu)
        return
    async with _lock(kehu):
        s = settings_of(kehu)
        now = kehu.clock.now()
        d = Dialect()
        where = f"customer_id = {int(customer_id)}"
        async with in_transaction() as tx:
            await _exec(tx, f"DELETE FROM {STAGING} WHERE {where}")
            await _exec(tx, inputs_sql(d, s, now, f"id = {int(customer_id)}"))
            for sql in classify_sql(d, s, run.thresholds, where):
                await _exec(tx, sql)
            for sql in history_and_swap_sql(d, where, now, cause, run.id):
                await _exec(tx, sql)
            await _exec(tx, f"DELETE FROM {STAGING} WHERE {where}")
            for segment in await Segment.filter(kind=SegmentKind.RULE).order_by("id").using_db(tx):
                await _refresh_one_membership(tx, kehu, segment, customer_id, now, cause)


async def _has_purchases(customer_id: int) -> bool:
    from kehu.models import Interaction

    return await Interaction.filter(customer_id=customer_id, kind=InteractionKind.PURCHASE).exists()


# --------------------------------------------------------------------------- rule trees


@dataclass(frozen=True)
class RuleField:
    """A field a segment rule may test. ``compile(op, value) -> Q`` on ``Customer``;
    ``value`` has been checked against ``kind`` (and ``choices``) already."""

    name: str
    kind: str  # "enum", "int", "money", "text", "tag", "id"
    compile: Callable[[str, Any], Q]
    choices: tuple[str, ...] = ()
    description: str = ""


OPS_BY_KIND = {
    "enum": ("eq", "ne", "in"),
    "int": ("eq", "ne", "gt", "gte", "lt", "lte", "in"),
    "money": ("eq", "ne", "gt", "gte", "lt", "lte"),
    "text": ("eq", "ne", "in", "contains", "isNull"),
    "tag": ("contains",),
    "id": ("eq", "ne", "in", "isNull"),
}
LOOKUP = {
    "eq": "",
    "ne": "__not",
    "gt": "__gt",
    "gte": "__gte",
    "lt": "__lt",
    "lte": "__lte",
    "in": "__in",
    "contains": "__icontains",
}


def _classification_field(column: str, to_db: Callable[[Any], Any] = lambda v: v) -> Callable[[str, Any], Q]:
    def compile(op: str, value: Any) -> Q:
        v = [to_db(x) for x in value] if op == "in" else to_db(value)
        ids = Classification.filter(**{f"{column}{LOOKUP[op]}": v}).values("customer_id")
        return Q(id__in=Subquery(ids))

    return compile


def _customer_field(column: str) -> Callable[[str, Any], Q]:
    # Nullable columns: "eq" means "has a value and it equals", so that NOT keeps
    # customers without a value (SQL's NOT(NULL) would drop them).
    def compile(op: str, value: Any) -> Q:
        if op == "isNull":
            return Q(**{f"{column}__isnull": bool(value)})
        return Q(**{f"{column}__isnull": False}) & Q(**{f"{column}{LOOKUP[op]}": value})

    return compile


def _tag(op: str, value: Any) -> Q:
    return Q(id__in=Subquery(CustomerTag.filter(tag=str(value).strip().lower()).values("customer_id")))


def _team(op: str, value: Any) -> Q:
    teams = value if op == "in" else [value]
    q = Q(owner_id__in=Subquery(AccountOwner.filter(team__in=teams).values("id")))
    return ~q & Q(owner_id__isnull=False) if op == "ne" else q


def _owner(op: str, value: Any) -> Q:
    from kehu.ids import from_global_id

    def pk(v):
        return from_global_id(v, "AccountOwner", field="rule.value")[1]

    if op == "isNull":
        return Q(owner_id__isnull=bool(value))
    if op == "in":
        return Q(owner_id__in=[pk(v) for v in value])
    q = Q(owner_id__isnull=False) & Q(owner_id=pk(value))
    return ~Q(owner_id=pk(value)) & Q(owner_id__isnull=False) if op == "ne" else q


def _cents(value: Any) -> int:
    return int(Decimal(value) * 100)


def builtin_rule_fields() -> list[RuleField]:
    enum = lambda e: tuple(m.value for m in e)  # noqa: E731
    return [
        RuleField("valueTier", "enum", _classification_field("value_tier"), enum(ValueTier)),
        RuleField("lifecycleStage", "enum", _classification_field("lifecycle_stage"), enum(LifecycleStage)),
        RuleField("abcClass", "enum", _classification_field("abc_class"), enum(AbcClass)),
        RuleField("frequencyClass", "enum", _classification_field("frequency_class"), enum(FrequencyClass)),
        RuleField("rfmSegment", "text", _classification_field("rfm_segment")),
        RuleField("r", "int", _classification_field("r")),
        RuleField("f", "int", _classification_field("f")),
        RuleField("m", "int", _classification_field("m")),
        RuleField("recencyDays", "int", _classification_field("recency_days")),
        RuleField("frequency", "int", _classification_field("frequency")),
        RuleField("monetary", "money", _classification_field("monetary_cents", _cents)),
        RuleField("clvHistorical", "money", _classification_field("lifetime_revenue_cents", _cents)),
        RuleField("clvPredicted", "money", _classification_field("clv_predicted_cents", _cents)),
        RuleField("region", "text", _customer_field("region")),
        RuleField("industry", "text", _customer_field("industry")),
        RuleField("kind", "enum", _customer_field("kind"), enum(CustomerKind)),
        RuleField("tags", "tag", _tag),
        RuleField("team", "text", _team),
        RuleField("ownerId", "id", _owner),
    ]


class RuleFieldSpecs:
    """Hook specs the segmentation plugin defines for other plugins."""

    @pluggy.HookspecMarker("kehu")
    def kehu_segmentation_rule_fields(self) -> list[RuleField]:
        """Expose customer attributes to segment rules.

        Return a list of ``kehu.plugins.segmentation.service.RuleField``: a
        camelCase ``name`` (no clash with the built-in fields or other plugins),
        a ``kind`` (``enum``, ``int``, ``money``, ``text``, ``tag``, ``id``), and
        ``compile(op, value)`` returning a Tortoise ``Q`` on ``Customer`` —
        typically ``Q(id__in=Subquery(MyModel.filter(...).values("customer_id")))``
        so it stays one SQL query. Called when a rule is compiled; only active when
        the segmentation plugin is enabled.
        """


def rule_fields(kehu: Kehu | None) -> dict[str, RuleField]:
    fields = {f.name: f for f in builtin_rule_fields()}
    if kehu is not None and kehu.hooks.implemented("kehu_segmentation_rule_fields"):
        for plugin, extra in kehu.plugins.each("kehu_segmentation_rule_fields"):
            for f in extra or ():
                if f.name in fields:
                    raise ValidationError(f"plugin '{plugin}' redefines the rule field '{f.name}'", field="rule")
                fields[f.name] = f
    return fields


MAX_RULE_NODES = 200
MAX_RULE_DEPTH = 12


class RuleCompiler:
    """Compiles a rule tree (JSON) to one Tortoise ``Q`` on ``Customer``::

        {"and": [{"field": "valueTier", "op": "eq", "value": "CORE"},
                 {"not": {"field": "region", "op": "in", "value": ["north", "east"]}},
                 {"or": [{"field": "tags", "op": "contains", "value": "vip"},
                         {"field": "m", "op": "gte", "value": 4}]}]}

    Errors name the bad part by its path, e.g. ``rule.and[1].not.op``.
    """

    def __init__(self, fields: dict[str, RuleField]):
        self.fields = fields
        self.nodes = 0

    def compile(self, node: Any, path: str = "rule", depth: int = 0) -> Q:
        self.nodes += 1
        if self.nodes > MAX_RULE_NODES:
            raise self._error(path, f"the rule has more than {MAX_RULE_NODES} parts")
        if depth > MAX_RULE_DEPTH:
            raise self._error(path, f"the rule is nested deeper than {MAX_RULE_DEPTH} levels")
        if not isinstance(node, dict):
            raise self._error(path, "expected an object: {and: [...]}, {or: [...]}, {not: {...}} or a condition")
        keys = set(node)
        for combinator in ("and", "or"):
            if keys == {combinator}:
                parts = node[combinator]
                if not isinstance(parts, list) or not parts:
                    raise self._error(f"{path}.{combinator}", "expected a non-empty list of rules")
                compiled = [self.compile(p, f"{path}.{combinator}[{i}]", depth + 1) for i, p in enumerate(parts)]
                q = compiled[0]
                for other in compiled[1:]:
                    q = (q & other) if combinator == "and" else (q | other)
                return q
        if keys == {"not"}:
            return ~self.compile(node["not"], f"{path}.not", depth + 1)
        if "field" in keys:
            return self._condition(node, path)
        raise self._error(path, f"unexpected keys {sorted(keys)}: use and, or, not, or field/op/value")

    def _condition(self, node: dict, path: str) -> Q:
        extra = set(node) - {"field", "op", "value"}
        if extra:
            raise self._error(path, f"unexpected keys {sorted(extra)} in a condition")
        name = node.get("field")
        field = self.fields.get(name) if isinstance(name, str) else None
        if field is None:
            raise self._error(f"{path}.field", f"unknown field {name!r} (known: {', '.join(sorted(self.fields))})")
        op = node.get("op", "eq")
        allowed = OPS_BY_KIND[field.kind]
        if op not in allowed:
            raise self._error(f"{path}.op", f"operator {op!r} does not apply to {name} (use {', '.join(allowed)})")
        if "value" not in node:
            raise self._error(f"{path}.value", "a value is required")
        value = node["value"]
        if op == "in":
            if not isinstance(value, list) or not value or len(value) > 1000:
                raise self._error(f"{path}.value", "'in' needs a list of 1 to 1000 values")
            value = [self._value(field, v, f"{path}.value[{i}]") for i, v in enumerate(value)]
        elif op == "isNull":
            if not isinstance(value, bool):
                raise self._error(f"{path}.value", "'isNull' needs true or false")
        else:
            value = self._value(field, value, f"{path}.value")
        return field.compile(op, value)

    def _value(self, field: RuleField, value: Any, path: str) -> Any:
        if field.kind == "enum":
            if value not in field.choices:
                raise self._error(path, f"{value!r} is not a {field.name} (one of {', '.join(field.choices)})")
        elif field.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise self._error(path, f"{field.name} needs a whole number")
        elif field.kind == "money":
            try:
                amount = Decimal(str(value))
            except InvalidOperation:
                raise self._error(path, f'{field.name} needs an amount such as "250.00"') from None
            if isinstance(value, bool) or not amount.is_finite() or abs(amount) > Decimal("1e12"):
                raise self._error(path, f'{field.name} needs an amount such as "250.00"')
            return amount
        elif field.kind in ("text", "tag", "id"):
            if not isinstance(value, str) or not value.strip() or len(value) > 200:
                raise self._error(path, f"{field.name} needs a text of 1 to 200 characters")
        return value

    @staticmethod
    def _error(path: str, message: str) -> ValidationError:
        return ValidationError(f"{path}: {message}", field="rule", code="INVALID_RULE")


def compile_rule(kehu: Kehu | None, rule: Any) -> Q:
    return RuleCompiler(rule_fields(kehu)).compile(rule)


def rule_members(kehu: Kehu | None, rule: Any):
    """Active customers matching ``rule``: one queryset, one SQL query."""
    return Customer.filter(compile_rule(kehu, rule), archived_at__isnull=True)


# --------------------------------------------------------------------------- segments


KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _members_sql(kehu: Kehu, segment: Segment) -> tuple[str, list]:
    qs = rule_members(kehu, segment.rule).values("id")
    qs.sql()
    return qs.query.get_parameterized_sql()


async def refresh_rule_segment(conn, kehu: Kehu, segment: Segment, now: dt.datetime, cause: str) -> None:
    """Bring a rule segment's stored members in line with its rule, in four
    set-based statements, recording joins and leaves."""
    d = Dialect()
    sid, at, key = int(segment.id), d.ts(now), text_literal(segment.key)
    members, params = _members_sql(kehu, segment)
    current = f"SELECT customer_id FROM {MEMBERSHIP} WHERE segment_id = {sid}"
    await _exec(
        conn,
        f"""
INSERT INTO {CHANGE} (customer_id, dimension, segment_key, old_value, new_value, cause, changed_at)
SELECT m.id, 'SEGMENT', {key}, 'OUT', 'IN', {text_literal(cause)}, {at} FROM ({members}) m
WHERE m.id NOT IN ({current})""",
        params,
    )
    await _exec(
        conn,
        f"""
INSERT INTO {CHANGE} (customer_id, dimension, segment_key, old_value, new_value, cause, changed_at)
SELECT customer_id, 'SEGMENT', {key}, 'IN', 'OUT', {text_literal(cause)}, {at} FROM {MEMBERSHIP}
WHERE segment_id = {sid} AND customer_id NOT IN ({members})""",
        params,
    )
    await _exec(conn, f"DELETE FROM {MEMBERSHIP} WHERE segment_id = {sid} AND customer_id NOT IN ({members})", params)
    await _exec(
        conn,
        f"""
INSERT INTO {MEMBERSHIP} (segment_id, customer_id, since)
SELECT {sid}, m.id, {at} FROM ({members}) m WHERE m.id NOT IN ({current})""",
        params,
    )


async def _refresh_one_membership(
    conn, kehu: Kehu, segment: Segment, customer_id: int, now: dt.datetime, cause: str
) -> None:
    matches = await rule_members(kehu, segment.rule).filter(id=customer_id).using_db(conn).exists()
    member = await SegmentMembership.filter(segment_id=segment.id, customer_id=customer_id).using_db(conn).exists()
    if matches and not member:
        await SegmentMembership.create(segment_id=segment.id, customer_id=customer_id, since=now, using_db=conn)
        await _change(conn, customer_id, segment.key, "OUT", "IN", cause, now)
    elif member and not matches:
        await SegmentMembership.filter(segment_id=segment.id, customer_id=customer_id).using_db(conn).delete()
        await _change(conn, customer_id, segment.key, "IN", "OUT", cause, now)


async def _change(conn, customer_id: int, key: str, old: str, new: str, cause: str, now: dt.datetime) -> None:
    await SegmentChange.create(
        customer_id=customer_id,
        dimension=ChangeDimension.SEGMENT,
        segment_key=key,
        old_value=old,
        new_value=new,
        cause=cause,
        changed_at=now,
        using_db=conn,
    )


async def _visible_ids(viewer: Viewer, ids: list[int], field: str) -> list[int]:
    found = set(await visible_customers(viewer).filter(id__in=ids).values_list("id", flat=True))
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"no such customer: {missing[0]}", field=field)
    return list(dict.fromkeys(ids))


async def create_segment(
    kehu: Kehu, viewer: Viewer, key: str, name: str, description: str | None, rule: Any, customer_ids: list[int] | None
) -> Segment:
    """A rule segment when ``rule`` is given, else a static one with ``customer_ids``.
    Runs inside the caller's write scope."""
    from kehu.writes import record_change

    viewer.require("segmentation.manage")
    key = (key or "").strip()
    if not KEY_RE.match(key):
        raise ValidationError("use 1-64 lower-case letters, digits, '-' or '_'", field="key", code="INVALID_KEY")
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationError("a name of 1 to 200 characters is required", field="name", code="REQUIRED")
    if rule is not None and customer_ids:
        raise ValidationError("a segment has a rule or hand-picked customers, not both", field="customerIds")
    if rule is not None:
        compile_rule(kehu, rule)
    if await Segment.filter(key=key).exists():
        from kehu.errors import Conflict

        raise Conflict(f"a segment with key '{key}' exists", field="key", code="DUPLICATE")
    now = kehu.clock.now()
    segment = await Segment.create(
        key=key,
        name=name,
        description=(description or "")[:5000],
        kind=SegmentKind.RULE if rule is not None else SegmentKind.STATIC,
        rule=rule,
        created_by_id=viewer.id,
        created_at=now,
        updated_at=now,
    )
    if rule is not None:
        await refresh_rule_segment(connections.get("default"), kehu, segment, now, "SEGMENT_CREATED")
    elif customer_ids:
        await add_static_members(kehu, viewer, segment, customer_ids, now)
    record_change("Segment", segment.id, {"key": (None, key), "name": (None, name), "rule": (None, rule)})
    return segment


async def add_static_members(kehu: Kehu, viewer: Viewer, segment: Segment, ids: list[int], now: dt.datetime) -> None:
    ids = await _visible_ids(viewer, ids, "addCustomerIds")
    present = set(
        await SegmentMembership.filter(segment_id=segment.id, customer_id__in=ids).values_list("customer_id", flat=True)
    )
    new = [i for i in ids if i not in present]
    await SegmentMembership.bulk_create(
        [SegmentMembership(segment_id=segment.id, customer_id=i, since=now) for i in new]
    )
    await SegmentChange.bulk_create(
        [
            SegmentChange(
                customer_id=i,
                dimension=ChangeDimension.SEGMENT,
                segment_key=segment.key,
                old_value="OUT",
                new_value="IN",
                cause="MANUAL",
                changed_at=now,
            )
            for i in new
        ]
    )


async def remove_static_members(kehu: Kehu, viewer: Viewer, segment: Segment, ids: list[int], now: dt.datetime) -> None:
    ids = await _visible_ids(viewer, ids, "removeCustomerIds")
    present = list(
        await SegmentMembership.filter(segment_id=segment.id, customer_id__in=ids).values_list("customer_id", flat=True)
    )
    await SegmentMembership.filter(segment_id=segment.id, customer_id__in=present).delete()
    await SegmentChange.bulk_create(
        [
            SegmentChange(
                customer_id=i,
                dimension=ChangeDimension.SEGMENT,
                segment_key=segment.key,
                old_value="IN",
                new_value="OUT",
                cause="MANUAL",
                changed_at=now,
            )
            for i in present
        ]
    )


async def get_segment(key: str) -> Segment:
    segment = await Segment.get_or_none(key=key)
    if segment is None:
        raise NotFound(f"no segment with key '{key}'", field="key")
    return segment


async def update_segment(kehu: Kehu, viewer: Viewer, key: str, changes: dict[str, Any]) -> Segment:
    from kehu.writes import record_change

    viewer.require("segmentation.manage")
    segment = await get_segment(key)
    now = kehu.clock.now()
    audit: dict[str, tuple[Any, Any]] = {}
    if "name" in changes:
        name = (changes["name"] or "").strip()
        if not name or len(name) > 200:
            raise ValidationError("a name of 1 to 200 characters is required", field="name", code="REQUIRED")
        audit["name"] = (segment.name, name)
        segment.name = name
    if "description" in changes:
        audit["description"] = (segment.description, changes["description"] or "")
        segment.description = (changes["description"] or "")[:5000]
    rule_changed = False
    if "rule" in changes:
        if segment.kind is not SegmentKind.RULE:
            raise ValidationError("a static segment has no rule", field="rule")
        if changes["rule"] is None:
            raise ValidationError("a rule segment needs a rule", field="rule", code="REQUIRED")
        compile_rule(kehu, changes["rule"])
        audit["rule"] = (segment.rule, changes["rule"])
        segment.rule = changes["rule"]
        rule_changed = True
    if (changes.get("add") or changes.get("remove")) and segment.kind is not SegmentKind.STATIC:
        raise ValidationError("members of a rule segment follow its rule", field="addCustomerIds")
    segment.updated_at = now
    await segment.save()
    if rule_changed:
        await refresh_rule_segment(connections.get("default"), kehu, segment, now, "SEGMENT_UPDATED")
    if changes.get("add"):
        await add_static_members(kehu, viewer, segment, changes["add"], now)
    if changes.get("remove"):
        await remove_static_members(kehu, viewer, segment, changes["remove"], now)
    record_change("Segment", segment.id, audit)
    return segment


async def delete_segment(kehu: Kehu, viewer: Viewer, key: str) -> Segment:
    """Delete a segment; every member's leaving is recorded (history stays)."""
    from kehu.writes import record_change

    viewer.require("segmentation.manage")
    segment = await get_segment(key)
    now = kehu.clock.now()
    d = Dialect()
    await _exec(
        connections.get("default"),
        f"""
INSERT INTO {CHANGE} (customer_id, dimension, segment_key, old_value, new_value, cause, changed_at)
SELECT customer_id, 'SEGMENT', {text_literal(segment.key)}, 'IN', 'OUT', 'SEGMENT_DELETED', {d.ts(now)}
FROM {MEMBERSHIP} WHERE segment_id = {int(segment.id)}""",
    )
    await SegmentMembership.filter(segment_id=segment.id).delete()
    await segment.delete()
    record_change("Segment", segment.id, {"key": (segment.key, None)})
    return segment


def visible_members(viewer: Viewer | None, segment: Segment):
    return visible_customers(viewer).filter(
        archived_at__isnull=True,
        id__in=Subquery(SegmentMembership.filter(segment_id=segment.id).values("customer_id")),
    )


async def segment_member_ids(segment_key: str, viewer: Viewer | None) -> list[int] | None:
    segment = await Segment.get_or_none(key=segment_key)
    if segment is None:
        return None
    return list(await visible_members(viewer, segment).order_by("id").values_list("id", flat=True))


# --------------------------------------------------------------------------- filters and summary


def classified(viewer: Viewer | None, **conditions: Any):
    """Ids (a subquery) of visible customers whose classification matches."""
    return Subquery(Classification.filter(**conditions).values("customer_id"))


async def summary(kehu: Kehu, viewer: Viewer | None) -> dict[str, Any]:
    """Customers and revenue share per tier, stage and ABC class (active, visible customers),
    and retention / churn per period: of the customers who bought in the period
    before, the share who bought again in the period (churn = 1 − retention)."""
    s = settings_of(kehu)
    visible = visible_customers(viewer).filter(archived_at__isnull=True).values("id")
    base = Classification.filter(customer_id__in=Subquery(visible))
    out: dict[str, Any] = {}
    for column in ("value_tier", "lifecycle_stage", "abc_class"):
        rows = (
            await base.annotate(n=Count("id"), revenue=Sum("monetary_cents"))
            .group_by(column)
            .values(column, "n", "revenue")
        )
        rows = [r for r in rows if r[column] is not None]  # no ABC class without purchases
        total = sum(int(r["revenue"] or 0) for r in rows)
        out[column] = [
            {
                "key": r[column],
                "customers": int(r["n"]),
                "revenue": Decimal(int(r["revenue"] or 0)) / 100,
                "revenue_share": (Decimal(int(r["revenue"] or 0)) / total).quantize(Decimal("0.0001"))
                if total
                else Decimal(0),
            }
            for r in sorted(rows, key=lambda r: r[column])
        ]
    now = kehu.clock.now()
    length = dt.timedelta(days=s.summary_period_days)
    purchases = visible_interactions(viewer).filter(kind=InteractionKind.PURCHASE)
    periods = []
    for k in range(s.summary_periods):
        end = now - k * length
        start = end - length
        before = purchases.filter(occurred_at__gte=start - length, occurred_at__lt=start).values("customer_id")
        during = purchases.filter(occurred_at__gte=start, occurred_at__lt=end).values("customer_id")
        previous = await Customer.filter(id__in=Subquery(before)).count()
        retained = await Customer.filter(id__in=Subquery(before)).filter(id__in=Subquery(during)).count()
        rate = (Decimal(retained) / previous).quantize(Decimal("0.0001")) if previous else None
        periods.append(
            {
                "start": start,
                "end": end,
                "customers_at_start": previous,
                "retained": retained,
                "retention_rate": rate,
                "churn_rate": (1 - rate) if rate is not None else None,
            }
        )
    out["periods"] = periods
    run = await latest_run()
    out["computed_at"] = run.finished_at if run else None
    return out


# --------------------------------------------------------------------------- explanation


def money(cents: int | None, symbol: str) -> str:
    amount = Decimal(int(cents or 0)) / 100
    text = f"{amount:,.2f}"
    return symbol + (text[:-3] if text.endswith(".00") else text)


def explain(row: Classification, run: RecomputeRun | None, s: SegmentationSettings) -> str:
    """E.g. "core: R=5 (3 days), F=4 (9 purchases), M=5 (¥48,200), ABC=A; stage ACTIVE"."""
    tier = row.value_tier.lower()
    if row.archived:
        return f"{tier}: archived customer, not scored; stage {row.lifecycle_stage}"
    if row.r is None:
        if row.lifetime_purchases == 0:
            return f"{tier}: no purchase yet; stage {row.lifecycle_stage}"
        return (
            f"{tier}: no purchase in the last {s.window_days} days (last {row.recency_days} days ago); "
            f"ABC={row.abc_class}; stage {row.lifecycle_stage}"
        )
    plural = "purchase" if row.frequency == 1 else "purchases"
    day = "day" if row.recency_days == 1 else "days"
    text = (
        f"{tier}: R={row.r} ({row.recency_days} {day}), F={row.f} ({row.frequency} {plural}), "
        f"M={row.m} ({money(row.monetary_cents, s.currency_symbol)}), ABC={row.abc_class}; "
        f"stage {row.lifecycle_stage}"
    )
    if run is not None:
        text += f"; scored against {run.population} buying customers on {run.started_at:%Y-%m-%d}"
    return text


def inputs(row: Classification, run: RecomputeRun | None, s: SegmentationSettings) -> dict[str, Any]:
    """The inputs and the thresholds in force, for ``Segmentation.inputs``."""
    t = run.thresholds if run else {}
    return {
        "windowDays": s.window_days,
        "recencyDays": row.recency_days,
        "tenureDays": row.tenure_days,
        "frequency": row.frequency,
        "monetary": str(Decimal(row.monetary_cents) / 100),
        "lifetimePurchases": row.lifetime_purchases,
        "lifetimeRevenue": str(Decimal(row.lifetime_revenue_cents) / 100),
        "scoreBorders": {
            "recencyDaysAtMost": t.get("r", {}),
            "frequencyAtLeast": t.get("f", {}),
            "monetaryAtLeast": {k: str(Decimal(v) / 100) for k, v in t.get("m", {}).items()},
            "abcAMin": None if t.get("a_min") is None else str(Decimal(t["a_min"]) / 100),
            "abcBMin": None if t.get("b_min") is None else str(Decimal(t["b_min"]) / 100),
            "population": t.get("population"),
        },
        "frequencyHighMin": s.frequency.high_min,
        "lifecycle": s.lifecycle.model_dump(),
        "clvFactor": str(predicted_clv_factor(s).quantize(Decimal("0.0001"))),
    }
