"""Shared set-up for the loyalty tests: customers, service calls in write scopes."""

from __future__ import annotations

from typing import Any

from kehu.errors import KehuError
from kehu.models import Customer
from kehu.plugins.loyalty import service
from kehu.plugins.loyalty.models import LoyaltyAccount
from kehu.writes import write_scope

# member ×1, silver ×1.25 from 1,000 points, gold ×1.5 from 5,000.
TIERS = [
    {"name": "member"},
    {"name": "silver", "min_points": 1000, "multiplier": "1.25", "benefits": ["Free delivery"]},
    {
        "name": "gold",
        "min_points": 5000,
        "multiplier": "1.5",
        "benefits": ["Free delivery", "Lounge access"],
        "description": "Our best customers",
    },
]


def loyalty_app(make_app, **settings: Any):
    base = {"tiers": TIERS, "schedule_hours": 0}
    return make_app(enabled=("loyalty",), settings={"loyalty": {**base, **settings}})


def viewer(app, name: str = "admin"):
    return service.viewer_for(app.kehu, app.accounts[name])


async def make_customer(app, name: str = "Li Lei", owner: str = "agent", **fields: Any) -> Customer:
    return await Customer.create(name=name, owner_id=app.accounts[owner].id, **fields)


async def in_scope(app, who: str, operation: str, fn, *args: Any):
    """Run ``fn(kehu, viewer, *args)`` in its own write scope, as a mutation does."""
    async with write_scope(app.kehu, viewer(app, who), operation):
        return await fn(app.kehu, viewer(app, who), *args)


async def attempt(app, who: str, operation: str, fn, *args: Any):
    """Like ``in_scope`` but returns the error code instead of raising domain errors."""
    try:
        return await in_scope(app, who, operation, fn, *args)
    except KehuError as exc:
        return exc.code


async def award(app, customer_id: int, points: int, key: str, who: str = "admin"):
    return await in_scope(app, who, "awardPoints", service.award_points, customer_id, points, "test", key)


async def balance(customer_id: int) -> int:
    account = await LoyaltyAccount.get_or_none(customer_id=customer_id)
    return account.balance if account else 0


def gid(type_name: str, pk: int) -> str:
    from kehu.ids import to_global_id

    return to_global_id(type_name, pk)
