"""Steps 1-4 of the pipeline as SQL: the inputs, the score borders, the classes,
the history and the swap of classification rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from kehu.clock import BusinessCalendar

from ..settings import SegmentationSettings, TierCondition
from .sql import CHANGE, CLASSIFICATION, EPOCH, STAGING, Customers, Dialect, Params, _in_list, text_literal


@dataclass(frozen=True)
class AsOf:
    """What a computation is as of: the end of ``date`` on the business calendar,
    or ``now`` when that is earlier (today's results count today's purchases so
    far). Days are calendar days in the business time zone; the window is the
    ``window_days`` calendar days that end with ``date``."""

    date: dt.date
    now: dt.datetime
    calendar: BusinessCalendar
    # SQLite: the zone's UTC offsets over the span of the purchases (see Dialect.local_day).
    offsets: tuple[tuple[dt.datetime, int], ...]

    @property
    def end(self) -> dt.datetime:
        return self.calendar.end_of(self.date)

    @property
    def day(self) -> int:
        """``date`` as a day number (days since 1970-01-01)."""
        return (self.date - EPOCH).days

    def window_start(self, window_days: int) -> dt.datetime:
        return self.calendar.start_of(self.date - dt.timedelta(days=window_days - 1))

    def counted(self, d: Dialect, column: str, params: Params) -> str:
        """The condition on a time ``column`` that it lies before the cut-off."""
        if self.now < self.end:
            return f"{column} <= {d.ts_param(self.now, params)}"
        return f"{column} < {d.ts(self.end)}"

    def local_day(self, d: Dialect, column: str) -> str:
        return d.local_day(column, self.calendar, list(self.offsets))


#: The staging columns the inputs step writes, in the order its SELECT names them.
INPUT_COLUMNS = (
    "customer_id",
    "archived",
    "recency_days",
    "tenure_days",
    "frequency",
    "monetary_cents",
    "lifetime_purchases",
    "lifetime_revenue_cents",
    "purchase_days",
    "clv_predicted_cents",
    "expected_revenue_cents",
    "as_of",
)


def inputs_sql(d: Dialect, s: SegmentationSettings, at: AsOf, ids: Customers) -> tuple[str, Params]:
    """INSERT the inputs of the customers ``ids`` into staging. Customers merged
    into another are left out: their purchases are the survivor's now, the merge
    deleted what they were classified as, and a full run's swap deletes any row
    left."""
    params = Params(d)
    select = _inputs_select(d, s, at, ids, params)
    return f"INSERT INTO {STAGING} ({', '.join(INPUT_COLUMNS)})\n{select}", params


def _inputs_select(d: Dialect, s: SegmentationSettings, at: AsOf, ids: Customers, params: Params) -> str:
    """The SELECT of ``inputs_sql``: one row per customer, its columns named as
    ``INPUT_COLUMNS``."""
    ws = d.ts(at.window_start(s.window_days))
    cents = d.cents("amount")
    # Compared in cents: SQLite keeps decimals as text, and '0.00' > 0 as text.
    bought = f"{cents} >= 0" if s.count_zero_amounts else f"{cents} > 0"
    day = at.local_day(d, "occurred_at")
    if s.frequency_unit == "days":
        frequency = f"COUNT(DISTINCT CASE WHEN {bought} AND occurred_at >= {ws} THEN {day} END)"
    else:
        frequency = f"SUM(CASE WHEN {bought} AND occurred_at >= {ws} THEN 1 ELSE 0 END)"
    first_day = at.local_day(d, f"MIN(CASE WHEN {bought} THEN occurred_at END)")
    last_day = at.local_day(d, f"MAX(CASE WHEN {bought} THEN occurred_at END)")
    return f"""SELECT c.id AS customer_id, c.archived_at IS NOT NULL AS archived,
       {at.day} - p.last_day AS recency_days, {at.day} - p.first_day AS tenure_days,
       COALESCE(p.freq, 0) AS frequency,
       CASE WHEN COALESCE(p.mon, 0) > 0 THEN p.mon ELSE 0 END AS monetary_cents,
       COALESCE(p.n, 0) AS lifetime_purchases,
       CASE WHEN COALESCE(p.rev, 0) > 0 THEN p.rev ELSE 0 END AS lifetime_revenue_cents,
       COALESCE(p.days, 0) AS purchase_days,
       0 AS clv_predicted_cents, 0 AS expected_revenue_cents, {d.date(at.date)} AS as_of
