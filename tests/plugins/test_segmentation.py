"""The segmentation plugin: hand-computed classifications, GraphQL, history, schema.

The data set (``seed``) is small enough to classify by hand; the expectations in
``EXPECTED`` were worked out on paper with the default settings (window 365 days,
5 bins, ABC 80/95 %, HIGH from 4 purchases, lifecycle 90/120/365 days, LOYAL from
6 purchases) and the rank rule of ``service``: score = 1 + (5 × (RANK − 1)) // n.
"""

import datetime as dt
from decimal import Decimal

import pytest

from kehu.ids import to_global_id
from kehu.models import Customer, Interaction, InteractionKind
from kehu.plugins.segmentation import service
from kehu.plugins.segmentation.models import Classification, SegmentChange
from kehu.plugins.segmentation.service import btyd
from kehu.testing import KehuHarness

NOW = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)
SETTINGS = {"segmentation": {"recompute_interval_minutes": 0}}

# name: (purchases in the window: count × amount, days since the last one, owner)
# Purchases are 40 days apart, the last one `recency` days ago.
PLAN = {
    "c1": (1, "100", 200, "agent"),
    "c2": (1, "100", 5, "agent"),
    "c3": (1, "50", 300, "agent"),
    "c4": (2, "150", 30, "agent"),
    "c5": (2, "100", 30, "agent"),
    "c6": (3, "200", 60, "agent"),
    "c7": (4, "200", 10, "agent"),
    "c8": (4, "250", 10, "agent"),
    "c9": (5, "500", 2, "agent_south"),
    "c10": (8, "500", 1, "agent2"),
}

# Frequencies 1,1,1,2,2,3,4,4,5,8 (n = 10): the three 1s straddle the border of
# ranks 2|3 and all get RANK 1 → F=1; the 2s RANK 4 → 2; 3 → RANK 6 → 3; 4s RANK 7 → 4.
# Monetary 50,100,100,150 (c5: 200 less a 50 refund),300,600,800,1000,2500,4000:
# total 9,600; A while the revenue above < 7,680 (c10,c9,c8,c7), B while < 9,120 (c6,c4).
# Recency 300,200,60,30,30,10,10,5,2,1 days, worst first: RANK 1,2,3,4,4,6,6,8,9,10.
EXPECTED = {
    #       R  F  M  ABC  freq    tier         stage       rfm segment
    "c1": (1, 1, 1, "C", "LOW", "GENERAL", "AT_RISK", "lost"),
    "c2": (4, 1, 1, "C", "LOW", "GENERAL", "ACTIVE", "potential_loyalists"),  # first bought 400 days ago
    "c3": (1, 1, 1, "C", "LOW", "GENERAL", "AT_RISK", "lost"),
    "c4": (2, 2, 3, "B", "LOW", "POTENTIAL", "NEW", "hibernating"),
    "c5": (2, 2, 2, "C", "LOW", "GENERAL", "NEW", "hibernating"),
    "c6": (2, 3, 3, "B", "LOW", "POTENTIAL", "ACTIVE", "at_risk"),
    "c7": (3, 4, 4, "A", "HIGH", "CORE", "ACTIVE", "loyal"),
    "c8": (3, 4, 4, "A", "HIGH", "CORE", "ACTIVE", "loyal"),
    "c9": (5, 5, 5, "A", "HIGH", "CORE", "ACTIVE", "champions"),
    "c10": (5, 5, 5, "A", "HIGH", "CORE", "LOYAL", "champions"),
    # never bought: no revenue in the window, no ABC class
    "prospect": (None, None, None, None, "ZERO", "GENERAL", "PROSPECT", None),
    # bought once, 500 days ago: outside the window
    "lapsed": (None, None, None, None, "ZERO", "GENERAL", "CHURNED", None),
    # archived with a big recent purchase: not scored, shifts nobody's scores
    "archived": (None, None, None, None, "LOW", "GENERAL", "CHURNED", None),
}


def days_ago(n: float) -> dt.datetime:
    return NOW - dt.timedelta(days=n)


