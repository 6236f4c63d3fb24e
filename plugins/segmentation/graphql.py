"""GraphQL surface of the segmentation plugin.

``Customer.segmentation`` and ``Customer.segments`` are batch fields
(kehu.schema.batch_field): a page of N customers costs a constant number of
queries. Every customer read goes through ``kehu.access.visible_customers``.
"""

import datetime as dt
import enum
from collections import defaultdict
from decimal import Decimal
from typing import Annotated, Optional

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info
from tortoise.expressions import Subquery

from kehu.access import require_viewer, visible_customers
from kehu.errors import PermissionDenied
from kehu.policies import unmasked_order
from kehu.schema import (
    Connection,
    ModelNode,
    Payload,
    batch_field,
    describe_enum_values,
    paginate,
    pk_from_global_id,
    pks_from_global_ids,
    to_global_id,
)

from . import models, service
from .service import export
from .settings import SegmentationSettings

ValueTier = describe_enum_values(
    strawberry.enum(models.ValueTier, description="Customer value tier: 核心 / 潜力 / 一般客户."),
    {
        "CORE": "Core customers (核心客户): the conditions of [plugins.segmentation] value_tiers.core.",
        "POTENTIAL": "Potential customers (潜力客户): value_tiers.potential.",
        "GENERAL": "General customers (一般客户): everyone else, and archived customers.",
    },
)
LifecycleStage = describe_enum_values(
    strawberry.enum(models.LifecycleStage, description="Where the customer is in their lifecycle."),
    {
        "PROSPECT": "Has never bought.",
        "NEW": "First bought less than lifecycle.new_days ago.",
        "ACTIVE": "Buys, but not (yet) often enough to be loyal.",
        "LOYAL": "At least lifecycle.loyal_min_purchases purchases within the window.",
        "AT_RISK": "No purchase for lifecycle.at_risk_days.",
        "CHURNED": "No purchase for lifecycle.churned_days, or archived.",
    },
)
AbcClass = describe_enum_values(
    strawberry.enum(models.AbcClass, description="Share of revenue: A top, B next, C the rest."),
    {
        "A": "The customers who make up the first abc.a_share of revenue within the window.",
        "B": "The next ones, up to abc.b_share of revenue.",
        "C": "The rest, including customers without purchases.",
    },
)
FrequencyClass = describe_enum_values(
    strawberry.enum(models.FrequencyClass, description="How often the customer bought within the window."),
    {
        "HIGH": "At least frequency.high_min purchases.",
        "LOW": "At least one purchase, fewer than frequency.high_min.",
        "ZERO": "No purchase.",
    },
)
SegmentKind = describe_enum_values(
    strawberry.enum(models.SegmentKind, description="How a segment's members are chosen."),
    {
        "RULE": "By a rule over customer data, re-evaluated on every recompute.",
        "STATIC": "By hand: a list of customers (分组).",
    },
)
SegmentChangeDimension = describe_enum_values(
    strawberry.enum(
        models.ChangeDimension, name="SegmentChangeDimension", description="What changed about a customer."
    ),
    {
        "VALUE_TIER": "The value tier.",
        "LIFECYCLE_STAGE": "The lifecycle stage.",
        "SEGMENT": "Membership of a segment (segmentKey): IN or OUT.",
    },
)


@strawberry.enum(description="The model behind a predicted CLV.")
class ClvModel(str, enum.Enum):
    PARETO_NBD = "pareto_nbd"
    BG_NBD = "bg_nbd"
    RUN_RATE = "run_rate"


describe_enum_values(
    ClvModel,
    {
        "PARETO_NBD": "Pareto/NBD with Gamma-Gamma spend, fitted to the purchases.",
        "BG_NBD": "BG/NBD with Gamma-Gamma spend, fitted to the purchases.",
        "RUN_RATE": "Each customer's own purchase rate and average spend (no fit).",
    },
)


@strawberry.enum(description="Why a recompute used the run-rate CLV model instead of the one the settings ask for.")
class ClvFallbackCode(enum.Enum):
    NO_NUMERICS = strawberry.enum_value("NO_NUMERICS", description="numpy and scipy are not installed.")
    TOO_FEW_CUSTOMERS = strawberry.enum_value(
        "TOO_FEW_CUSTOMERS", description="Fewer customers than clv.min_customers or clv.min_repeat_customers."
    )
    NOT_CONVERGED = strawberry.enum_value("NOT_CONVERGED", description="The maximum-likelihood fit did not converge.")


