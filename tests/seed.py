"""Helpers shared by the access, leak, auth and audit tests: records written
straight to the database (for setup), global IDs, and a snapshot of every core
table (to prove that a refused call wrote nothing)."""

from kehu.credentials import issue_token
from kehu.ids import from_global_id, to_global_id
from kehu.models import (
    AccessToken,
    AccountOwner,
    AuditEntry,
    Customer,
    CustomerTag,
    DuplicatePair,
    Interaction,
    InteractionKind,
    TokenKind,
)

CORE_MODELS = (AccountOwner, Customer, CustomerTag, Interaction, AccessToken, AuditEntry, DuplicatePair)


def gid(type_name, pk):
    return to_global_id(type_name, pk)


def pk(global_id):
    return from_global_id(global_id)[1]


def owner_gid(app, account):
    return gid("AccountOwner", app.accounts[account].id)


def add_customer(app, account, name, **fields):
    """Create a customer owned by seeded ``account`` (None: unassigned); returns its pk."""

    async def create():
        owner = app.accounts[account] if account else None
        customer = await Customer.create(name=name, owner=owner, **fields)
        for tag in fields.get("tags", []):
            await CustomerTag.create(customer=customer, tag=tag)
        return customer.id

    return app.run(create)


def add_interaction(app, customer_id, account, kind=InteractionKind.CALL, **fields):
    async def create():
        fields.setdefault("occurred_at", app.clock.now())
        interaction = await Interaction.create(
            customer_id=customer_id, owner=app.accounts[account], kind=kind, **fields
        )
        return interaction.id

    return app.run(create)


def add_api_token(app, name="crm-sync", role="AGENT"):
    """An API token acting as a service account of ``role``; returns the row's pk."""

    async def create():
        service = await AccountOwner.create(
            name=f"API token: {name}", email=f"{name}@service.kehu.invalid", role=role, is_service=True
        )
        _, row = await issue_token(service, TokenKind.API, None, name=name)
        return row.id

    return app.run(create)


def snapshot(app):
    """Every row of every core table. A token's ``last_used_at`` is left out: using a
    token to make a refused request is still a use."""

    async def dump():
        tables = {m.__name__: await m.all().order_by("id").values() for m in CORE_MODELS}
        for row in tables["AccessToken"]:
            del row["last_used_at"]
        return tables

    return app.run(dump)


def audit_entries(app):
    return app.run(lambda: AuditEntry.all().order_by("id").values())


def error_code(body):
    """The code of the first GraphQL error of a response body."""
    assert body.get("errors"), body
    return body["errors"][0]["extensions"]["code"]