async def seed(app) -> dict[str, int]:
    ids = {}

    async def customer(name, owner="agent", **extra):
        c = await Customer.create(name=name, owner=app.accounts[owner], **extra)
        ids[name] = c.id
        return c

    async def purchase(c, amount, when):
        await Interaction.create(
            customer=c, owner_id=c.owner_id, kind=InteractionKind.PURCHASE, occurred_at=when, amount=Decimal(amount)
        )

    for name, (count, amount, recency, owner) in PLAN.items():
        c = await customer(name, owner)
        for k in range(count):
            await purchase(c, amount, days_ago(recency + 40 * k))
    await purchase(await Customer.get(id=ids["c2"]), "70", days_ago(400))
    # A refund, as an import could bring it (the API refuses negative amounts).
    await purchase(await Customer.get(id=ids["c5"]), "-50", days_ago(5))
    await customer("prospect")
    await purchase(await customer("lapsed"), "900", days_ago(500))
    await purchase(await customer("archived", archived_at=days_ago(1)), "10000", days_ago(1))
    # A CALL is not a purchase.
    await Interaction.create(customer_id=ids["prospect"], kind=InteractionKind.CALL, occurred_at=days_ago(1))
    return ids


@pytest.fixture
def seg(make_app):
    app = make_app(enabled=("segmentation",), settings=SETTINGS)
    app.clock.set(NOW)
    app.ids = app.run(seed, app)
    app.run(service.recompute_all, app.kehu)
    return app


def rows(app) -> dict[str, Classification]:
    async def load():
        by_id = {r.customer_id: r for r in await Classification.all()}
        return {name: by_id[i] for name, i in app.ids.items()}

    return app.run(load)


def test_classification_matches_hand_computed_expectations(seg):
    got = rows(seg)
    for name, expected in EXPECTED.items():
        r = got[name]
        actual = (r.r, r.f, r.m, r.abc_class, r.frequency_class, r.value_tier, r.lifecycle_stage, r.rfm_segment)
        assert actual == expected, name


def test_inputs_windows_and_refunds(seg):
    got = rows(seg)
    assert (got["c2"].frequency, got["c2"].monetary_cents) == (1, 10000)
    assert (got["c2"].lifetime_purchases, got["c2"].lifetime_revenue_cents) == (2, 17000)
    assert got["c2"].tenure_days == 400
    # The refund lowers revenue but is no purchase and does not move recency.
    assert (got["c5"].frequency, got["c5"].monetary_cents, got["c5"].recency_days) == (2, 15000, 30)
    assert got["prospect"].recency_days is None and got["prospect"].lifetime_purchases == 0
    assert (got["lapsed"].frequency, got["lapsed"].recency_days, got["lapsed"].lifetime_revenue_cents) == (
        0,
        500,
        90000,
    )


def test_a_base_too_small_to_fit_gets_the_run_rate_clv_and_says_why(seg):
    # 12 customers are fewer than clv.min_customers: no model is fitted.
    model = seg.run(service.latest_run).clv_model
    assert model["model"] == "run_rate" and model["fallback"].startswith("too few customers to fit: 11 with purchases")
    got = rows(seg)
    # c10: 8 purchase days, the first 281 days ago (rate over at least the 365-day
    # window), last one yesterday (no fading), ¥500 on average.
    rate = 8 / 365
    annuity = btyd.run_rate_annuity(1095, 0.10)
    assert got["c10"].clv_predicted_cents == round(100 * 0.30 * 500 * rate * annuity)
    assert got["c10"].expected_purchases == pytest.approx(rate * 1095)
    assert got["c10"].expected_revenue_cents == round(100 * 500 * rate * 1095)
    assert got["c10"].p_alive is None and got["c10"].lifetime_revenue_cents == 400000
    # c1 last bought 200 days ago: between at_risk (120) and churned (365) the
    # run rate fades linearly.
    fade = (365 - 200) / (365 - 120)
    assert got["c1"].expected_purchases == pytest.approx(1 / 365 * 1095 * fade)
    for name in ("prospect", "lapsed", "archived"):
        assert got[name].clv_predicted_cents == 0
    explanation = {
        language: seg.data(
            "query($id: ID!, $l: String) { customer(id: $id) { segmentation { explanation(language: $l) } } }",
            {"id": to_global_id("Customer", seg.ids["c10"]), "l": language},
            as_="admin",
        )["customer"]["segmentation"]["explanation"]
        for language in ("en", "zh-CN")
    }
    assert "at the customer's own purchase rate (too few customers to fit" in explanation["en"]
    assert (
        "按客户自身的购买频率估算（客户太少，无法拟合模型：有购买的客户 11 位（至少需 100 位）" in explanation["zh-CN"]
    )
    fit = seg.data("{ segmentationRun { clvModel { fallback fallbackCode } } }", as_="admin")["segmentationRun"]
    assert fit["clvModel"] == {"fallback": model["fallback"], "fallbackCode": "TOO_FEW_CUSTOMERS"}