FROM kehu_customer c
LEFT JOIN (
    SELECT customer_id,
           {first_day} AS first_day,
           {last_day} AS last_day,
           SUM(CASE WHEN {bought} THEN 1 ELSE 0 END) AS n,
           COUNT(DISTINCT CASE WHEN {bought} THEN {day} END) AS days,
           SUM({cents}) AS rev,
           {frequency} AS freq,
           SUM(CASE WHEN occurred_at >= {ws} THEN {cents} ELSE 0 END) AS mon
    FROM kehu_interaction
    WHERE kind = 'PURCHASE' AND amount IS NOT NULL AND {at.counted(d, "occurred_at", params)}
      AND {ids.on("customer_id", params)}
    GROUP BY customer_id
) p ON p.customer_id = c.id
WHERE {ids.on("c.id", params)} AND c.merged_into_id IS NULL"""


POPULATION = f"FROM {STAGING} WHERE archived = FALSE AND frequency > 0"

# (score, column, order from worst to best, the aggregate that picks a score's border)
DIMENSIONS = (
    ("r", "recency_days", "DESC", "MAX"),
    ("f", "frequency", "ASC", "MIN"),
    ("m", "monetary_cents", "ASC", "MIN"),
)


async def score_borders(conn, s: SegmentationSettings) -> dict[str, Any]:
    """The borders of every RFM score and of the ABC classes over the staged
    population (see the package docstring for the two scoring rules). With
    ``rfm_scoring = "ntile"`` the population's scores are written to staging here
    (equal-sized bins cannot be rebuilt from borders when ties straddle one)."""
    rows = await conn.execute_query_dict(f"SELECT COUNT(*) AS n {POPULATION}")
    n = int(rows[0]["n"])
    out: dict[str, Any] = {
        "population": n,
        "bins": s.rfm_bins,
        "scoring": s.rfm_scoring,
        "r": {},
        "f": {},
        "m": {},
        "a_min": None,
        "b_min": None,
    }
    if n == 0:
        return out
    bins = int(s.rfm_bins)
    if s.rfm_scoring == "ntile":
        tiles = ", ".join(
            f"NTILE({bins}) OVER (ORDER BY {column} {order}, customer_id) AS {dim}"
            for dim, column, order, _ in DIMENSIONS
        )
        await conn.execute_query(
            f"UPDATE {STAGING} SET r = t.r, f = t.f, m = t.m "
            f"FROM (SELECT customer_id AS id, {tiles} {POPULATION}) t WHERE {STAGING}.customer_id = t.id"
        )
    for dim, column, order, agg in DIMENSIONS:
        if s.rfm_scoring == "ntile":
            sql = f"SELECT {dim} AS score, {agg}({column}) AS border {POPULATION} GROUP BY {dim}"
        else:
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


def _score_case(dim: str, column: str, borders: dict[str, int], higher_is_better: bool) -> str:
    """A score from the borders; a score already staged (NTILE) is kept."""
    whens = []
    for score in sorted((int(k) for k in borders), reverse=True):
        if score == 1:
            continue
        op = ">=" if higher_is_better else "<="
        whens.append(f"WHEN {column} {op} {int(borders[str(score)])} THEN {score}")
    return f"CASE WHEN archived = TRUE OR frequency = 0 THEN NULL WHEN {dim} IS NOT NULL THEN {dim} {' '.join(whens)} ELSE 1 END"


def condition_sql(c: TierCondition) -> str:
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


#: One classify step: (staging column, the expression it is set to). Every
#: expression of a step reads the row's values as they stood before the step.
Step = list[tuple[str, str]]


def classify_steps(s: SegmentationSettings, borders: dict[str, Any]) -> tuple[Step, Step]:
    """The expressions that turn staged inputs into classes, from the score
    ``borders``, in two steps: the second reads the scores and classes the first
    sets. ``classify_sql`` runs them as UPDATEs of staging; a re-score computes
    them in the statement that stages its inputs (``scored_inputs_sql``)."""
    lc = s.lifecycle
    a_min, b_min = borders.get("a_min"), borders.get("b_min")
    abc = ["WHEN archived = TRUE OR monetary_cents <= 0 THEN NULL"]
    if a_min is not None:
        abc.append(f"WHEN monetary_cents >= {int(a_min)} THEN 'A'")
    if b_min is not None:
        abc.append(f"WHEN monetary_cents >= {int(b_min)} THEN 'B'")
    first = [
        ("r", _score_case("r", "recency_days", borders.get("r", {}), False)),
        ("f", _score_case("f", "frequency", borders.get("f", {}), True)),
        ("m", _score_case("m", "monetary_cents", borders.get("m", {}), True)),
        ("abc_class", f"CASE {' '.join(abc)} ELSE 'C' END"),
        (
            "frequency_class",
            f"""CASE WHEN frequency >= {int(s.frequency.high_min)} THEN 'HIGH'
                           WHEN frequency >= 1 THEN 'LOW' ELSE 'ZERO' END""",
        ),
        (
            "lifecycle_stage",
            f"""CASE WHEN archived = TRUE THEN 'CHURNED'
                           WHEN lifetime_purchases = 0 THEN 'PROSPECT'
                           WHEN recency_days >= {int(lc.churned_days)} THEN 'CHURNED'
                           WHEN recency_days >= {int(lc.at_risk_days)} THEN 'AT_RISK'
                           WHEN tenure_days < {int(lc.new_days)} THEN 'NEW'
                           WHEN frequency >= {int(lc.loyal_min_purchases)} THEN 'LOYAL'
                           ELSE 'ACTIVE' END""",
        ),
    ]
    named = " ".join(
        f"WHEN r BETWEEN {rule.r[0]} AND {rule.r[1]} AND f BETWEEN {rule.f[0]} AND {rule.f[1]} "
        f"AND m BETWEEN {rule.m[0]} AND {rule.m[1]} THEN {text_literal(rule.name)}"
        for rule in s.rfm_segments
    )
    core = " OR ".join(condition_sql(c) for c in s.value_tiers.core) or "1 = 0"
    potential = " OR ".join(condition_sql(c) for c in s.value_tiers.potential) or "1 = 0"
    # Which condition placed the customer: its index within the tier's list.
    rule = " ".join(
        f"WHEN {condition_sql(c)} THEN {i}"
        for conditions in (s.value_tiers.core, s.value_tiers.potential)
        for i, c in enumerate(conditions)
    )
    second = [
        ("rfm_segment", f"CASE WHEN r IS NULL THEN NULL {named} ELSE {text_literal(s.rfm_default_segment)} END"),
        (
            "value_tier",
            f"""CASE WHEN archived = TRUE THEN 'GENERAL' WHEN {core} THEN 'CORE'
                      WHEN {potential} THEN 'POTENTIAL' ELSE 'GENERAL' END""",
        ),
        ("tier_rule", f"CASE WHEN archived = TRUE THEN NULL {rule} ELSE NULL END"),
    ]
    return first, second


def classify_sql(
    d: Dialect, s: SegmentationSettings, borders: dict[str, Any], ids: Customers
) -> list[tuple[str, Params]]:
    """UPDATEs that turn the staged inputs of the customers ``ids`` into classes.
    SET expressions see the row's old values, hence two steps."""
    statements = []
    for step in classify_steps(s, borders):
        params = Params(d)
        sets = ",\n    ".join(f"{column} = {expression}" for column, expression in step)
        statements.append((f"UPDATE {STAGING} SET\n    {sets}\nWHERE {ids.on('customer_id', params)}", params))
    return statements


