"""GraphQL surface of the segmentation plugin.

``Customer.segmentation`` and ``Customer.segments`` are batch fields
(kehu.schema.batch_field): a page of N customers costs a constant number of
queries. Every customer read goes through ``kehu.access.visible_customers``.
"""

import datetime as dt
import enum
from collections import defaultdict
from decimal import Decimal
from typing import Optional

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info
from tortoise.expressions import Subquery

from kehu.access import require_viewer, visible_customers
from kehu.errors import PermissionDenied
from kehu.policies import order_unmasked
from kehu.schema import (
    Connection,
    ModelNode,
    Payload,
    batch_field,
    paginate,
    pk_from_global_id,
    pks_from_global_ids,
    to_global_id,
)

from . import models, service
from .service import export
from .settings import SegmentationSettings

ValueTier = strawberry.enum(models.ValueTier, description="Customer value tier: 核心 / 潜力 / 一般客户.")
LifecycleStage = strawberry.enum(models.LifecycleStage, description="Where the customer is in their lifecycle.")
AbcClass = strawberry.enum(models.AbcClass, description="Share of revenue: A top, B next, C the rest.")
FrequencyClass = strawberry.enum(models.FrequencyClass)
SegmentKind = strawberry.enum(models.SegmentKind)
SegmentChangeDimension = strawberry.enum(models.ChangeDimension, name="SegmentChangeDimension")


@strawberry.enum(description="The model behind a predicted CLV.")
class ClvModel(str, enum.Enum):
    PARETO_NBD = "pareto_nbd"
    BG_NBD = "bg_nbd"
    RUN_RATE = "run_rate"


@strawberry.enum(description="Why a recompute used the run-rate CLV model instead of the one the settings ask for.")
class ClvFallbackCode(enum.Enum):
    NO_NUMERICS = strawberry.enum_value("NO_NUMERICS", description="numpy and scipy are not installed.")
    TOO_FEW_CUSTOMERS = strawberry.enum_value(
        "TOO_FEW_CUSTOMERS", description="Fewer customers than clv.min_customers or clv.min_repeat_customers."
    )
    NOT_CONVERGED = strawberry.enum_value("NOT_CONVERGED", description="The maximum-likelihood fit did not converge.")


def _money(cents: Optional[int]) -> Decimal:
    return (Decimal(int(cents or 0)) / 100).quantize(Decimal("0.01"))


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
    r: Optional[int]
    f: Optional[int]
    m: Optional[int]
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
    horizon_days: int
    model: Optional[ClvModel] = strawberry.field(description="The model that predicted it; null without a purchase.")


@strawberry.type(description="A customer's classification and why.")
class Segmentation:
    _row: strawberry.Private[models.Classification]
    _run: strawberry.Private[Optional[models.RecomputeRun]]
    _settings: strawberry.Private[object]

    @strawberry.field
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

    @strawberry.field
    def abc_class(self) -> Optional[AbcClass]:
        return models.AbcClass(self._row.abc_class) if self._row.abc_class else None

    @strawberry.field
    def frequency_class(self) -> FrequencyClass:
        return models.FrequencyClass(self._row.frequency_class)

    @strawberry.field
    def value_tier(self) -> ValueTier:
        return models.ValueTier(self._row.value_tier)

    @strawberry.field
    def lifecycle_stage(self) -> LifecycleStage:
        return models.LifecycleStage(self._row.lifecycle_stage)

    @strawberry.field
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
    def tier_rule(self, info: Info, language: Optional[str] = None) -> Optional[str]:
        return service.tier_rule(self._row, self._settings, _language(info, self._settings, language))

    @strawberry.field(
        description='E.g. "potential: ABC A or B and R ≥ 2; R=2 (130 days), …; as of 2026-01-01 (UTC)". '
        "In `language` (en, zh-CN), else the viewer's language, the request's Accept-Language, the setting."
    )
    def explanation(self, info: Info, language: Optional[str] = None) -> str:
        return service.explain(self._row, self._run, self._settings, _language(info, self._settings, language))

    @strawberry.field(description="The inputs and the thresholds in force.")
    def inputs(self) -> JSON:
        return service.inputs(self._row, self._run, self._settings)

    @strawberry.field
    def computed_at(self) -> dt.datetime:
        return self._row.computed_at