def test_score_borders_are_recorded_for_explanations(seg):
    run = seg.run(service.latest_run)
    assert run.population == 10
    assert run.thresholds["f"] == {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5}
    assert run.thresholds["a_min"] == 80000 and run.thresholds["b_min"] == 30000


def test_explanation_reads_like_the_issue(seg):
    cid = to_global_id("Customer", seg.ids["c10"])
    data = seg.data(
        "query($id: ID!) { customer(id: $id) { segmentation { rfm { recency frequency monetary r f m score segment }"
        " abcClass frequencyClass valueTier lifecycleStage clv { historical predicted } explanation } } }",
        {"id": cid},
        as_="admin",
    )["customer"]["segmentation"]
    assert data["rfm"] == {
        "recency": 1,
        "frequency": 8,
        "monetary": "4000.00",
        "r": 5,
        "f": 5,
        "m": 5,
        "score": "555",
        "segment": "champions",
    }
    assert (data["abcClass"], data["valueTier"], data["lifecycleStage"]) == ("A", "CORE", "LOYAL")
    assert data["clv"]["historical"] == "4000.00"
    assert data["explanation"].startswith(
        "core: ABC A and R ≥ 3 and F ≥ 3; R=5 (1 day), F=5 (8 purchases), M=5 (4,000), ABC A; "
        "stage loyal (8 purchases in the window, 6 purchases or more); CLV "
    )
    assert data["explanation"].endswith(
        "; as of 2026-01-01 (UTC); scored against 10 customers who bought in the window."
    )


CORE_QUERY = "{ customers(filter: {valueTier: CORE}) { totalCount edges { node { name } } } }"


@pytest.mark.parametrize(
    "viewer, names",
    [
        ("admin", {"c7", "c8", "c9", "c10"}),
        ("manager", {"c7", "c8", "c10"}),  # team north
        ("agent", {"c7", "c8"}),
        ("agent_south", {"c9"}),
    ],
)
def test_filter_by_value_tier_respects_access_and_counts_agree(seg, viewer, names):
    data = seg.data(CORE_QUERY, as_=viewer)["customers"]
    assert {e["node"]["name"] for e in data["edges"]} == names
    assert data["totalCount"] == len(names)


def test_filter_by_stage_and_abc_combine_with_core_filters(seg):
    data = seg.data(
        "{ customers(filter: {lifecycleStage: NEW, abcClass: B}) { totalCount edges { node { name } } } }", as_="admin"
    )["customers"]
    assert [e["node"]["name"] for e in data["edges"]] == ["c4"]
    archived = seg.data("{ customers(filter: {archived: true, valueTier: GENERAL}) { totalCount } }", as_="admin")
    assert archived["customers"]["totalCount"] == 1


def test_purchase_across_a_threshold_changes_tier_at_once_with_one_history_entry(seg):
    c5 = seg.ids["c5"]
    before = seg.run(SegmentChange.filter(customer_id=c5).count)
    body = seg.data(
        'mutation($c: ID!) { logInteraction(input: {customerId: $c, kind: PURCHASE, amount: "5000.00"}) { userErrors { code } } }',
        {"c": to_global_id("Customer", c5)},
        as_="agent",
    )
    assert body["logInteraction"]["userErrors"] == []
    row = rows(seg)["c5"]
    assert (row.r, row.f, row.m, row.abc_class, row.value_tier, row.lifecycle_stage) == (5, 3, 5, "A", "CORE", "NEW")
    history = seg.data(
        "query($c: ID!) { segmentHistory(customerId: $c, first: 1) { totalCount edges { node { dimension oldValue newValue cause } } } }",
        {"c": to_global_id("Customer", c5)},
        as_="agent",
    )["segmentHistory"]
    assert history["totalCount"] == before + 1
    assert history["edges"][0]["node"] == {
        "dimension": "VALUE_TIER",
        "oldValue": "GENERAL",
        "newValue": "CORE",
        "cause": "INTERACTION",
    }
    # Someone who may not see the customer sees no history.
    hidden = seg.data(
        "query($c: ID!) { segmentHistory(customerId: $c) { totalCount } }",
        {"c": to_global_id("Customer", c5)},
        as_="agent_south",
    )
    assert hidden["segmentHistory"]["totalCount"] == 0


