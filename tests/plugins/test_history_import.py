"""Plugins after a history import: loyalty as of each purchase's date, one
segmentation recompute, and the same scores as loading the rows one by one."""

import datetime as dt

from loyalty_helpers import TIERS

from kehu.cli.history import import_interactions
from kehu.cli.transfer import import_customers
from kehu.ids import to_global_id
from kehu.models import Customer
from kehu.plugins.loyalty import service
from kehu.plugins.loyalty.models import EntryKind, LedgerEntry, LoyaltyAccount, TierChange
from kehu.plugins.segmentation.models import Classification, SegmentChange
from kehu.plugins.segmentation.service import recompute_all
from kehu.testing import KehuHarness, database_url

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def app_with(make_app, clock, *plugins, loyalty=None):
    clock.set(NOW)
    settings = {"loyalty": {"tiers": TIERS, "schedule_hours": 0, **(loyalty or {})}}
    settings["segmentation"] = {"recompute_interval_minutes": 0}
    return make_app(enabled=plugins, settings=settings, clock=clock)


def load(app, tmp_path, customers_csv, history_csv):
    (tmp_path / "c.csv").write_text(customers_csv, encoding="utf-8")
    (tmp_path / "h.csv").write_text(history_csv, encoding="utf-8")
    first = app.run(lambda: import_customers(app.kehu, tmp_path / "c.csv"))
    second = app.run(lambda: import_interactions(app.kehu, tmp_path / "h.csv"))
    assert first.errors == [] and second.errors == [], (first.errors, second.errors)
    return second


async def ledger(customer_id):
    return [
        (e.kind, e.points, e.balance_after, e.created_at, e.expires_at)
        for e in await LedgerEntry.filter(customer_id=customer_id).order_by("created_at", "id")
    ]


async def tier_history(customer_id):
    return [
        (c.from_tier, c.to_tier, c.reason.value, c.changed_at)
        for c in await TierChange.filter(customer_id=customer_id).order_by("changed_at", "id")
    ]


async def customer_id(external_id):
    return (await Customer.get(external_id=external_id)).id


def test_a_purchase_two_years_ago_earns_points_dated_then_and_expired_today(make_app, clock, tmp_path):
    app = app_with(make_app, clock, "loyalty")
    two_years_ago = NOW - dt.timedelta(days=730)
    load(
        app,
        tmp_path,
        "external_id,name\nC-1,Li Lei\n",
        f"external_id,customer_external_id,kind,occurred_at,amount\nO-1,C-1,PURCHASE,{two_years_ago.isoformat()},1200\n",
    )
    cid = app.run(lambda: customer_id("C-1"))
    expires = two_years_ago + dt.timedelta(days=365)
    assert app.run(lambda: ledger(cid)) == [
        (EntryKind.EARN, 1200, 1200, two_years_ago, expires),
        (EntryKind.EXPIRE, -1200, 0, expires, None),
    ]
    account = app.run(lambda: LoyaltyAccount.get(customer_id=cid))
    assert (account.balance, account.lifetime_points, account.tier) == (0, 1200, "silver")
    assert account.created_at == two_years_ago
    # As had the purchase arrived live: a member from the purchase, silver with it
    # (lifetime points never expire), no downgrade since.
    assert app.run(lambda: tier_history(cid)) == [
        (None, "member", "JOINED", two_years_ago),
        ("member", "silver", "UPGRADE", two_years_ago),
    ]
    assert app.run(service.check_ledger) == []


