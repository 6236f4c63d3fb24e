"""The complaints plugin's GraphQL surface.

Types are named as in the schema (``Complaint``, ``ComplaintTimelineEntry``) so that
field policies can name them. Resolvers receive the Tortoise model as ``self``. No
``from __future__ import annotations``: it breaks strawberry's lazy types.
"""

import datetime as dt
from typing import Annotated, Optional

import strawberry
from strawberry.types import Info

from kehu.access import require_viewer
from kehu.schema import (
    Connection,
    ModelNode,
    Payload,
    batch_field,
    describe_enum_values,
    global_id_field,
    nested_connections,
    paginate,
    pk_from_global_id,
    pks_from_global_ids,
)

from . import models, service
from .settings import ComplaintsSettings

ComplaintStatus = describe_enum_values(
    strawberry.enum(models.ComplaintStatus, description="Where a complaint is in its workflow."),
    {
        "RECEIVED": "Filed; nobody has responded yet (the first-response clock runs).",
        "ACKNOWLEDGED": "The customer has been told we are on it.",
        "INVESTIGATING": "Someone is finding out what happened.",
        "RESOLUTION_PROPOSED": "A resolution was proposed to the customer.",
        "RESOLVED": "The customer accepted the resolution; the follow-up contact is due.",
        "CLOSED": "Done, after the follow-up.",
        "REJECTED": "Judged not valid, with a reason told to the customer.",
        "REOPENED": "The customer came back after a resolution; handled again.",
    },
)
ComplaintPriority = describe_enum_values(
    strawberry.enum(models.ComplaintPriority, description="How urgent a complaint is: sets its SLA deadlines."),
    {
        "LOW": "The longest deadlines.",
        "NORMAL": "The default.",
        "HIGH": "Shorter deadlines.",
        "URGENT": "The shortest deadlines.",
    },
)
ComplaintChannel = describe_enum_values(
    strawberry.enum(models.ComplaintChannel, description="How the complaint reached us."),
    {
        "HOTLINE": "A call to the service hotline.",
        "EMAIL": "An e-mail.",
        "WEB": "A web form or chat.",
        "VISIT": "In person.",
        "SOCIAL": "Social media.",
        "OTHER": "Any other way.",
    },
)
ComplaintTimelineKind = describe_enum_values(
    strawberry.enum(models.TimelineKind, name="ComplaintTimelineKind", description="What a timeline entry records."),
    {
        "FILED": "The complaint was filed.",
        "TRANSITION": "Its status changed (fromStatus → toStatus).",
        "NOTE": "A note was added.",
        "ASSIGNED": "It was handed to another account owner.",
        "SLA_BREACHED": "A deadline was missed.",
        "ESCALATED": "It was escalated before or after a deadline.",
    },
)


_pk = pk_from_global_id  # the one "global ID -> pk" helper (kehu.schema)


def _settings(info: Info):
    return info.context.kehu.settings_for("complaints", ComplaintsSettings)


def _now(info: Info) -> dt.datetime:
    return info.context.kehu.clock.now()


# --------------------------------------------------------------------------- objects


@strawberry.type(description="One line of a complaint's history.")
class ComplaintTimelineEntry(ModelNode, model=models.ComplaintTimelineEntry):
    at: dt.datetime = strawberry.field(description="When it happened.")
    kind: ComplaintTimelineKind = strawberry.field(description="What happened.")
    from_status: Optional[ComplaintStatus] = strawberry.field(description="The status before, for a transition.")
    to_status: Optional[ComplaintStatus] = strawberry.field(description="The status after, for a transition.")
    note: str = strawberry.field(description="The note, reason or proposal; may be empty.")
    internal: bool = strawberry.field(description="true: for staff only; false: told to the customer.")

    @strawberry.field(description="Who did it; null for the SLA check.")
    async def actor(self, info: Info) -> Optional["AccountOwner"]:
        return await info.context.loaders.owner.load(self.actor_id) if self.actor_id else None

    interaction_id = global_id_field(
        "Interaction",
        "interaction_id",
        optional=True,
        description="The customer interaction this contact was logged as, if any.",
    )


