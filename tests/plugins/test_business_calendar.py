"""Days, weeks and months in [kehu] timezone wherever a plugin counts them:
loyalty's birthday month and summary periods, survey trends, the complaint
figures' default period — and kehu.calendar itself."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from loyalty_helpers import TIERS

from kehu.clock import BusinessCalendar
from kehu.ids import to_global_id
from kehu.models import Customer, Interaction, InteractionKind
from kehu.plugins.loyalty.models import LedgerEntry
from kehu.plugins.loyalty.service.reports import period_starts

SHANGHAI = ZoneInfo("Asia/Shanghai")
SHANGHAI_CONFIG = {"kehu": {"timezone": "Asia/Shanghai"}}


def test_calendar_dates_and_day_starts_follow_the_zone():
    shanghai = BusinessCalendar(SHANGHAI)
    moment = dt.datetime(2026, 1, 1, 15, 30, tzinfo=dt.UTC)  # 23:30 in Shanghai
    assert shanghai.date_of(moment) == dt.date(2026, 1, 1)
    assert shanghai.date_of(moment + dt.timedelta(hours=1)) == dt.date(2026, 1, 2)
    assert shanghai.start_of(dt.date(2026, 1, 2)) == dt.datetime(2026, 1, 1, 16, tzinfo=dt.UTC)
    assert shanghai.month_of(moment + dt.timedelta(hours=1)) == dt.date(2026, 1, 1)
    assert shanghai.week_of(moment) == dt.date(2025, 12, 29)
    # Offsets: Shanghai has kept +8 since 1991; New York changes twice a year.
    assert shanghai.utc_offsets(dt.datetime(1995, 1, 1, tzinfo=dt.UTC), moment) == [
        (dt.datetime(1995, 1, 1, tzinfo=dt.UTC), 8 * 3600)
    ]
    new_york = BusinessCalendar(ZoneInfo("America/New_York"))
    offsets = new_york.utc_offsets(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert offsets == [
        (dt.datetime(2025, 1, 1, tzinfo=dt.UTC), -5 * 3600),
        (dt.datetime(2025, 3, 9, 7, tzinfo=dt.UTC), -4 * 3600),
        (dt.datetime(2025, 11, 2, 6, tzinfo=dt.UTC), -5 * 3600),
    ]
    # A day that starts an hour late (Santiago's clocks skip midnight in September).
    santiago = BusinessCalendar(ZoneInfo("America/Santiago"))
    start = santiago.start_of(dt.date(2025, 9, 7))
    assert santiago.date_of(start) == dt.date(2025, 9, 7)
    assert santiago.date_of(start - dt.timedelta(seconds=1)) == dt.date(2025, 9, 6)


def test_the_birthday_month_is_the_business_calendars(make_app):
    settings = {"loyalty": {"tiers": TIERS, "schedule_hours": 0, "birthday_multiplier": "2"}}
    app = make_app(enabled=("loyalty",), settings=settings, config=SHANGHAI_CONFIG)
    app.clock.set(dt.datetime(2026, 6, 2, 9, tzinfo=SHANGHAI))
    customer = app.run(
        lambda: Customer.create(name="Han", owner_id=app.accounts["agent"].id, attributes={"birthday": "1990-05-20"})
    )
    mutation = """mutation($c: ID!, $at: DateTime!) { logInteraction(input:
        {customerId: $c, kind: PURCHASE, amount: "100", occurredAt: $at}) { userErrors { code } } }"""
    # 00:30 on 1 May in Shanghai is still April in UTC; 00:30 on 1 June is still May in UTC.
    for local in (dt.datetime(2026, 5, 1, 0, 30), dt.datetime(2026, 6, 1, 0, 30)):
        at = local.replace(tzinfo=SHANGHAI).isoformat()
        body = app.data(mutation, {"c": to_global_id("Customer", customer.id), "at": at}, as_="agent")
        assert body["logInteraction"]["userErrors"] == []
    entries = app.run(
        lambda: (
            LedgerEntry.filter(customer_id=customer.id, kind="EARN")
            .order_by("created_at")
            .values_list("points", flat=True)
        )
    )
    assert list(entries) == [200, 100]  # May in Shanghai doubles; June does not


def test_loyalty_summary_months_begin_at_midnight_on_the_business_calendar():
    shanghai = BusinessCalendar(SHANGHAI)
    start = dt.datetime(2026, 1, 1, tzinfo=SHANGHAI)
    bounds = period_starts(start, start + dt.timedelta(days=40), "MONTH", shanghai)
    assert bounds == [
        dt.datetime(2025, 12, 31, 16, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 31, 16, tzinfo=dt.UTC),
        dt.datetime(2026, 2, 28, 16, tzinfo=dt.UTC),
    ]
    assert period_starts(start, start + dt.timedelta(days=2), "DAY")[0] == dt.datetime(2025, 12, 31, tzinfo=dt.UTC)


def test_survey_trends_bucket_by_the_business_calendars_month(make_app):
    from test_surveys import answer, create_customer, create_survey, invite, submit

    from kehu.plugins.surveys.models import Response

    app = make_app(enabled=("surveys",), config=SHANGHAI_CONFIG)
    app.clock.set(dt.datetime(2026, 5, 1, 0, 30, tzinfo=SHANGHAI))  # 30 April, 16:30 UTC
    survey = create_survey(app)
    token = invite(app, survey["id"], [create_customer(app, "Li")])[0]["token"]
    assert submit(app, token, answer(survey, nps=9, csat=5))["userErrors"] == []
    months = app.run(lambda: Response.all().values_list("submitted_month", "submitted_week"))
    assert months == [(dt.date(2026, 5, 1), dt.date(2026, 4, 27))]


def test_complaint_figures_default_to_the_last_30_calendar_days(make_app):
    app = make_app(enabled=("complaints",), config=SHANGHAI_CONFIG)
    now = dt.datetime(2026, 3, 31, 9, tzinfo=SHANGHAI)
    app.clock.set(now)
    stats = app.data("{ complaintStats { start end } }", as_="admin")["complaintStats"]
    assert dt.datetime.fromisoformat(stats["start"]) == dt.datetime(2026, 3, 2, tzinfo=SHANGHAI)
    assert dt.datetime.fromisoformat(stats["end"]) == now


def test_purchases_of_one_shanghai_day_are_one_purchase_day(make_app):
    from kehu.plugins.segmentation import service
    from kehu.plugins.segmentation.models import Classification

    app = make_app(
        enabled=("segmentation",),
        settings={"segmentation": {"recompute_interval_minutes": 0, "frequency_unit": "days"}},
        config=SHANGHAI_CONFIG,
    )
    app.clock.set(dt.datetime(2026, 1, 3, 9, tzinfo=SHANGHAI))

    async def seed():
        cid = (await Customer.create(name="x")).id
        # 00:10 and 23:50 on 2 January in Shanghai: two UTC days, one Shanghai day.
        for local in (dt.datetime(2026, 1, 2, 0, 10), dt.datetime(2026, 1, 2, 23, 50)):
            await Interaction.create(
                customer_id=cid, kind=InteractionKind.PURCHASE, occurred_at=local.replace(tzinfo=SHANGHAI),
                amount=Decimal("10"),
            )  # fmt: skip

    app.run(seed)
    app.run(service.recompute_all, app.kehu)
    row = app.run(lambda: Classification.get(customer__name="x"))
    assert (row.frequency, row.purchase_days, row.recency_days, row.tenure_days) == (1, 1, 1, 1)