def test_re_scores_asked_for_at_once_run_as_one_pass_with_the_same_results(seg):
    import asyncio

    from kehu.testing import count_queries

    names = ["c1", "c3", "c5", "c6", "prospect"]
    customers = [seg.ids[n] for n in names]
    before = {n: (r.r, r.f, r.m, r.value_tier, r.lifecycle_stage) for n, r in rows(seg).items()}
    rule = {"input": {"key": "recent", "name": "Bought recently", "rule": {"field": "r", "op": "eq", "value": 5}}}
    assert seg.data(CREATE, rule, as_="admin")["createSegment"]["userErrors"] == []

    async def buy_and_rescore_together():
        for customer_id in customers:
            await Interaction.create(
                customer_id=customer_id, kind=InteractionKind.PURCHASE, occurred_at=days_ago(2), amount=Decimal("5000")
            )
        with count_queries() as together:
            await asyncio.gather(*(service.recompute_customer(seg.kehu, c, "INTERACTION") for c in customers))
        with count_queries() as alone:
            await service.recompute_customer(seg.kehu, customers[0], "INTERACTION")
        return together.count, alone.count

    together, alone = seg.run(buy_and_rescore_together)
    # One pass for the five, + the segment joins' two inserts, + the run's row (the
    # first pass after a full run reads it; later ones only its id).
    assert together <= alone + 3
    after = {n: (r.r, r.f, r.m, r.value_tier, r.lifecycle_stage) for n, r in rows(seg).items()}
    assert [n for n in before if after[n] != before[n]] == names  # each re-scored, nobody else
    joined = {seg.ids[n] for n in names if after[n][0] == 5}
    assert joined and seg.run(_segment_joins, "recent", "INTERACTION") == joined
    assert set(seg.run(_members, seg, "recent", "admin")) == joined | {seg.ids["c9"], seg.ids["c10"]}
    changes = seg.run(SegmentChange.all().count)

    async def rescore_one_by_one():
        for customer_id in customers:
            await service.recompute_customer(seg.kehu, customer_id, "INTERACTION")

    seg.run(rescore_one_by_one)  # what each would have been alone: the same, so no change is recorded
    assert {n: (r.r, r.f, r.m, r.value_tier, r.lifecycle_stage) for n, r in rows(seg).items()} == after
    assert seg.run(SegmentChange.all().count) == changes


def test_a_re_score_computes_what_the_full_run_computed(seg):
    # Nothing bought since the full run, so its borders still hold: re-scoring
    # every customer (its inputs and classes in one statement, its row upserted)
    # must land on the full run's rows (inputs, staged then classified by UPDATEs)
    # column for column, and record no change.
    from kehu.plugins.segmentation.service.scoring import COLUMNS

    columns = [c.strip() for c in COLUMNS.split(",")]

    def snapshot():
        return {n: [getattr(r, c) for c in columns] for n, r in rows(seg).items()}

    full, changes = snapshot(), seg.run(SegmentChange.all().count)
    assert {full[n][columns.index("value_tier")] for n in full} == {"CORE", "POTENTIAL", "GENERAL"}

    async def rescore_everyone():
        import asyncio

        await asyncio.gather(*(service.recompute_customer(seg.kehu, i, "INTERACTION") for i in seg.ids.values()))

    seg.run(rescore_everyone)
    assert snapshot() == full
    assert seg.run(SegmentChange.all().count) == changes


def test_a_failed_pass_fails_each_of_its_callers_and_the_next_pass_runs(seg, monkeypatch):
    import asyncio

    from kehu.plugins.segmentation.service import recompute

    customers = [seg.ids["c1"], seg.ids["c3"], seg.ids["c4"]]
    real = recompute.scored_inputs_sql

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(recompute, "scored_inputs_sql", broken)

    async def together():
        calls = (service.recompute_customer(seg.kehu, c, "INTERACTION") for c in customers)
        return await asyncio.gather(*calls, return_exceptions=True)

    outcomes = seg.run(together)
    assert [str(o) for o in outcomes] == ["disk full"] * 3
    monkeypatch.setattr(recompute, "scored_inputs_sql", real)
    assert seg.run(together) == [None] * 3


