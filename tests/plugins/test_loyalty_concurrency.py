"""Loyalty under concurrency: tests a naive read-modify-write implementation fails.

Each call runs in its own write scope (as every GraphQL mutation does) and they
are started together with ``asyncio.gather`` on the app's event loop: on
PostgreSQL they run on separate pooled connections, on SQLite they queue for the
one connection. Some go through HTTP (the ASGI app) for the full stack.
"""

import asyncio

import httpx
from loyalty_helpers import attempt, award, balance, gid, loyalty_app, make_customer

from kehu.models import Interaction, InteractionKind
from kehu.plugins.loyalty import service
from kehu.plugins.loyalty.models import LedgerEntry, Redemption, Reward


async def _reward(app, cost: int, stock=None) -> Reward:
    now = app.clock.now()
    return await Reward.create(name="Voucher", points_cost=cost, stock=stock, created_at=now, updated_at=now)


def _redeem_call(app, customer_id, reward_id, key, who="agent"):
    return attempt(app, who, "redeemReward", service.redeem_reward, customer_id, reward_id, key)


def test_two_hundred_concurrent_redemptions_against_a_balance_for_ten_exactly_ten_succeed(make_app):
    app = loyalty_app(make_app)

    async def scenario():
        customer = await make_customer(app)
        await award(app, customer.id, 1000, "funding")
        reward = await _reward(app, 100)
        results = await asyncio.gather(*(_redeem_call(app, customer.id, reward.id, f"r{i}") for i in range(200)))
        return customer.id, results

    customer_id, results = app.run(scenario)
    succeeded = [r for r in results if not isinstance(r, str)]
    assert len(succeeded) == 10
    assert [r for r in results if isinstance(r, str)] == ["INSUFFICIENT_POINTS"] * 190
    assert len({voucher.code for voucher, _ in succeeded}) == 10
    assert app.run(balance, customer_id) == 0
    assert app.run(service.check_ledger) == []


def test_stock_of_five_with_fifty_concurrent_redeemers_issues_five_vouchers(make_app):
    app = loyalty_app(make_app)

    async def scenario():
        reward = await _reward(app, 10, stock=5)
        customers = [await make_customer(app, f"C{i}") for i in range(50)]
        for c in customers:
            await award(app, c.id, 10, "funding")
        results = await asyncio.gather(*(_redeem_call(app, c.id, reward.id, "order") for c in customers))
        await reward.refresh_from_db()
        return reward, results

    reward, results = app.run(scenario)
    assert sum(1 for r in results if not isinstance(r, str)) == 5
    assert sorted(r for r in results if isinstance(r, str)) == ["OUT_OF_STOCK"] * 45
    assert reward.stock == 0
    assert app.run(lambda: Redemption.all().count()) == 5
    assert app.run(service.check_ledger) == []  # refused redeemers kept their points


def test_the_same_idempotency_key_sent_concurrently_is_applied_once(make_app):
    app = loyalty_app(make_app)

    async def scenario():
        customer = await make_customer(app)
        results = await asyncio.gather(*(award(app, customer.id, 25, "same-key") for _ in range(30)))
        return customer.id, results

    customer_id, results = app.run(scenario)
    assert len({posting.entry.id for posting in results}) == 1
    assert sum(posting.created for posting in results) == 1
    assert app.run(balance, customer_id) == 25
    assert app.run(lambda: LedgerEntry.filter(customer_id=customer_id).count()) == 1


def test_the_same_redemption_key_sent_concurrently_issues_one_voucher(make_app):
    app = loyalty_app(make_app)

    async def scenario():
        customer = await make_customer(app)
        await award(app, customer.id, 500, "funding")
        reward = await _reward(app, 100)
        results = await asyncio.gather(*(_redeem_call(app, customer.id, reward.id, "cart-7") for _ in range(20)))
        return customer.id, results

    customer_id, results = app.run(scenario)
    assert len({voucher.id for voucher, _ in results}) == 1
    assert app.run(balance, customer_id) == 400


def test_concurrent_accruals_and_awards_lose_no_points(make_app):
    app = loyalty_app(make_app, tiers=[{"name": "member"}])

    async def scenario():
        customer = await make_customer(app)
        purchases = [
            await Interaction.create(
                customer_id=customer.id, kind=InteractionKind.PURCHASE, amount=10, occurred_at=app.clock.now()
            )
            for _ in range(50)
        ]
        await asyncio.gather(
            *(service.accrue_purchase(app.kehu, p) for p in purchases),
            *(service.accrue_purchase(app.kehu, p) for p in purchases),  # every event delivered twice
            *(award(app, customer.id, 1, f"a{i}") for i in range(50)),
        )
        return customer.id

    customer_id = app.run(scenario)
    assert app.run(balance, customer_id) == 50 * 10 + 50
    assert app.run(service.check_ledger) == []


def test_mixed_concurrent_awards_redemptions_cancellations_and_expiry_keep_every_balance_equal_to_its_ledger(make_app):
    app = loyalty_app(make_app, expiry_days=30)

    async def scenario():
        customers = [await make_customer(app, f"C{i}") for i in range(5)]
        reward = await _reward(app, 40, stock=20)
        for c in customers:
            await award(app, c.id, 100, "old")
        app.clock.advance(days=31)  # the first 100 points of everyone are now expired
        first = await asyncio.gather(
            *(award(app, c.id, 60, f"new{i}") for i, c in enumerate(customers)),
            *(_redeem_call(app, c.id, reward.id, f"r{j}") for c in customers for j in range(3)),
            service.expire_points(app.kehu),
            service.expire_points(app.kehu),
        )
        vouchers = [r[0] for r in first if isinstance(r, tuple)]
        await asyncio.gather(
            *(attempt(app, "agent", "cancelRedemption", service.cancel_redemption, v.id) for v in vouchers),
            *(attempt(app, "agent", "cancelRedemption", service.cancel_redemption, v.id) for v in vouchers),
            service.expire_points(app.kehu),
        )
        return [c.id for c in customers], reward.id

    ids, reward_id = app.run(scenario)
    assert app.run(service.check_ledger) == []
    assert all(app.run(balance, pk) >= 0 for pk in ids)
    # Every voucher was cancelled once: all stock is back.
    assert app.run(lambda: Reward.get(id=reward_id)).stock == 20


def test_concurrent_http_redemptions_over_the_api_never_overdraw(make_app):
    app = loyalty_app(make_app)
    customer = app.run(make_customer, app)
    app.run(award, app, customer.id, 300, "funding")
    reward = app.run(_reward, app, 100)
    query = """mutation($input: RedeemRewardInput!) {
      redeemReward(input: $input) { voucher { code } userErrors { code } } }"""

    async def scenario():
        transport = httpx.ASGITransport(app=app.app)
        headers = {"Authorization": f"Bearer {app.tokens['agent']}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://kehu") as client:

            async def one(i):
                variables = {
                    "input": {
                        "customerId": gid("Customer", customer.id),
                        "rewardId": gid("Reward", reward.id),
                        "idempotencyKey": f"http-{i % 12}",
                    }
                }  # 24 requests, 12 distinct keys
                response = await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
                return response.json()["data"]["redeemReward"]

            return await asyncio.gather(*(one(i) for i in range(24)))

    results = app.run(scenario)
    codes = {r["voucher"]["code"] for r in results if r["voucher"]}
    assert len(codes) == 3  # 300 points, 100 each; retries of a key return the same voucher
    assert {e["code"] for r in results for e in r["userErrors"]} == {"INSUFFICIENT_POINTS"}
    assert app.run(balance, customer.id) == 0
    assert app.run(service.check_ledger) == []
