"""Steps 1-4 of the pipeline as SQL: the inputs, the score borders, the classes,
the history and the swap of classification rows.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from ..settings import SegmentationSettings, TierCondition
from .sql import CHANGE, CLASSIFICATION, STAGING, Dialect, IdRange, Params, _in_list, text_literal


def inputs_sql(d: Dialect, s: SegmentationSettings, now: dt.datetime, ids: IdRange) -> tuple[str, Params]:
    """INSERT the inputs of the customers ``ids`` into staging. Customers merged
    into another are left out: their purchases are the survivor's now, and the
    swap deletes what they were classified as."""
    params = Params(d)
    window_start = now - dt.timedelta(days=s.window_days)
    ws, nw = d.ts(window_start), d.ts(now)
    cents = d.cents("amount")
    bought = "amount >= 0"
    sql = f"""
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
    WHERE kind = 'PURCHASE' AND amount IS NOT NULL AND occurred_at <= {nw} AND {ids.on("customer_id", params)}
    GROUP BY customer_id
) p ON p.customer_id = c.id
WHERE {ids.on("c.id", params)} AND c.merged_into_id IS NULL"""
    return sql, params


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


def classify_sql(
    d: Dialect, s: SegmentationSettings, borders: dict[str, Any], ids: IdRange
) -> list[tuple[str, Params]]:
    """UPDATEs that turn the staged inputs of the customers ``ids`` into classes.
    SET expressions see the row's old values, hence two steps."""
    first_params, second_params = Params(d), Params(d)
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
WHERE {ids.on("customer_id", first_params)}"""
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
WHERE {ids.on("customer_id", second_params)}"""
    return [(first, first_params), (second, second_params)]


COLUMNS = (
    "customer_id, archived, recency_days, tenure_days, frequency, monetary_cents, lifetime_purchases, "
    "lifetime_revenue_cents, r, f, m, rfm_segment, abc_class, frequency_class, value_tier, lifecycle_stage, "
    "clv_predicted_cents"
)


def history_and_swap_sql(
    d: Dialect, ids: IdRange, now: dt.datetime, cause: str, run_id: int | None, fresher_than: dt.datetime | None = None
) -> list[tuple[str, Params]]:
    """Record tier and stage changes of the staged rows, then replace their
    classification rows. ``fresher_than``: leave alone customers re-scored
    incrementally after that moment (a full run must not overwrite newer data)."""
    at = d.ts(now)
    keep = ""
    if fresher_than is not None:
        keep = f" AND NOT EXISTS (SELECT 1 FROM {CLASSIFICATION} k WHERE k.customer_id = s.customer_id AND k.computed_at > {d.ts(fresher_than)})"
    statements = []
    for dimension, column in (("VALUE_TIER", "value_tier"), ("LIFECYCLE_STAGE", "lifecycle_stage")):
        params = Params(d)
        sql = f"""
INSERT INTO {CHANGE} (customer_id, dimension, segment_key, old_value, new_value, cause, changed_at)
SELECT s.customer_id, '{dimension}', NULL, c.{column}, s.{column}, {params.add(cause)}, {at}
FROM {STAGING} s LEFT JOIN {CLASSIFICATION} c ON c.customer_id = s.customer_id
WHERE {ids.on("s.customer_id", params)} AND (c.{column} IS NULL OR c.{column} <> s.{column}){keep}"""
        statements.append((sql, params))
    delete_keep = ""
    if fresher_than is not None:
        delete_keep = f" AND computed_at <= {d.ts(fresher_than)}"
    params = Params(d)
    statements.append((f"DELETE FROM {CLASSIFICATION} WHERE {ids.on('customer_id', params)}{delete_keep}", params))
    params = Params(d)
    sql = f"""
INSERT INTO {CLASSIFICATION} ({COLUMNS}, computed_at, run_id)
SELECT {", ".join("s." + c.strip() for c in COLUMNS.split(","))}, {at}, {"NULL" if run_id is None else int(run_id)}
FROM {STAGING} s
WHERE {ids.on("s.customer_id", params)}
  AND NOT EXISTS (SELECT 1 FROM {CLASSIFICATION} k WHERE k.customer_id = s.customer_id)"""
    statements.append((sql, params))
    return statements
