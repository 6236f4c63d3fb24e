"""The core's root query and mutation fields."""

import datetime as dt
from typing import Annotated, Optional

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from kehu import customers as customer_service
from kehu import interactions as interaction_service
from kehu import owners as owner_service
from kehu.access import require_viewer, visible_owners
from kehu.duplicates import MAX_EXACT_MATCHES, DuplicateCustomer, Match
from kehu.errors import KehuError, ValidationError
from kehu.ids import from_global_id, pk_from_global_id
from kehu.models import AccessToken, TokenKind
from kehu.models import AuditEntry as AuditEntryModel
from kehu.models import OutboxEvent as OutboxEventModel
from kehu.server.plugin_manager import await_me_maybe
from kehu.writes import record_change, write_scope

from . import relay
from .limits import max_items
from .nodes import MAX_NODES, load_nodes
from .relay import Connection, Node
from .types import (  # CustomerFilterInput: rebound to the composed input at build time
    ApiToken,
    AuditEntry,
    CustomerFilterInput,
    CustomerKind,
    CustomerOrder,
    Direction,
    InteractionFilterInput,
    InteractionKind,
    InteractionOrder,
    Language,
    OrderDirection,
    OutboxEvent,
    OutboxState,
    Payload,
    PluginInfo,
    Role,
    UserError,
)


def _given(obj, *names: str) -> dict:
    """The input fields the client actually sent (UNSET ones are left out)."""
    return {n: getattr(obj, n) for n in names if getattr(obj, n) is not strawberry.UNSET}


def _now(info: Info) -> dt.datetime:
    return info.context.kehu.clock.now()


# --------------------------------------------------------------------------- inputs & payloads


@strawberry.input(description="Credentials to sign in with.")
class LoginInput:
    email: str = strawberry.field(description="The account owner's e-mail address.")
    password: str = strawberry.field(description="Their password.")


@strawberry.type(description="A new session, or why there is none.")
class LoginPayload(Payload):
    token: Optional[str] = strawberry.field(default=None, description="Send as `Authorization: Bearer <token>`.")
    expires_at: Optional[dt.datetime] = strawberry.field(default=None, description="When the session ends.")
    viewer: Optional["AccountOwner"] = strawberry.field(default=None, description="Who signed in.")


@strawberry.type(description="The session has ended.")
class LogoutPayload(Payload):
    ok: bool = strawberry.field(default=False, description="true: the token no longer works.")


@strawberry.input(description="A new password for the signed-in account owner.")
class ChangePasswordInput:
    current_password: str = strawberry.field(description="The password in use now.")
    new_password: str = strawberry.field(description="The new one (long enough, not a common password).")


@strawberry.type(description="The password was changed, or why not.")
class ChangePasswordPayload(Payload):
    ok: bool = strawberry.field(default=False, description="true: changed; other sessions have ended.")


@strawberry.input(description="The language you read kehu's pages in.")
class SetMyLanguageInput:
    language: Optional[Language] = strawberry.field(description="null: follow the browser's language.")


@strawberry.type(description="Your account with its language, or why it was not changed.")
class SetMyLanguagePayload(Payload):
    me: Optional["AccountOwner"] = strawberry.field(default=None, description="You, with the language chosen.")


@strawberry.input(description="A new customer: only the name is required.")
class CreateCustomerInput:
    name: str = strawberry.field(description="The person's or organization's name.")
    kind: Optional[CustomerKind] = strawberry.field(default=None, description="Defaults to PERSON.")
    email: Optional[str] = strawberry.field(default=None, description="E-mail address.")
    phone: Optional[str] = strawberry.field(default=None, description="Phone number.")
    address: Optional[str] = strawberry.field(default=None, description="Postal address.")
    region: Optional[str] = strawberry.field(default=None, description="Region.")
    industry: Optional[str] = strawberry.field(default=None, description="Industry.")
    tags: Optional[list[str]] = strawberry.field(default=None, description="Tags; normalised and de-duplicated.")
    attributes: Optional[JSON] = strawberry.field(default=None, description="A JSON object of free-form fields.")
    owner_id: Optional[strawberry.ID] = strawberry.field(
        default=None, description="Defaults to the creator for managers and agents."
    )
    external_id: Optional[str] = strawberry.field(
        default=None, description="The id other systems know the customer by; unique."
    )
    allow_duplicate: bool = strawberry.field(
        default=False,
        description="Create the customer although one the viewer may see already has this e-mail or phone "
        "(without it, the answer is a DUPLICATE_CUSTOMER user error and `duplicates`).",
    )


