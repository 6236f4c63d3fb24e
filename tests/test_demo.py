"""The demo data set (kehu.cli.demo.seed_demo), behind ``kehu demo``."""

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest

from kehu.cli.demo import DEMO_ACCOUNTS, seed_demo
from kehu.models import (
    AccountOwner,
    AuditEntry,
    Customer,
    CustomerKind,
    CustomerTag,
    Interaction,
    InteractionKind,
    Role,
)

LOGIN = """
mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { token viewer { email role } userErrors { field message } }
}
"""


def seed(app, **kwargs):
    async def go():
        return await seed_demo(app.kehu, **{"force": True, **kwargs})  # beside the test accounts

    return app.run(go)


async def snapshot():
    return {
        "owners": await AccountOwner.filter(email__endswith="@demo.kehu").count(),
        "customers": await Customer.all().count(),
        "interactions": await Interaction.all().count(),
        "tags": await CustomerTag.all().count(),
    }


@pytest.fixture
def seeded(app):
    credentials = seed(app)
    return app, credentials


def test_seed_demo_creates_owners_customers_and_thousands_of_interactions(seeded):
    app, _ = seeded
    counts = app.run(snapshot)
    assert counts["owners"] == 11
    assert counts["customers"] == 300
    assert counts["interactions"] >= 2000

    async def owners():
        return await AccountOwner.filter(email__endswith="@demo.kehu").values_list("role", "team")

    rows = app.run(owners)
    assert {role for role, _ in rows} == set(Role)
    assert {team for _, team in rows} == {"", "east", "south", "key-accounts"}


def test_demo_customers_are_varied(seeded):
    app, _ = seeded
    customers = app.run(lambda: Customer.all())
    kinds = {c.kind for c in customers}
    assert kinds == {CustomerKind.PERSON, CustomerKind.ORGANIZATION}
    assert any("\u4e00" <= c.name[0] <= "\u9fff" for c in customers)  # Chinese names
    assert any(c.name[0].isascii() for c in customers)  # Western names
    assert len({c.region for c in customers}) >= 6
    assert len({c.industry for c in customers if c.industry}) >= 5
    assert sum("vip" in c.tags for c in customers) >= 10
    assert sum(c.owner_id is None for c in customers) > 0  # some unassigned
    assert len({c.email for c in customers if c.email}) == sum(c.email is not None for c in customers)

    async def tag_rows():
        return set(await CustomerTag.all().values_list("customer_id", "tag"))

    assert app.run(tag_rows) == {(c.id, t) for c in customers for t in c.tags}


def test_demo_interactions_span_two_years_with_purchases_and_follow_ups(
    seeded,
):
    app, _ = seeded
    now = app.clock.now()
    interactions = app.run(lambda: Interaction.all())
    customers = {c.id: c for c in app.run(lambda: Customer.all())}

    assert all(now - dt.timedelta(days=800) <= i.occurred_at <= now for i in interactions)
    assert min(i.occurred_at for i in interactions) < now - dt.timedelta(days=600)
    purchases = [i for i in interactions if i.kind is InteractionKind.PURCHASE]
    assert len(purchases) >= 500
    assert all(isinstance(p.amount, Decimal) and p.amount > 0 for p in purchases)
    assert all(i.amount is None for i in interactions if i.kind is not InteractionKind.PURCHASE)
    assert len({i.kind for i in interactions}) == len(InteractionKind)
    follow_ups = [i.next_follow_up_at for i in interactions if i.next_follow_up_at]
    assert any(f > now for f in follow_ups) and any(f < now for f in follow_ups)  # due and overdue

    latest = defaultdict(lambda: None)
    for i in interactions:
        if latest[i.customer_id] is None or i.occurred_at > latest[i.customer_id]:
            latest[i.customer_id] = i.occurred_at
        assert customers[i.customer_id].created_at <= i.occurred_at
    assert {cid: c.last_interaction_at for cid, c in customers.items()} == dict(latest)
    # Some customers bought recently, some have drifted away for over a year.
    assert any(now - c.last_interaction_at < dt.timedelta(days=30) for c in customers.values())
    assert any(now - c.last_interaction_at > dt.timedelta(days=365) for c in customers.values())


def test_seed_demo_is_idempotent(seeded):
    app, credentials = seeded
    before = app.run(snapshot)
    assert seed(app) == credentials
    assert app.run(snapshot) == before
    audit = app.run(lambda: AuditEntry.filter(operation="seedDemo").values_list("changes", flat=True))
    assert audit == [{"owners": 11, "customers": 300, "interactions": before["interactions"]}]


