"""The core registers itself like any plugin: its models, permissions and the
personal fields it holds come through the same hooks a third party uses."""

from ..access import CORE_PERMISSIONS
from ..hookspecs import hookimpl
from ..policies import FieldPolicy, Strategy


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
    return [
        FieldPolicy("Customer", "name", kind="name", roles={**staff, "ANALYST": Strategy.PARTIAL}),
        FieldPolicy("Customer", "email", kind="email", roles={**staff, "ANALYST": Strategy.PARTIAL}),
        FieldPolicy("Customer", "phone", kind="phone", roles={**staff, "ANALYST": Strategy.PARTIAL}),
        FieldPolicy("Customer", "address", kind="address", roles={**staff, "ANALYST": Strategy.REDACT}),
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