@strawberry.input(description="Only the fields sent are changed; send null to clear one.")
class UpdateCustomerInput:
    id: strawberry.ID = strawberry.field(description="The customer to change.")
    name: Optional[str] = strawberry.field(default=strawberry.UNSET, description="A new name (cannot be cleared).")
    kind: Optional[CustomerKind] = strawberry.field(default=strawberry.UNSET, description="Person or organization.")
    email: Optional[str] = strawberry.field(default=strawberry.UNSET, description="E-mail address.")
    phone: Optional[str] = strawberry.field(default=strawberry.UNSET, description="Phone number.")
    address: Optional[str] = strawberry.field(default=strawberry.UNSET, description="Postal address.")
    region: Optional[str] = strawberry.field(default=strawberry.UNSET, description="Region.")
    industry: Optional[str] = strawberry.field(default=strawberry.UNSET, description="Industry.")
    tags: Optional[list[str]] = strawberry.field(default=strawberry.UNSET, description="All the tags (replaces them).")
    attributes: Optional[JSON] = strawberry.field(
        default=strawberry.UNSET, description="All the free-form fields (replaces them)."
    )
    external_id: Optional[str] = strawberry.field(
        default=strawberry.UNSET, description="The id other systems know the customer by; unique."
    )
    allow_duplicate: bool = strawberry.field(
        default=False,
        description="Save a new e-mail or phone although another customer the viewer may see has it "
        "(without it: DUPLICATE_CUSTOMER and `duplicates`).",
    )


@strawberry.input(description="The customer to archive.")
class ArchiveCustomerInput:
    id: strawberry.ID = strawberry.field(description="The customer's global ID.")


@strawberry.input(description="Who looks after a customer.")
class AssignOwnerInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    owner_id: Optional[strawberry.ID] = strawberry.field(default=None, description="null unassigns.")


@strawberry.type(description="The customer as written, or why nothing was.")
class CustomerPayload(Payload):
    customer: Optional["Customer"] = strawberry.field(default=None, description="null when there are userErrors.")
    duplicates: list["Customer"] = strawberry.field(
        default_factory=list,
        description="With a DUPLICATE_CUSTOMER user error (one per field: email, phone): the existing customers "
        "that already have the value, as far as the viewer may see them. Open one of them, or send again with "
        "allowDuplicate: true.",
        metadata=max_items(MAX_EXACT_MATCHES),
    )


def _duplicate_payload(exc: DuplicateCustomer) -> CustomerPayload:
    """A refused duplicate: one user error per field that matched, and the customers."""
    errors = [
        UserError(field=name, code=exc.code, message=DuplicateCustomer([Match(customers[0], [name])]).message)
        for name, customers in exc.by_field()
    ]
    seen = list({m.customer.id: m.customer for m in exc.matches}.values())
    return CustomerPayload(user_errors=errors, duplicates=seen)


@strawberry.input(description="One touch point with a customer.")
class LogInteractionInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer it was with.")
    kind: InteractionKind = strawberry.field(description="How it happened.")
    direction: Optional[Direction] = strawberry.field(default=None, description="Defaults to OUTBOUND.")
    occurred_at: Optional[dt.datetime] = strawberry.field(default=None, description="Defaults to now.")
    subject: Optional[str] = strawberry.field(default=None, description="A one-line summary.")
    notes: Optional[str] = strawberry.field(default=None, description="Free text.")
    amount: Optional[str] = strawberry.field(
        default=None, description='Decimal as a string ("250.00"); required for PURCHASE.'
    )
    next_follow_up_at: Optional[dt.datetime] = strawberry.field(
        default=None, description="When someone should follow up."
    )
    owner_id: Optional[strawberry.ID] = strawberry.field(default=None, description="Defaults to the viewer.")
    idempotency_key: Optional[str] = strawberry.field(
        default=None, description="Retries with the same key return the first result and log nothing new."
    )
    external_id: Optional[str] = strawberry.field(
        default=None,
        description="The record's id in the system it comes from (an order number); sent again, it logs nothing new.",
    )


