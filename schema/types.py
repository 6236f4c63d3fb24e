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
from typing import Annotated, Optional

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
from .descriptions import describe_enum_values
from .limits import max_items
from .relay import Connection, ModelNode, global_id_field

Role = describe_enum_values(
    strawberry.enum(models.Role, description="What an account owner may do (permissions per role: plugins.toml)."),
    {
        "ADMIN": "Everything, including account owners, API tokens and the audit log.",
        "MANAGER": "The customers of their team: sees, edits and assigns them within the team.",
        "AGENT": "Their own customers: sees and edits them, logs interactions.",
        "ANALYST": "Reads everything for reports; writes nothing.",
    },
)
CustomerKind = describe_enum_values(
    strawberry.enum(models.CustomerKind, description="Whether a customer is a person or an organization."),
    {"PERSON": "A private person.", "ORGANIZATION": "A company, association or public body."},
)
InteractionKind = describe_enum_values(
    strawberry.enum(models.InteractionKind, description="How a touch point with a customer happened."),
    {
        "CALL": "A phone call.",
        "VISIT": "A visit, at the customer's or ours.",
        "EMAIL": "An e-mail.",
        "MEETING": "A meeting, in person or online.",
        "MESSAGE": "A chat or text message.",
        "PURCHASE": "A purchase; carries an amount.",
        "NOTE": "An internal note about the customer.",
    },
)
Direction = describe_enum_values(
    strawberry.enum(models.Direction, description="Who started an interaction."),
    {"INBOUND": "The customer reached out.", "OUTBOUND": "We reached out.", "INTERNAL": "No contact: a note."},
)
CustomerOrderFieldEnum = describe_enum_values(
    strawberry.enum(CustomerOrderField, name="CustomerOrderField", description="What a customer list is ordered by."),
    {
        "NAME": "The name (not for roles that see names masked).",
        "CREATED_AT": "When the customer was created (the default).",
        "UPDATED_AT": "When the customer was last changed.",
        "LAST_INTERACTION_AT": "The last interaction; customers without one come last ascending on PostgreSQL, "
        "first on SQLite.",
    },
)
InteractionOrderFieldEnum = describe_enum_values(
    strawberry.enum(
        InteractionOrderField, name="InteractionOrderField", description="What an interaction list is ordered by."
    ),
    {
        "OCCURRED_AT": "When the interaction happened (the default).",
        "NEXT_FOLLOW_UP_AT": "When a follow-up is due; interactions without one come last ascending on "
        "PostgreSQL, first on SQLite.",
    },
)
Language = describe_enum_values(
    strawberry.enum(LanguageEnum, name="Language", description="A language kehu's pages are written in (zh-CN, en)."),
    {"ZH_CN": "Simplified Chinese (zh-CN).", "EN": "English (en)."},
)


@strawberry.enum(description="Ascending or descending.")
class OrderDirection(Enum):
    ASC = strawberry.enum_value("ASC", description="Smallest, earliest or A first.")
    DESC = strawberry.enum_value("DESC", description="Largest, latest or Z first.")


# --------------------------------------------------------------------------- inputs


@strawberry.input(description="Narrows an interaction list; all conditions must hold.")
class InteractionFilterInput:
    customer_ids: Optional[list[strawberry.ID]] = strawberry.field(
        default=None, description="Interactions with any of these customers."
    )
    owner_ids: Optional[list[strawberry.ID]] = strawberry.field(
        default=None, description="Interactions logged by any of these account owners."
    )
    kinds: Optional[list[InteractionKind]] = strawberry.field(default=None, description="Interactions of these kinds.")
    occurred_after: Optional[dt.datetime] = strawberry.field(
        default=None, description="Interactions at or after this time."
    )
    occurred_before: Optional[dt.datetime] = strawberry.field(
        default=None, description="Interactions before this time."
    )
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


@strawberry.input(description="The order of an interaction list; ties are broken by id, in the same direction.")
class InteractionOrder:
    field: InteractionOrderFieldEnum = strawberry.field(
        default=InteractionOrderField.OCCURRED_AT, description="What to order by."
    )
    direction: OrderDirection = strawberry.field(default=OrderDirection.DESC, description="Which way.")


@strawberry.input(description="Narrows a customer list; all conditions must hold.")
class CustomerFilterInput:
    owner_ids: Optional[list[strawberry.ID]] = strawberry.field(
        default=None, description="Customers looked after by any of these account owners."
    )
    unassigned: Optional[bool] = strawberry.field(
        default=None, description="true: customers without an owner; false: with one."
    )
    tags: Optional[list[str]] = strawberry.field(default=None, description="Customers carrying all of these tags.")
    regions: Optional[list[str]] = strawberry.field(default=None, description="Customers in any of these regions.")
    kinds: Optional[list[CustomerKind]] = strawberry.field(default=None, description="Customers of these kinds.")
    search: Optional[str] = strawberry.field(default=None, description="Text found in name, e-mail or phone.")
    created_after: Optional[dt.datetime] = strawberry.field(
        default=None, description="Customers created at or after this time."
    )
    created_before: Optional[dt.datetime] = strawberry.field(
        default=None, description="Customers created before this time."
    )
    last_interaction_after: Optional[dt.datetime] = strawberry.field(
        default=None, description="Customers whose last interaction is at or after this time."
    )
    last_interaction_before: Optional[dt.datetime] = strawberry.field(
        default=None, description="Customers whose last interaction is before this time."
    )
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


