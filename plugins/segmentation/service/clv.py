"""Predicted CLV in the pipeline: fit the repeat-purchase model on the staged
customer base, predict once per purchase-history shape, and turn the predictions
into each customer's figures in SQL.

A customer's history, as of the run's date, is the shape (``x``, ``t_x``, ``age``)
in calendar days: purchase days after the first, days from the first to the last,
days from the first to the as-of date. The transaction model (``btyd``) gives, per
shape, P(alive), the expected purchases over ``clv.horizon_days`` and the same
discounted month by month; shapes repeat a lot (one-time buyers of the same day),
so each is computed once and kept in ``segmentation_clv_cell``.

Spend per future purchase comes from the Gamma-Gamma model fitted on every
customer's purchase days and revenue (the first purchase included: what a
one-time buyer spent says something about what they would spend again); when it
cannot be fitted, from the customer's own average. Then, per customer:

* expected revenue = spend × expected purchases (over the horizon, undiscounted);
* CLV = margin × spend × discounted expected purchases.

Without numpy/scipy, for a base too small to fit, when the fit fails or with
``clv.model = "run_rate"``, the run-rate model applies (see ``btyd`` and the
docs page); the run's ``clv_model`` record says which and why, and so do the
explanations.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Any

from ..settings import SegmentationSettings
from . import btyd
from .scoring import AsOf
from .sql import CLV_CELL, STAGING, Customers, Dialect, Params

log = logging.getLogger(__name__)

BUYERS = "archived = FALSE AND purchase_days > 0"
SHAPE = "purchase_days - 1, tenure_days - recency_days, tenure_days"
FITTED = ("pareto_nbd", "bg_nbd")
# Knuth's multiplicative hash: a fixed pseudo-random sample of customers by id.
_HASH = 2654435761
_CELL_CHUNK = 20_000


def _sample(d: Dialect, population: int, size: int) -> str:
    if not size or population <= size:
        return ""
    per_million = int(size * 1_000_000 / population)
    return f" AND (CAST(customer_id AS {d.integer()}) * {_HASH}) % 1000000 < {per_million}"


async def fit_model(
    conn, d: Dialect, s: SegmentationSettings, at: AsOf, now: dt.datetime, previous: dict[str, Any] | None
) -> dict[str, Any]:
    """Fit the CLV model on the staged customers (those with a purchase, not
    archived) and return what the run records: the model used, its parameters,
    the spend model's, the fit's size and quality — or why it fell back."""
    c = s.clv
    counts = (
        await conn.execute_query_dict(
            f"SELECT COUNT(*) AS n, SUM(CASE WHEN purchase_days > 1 THEN 1 ELSE 0 END) AS repeat FROM {STAGING} WHERE {BUYERS}"
        )
    )[0]
    buyers, repeaters = int(counts["n"] or 0), int(counts["repeat"] or 0)
    state: dict[str, Any] = {
        "requested": c.model,
        "model": "run_rate",
        "as_of": at.date.isoformat(),
        "fitted_at": now.isoformat(),
        "timezone": at.calendar.name,
        "horizon_days": c.horizon_days,
        "margin": str(c.margin),
        "discount_rate": str(c.discount_rate),
        "customers": buyers,
        "repeat_customers": repeaters,
        "params": None,
        "spend": None,
        # Why the run-rate model was used: a sentence (``fallback``) and the same as a
        # code with its figures (``fallback_reason``), which explanations put in words.
        "fallback": None,
        "fallback_reason": None,
    }
    if c.model == "run_rate":
        return state
    if btyd.numerics_missing():
        return _fell_back(state, {"code": "NO_NUMERICS"})
    if buyers < c.min_customers or repeaters < c.min_repeat_customers:
        reason = {
            "code": "TOO_FEW_CUSTOMERS",
            "customers": buyers,
            "min_customers": c.min_customers,
            "repeat_customers": repeaters,
            "min_repeat_customers": c.min_repeat_customers,
        }
        return _fell_back(state, reason)
    started = time.perf_counter()
    sample = _sample(d, buyers, c.fit_sample_size)
    shapes = await conn.execute_query_dict(
        f"SELECT purchase_days - 1 AS x, tenure_days - recency_days AS t_x, tenure_days AS age, COUNT(*) AS n "
        f"FROM {STAGING} WHERE {BUYERS}{sample} GROUP BY {SHAPE}"
    )
    spends = await conn.execute_query_dict(
        f"SELECT purchase_days AS n, lifetime_revenue_cents AS cents, COUNT(*) AS k FROM {STAGING} "
        f"WHERE {BUYERS} AND lifetime_revenue_cents > 0{sample} GROUP BY purchase_days, lifetime_revenue_cents"
    )
    start = None
    if previous and previous.get("model") == c.model and previous.get("params"):
        start = [previous["params"][name] for name in btyd.PARAMETERS[c.model]]
    fit, spend = await asyncio.to_thread(_fit, c.model, shapes, spends, start)
    state["seconds"] = round(time.perf_counter() - started, 3)
    state["fit_customers"] = fit.customers
    state["log_likelihood"] = round(fit.log_likelihood, 3)
    state["iterations"] = fit.iterations
    if not fit.usable():
        _fell_back(state, {"code": "NOT_CONVERGED", "model": c.model, "message": fit.message})
        log.warning("segmentation: CLV %s", state["fallback"])
        return state
    state["model"] = c.model
    state["params"] = fit.params
    if spend is not None and spend.usable() and spend.params["p"] + spend.params["q"] > 1:
        state["spend"] = spend.params
        state["spend_log_likelihood"] = round(spend.log_likelihood, 3)
    return state


def fallback_text(reason: dict[str, Any]) -> str:
    """A run's ``fallback_reason`` as the English sentence it records."""
    code = reason.get("code")
    if code == "NO_NUMERICS":
        return btyd.NEEDS_EXTRA
    if code == "TOO_FEW_CUSTOMERS":
        return (
            f"too few customers to fit: {reason['customers']} with purchases (at least {reason['min_customers']}), "
            f"{reason['repeat_customers']} who bought again (at least {reason['min_repeat_customers']})"
        )
    return f"the {reason.get('model')} fit did not converge ({reason.get('message')})"