@strawberry.type(description="The interaction as logged, or why nothing was.")
class InteractionPayload(Payload):
    interaction: Optional["Interaction"] = strawberry.field(default=None, description="null when there are userErrors.")


@strawberry.input(description="Up to 1,000 interactions, logged in one transaction: all of them or none.")
class LogInteractionsInput:
    items: list[LogInteractionInput] = strawberry.field(
        description="The interactions, each as logInteraction takes it."
    )


@strawberry.type(description="The outcome of one item of logInteractions.")
class LogInteractionsResult:
    index: int = strawberry.field(description="The item's position in `items`, from 0.")
    interaction: Optional["Interaction"] = strawberry.field(
        default=None, description="The interaction logged (or logged before: see `created`); null if none was."
    )
    created: bool = strawberry.field(
        default=False, description="false: an item with this externalId or idempotencyKey was logged before."
    )
    # (an item's first error only)
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, metadata=max_items(1), description="Why this item was refused; empty if it was not."
    )


@strawberry.type(description="Every item's outcome; with userErrors, nothing was logged.")
class LogInteractionsPayload(Payload):
    results: list[LogInteractionsResult] = strawberry.field(
        default_factory=list,
        description="One per item, in order. Empty when the call was refused as a whole.",
        metadata=max_items(interaction_service.MAX_BULK_ITEMS),
    )
    # One per item that failed.
    user_errors: list[UserError] = strawberry.field(
        default_factory=list,
        metadata=max_items(interaction_service.MAX_BULK_ITEMS),
        description="One per item that was refused, its field prefixed with items.N; with any, nothing was logged.",
    )


@strawberry.input(description="A new account owner (admins).")
class CreateAccountOwnerInput:
    name: str = strawberry.field(description="Full name.")
    email: str = strawberry.field(description="Sign-in e-mail address; unique.")
    role: Role = strawberry.field(description="What they may do.")
    team: Optional[str] = strawberry.field(default=None, description="Their team; none if left out.")
    password: str = strawberry.field(description="Initial password; the owner changes it with changePassword.")


@strawberry.input(description="Only the fields sent are changed.")
class UpdateAccountOwnerInput:
    id: strawberry.ID = strawberry.field(description="The account owner to change.")
    name: Optional[str] = strawberry.field(default=strawberry.UNSET, description="Full name.")
    email: Optional[str] = strawberry.field(default=strawberry.UNSET, description="Sign-in e-mail address.")
    role: Optional[Role] = strawberry.field(default=strawberry.UNSET, description="What they may do.")
    team: Optional[str] = strawberry.field(default=strawberry.UNSET, description="Their team.")
    active: Optional[bool] = strawberry.field(
        default=strawberry.UNSET, description="false: they can no longer sign in; their sessions end."
    )


@strawberry.type(description="The account owner as written, or why nothing was.")
class AccountOwnerPayload(Payload):
    account_owner: Optional["AccountOwner"] = strawberry.field(
        default=None, description="null when there are userErrors."
    )


@strawberry.input(description="A new API token (admins).")
class CreateApiTokenInput:
    name: str = strawberry.field(description="What the token is for.")
    role: Role = strawberry.field(description="The role it acts with.")
    expires_in_days: Optional[int] = strawberry.field(default=None, description="null: no expiry.")


@strawberry.type(description="An API token as written, or why nothing was.")
class ApiTokenPayload(Payload):
    token: Optional[str] = strawberry.field(default=None, description="The secret: shown this once only.")
    api_token: Optional[ApiToken] = strawberry.field(default=None, description="The token's record.")


@strawberry.input(description="The API token to revoke.")
class RevokeApiTokenInput:
    id: strawberry.ID = strawberry.field(description="The token's global ID.")


