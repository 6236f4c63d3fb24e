"""The followups plugin's GraphQL surface: ``Customer.followUpPlan``,
``followUpsDue`` (per owner) and the ``setFollowUpPlan`` / ``stopFollowUpPlan``
mutations. Resolvers translate IDs and call ``service``; the rules live there.

No ``from __future__ import annotations``: it breaks strawberry's lazy types.
"""

import datetime as dt
from typing import Optional

import strawberry
from strawberry.types import Info

from kehu.access import require_viewer
from kehu.schema import Payload, batch_field, from_global_id

from . import service
from .settings import FollowUpSettings

FollowUpStatus = strawberry.enum(service.FollowUpStatus, description="Where a customer's follow-up stands.")


@strawberry.type(description="A customer's follow-up plan (定期回访): contact them every intervalDays days.")
class FollowUpPlan:
    interval_days: int
    next_due_at: dt.datetime = strawberry.field(description="When the next follow-up falls due.")
    last_contact_at: Optional[dt.datetime] = strawberry.field(description="The last counting interaction.")
    active: bool

    @strawberry.field
    def status(self, info: Info) -> FollowUpStatus:
        kehu = info.context.kehu
        return service.status_of(self, kehu.clock.now(), kehu.settings_for(service.PLUGIN, FollowUpSettings))

    @strawberry.field(description="Whole days past the due date; 0 unless overdue.")
    def days_overdue(self, info: Info) -> int:
        return service.days_overdue(self, info.context.kehu.clock.now())

    @strawberry.field
    async def customer(self, info: Info) -> Optional["Customer"]:
        return await info.context.loaders.customer.load(self.customer_id)


@strawberry.type
class CustomerFollowUp:
    @batch_field(description="The customer's follow-up plan, if they have one.")
    async def follow_up_plan(customers: list["Customer"]) -> list[Optional[FollowUpPlan]]:
        # Customers the viewer may see, a whole page at once: one query per page.
        plans = await service.plans_for([c.id for c in customers])
        return [plans.get(c.id) for c in customers]


@strawberry.type(description="One account owner's follow-ups. owner is null for customers without an owner.")
class OwnerFollowUps:
    owner: Optional["AccountOwner"]
    overdue: list[FollowUpPlan] = strawberry.field(description="Past their due date, most overdue first.")
    due: list[FollowUpPlan] = strawberry.field(description="Falling due within the window, soonest first.")


@strawberry.type
class FollowUpQuery:
    @strawberry.field(description="Due and overdue follow-ups of the customers you may see, per account owner.")
    async def follow_ups_due(
        self, info: Info, owner_id: Optional[strawberry.ID] = None, within_days: Optional[int] = None
    ) -> list[OwnerFollowUps]:
        viewer = require_viewer(info.context.viewer)
        owner_pk = from_global_id(owner_id, "AccountOwner", field="ownerId")[1] if owner_id else None
        groups = await service.due_follow_ups(info.context.kehu, viewer, owner_pk, within_days)
        return [OwnerFollowUps(owner=g.owner, overdue=g.overdue, due=g.due) for g in groups]


@strawberry.input
class SetFollowUpPlanInput:
    customer_id: strawberry.ID
    interval_days: Optional[int] = strawberry.field(
        default=None, description="Default: the plugin's default_interval_days."
    )
    next_due_at: Optional[dt.datetime] = strawberry.field(
        default=None, description="Default: intervalDays after the last contact (or after now)."
    )


@strawberry.input
class StopFollowUpPlanInput:
    customer_id: strawberry.ID


@strawberry.type
class FollowUpPlanPayload(Payload):
    plan: Optional[FollowUpPlan] = None


def _customer_pk(global_id: strawberry.ID) -> int:
    return from_global_id(global_id, "Customer", field="customerId")[1]


@strawberry.type
class FollowUpMutation:
    @strawberry.mutation(description="Give a customer a follow-up plan, or change it (followups.plan).")
    async def set_follow_up_plan(self, info: Info, input: SetFollowUpPlanInput) -> FollowUpPlanPayload:
        plan = await service.set_plan(
            info.context.kehu,
            require_viewer(info.context.viewer),
            _customer_pk(input.customer_id),
            input.interval_days,
            input.next_due_at,
        )
        return FollowUpPlanPayload(plan=plan)

    @strawberry.mutation(description="Stop a customer's follow-ups; the plan is kept (followups.plan).")
    async def stop_follow_up_plan(self, info: Info, input: StopFollowUpPlanInput) -> FollowUpPlanPayload:
        plan = await service.stop_plan(
            info.context.kehu, require_viewer(info.context.viewer), _customer_pk(input.customer_id)
        )
        return FollowUpPlanPayload(plan=plan)


def register(graphql) -> None:
    graphql.extend("Customer", CustomerFollowUp)
    graphql.query(FollowUpQuery)
    graphql.mutation(FollowUpMutation)