def test_full_recompute_without_changes_adds_no_history(seg):
    before = seg.run(SegmentChange.all().count)
    result = seg.run(service.recompute_all, seg.kehu)
    assert result.changes == 0 and seg.run(SegmentChange.all().count) == before


RULE = {
    "and": [
        {"field": "valueTier", "op": "eq", "value": "CORE"},
        {"not": {"field": "rfmSegment", "op": "eq", "value": "champions"}},
    ]
}
CREATE = """mutation($input: CreateSegmentInput!) { createSegment(input: $input) {
  segment { key name kind size rule customers(first: 10) { totalCount edges { node { name } } } }
  userErrors { field code message } } }"""


def test_rule_segment_members_history_and_filter(seg):
    data = seg.data(
        CREATE, {"input": {"key": "core-not-champions", "name": "Core, not champions", "rule": RULE}}, as_="manager"
    )["createSegment"]
    assert data["userErrors"] == []
    # The manager of team north sees c7 and c8 (c10 is a champion, c9 is south).
    assert {e["node"]["name"] for e in data["segment"]["customers"]["edges"]} == {"c7", "c8"}
    assert data["segment"]["size"] == 2 and data["segment"]["kind"] == "RULE"
    assert seg.run(_members, seg, "core-not-champions", "agent") == sorted([seg.ids["c7"], seg.ids["c8"]])
    assert seg.run(_members, seg, "core-not-champions", None) == []  # nobody signed in sees nobody
    assert seg.run(_members, seg, "no-such-segment", "admin") is None
    filtered = seg.data('{ customers(filter: {segment: "core-not-champions"}) { totalCount } }', as_="admin")
    assert filtered["customers"]["totalCount"] == 2
    segments = seg.data(
        "query($id: ID!) { customer(id: $id) { segments { key } } }",
        {"id": to_global_id("Customer", seg.ids["c7"])},
        as_="admin",
    )
    assert segments["customer"]["segments"] == [{"key": "core-not-champions"}]
    # c7 becomes a champion → leaves the segment, recorded.
    seg.run(_buy_a_lot, seg.ids["c7"])
    seg.run(service.recompute_all, seg.kehu)
    history = seg.run(_segment_history, seg.ids["c7"])
    assert history == [("OUT", "IN", "SEGMENT_CREATED"), ("IN", "OUT", "RECOMPUTE")]


async def _members(app, key, account):
    from kehu.access import Viewer

    viewer = None
    if account:
        owner = app.accounts[account]
        viewer = Viewer(owner=owner, permissions=app.kehu.permissions_for(owner.role))
    return await app.kehu.hooks.first("kehu_segment_members", segment_key=key, viewer=viewer)


async def _buy_a_lot(customer_id):
    for days in (3, 4, 6):
        await Interaction.create(
            customer_id=customer_id, kind=InteractionKind.PURCHASE, occurred_at=days_ago(days), amount=Decimal("9000")
        )


async def _segment_joins(key, cause):
    rows = await SegmentChange.filter(segment_key=key, cause=cause, old_value="OUT", new_value="IN")
    return {r.customer_id for r in rows}


async def _segment_history(customer_id):
    rows = await SegmentChange.filter(customer_id=customer_id, dimension="SEGMENT").order_by("id")
    return [(r.old_value, r.new_value, r.cause) for r in rows]


@pytest.mark.parametrize(
    "rule, message",
    [
        (
            {"and": [{"field": "valueTeir", "op": "eq", "value": "CORE"}]},
            "rule.and[0].field: unknown field 'valueTeir'",
        ),
        ({"or": [{"field": "valueTier", "op": "eq", "value": "GOLD"}]}, "rule.or[0].value: 'GOLD' is not a valueTier"),
        ({"not": {"field": "r", "op": "contains", "value": 3}}, "rule.not.op: operator 'contains' does not apply to r"),
        ({"and": []}, "rule.and: expected a non-empty list"),
        ({"xor": []}, "rule: unexpected keys ['xor']"),
    ],
)
def test_invalid_rules_are_rejected_naming_the_bad_part(seg, rule, message):
    data = seg.data(CREATE, {"input": {"key": "bad", "name": "Bad", "rule": rule}}, as_="admin")["createSegment"]
    assert data["segment"] is None
    assert data["userErrors"][0]["field"] == "rule" and data["userErrors"][0]["message"].startswith(message)
    assert seg.data('{ segment(key: "bad") { key } }', as_="admin")["segment"] is None