def _fell_back(state: dict[str, Any], reason: dict[str, Any]) -> dict[str, Any]:
    state["fallback_reason"] = reason
    state["fallback"] = fallback_text(reason)
    return state


def _fit(model: str, shapes: list[dict], spends: list[dict], start):
    fitter = {"pareto_nbd": btyd.fit_pareto_nbd, "bg_nbd": btyd.fit_bg_nbd}[model]
    x = [r["x"] for r in shapes]
    t_x = [r["t_x"] for r in shapes]
    age = [r["age"] for r in shapes]
    fit = fitter(x, t_x, age, weights=[r["n"] for r in shapes], start=start)
    spend = None
    if len(spends) >= 2:
        n = [r["n"] for r in spends]
        mean = [r["cents"] / 100 / r["n"] for r in spends]
        spend = btyd.fit_gamma_gamma(n, mean, weights=[r["k"] for r in spends])
    return fit, spend


def _predict(state: dict[str, Any], shapes: list[tuple[int, int, int]]) -> list[tuple]:
    """``(x, t_x, age, p_alive, purchases, discounted)`` per shape."""
    import numpy as np

    if not shapes:
        return []
    names = btyd.PARAMETERS[state["model"]]
    params = [state["params"][n] for n in names]
    columns = np.asarray(shapes, dtype=float).T
    p_alive, purchases, discounted = btyd.predict(
        state["model"], params, *columns, float(state["horizon_days"]), float(state["discount_rate"])
    )
    figures = np.column_stack(
        [
            np.clip(np.nan_to_num(p_alive, nan=0.0), 0.0, 1.0),
            np.maximum(np.nan_to_num(purchases, nan=0.0, posinf=0.0), 0.0),
            np.maximum(np.nan_to_num(discounted, nan=0.0, posinf=0.0), 0.0),
        ]
    ).tolist()
    return [(*shape, *values) for shape, values in zip(shapes, figures)]


def uses_cells(state: dict[str, Any] | None) -> bool:
    return bool(state) and state.get("model") in FITTED and not btyd.numerics_missing()