def _money(cents: Optional[int]) -> Decimal:
    return (Decimal(int(cents or 0)) / 100).quantize(Decimal("0.01"))


LanguageArgument = Annotated[
    Optional[str],
    strawberry.argument(
        description="en or zh-CN; else the viewer's language, the request's Accept-Language, the setting."
    ),
]


def _language(info: Info, settings: SegmentationSettings, asked: Optional[str] = None) -> str:
    """``asked`` (an argument), else the viewer's choice, the request's
    Accept-Language, the ``language`` setting."""
    if asked in service.LANGUAGES:
        return asked
    request = getattr(info.context, "request", None)
    header = request.headers.get("accept-language") if request is not None else None
    return service.explanation_language(settings, info.context.viewer, header)


# --------------------------------------------------------------------------- loaders


async def _runs(info: Info, ids: set[int]) -> dict[int, models.RecomputeRun]:
    """Recompute runs by id, cached for the request (a page shares one or two)."""
    cache = info.context.loader("segmentation.runs", dict)
    missing = [i for i in ids if i not in cache]
    if missing:
        cache.update({r.id: r for r in await models.RecomputeRun.filter(id__in=missing)})
    return cache


# --------------------------------------------------------------------------- types


@strawberry.type(description="Recency, frequency and monetary value within the window, and their scores.")
class Rfm:
    recency: Optional[int] = strawberry.field(description="Days since the last purchase (null: never bought).")
    frequency: int = strawberry.field(description="Purchases within the window.")
    monetary: Decimal = strawberry.field(description="Sum of purchases within the window.")
    r: Optional[int] = strawberry.field(description="Recency score, 1 (longest ago) to rfm_bins (most recent).")
    f: Optional[int] = strawberry.field(description="Frequency score, 1 (fewest purchases) to rfm_bins.")
    m: Optional[int] = strawberry.field(description="Monetary score, 1 (least spent) to rfm_bins.")
    score: Optional[str] = strawberry.field(
        description='The RFM cell, e.g. "545"; null without purchases in the window.'
    )
    segment: Optional[str] = strawberry.field(description="Named RFM segment, e.g. champions, at_risk.")


@strawberry.type(description='Customer lifetime value (docs/plugins/segmentation.md, "CLV").')
class Clv:
    historical: Decimal = strawberry.field(description="Revenue so far (all purchases up to the as-of date).")
    predicted: Decimal = strawberry.field(
        description="Margin × expected spend over the horizon, each month discounted at the discount rate."
    )
    expected_purchases: Optional[float] = strawberry.field(
        description="Purchases (purchase days) expected over the horizon; null without a purchase."
    )
    expected_revenue: Decimal = strawberry.field(description="Expected spend over the horizon, undiscounted.")
    probability_alive: Optional[float] = strawberry.field(
        description="Probability that the customer is still buying (null: run-rate model, no probability)."
    )
    horizon_days: int = strawberry.field(description="The days ahead that `predicted` covers.")
    model: Optional[ClvModel] = strawberry.field(description="The model that predicted it; null without a purchase.")