@strawberry.input(description="The order of a customer list; ties are broken by creation, in the same direction.")
class CustomerOrder:
    field: CustomerOrderFieldEnum = strawberry.field(
        default=CustomerOrderField.CREATED_AT, description="What to order by."
    )
    direction: OrderDirection = strawberry.field(default=OrderDirection.ASC, description="Which way.")


# --------------------------------------------------------------------------- objects


@strawberry.type(name="AccountOwner", description="A staff member who looks after customers (客户经理).")
class AccountOwnerBase(ModelNode, model=models.AccountOwner):
    name: str = strawberry.field(description="Full name.")
    email: str = strawberry.field(description="Sign-in e-mail address, unique.")
    role: Role = strawberry.field(description="What the owner may do.")
    team: str = strawberry.field(description="The team; managers see their team's customers. Empty: no team.")
    active: bool = strawberry.field(description="false: can no longer sign in nor be assigned customers.")
    is_service: bool = strawberry.field(
        description="A service account behind API tokens; it cannot sign in with a password."
    )
    created_at: dt.datetime = strawberry.field(description="When the account was created.")
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
        self,
        info: Info,
        first: Optional[int] = None,
        after: Optional[str] = None,
        last: Optional[int] = None,
        before: Optional[str] = None,
    ) -> Connection["Customer"]:
        from kehu.access import visible_customers
        from kehu.policies import unmasked_order

        viewer = info.context.viewer
        qs = visible_customers(viewer).filter(owner_id=self.id, archived_at__isnull=True)
        # By name for a viewer who sees names in clear, by id for one who does not:
        # the order of masked names would tell them apart, and a cursor holds its row's name.
        order = unmasked_order(info.context.kehu, viewer, qs.model, "name", "id")
        return await relay.paginate(qs, first, after, last=last, before=before, order_by=order)


@strawberry.type(name="Customer", description="A person or organization the company does business with.")
class CustomerBase(ModelNode, model=models.Customer):
    external_id: Optional[str] = strawberry.field(
        description="The id other systems know this customer by; unique when set (the key of imports)."
    )
    name: str = strawberry.field(description="The person's or organization's name.")
    kind: CustomerKind = strawberry.field(description="Person or organization.")
    email: Optional[str] = strawberry.field(description="E-mail address (may be masked for some roles).")
    phone: Optional[str] = strawberry.field(description="Phone number (may be masked for some roles).")
    address: Optional[str] = strawberry.field(description="Postal address, possibly on several lines.")
    region: Optional[str] = strawberry.field(description="Region, as the business divides its market.")
    industry: Optional[str] = strawberry.field(description="Industry, for organizations.")
    tags: list[str] = strawberry.field(description="Tags, normalised and sorted.")
    attributes: JSON = strawberry.field(description="Free-form attributes: a JSON object of the business's own fields.")
    last_interaction_at: Optional[dt.datetime] = strawberry.field(
        description="When the latest interaction occurred; null if there has been none."
    )
    archived_at: Optional[dt.datetime] = strawberry.field(
        description="When the customer was archived; null while active. Archived customers keep their history."
    )
    created_at: dt.datetime = strawberry.field(description="When the customer was created.")
    updated_at: dt.datetime = strawberry.field(description="When the customer was last changed.")

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
        filter: Annotated[
            Optional[InteractionFilterInput], strawberry.argument(description="Only the interactions matching it.")
        ] = None,
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
    kind: InteractionKind = strawberry.field(description="How it happened.")
    direction: Direction = strawberry.field(description="Who started it.")
    occurred_at: dt.datetime = strawberry.field(description="When it happened.")
    subject: str = strawberry.field(description="A one-line summary; may be empty.")
    notes: str = strawberry.field(description="Free text; may be empty.")
    amount: Optional[Decimal] = strawberry.field(description="The amount of a purchase; null for other kinds.")
    next_follow_up_at: Optional[dt.datetime] = strawberry.field(
        description="When someone should follow up; null if nobody needs to."
    )
    created_at: dt.datetime = strawberry.field(description="When it was logged.")
    external_id: Optional[str] = strawberry.field(
        description="The id of this record in the system it came from (an order number); unique when set."
    )

    @batch_field(description="The customer it was with; null if the viewer may no longer see them.")
    async def customer(interactions: list["Interaction"], info: Info) -> list[Optional["Customer"]]:
        customers = await info.context.loaders.customers_by_id([i.customer_id for i in interactions])
        return [customers.get(i.customer_id) for i in interactions]

    @batch_field(description="Who logged it.")
    async def owner(interactions: list["Interaction"], info: Info) -> list[Optional["AccountOwner"]]:
        owners = await info.context.loaders.owners_by_id([i.owner_id for i in interactions])
        return [owners.get(i.owner_id) for i in interactions]


