"""The loyalty plugin: ledger, earning, tiers, rewards, referrals, expiry, GraphQL.

Domain rules are exercised through ``service`` (each call in its own write scope,
as a mutation runs); the API through HTTP with real GraphQL documents.
"""

import argparse
import datetime as dt
import re
from decimal import Decimal

import pytest
from loyalty_helpers import award, balance, gid, loyalty_app, make_customer

from kehu.config import parse_config
from kehu.errors import PluginError
from kehu.models import Interaction, InteractionKind, OutboxEvent, OutboxState
from kehu.plugins import loyalty as plugin
from kehu.plugins.loyalty import service
from kehu.plugins.loyalty.models import EntryKind, LedgerEntry, LoyaltyAccount, Referral
from kehu.plugins.loyalty.settings import LoyaltySettings, TierSettings
from kehu.server.runtime import Kehu

LOYALTY = """
query($id: ID!) { customer(id: $id) { loyalty {
  balance lifetimePoints tier { name benefits multiplier } nextTier { name minPoints } pointsToNextTier
  ledger(first: 10) { totalCount edges { node { kind points balanceAfter reason } } }
  vouchers { code status points reward { name } }
  tierHistory { fromTier toTier reason }
} } }
"""
LOG_PURCHASE = """
mutation($c: ID!, $amount: String!) {
  logInteraction(input: {customerId: $c, kind: PURCHASE, amount: $amount}) { interaction { id } userErrors { code } }
}
"""
AWARD = """
mutation($input: AwardPointsInput!) {
  awardPoints(input: $input) { entry { id kind points balanceAfter } replayed userErrors { field code message } }
}
"""
ADJUST = """
mutation($input: AdjustPointsInput!) {
  adjustPoints(input: $input) { entry { points balanceAfter } userErrors { field code message } }
}
"""
CREATE_REWARD = """
mutation($input: CreateRewardInput!) {
  createReward(input: $input) { reward { id name pointsCost stock minTier active } userErrors { field code message } }
}
"""
REDEEM = """
mutation($input: RedeemRewardInput!) {
  redeemReward(input: $input) {
    voucher { id code status points reward { name } } replayed
    customer { loyalty { balance } }
    userErrors { field code message }
  }
}
"""
CANCEL = """
mutation($id: ID!) {
  cancelRedemption(input: {voucherId: $id}) { voucher { status cancelledAt } customer { loyalty { balance } } userErrors { code } }
}
"""
REFER = """
mutation($a: ID!, $b: ID!) {
  recordReferral(input: {referrerId: $a, refereeId: $b}) {
    referral { referrer { name } referee { name } rewardedAt } userErrors { field code message }
  }
}
"""


def loyalty_of(app, customer_id, as_="admin"):
    return app.data(LOYALTY, {"id": gid("Customer", customer_id)}, as_=as_)["customer"]["loyalty"]


def create_reward(app, **fields):
    data = app.data(CREATE_REWARD, {"input": {"name": "Tea set", "pointsCost": 100, **fields}}, as_="admin")
    assert data["createReward"]["userErrors"] == []
    return data["createReward"]["reward"]["id"]


def redeem(app, customer_id, reward_id, key, as_="agent"):
    return app.data(
        REDEEM,
        {"input": {"customerId": gid("Customer", customer_id), "rewardId": reward_id, "idempotencyKey": key}},
        as_=as_,
    )["redeemReward"]


def purchase(app, customer_id, amount, as_="agent"):
    data = app.data(LOG_PURCHASE, {"c": gid("Customer", customer_id), "amount": amount}, as_=as_)
    assert data["logInteraction"]["userErrors"] == []
    return data["logInteraction"]["interaction"]["id"]


# --------------------------------------------------------------------------- earning


