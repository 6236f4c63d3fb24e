"""The core's GraphQL types.

Resolvers receive the Tortoise model instance as ``self``: scalar fields use the
default attribute resolver, so they cost nothing extra per field. References
between the mergeable types are string annotations ("Customer"), rebound to the
composed types when the schema is built (see build.py). No
``from __future__ import annotations`` here: it breaks strawberry's lazy types.
"""

import datetime as dt
from decimal import Decimal
from enum import Enum
from typing import Optional

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from kehu import models
from kehu.customers import CustomerFilter, CustomerOrderField
from kehu.ids import pks_from_global_ids
from kehu.interactions import InteractionFilter

from . import relay
from .batch import batch_field
from .relay import Connection, ModelNode, global_id_field

Role = strawberry.enum(models.Role, description="What an account owner may do.")
CustomerKind = strawberry.enum(models.CustomerKind)
InteractionKind = strawberry.enum(models.InteractionKind)
Direction = strawberry.enum(models.Direction)
CustomerOrderFieldEnum = strawberry.enum(CustomerOrderField, name="CustomerOrderField")


@strawberry.enum
class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


# --------------------------------------------------------------------------- inputs


@strawberry.input(description="Narrows an interaction list; all conditions must hold.")
class InteractionFilterInput:
    customer_ids: Optional[list[strawberry.ID]] = None
    owner_ids: Optional[list[strawberry.ID]] = None
    kinds: Optional[list[InteractionKind]] = None
    occurred_after: Optional[dt.datetime] = None
    occurred_before: Optional[dt.datetime] = None

    def to_domain(self) -> InteractionFilter:
        return InteractionFilter(
            customer_ids=pks_from_global_ids(self.customer_ids, "Customer", "filter.customerIds"),
            owner_ids=pks_from_global_ids(self.owner_ids, "AccountOwner", "filter.ownerIds"),
            kinds=self.kinds,
            occurred_after=self.occurred_after,
            occurred_before=self.occurred_before,
        )


@strawberry.input(description="Narrows a customer list; all conditions must hold.")
class CustomerFilterInput:
    owner_ids: Optional[list[strawberry.ID]] = None
    unassigned: Optional[bool] = None
    tags: Optional[list[str]] = strawberry.field(default=None, description="Customers carrying all of these tags.")
    regions: Optional[list[str]] = None
    kinds: Optional[list[CustomerKind]] = None
    search: Optional[str] = strawberry.field(default=None, description="Text found in name, e-mail or phone.")
    created_after: Optional[dt.datetime] = None
    created_before: Optional[dt.datetime] = None
    last_interaction_after: Optional[dt.datetime] = None
    last_interaction_before: Optional[dt.datetime] = None
    archived: Optional[bool] = strawberry.field(
        default=False, description="false (default): active only; true: archived only; null: both."
    )

    def to_domain(self) -> CustomerFilter:
        return CustomerFilter(
            owner_ids=pks_from_global_ids(self.owner_ids, "AccountOwner", "filter.ownerIds"),
            unassigned=self.unassigned,
            tags=list(self.tags or []),
            regions=self.regions,
            kinds=self.kinds,
            search=self.search,
            created_after=self.created_after,
            created_before=self.created_before,
            last_interaction_after=self.last_interaction_after,
            last_interaction_before=self.last_interaction_before,
            archived=self.archived,
        )


@strawberry.input
class CustomerOrder:
    field: CustomerOrderFieldEnum = CustomerOrderField.CREATED_AT
    direction: OrderDirection = OrderDirection.ASC


# --------------------------------------------------------------------------- objects


@strawberry.type(name="AccountOwner", description="A staff member who looks after customers (客户经理).")
class AccountOwnerBase(ModelNode, model=models.AccountOwner):
    name: str
    email: str
    role: Role
    team: str
    active: bool
    is_service: bool
    created_at: dt.datetime

    @strawberry.field(description="Customers this owner looks after (only those the viewer may see).")
    async def customers(
        self,
        info: Info,
        first: Optional[int] = None,
        after: Optional[str] = None,
        last: Optional[int] = None,
        before: Optional[str] = None,
    ) -> Connection["Customer"]:
        from kehu.access import visible_customers
        from kehu.policies import Strategy

        viewer = info.context.viewer
        qs = visible_customers(viewer).filter(owner_id=self.id, archived_at__isnull=True)
        # Ordered by name only for a viewer who sees names in clear: the order of
        # masked names would tell them apart.
        by_name = info.context.kehu.field_guard.strategy(viewer, "Customer.name") is Strategy.CLEAR
        order = ("name", "id") if by_name else ("id",)
        return await relay.paginate(qs, first, after, last=last, before=before, order_by=order)