def scored_inputs_sql(
    d: Dialect, s: SegmentationSettings, at: AsOf, borders: dict[str, Any], ids: Customers
) -> tuple[str, Params]:
    """``inputs_sql`` and then ``classify_sql`` as one INSERT, for a re-score,
    whose borders are known before its inputs. Each classify step is a SELECT over
    the one before, so its expressions read what the UPDATE's would; the scores
    start NULL, as in a row the inputs step staged. ``MATERIALIZED`` (SQLite 3.35,
    PostgreSQL 12) keeps each step computed once: a subquery flattened into the
    next repeats its CASE expressions wherever the next names its columns."""
    params = Params(d)
    first, second = classify_steps(s, borders)
    inputs = ", ".join(INPUT_COLUMNS)
    scores = ", ".join(f"CAST(NULL AS {d.integer()}) AS {column}" for column in ("r", "f", "m"))
    firsts = ", ".join(f"{expression} AS {column}" for column, expression in first)
    seconds = ", ".join(f"{expression} AS {column}" for column, expression in second)
    first_columns = ", ".join(column for column, _ in first)
    second_columns = ", ".join(column for column, _ in second)
    return (
        f"WITH staged AS MATERIALIZED (\nSELECT {inputs}, {scores} FROM (\n{_inputs_select(d, s, at, ids, params)}\n) i\n),\n"
        f"scored AS MATERIALIZED (SELECT {inputs}, {firsts} FROM staged)\n"
        f"INSERT INTO {STAGING} ({inputs}, {first_columns}, {second_columns})\n"
        f"SELECT {inputs}, {first_columns}, {seconds} FROM scored",
        params,
    )