@strawberry.input(description="Narrows the list of account owners; all conditions must hold.")
class AccountOwnerFilterInput:
    roles: Optional[list[Role]] = strawberry.field(default=None, description="Owners with any of these roles.")
    team: Optional[str] = strawberry.field(default=None, description="Owners of this team.")
    active: Optional[bool] = strawberry.field(default=None, description="Active (true) or deactivated (false) owners.")
    search: Optional[str] = strawberry.field(default=None, description="Text found in the name.")


@strawberry.input(description="The outbox event to deliver again.")
class RetryOutboxEventInput:
    id: strawberry.ID = strawberry.field(description="The event's global ID.")


@strawberry.type(description="The event, due again, or why not.")
class OutboxEventPayload(Payload):
    outbox_event: Optional[OutboxEvent] = strawberry.field(
        default=None, description="The event with fresh attempts; null when there are userErrors."
    )


@strawberry.input(description="Narrows the audit log; all conditions must hold.")
class AuditLogFilterInput:
    actor_id: Optional[strawberry.ID] = strawberry.field(default=None, description="Writes by this account owner.")
    entity_type: Optional[str] = strawberry.field(default=None, description="Writes to this kind of record.")
    entity_id: Optional[strawberry.ID] = strawberry.field(
        default=None, description="Writes to this record (its global ID)."
    )
    operation: Optional[str] = strawberry.field(default=None, description="Writes by this mutation or command.")
    after: Optional[dt.datetime] = strawberry.field(default=None, description="Writes at or after this time.")
    before: Optional[dt.datetime] = strawberry.field(default=None, description="Writes before this time.")


# --------------------------------------------------------------------------- queries


def _audit_as_seen(info: Info, entries: list) -> list:
    """Before/after values as the viewer may see them (``kehu.field_guard``): the
    entries are this request's own instances, never saved."""
    guard = info.context.kehu.field_guard
    for entry in entries:
        entry.changes = guard.audit_changes(info.context.viewer, entry.entity_type, entry.changes)
    return entries


_pk = pk_from_global_id  # the one "global ID -> pk" helper (kehu.schema)


