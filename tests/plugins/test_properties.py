"""Property tests of the plugins' domain invariants, under random operation sequences.

- loyalty: a balance always equals the sum of its ledger and is never negative;
  lifetime points equal the points earned (``check_ledger`` finds nothing).
- complaints: whatever transitions are attempted, a complaint is only ever in a
  status of the table and only moves along the table's edges.
- segmentation: R, F and M scores are within 1..bins and monotone in their input
  (more purchases never score lower, and so on).

Each test opens one app and runs a bounded, seeded number of examples in it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from loyalty_helpers import TIERS, attempt, make_customer

from kehu.errors import KehuError
from kehu.models import Customer, Interaction, InteractionKind
from kehu.plugins.complaints import service as complaints
from kehu.plugins.complaints.models import Complaint, ComplaintStatus
from kehu.plugins.loyalty import service as loyalty
from kehu.plugins.loyalty.models import LoyaltyAccount
from kehu.plugins.segmentation import service as segmentation
from kehu.plugins.segmentation.models import Classification
from kehu.plugins.segmentation.settings import SegmentationSettings
from kehu.writes import write_scope

NOW = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)
PROPERTY_SETTINGS = dict(deadline=None, database=None, print_blob=False, suppress_health_check=list(HealthCheck))


# --------------------------------------------------------------------------- loyalty

LOYALTY_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("award"), st.integers(min_value=-10, max_value=3000)),
        st.tuples(st.just("adjust"), st.integers(min_value=-3000, max_value=3000)),
        st.tuples(st.just("redeem"), st.integers(min_value=0, max_value=2)),
        st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=5)),
        st.tuples(st.just("retry"), st.integers(min_value=0, max_value=5)),  # an earlier idempotency key again
    ),
    min_size=1,
    max_size=12,
)


def test_loyalty_balance_is_the_ledger_sum_and_never_negative(make_app):
    app = make_app(enabled=("loyalty",), settings={"loyalty": {"tiers": TIERS, "schedule_hours": 0}})
    app.clock.set(NOW)

    async def rewards():
        out = []
        for name, cost, stock in (("Mug", 50, None), ("Bag", 700, 2), ("Trip", 4000, 1)):
            async with write_scope(app.kehu, None, "createReward"):
                reward = await loyalty.create_reward(
                    app.kehu,
                    loyalty.viewer_for(app.kehu, app.accounts["admin"]),
                    {"name": name, "points_cost": cost, "stock": stock},
                )
            out.append(reward.id)
        return out

    reward_ids = app.run(rewards)
    counter = iter(range(10**9))

    @seed(11)
    @settings(max_examples=40, **PROPERTY_SETTINGS)
    @given(ops=LOYALTY_OPS)
    def run(ops):
        async def scenario():
            customer = await make_customer(app, name=f"Member {next(counter)}")
            keys: list[tuple[str, int]] = []
            vouchers: list[int] = []
            for op, value in ops:
                key = f"k{next(counter)}"
                if op == "award":
                    result = await attempt(
                        app, "admin", "awardPoints", loyalty.award_points, customer.id, value, "r", key
                    )
                elif op == "adjust":
                    result = await attempt(
                        app, "admin", "adjustPoints", loyalty.adjust_points, customer.id, value, "r", key
                    )
                elif op == "redeem":
                    result = await attempt(
                        app, "admin", "redeemReward", loyalty.redeem_reward, customer.id, reward_ids[value], key
                    )
                    if isinstance(result, tuple):
                        vouchers.append(result[0].id)
                elif op == "cancel":
                    if not vouchers:
                        continue
                    result = await attempt(
                        app, "admin", "cancelRedemption", loyalty.cancel_redemption, vouchers[value % len(vouchers)]
                    )
                else:  # retry an earlier award with its key: never counted twice
                    if not keys:
                        continue
                    key, points = keys[value % len(keys)]
                    result = await attempt(
                        app, "admin", "awardPoints", loyalty.award_points, customer.id, points, "r", key
                    )
                if op in ("award", "adjust") and not isinstance(result, str):
                    keys.append((key, value))
                assert not isinstance(result, str) or result.isupper(), result  # a domain error code, nothing else
                account = await LoyaltyAccount.get_or_none(customer_id=customer.id)
                assert account is None or account.balance >= 0
            assert await loyalty.check_ledger() == []

        app.run(scenario)

    run()


# --------------------------------------------------------------------------- complaints

STATUSES = list(ComplaintStatus)


def test_complaints_only_move_along_the_transition_table(make_app):
    app = make_app(enabled=("complaints",), settings={"complaints": {"scheduler_interval_minutes": 0}})
    app.clock.set(NOW)
    settings_ = app.kehu.settings_for("complaints")
    viewer = loyalty.viewer_for(app.kehu, app.accounts["admin"])  # any Viewer factory will do
    counter = iter(range(10**9))

    @seed(12)
    @settings(max_examples=40, **PROPERTY_SETTINGS)
    @given(attempts=st.lists(st.tuples(st.sampled_from(STATUSES), st.booleans()), min_size=1, max_size=15))
    def run(attempts):
        async def scenario():
            customer = await Customer.create(name=f"Complainer {next(counter)}", owner=app.accounts["agent"])
            async with write_scope(app.kehu, viewer, "fileComplaint"):
                complaint = await complaints.file_complaint(
                    viewer,
                    {
                        "customer_id": customer.id,
                        "channel": "HOTLINE",
                        "category": "billing",
                        "description": "charged twice",
                    },
                    settings_,
                    app.clock.now(),
                )
            status = ComplaintStatus.RECEIVED
            for target, with_note in attempts:
                try:
                    async with write_scope(app.kehu, viewer, "transitionComplaint"):
                        await complaints.transition_complaint(
                            viewer,
                            complaint.id,
                            target.value,
                            "a note" if with_note else None,
                            None,
                            settings_,
                            app.clock.now(),
                        )
                    moved = True
                except KehuError:
                    moved = False
                now_status = (await Complaint.get(id=complaint.id)).status
                assert now_status in complaints.TRANSITIONS
                if moved:
                    assert target in complaints.TRANSITIONS[status], (status, target)
                    assert now_status == target
                else:
                    assert now_status == status  # a refused transition changes nothing
                status = now_status

        app.run(scenario)

    run()


# --------------------------------------------------------------------------- segmentation

# Per customer: (number of purchases in the window, amount of each, days since the last).
PURCHASE_PLANS = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=6),
        st.decimals(min_value=1, max_value=5000, places=2, allow_nan=False, allow_infinity=False),
        st.integers(min_value=0, max_value=300),
    ),
    min_size=1,
    max_size=12,
)


def test_segmentation_scores_are_in_range_and_monotone_in_their_inputs(make_app):
    app = make_app(enabled=("segmentation",), settings={"segmentation": {"recompute_interval_minutes": 0}})
    app.clock.set(NOW)
    bins = app.kehu.settings_for("segmentation", SegmentationSettings).rfm_bins
    counter = iter(range(10**9))

    @seed(13)
    @settings(max_examples=25, **PROPERTY_SETTINGS)
    @given(plans=PURCHASE_PLANS)
    def run(plans):
        async def scenario():
            # Earlier examples' customers leave the scored population.
            await Customer.filter(archived_at=None).update(archived_at=NOW - dt.timedelta(days=1))
            ids = []
            for count, amount, recency in plans:
                customer = await Customer.create(name=f"Buyer {next(counter)}", owner=app.accounts["agent"])
                ids.append(customer.id)
                for k in range(count):
                    await Interaction.create(
                        customer=customer,
                        owner_id=customer.owner_id,
                        kind=InteractionKind.PURCHASE,
                        amount=Decimal(amount),
                        occurred_at=NOW - dt.timedelta(days=recency + 7 * k),
                    )
            await segmentation.recompute_all(app.kehu)
            rows = await Classification.filter(customer_id__in=ids)
            assert len(rows) == len(ids)
            scored = [r for r in rows if r.frequency > 0]
            for r in rows:
                for score in (r.r, r.f, r.m):
                    assert (score is None) == (r.frequency == 0)
                    assert score is None or 1 <= score <= bins
            for a in scored:
                for b in scored:
                    if a.frequency > b.frequency:
                        assert a.f >= b.f
                    if a.monetary_cents > b.monetary_cents:
                        assert a.m >= b.m
                    if a.recency_days < b.recency_days:  # more recent
                        assert a.r >= b.r

        app.run(scenario)

    run()