@strawberry.type(description="A customer's classification and why.")
class Segmentation:
    _row: strawberry.Private[models.Classification]
    _run: strawberry.Private[Optional[models.RecomputeRun]]
    _settings: strawberry.Private[object]

    @strawberry.field(description="Recency, frequency and monetary value, and their scores.")
    def rfm(self) -> Rfm:
        row = self._row
        score = f"{row.r}{row.f}{row.m}" if row.r is not None else None
        return Rfm(
            recency=row.recency_days,
            frequency=row.frequency,
            monetary=_money(row.monetary_cents),
            r=row.r,
            f=row.f,
            m=row.m,
            score=score,
            segment=row.rfm_segment,
        )

    @strawberry.field(description="ABC class by share of revenue; null for archived customers.")
    def abc_class(self) -> Optional[AbcClass]:
        return models.AbcClass(self._row.abc_class) if self._row.abc_class else None

    @strawberry.field(description="How often the customer bought within the window.")
    def frequency_class(self) -> FrequencyClass:
        return models.FrequencyClass(self._row.frequency_class)

    @strawberry.field(description="The value tier.")
    def value_tier(self) -> ValueTier:
        return models.ValueTier(self._row.value_tier)

    @strawberry.field(description="The lifecycle stage.")
    def lifecycle_stage(self) -> LifecycleStage:
        return models.LifecycleStage(self._row.lifecycle_stage)

    @strawberry.field(description="Lifetime value, so far and predicted.")
    def clv(self) -> Clv:
        row = self._row
        model = (self._run.clv_model if self._run else None) or {}
        name = model.get("model") if row.lifetime_purchases else None
        return Clv(
            historical=_money(row.lifetime_revenue_cents),
            predicted=_money(row.clv_predicted_cents),
            expected_purchases=row.expected_purchases,
            expected_revenue=_money(row.expected_revenue_cents),
            probability_alive=row.p_alive,
            horizon_days=int(model.get("horizon_days") or self._settings.clv.horizon_days),
            model=ClvModel(name) if name else None,
        )

    @strawberry.field(description="The date these figures are as of (the end of that day, business time zone).")
    def as_of(self) -> Optional[dt.date]:
        return self._row.as_of

    @strawberry.field(description='The value-tier rule that placed the customer, e.g. "ABC A or B and R ≥ 2".')
    def tier_rule(self, info: Info, language: LanguageArgument = None) -> Optional[str]:
        return service.tier_rule(self._row, self._settings, _language(info, self._settings, language))

    @strawberry.field(
        description='E.g. "potential: ABC A or B and R ≥ 2; R=2 (130 days), …; as of 2026-01-01 (UTC)". '
        "In `language` (en, zh-CN), else the viewer's language, the request's Accept-Language, the setting."
    )
    def explanation(self, info: Info, language: LanguageArgument = None) -> str:
        return service.explain(self._row, self._run, self._settings, _language(info, self._settings, language))

    @strawberry.field(description="The inputs and the thresholds in force.")
    def inputs(self) -> JSON:
        return service.inputs(self._row, self._run, self._settings)

    @strawberry.field(description="When this classification was computed.")
    def computed_at(self) -> dt.datetime:
        return self._row.computed_at


@strawberry.type(description="A customer segment: a rule over customer data, or a hand-picked list.")
class Segment(ModelNode, model=models.Segment):
    key: str = strawberry.field(description="Stable identifier: lower-case letters, digits, '-' and '_'.")
    name: str = strawberry.field(description="The name people read.")
    description: str = strawberry.field(description="What the segment is for; may be empty.")
    kind: SegmentKind = strawberry.field(description="Rule-based or hand-picked.")
    created_at: dt.datetime = strawberry.field(description="When it was created.")
    updated_at: dt.datetime = strawberry.field(description="When it was last changed.")

    @strawberry.field(description="The rule tree (null for a static segment).")
    def rule(self) -> Optional[JSON]:
        return self.rule

    @strawberry.field(description="Active members the viewer may see.")
    async def size(self, info: Info) -> int:
        return await service.visible_members(info.context.viewer, self).count()

    @strawberry.field(description="Active members the viewer may see, by name (by id when names are masked).")
    async def customers(
        self,
        info: Info,
        first: Optional[int] = None,
        after: Optional[str] = None,
        last: Optional[int] = None,
        before: Optional[str] = None,
    ) -> Connection["Customer"]:
        viewer = info.context.viewer
        qs = service.visible_members(viewer, self)
        # By name for a viewer who sees names in clear, by id for one who does not:
        # the order of masked names would tell them apart, and a cursor holds its row's name.
        order = unmasked_order(info.context.kehu, viewer, qs.model, "name", "id")
        return await paginate(qs, first, after, last=last, before=before, order_by=order)


@strawberry.type(description="One change of a customer's value tier, lifecycle stage or segment membership.")
class SegmentChange:
    dimension: SegmentChangeDimension = strawberry.field(description="What changed.")
    segment_key: Optional[str] = strawberry.field(description="The segment, for a membership change.")
    old_value: Optional[str] = strawberry.field(description="Tier or stage before; IN/OUT for segments.")
    new_value: Optional[str] = strawberry.field(description="Tier or stage after; IN/OUT for segments.")
    cause: str = strawberry.field(
        description="RECOMPUTE, INTERACTION, CUSTOMER_CHANGE, MANUAL, SEGMENT_…, IMPORT (a bulk load: the state "
        "before and after it), DEMO"
    )
    changed_at: dt.datetime = strawberry.field(description="When it changed.")