@strawberry.type(description="A customer segment: a rule over customer data, or a hand-picked list.")
class Segment(ModelNode, model=models.Segment):
    key: str
    name: str
    description: str
    kind: SegmentKind
    created_at: dt.datetime
    updated_at: dt.datetime

    @strawberry.field(description="The rule tree (null for a static segment).")
    def rule(self) -> Optional[JSON]:
        return self.rule

    @strawberry.field(description="Active members the viewer may see.")
    async def size(self, info: Info) -> int:
        return await service.visible_members(info.context.viewer, self).count()

    @strawberry.field(description="Active members the viewer may see, by name (by id when names are masked).")
    async def customers(
        self, info: Info, first: Optional[int] = None, after: Optional[str] = None
    ) -> Connection["Customer"]:
        viewer = info.context.viewer
        qs = order_unmasked(info.context.kehu, viewer, service.visible_members(viewer, self), "name", "id")
        return await paginate(qs, first, after)


@strawberry.type(description="One change of a customer's value tier, lifecycle stage or segment membership.")
class SegmentChange:
    dimension: SegmentChangeDimension
    segment_key: Optional[str]
    old_value: Optional[str] = strawberry.field(description="Tier or stage before; IN/OUT for segments.")
    new_value: Optional[str]
    cause: str = strawberry.field(
        description="RECOMPUTE, INTERACTION, CUSTOMER_CHANGE, MANUAL, SEGMENT_…, IMPORT (a bulk load: the state before and after it), DEMO"
    )
    changed_at: dt.datetime


@strawberry.type
class SegmentationGroup:
    key: str = strawberry.field(description="The tier or stage.")
    customers: int
    revenue: Decimal = strawberry.field(description="Their revenue within the window.")
    revenue_share: Decimal


@strawberry.type(description="Of the customers who bought in the previous period, how many bought again.")
class RetentionPeriod:
    start: dt.datetime
    end: dt.datetime
    customers_at_start: int
    retained: int
    retention_rate: Optional[Decimal]
    churn_rate: Optional[Decimal]


@strawberry.type
class SegmentationSummary:
    computed_at: Optional[dt.datetime] = strawberry.field(description="When the last full recompute finished.")
    as_of: Optional[dt.date] = strawberry.field(description="The date the last full recompute was as of.")
    tiers: list[SegmentationGroup]
    stages: list[SegmentationGroup]
    abc_classes: list[SegmentationGroup] = strawberry.field(
        description="Customers and revenue share per ABC class (customers with purchases)."
    )
    periods: list[RetentionPeriod]


@strawberry.type(description="One customer's classification as a flat row: what `kehu export segments` writes.")
class SegmentationResult:
    customer_id: strawberry.ID = strawberry.field(description="The customer's global id.")
    external_id: Optional[str] = strawberry.field(description="The id other systems know the customer by.")
    as_of: Optional[dt.date]
    recency_days: Optional[int]
    frequency: int
    monetary: Decimal
    r: Optional[int]
    f: Optional[int]
    m: Optional[int]
    rfm_score: Optional[str]
    rfm_segment: Optional[str]
    abc_class: Optional[AbcClass]
    frequency_class: FrequencyClass
    value_tier: ValueTier
    tier_rule: Optional[str]
    lifecycle_stage: LifecycleStage
    lifetime_purchases: int
    purchase_days: int
    lifetime_revenue: Decimal
    clv_predicted: Decimal
    expected_purchases: Optional[float]
    expected_revenue: Decimal
    probability_alive: Optional[float]
    clv_model: Optional[ClvModel]
    explanation: str

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
    value_tier: Optional[ValueTier] = None
    lifecycle_stage: Optional[LifecycleStage] = None
    abc_class: Optional[AbcClass] = None