@strawberry.type(description="One write, as recorded in the append-only audit log.")
class AuditEntry(ModelNode, model=models.AuditEntry):
    at: dt.datetime = strawberry.field(description="When the write was committed.")
    actor_label: str = strawberry.field(description="Who wrote, as a person reads it (name and e-mail, or a token).")
    operation: str = strawberry.field(description="The mutation or command, e.g. updateCustomer.")
    entity_type: Optional[str] = strawberry.field(description="The kind of record written, e.g. Customer.")
    entity_id: Optional[str] = strawberry.field(description="The primary key of the record written.")
    changes: JSON = strawberry.field(
        description="Field by field, [before, after]; personal values as the viewer may see them."
    )
    request_id: Optional[str] = strawberry.field(description="The request's id, also in the server's log.")

    actor_id = global_id_field(
        "AccountOwner",
        "actor_id",
        optional=True,
        description="The account owner who wrote; null for anonymous and system writes.",
    )


OutboxState = describe_enum_values(
    strawberry.enum(models.OutboxState, description="Where an event is on its way to the plugins."),
    {
        "PENDING": "Not delivered yet, or waiting for its next attempt.",
        "DONE": "Every plugin's handler has succeeded.",
        "FAILED": "Given up after the last retry: a dead letter, for an admin to retry or leave.",
    },
)
OutboxKind = describe_enum_values(
    strawberry.enum(models.OutboxKind, description="What an outbox row delivers."),
    {"EVENT": "An event hook call, after the write that caused it.", "JOB": "One scheduled run of a periodic job."},
)


@strawberry.type(
    description="An event (or a periodic job's run) in the outbox: delivered to plugins' handlers after its "
    "write committed, retried with backoff, FAILED once the retries are spent."
)
class OutboxEvent(ModelNode, model=models.OutboxEvent):
    kind: OutboxKind = strawberry.field(description="An event or a job's run.")
    name: str = strawberry.field(description="The event hook (kehu_interaction_logged) or the job's name.")
    topic: Optional[str] = strawberry.field(description="The live event's topic, for kehu_event_published.")
    state: OutboxState = strawberry.field(description="Waiting, delivered or given up.")
    attempts: int = strawberry.field(description="Failed attempts so far.")
    due_at: dt.datetime = strawberry.field(description="When it is (or was) due for its next delivery.")
    created_at: dt.datetime = strawberry.field(description="When it was written, with the write that caused it.")
    finished_at: Optional[dt.datetime] = strawberry.field(
        description="When it was delivered or given up; null while PENDING."
    )
    last_error: str = strawberry.field(description="The last failure's message; empty if none failed.")

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
class ApiToken(ModelNode, model=models.AccessToken):
    name: str = strawberry.field(description="What the token is for, e.g. the integration's name.")
    created_at: dt.datetime = strawberry.field(description="When it was created.")
    expires_at: Optional[dt.datetime] = strawberry.field(description="When it stops working; null: never.")
    revoked_at: Optional[dt.datetime] = strawberry.field(description="When it was revoked; null while valid.")
    last_used_at: Optional[dt.datetime] = strawberry.field(description="When a request last used it.")

    @strawberry.field(description="The role the token acts with.")
    def role(self) -> Role:
        return self.owner.role


@strawberry.type(description="An installed plugin.")
class PluginInfo:
    name: str = strawberry.field(description="The plugin's short name, as in plugins.toml.")
    version: str = strawberry.field(description="Its installed version.")
    source: str = strawberry.field(description="built-in, or the package it comes from (entry point).")
    enabled: bool = strawberry.field(description="Whether plugins.toml enables it.")
    description: Optional[str] = strawberry.field(description="What it does, in its own words.")
    hooks: list[str] = strawberry.field(description="The hooks it implements.")


@strawberry.type(description="A problem with the input that the user can fix.")
class UserError:
    field: Optional[str] = strawberry.field(description="The input field at fault (camelCase), if any.")
    code: str = strawberry.field(description="Stable machine-readable code, e.g. REQUIRED, INVALID_EMAIL.")
    message: str = strawberry.field(description="What is wrong, for a person to read.")


@strawberry.type(description="What every mutation returns: the result and problems the user can fix.")
class Payload:
    user_errors: list[UserError] = strawberry.field(
        default_factory=list,
        metadata=max_items(20),
        description="Problems with the input the user can fix; empty when the write succeeded.",
    )