@strawberry.type(description="Customers and revenue of one tier, stage or ABC class.")
class SegmentationGroup:
    key: str = strawberry.field(description="The tier or stage.")
    customers: int = strawberry.field(description="How many customers (those the viewer may see).")
    revenue: Decimal = strawberry.field(description="Their revenue within the window.")
    revenue_share: Decimal = strawberry.field(description="Their share of the revenue within the window, 0 to 1.")


@strawberry.type(description="Of the customers who bought in the previous period, how many bought again.")
class RetentionPeriod:
    start: dt.datetime = strawberry.field(description="The period's first instant.")
    end: dt.datetime = strawberry.field(description="The instant after the period.")
    customers_at_start: int = strawberry.field(description="Customers who bought in the previous period.")
    retained: int = strawberry.field(description="Of those, how many bought again in this one.")
    retention_rate: Optional[Decimal] = strawberry.field(description="retained / customersAtStart; null if none.")
    churn_rate: Optional[Decimal] = strawberry.field(description="1 - retentionRate; null if none.")


@strawberry.type(description="The customer base by tier, stage and ABC class, and retention over time.")
class SegmentationSummary:
    computed_at: Optional[dt.datetime] = strawberry.field(description="When the last full recompute finished.")
    as_of: Optional[dt.date] = strawberry.field(description="The date the last full recompute was as of.")
    tiers: list[SegmentationGroup] = strawberry.field(description="Customers and revenue share per value tier.")
    stages: list[SegmentationGroup] = strawberry.field(description="Customers and revenue share per lifecycle stage.")
    abc_classes: list[SegmentationGroup] = strawberry.field(
        description="Customers and revenue share per ABC class (customers with purchases)."
    )
    periods: list[RetentionPeriod] = strawberry.field(description="Retention and churn, period by period.")


@strawberry.type(description="One customer's classification as a flat row: what `kehu export segments` writes.")
class SegmentationResult:
    customer_id: strawberry.ID = strawberry.field(description="The customer's global id.")
    external_id: Optional[str] = strawberry.field(description="The id other systems know the customer by.")
    as_of: Optional[dt.date] = strawberry.field(description="The date these figures are as of.")
    recency_days: Optional[int] = strawberry.field(
        description="Days since the last purchase; null: none in the window."
    )
    frequency: int = strawberry.field(description="Purchases (or purchase days: frequency_unit) within the window.")
    monetary: Decimal = strawberry.field(description="Revenue within the window.")
    r: Optional[int] = strawberry.field(description="Recency score, 1–5; null without a purchase in the window.")
    f: Optional[int] = strawberry.field(description="Frequency score, 1–5; null without a purchase in the window.")
    m: Optional[int] = strawberry.field(description="Monetary score, 1–5; null without a purchase in the window.")
    rfm_score: Optional[str] = strawberry.field(description='R, F and M in one, e.g. "545".')
    rfm_segment: Optional[str] = strawberry.field(description="The RFM segment the scores fall in.")
    abc_class: Optional[AbcClass] = strawberry.field(description="Share of revenue; null without revenue.")
    frequency_class: FrequencyClass = strawberry.field(description="How often they bought within the window.")
    value_tier: ValueTier = strawberry.field(description="The value tier.")
    tier_rule: Optional[str] = strawberry.field(description="The value-tier rule that placed the customer.")
    lifecycle_stage: LifecycleStage = strawberry.field(description="The lifecycle stage.")
    lifetime_purchases: int = strawberry.field(description="Purchases ever (up to the as-of date).")
    purchase_days: int = strawberry.field(description="Calendar days with a purchase, ever.")
    lifetime_revenue: Decimal = strawberry.field(description="Revenue ever (up to the as-of date).")
    clv_predicted: Decimal = strawberry.field(description="Predicted lifetime value over the horizon, discounted.")
    expected_purchases: Optional[float] = strawberry.field(description="Purchases expected over the horizon.")
    expected_revenue: Decimal = strawberry.field(description="Spend expected over the horizon, undiscounted.")
    probability_alive: Optional[float] = strawberry.field(
        description="Probability that the customer is still buying; null: run-rate model."
    )
    clv_model: Optional[ClvModel] = strawberry.field(description="The model behind the prediction.")
    explanation: str = strawberry.field(description="Why the customer is where they are, in words.")

    @classmethod
    def from_record(cls, record: dict) -> "SegmentationResult":
        """From a row of ``service.export.record`` (the export's columns)."""
        values = {k: v for k, v in record.items() if k != "name"}
        values["customer_id"] = strawberry.ID(to_global_id("Customer", record["customer_id"]))
        for column, kind in _RESULT_ENUMS.items():
            values[column] = kind(record[column]) if record[column] else None
        return cls(**values)