@strawberry.type(name="Customer", description="A person or organization the company does business with.")
class CustomerBase(ModelNode, model=models.Customer):
    name: str
    kind: CustomerKind
    email: Optional[str]
    phone: Optional[str]
    address: Optional[str]
    region: Optional[str]
    industry: Optional[str]
    tags: list[str]
    attributes: JSON
    last_interaction_at: Optional[dt.datetime]
    archived_at: Optional[dt.datetime]
    created_at: dt.datetime
    updated_at: dt.datetime

    @batch_field(description="The account owner responsible for this customer.")
    async def owner(customers: list["Customer"], info: Info) -> list[Optional["AccountOwner"]]:
        owners = await info.context.loaders.owners_by_id([c.owner_id for c in customers])
        return [owners.get(c.owner_id) for c in customers]

    @batch_field(description="This customer's interactions, newest first.")
    async def interactions(
        customers: list["Customer"],
        info: Info,
        first: Optional[int] = None,
        after: Optional[str] = None,
        filter: Optional[InteractionFilterInput] = None,
    ) -> list[Connection["Interaction"]]:
        from kehu.interactions import apply_interaction_filter

        from .loaders import nested_connections

        return await nested_connections(
            info,
            [c.id for c in customers],
            # The customers are visible, so all their interactions are.
            queryset=apply_interaction_filter(models.Interaction.all(), filter.to_domain() if filter else None),
            parent_column="customer_id",
            order=("-occurred_at", "-id"),
            first=first,
            after=after,
        )


@strawberry.type(name="Interaction", description="One touch point with a customer.")
class InteractionBase(ModelNode, model=models.Interaction):
    kind: InteractionKind
    direction: Direction
    occurred_at: dt.datetime
    subject: str
    notes: str
    amount: Optional[Decimal]
    next_follow_up_at: Optional[dt.datetime]
    created_at: dt.datetime

    @batch_field
    async def customer(interactions: list["Interaction"], info: Info) -> list[Optional["Customer"]]:
        customers = await info.context.loaders.customers_by_id([i.customer_id for i in interactions])
        return [customers.get(i.customer_id) for i in interactions]

    @batch_field(description="Who logged it.")
    async def owner(interactions: list["Interaction"], info: Info) -> list[Optional["AccountOwner"]]:
        owners = await info.context.loaders.owners_by_id([i.owner_id for i in interactions])
        return [owners.get(i.owner_id) for i in interactions]


@strawberry.type(description="One write, as recorded in the append-only audit log.")
class AuditEntry(ModelNode, model=models.AuditEntry):
    at: dt.datetime
    actor_label: str
    operation: str
    entity_type: Optional[str]
    entity_id: Optional[str]
    changes: JSON
    request_id: Optional[str]

    actor_id = global_id_field("AccountOwner", "actor_id", optional=True)


@strawberry.type(description="An API token for an integration. The secret is shown only when created.")
class ApiToken(Node):
    name: str
    created_at: dt.datetime
    expires_at: Optional[dt.datetime]
    revoked_at: Optional[dt.datetime]
    last_used_at: Optional[dt.datetime]

    id = global_id_field("ApiToken")

    @strawberry.field
    def role(self) -> Role:
        return self.owner.role

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, models.AccessToken)


@strawberry.type(description="An installed plugin.")
class PluginInfo:
    name: str
    version: str
    source: str
    enabled: bool
    description: Optional[str]
    hooks: list[str]


@strawberry.type(description="A problem with the input that the user can fix.")
class UserError:
    field: Optional[str] = strawberry.field(description="The input field at fault (camelCase), if any.")
    code: str = strawberry.field(description="Stable machine-readable code, e.g. REQUIRED, INVALID_EMAIL.")
    message: str


@strawberry.type(description="What every mutation returns: the result and problems the user can fix.")
class Payload:
    user_errors: list[UserError] = strawberry.field(default_factory=list)
