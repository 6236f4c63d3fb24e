"""GraphQL surface of the segmentation plugin.

``Customer.segmentation`` and ``Customer.segments`` are batch fields
(kehu.schema.batch_field): a page of N customers costs a constant number of
queries. Every customer read goes through ``kehu.access.visible_customers``.
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Optional

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info
from tortoise.expressions import Subquery

from kehu.access import require_viewer, visible_customers
from kehu.schema import Connection, ModelNode, Payload, batch_field, paginate, pk_from_global_id, pks_from_global_ids

from . import models, service
from .settings import SegmentationSettings

ValueTier = strawberry.enum(models.ValueTier, description="Customer value tier: 核心 / 潜力 / 一般客户.")
LifecycleStage = strawberry.enum(models.LifecycleStage, description="Where the customer is in their lifecycle.")
AbcClass = strawberry.enum(models.AbcClass, description="Share of revenue: A top, B next, C the rest.")
FrequencyClass = strawberry.enum(models.FrequencyClass)
SegmentKind = strawberry.enum(models.SegmentKind)
SegmentChangeDimension = strawberry.enum(models.ChangeDimension, name="SegmentChangeDimension")


def _money(cents: Optional[int]) -> Decimal:
    return (Decimal(int(cents or 0)) / 100).quantize(Decimal("0.01"))


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


@strawberry.type(description="Customer lifetime value.")
class Clv:
    historical: Decimal = strawberry.field(description="Revenue so far (all purchases).")
    predicted: Decimal = strawberry.field(
        description="Average order value × purchases per year × margin × discounted remaining lifetime."
    )


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
        return Clv(historical=_money(self._row.lifetime_revenue_cents), predicted=_money(self._row.clv_predicted_cents))

    @strawberry.field(description='E.g. "core: R=5 (3 days), F=4 (9 purchases), M=5 (¥48,200), ABC=A".')
    def explanation(self) -> str:
        return service.explain(self._row, self._run, self._settings)

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

    @strawberry.field(description="Active members the viewer may see, by name.")
    async def customers(
        self, info: Info, first: Optional[int] = None, after: Optional[str] = None
    ) -> Connection["Customer"]:
        qs = service.visible_members(info.context.viewer, self).order_by("name", "id")
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
    tiers: list[SegmentationGroup]
    stages: list[SegmentationGroup]
    abc_classes: list[SegmentationGroup] = strawberry.field(
        description="Customers and revenue share per ABC class (customers with purchases)."
    )
    periods: list[RetentionPeriod]


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