_RESULT_ENUMS = {
    "abc_class": models.AbcClass,
    "frequency_class": models.FrequencyClass,
    "value_tier": models.ValueTier,
    "lifecycle_stage": models.LifecycleStage,
    "clv_model": ClvModel,
}


@strawberry.input(description="Narrows segmentationResults; all given conditions hold.")
class SegmentationResultFilter:
    segment: Optional[str] = strawberry.field(default=None, description="Only the members of this segment (its key).")
    value_tier: Optional[ValueTier] = strawberry.field(default=None, description="Only customers in this tier.")
    lifecycle_stage: Optional[LifecycleStage] = strawberry.field(
        default=None, description="Only customers at this stage."
    )
    abc_class: Optional[AbcClass] = strawberry.field(default=None, description="Only customers of this ABC class.")


@strawberry.type(description="The CLV model a recompute used: fitted parameters, or why it fell back.")
class ClvModelFit:
    model: ClvModel = strawberry.field(description="The model used.")
    requested: ClvModel = strawberry.field(description="The model the settings ask for.")
    fallback: Optional[str] = strawberry.field(description="Why the run-rate model was used instead; null if not.")
    fallback_code: Optional[ClvFallbackCode] = strawberry.field(description="The same as a code; null if not.")
    as_of: Optional[dt.date] = strawberry.field(description="The date the model was fitted as of.")
    fitted_at: Optional[dt.datetime] = strawberry.field(description="When the fit ran.")
    parameters: Optional[JSON] = strawberry.field(
        description="Transaction model parameters (time in days): Pareto/NBD r, alpha, s, beta; BG/NBD r, alpha, a, b."
    )
    spend_parameters: Optional[JSON] = strawberry.field(
        description="Gamma-Gamma p, q, gamma (null: each customer's own average spend)."
    )
    log_likelihood: Optional[float] = strawberry.field(description="The fit's log-likelihood; null: no fit.")
    customers: int = strawberry.field(description="Customers with a purchase as of the date.")
    fit_customers: Optional[int] = strawberry.field(description="Customers the fit used (a sample above the cap).")
    repeat_customers: int = strawberry.field(description="Of those, customers who bought on more than one day.")
    horizon_days: int = strawberry.field(description="The days ahead predictions cover.")
    margin: Decimal = strawberry.field(description="The margin applied to expected spend, 0 to 1.")
    discount_rate: Decimal = strawberry.field(description="The yearly discount rate, applied month by month.")
    seconds: Optional[float] = strawberry.field(description="Time the fit took.")