def test_purchase_of_250_at_1_5x_tier_adds_375_points_once_even_when_the_event_repeats(make_app):
    app = loyalty_app(make_app, points_per_unit="1")
    customer = app.run(make_customer, app)
    app.run(award, app, customer.id, 5000, "to-gold")  # reaches gold (×1.5) at once
    assert loyalty_of(app, customer.id)["tier"]["name"] == "gold"

    interaction_id = purchase(app, customer.id, "250.00")
    assert loyalty_of(app, customer.id)["balance"] == 5375

    async def redeliver():  # the event arrives again (a retry after a crash, a replayed queue)
        pk = int(__import__("base64").urlsafe_b64decode(interaction_id + "==").decode().split(":")[1])
        interaction = await Interaction.get(id=pk).prefetch_related("customer")
        await OutboxEvent.filter(name="kehu_interaction_logged").update(state=OutboxState.PENDING)
        assert (await app.kehu.outbox.run_once()).delivered == 1
        await service.accrue_purchase(app.kehu, interaction)  # and once more, without an event id
        return await LedgerEntry.filter(interaction_id=pk, kind=EntryKind.EARN).values_list("points", flat=True)

    assert app.run(redeliver) == [375]
    assert loyalty_of(app, customer.id)["balance"] == 5375


@pytest.mark.parametrize(
    "amount, rounding, expected",
    [("99.99", "down", 99), ("99.99", "half_up", 100), ("10.49", "half_up", 10), ("0.99", "down", 0)],
)
def test_purchase_points_are_rounded_once_with_the_configured_rule(amount, rounding, expected):
    settings = LoyaltySettings(rounding=rounding)
    assert service.purchase_points(settings, Decimal(amount), settings.base_tier) == expected


def test_points_per_unit_and_tier_multiplier_are_decimal_exact():
    settings = LoyaltySettings(points_per_unit=Decimal("0.1"))
    tier = TierSettings(name="x", multiplier=Decimal("1.1"))
    # 0.1 × 1.1 × 300 = 33 exactly (binary floats would give 33.000000000000004 or 32.99…)
    assert service.purchase_points(settings, Decimal("300"), tier) == 33


def test_first_purchase_bonus_and_birthday_month_multiplier(make_app):
    app = loyalty_app(make_app, first_purchase_bonus=50, birthday_multiplier="2")
    # The harness clock stands on 2026-01-01: a January birthday.
    customer = app.run(lambda: make_customer(app, "Han Meimei", attributes={"birthday": "1990-01-15"}))
    purchase(app, customer.id, "100")
    purchase(app, customer.id, "10")
    kinds = [(e["node"]["kind"], e["node"]["points"]) for e in loyalty_of(app, customer.id)["ledger"]["edges"]]
    assert sorted(kinds) == sorted([("EARN", 200), ("BONUS", 50), ("EARN", 20)])


def test_non_purchase_interactions_earn_nothing(make_app):
    app = loyalty_app(make_app)
    customer = app.run(make_customer, app)
    app.data(
        "mutation($c: ID!) { logInteraction(input: {customerId: $c, kind: CALL}) { userErrors { code } } }",
        {"c": gid("Customer", customer.id)},
        as_="agent",
    )
    assert loyalty_of(app, customer.id)["balance"] == 0


def test_accrue_command_credits_purchases_the_handler_missed_once(make_app):
    app = loyalty_app(make_app)
    customer = app.run(make_customer, app)

    async def purchase_without_event():
        return await Interaction.create(
            customer_id=customer.id,
            kind=InteractionKind.PURCHASE,
            amount=Decimal("42.50"),
            occurred_at=app.clock.now(),
        )

    app.run(purchase_without_event)
    args = _cli(["loyalty", "accrue"])
    assert app.run(args.handler, app.kehu, args) == 0
    assert app.run(args.handler, app.kehu, args) == 0
    assert app.run(balance, customer.id) == 42


# --------------------------------------------------------------------------- manual awards and adjustments


