"""Segmentation rules: RFM, ABC, frequency class, value tier, lifecycle stage, CLV,
rule-based and static segments. No GraphQL here.

The modules: ``sql`` (dialect differences, table names), ``scoring`` (steps 1-4
as SQL), ``recompute`` (running them), ``rules`` (rule trees), ``segments``,
``summary``, ``explanation``. Other modules of the plugin import from here.

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

from .explanation import explain, inputs, money
from .recompute import (
    RecomputeResult,
    latest_run,
    recompute_all,
    recompute_customer,
    scheduled_recompute,
    start_scheduler,
    stop_scheduler,
)
from .rules import RuleField, builtin_rule_fields, compile_rule, rule_fields, rule_members
from .scoring import predicted_clv_factor
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
    "predicted_clv_factor",
    "recompute_all",
    "recompute_customer",
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