def test_seed_demo_takes_the_number_of_customers(app):
    seed(app, customers=25)
    assert app.run(snapshot)["customers"] == 25


def test_demo_credentials_sign_in_through_graphql(seeded):
    app, credentials = seeded
    assert set(credentials) == {"ADMIN", "MANAGER", "AGENT", "ANALYST"}
    assert credentials["ADMIN"] == ("admin@demo.kehu", "kehu-demo-admin")
    totals = {}
    for role, (email, password) in credentials.items():
        login = app.data(LOGIN, {"email": email, "password": password})["login"]
        assert login["userErrors"] == []
        assert login["viewer"] == {"email": email, "role": role}
        me = app.data("{ me { email } customers { totalCount } }", token=login["token"])
        assert me["me"]["email"] == email
        totals[role] = me["customers"]["totalCount"]
    # Every role has something to look at, scoped as usual.
    assert totals["ADMIN"] == totals["ANALYST"] == 300
    assert 0 < totals["AGENT"] < totals["MANAGER"] < 300


def test_demo_staff_without_credentials_cannot_sign_in(seeded):
    app, _ = seeded
    body = app.gql(LOGIN, {"email": "zhang.wei@demo.kehu", "password": "kehu-demo-agent"})
    assert body["data"]["login"]["token"] is None
    assert DEMO_ACCOUNTS["AGENT"][0] != "zhang.wei@demo.kehu"


def test_demo_tells_plugins_once_that_it_bulk_loaded(make_app):
    from kehu import hookimpl

    bulk, single = [], []

    class Recorder:
        @hookimpl
        def kehu_bulk_loaded(self, reason, customer_ids):
            bulk.append((reason, len(customer_ids)))

        @hookimpl
        def kehu_interaction_logged(self, interaction):
            single.append(interaction.id)

    app = make_app(enabled=("recorder",), extra_plugins={"recorder": Recorder()})
    seed(app, customers=20)
    assert bulk == [("demo", 20)]
    assert single == []


def test_demo_can_fire_the_usual_events_oldest_first(make_app):
    from kehu import hookimpl
    from kehu.cli.demo import seed_demo

    seen = []

    class Recorder:
        @hookimpl
        def kehu_interaction_logged(self, interaction):
            seen.append((interaction.occurred_at, interaction.customer.name, interaction.kind))

    app = make_app(enabled=("recorder",), extra_plugins={"recorder": Recorder()})
    app.run(lambda: seed_demo(app.kehu, customers=20, events=True, force=True))
    assert len(seen) == app.run(lambda: Interaction.all().count())
    assert [at for at, _, _ in seen] == sorted(at for at, _, _ in seen)


def test_demo_loyalty_history_spans_the_demo_two_years(make_app):
    # The demo ends like an import: loyalty credits each purchase as of its date,
    # so the liability chart covers the two years, not the day of seeding.
    from kehu.plugins.loyalty import service
    from kehu.plugins.loyalty.models import EntryKind, LedgerEntry

    app = make_app(enabled=("loyalty",), settings={"loyalty": {"schedule_hours": 0}})
    seed(app, customers=60)
    now = app.kehu.clock.now()
    earned = app.run(lambda: LedgerEntry.filter(kind=EntryKind.EARN).values_list("created_at", flat=True))
    purchases = app.run(lambda: Interaction.filter(kind=InteractionKind.PURCHASE).count())
    assert len(earned) == purchases
    assert min(earned) < now - dt.timedelta(days=600)
    assert app.run(lambda: LedgerEntry.filter(kind=EntryKind.EXPIRE).exists())
    assert app.run(service.check_ledger) == []
    summary = app.data(
        """query($from: DateTime!, $to: DateTime!) { loyaltySummary(from: $from, to: $to, period: MONTH) {
          periods { issued expired } } }""",
        {"from": (now - dt.timedelta(days=730)).isoformat(), "to": now.isoformat()},
        as_="admin",
    )["loyaltySummary"]["periods"]
    assert sum(1 for p in summary[:12] if p["issued"] > 0) >= 6  # points issued across the first year too


# --------------------------------------------------------------------------- public passwords


def test_demo_refuses_a_database_with_other_accounts_unless_forced(app):
    from kehu.cli.demo import DemoRefused

    with pytest.raises(DemoRefused) as refused:
        app.run(lambda: seed_demo(app.kehu, customers=5))
    assert "already holds 7 account(s)" in refused.value.message
    assert app.run(lambda: AccountOwner.filter(email__endswith="@demo.kehu").count()) == 0
    seed(app, customers=5)  # force=True
    assert app.run(lambda: AccountOwner.filter(email__endswith="@demo.kehu").count()) > 0