def test_purchases_earn_at_the_tier_held_at_their_date(make_app, clock, tmp_path):
    app = app_with(make_app, clock, "loyalty", loyalty={"expiry_days": 0})
    days = [NOW - dt.timedelta(days=d) for d in (300, 200, 100)]
    rows = "".join(
        f"O-{i},C-1,PURCHASE,{day.isoformat()},{amount}\n"
        for i, (day, amount) in enumerate(zip(days, (900, 200, 4000)))
    )
    load(
        app,
        tmp_path,
        "external_id,name\nC-1,Li Lei\n",
        "external_id,customer_external_id,kind,occurred_at,amount\n" + rows,
    )
    cid = app.run(lambda: customer_id("C-1"))
    # 900 at member ×1; 200 at member ×1 (reaching 1,100: silver); 4,000 at silver ×1.25.
    assert [(k, p, at) for k, p, _, at, _ in app.run(lambda: ledger(cid))] == [
        (EntryKind.EARN, 900, days[0]),
        (EntryKind.EARN, 200, days[1]),
        (EntryKind.EARN, 5000, days[2]),
    ]
    assert [(f, t, at) for f, t, _, at in app.run(lambda: tier_history(cid))] == [
        (None, "member", days[0]),
        ("member", "silver", days[1]),
        ("silver", "gold", days[2]),
    ]


def test_history_import_equals_the_same_purchases_logged_live_one_by_one(make_app, clock, tmp_path):
    app = app_with(make_app, clock, "loyalty", loyalty={"first_purchase_bonus": 50})
    moments = [NOW - dt.timedelta(days=d) for d in (500, 420, 90, 10)]
    amounts = (700, 500, 3000, 80)
    rows = "".join(
        f"O-{i},C-1,PURCHASE,{at.isoformat()},{amount}\n" for i, (at, amount) in enumerate(zip(moments, amounts))
    )
    load(
        app,
        tmp_path,
        "external_id,name\nC-1,Imported\n",
        "external_id,customer_external_id,kind,occurred_at,amount\n" + rows,
    )
    imported = app.run(lambda: customer_id("C-1"))

    # The same purchases, logged as they happened, with the daily expiry job running.
    live = app.data('mutation { createCustomer(input: {name: "Live"}) { customer { id } } }', as_="admin")[
        "createCustomer"
    ]["customer"]["id"]
    day = moments[0]
    pending = list(zip(moments, amounts))
    while day <= NOW:
        clock.set(day)
        app.run(lambda day=day: service.expire_points(app.kehu, day))
        while pending and pending[0][0] <= day:
            at, amount = pending.pop(0)
            clock.set(at)
            app.data(
                "mutation($i: LogInteractionInput!) { logInteraction(input: $i) { userErrors { code } } }",
                {"i": {"customerId": live, "kind": "PURCHASE", "amount": str(amount), "occurredAt": at.isoformat()}},
                as_="admin",
            )
        day += dt.timedelta(days=1)
    clock.set(NOW)
    live_id = int(__import__("kehu.ids", fromlist=["x"]).pk_from_global_id(live, "Customer"))

    def shape(entries):  # the daily job expires a day's worth at its run, the replay at the moment
        return [(k, p) for k, p, _, _, _ in entries]

    assert shape(app.run(lambda: ledger(imported))) == shape(app.run(lambda: ledger(live_id)))
    a, b = (
        app.run(lambda: LoyaltyAccount.get(customer_id=imported)),
        app.run(lambda: LoyaltyAccount.get(customer_id=live_id)),
    )
    assert (a.balance, a.lifetime_points, a.tier) == (b.balance, b.lifetime_points, b.tier)
    assert [(f, t) for f, t, _, _ in app.run(lambda: tier_history(imported))] == [
        (f, t) for f, t, _, _ in app.run(lambda: tier_history(live_id))
    ]


def test_a_back_dated_purchase_into_an_existing_ledger_is_dated_and_expired(make_app, clock, tmp_path):
    app = app_with(make_app, clock, "loyalty")
    load(
        app,
        tmp_path,
        "external_id,name\nC-1,Li Lei\n",
        f"external_id,customer_external_id,kind,occurred_at,amount\nO-1,C-1,PURCHASE,{(NOW - dt.timedelta(days=10)).isoformat()},100\n",
    )
    cid = app.run(lambda: customer_id("C-1"))
    old = NOW - dt.timedelta(days=400)
    app.data(
        "mutation($i: LogInteractionInput!) { logInteraction(input: $i) { userErrors { code } } }",
        {
            "i": {
                "customerId": to_global_id("Customer", cid),
                "kind": "PURCHASE",
                "amount": "300",
                "occurredAt": old.isoformat(),
            }
        },
        as_="admin",
    )
    entries = app.run(lambda: ledger(cid))
    assert (EntryKind.EARN, 300, old) in [(k, p, at) for k, p, _, at, _ in entries]
    assert entries[-1][:3] == (EntryKind.EXPIRE, -300, 100)
    assert app.run(service.check_ledger) == []


