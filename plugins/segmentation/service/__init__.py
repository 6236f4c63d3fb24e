"""Segmentation rules: RFM, ABC, frequency class, value tier, lifecycle stage, CLV,
rule-based and static segments. No GraphQL here.

The modules: ``sql`` (dialect differences, table names), ``scoring`` (steps 1-4
as SQL), ``clv`` and ``btyd`` (the CLV model), ``recompute`` (running them),
``rules`` (rule trees), ``segments``, ``summary``, ``explanation``, ``export``.
Other modules of the plugin import from here. docs/plugins/segmentation.md is the
reference for every rule, formula and setting.

Everything is computed set-based in SQL; no customer is ever classified row by row
in Python. The pipeline (``recompute_all``) is, as of a date (``as_of``: the end of
that day on the business calendar, ``[kehu] timezone``; today by default):

1. **Inputs** — per customer, from PURCHASE interactions before the as-of cut-off:
   recency (calendar days from the last purchase day to the as-of date), tenure
   (from the first), frequency and monetary (purchases — rows, or purchase days with
   ``frequency_unit = "days"`` — and their sum *within the window*: the
   ``window_days`` calendar days ending with the as-of date), lifetime purchases,
   purchase days and revenue. Written to ``segmentation_staging`` in id batches.
2. **Score borders** — over the *population*: active (not archived) customers with
   at least one purchase in the window. With ``rfm_scoring = "rank"`` (the default)
   RFM scores use rank arithmetic, not NTILE:
   ``score = 1 + floor(bins × (RANK() − 1) / n)`` where ``RANK()`` orders
   ascending by goodness (older recency first; fewer purchases first; lower
   monetary first). Tied customers share one RANK — the position of the first of
   them — so ties always get the same score and the result never depends on row
   order. With ``n = 10, bins = 5`` ranks 1–2 → 1, 3–4 → 2, …; ten customers tied
   at the bottom all score 1. With ``"ntile"`` scores are classic equal-sized bins
   (``NTILE(bins)``), ties split by customer id. For each score the border value
   (the least good value that still earns it) is kept in
   ``RecomputeRun.thresholds``.
   ABC: customers ordered by monetary, descending; a customer is A when the revenue
   of customers *strictly above* them is below ``a_share`` of the total (they are
   needed to reach the top 80%), B below ``b_share``, else C. Ties share a class.
   Customers without revenue in the window have no class, nor do archived ones.
3. **CLV model** — fitted on every customer with a purchase (``clv``): P(alive),
   expected purchases and revenue over ``clv.horizon_days``, discounted CLV.
4. **Classes** — one ``UPDATE`` applies the borders (the same SQL scores one
   customer incrementally, against the last run's borders and model), then the
   named RFM segment, value tier (and the rule that placed the customer) and CLV.
5. **History and swap** — changes of value tier and lifecycle stage become
   ``SegmentChange`` rows; the batch replaces its ``Classification`` rows.
6. **Rule segments** — each rule compiles to one SQL query; joins and leaves are
   diffed against the stored memberships in SQL.

Each batch is its own short transaction, so API reads are never blocked for long
(SQLite serialises everything behind one connection).

Refunds: the core refuses negative amounts, so the plugin assumes a PURCHASE amount
is ≥ 0. Should a negative one ever arrive (an import, a future refund kind), it is
treated as a refund: it is not a purchase (no frequency, no recency) but reduces
monetary and lifetime revenue, which are floored at zero. A zero amount is a
purchase unless ``count_zero_amounts = false``.
"""

from .explanation import LANGUAGES, describe_condition, explain, explanation_language, inputs, money, tier_rule
from .recompute import (
    RecomputeResult,
    as_of_for,
    latest_run,
    recompute_all,
    recompute_customer,
    recompute_loaded,
    scheduled_recompute,
    start_scheduler,
    stop_scheduler,
)
from .rules import RuleField, builtin_rule_fields, compile_rule, rule_fields, rule_members
from .segments import (
    create_segment,
    delete_segment,
    get_segment,
    refresh_rule_segment,
    segment_member_ids,
    update_segment,
    visible_members,
)
from .summary import classified, stage_changed_since, summary

__all__ = [
    "LANGUAGES",
    "as_of_for",
    "describe_condition",
    "explanation_language",
    "tier_rule",
    "builtin_rule_fields",
    "classified",
    "compile_rule",
    "create_segment",
    "delete_segment",
    "explain",
    "get_segment",
    "inputs",
    "latest_run",
    "money",
    "recompute_all",
    "recompute_customer",
    "recompute_loaded",
    "RecomputeResult",
    "refresh_rule_segment",
    "rule_fields",
    "rule_members",
    "RuleField",
    "scheduled_recompute",
    "segment_member_ids",
    "stage_changed_since",
    "start_scheduler",
    "stop_scheduler",
    "summary",
    "update_segment",
    "visible_members",
]
