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
from kehu.i18n import Language as LanguageEnum
from kehu.ids import pks_from_global_ids
from kehu.interactions import InteractionFilter, InteractionOrderField

from . import relay
from .batch import batch_field
from .limits import max_items
from .relay import Connection, ModelNode, global_id_field

Role = strawberry.enum(models.Role, description="What an account owner may do.")
CustomerKind = strawberry.enum(models.CustomerKind)
InteractionKind = strawberry.enum(models.InteractionKind)
Direction = strawberry.enum(models.Direction)
CustomerOrderFieldEnum = strawberry.enum(CustomerOrderField, name="CustomerOrderField")
InteractionOrderFieldEnum = strawberry.enum(InteractionOrderField, name="InteractionOrderField")
Language = strawberry.enum(
    LanguageEnum, name="Language", description="A language kehu's pages are written in (zh-CN, en)."
)


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
    next_follow_up_after: Optional[dt.datetime] = strawberry.field(
        default=None, description="A follow-up is due at or after this moment."
    )
    next_follow_up_before: Optional[dt.datetime] = strawberry.field(
        default=None, description="A follow-up is due before this moment (overdue ones included)."
    )
    follow_up_open: Optional[bool] = strawberry.field(
        default=None,
        description="true: a follow-up is set and not yet answered — no later contact with the customer "
        "(a call, visit, e-mail, meeting or message that is not internal) has been logged; false: the others.",
    )

    def to_domain(self) -> InteractionFilter:
        return InteractionFilter(
            customer_ids=pks_from_global_ids(self.customer_ids, "Customer", "filter.customerIds"),
            owner_ids=pks_from_global_ids(self.owner_ids, "AccountOwner", "filter.ownerIds"),
            kinds=self.kinds,
            occurred_after=self.occurred_after,
            occurred_before=self.occurred_before,
            next_follow_up_after=self.next_follow_up_after,
            next_follow_up_before=self.next_follow_up_before,
            follow_up_open=self.follow_up_open,
        )