@strawberry.type(description="A customer's complaint (客户投诉) and how it is being handled.")
class Complaint(ModelNode, model=models.Complaint):
    channel: ComplaintChannel = strawberry.field(description="How it reached us.")
    category: str = strawberry.field(description="One of the categories configured in plugins.toml.")
    priority: ComplaintPriority = strawberry.field(description="How urgent it is.")
    status: ComplaintStatus = strawberry.field(description="Where it is in its workflow.")
    description: str = strawberry.field(description="What the customer said.")
    key_points: str = strawberry.field(description="The points to address, as the filer summed them up.")
    resolution: Optional[str] = strawberry.field(description="The resolution proposed to the customer.")
    rejection_reason: Optional[str] = strawberry.field(description="Why the complaint was judged not valid.")
    first_response_due_at: dt.datetime = strawberry.field(description="The first-response deadline.")
    resolution_due_at: dt.datetime = strawberry.field(description="The resolution deadline.")
    next_due_at: Optional[dt.datetime] = strawberry.field(description="The deadline running now; null when none is.")
    first_response_breached_at: Optional[dt.datetime] = strawberry.field(
        description="When the first-response deadline was missed (the deadline itself)."
    )
    resolution_breached_at: Optional[dt.datetime] = strawberry.field(
        description="When the resolution deadline was missed (the deadline itself)."
    )
    escalated_at: Optional[dt.datetime] = strawberry.field(description="When it was escalated, if it was.")
    escalation_reason: Optional[str] = strawberry.field(description="Why it was escalated.")
    first_responded_at: Optional[dt.datetime] = strawberry.field(description="When it was first responded to.")
    resolved_at: Optional[dt.datetime] = strawberry.field(description="When it was (last) resolved.")
    rejected_at: Optional[dt.datetime] = strawberry.field(description="When it was rejected.")
    closed_at: Optional[dt.datetime] = strawberry.field(description="When it was closed.")
    reopened_at: Optional[dt.datetime] = strawberry.field(description="When it was last reopened.")
    reopen_count: int = strawberry.field(description="How many times it was reopened.")
    follow_up_due_at: Optional[dt.datetime] = strawberry.field(description="When the follow-up contact is due.")
    created_at: dt.datetime = strawberry.field(description="When it was filed.")
    updated_at: dt.datetime = strawberry.field(description="When it last changed.")

    @strawberry.field(description="The customer who complained (null if no longer visible to the viewer).")
    async def customer(self, info: Info) -> Optional["Customer"]:
        return await info.context.loaders.customer.load(self.customer_id)

    @strawberry.field(description="Who handles it; null if nobody does.")
    async def assignee(self, info: Info) -> Optional["AccountOwner"]:
        return await info.context.loaders.owner.load(self.assignee_id) if self.assignee_id else None

    @strawberry.field(description="Who filed it.")
    async def filed_by(self, info: Info) -> Optional["AccountOwner"]:
        return await info.context.loaders.owner.load(self.filed_by_id) if self.filed_by_id else None

    @strawberry.field(description="true if a deadline was missed (recorded or running and passed).")
    def breached(self, info: Info) -> bool:
        return bool(self.first_response_breached_at or self.resolution_breached_at) or service.is_overdue(
            self, _now(info)
        )

    @strawberry.field(description="true if the running deadline has passed.")
    def overdue(self, info: Info) -> bool:
        return service.is_overdue(self, _now(info))

    @strawberry.field(description="Statuses transitionComplaint may move this complaint to.")
    def allowed_transitions(self) -> list[ComplaintStatus]:
        return list(service.allowed_transitions(self.status))

    @strawberry.field(description="Everything that happened to the complaint, oldest first.")
    async def timeline(self) -> list[ComplaintTimelineEntry]:
        return await service.timeline(self)


@strawberry.type(description="Complaints of one category.")
class ComplaintCategoryCount:
    category: str = strawberry.field(description="The category.")
    count: int = strawberry.field(description="How many complaints.")