COLUMNS = (
    "customer_id, archived, recency_days, tenure_days, frequency, monetary_cents, lifetime_purchases, "
    "lifetime_revenue_cents, purchase_days, r, f, m, rfm_segment, abc_class, frequency_class, value_tier, "
    "lifecycle_stage, tier_rule, clv_predicted_cents, p_alive, expected_purchases, expected_revenue_cents, as_of"
)


def history_and_swap_sql(
    d: Dialect,
    ids: Customers,
    now: dt.datetime,
    cause: str,
    run_id: int | None,
    fresher_than: dt.datetime | None = None,
) -> list[tuple[str, Params]]:
    """Record tier and stage changes of the staged rows, then replace their
    classification rows. ``fresher_than``: leave alone customers re-scored
    incrementally after that moment (a full run must not overwrite newer data);
    without it (a re-score) the rows are replaced by one upsert.

    Every read of ``segmentation_classification`` names the batch's id range
    itself, though the join to staging implies it: PostgreSQL otherwise plans
    a hash join over the whole table for each batch when its estimate of the
    batch is off (the batches' deletes and inserts leave the statistics behind),
    and a full run reads (customers / batch size) × customers rows — quadratic
    (benchmarks/README.md, "Cost against the size of the base": a second full run
    took 1.8 s, 25 s and 427 s at 10,000, 100,000 and 1,000,000 customers). With
    the range, each batch's plan reads its range through the unique index."""
    # Both dimensions in one statement: the value tier's rows, then the stage's.
    # The f-strings add their parameters in the order they appear in the text.
    params = Params(d)

    def keep() -> str:
        if fresher_than is None:
            return ""
        return (
            f" AND NOT EXISTS (SELECT 1 FROM {CLASSIFICATION} k WHERE k.customer_id = s.customer_id"
            f" AND {ids.on('k.customer_id', params)} AND k.computed_at > {d.ts_param(fresher_than, params)})"
        )

    selects = [
        f"""
SELECT s.customer_id, '{dimension}', NULL, c.{column}, s.{column}, {params.add(cause)}, {d.ts_param(now, params)}
FROM {STAGING} s LEFT JOIN {CLASSIFICATION} c ON c.customer_id = s.customer_id AND {ids.on("c.customer_id", params)}
WHERE {ids.on("s.customer_id", params)} AND (c.{column} IS NULL OR c.{column} <> s.{column}){keep()}"""
        for dimension, column in (("VALUE_TIER", "value_tier"), ("LIFECYCLE_STAGE", "lifecycle_stage"))
    ]
    sql = f"INSERT INTO {CHANGE} (customer_id, dimension, segment_key, old_value, new_value, cause, changed_at)"
    statements = [(sql + "\nUNION ALL".join(selects), params)]
    names = [c.strip() for c in COLUMNS.split(",")]
    if fresher_than is not None:
        params = Params(d)
        statements.append(
            (
                f"DELETE FROM {CLASSIFICATION} WHERE {ids.on('customer_id', params)}"
                f" AND computed_at <= {d.ts_param(fresher_than, params)}",
                params,
            )
        )
    params = Params(d)
    sql = f"""
INSERT INTO {CLASSIFICATION} ({COLUMNS}, computed_at, run_id)
SELECT {", ".join(f"s.{c}" for c in names)}, {d.ts_param(now, params)}, {"NULL" if run_id is None else int(run_id)}
FROM {STAGING} s
WHERE {ids.on("s.customer_id", params)}"""
    if fresher_than is None:  # a re-score: its rows replaced in place
        updates = ", ".join(f"{c} = excluded.{c}" for c in (*names[1:], "computed_at", "run_id"))
        sql += f"\nON CONFLICT (customer_id) DO UPDATE SET {updates}"
    else:  # what the DELETE left (re-scored since the run began) stays
        sql += (
            f"\n  AND NOT EXISTS (SELECT 1 FROM {CLASSIFICATION} k WHERE k.customer_id = s.customer_id"
            f" AND {ids.on('k.customer_id', params)})"
        )
    statements.append((sql, params))
    return statements
