"""Merging keeps everything: a property test over every built-in plugin.

Random customers get data in every plugin through the API — purchases and calls,
points awarded and redeemed, referrals, complaints with their timelines, survey
invitations and responses (each invitation e-mailed: a message in the
notifications log), static segments, reveals of masked fields — then are
merged in random groups (a survivor and one or more others, sometimes a survivor
merged again). After each merge:

* totals are unchanged: interactions, revenue, loyalty points, complaints (and
  timeline entries), survey responses, disclosures, messages to customers;
* every loyalty balance is its ledger's sum and lifetime points its earnings
  (``kehu loyalty check`` finds nothing), and no customer is its own referrer;
* no row of any enabled app refers to a merged customer, except
  ``Customer.merged_into``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from loyalty_helpers import TIERS
from tortoise.functions import Sum

from kehu.models import Customer, Interaction
from kehu.plugins.complaints.models import Complaint, ComplaintTimelineEntry
from kehu.plugins.loyalty.models import LedgerEntry, Referral
from kehu.plugins.loyalty.service import check_ledger
from kehu.plugins.masking.models import Disclosure
from kehu.plugins.notifications.models import Message
from kehu.plugins.surveys.models import Response

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
PLUGINS = ("segmentation", "loyalty", "complaints", "surveys", "masking", "webhooks", "notifications")
SETTINGS = {
    "loyalty": {"tiers": TIERS, "schedule_hours": 0, "referral_bonus": 50},
    "segmentation": {"recompute_interval_minutes": 0},
    "notifications": {"public_base_url": "https://crm.example.com"},  # queued, never sent here
}

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("purchase"), st.integers(min_value=1, max_value=3000)),
        st.tuples(st.just("call"), st.just(0)),
        st.tuples(st.just("award"), st.integers(min_value=1, max_value=2000)),
        st.tuples(st.just("redeem"), st.just(0)),
        st.tuples(st.just("complaint"), st.integers(min_value=0, max_value=2)),
        st.tuples(st.just("survey"), st.integers(min_value=0, max_value=10)),
        st.tuples(st.just("segment"), st.just(0)),
        st.tuples(st.just("reveal"), st.just(0)),
        st.tuples(st.just("refer"), st.integers(min_value=0, max_value=3)),
    ),
    min_size=1,
    max_size=6,
)
EXAMPLE = st.tuples(
    st.lists(OPS, min_size=2, max_size=4),  # the customers, each with its operations
    st.randoms(use_true_random=False),  # which merge into which
    st.booleans(),  # merge the survivor again into another
)


def gql(app, query, variables=None, as_="admin"):
    data = app.data(query, variables or {}, as_=as_)
    (payload,) = data.values()
    assert not payload.get("userErrors"), payload
    return payload


def test_merges_keep_every_plugins_data_and_leave_nothing_on_a_merged_customer(make_app):
    app = make_app(enabled=PLUGINS, settings=SETTINGS, config={"limits": {"rate_per_minute": 0}})
    app.clock.set(NOW)
    reward = gql(app, 'mutation { createReward(input: {name: "Mug", pointsCost: 100}) { reward { id } } }')["reward"]
    survey = gql(
        app,
        """mutation { createSurvey(input: {title: "How did we do?", questions: [{type: NPS, text: "Recommend us?"}]}) {
             survey { id questions { id } } } }""",
        as_="manager",
    )["survey"]
    gql(app, "mutation($id: ID!) { publishSurvey(input: {id: $id}) { survey { id } } }", {"id": survey["id"]})
    counter = itertools.count()

    def create_customer():
        n = next(counter)
        return gql(
            app,
            "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { customer { id } } }",
            {"i": {"name": f"客户{n}", "email": f"c{n}@example.com", "phone": f"+86 139 {n:04d} 0000"}},
        )["customer"]["id"]

    def apply(customer, op, value, everyone):
        n = next(counter)
        if op == "purchase":
            gql(
                app,
                "mutation($id: ID!, $a: String) { logInteraction(input: {customerId: $id, kind: PURCHASE, amount: $a}) { interaction { id } } }",
                {"id": customer, "a": str(Decimal(value) / 10)},
            )
        elif op == "call":
            gql(
                app,
                "mutation($id: ID!) { logInteraction(input: {customerId: $id, kind: CALL}) { interaction { id } } }",
                {"id": customer},
            )
        elif op == "award":
            gql(
                app,
                'mutation($id: ID!, $p: Int!, $k: String!) { awardPoints(input: {customerId: $id, points: $p, reason: "goodwill", idempotencyKey: $k}) { entry { id } } }',
                {"id": customer, "p": value, "k": f"award-{value}"},  # keys repeat across customers on purpose
            )
        elif op == "redeem":
            app.data(
                "mutation($id: ID!, $r: ID!, $k: String!) { redeemReward(input: {customerId: $id, rewardId: $r, idempotencyKey: $k}) { userErrors { code } } }",
                {"id": customer, "r": reward["id"], "k": f"redeem-{n}"},
                as_="admin",
            )  # refused without enough points: fine
        elif op == "complaint":
            complaint = gql(
                app,
                'mutation($id: ID!) { fileComplaint(input: {customerId: $id, channel: HOTLINE, category: "service", description: "late"}) { complaint { id } } }',
                {"id": customer},
            )["complaint"]
            for status in ("ACKNOWLEDGED", "INVESTIGATING")[:value]:
                gql(
                    app,
                    "mutation($id: ID!, $to: ComplaintStatus!) { transitionComplaint(input: {id: $id, to: $to}) { complaint { id } } }",
                    {"id": complaint["id"], "to": status},
                )
        elif op == "survey":
            invitation = gql(
                app,
                "mutation($s: ID!, $c: [ID!]!) { inviteToSurvey(input: {surveyId: $s, customerIds: $c}) { invitations { token } userErrors { code } } }",
                {"s": survey["id"], "c": [customer]},
            )["invitations"][0]
            app.data(
                "mutation($t: String!, $q: ID!, $s: Int!) { submitSurveyResponse(input: {token: $t, answers: [{questionId: $q, score: $s}]}) { ok } }",
                {"t": invitation["token"], "q": survey["questions"][0]["id"], "s": value},
            )
        elif op == "segment":
            gql(
                app,
                "mutation($k: String!, $c: [ID!]) { createSegment(input: {key: $k, name: $k, customerIds: $c}) { segment { key } } }",
                {"k": f"picked-{n}", "c": everyone[: 1 + n % len(everyone)]},
            )
        elif op == "reveal":
            gql(
                app,
                'mutation($id: ID!) { revealField(input: {customerId: $id, field: "phone", reason: "calling back about the order"}) { value } }',
                {"id": customer},
            )
        elif op == "refer":
            other = everyone[value % len(everyone)]
            app.data(
                "mutation($a: ID!, $b: ID!) { recordReferral(input: {referrerId: $a, refereeId: $b}) { userErrors { code } } }",
                {"a": other, "b": customer},
                as_="admin",
            )  # self-referrals, cycles and second referrers are refused: fine

    async def totals():
        revenue = await Interaction.filter(kind="PURCHASE").annotate(t=Sum("amount")).values_list("t", flat=True)
        points = await LedgerEntry.all().annotate(t=Sum("points")).values_list("t", flat=True)
        return {
            "interactions": await Interaction.all().count(),
            "revenue": revenue[0] or 0,
            "points": points[0] or 0,
            "ledger_entries": await LedgerEntry.all().count(),
            "complaints": await Complaint.all().count(),
            "timeline": await ComplaintTimelineEntry.all().count(),
            "responses": await Response.all().count(),
            "disclosures": await Disclosure.all().count(),
            "messages": await Message.filter(customer_id__isnull=False).count(),
        }

    async def references_to_merged() -> list[str]:
        merged = await Customer.filter(merged_into_id__isnull=False).values_list("id", flat=True)
        found = []
        for app_name in app.kehu.apps:
            for model in app.kehu.ctx.apps[app_name].values():
                meta = model._meta
                for name in (*meta.fk_fields, *meta.o2o_fields):
                    field = meta.fields_map[name]
                    if field.related_model is not Customer or (model is Customer and name == "merged_into"):
                        continue
                    n = await model.filter(**{f"{field.source_field}__in": list(merged)}).count()
                    if n:
                        found.append(f"{meta.db_table}.{field.source_field}: {n}")
        return found

    async def self_referrals() -> int:
        return sum(1 for a, b in await Referral.all().values_list("referrer_id", "referee_id") if a == b)

    @seed(19)
    @settings(max_examples=12, deadline=None, database=None, print_blob=False, suppress_health_check=list(HealthCheck))
    @given(example=EXAMPLE)
    def run(example):
        plans, rnd, again = example
        customers = [create_customer() for _ in plans]
        for customer, ops in zip(customers, plans):
            for op, value in ops:
                apply(customer, op, value, customers)
        before = app.run(totals)
        order = customers[:]
        rnd.shuffle(order)
        survivor, merged = order[0], order[1 : 1 + rnd.randrange(1, len(order))]
        result = app.data(
            """mutation($s: ID!, $m: [ID!]!) { mergeCustomers(input: {survivorId: $s, mergedIds: $m}) {
                 customer { id } userErrors { field code message } } }""",
            {"s": survivor, "m": merged},
            as_="admin",
        )["mergeCustomers"]
        assert result["userErrors"] == [] and result["customer"]["id"] == survivor
        rest = [c for c in order if c != survivor and c not in merged]
        if again and rest:
            result = app.data(
                """mutation($s: ID!, $m: [ID!]!) { mergeCustomers(input: {survivorId: $s, mergedIds: $m}) {
                     userErrors { code message } } }""",
                {"s": rest[0], "m": [survivor]},
                as_="admin",
            )["mergeCustomers"]
            assert result["userErrors"] == []
        assert app.run(totals) == before
        assert app.run(check_ledger) == []
        assert app.run(self_referrals) == 0
        assert app.run(references_to_merged) == []

    run()