@strawberry.type(description="Complaints in one status.")
class ComplaintStatusCount:
    status: ComplaintStatus = strawberry.field(description="The status.")
    count: int = strawberry.field(description="How many complaints.")


@strawberry.type(description="Complaint figures for the complaints received in a period (see each field).")
class ComplaintStats:
    start: dt.datetime = strawberry.field(description="The period's first instant.")
    end: dt.datetime = strawberry.field(description="The instant after the period.")
    total: int = strawberry.field(description="Complaints received in the period.")
    by_category: list[ComplaintCategoryCount] = strawberry.field(description="How many per category.")
    by_status: list[ComplaintStatusCount] = strawberry.field(description="How many per status now.")
    median_first_response_hours: Optional[float] = strawberry.field(
        description="Median hours from receipt to first response, over the cases responded to."
    )
    median_resolution_hours: Optional[float] = strawberry.field(
        description="Median hours from receipt to (latest) resolution, over the resolved cases."
    )
    sla_compliance_percent: Optional[float] = strawberry.field(
        description="Of the cases whose SLA outcome is known (a deadline missed, or no longer open), "
        "the share that missed none, in percent to one decimal (half up). null when there are none."
    )
    reopen_rate_percent: Optional[float] = strawberry.field(
        description="Of the cases resolved at least once, the share reopened."
    )
    rejection_rate_percent: Optional[float] = strawberry.field(
        description="Of all cases received, the share rejected as not valid."
    )


# --------------------------------------------------------------------------- inputs


@strawberry.input(description="A time range [start, end); either end may be left open.")
class ComplaintTimeRange:
    start: Optional[dt.datetime] = strawberry.field(default=None, description="From this instant; null: open.")
    end: Optional[dt.datetime] = strawberry.field(default=None, description="Until before this instant; null: open.")


@strawberry.input(
    description="Narrows a complaint list; all conditions must hold. A single value may be given for a list."
)
class ComplaintFilterInput:
    status: Optional[list[ComplaintStatus]] = strawberry.field(default=None, description="In any of these statuses.")
    priority: Optional[list[ComplaintPriority]] = strawberry.field(
        default=None, description="Of any of these priorities."
    )
    category: Optional[list[str]] = strawberry.field(default=None, description="Of any of these categories.")
    assignee: Optional[list[strawberry.ID]] = strawberry.field(default=None, description="Account owner IDs.")
    customer: Optional[list[strawberry.ID]] = strawberry.field(default=None, description="Customer IDs.")
    overdue: Optional[bool] = strawberry.field(default=None, description="true: the running deadline has passed.")
    due_within: Optional[float] = strawberry.field(
        default=None, description="Hours: the running deadline passes within this time from now (not yet passed)."
    )
    created_between: Optional[ComplaintTimeRange] = strawberry.field(default=None, description="Filed in this range.")

    def to_domain(self) -> service.ComplaintFilter:
        created = self.created_between or ComplaintTimeRange()
        return service.ComplaintFilter(
            statuses=self.status,
            priorities=self.priority,
            categories=self.category,
            assignee_ids=pks_from_global_ids(self.assignee, "AccountOwner", "filter.assignee"),
            customer_ids=pks_from_global_ids(self.customer, "Customer", "filter.customer"),
            overdue=self.overdue,
            due_within_hours=self.due_within,
            created_after=created.start,
            created_before=created.end,
        )


@strawberry.input(description="A new complaint.")
class FileComplaintInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer who complains.")
    channel: ComplaintChannel = strawberry.field(description="How it reached us.")
    category: str = strawberry.field(description="One of the categories configured in plugins.toml.")
    description: str = strawberry.field(description="What the customer said.")
    priority: Optional[ComplaintPriority] = strawberry.field(default=None, description="Defaults to NORMAL.")
    key_points: Optional[str] = strawberry.field(default=None, description="The points to address, in short.")
    assignee_id: Optional[strawberry.ID] = strawberry.field(
        default=None, description="Defaults to the customer's owner, else the filer."
    )