def test_static_segment_add_remove_and_delete_keep_history(seg):
    ids = [to_global_id("Customer", seg.ids[n]) for n in ("c1", "c2")]
    data = seg.data(CREATE, {"input": {"key": "vip-list", "name": "VIP list", "customerIds": ids}}, as_="admin")
    assert data["createSegment"]["segment"]["size"] == 2
    update = """mutation($input: UpdateSegmentInput!) { updateSegment(input: $input) { segment { size } userErrors { code field } } }"""
    data = seg.data(update, {"input": {"key": "vip-list", "removeCustomerIds": [ids[0]]}}, as_="admin")
    assert data["updateSegment"]["segment"]["size"] == 1
    # An agent cannot add a customer they cannot see, and cannot manage segments at all.
    data = seg.data(
        update,
        {"input": {"key": "vip-list", "addCustomerIds": [to_global_id("Customer", seg.ids["c9"])]}},
        as_="manager",
    )
    assert data["updateSegment"]["userErrors"][0]["code"] == "NOT_FOUND"
    body = seg.gql('mutation { deleteSegment(input: {key: "vip-list"}) { key } }', as_="analyst")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    seg.data('mutation { deleteSegment(input: {key: "vip-list"}) { key userErrors { code } } }', as_="admin")
    assert seg.run(_segment_history, seg.ids["c2"]) == [("OUT", "IN", "MANUAL"), ("IN", "OUT", "SEGMENT_DELETED")]
    assert seg.run(_segment_history, seg.ids["c1"]) == [("OUT", "IN", "MANUAL"), ("IN", "OUT", "MANUAL")]


def test_summary_per_tier_and_stage_and_retention(seg):
    data = seg.data(
        "{ segmentationSummary { tiers { key customers revenueShare } stages { key customers }"
        " periods { customersAtStart retained retentionRate churnRate } } }",
        as_="admin",
    )
    summary = data["segmentationSummary"]
    tiers = {t["key"]: t for t in summary["tiers"]}
    assert tiers["CORE"]["customers"] == 4 and tiers["GENERAL"]["customers"] == 6  # archived left out
    assert tiers["CORE"]["revenueShare"] == str((Decimal(8300) / Decimal(9600)).quantize(Decimal("0.0001")))
    assert {s["key"]: s["customers"] for s in summary["stages"]}["AT_RISK"] == 2
    # Last 90 days: bought in the 90 before → c6 (60+80=140 → yes), c7 (130), c8, c9 (162 → yes), c10...
    first = summary["periods"][0]
    assert first["customersAtStart"] >= first["retained"] > 0
    assert Decimal(first["retentionRate"]) + Decimal(first["churnRate"]) == 1


def test_disabling_removes_every_type_and_keeps_the_data(db_url):
    with KehuHarness(db_url, enabled=("segmentation",), settings=SETTINGS) as app:
        app.clock.set(NOW)
        app.ids = app.run(seed, app)
        app.run(service.recompute_all, app.kehu)
        count = app.run(Classification.all().count)
        sdl = app.kehu.schema.as_str()
        assert "valueTier" in sdl and "type Segment" in sdl
    with KehuHarness(db_url, seed_accounts=False) as app:
        sdl = app.kehu.schema.as_str()
        for name in (
            "segment",
            "Segment",
            "valueTier",
            "ValueTier",
            "LifecycleStage",
            "Rfm",
            "Clv",
            "AbcClass",
            "segmentation",
            "Segmentation",
        ):
            assert name not in sdl, name
    with KehuHarness(db_url, enabled=("segmentation",), settings=SETTINGS, seed_accounts=False) as app:
        assert app.run(Classification.all().count) == count