@strawberry.type(description="A full recompute: when, as of which date, over whom, and its CLV model.")
class SegmentationRun:
    id: int = strawberry.field(description="The run's number (segmentationRun(id:)).")
    as_of: Optional[dt.date] = strawberry.field(description="The date it classified as of.")
    timezone: str = strawberry.field(description="The time zone its days were counted in.")
    started_at: dt.datetime = strawberry.field(description="When it started.")
    finished_at: Optional[dt.datetime] = strawberry.field(description="When it finished; null while running.")
    customers: int = strawberry.field(description="Customers classified.")
    population: int = strawberry.field(description="Customers with a purchase in the window (scored).")
    changes: int = strawberry.field(description="Changes of tier, stage or segment membership it recorded.")
    clv_model: Optional[ClvModelFit] = strawberry.field(description="The CLV model it used; null: none recorded.")

    @classmethod
    def from_run(cls, run: models.RecomputeRun) -> "SegmentationRun":
        m = run.clv_model or {}
        fit = None
        if m.get("model"):
            fit = ClvModelFit(
                model=ClvModel(m["model"]),
                requested=ClvModel(m.get("requested", m["model"])),
                fallback=m.get("fallback"),
                fallback_code=ClvFallbackCode(m["fallback_reason"]["code"]) if m.get("fallback_reason") else None,
                as_of=dt.date.fromisoformat(m["as_of"]) if m.get("as_of") else None,
                fitted_at=dt.datetime.fromisoformat(m["fitted_at"]) if m.get("fitted_at") else None,
                parameters=m.get("params"),
                spend_parameters=m.get("spend"),
                log_likelihood=m.get("log_likelihood"),
                customers=int(m.get("customers", 0)),
                fit_customers=m.get("fit_customers"),
                repeat_customers=int(m.get("repeat_customers", 0)),
                horizon_days=int(m.get("horizon_days", 0)),
                margin=Decimal(str(m.get("margin", "0"))),
                discount_rate=Decimal(str(m.get("discount_rate", "0"))),
                seconds=m.get("seconds"),
            )
        return cls(
            id=run.id,
            as_of=run.as_of,
            timezone=run.timezone,
            started_at=run.started_at,
            finished_at=run.finished_at,
            customers=run.customers,
            population=run.population,
            changes=run.changes,
            clv_model=fit,
        )


# --------------------------------------------------------------------------- Customer fields


@strawberry.type
class CustomerSegmentation:
    @batch_field(description="Scores, classes and their explanation (null until first computed).")
    async def segmentation(customers: list["Customer"], info: Info) -> list[Optional[Segmentation]]:
        ids = [c.id for c in customers]
        rows = {r.customer_id: r for r in await models.Classification.filter(customer_id__in=ids)}
        runs = await _runs(info, {r.run_id for r in rows.values() if r.run_id})
        settings = info.context.kehu.settings_for("segmentation", SegmentationSettings)
        return [
            Segmentation(_row=row, _run=runs.get(row.run_id) if row.run_id else None, _settings=settings)
            if (row := rows.get(i)) is not None
            else None
            for i in ids
        ]

    @batch_field(description="Segments this customer belongs to.")
    async def segments(customers: list["Customer"]) -> list[list[Segment]]:
        ids = [c.id for c in customers]
        by_customer = defaultdict(list)
        for row in await models.SegmentMembership.filter(customer_id__in=ids).select_related("segment"):
            by_customer[row.customer_id].append(row.segment)
        return [sorted(by_customer.get(i, []), key=lambda s: s.key) for i in ids]


@strawberry.input
class SegmentationCustomerFilter:
    value_tier: Optional[ValueTier] = strawberry.field(default=None, description="Customers in this value tier.")
    lifecycle_stage: Optional[LifecycleStage] = strawberry.field(
        default=None, description="Customers at this lifecycle stage."
    )
    abc_class: Optional[AbcClass] = strawberry.field(default=None, description="Customers of this ABC class.")
    segment: Optional[str] = strawberry.field(default=None, description="A segment key.")
    stage_changed_after: Optional[dt.datetime] = strawberry.field(
        default=None,
        description="The lifecycle stage changed from another stage at or after this moment (into `lifecycleStage`, "
        "when that is given too); a first classification is not a change.",
    )


async def apply_filter(qs, filter, info: Info):
    for attr, column in (
        ("value_tier", "value_tier"),
        ("lifecycle_stage", "lifecycle_stage"),
        ("abc_class", "abc_class"),
    ):
        value = getattr(filter, attr, None)
        if value is not None:
            qs = qs.filter(id__in=service.classified(info.context.viewer, **{column: value.value}))
    since = getattr(filter, "stage_changed_after", None)
    if since is not None:
        stage = getattr(filter, "lifecycle_stage", None)
        qs = qs.filter(id__in=service.stage_changed_since(since, stage.value if stage is not None else None))
    key = getattr(filter, "segment", None)
    if key is not None:
        segment = await models.Segment.get_or_none(key=key)
        if segment is None:
            return qs.filter(id__lt=0)
        qs = qs.filter(id__in=Subquery(models.SegmentMembership.filter(segment_id=segment.id).values("customer_id")))
    return qs


# --------------------------------------------------------------------------- root fields