@strawberry.input(description="A move of a complaint to another status.")
class TransitionComplaintInput:
    id: strawberry.ID = strawberry.field(description="The complaint.")
    to: ComplaintStatus = strawberry.field(description="The status to move to (see allowedTransitions).")
    note: Optional[str] = strawberry.field(
        default=None,
        description="Required for RESOLUTION_PROPOSED (the proposal), REJECTED (the reason), REOPENED and CLOSED "
        "(the follow-up's outcome).",
    )
    internal: Optional[bool] = strawberry.field(
        default=None,
        description="Whether the note is for staff only. Default: false for RESOLUTION_PROPOSED and REJECTED "
        "(told to the customer), true otherwise. Customer-facing notes are also logged as interactions.",
    )


@strawberry.input(description="Who should handle a complaint.")
class AssignComplaintInput:
    id: strawberry.ID = strawberry.field(description="The complaint.")
    assignee_id: strawberry.ID = strawberry.field(description="The account owner to hand it to.")
    note: Optional[str] = strawberry.field(default=None, description="Why, for the timeline.")


@strawberry.input(description="A note on a complaint's timeline.")
class AddComplaintNoteInput:
    id: strawberry.ID = strawberry.field(description="The complaint.")
    note: str = strawberry.field(description="The note.")
    internal: bool = strawberry.field(
        default=True, description="false: the note was told to the customer (also logged as an interaction)."
    )


@strawberry.type(description="The complaint as written, or why nothing was.")
class ComplaintPayload(Payload):
    complaint: Optional[Complaint] = strawberry.field(default=None, description="null when there are userErrors.")


@strawberry.type(description="The complaint and its new timeline entry, or why nothing was written.")
class ComplaintNotePayload(Payload):
    complaint: Optional[Complaint] = strawberry.field(default=None, description="null when there are userErrors.")
    entry: Optional[ComplaintTimelineEntry] = strawberry.field(default=None, description="The note's entry.")


# --------------------------------------------------------------------------- fields


@strawberry.type
class CustomerComplaints:
    @batch_field(description="This customer's complaints, newest first.")
    async def complaints(
        customers: list["Customer"],
        info: Info,
        first: Optional[int] = None,
        after: Optional[str] = None,
        filter: Optional[ComplaintFilterInput] = None,
    ) -> list[Connection[Complaint]]:
        # A customerIds filter narrows the statement too: a customer outside it
        # gets an empty connection. One query for the whole page of customers.
        now = _now(info)
        return await nested_connections(
            info,
            [c.id for c in customers],
            queryset=service.filter_complaints(
                info.context.viewer, filter.to_domain() if filter else service.ComplaintFilter(), now
            ),
            parent_column="customer_id",
            order=("-created_at", "-id"),
            first=first,
            after=after,
        )


@strawberry.type
class ComplaintQuery:
    @strawberry.field(description="A complaint by ID; null if it does not exist or is not visible.")
    async def complaint(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The complaint's global ID.")]
    ) -> Optional[Complaint]:
        return await service.visible_complaints(info.context.viewer).filter(id=_pk(id, "Complaint", "id")).first()

    @strawberry.field(description="Complaints of the customers the viewer may see, newest first.")
    async def complaints(
        self,
        info: Info,
        first: Optional[int] = None,
        after: Optional[str] = None,
        filter: Optional[ComplaintFilterInput] = None,
        last: Optional[int] = None,
        before: Optional[str] = None,
    ) -> Connection[Complaint]:
        qs = service.filter_complaints(info.context.viewer, filter.to_domain() if filter else None, _now(info))
        return await paginate(qs, first, after, last=last, before=before, order_by=("-created_at", "-id"))

    @strawberry.field(description="The categories fileComplaint accepts (plugins.toml), in their configured order.")
    def complaint_categories(self, info: Info) -> list[str]:
        require_viewer(info.context.viewer)
        return list(_settings(info).categories)

    @strawberry.field(
        description="Complaint figures for a period (default: the last 30 calendar days in [kehu] timezone, up to now)."
    )
    async def complaint_stats(
        self,
        info: Info,
        period: Annotated[
            Optional[ComplaintTimeRange], strawberry.argument(description="Complaints received in it.")
        ] = None,
    ) -> ComplaintStats:
        period = period or ComplaintTimeRange()
        stats = await service.complaint_stats(
            info.context.viewer, period.start, period.end, _now(info), info.context.kehu.calendar
        )
        return ComplaintStats(
            start=stats.start,
            end=stats.end,
            total=stats.total,
            by_category=[ComplaintCategoryCount(category=k, count=n) for k, n in sorted(stats.by_category.items())],
            by_status=[
                ComplaintStatusCount(status=s, count=stats.by_status[s])
                for s in models.ComplaintStatus
                if s in stats.by_status
            ],
            median_first_response_hours=stats.median_first_response_hours,
            median_resolution_hours=stats.median_resolution_hours,
            sla_compliance_percent=stats.sla_compliance_percent,
            reopen_rate_percent=stats.reopen_rate_percent,
            rejection_rate_percent=stats.rejection_rate_percent,
        )