async def write_cells(conn, d: Dialect, state: dict[str, Any], ids: Customers | None = None) -> None:
    """Predict the shapes of the staged customers (``ids``; all when None) that
    have no cell yet. A full run clears the cells first (new parameters)."""
    params = Params(d)
    where = f"{BUYERS}" + (f" AND {ids.on('customer_id', params)}" if ids is not None else "")
    if ids is None:
        await conn.execute_query(f"DELETE FROM {CLV_CELL}")
    rows = await conn.execute_query_dict(
        f"SELECT DISTINCT purchase_days - 1 AS x, tenure_days - recency_days AS t_x, tenure_days AS age "
        f"FROM {STAGING} s WHERE {where} AND NOT EXISTS (SELECT 1 FROM {CLV_CELL} c "
        f"WHERE c.x = s.purchase_days - 1 AND c.t_x = s.tenure_days - s.recency_days AND c.age = s.tenure_days)",
        params or None,
    )
    shapes = [(int(r["x"]), int(r["t_x"]), int(r["age"])) for r in rows]
    cells = await asyncio.to_thread(_predict, state, shapes)
    for lo in range(0, len(cells), _CELL_CHUNK):
        await _insert_cells(conn, d, cells[lo : lo + _CELL_CHUNK])


async def _insert_cells(conn, d: Dialect, cells: list[tuple]) -> None:
    columns = "x, t_x, age, p_alive, purchases, discounted"
    if d.postgres:  # one statement: the columns as arrays
        arrays = [list(col) for col in zip(*cells)]
        await conn.execute_query(
            f"INSERT INTO {CLV_CELL} ({columns}) SELECT * FROM unnest($1::int[], $2::int[], $3::int[], "
            "$4::float8[], $5::float8[], $6::float8[]) ON CONFLICT (x, t_x, age) DO NOTHING",
            arrays,
        )
        return
    await conn.execute_many(
        f"INSERT INTO {CLV_CELL} ({columns}) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (x, t_x, age) DO NOTHING", cells
    )


def _number(value: Any) -> str:
    return repr(float(value))


def clv_sql(d: Dialect, s: SegmentationSettings, state: dict[str, Any] | None, ids: Customers) -> tuple[str, Params]:
    """The UPDATE that sets the staged customers' CLV figures from the model
    ``state`` (a run's ``clv_model``)."""
    params = Params(d)
    st = STAGING
    c = s.clv
    margin = _number(c.margin)
    revenue = f"{st}.lifetime_revenue_cents / 100.0"
    own = f"{revenue} / {st}.purchase_days"
    spend = own
    if state and state.get("spend"):
        p, q, gamma = (_number(state["spend"][k]) for k in ("p", "q", "gamma"))
        spend = f"(({gamma} + {revenue}) * {p} / ({p} * {st}.purchase_days + {q} - 1))"
    if uses_cells(state):
        sql = f"""
UPDATE {st} SET
    p_alive = c.p_alive,
    expected_purchases = c.purchases,
    expected_revenue_cents = CAST(ROUND(100 * {spend} * c.purchases) AS {d.integer()}),
    clv_predicted_cents = CAST(ROUND(100 * {margin} * {spend} * c.discounted) AS {d.integer()})
FROM {CLV_CELL} c
WHERE c.x = {st}.purchase_days - 1 AND c.t_x = {st}.tenure_days - {st}.recency_days AND c.age = {st}.tenure_days
  AND {st}.archived = FALSE AND {st}.purchase_days > 0 AND {ids.on(f"{st}.customer_id", params)}"""
        return sql, params
    # The run-rate model: the customer's own purchase days per day since the first
    # purchase (over at least the window), fading out from at_risk_days to churned_days.
    lc = s.lifecycle
    rate = f"(purchase_days * 1.0 / {d.greatest('tenure_days + 1', str(int(s.window_days)))})"
    fade = (
        f"(CASE WHEN recency_days >= {int(lc.churned_days)} THEN 0.0 WHEN recency_days <= {int(lc.at_risk_days)} "
        f"THEN 1.0 ELSE ({int(lc.churned_days)} - recency_days) * 1.0 / {int(lc.churned_days - lc.at_risk_days)} END)"
    )
    annuity = _number(btyd.run_rate_annuity(float(c.horizon_days), float(c.discount_rate)))
    own = "lifetime_revenue_cents / 100.0 / purchase_days"
    sql = f"""
UPDATE {st} SET
    p_alive = NULL,
    expected_purchases = {rate} * {int(c.horizon_days)} * {fade},
    expected_revenue_cents = CAST(ROUND(100 * {own} * {rate} * {int(c.horizon_days)} * {fade}) AS {d.integer()}),
    clv_predicted_cents = CAST(ROUND(100 * {margin} * {own} * {rate} * {annuity} * {fade}) AS {d.integer()})
WHERE archived = FALSE AND purchase_days > 0 AND {ids.on("customer_id", params)}"""
    return sql, params
