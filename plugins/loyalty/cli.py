"""``kehu loyalty``: the plugin's commands (expire, check, accrue). Each imports
the service when it runs: building the parser (``kehu --help``) need not load it."""

import datetime as dt


def add_commands(subparsers) -> None:
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
    from . import service

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
    from . import service

    problems = await service.check_ledger()
    for problem in problems:
        print(f"customer {problem.customer_id}: {problem.problem}")
    print("ledger OK: every balance equals its ledger sum" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


async def _accrue_command(kehu, args):
    from . import service

    count = await service.accrue_missing(kehu)
    print(f"accrued {count} purchase(s)")
    return 0