@strawberry.type
class CoreQuery:
    @strawberry.field(description="The signed-in account owner.")
    async def me(self, info: Info) -> Optional["AccountOwner"]:
        viewer = info.context.viewer
        return viewer.owner if viewer else None

    @strawberry.field(description="Any object by its global ID; null if it does not exist or is not visible.")
    async def node(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="A global ID.")]
    ) -> Optional[Node]:
        return (await load_nodes(info, [id], field="id"))[0]

    @strawberry.field(
        description="Many objects by their global IDs (at most 100), in the order asked; null for each that "
        "does not exist or is not visible. The same rules as `node`.",
        metadata=max_items(MAX_NODES),  # the query-size estimate counts what is selected below 100 times
    )
    async def nodes(
        self, info: Info, ids: Annotated[list[strawberry.ID], strawberry.argument(description="Global IDs.")]
    ) -> list[Optional[Node]]:
        return await load_nodes(info, ids)

    @strawberry.field(description="A customer by global ID; null if it does not exist or is not visible.")
    async def customer(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The customer's global ID.")]
    ) -> Optional["Customer"]:
        return await info.context.loaders.customer.load(_pk(id, "Customer"))

    @strawberry.field(description="Customers the viewer may see (active ones unless filtered otherwise).")
    async def customers(
        self,
        info: Info,
        first: Optional[int] = None,
        after: Optional[str] = None,
        # Not Annotated: the string is rebound to the input composed with the plugins'
        # fields (build.py); its description comes from the connection conventions.
        filter: Optional["CustomerFilterInput"] = None,
        order_by: Annotated[
            Optional[CustomerOrder], strawberry.argument(description="Defaults to oldest first.")
        ] = None,
        last: Optional[int] = None,
        before: Optional[str] = None,
    ) -> Connection["Customer"]:
        kehu = info.context.kehu
        qs = customer_service.filter_customers(info.context.viewer, filter.to_domain() if filter else None, kehu=kehu)
        if filter is not None:
            for _, apply in kehu.schema.registry.customer_filters:
                qs = await await_me_maybe(apply(qs, filter, info))
        order = order_by or CustomerOrder()
        descending = order.direction == OrderDirection.DESC
        # Refuses an ordering the viewer may not use (names they see masked).
        qs = customer_service.order_customers(qs, order.field, descending, viewer=info.context.viewer, kehu=kehu)
        return await relay.paginate(
            qs,
            first,
            after,
            kehu.config.kehu.page_size_default,
            last=last,
            before=before,
            order_by=customer_service.customer_order(order.field, descending),
        )

    @strawberry.field(description="Interactions of customers the viewer may see, newest first unless ordered.")
    async def interactions(
        self,
        info: Info,
        first: Optional[int] = None,
        after: Optional[str] = None,
        filter: Annotated[
            Optional[InteractionFilterInput], strawberry.argument(description="Only the interactions matching it.")
        ] = None,
        order_by: Annotated[
            Optional[InteractionOrder], strawberry.argument(description="Newest first (by occurredAt) if left out.")
        ] = None,
        last: Optional[int] = None,
        before: Optional[str] = None,
    ) -> Connection["Interaction"]:
        qs = interaction_service.filter_interactions(info.context.viewer, filter.to_domain() if filter else None)
        order = order_by or InteractionOrder()
        columns = interaction_service.interaction_order(order.field, order.direction == OrderDirection.DESC)
        return await relay.paginate(qs, first, after, last=last, before=before, order_by=columns)

    @strawberry.field(description="Account owners the viewer may see, by name.")
    async def account_owners(
        self,
        info: Info,
        first: Optional[int] = None,
        after: Optional[str] = None,
        filter: Annotated[
            Optional[AccountOwnerFilterInput], strawberry.argument(description="Only the owners matching it.")
        ] = None,
        last: Optional[int] = None,
        before: Optional[str] = None,
    ) -> Connection["AccountOwner"]:
        qs = visible_owners(info.context.viewer)
        if filter:
            if filter.roles is not None:
                qs = qs.filter(role__in=[r.value for r in filter.roles])
            if filter.team is not None:
                qs = qs.filter(team=filter.team)
            if filter.active is not None:
                qs = qs.filter(active=filter.active)
            if filter.search:
                qs = qs.filter(name__icontains=filter.search[:200])
        return await relay.paginate(qs, first, after, last=last, before=before, order_by=("name", "id"))

    @strawberry.field(description="Installed plugins and whether each is enabled.")
    async def plugins(self, info: Info) -> list[PluginInfo]:
        from kehu.server.plugin_manager import discover

        kehu = info.context.kehu
        records = kehu.plugins.records
        out = []
        for name, (source, _, version) in sorted(discover().items()):
            record = records.get(name)
            out.append(
                PluginInfo(
                    name=name,
                    version=version,
                    source=source,
                    enabled=record is not None,
                    description=(record.info.get("description") if record else None),
                    hooks=record.hooks if record else [],
                )
            )
        return out

    @strawberry.field(description="The audit log, newest first (admins).")
    async def audit_log(
        self,
        info: Info,
        first: Optional[int] = None,
        after: Optional[str] = None,
        filter: Annotated[
            Optional[AuditLogFilterInput], strawberry.argument(description="Only the entries matching it.")
        ] = None,
        last: Optional[int] = None,
        before: Optional[str] = None,
    ) -> Connection[AuditEntry]:
        require_viewer(info.context.viewer).require("audit.read")
        qs = AuditEntryModel.all()
        if filter:
            if filter.actor_id is not None:
                qs = qs.filter(actor_id=_pk(filter.actor_id, "AccountOwner", "filter.actorId"))
            if filter.entity_type is not None:
                qs = qs.filter(entity_type=filter.entity_type)
            if filter.entity_id is not None:
                qs = qs.filter(entity_id=str(from_global_id(filter.entity_id, field="filter.entityId")[1]))
            if filter.operation is not None:
                qs = qs.filter(operation=filter.operation)
            if filter.after is not None:
                qs = qs.filter(at__gte=filter.after)
            if filter.before is not None:
                qs = qs.filter(at__lt=filter.before)
        connection = await relay.paginate(qs, first, after, last=last, before=before, order_by=("-id",))
        _audit_as_seen(info, [edge.node for edge in connection.edges])
        return connection

    @strawberry.field(
        description="The event outbox, newest first (admins): FAILED events are the dead letters, "
        "PENDING ones wait for delivery or their next retry."
    )
    async def outbox_events(
        self,
        info: Info,
        state: Annotated[
            OutboxState, strawberry.argument(description="Which events: the dead letters (FAILED) by default.")
        ] = OutboxState.FAILED,
        first: Optional[int] = None,
        after: Optional[str] = None,
        last: Optional[int] = None,
        before: Optional[str] = None,
    ) -> Connection[OutboxEvent]:
        require_viewer(info.context.viewer).require("events.manage")
        qs = OutboxEventModel.filter(state=state)
        return await relay.paginate(qs, first, after, last=last, before=before, order_by=("-id",))

    @strawberry.field(description="API tokens (admins). Secrets are never shown again.")
    async def api_tokens(
        self,
        info: Info,
        include_revoked: Annotated[bool, strawberry.argument(description="Also list revoked tokens.")] = False,
    ) -> list[ApiToken]:
        require_viewer(info.context.viewer).require("tokens.manage")
        qs = AccessToken.filter(kind=TokenKind.API).select_related("owner").order_by("name", "id")
        if not include_revoked:
            qs = qs.filter(revoked_at=None)
        return await qs


