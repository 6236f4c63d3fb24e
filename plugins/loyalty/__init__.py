"""Loyalty: a points ledger, membership tiers, a rewards catalogue and referrals.

The plugin's whole contract with the core. Rules are in ``service``, the GraphQL
surface in ``graphql``, the ``kehu loyalty`` commands in ``cli``.
"""

from kehu import hookimpl, jobs
from kehu.access import Permission

from . import service
from .settings import LoyaltySettings

SCHEDULE = "loyalty.expiry-and-tiers"


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
    return LoyaltySettings


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
async def kehu_interaction_logged(interaction, actor, kehu):
    await service.accrue_purchase(kehu, interaction, actor)


@hookimpl
async def kehu_bulk_loaded(kehu):
    """An import or the demo wrote purchases without events: credit them now."""
    await service.accrue_missing(kehu)


@hookimpl
def kehu_startup(kehu):
    hours = service.settings_of(kehu).schedule_hours
    if hours:  # one worker runs it, however many serve
        jobs.every(kehu, SCHEDULE, hours * 3600, lambda: service.scheduled_round(kehu))


@hookimpl
async def kehu_shutdown(kehu):
    await jobs.stop(kehu, SCHEDULE)


@hookimpl
def kehu_commands(subparsers):
    from .cli import add_commands

    add_commands(subparsers)