def test_importing_twice_credits_nothing_more(make_app, clock, tmp_path):
    app = app_with(make_app, clock, "loyalty")
    history = "external_id,customer_external_id,kind,occurred_at,amount\nO-1,C-1,PURCHASE,2025-01-01,500\n"
    load(app, tmp_path, "external_id,name\nC-1,Li Lei\n", history)
    before = app.run(lambda: LedgerEntry.all().count())
    load(app, tmp_path, "external_id,name\nC-1,Li Lei\n", history)
    assert app.run(lambda: LedgerEntry.all().count()) == before
    assert app.run(lambda: service.accrue_missing(app.kehu)) == 0


def test_segmentation_records_the_load_once_not_per_record(make_app, clock, tmp_path):
    app = app_with(make_app, clock, "segmentation")
    rows = "".join(
        f"O-{c}-{i},C-{c},PURCHASE,{(NOW - dt.timedelta(days=30 * i + c)).isoformat()},{100 + i}\n"
        for c in range(1, 4)
        for i in range(6)
    )
    load(
        app,
        tmp_path,
        "external_id,name\nC-1,A\nC-2,B\nC-3,C\n",
        "external_id,customer_external_id,kind,occurred_at,amount\n" + rows,
    )
    changes = app.run(
        lambda: SegmentChange.all().values_list("customer_id", "dimension", "old_value", "new_value", "cause")
    )
    by_customer = {}
    for cid, dimension, old, new, cause in changes:
        assert cause == "IMPORT"
        by_customer.setdefault((cid, dimension.value if hasattr(dimension, "value") else dimension), []).append(
            (old, new)
        )
    # Per customer and dimension: the customers load (→ prospect), then the history
    # load (→ where its purchases put it). Never a row per purchase.
    assert all(len(v) <= 2 for v in by_customer.values())
    stages = app.run(lambda: Classification.all().values_list("lifecycle_stage", flat=True))
    assert set(stages) <= {"ACTIVE", "LOYAL", "NEW"}


def test_rfm_scores_after_import_equal_those_of_logging_one_by_one(clock, tmp_path):
    rows = [
        (c, i, NOW - dt.timedelta(days=(c * 37 + i * 53) % 700), (c * 13 + i * 7) % 90 + 10)
        for c in range(1, 13)
        for i in range(c % 5 + 1)
    ]
    history = "external_id,customer_external_id,kind,occurred_at,amount\n" + "".join(
        f"O-{c}-{i},C-{c},PURCHASE,{at.isoformat()},{amount}.25\n" for c, i, at, amount in rows
    )
    customers = "external_id,name\n" + "".join(f"C-{c},Customer {c}\n" for c in range(1, 13))

    settings = {"loyalty": {"tiers": TIERS, "schedule_hours": 0}, "segmentation": {"recompute_interval_minutes": 0}}
    clock.set(NOW)
    scores = []
    for name in ("imported", "one-by-one"):  # two databases, one after the other
        folder = tmp_path / name
        folder.mkdir()
        with database_url(folder) as url:
            with KehuHarness(url, enabled=("segmentation", "loyalty"), settings=settings, clock=clock) as app:
                if name == "imported":
                    load(app, folder, customers, history)
                    app.run(lambda app=app: recompute_all(app.kehu))
                    scores.append(app.run(_scores))
                else:
                    scores.append(_log_one_by_one(app, rows))
    assert scores[0] == scores[1]
    assert len(scores[0]) == 12 and {1, 2, 3, 4, 5} <= {s[1] for s in scores[0]}