# --------------------------------------------------------------------------- mutations


@strawberry.type
class CoreMutation:
    @strawberry.mutation(description="Sign in; returns a bearer token.")
    async def login(self, info: Info, input: LoginInput) -> LoginPayload:
        ctx = info.context
        try:
            # Checking the password and counting failures happens outside the write
            # scope: a failed attempt must be remembered even though nothing else is.
            owner = await owner_service.authenticate(ctx.kehu, input.email, input.password, ctx.client)
        except ValidationError as exc:
            return LoginPayload(user_errors=[UserError(field=exc.field, code=exc.code, message=exc.message)])
        from kehu.access import Viewer

        viewer = Viewer(owner=owner, permissions=ctx.kehu.permissions_for(owner.role))
        async with write_scope(ctx.kehu, viewer, "login", request_id=ctx.request_id):
            token, row = await owner_service.open_session(ctx.kehu, owner)
        return LoginPayload(token=token, expires_at=row.expires_at, viewer=owner)

    @strawberry.mutation(description="Revoke the token this request was made with.")
    async def logout(self, info: Info) -> LogoutPayload:
        await owner_service.logout(require_viewer(info.context.viewer), _now(info))
        return LogoutPayload(ok=True)

    @strawberry.mutation(description="Change the signed-in account owner's password; their other sessions end.")
    async def change_password(self, info: Info, input: ChangePasswordInput) -> ChangePasswordPayload:
        viewer = require_viewer(info.context.viewer)
        await owner_service.change_password(viewer, input.current_password, input.new_password, _now(info))
        return ChangePasswordPayload(ok=True)

    @strawberry.mutation(description="Choose the language you read kehu's pages in (any role).")
    async def set_my_language(self, info: Info, input: SetMyLanguageInput) -> SetMyLanguagePayload:
        owner = await owner_service.set_language(require_viewer(info.context.viewer), input.language)
        return SetMyLanguagePayload(me=owner)

    @strawberry.mutation(description="Create a customer.")
    async def create_customer(self, info: Info, input: CreateCustomerInput) -> CustomerPayload:
        data = {k: getattr(input, k) for k in customer_service.EDITABLE}
        if input.owner_id is not None:
            data["owner_id"] = _pk(input.owner_id, "AccountOwner", "ownerId")
        try:
            customer = await customer_service.create_customer(
                require_viewer(info.context.viewer), data, allow_duplicate=input.allow_duplicate
            )
        except DuplicateCustomer as exc:
            return _duplicate_payload(exc)
        return CustomerPayload(customer=customer)

    @strawberry.mutation(description="Change a customer's details; only the fields sent change.")
    async def update_customer(self, info: Info, input: UpdateCustomerInput) -> CustomerPayload:
        data = _given(input, *customer_service.EDITABLE)
        try:
            customer = await customer_service.update_customer(
                require_viewer(info.context.viewer),
                _pk(input.id, "Customer"),
                data,
                allow_duplicate=input.allow_duplicate,
            )
        except DuplicateCustomer as exc:
            return _duplicate_payload(exc)
        return CustomerPayload(customer=customer)

    @strawberry.mutation(description="Archive a customer: hidden from lists, history kept.")
    async def archive_customer(self, info: Info, input: ArchiveCustomerInput) -> CustomerPayload:
        customer = await customer_service.archive_customer(
            require_viewer(info.context.viewer), _pk(input.id, "Customer"), _now(info)
        )
        return CustomerPayload(customer=customer)

    @strawberry.mutation(description="Give a customer an account owner, or none.")
    async def assign_owner(self, info: Info, input: AssignOwnerInput) -> CustomerPayload:
        owner_id = _pk(input.owner_id, "AccountOwner", "ownerId") if input.owner_id is not None else None
        customer = await customer_service.assign_owner(
            require_viewer(info.context.viewer), _pk(input.customer_id, "Customer", "customerId"), owner_id
        )
        return CustomerPayload(customer=customer)

    @strawberry.mutation(description="Log a touch point with a customer (a purchase carries an amount).")
    async def log_interaction(self, info: Info, input: LogInteractionInput) -> InteractionPayload:
        interaction = await interaction_service.log_interaction(
            require_viewer(info.context.viewer), _interaction_data(input), _now(info)
        )
        return InteractionPayload(interaction=interaction)

    @strawberry.mutation(
        description="Log up to 1,000 interactions in one transaction (a shop or ERP pushing its orders): "
        "every item is checked like logInteraction; if any fails, nothing is logged and each failure is "
        "reported with its item. Items with an externalId are logged once, however often they are sent. "
        "Costs limits.mutation_cost plus limits.bulk_item_cost per item against the rate limit."
    )
    async def log_interactions(self, info: Info, input: LogInteractionsInput) -> LogInteractionsPayload:
        viewer = require_viewer(info.context.viewer)
        items = input.items
        if len(items) > interaction_service.MAX_BULK_ITEMS:
            raise ValidationError(
                f"at most {interaction_service.MAX_BULK_ITEMS} items per call, {len(items)} sent",
                field="items",
                code="TOO_MANY",
            )
        await _charge_items(info, len(items))
        data, errors = [], {}
        for index, item in enumerate(items):
            try:
                data.append(_interaction_data(item))
            except KehuError as exc:
                data.append(None)
                errors[index] = exc
        valid = [(i, d) for i, d in enumerate(data) if d is not None]
        outcomes = await interaction_service.log_interactions(viewer, [d for _, d in valid], _now(info))
        results = {i: LogInteractionsResult(index=i) for i in range(len(items))}
        for (index, _), outcome in zip(valid, outcomes):
            results[index].interaction = outcome.interaction
            results[index].created = outcome.created
            if outcome.error is not None:
                errors[index] = outcome.error
        user_errors = []
        for index, exc in sorted(errors.items()):
            where = f"items.{index}.{exc.field}" if exc.field else f"items.{index}"
            results[index].user_errors = [UserError(field=exc.field, code=exc.code, message=exc.message)]
            results[index].interaction = None
            user_errors.append(UserError(field=where, code=exc.code, message=exc.message))
        if user_errors:  # nothing is written: every item without an error is rolled back too
            for result in results.values():
                result.interaction, result.created = None, False
        return LogInteractionsPayload(results=list(results.values()), user_errors=user_errors)

    @strawberry.mutation(description="Create an account owner (admins).")
    async def create_account_owner(self, info: Info, input: CreateAccountOwnerInput) -> AccountOwnerPayload:
        owner = await owner_service.create_account_owner(
            require_viewer(info.context.viewer),
            {
                "name": input.name,
                "email": input.email,
                "role": input.role,
                "team": input.team,
                "password": input.password,
            },
        )
        return AccountOwnerPayload(account_owner=owner)

    @strawberry.mutation(description="Change an account owner; only the fields sent change (admins).")
    async def update_account_owner(self, info: Info, input: UpdateAccountOwnerInput) -> AccountOwnerPayload:
        data = _given(input, *owner_service.OWNER_FIELDS)
        owner = await owner_service.update_account_owner(
            require_viewer(info.context.viewer), _pk(input.id, "AccountOwner"), data, _now(info)
        )
        return AccountOwnerPayload(account_owner=owner)

    @strawberry.mutation(description="Create a named API token acting with a role (admins).")
    async def create_api_token(self, info: Info, input: CreateApiTokenInput) -> ApiTokenPayload:
        expires = None
        if input.expires_in_days is not None:
            if not 1 <= input.expires_in_days <= 3650:
                raise ValidationError("must be between 1 and 3650", field="expiresInDays")
            expires = _now(info) + dt.timedelta(days=input.expires_in_days)
        token, row = await owner_service.create_api_token(
            require_viewer(info.context.viewer), input.name, input.role, expires
        )
        return ApiTokenPayload(token=token, api_token=row)

    @strawberry.mutation(description="Deliver a failed (or waiting) event again now, with fresh attempts (admins).")
    async def retry_outbox_event(self, info: Info, input: RetryOutboxEventInput) -> OutboxEventPayload:
        require_viewer(info.context.viewer).require("events.manage")
        event_id = _pk(input.id, "OutboxEvent")
        before = await OutboxEventModel.get_or_none(id=event_id)
        row = await info.context.kehu.outbox.retry(event_id)  # NotFound unless the event exists
        assert before is not None
        record_change("OutboxEvent", row.id, {"state": (before.state, row.state), "attempts": (before.attempts, 0)})
        return OutboxEventPayload(outbox_event=row)

    @strawberry.mutation(description="Revoke an API token: it stops working at once (admins).")
    async def revoke_api_token(self, info: Info, input: RevokeApiTokenInput) -> ApiTokenPayload:
        row = await owner_service.revoke_api_token(
            require_viewer(info.context.viewer), _pk(input.id, "ApiToken"), _now(info)
        )
        return ApiTokenPayload(api_token=row)