def test_award_retried_with_the_same_key_returns_the_first_result_and_changes_nothing(make_app):
    app = loyalty_app(make_app)
    customer = app.run(make_customer, app)
    variables = {
        "input": {
            "customerId": gid("Customer", customer.id),
            "points": 120,
            "reason": "apology",
            "idempotencyKey": "ticket-88",
        }
    }
    first = app.data(AWARD, variables, as_="manager")["awardPoints"]
    again = app.data(AWARD, variables, as_="manager")["awardPoints"]
    assert first["replayed"] is False and again["replayed"] is True
    assert again["entry"] == first["entry"] and first["entry"]["balanceAfter"] == 120
    assert loyalty_of(app, customer.id)["balance"] == 120


def test_reusing_a_key_for_a_different_request_is_refused(make_app):
    app = loyalty_app(make_app)
    customer = app.run(make_customer, app)
    base = {"customerId": gid("Customer", customer.id), "reason": "x", "idempotencyKey": "k"}
    app.data(AWARD, {"input": {**base, "points": 10}}, as_="admin")
    errors = app.data(AWARD, {"input": {**base, "points": 11}}, as_="admin")["awardPoints"]["userErrors"]
    assert errors[0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert loyalty_of(app, customer.id)["balance"] == 10


def test_agents_may_not_award_points(make_app):
    app = loyalty_app(make_app)
    customer = app.run(make_customer, app)
    body = app.gql(
        AWARD,
        {"input": {"customerId": gid("Customer", customer.id), "points": 10, "reason": "x", "idempotencyKey": "k"}},
        as_="agent",
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert app.run(balance, customer.id) == 0


def test_manager_cannot_award_points_to_another_teams_customer(make_app):
    app = loyalty_app(make_app)
    customer = app.run(make_customer, app, "South customer", "agent_south")
    data = app.data(
        AWARD,
        {"input": {"customerId": gid("Customer", customer.id), "points": 10, "reason": "x", "idempotencyKey": "k"}},
        as_="manager",
    )
    assert data["awardPoints"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert app.run(balance, customer.id) == 0


@pytest.mark.parametrize(
    "points, reason, field, code",
    [
        (0, "x", "points", "INVALID_POINTS"),
        (-5, "x", "points", "INVALID_POINTS"),
        (10, "  ", "reason", "REQUIRED"),
        (10**9, "x", "points", "TOO_LARGE"),
    ],
)
def test_award_input_is_validated(make_app, points, reason, field, code):
    app = loyalty_app(make_app)
    customer = app.run(make_customer, app)
    data = app.data(
        AWARD,
        {
            "input": {
                "customerId": gid("Customer", customer.id),
                "points": points,
                "reason": reason,
                "idempotencyKey": "k",
            }
        },
        as_="admin",
    )
    assert data["awardPoints"]["userErrors"][0]["field"] == field
    assert data["awardPoints"]["userErrors"][0]["code"] == code


def test_negative_adjustment_never_drives_the_balance_below_zero(make_app):
    app = loyalty_app(make_app)
    customer = app.run(make_customer, app)
    app.run(award, app, customer.id, 30, "a")
    base = {"customerId": gid("Customer", customer.id), "reason": "duplicate award"}
    refused = app.data(ADJUST, {"input": {**base, "points": -31, "idempotencyKey": "adj1"}}, as_="manager")
    assert refused["adjustPoints"]["userErrors"][0]["code"] == "INSUFFICIENT_POINTS"
    done = app.data(ADJUST, {"input": {**base, "points": -30, "idempotencyKey": "adj2"}}, as_="manager")
    assert done["adjustPoints"]["entry"] == {"points": -30, "balanceAfter": 0}
    loyalty = loyalty_of(app, customer.id)
    assert loyalty["balance"] == 0 and loyalty["lifetimePoints"] == 0  # a correction corrects lifetime too


def test_a_repeated_debit_answers_with_its_first_result_once_the_balance_is_spent(make_app):
    # A credit's key is checked by the ledger's unique key on insert; a debit's is
    # looked up first, or the retry would meet the balance it spent itself.
    app = loyalty_app(make_app)
    customer = app.run(make_customer, app)
    app.run(award, app, customer.id, 30, "a")
    adjust = {"customerId": gid("Customer", customer.id), "reason": "refund", "points": -30, "idempotencyKey": "r1"}
    first = app.data(ADJUST, {"input": adjust}, as_="manager")["adjustPoints"]
    again = app.data(ADJUST, {"input": adjust}, as_="manager")["adjustPoints"]
    assert first == again == {"entry": {"points": -30, "balanceAfter": 0}, "userErrors": []}
    assert loyalty_of(app, customer.id)["balance"] == 0


# --------------------------------------------------------------------------- tiers


def test_upgrade_is_immediate_and_recorded_in_tier_history(make_app):
    app = loyalty_app(make_app)
    customer = app.run(make_customer, app)
    app.run(award, app, customer.id, 999, "a")
    before = loyalty_of(app, customer.id)
    assert before["tier"]["name"] == "member" and before["pointsToNextTier"] == 1
    assert before["nextTier"] == {"name": "silver", "minPoints": 1000}
    app.run(award, app, customer.id, 1, "b")
    after = loyalty_of(app, customer.id)
    assert after["tier"] == {"name": "silver", "benefits": ["Free delivery"], "multiplier": "1.25"}
    assert after["tierHistory"] == [
        {"fromTier": None, "toTier": "member", "reason": "JOINED"},
        {"fromTier": "member", "toTier": "silver", "reason": "UPGRADE"},
    ]


def test_a_purchase_earns_at_the_tier_held_on_its_date(make_app):
    # Silver (×1.25) from day 10: a purchase dated day 5 earns at member (×1), one
    # dated now at silver. The first reads the tier history, the second the account.
    app = loyalty_app(make_app)
    customer = app.run(make_customer, app)
    app.run(award, app, customer.id, 1, "joined")
    app.clock.advance(days=10)
    app.run(award, app, customer.id, 999, "upgrade")
    assert loyalty_of(app, customer.id)["tier"]["name"] == "silver"
    log = "mutation($i: LogInteractionInput!) { logInteraction(input: $i) { userErrors { code } } }"
    back_dated = (app.clock.now() - dt.timedelta(days=5)).isoformat()
    for occurred_at in (back_dated, None):
        purchase = {"customerId": gid("Customer", customer.id), "kind": "PURCHASE", "amount": "100"}
        if occurred_at:
            purchase["occurredAt"] = occurred_at
        assert app.data(log, {"i": purchase}, as_="agent")["logInteraction"]["userErrors"] == []
    assert loyalty_of(app, customer.id)["balance"] == 1000 + 100 + 125


def test_downgrade_waits_for_the_grace_period_of_the_scheduled_review(make_app):
    app = loyalty_app(make_app, tier_window_days=30, tier_grace_days=10)
    customer = app.run(make_customer, app)
    app.run(award, app, customer.id, 1000, "a")
    assert loyalty_of(app, customer.id)["tier"]["name"] == "silver"

    app.clock.advance(days=31)  # the points fall out of the 30-day window
    report = app.run(service.review_tiers, app.kehu)
    assert (report.downgraded, report.kept_in_grace) == (1, 0)  # grace ran out on day 10
    loyalty = loyalty_of(app, customer.id)
    assert loyalty["tier"]["name"] == "member"
    assert loyalty["tierHistory"][-1] == {"fromTier": "silver", "toTier": "member", "reason": "DOWNGRADE"}


def test_member_within_grace_keeps_the_tier(make_app):
    app = loyalty_app(make_app, tier_window_days=30, tier_grace_days=60)
    customer = app.run(make_customer, app)
    app.run(award, app, customer.id, 1000, "a")
    app.clock.advance(days=31)
    report = app.run(service.review_tiers, app.kehu)
    assert report.kept_in_grace == 1
    assert loyalty_of(app, customer.id)["tier"]["name"] == "silver"


# --------------------------------------------------------------------------- rewards and vouchers


def test_redeeming_issues_a_unique_voucher_and_a_retry_returns_the_same_one(make_app):
    app = loyalty_app(make_app)
    customer = app.run(make_customer, app)
    app.run(award, app, customer.id, 250, "a")
    reward = create_reward(app, stock=10)
    first = redeem(app, customer.id, reward, "order-1")
    again = redeem(app, customer.id, reward, "order-1")
    other = redeem(app, customer.id, reward, "order-2")
    assert first["userErrors"] == [] and first["replayed"] is False and again["replayed"] is True
    assert again["voucher"] == first["voucher"]
    assert first["voucher"]["code"] != other["voucher"]["code"]
    assert first["voucher"]["code"].startswith("KH-")
    assert other["customer"]["loyalty"]["balance"] == 50
    assert [v["status"] for v in loyalty_of(app, customer.id)["vouchers"]] == ["ISSUED", "ISSUED"]


def test_redemption_refusals_are_user_errors(make_app):
    app = loyalty_app(make_app)
    customer = app.run(make_customer, app)
    app.run(award, app, customer.id, 150, "a")
    cases = {
        "INSUFFICIENT_POINTS": create_reward(app, name="Bike", pointsCost=1000),
        "OUT_OF_STOCK": create_reward(app, name="Sold out", stock=0),
        "TIER_TOO_LOW": create_reward(app, name="Lounge", minTier="gold"),
        "REWARD_INACTIVE": create_reward(app, name="Next year", activeFrom="2027-01-01T00:00:00Z"),
    }
    for code, reward in cases.items():
        result = redeem(app, customer.id, reward, f"try-{code}")
        assert result["voucher"] is None
        assert [e["code"] for e in result["userErrors"]] == [code]
    assert loyalty_of(app, customer.id)["balance"] == 150
    assert app.run(service.check_ledger) == []


def test_reward_input_is_validated_and_admin_only(make_app):
    app = loyalty_app(make_app)
    data = app.data(CREATE_REWARD, {"input": {"name": "X", "pointsCost": 10, "minTier": "diamond"}}, as_="admin")
    assert data["createReward"]["userErrors"][0]["code"] == "UNKNOWN_TIER"
    data = app.data(CREATE_REWARD, {"input": {"name": "X", "pointsCost": 0}}, as_="admin")
    assert data["createReward"]["userErrors"][0]["field"] == "pointsCost"
    body = app.gql(CREATE_REWARD, {"input": {"name": "X", "pointsCost": 10}}, as_="manager")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_update_reward_changes_only_the_fields_sent(make_app):
    app = loyalty_app(make_app)
    reward = create_reward(app, stock=3, minTier="silver")
    data = app.data(
        "mutation($id: ID!) { updateReward(input: {id: $id, pointsCost: 80, stock: null}) "
        "{ reward { name pointsCost stock minTier } userErrors { code } } }",
        {"id": reward},
        as_="admin",
    )
    assert data["updateReward"]["reward"] == {"name": "Tea set", "pointsCost": 80, "stock": None, "minTier": "silver"}


def test_rewards_query_lists_active_rewards_cheapest_first(make_app):
    app = loyalty_app(make_app)
    create_reward(app, name="Umbrella", pointsCost=300)
    create_reward(app, name="Mug", pointsCost=100)
    create_reward(app, name="Expired", pointsCost=50, activeUntil="2025-06-01T00:00:00Z")
    data = app.data("{ rewards { totalCount edges { node { name } } } }", as_="agent")
    assert [e["node"]["name"] for e in data["rewards"]["edges"]] == ["Mug", "Umbrella"]
    data = app.data("{ rewards(includeInactive: true) { totalCount } }", as_="agent")
    assert data["rewards"]["totalCount"] == 3


def test_cancellation_within_the_window_refunds_points_and_restocks(make_app):
    app = loyalty_app(make_app, cancellation_window_hours=48)
    customer = app.run(make_customer, app)
    app.run(award, app, customer.id, 100, "a")
    reward = create_reward(app, stock=1)
    voucher = redeem(app, customer.id, reward, "o1")["voucher"]["id"]
    app.clock.advance(hours=47)
    result = app.data(CANCEL, {"id": voucher}, as_="agent")["cancelRedemption"]
    assert result["userErrors"] == [] and result["voucher"]["status"] == "CANCELLED"
    assert result["customer"]["loyalty"]["balance"] == 100
    again = app.data(CANCEL, {"id": voucher}, as_="agent")["cancelRedemption"]
    assert again["userErrors"][0]["code"] == "ALREADY_CANCELLED"
    assert loyalty_of(app, customer.id)["balance"] == 100
    stock = app.data("{ rewards { edges { node { stock } } } }", as_="agent")["rewards"]["edges"][0]["node"]["stock"]
    assert stock == 1
    kinds = [e["node"]["kind"] for e in loyalty_of(app, customer.id)["ledger"]["edges"]]
    assert kinds == ["REVERSAL", "REDEEM", "AWARD"]


def test_cancellation_after_the_window_is_refused(make_app):
    app = loyalty_app(make_app, cancellation_window_hours=48)
    customer = app.run(make_customer, app)
    app.run(award, app, customer.id, 100, "a")
    voucher = redeem(app, customer.id, create_reward(app), "o1")["voucher"]["id"]
    app.clock.advance(hours=49)
    result = app.data(CANCEL, {"id": voucher}, as_="agent")["cancelRedemption"]
    assert result["userErrors"][0]["code"] == "CANCELLATION_WINDOW_CLOSED"
    assert loyalty_of(app, customer.id)["balance"] == 0


def test_agent_cannot_redeem_or_see_vouchers_of_another_agents_customer(make_app):
    app = loyalty_app(make_app)
    customer = app.run(make_customer, app)
    app.run(award, app, customer.id, 100, "a")
    reward = create_reward(app)
    refused = redeem(app, customer.id, reward, "x", as_="agent_south")
    assert refused["userErrors"][0]["code"] == "NOT_FOUND"
    voucher = redeem(app, customer.id, reward, "y")["voucher"]["id"]
    assert app.data("query($id: ID!) { node(id: $id) { id } }", {"id": voucher}, as_="agent_south")["node"] is None
    assert (
        app.data(CANCEL, {"id": voucher}, as_="agent_south")["cancelRedemption"]["userErrors"][0]["code"] == "NOT_FOUND"
    )


# --------------------------------------------------------------------------- referrals


def test_referrer_gets_the_bonus_on_the_referees_first_purchase_only(make_app):
    app = loyalty_app(make_app, referral_bonus=300)
    a = app.run(make_customer, app, "Referrer")
    b = app.run(make_customer, app, "Referee")
    result = app.data(REFER, {"a": gid("Customer", a.id), "b": gid("Customer", b.id)}, as_="agent")["recordReferral"]
    assert result["userErrors"] == []
    assert result["referral"]["referrer"]["name"] == "Referrer"
    purchase(app, b.id, "20")
    purchase(app, b.id, "20")
    assert loyalty_of(app, a.id)["balance"] == 300
    assert loyalty_of(app, b.id)["balance"] == 40
    assert app.run(lambda: Referral.get(referee_id=b.id)).rewarded_at is not None


def test_referral_rules_self_cycle_one_referrer_and_new_customers_only(make_app):
    app = loyalty_app(make_app)
    a, b, c, d = (app.run(make_customer, app, name) for name in "ABCD")

    def refer(x, y):
        data = app.data(REFER, {"a": gid("Customer", x.id), "b": gid("Customer", y.id)}, as_="agent")
        return [e["code"] for e in data["recordReferral"]["userErrors"]]

    assert refer(a, a) == ["SELF_REFERRAL"]
    assert refer(a, b) == []
    assert refer(b, c) == []
    assert refer(c, a) == ["REFERRAL_CYCLE"]  # A → B → C → A
    assert refer(b, a) == ["REFERRAL_CYCLE"]
    assert refer(d, b) == ["ALREADY_REFERRED"]  # B already has referrer A
    purchase(app, d.id, "5")
    assert refer(a, d) == ["ALREADY_PURCHASED"]
    assert app.run(lambda: Referral.all().count()) == 2


# --------------------------------------------------------------------------- expiry


def _cli(argv):
    parser = argparse.ArgumentParser(prog="kehu")
    plugin.kehu_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_points_expire_oldest_first_and_expiry_is_in_the_ledger(make_app, capsys):
    app = loyalty_app(make_app, expiry_days=365)
    customer = app.run(make_customer, app)
    start = app.clock.now()
    app.run(award, app, customer.id, 100, "old")  # expires start + 365d
    app.clock.advance(days=200)
    app.run(award, app, customer.id, 50, "newer")  # expires start + 565d
    app.clock.advance(days=50)
    reward = create_reward(app, pointsCost=30)
    redeem(app, customer.id, reward, "r1")  # consumes 30 of the oldest 100

    args = _cli(["loyalty", "expire", "--at", (start + dt.timedelta(days=366)).isoformat()])
    assert app.run(args.handler, app.kehu, args) == 0
    assert "expired 70 points of 1 customer(s)" in capsys.readouterr().out
    assert app.run(args.handler, app.kehu, args) == 0  # idempotent
    assert app.run(balance, customer.id) == 50

    app.run(service.expire_points, app.kehu, start + dt.timedelta(days=566))
    assert app.run(balance, customer.id) == 0
    expiries = [
        e["node"]["points"] for e in loyalty_of(app, customer.id)["ledger"]["edges"] if e["node"]["kind"] == "EXPIRE"
    ]
    assert expiries == [-50, -70]
    assert app.run(service.check_ledger) == []


def test_expiry_disabled_with_zero_days(make_app):
    app = loyalty_app(make_app, expiry_days=0)
    customer = app.run(make_customer, app)
    app.run(award, app, customer.id, 100, "a")
    app.run(service.expire_points, app.kehu, app.clock.now() + dt.timedelta(days=5000))
    assert app.run(balance, customer.id) == 100


# --------------------------------------------------------------------------- check, summary, settings, schema


def test_check_command_reports_a_balance_that_drifted_from_its_ledger(make_app, capsys):
    app = loyalty_app(make_app)
    customer = app.run(make_customer, app)
    app.run(award, app, customer.id, 100, "a")
    args = _cli(["loyalty", "check"])
    assert app.run(args.handler, app.kehu, args) == 0
    assert "ledger OK" in capsys.readouterr().out

    async def tamper():
        await LoyaltyAccount.filter(customer_id=customer.id).update(balance=101)

    app.run(tamper)
    assert app.run(args.handler, app.kehu, args) == 1
    assert f"customer {customer.id}: balance 101 != ledger sum 100" in capsys.readouterr().out


def test_summary_counts_members_per_tier_and_points_per_period(make_app):
    app = loyalty_app(make_app)
    a = app.run(make_customer, app, "A")
    b = app.run(make_customer, app, "B", "agent_south")
    app.run(award, app, a.id, 1200, "a")
    app.run(award, app, b.id, 200, "b")
    redeem(app, a.id, create_reward(app, pointsCost=100), "r")
    app.clock.advance(days=31)
    app.run(service.expire_points, app.kehu, app.clock.now())  # nothing due yet

    query = (
        '{ loyaltySummary(from: "2026-01-01T00:00:00Z", period: MONTH) { membersPerTier { tier members } '
        "periods { start issued redeemed expired outstanding outstandingValue } outstanding outstandingValue } }"
    )
    summary = app.data(query, as_="analyst")["loyaltySummary"]
    assert summary["membersPerTier"] == [
        {"tier": "member", "members": 1},
        {"tier": "silver", "members": 1},
        {"tier": "gold", "members": 0},
    ]
    assert summary["periods"][0] == {
        "start": "2026-01-01T00:00:00+00:00",
        "issued": 1400,
        "redeemed": 100,
        "expired": 0,
        "outstanding": 1300,
        "outstandingValue": "13.00",
    }
    assert summary["outstanding"] == 1300
    team = app.data(query, as_="manager")["loyaltySummary"]  # team north sees customer A only
    assert team["outstanding"] == 1100
    body = app.gql(query, as_="agent")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_invalid_settings_stop_start_up_with_one_line():
    raw = {"plugins": {"enabled": ["loyalty"], "loyalty": {"points_per_unt": 2}}}
    with pytest.raises(PluginError, match=r"^plugins\.loyalty\.points_per_unt: unknown setting$"):
        Kehu(parse_config(raw))
    raw["plugins"]["loyalty"] = {"tiers": [{"name": "gold", "min_points": 5}]}
    with pytest.raises(PluginError, match="first tier must have threshold 0"):
        Kehu(parse_config(raw))


def test_nothing_of_loyalty_is_in_the_schema_when_disabled(make_app):
    app = make_app()
    body = app.gql("{ rewards { totalCount } }", as_="admin")
    assert "rewards" in body["errors"][0]["message"]
    sdl = str(app.kehu.schema)
    assert "loyalty" not in sdl and "Voucher" not in sdl


def test_customer_list_loads_loyalty_without_a_query_per_customer(make_app):
    app = loyalty_app(make_app)
    ids = [app.run(make_customer, app, f"C{i}").id for i in range(5)]
    for i, pk in enumerate(ids):
        app.run(award, app, pk, 10 + i, f"k{i}")
    data = app.data("{ customers { edges { node { name loyalty { balance tier { name } } } } } }", as_="agent")
    assert sorted(e["node"]["loyalty"]["balance"] for e in data["customers"]["edges"]) == [10, 11, 12, 13, 14]


def test_catching_up_on_one_customer_finds_its_earn_entries_by_index(make_app, monkeypatch):
    """A new member's first purchase replays their history after asking which of
    their purchases have no EARN entry yet: each is looked up in the ledger's
    interaction index, not found by reading every EARN entry of the ledger, a cost
    that would grow with the base (issue 25)."""
    from kehu.plugins.loyalty.service import history

    app = loyalty_app(make_app)
    customer = app.run(make_customer, app)
    db = Interaction._meta.db
    postgres = db.capabilities.dialect == "postgres"
    seen: list[tuple[str, list]] = []
    query = db.execute_query_dict

    async def remember(sql, values=None):
        seen.append((sql, values))
        return await query(sql, values)

    monkeypatch.setattr(db, "execute_query_dict", remember)
    assert app.run(history._pending_customers, [customer.id]) == []
    monkeypatch.undo()
    [(sql, values)] = seen

    async def plan() -> str:
        if postgres:  # its planner costs a table of this test's size as free: ask for the index itself
            rows = await db.execute_query_dict(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'loyalty_ledger_entry'"
            )
            return "\n".join(r["indexdef"] for r in rows)
        return "\n".join(r["detail"] for r in await db.execute_query_dict("EXPLAIN QUERY PLAN " + sql, values))

    text = app.run(plan)
    assert "NOT EXISTS" in sql
    if postgres:
        assert re.search(r"USING btree \(interaction_id\)", text), text
    else:
        assert re.search(r"SEARCH e USING (COVERING )?INDEX \w+ \(interaction_id=\?\)", text), text