def _log_one_by_one(one_by_one, rows):
    ids = {}
    for c in range(1, 13):
        body = one_by_one.data(
            "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { customer { id } } }",
            {"i": {"name": f"Customer {c}", "externalId": f"C-{c}"}},
            as_="admin",
        )
        ids[c] = body["createCustomer"]["customer"]["id"]
    for c, _, at, amount in rows:
        one_by_one.data(
            "mutation($i: LogInteractionInput!) { logInteraction(input: $i) { userErrors { code } } }",
            {"i": {"customerId": ids[c], "kind": "PURCHASE", "amount": f"{amount}.25", "occurredAt": at.isoformat()}},
            as_="admin",
        )
    one_by_one.run(lambda: recompute_all(one_by_one.kehu))
    return one_by_one.run(_scores)


async def _scores():
    rows = await Classification.all().values(
        "customer__external_id", "r", "f", "m", "rfm_segment", "value_tier", "lifecycle_stage", "abc_class"
    )
    return sorted(tuple(row.values()) for row in rows)


def test_a_small_load_into_a_scored_base_re_scores_only_the_customers_it_wrote(make_app, clock, tmp_path):
    # 40 scored customers; a load touching 2 of them (5 % of the base) re-scores those
    # two against the last run's borders and leaves the rest of the base as it was.
    from decimal import Decimal

    from kehu.models import Interaction, InteractionKind
    from kehu.plugins.segmentation.models import RecomputeRun
    from kehu.plugins.segmentation.service import recompute_customer

    app = app_with(make_app, clock, "segmentation")

    async def base():
        for c in range(1, 41):
            customer = await Customer.create(name=f"Customer {c}", external_id=f"C-{c}")
            for i in range(c % 4 + 1):
                await Interaction.create(
                    customer=customer,
                    kind=InteractionKind.PURCHASE,
                    occurred_at=NOW - dt.timedelta(days=20 * i + c),
                    amount=Decimal(10 * c),
                )
        await recompute_all(app.kehu)

    app.run(base)
    clock.advance(hours=1)
    before = app.run(lambda: Classification.all().values_list("customer_id", "computed_at"))
    history = "external_id,customer_external_id,kind,occurred_at,amount\n" + "".join(
        f"O-{c},C-{c},PURCHASE,{(NOW - dt.timedelta(days=1)).isoformat()},5000\n" for c in (3, 7)
    )
    load(app, tmp_path, "external_id,name\nC-3,Customer 3\nC-7,Customer 7\n", history)

    loaded = {app.run(lambda: customer_id("C-3")), app.run(lambda: customer_id("C-7"))}
    after = dict(app.run(lambda: Classification.all().values_list("customer_id", "computed_at")))
    assert {c for c, at in before if after[c] != at} == loaded  # only they were scored again
    assert app.run(lambda: RecomputeRun.all().count()) == 1  # no second full run
    causes = app.run(lambda: SegmentChange.filter(customer_id__in=loaded, cause="IMPORT").count())
    assert causes > 0  # a 5,000 purchase moved them, recorded as the load's
    changes = app.run(lambda: SegmentChange.all().count())

    async def rescore_each():
        for c in loaded:
            await recompute_customer(app.kehu, c, "INTERACTION")

    app.run(rescore_each)  # what a purchase's re-score gives them: the same, so nothing new is recorded
    assert app.run(lambda: SegmentChange.all().count()) == changes


def test_a_load_of_a_large_part_of_the_base_recomputes_all_of_it(make_app, clock, tmp_path):
    from kehu.plugins.segmentation.models import RecomputeRun

    app = app_with(make_app, clock, "segmentation")
    load(
        app, tmp_path, "external_id,name\nC-1,A\nC-2,B\n", "external_id,customer_external_id,kind,occurred_at,amount\n"
    )
    runs = app.run(lambda: RecomputeRun.all().count())
    history = f"external_id,customer_external_id,kind,occurred_at,amount\nO-1,C-1,PURCHASE,{NOW.isoformat()},100\n"
    load(app, tmp_path, "external_id,name\nC-1,A\n", history)  # one customer of two: half the base
    assert app.run(lambda: RecomputeRun.all().count()) > runs
