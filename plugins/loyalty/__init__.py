"""Loyalty: a points ledger, membership tiers, a rewards catalogue and referrals.

The plugin's whole contract with the core. Rules are in ``service.py``; the
GraphQL surface in ``graphql.py``.
"""

import datetime as dt

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
    parser = subparsers.add_parser("loyalty", help="loyalty programme jobs: expire points, check the ledger")
    jobs = parser.add_subparsers(dest="loyalty_command", required=True)
    expire = jobs.add_parser("expire", help="expire points past their date, then review tiers (run daily)")
    expire.add_argument(
        "--at", type=dt.datetime.fromisoformat, default=None, help="treat this ISO time as now (UTC if no offset)"
    )
    expire.add_argument("--no-tier-review", action="store_true", help="skip the tier review")
    expire.set_defaults(handler=_expire_command)
    check = jobs.add_parser("check", help="verify that every balance equals its ledger sum; exit 1 if not")
    check.set_defaults(handler=_check_command)
    accrue = jobs.add_parser("accrue", help="credit purchases that have no points yet (safe to repeat)")
    accrue.set_defaults(handler=_accrue_command)


async def _expire_command(kehu, args):
    now = args.at
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    report = await service.expire_points(kehu, now)
    print(f"expired {report.points} points of {report.customers} customer(s)")
    if not args.no_tier_review:
        review = await service.review_tiers(kehu, now)
        print(
            f"tiers: {review.upgraded} upgraded, {review.downgraded} downgraded, {review.kept_in_grace} kept in grace period"
        )
    return 0


async def _check_command(kehu, args):
    problems = await service.check_ledger()
    for problem in problems:
        print(f"customer {problem.customer_id}: {problem.problem}")
    print("ledger OK: every balance equals its ledger sum" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


async def _accrue_command(kehu, args):
    count = await service.accrue_missing(kehu)
    print(f"accrued {count} purchase(s)")
    return 0