@strawberry.input
class InteractionOrder:
    field: InteractionOrderFieldEnum = InteractionOrderField.OCCURRED_AT
    direction: OrderDirection = OrderDirection.DESC


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
    external_ids: Optional[list[str]] = strawberry.field(
        default=None, description="Customers with one of these external ids."
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
            external_ids=self.external_ids,
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
    language: Optional[Language] = strawberry.field(
        description="The language the owner reads kehu's pages in; null: their browser's."
    )

    @strawberry.field(description="What this owner's role may do: permission names, e.g. customers.create.")
    def permissions(self, info: Info) -> list[str]:
        return sorted(info.context.kehu.permissions_for(self.role))

    @strawberry.field(
        description="Fields (Type.field) this owner's role sees masked, e.g. Customer.name: "
        "they are shown altered and cannot be searched or ordered by."
    )
    def masked_fields(self, info: Info) -> list[str]:
        from kehu.access import Viewer
        from kehu.policies import Strategy

        kehu = info.context.kehu
        viewer = Viewer(owner=self, permissions=kehu.permissions_for(self.role))
        guard = kehu.field_guard
        return sorted(p.key for p in kehu.field_policies if guard.strategy(viewer, p.key) is not Strategy.CLEAR)

    @strawberry.field(description="Customers this owner looks after (only those the viewer may see).")
    async def customers(
        self, info: Info, first: Optional[int] = None, after: Optional[str] = None
    ) -> Connection["Customer"]:
        from kehu.access import visible_customers
        from kehu.policies import order_unmasked

        viewer = info.context.viewer
        qs = visible_customers(viewer).filter(owner_id=self.id, archived_at__isnull=True)
        # By name for a viewer who sees names in clear, by id for one who does not.
        return await relay.paginate(order_unmasked(info.context.kehu, viewer, qs, "name", "id"), first, after)


@strawberry.type(name="Customer", description="A person or organization the company does business with.")
class CustomerBase(ModelNode, model=models.Customer):
    external_id: Optional[str] = strawberry.field(
        description="The id other systems know this customer by; unique when set (the key of imports)."
    )
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

    @batch_field(
        description="Set on a customer archived by a merge: the customer it became (null if the viewer may not "
        "see it). This customer's global id resolves there too: `node`, `customer` and mutations taking a customer "
        "id act on that customer."
    )
    async def merged_into(customers: list["Customer"], info: Info) -> list[Optional["Customer"]]:
        survivors = await info.context.loaders.customers_by_id([c.merged_into_id for c in customers])
        return [survivors.get(c.merged_into_id) if c.merged_into_id else None for c in customers]

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
    external_id: Optional[str] = strawberry.field(
        description="The id of this record in the system it came from (an order number); unique when set."
    )

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


OutboxState = strawberry.enum(models.OutboxState, description="Where an event is on its way to the plugins.")
OutboxKind = strawberry.enum(models.OutboxKind)


@strawberry.type(
    description="An event (or a periodic job's run) in the outbox: delivered to plugins' handlers after its "
    "write committed, retried with backoff, FAILED once the retries are spent."
)
class OutboxEvent(ModelNode, model=models.OutboxEvent):
    kind: OutboxKind
    name: str = strawberry.field(description="The event hook (kehu_interaction_logged) or the job's name.")
    topic: Optional[str] = strawberry.field(description="The live event's topic, for kehu_event_published.")
    state: OutboxState
    attempts: int = strawberry.field(description="Failed attempts so far.")
    due_at: dt.datetime = strawberry.field(description="When it is (or was) due for its next delivery.")
    created_at: dt.datetime
    finished_at: Optional[dt.datetime]
    last_error: str

    @strawberry.field(
        description="The number kehu's CLI shows (`kehu events retry NUMBER`), and handlers get as event_id."
    )
    def number(self) -> str:
        return str(self.id)

    @strawberry.field(description="Plugins whose handlers have not succeeded yet (null: all of them).")
    def remaining(self) -> Optional[list[str]]:
        return self.remaining

    @strawberry.field(
        description="The hook's arguments: records by reference; secrets shown as null; the values"
        " in `changes` masked as you see those fields."
    )
    def arguments(self, info: Info) -> JSON:
        return _masked_changes(info.context.kehu, info.context.viewer, _without_secrets(self.arguments))


def _masked_changes(kehu, viewer, arguments):
    """An event about one record (``kehu_customer_updated``) keeps the before/after
    values of its ``changes``: shown as the viewer may read those fields of the
    record's type, like the audit log (``FieldGuard.audit_changes``)."""
    changes = arguments.get("changes") if isinstance(arguments, dict) else None
    records = [v["$model"] for v in (arguments or {}).values() if isinstance(v, dict) and "$model" in v]
    if not isinstance(changes, dict) or len(records) != 1:
        return arguments
    pairs = {
        name: {"before": change["$tuple"][0], "after": change["$tuple"][1]}
        for name, change in changes.items()
        if isinstance(change, dict) and len(change.get("$tuple") or ()) == 2
    }
    masked = kehu.field_guard.audit_changes(viewer, records[0].rpartition(".")[2], pairs)
    shown = {name: {"$tuple": [pair["before"], pair["after"]]} for name, pair in masked.items()}
    return {**arguments, "changes": {**changes, **shown}}


def _without_secrets(value):
    if isinstance(value, dict):
        if "$secret" in value:
            return {"$secret": None}
        return {k: _without_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


@strawberry.type(description="An API token for an integration. The secret is shown only when created.")
class ApiToken:
    name: str
    created_at: dt.datetime
    expires_at: Optional[dt.datetime]
    revoked_at: Optional[dt.datetime]
    last_used_at: Optional[dt.datetime]

    id = global_id_field("ApiToken")

    @strawberry.field
    def role(self) -> Role:
        return self.owner.role


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
    user_errors: list[UserError] = strawberry.field(default_factory=list, metadata=max_items(20))