@strawberry.type
class SegmentationQuery:
    @strawberry.field(description="All segments, by key.")
    async def segments(self, info: Info) -> list[Segment]:
        require_viewer(info.context.viewer)
        return await models.Segment.all().order_by("key")

    @strawberry.field(description="A segment by key; null if there is none.")
    async def segment(
        self, info: Info, key: Annotated[str, strawberry.argument(description="The segment's key.")]
    ) -> Optional[Segment]:
        require_viewer(info.context.viewer)
        return await models.Segment.get_or_none(key=key)

    @strawberry.field(description="Changes of tier, stage and segment membership of a customer, newest first.")
    async def segment_history(
        self,
        info: Info,
        customer_id: Annotated[strawberry.ID, strawberry.argument(description="The customer.")],
        first: Optional[int] = None,
        after: Optional[str] = None,
        last: Optional[int] = None,
        before: Optional[str] = None,
    ) -> Connection[SegmentChange]:
        pk = pk_from_global_id(customer_id, "Customer", "customerId")
        qs = models.SegmentChange.filter(customer_id=pk)
        if not await visible_customers(info.context.viewer).filter(id=pk).exists():
            qs = models.SegmentChange.filter(id__lt=0)
        return await paginate(qs, first, after, last=last, before=before, order_by=("-changed_at", "-id"))

    @strawberry.field(
        description="Every visible active customer's classification as a flat row, by customer id: "
        "what `kehu export segments` writes. A segment's members with `filter: {segment: KEY}`."
    )
    async def segmentation_results(
        self,
        info: Info,
        first: Optional[int] = None,
        after: Optional[str] = None,
        filter: Optional[SegmentationResultFilter] = None,
        language: LanguageArgument = None,
        last: Optional[int] = None,
        before: Optional[str] = None,
    ) -> Connection[SegmentationResult]:
        viewer = require_viewer(info.context.viewer)
        f = filter or SegmentationResultFilter()
        qs = await export.results(
            viewer,
            export.ResultFilter(
                segment=f.segment,
                value_tier=f.value_tier.value if f.value_tier else None,
                lifecycle_stage=f.lifecycle_stage.value if f.lifecycle_stage else None,
                abc_class=f.abc_class.value if f.abc_class else None,
            ),
        )
        # By customer id, keyset cursors (customer_id is unique; the id ends every keyset).
        page = await paginate(qs, first, after, last=last, before=before, order_by=("customer_id", "id"))
        rows = [edge.node for edge in page.edges]
        settings = info.context.kehu.settings_for("segmentation", SegmentationSettings)
        lang = _language(info, settings, language)
        customers = await export.customer_fields([r.customer_id for r in rows])
        runs = await export.runs_of(rows, info.context.loader("segmentation.runs", dict))
        page.replace_nodes(
            [
                SegmentationResult.from_record(
                    export.record(row, customers.get(row.customer_id), runs.get(row.run_id), settings, lang)
                )
                for row in rows
            ]
        )
        return page

    @strawberry.field(
        description="The latest full recompute (or the one with `id`): as-of date, time zone, CLV model fitted. "
        "Needs the segmentation.model permission."
    )
    async def segmentation_run(
        self,
        info: Info,
        id: Annotated[Optional[int], strawberry.argument(description="A run's number; null: the latest.")] = None,
    ) -> Optional[SegmentationRun]:
        viewer = require_viewer(info.context.viewer)
        if not viewer.can("segmentation.model"):
            raise PermissionDenied(f"your role ({viewer.role.value}) may not do this (segmentation.model)")
        if id is None:
            run = await service.latest_run()
        else:
            run = await models.RecomputeRun.filter(id=id, finished_at__isnull=False).first()
        return SegmentationRun.from_run(run) if run else None

    @strawberry.field(
        description="Customers and revenue share per tier, stage and ABC class; retention and churn per period."
    )
    async def segmentation_summary(self, info: Info) -> SegmentationSummary:
        data = await service.summary(info.context.kehu, info.context.viewer)

        def groups(rows):
            return [
                SegmentationGroup(
                    key=r["key"], customers=r["customers"], revenue=r["revenue"], revenue_share=r["revenue_share"]
                )
                for r in rows
            ]

        return SegmentationSummary(
            computed_at=data["computed_at"],
            as_of=data["as_of"],
            tiers=groups(data["value_tier"]),
            stages=groups(data["lifecycle_stage"]),
            abc_classes=groups(data["abc_class"]),
            periods=[RetentionPeriod(**p) for p in data["periods"]],
        )