def test_invalid_settings_stop_start_up_with_one_line():
    from kehu.config import parse_config
    from kehu.errors import PluginError
    from kehu.server.runtime import Kehu

    raw = {"plugins": {"enabled": ["segmentation"], "segmentation": {"abc": {"a_share": 0.9, "b_share": 0.8}}}}
    with pytest.raises(PluginError, match="plugins.segmentation.abc"):
        Kehu(parse_config(raw))
    raw = {"plugins": {"enabled": ["segmentation"], "segmentation": {"windw_days": 30}}}
    with pytest.raises(PluginError, match="windw_days: unknown setting"):
        Kehu(parse_config(raw))


def test_cli_recompute_command_is_registered():
    import argparse

    from kehu.plugins import segmentation

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    segmentation.kehu_commands(sub)
    args = parser.parse_args(["segments", "recompute"])
    assert args.handler.__name__ == "recompute_command"


def test_customers_who_recently_moved_into_a_stage(seg):
    # The first classification is no move: c1 and c3 have been at risk all along.
    since = NOW - dt.timedelta(hours=1)
    query = "query($f: CustomerFilterInput) { customers(filter: $f) { edges { node { name } } } }"
    moved = {"lifecycleStage": "AT_RISK", "stageChangedAfter": since.isoformat()}
    assert seg.data(query, {"f": moved}, as_="admin")["customers"]["edges"] == []
    later = NOW + dt.timedelta(days=100)
    seg.clock.set(later)
    seg.run(service.recompute_all, seg.kehu)
    moved["stageChangedAfter"] = (later - dt.timedelta(days=1)).isoformat()
    names = {e["node"]["name"] for e in seg.data(query, {"f": moved}, as_="admin")["customers"]["edges"]}
    # 100 days on, the NEW c4, c5 (last bought 130 days ago) and the ACTIVE c6 (160) are at risk.
    assert names == {"c4", "c5", "c6"}
    assert {n for n, row in rows(seg).items() if row.lifecycle_stage == "AT_RISK"} >= names | {"c1"}
    any_stage = {"stageChangedAfter": moved["stageChangedAfter"]}
    assert {e["node"]["name"] for e in seg.data(query, {"f": any_stage}, as_="admin")["customers"]["edges"]} >= names
    # Visibility holds: those are the agent's customers, none of agent_south's.
    assert seg.data(query, {"f": moved}, as_="agent_south")["customers"]["edges"] == []


def test_a_full_recompute_leaves_staging_empty_with_no_dead_rows_behind(seg):
    """Between runs staging holds nothing; on PostgreSQL not even the dead rows of
    the run (its file is truncated, not left to autovacuum: issue 25)."""
    from tortoise.connection import connections

    from kehu.plugins.segmentation.service.sql import STAGING, Dialect

    async def staging() -> tuple[int, int]:
        conn = connections.get("default")
        rows = (await conn.execute_query_dict(f"SELECT COUNT(*) AS n FROM {STAGING}"))[0]["n"]
        if not Dialect().postgres:
            return int(rows), 0
        size = await conn.execute_query_dict(f"SELECT pg_relation_size('{STAGING}') AS size")
        return int(rows), int(size[0]["size"])

    assert seg.run(staging) == (0, 0)


def test_each_batch_reads_only_its_own_range_of_the_classification_table():
    """A full run works in id batches; each batch's reads of
    segmentation_classification name the batch's range themselves (not only
    through the join to staging), so a planner that misjudges the batch still
    reads that range through the index instead of the whole table per batch —
    which made PostgreSQL's full run quadratic in the base."""
    import re

    from kehu.plugins.segmentation.service.scoring import history_and_swap_sql
    from kehu.plugins.segmentation.service.sql import Dialect, IdRange

    for postgres in (False, True):
        d = Dialect.__new__(Dialect)
        d.name, d.postgres = ("postgres" if postgres else "sqlite"), postgres
        now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        for fresher_than in (None, now):
            for sql, params in history_and_swap_sql(d, IdRange(101, 200), now, "SCHEDULE", 1, fresher_than):
                aliases = re.findall(r"segmentation_classification (\w+) (?:ON|WHERE)", sql)
                for alias in aliases:
                    assert f"{alias}.customer_id BETWEEN" in sql, (alias, sql)
                if sql.startswith("DELETE"):
                    assert "customer_id BETWEEN" in sql
                assert params.count(101) == params.count(200) == sql.count("BETWEEN")
                placeholders = len(re.findall(r"\$\d+", sql)) if postgres else sql.count("?")
                assert placeholders == len(params)
