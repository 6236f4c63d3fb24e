"""The core registers itself like any plugin: its models, permissions and the
personal fields it holds come through the same hooks a third party uses."""

from ..access import CORE_PERMISSIONS
from ..hookspecs import hookimpl
from ..policies import FieldPolicy, Strategy, free_text


@hookimpl
def kehu_models():
    return {"models": ["kehu.models"], "migrations": "kehu.migrations"}


@hookimpl
def kehu_permissions():
    return list(CORE_PERMISSIONS)


@hookimpl
def kehu_field_policies():
    # Owners see their customers in clear; analysts see pseudonyms or partial values.
    staff = {"ADMIN": Strategy.CLEAR, "MANAGER": Strategy.CLEAR, "AGENT": Strategy.CLEAR}
    partial = {**staff, "ANALYST": Strategy.PARTIAL}
    return [
        FieldPolicy("Customer", "name", kind="name", roles=partial, columns=("core.Customer.name",)),
        FieldPolicy("Customer", "email", kind="email", roles=partial, columns=("core.Customer.email",)),
        FieldPolicy("Customer", "phone", kind="phone", roles=partial, columns=("core.Customer.phone",)),
        FieldPolicy(
            "Customer",
            "address",
            kind="address",
            roles={**staff, "ANALYST": Strategy.REDACT},
            columns=("core.Customer.address",),
        ),
        # Free text (kehu.policies.FREE_TEXT_ROLES): plugins log their notes here too.
        free_text("Interaction", "subject", "core.Interaction.subject"),
        free_text("Interaction", "notes", "core.Interaction.notes"),
        # Why two customers are not one ("mother and daughter"), as its decider wrote it.
        free_text("DuplicateCandidate", "note", "core.DuplicatePair.note"),
    ]


@hookimpl
async def kehu_startup(kehu):
    # Customers stored without their normalised keys (written before keys existed,
    # or by a raw insert) get them now; with none, this is one indexed query. Not
    # before the core's migrations: `kehu init` starts plugins, then migrates (the
    # next start-up does it).
    from ..duplicates import rekey
    from .db import pending_migrations

    if not await pending_migrations(kehu.ctx, {"core": kehu.apps["core"]}):
        await rekey(kehu, only_missing=True)


@hookimpl
async def kehu_bulk_loaded(kehu):
    from ..duplicates import rekey

    await rekey(kehu, only_missing=True)