def _interaction_data(input: LogInteractionInput) -> dict:
    return {
        "customer_id": _pk(input.customer_id, "Customer", "customerId"),
        "kind": input.kind,
        "direction": input.direction,
        "occurred_at": input.occurred_at,
        "subject": input.subject,
        "notes": input.notes,
        "amount": input.amount,
        "next_follow_up_at": input.next_follow_up_at,
        "owner_id": _pk(input.owner_id, "AccountOwner", "ownerId") if input.owner_id else None,
        "idempotency_key": input.idempotency_key,
        "external_id": input.external_id,
    }


async def _charge_items(info: Info, count: int) -> None:
    """A bulk call costs its items on top of the mutation itself (``RateLimit``
    charged that already): 500 items are not one request's worth of work."""
    ctx = info.context
    limiter = getattr(ctx.kehu, "rate_limiter", None)
    cost = ctx.kehu.config.limits.bulk_item_cost * count
    if limiter is None or not limiter.enabled or cost == 0 or ctx.viewer is None:
        return
    caller = f"token:{ctx.viewer.token_id}" if ctx.viewer.token_id else f"owner:{ctx.viewer.id}"
    wait = await limiter.spend(caller, cost)
    if wait is not None:
        if ctx.response is not None:
            ctx.response.status_code = 429
            ctx.response.headers["Retry-After"] = str(max(1, round(wait)))
        raise KehuError(
            f"rate limit of {limiter.limit} points a minute reached by {count} items; retry in {wait:.0f}s "
            "or send fewer items per call",
            field="items",
            code="RATE_LIMITED",
        )


PUBLIC_QUERIES: frozenset[str] = frozenset()
PUBLIC_MUTATIONS = frozenset({"login"})
SELF_SERVICE_MUTATIONS = frozenset({"logout", "changePassword", "setMyLanguage"})
# Manages its own write scope (see CoreMutation.login).
UNSCOPED_MUTATIONS = frozenset({"login"})
