"""Loyalty: a points ledger, membership tiers, a rewards catalogue and referrals.

The plugin's whole contract with the core. Rules are in ``service``, the GraphQL
surface in ``graphql``, the ``kehu loyalty`` commands in ``cli``.
"""

from kehu import hookimpl
from kehu.access import Permission


@hookimpl
def kehu_plugin_info():
    return {
        "api": ">=1,<2",
        "description": "Points ledger, membership tiers, rewards and referrals",
    }


@hookimpl
def kehu_models():
    return {"models": ["kehu.plugins.loyalty.models"], "migrations": "kehu.plugins.loyalty.migrations"}


@hookimpl
def kehu_settings_model():
    from .settings import LoyaltySettings

    return LoyaltySettings


@hookimpl
def kehu_field_policies():
    from kehu.policies import free_text

    # Why points moved is written by staff about one customer: free text.
    return [free_text("LoyaltyLedgerEntry", "reason", "loyalty.LedgerEntry.reason")]


@hookimpl
def kehu_permissions():
    return [
        Permission("loyalty.award", "Award points manually", ("ADMIN", "MANAGER")),
        Permission("loyalty.adjust", "Correct a points balance (either sign, with a reason)", ("ADMIN", "MANAGER")),
        Permission(
            "loyalty.redeem", "Redeem rewards and cancel vouchers for visible customers", ("ADMIN", "MANAGER", "AGENT")
        ),
        Permission("loyalty.refer", "Record referrals between visible customers", ("ADMIN", "MANAGER", "AGENT")),
        Permission("loyalty.rewards", "Create and edit the rewards catalogue", ("ADMIN",)),
        Permission("loyalty.report", "Read the loyalty programme summary", ("ADMIN", "MANAGER", "ANALYST"), read=True),
    ]


@hookimpl
def kehu_graphql(graphql):
    from . import graphql as api

    api.register(graphql)


@hookimpl
async def kehu_interaction_logged(interaction, actor, event_id, kehu):
    from .service import accrue_purchase

    # Once per event (write_scope(event_id=...)) and once per purchase (the ledger
    # entry's key): a repeated delivery credits nothing.
    await accrue_purchase(kehu, interaction, actor, event_id=event_id)


@hookimpl
async def kehu_bulk_loaded(customer_ids, kehu):
    """An import or the demo wrote purchases without events: credit each as of its
    date (dated at the purchase, at the tier held then; what has expired since
    expired in the same run). Idempotent: a repeated delivery credits nothing new."""
    from .service import catch_up

    await catch_up(kehu, customer_ids)


@hookimpl
async def kehu_customers_merged(survivor, merged, kehu):
    """Ledger, vouchers, tier history and referrals move to the survivor; its
    balance is recomputed from the ledger and its tier is the best earned."""
    from .service import merge_members

    return await merge_members(kehu, survivor.id, [c.id for c in merged])


@hookimpl
def kehu_startup(kehu):
    from .service import start_scheduler

    start_scheduler(kehu)


@hookimpl
async def kehu_shutdown(kehu):
    from .service import stop_scheduler

    await stop_scheduler(kehu)


@hookimpl
def kehu_commands(subparsers):
    from .cli import add_commands

    add_commands(subparsers)


@hookimpl(optionalhook=True)
def kehu_console_messages():
    """The console's texts for this plugin's vocabulary and panels (messages/<language>.json)."""
    from pathlib import Path

    from kehu.i18n import read_catalogues

    return read_catalogues(Path(__file__).parent / "messages")