@strawberry.type
class ComplaintMutation:
    @strawberry.mutation(description="Record a customer's complaint; starts its SLA clocks.")
    async def file_complaint(self, info: Info, input: FileComplaintInput) -> ComplaintPayload:
        data = {
            "customer_id": _pk(input.customer_id, "Customer", "customerId"),
            "channel": input.channel,
            "category": input.category,
            "priority": input.priority,
            "description": input.description,
            "key_points": input.key_points,
            "assignee_id": _pk(input.assignee_id, "AccountOwner", "assigneeId") if input.assignee_id else None,
        }
        complaint = await service.file_complaint(require_viewer(info.context.viewer), data, _settings(info), _now(info))
        return ComplaintPayload(complaint=complaint)

    @strawberry.mutation(description="Move a complaint along its workflow.")
    async def transition_complaint(self, info: Info, input: TransitionComplaintInput) -> ComplaintPayload:
        complaint = await service.transition_complaint(
            require_viewer(info.context.viewer),
            _pk(input.id, "Complaint", "id"),
            input.to,
            input.note,
            input.internal,
            _settings(info),
            _now(info),
        )
        return ComplaintPayload(complaint=complaint)

    @strawberry.mutation(description="Hand a complaint to another account owner.")
    async def assign_complaint(self, info: Info, input: AssignComplaintInput) -> ComplaintPayload:
        complaint = await service.assign_complaint(
            require_viewer(info.context.viewer),
            _pk(input.id, "Complaint", "id"),
            _pk(input.assignee_id, "AccountOwner", "assigneeId"),
            input.note,
            _now(info),
        )
        return ComplaintPayload(complaint=complaint)

    @strawberry.mutation(description="Add an internal or customer-facing note to a complaint's timeline.")
    async def add_complaint_note(self, info: Info, input: AddComplaintNoteInput) -> ComplaintNotePayload:
        complaint, entry = await service.add_complaint_note(
            require_viewer(info.context.viewer),
            _pk(input.id, "Complaint", "id"),
            input.note,
            input.internal,
            _now(info),
        )
        return ComplaintNotePayload(complaint=complaint, entry=entry)


async def resolve_node(info: Info, pk: int) -> Optional[models.Complaint]:
    return await service.visible_complaints(info.context.viewer).filter(id=pk).first()


async def resolve_timeline_entry_node(info: Info, pk: int) -> Optional[models.ComplaintTimelineEntry]:
    """An entry of a complaint the viewer may see."""
    entry = await models.ComplaintTimelineEntry.get_or_none(id=pk)
    if (
        entry is None
        or not await service.visible_complaints(info.context.viewer).filter(id=entry.complaint_id).exists()
    ):
        return None
    return entry


def register(graphql) -> None:
    graphql.extend("Customer", CustomerComplaints)
    graphql.query(ComplaintQuery)
    graphql.mutation(ComplaintMutation)
    graphql.types(Complaint, ComplaintTimelineEntry)
    graphql.node("Complaint", resolve_node)
    graphql.node("ComplaintTimelineEntry", resolve_timeline_entry_node)