@strawberry.input(description="A new segment: a rule, or a list of customers.")
class CreateSegmentInput:
    key: str = strawberry.field(description="Stable identifier: lower-case letters, digits, '-' and '_'.")
    name: str = strawberry.field(description="The name people read.")
    description: Optional[str] = strawberry.field(default=None, description="What the segment is for.")
    rule: Optional[JSON] = strawberry.field(
        default=None,
        description='A rule tree, e.g. {"and": [{"field": "valueTier", "op": "eq", "value": "CORE"}]}; '
        "omit for a static segment.",
    )
    customer_ids: Optional[list[strawberry.ID]] = strawberry.field(
        default=None, description="Members of a static segment."
    )


@strawberry.input(description="Only the fields sent change.")
class UpdateSegmentInput:
    key: str = strawberry.field(description="The segment to change.")
    name: Optional[str] = strawberry.field(default=strawberry.UNSET, description="A new name.")
    description: Optional[str] = strawberry.field(default=strawberry.UNSET, description="A new description.")
    rule: Optional[JSON] = strawberry.field(
        default=strawberry.UNSET, description="A new rule tree (rule-based segments)."
    )
    add_customer_ids: Optional[list[strawberry.ID]] = strawberry.field(
        default=None, description="Customers to add (static segments)."
    )
    remove_customer_ids: Optional[list[strawberry.ID]] = strawberry.field(
        default=None, description="Customers to remove (static segments)."
    )


@strawberry.input(description="The segment to delete.")
class DeleteSegmentInput:
    key: str = strawberry.field(description="The segment's key.")


@strawberry.type(description="The segment as written, or why nothing was.")
class SegmentPayload(Payload):
    segment: Optional[Segment] = strawberry.field(default=None, description="null when there are userErrors.")


@strawberry.type(description="The deleted segment's key, or why nothing was deleted.")
class DeleteSegmentPayload(Payload):
    key: Optional[str] = strawberry.field(default=None, description="The key of the segment deleted.")


@strawberry.type
class SegmentationMutation:
    @strawberry.mutation(description="Create a segment; its members are computed at once.")
    async def create_segment(self, info: Info, input: CreateSegmentInput) -> SegmentPayload:
        segment = await service.create_segment(
            info.context.kehu,
            require_viewer(info.context.viewer),
            input.key,
            input.name,
            input.description,
            input.rule,
            pks_from_global_ids(input.customer_ids, "Customer", "customerIds"),
        )
        return SegmentPayload(segment=segment)

    @strawberry.mutation(description="Change a segment; only the fields sent change.")
    async def update_segment(self, info: Info, input: UpdateSegmentInput) -> SegmentPayload:
        changes = {
            n: getattr(input, n) for n in ("name", "description", "rule") if getattr(input, n) is not strawberry.UNSET
        }
        changes["add"] = pks_from_global_ids(input.add_customer_ids, "Customer", "addCustomerIds")
        changes["remove"] = pks_from_global_ids(input.remove_customer_ids, "Customer", "removeCustomerIds")
        segment = await service.update_segment(
            info.context.kehu, require_viewer(info.context.viewer), input.key, changes
        )
        return SegmentPayload(segment=segment)

    @strawberry.mutation(description="Delete a segment; its members' leaving is kept in their history.")
    async def delete_segment(self, info: Info, input: DeleteSegmentInput) -> DeleteSegmentPayload:
        segment = await service.delete_segment(info.context.kehu, require_viewer(info.context.viewer), input.key)
        return DeleteSegmentPayload(key=segment.key)


async def resolve_segment_node(info: Info, pk: int):
    if info.context.viewer is None:
        return None
    return await models.Segment.get_or_none(id=pk)


def register(graphql) -> None:
    graphql.extend("Customer", CustomerSegmentation)
    graphql.query(SegmentationQuery)
    graphql.mutation(SegmentationMutation)
    graphql.customer_filter(SegmentationCustomerFilter, apply_filter)
    graphql.node("Segment", resolve_segment_node)
    graphql.types(Segment)