@strawberry.type(description="The CLV model a recompute used: fitted parameters, or why it fell back.")
class ClvModelFit:
    model: ClvModel
    requested: ClvModel = strawberry.field(description="The model the settings ask for.")
    fallback: Optional[str] = strawberry.field(description="Why the run-rate model was used instead; null if not.")
    fallback_code: Optional[ClvFallbackCode] = strawberry.field(description="The same as a code; null if not.")
    as_of: Optional[dt.date] = strawberry.field(description="The date the model was fitted as of.")
    fitted_at: Optional[dt.datetime]
    parameters: Optional[JSON] = strawberry.field(
        description="Transaction model parameters (time in days): Pareto/NBD r, alpha, s, beta; BG/NBD r, alpha, a, b."
    )
    spend_parameters: Optional[JSON] = strawberry.field(
        description="Gamma-Gamma p, q, gamma (null: each customer's own average spend)."
    )
    log_likelihood: Optional[float]
    customers: int = strawberry.field(description="Customers with a purchase as of the date.")
    fit_customers: Optional[int] = strawberry.field(description="Customers the fit used (a sample above the cap).")
    repeat_customers: int
    horizon_days: int
    margin: Decimal
    discount_rate: Decimal
    seconds: Optional[float] = strawberry.field(description="Time the fit took.")


@strawberry.type(description="A full recompute: when, as of which date, over whom, and its CLV model.")
class SegmentationRun:
    id: int
    as_of: Optional[dt.date]
    timezone: str
    started_at: dt.datetime
    finished_at: Optional[dt.datetime]
    customers: int
    population: int = strawberry.field(description="Customers with a purchase in the window (scored).")
    changes: int
    clv_model: Optional[ClvModelFit]

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
    value_tier: Optional[ValueTier] = None
    lifecycle_stage: Optional[LifecycleStage] = None
    abc_class: Optional[AbcClass] = None
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

    @strawberry.field
    async def segment(self, info: Info, key: str) -> Optional[Segment]:
        require_viewer(info.context.viewer)
        return await models.Segment.get_or_none(key=key)

    @strawberry.field(description="Changes of tier, stage and segment membership of a customer, newest first.")
    async def segment_history(
        self, info: Info, customer_id: strawberry.ID, first: Optional[int] = None, after: Optional[str] = None
    ) -> Connection[SegmentChange]:
        pk = pk_from_global_id(customer_id, "Customer", "customerId")
        if not await visible_customers(info.context.viewer).filter(id=pk).exists():
            return await paginate(models.SegmentChange.filter(id__lt=0), first, after)
        qs = models.SegmentChange.filter(customer_id=pk).order_by("-changed_at", "-id")
        return await paginate(qs, first, after)

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
        language: Optional[str] = None,
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
        page = await paginate(qs, first, after)
        rows = [edge.node for edge in page.edges]
        settings = info.context.kehu.settings_for("segmentation", SegmentationSettings)
        lang = _language(info, settings, language)
        customers = await export.customer_fields([r.customer_id for r in rows])
        runs = await export.runs_of(rows, info.context.loader("segmentation.runs", dict))
        for edge, row in zip(page.edges, rows):
            record = export.record(row, customers.get(row.customer_id), runs.get(row.run_id), settings, lang)
            edge.node = SegmentationResult.from_record(record)
        return page

    @strawberry.field(
        description="The latest full recompute (or the one with `id`): as-of date, time zone, CLV model fitted. "
        "Needs the segmentation.model permission."
    )
    async def segmentation_run(self, info: Info, id: Optional[int] = None) -> Optional[SegmentationRun]:
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


@strawberry.input
class CreateSegmentInput:
    key: str = strawberry.field(description="Stable identifier: lower-case letters, digits, '-' and '_'.")
    name: str
    description: Optional[str] = None
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
    key: str
    name: Optional[str] = strawberry.UNSET
    description: Optional[str] = strawberry.UNSET
    rule: Optional[JSON] = strawberry.UNSET
    add_customer_ids: Optional[list[strawberry.ID]] = None
    remove_customer_ids: Optional[list[strawberry.ID]] = None


@strawberry.input
class DeleteSegmentInput:
    key: str


@strawberry.type
class SegmentPayload(Payload):
    segment: Optional[Segment] = None


@strawberry.type
class DeleteSegmentPayload(Payload):
    key: Optional[str] = None


@strawberry.type
class SegmentationMutation:
    @strawberry.mutation
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

    @strawberry.mutation
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
