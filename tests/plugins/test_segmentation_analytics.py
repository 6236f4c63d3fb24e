"""Segmentation for an analyst: as-of dates, the business calendar, the CLV model,
the scoring choices, explanations in two languages, and results that leave the
system (``kehu export segments``, ``segmentationResults``).
"""

import argparse
import csv
import datetime as dt
import json
import random
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from kehu.errors import ValidationError
from kehu.ids import pk_from_global_id, to_global_id
from kehu.models import Customer, Interaction, InteractionKind
from kehu.plugins.segmentation import service
from kehu.plugins.segmentation.models import Classification, ClvCell
from kehu.plugins.segmentation.service import btyd, explanation
from kehu.plugins.segmentation.service.export import COLUMNS
from kehu.testing import walk_pages

SETTINGS = {"segmentation": {"recompute_interval_minutes": 0}}
SHANGHAI = ZoneInfo("Asia/Shanghai")
DATA = Path(__file__).parent / "data"


def settings(**extra):
    return {"segmentation": {"recompute_interval_minutes": 0, **extra}}


async def buy(customer_id: int, when: dt.datetime, amount: str = "100") -> None:
    await Interaction.create(
        customer_id=customer_id, kind=InteractionKind.PURCHASE, occurred_at=when, amount=Decimal(amount)
    )


async def classifications(app) -> dict[str, Classification]:
    names = dict(await Customer.all().values_list("id", "name"))
    return {names[r.customer_id]: r for r in await Classification.all()}


# --------------------------------------------------------------------------- the models themselves


def cdnow_sample():
    with (DATA / "cdnow_sample_summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    return [np.array([float(r[c]) for r in rows]) for c in ("x", "t_x", "T", "zbar")]


@pytest.mark.parametrize(
    "fit, published",
    [
        # Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way", weeks.
        (btyd.fit_bg_nbd, {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}),
        # Fader, Hardie & Lee (2005), "A Note on Implementing the Pareto/NBD Model in MATLAB".
        (btyd.fit_pareto_nbd, {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}),
    ],
)
def test_transaction_models_reproduce_the_published_cdnow_estimates(fit, published):
    x, t_x, age, _ = cdnow_sample()
    result = fit(x, t_x, age)
    assert result.usable()
    for name, value in published.items():
        assert result.params[name] == pytest.approx(value, rel=2e-3, abs=1e-3), name
    # The published log-likelihoods: −9582.4 (BG/NBD), −9595.0 (Pareto/NBD).
    assert result.log_likelihood == pytest.approx(-9582.4 if "a" in published else -9595.0, abs=0.1)


def test_gamma_gamma_reproduces_the_published_cdnow_estimates():
    # Fader, Hardie & Lee (2005), "RFM and CLV": p = 6.25, q = 3.74, γ = 15.44 over the 946 repeat buyers.
    x, _, _, zbar = cdnow_sample()
    repeat = x > 0
    result = btyd.fit_gamma_gamma(x[repeat], zbar[repeat])
    assert (result.customers, result.usable()) == (946, True)
    assert result.params == pytest.approx({"p": 6.25, "q": 3.74, "gamma": 15.44}, rel=3e-3)


def test_expected_purchases_match_the_published_customer_example():
    # "Counting Your Customers" §5: a customer with x = 2, t_x = 30.43, T = 38.86
    # (weeks) is expected to make 1.226 purchases in the next 39 weeks.
    params = (0.243, 4.414, 0.793, 2.426)
    _, expected = btyd.bg_nbd_expected(params, [2], [30.43], [38.86], [39])
    assert expected[0][0] == pytest.approx(1.226, abs=2e-3)
    # Pareto/NBD: expected purchases fall with recency and P(alive) is 1 right after a purchase.
    p = (0.553, 10.578, 0.606, 11.669)
    alive, cumulative = btyd.pareto_nbd_expected(p, [3, 3, 3], [38.86, 20, 1], [38.86, 38.86, 38.86], [10, 39])
    assert alive[0] == pytest.approx(1.0) and alive[0] > alive[1] > alive[2]
    assert (cumulative[1] > cumulative[0]).all() and cumulative[1][0] > cumulative[1][1] > cumulative[1][2]


def test_hard_parameter_regions_stay_finite():
    # β ≫ α: scipy's hyp2f1 overflows for some shapes; the quadrature takes over.
    rng = np.random.default_rng(1)
    age = rng.integers(1, 730, 5000).astype(float)
    t_x = np.floor(age * rng.random(5000))
    x = np.minimum(rng.pareto(1.2, 5000) * 5, 400).round()
    ll = btyd.pareto_nbd_log_likelihood((0.85, 69.7, 0.34, 1345.0), x, t_x, age)
    assert np.isfinite(ll).all()


@pytest.mark.parametrize(
    "a, b, z, expected",
    [
        # log ₂F₁(a, b; a+1; z) near z = 1, by mpmath at 30 digits.
        (3.2, 1.6, 0.99, 4.24063586232664),
        (52.4, 2.0, 0.9804, 6.98548237336847),  # b an integer: the formula's removable pole
        (1.63, 1.0, 0.9999989, 3.05287685053015),
        (20.5, 12.25, 0.999, 78.3114017991155),
        (0.7, 2.0, 0.99945, 7.1502614087847),  # Γ(a+1−b) < 0: the first term changes sign
    ],
)
def test_the_hypergeometric_function_near_one_matches_a_high_precision_reference(a, b, z, expected):
    value = btyd._log_hyp2f1_a1(np.array([a]), b, np.array([z]))[0]
    assert value == pytest.approx(expected, rel=1e-6)


# --------------------------------------------------------------------------- as of a date


HISTORY = {
    # name: [(days before the as-of date, local hour, amount)]
    "ada": [(0, 23, "500"), (30, 0, "120"), (400, 12, "80")],
    "bo": [(3, 1, "60"), (10, 22, "60"), (11, 9, "75")],
    "cy": [(120, 23, "900")],
    "dee": [(364, 0, "40"), (365, 23, "40")],
    "eve": [(200, 8, "10"), (90, 8, "10"), (89, 23, "0")],
    "fay": [(5, 12, "2500"), (6, 12, "1"), (7, 12, "1"), (8, 12, "1")],
}
FIELDS = (
    "recency_days",
    "tenure_days",
    "frequency",
    "monetary_cents",
    "purchase_days",
    "r",
    "f",
    "m",
    "abc_class",
    "frequency_class",
    "value_tier",
    "lifecycle_stage",
    "rfm_segment",
    "clv_predicted_cents",
)


async def seed_history(app, day: dt.date, *, later: bool) -> dict[str, int]:
    """HISTORY relative to ``day`` (Shanghai time); ``later``: also purchases after it."""
    ids = {}
    for name, purchases in HISTORY.items():
        ids[name] = (await Customer.create(name=name)).id
        for days, hour, amount in purchases:
            local = dt.datetime.combine(day - dt.timedelta(days=days), dt.time(hour, 30), tzinfo=SHANGHAI)
            await buy(ids[name], local, amount)
        if later:  # what happened after the as-of date must not count
            await buy(ids[name], dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 10), tzinfo=SHANGHAI))
    return ids


def test_scoring_as_of_a_past_date_equals_scoring_the_date_shifted_history(make_app):
    app = make_app(enabled=("segmentation",), settings=SETTINGS, config={"kehu": {"timezone": "Asia/Shanghai"}})
    now = dt.datetime(2026, 1, 1, 23, 50, tzinfo=SHANGHAI)  # today's 23:30 purchase has happened
    app.clock.set(now)
    past = dt.date(1998, 6, 30)
    app.run(lambda: seed_history(app, past, later=True))
    result = app.run(lambda: service.recompute_all(app.kehu, as_of=past))
    assert result.as_of == past
    as_of_run = {n: tuple(getattr(r, f) for f in FIELDS) for n, r in app.run(classifications, app).items()}
    assert {r.as_of for r in app.run(classifications, app).values()} == {past}
    # The same history moved so that the as-of date is today, scored without a date.
    app.run(Interaction.all().delete)
    app.run(_reseed_shifted, now.date())
    app.run(service.recompute_all, app.kehu)
    shifted = {n: tuple(getattr(r, f) for f in FIELDS) for n, r in app.run(classifications, app).items()}
    assert shifted == as_of_run
    assert as_of_run["ada"][:3] == (0, 400, 2)  # the 23:30 purchase is on the as-of day; 400 days out of the window
    assert as_of_run["dee"][2] == 1  # 364 days before is the window's first day; 365 is outside


async def _reseed_shifted(day: dt.date) -> None:
    ids = dict(await Customer.all().values_list("name", "id"))
    for name, purchases in HISTORY.items():
        for days, hour, amount in purchases:
            local = dt.datetime.combine(day - dt.timedelta(days=days), dt.time(hour, 30), tzinfo=SHANGHAI)
            await buy(ids[name], local, amount)


def test_a_purchase_at_2330_in_shanghai_counts_on_that_calendar_day(make_app):
    app = make_app(enabled=("segmentation",), settings=SETTINGS, config={"kehu": {"timezone": "Asia/Shanghai"}})
    app.clock.set(dt.datetime(2026, 1, 2, 10, tzinfo=SHANGHAI))

    async def seed():
        late = (await Customer.create(name="late")).id
        early = (await Customer.create(name="early")).id
        # 23:30 on 1 January in Shanghai is 15:30 UTC; 00:30 on 2 January is 16:30 UTC, still 1 January in UTC.
        await buy(late, dt.datetime(2026, 1, 1, 23, 30, tzinfo=SHANGHAI))
        await buy(early, dt.datetime(2026, 1, 2, 0, 30, tzinfo=SHANGHAI))

    app.run(seed)
    app.run(lambda: service.recompute_all(app.kehu, as_of=dt.date(2026, 1, 1)))
    got = app.run(classifications, app)
    assert (got["late"].recency_days, got["late"].frequency, got["late"].lifecycle_stage) == (0, 1, "NEW")
    assert (got["early"].lifetime_purchases, got["early"].lifecycle_stage) == (0, "PROSPECT")
    app.run(service.recompute_all, app.kehu)  # as of today, 2 January
    got = app.run(classifications, app)
    assert (got["late"].recency_days, got["early"].recency_days) == (1, 0)
    run = app.run(service.latest_run)
    assert (run.as_of, run.timezone) == (dt.date(2026, 1, 2), "Asia/Shanghai")


def test_the_same_moments_in_utc_fall_on_one_day(make_app):
    app = make_app(enabled=("segmentation",), settings=SETTINGS)
    app.clock.set(dt.datetime(2026, 1, 2, 10, tzinfo=dt.UTC))

    async def seed():
        for name, local in (("late", dt.datetime(2026, 1, 1, 23, 30)), ("early", dt.datetime(2026, 1, 2, 0, 30))):
            await buy((await Customer.create(name=name)).id, local.replace(tzinfo=SHANGHAI))

    app.run(seed)
    app.run(lambda: service.recompute_all(app.kehu, as_of=dt.date(2026, 1, 1)))
    got = app.run(classifications, app)
    assert got["late"].recency_days == got["early"].recency_days == 0


def test_an_as_of_date_in_the_future_is_refused_and_the_setting_is_the_default(make_app):
    app = make_app(enabled=("segmentation",), settings=settings(as_of="2025-06-30"))
    app.clock.set(dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC))
    with pytest.raises(ValidationError) as error:
        app.run(lambda: service.recompute_all(app.kehu, as_of=dt.date(2026, 1, 2)))
    assert error.value.code == "FUTURE_DATE"
    assert app.run(service.recompute_all, app.kehu).as_of == dt.date(2025, 6, 30)


def test_cli_recompute_takes_an_as_of_date(make_app, capsys):
    from kehu.cli.main import build_parser

    app = make_app(enabled=("segmentation",), settings=SETTINGS)
    app.clock.set(dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC))
    parser = build_parser(app.kehu)
    args = parser.parse_args(["segments", "recompute", "--as-of", "2025-12-01"])
    assert app.run(args.handler, app.kehu, args) == 0
    out = capsys.readouterr().out
    assert "as of 2025-12-01 (UTC)" in out and "CLV: run-rate model (too few customers to fit" in out
    with pytest.raises(SystemExit):
        parser.parse_args(["segments", "recompute", "--as-of", "1 Dec"])
    assert "'1 Dec' is not a date (YYYY-MM-DD)" in capsys.readouterr().err


# --------------------------------------------------------------------------- scoring choices


async def seed_counts(counts: dict[str, list[tuple[int, str]]], now: dt.datetime) -> None:
    for name, purchases in counts.items():
        cid = (await Customer.create(name=name)).id
        for days, amount in purchases:
            await buy(cid, now - dt.timedelta(days=days), amount)


def _scores(app):
    return {n: (r.r, r.f, r.m) for n, r in app.run(classifications, app).items()}


def test_rank_scoring_shares_ties_and_ntile_makes_equal_bins(make_app):
    now = dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC)
    # Ten buyers: six bought once (tied), then 2, 3, 4, 5 purchases.
    counts = {f"c{i}": [(10 + k, "100") for k in range(n)] for i, n in enumerate([1, 1, 1, 1, 1, 1, 2, 3, 4, 5])}
    rank = make_app(enabled=("segmentation",), settings=SETTINGS)
    rank.clock.set(now)
    rank.run(seed_counts, counts, now)
    rank.run(service.recompute_all, rank.kehu)
    f_rank = {n: s[1] for n, s in _scores(rank).items()}
    assert [f_rank[f"c{i}"] for i in range(10)] == [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]


def test_ntile_scoring_gives_equal_sized_bins_ties_split_by_customer_id(make_app):
    now = dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC)
    counts = {f"c{i}": [(10 + k, "100") for k in range(n)] for i, n in enumerate([1, 1, 1, 1, 1, 1, 2, 3, 4, 5])}
    app = make_app(enabled=("segmentation",), settings=settings(rfm_scoring="ntile"))
    app.clock.set(now)
    app.run(seed_counts, counts, now)
    app.run(service.recompute_all, app.kehu)
    f = {n: s[1] for n, s in _scores(app).items()}
    assert [f[f"c{i}"] for i in range(10)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    run = app.run(service.latest_run)
    assert run.thresholds["scoring"] == "ntile" and run.thresholds["f"]["4"] == 2


@pytest.mark.parametrize(
    "frequency_unit, zero_counts, frequency", [("purchases", True, 3), ("days", True, 1), ("purchases", False, 2)]
)
def test_frequency_counts_rows_or_purchase_days_and_zero_amounts_as_set(
    make_app, frequency_unit, zero_counts, frequency
):
    now = dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC)
    app = make_app(
        enabled=("segmentation",), settings=settings(frequency_unit=frequency_unit, count_zero_amounts=zero_counts)
    )
    app.clock.set(now)
    app.run(seed_counts, {"x": [(3, "50"), (3, "50"), (3, "0")]}, now)
    app.run(service.recompute_all, app.kehu)
    row = app.run(classifications, app)["x"]
    assert (row.frequency, row.purchase_days, row.monetary_cents) == (frequency, 1, 10000)


# --------------------------------------------------------------------------- the CLV model


async def seed_base(n: int, now: dt.datetime, seed: int = 7) -> None:
    """``n`` customers with Pareto/NBD-like histories over two years."""
    rng = random.Random(seed)
    for i in range(n):
        cid = (await Customer.create(name=f"b{i:03}")).id
        first = rng.uniform(0, 700)
        rate = rng.gammavariate(0.8, 1 / 30)  # purchases per day
        life = rng.expovariate(1 / rng.uniform(60, 900))
        t = 0.0
        rows = [Interaction(customer_id=cid, kind=InteractionKind.PURCHASE, amount=Decimal(rng.randint(20, 400)),
                            occurred_at=now - dt.timedelta(days=first))]  # fmt: skip
        while True:
            t += rng.expovariate(rate)
            if t > min(life, first):
                break
            rows.append(
                Interaction(
                    customer_id=cid,
                    kind=InteractionKind.PURCHASE,
                    amount=Decimal(rng.randint(20, 400)),
                    occurred_at=now - dt.timedelta(days=first - t),
                )  # fmt: skip
            )
        await Interaction.bulk_create(rows)


@pytest.fixture
def base(make_app):
    app = make_app(enabled=("segmentation",), settings=SETTINGS)
    app.clock.set(dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC))
    app.run(seed_base, 160, app.clock.now())
    app.run(service.recompute_all, app.kehu)
    return app


def test_the_fitted_model_gives_each_customer_its_expected_figures(base):
    run = base.run(service.latest_run)
    model = run.clv_model
    assert (model["model"], model["fallback"], model["as_of"]) == ("pareto_nbd", None, "2026-01-01")
    assert model["customers"] == 160 and model["repeat_customers"] >= 20
    params = [model["params"][k] for k in ("r", "alpha", "s", "beta")]
    p, q, gamma = (model["spend"][k] for k in ("p", "q", "gamma"))
    rows = list(base.run(classifications, base).values())
    assert base.run(ClvCell.all().count) == len({(r.purchase_days, r.tenure_days, r.recency_days) for r in rows})
    for row in rows[:40]:
        x, t_x, age = row.purchase_days - 1, row.tenure_days - row.recency_days, row.tenure_days
        alive, purchases, discounted = btyd.predict("pareto_nbd", params, [x], [t_x], [age], 1095, 0.10)
        spend = (gamma + row.lifetime_revenue_cents / 100) * p / (p * row.purchase_days + q - 1)
        assert row.p_alive == pytest.approx(alive[0], rel=1e-9)
        assert row.expected_purchases == pytest.approx(purchases[0], rel=1e-9)
        assert row.expected_revenue_cents == pytest.approx(100 * spend * purchases[0], abs=1)
        assert row.clv_predicted_cents == pytest.approx(100 * 0.30 * spend * discounted[0], abs=1)
    # Recent frequent buyers are likelier alive than long-silent ones.
    by_recency = sorted(rows, key=lambda r: r.recency_days)
    assert by_recency[0].p_alive > by_recency[-1].p_alive


def test_the_fit_is_visible_to_admins_and_analysts_only(base):
    query = "{ segmentationRun { asOf timezone population clvModel { model requested fallback asOf parameters spendParameters customers fitCustomers horizonDays margin discountRate } } }"
    for role in ("admin", "analyst"):
        run = base.data(query, as_=role)["segmentationRun"]
        assert run["asOf"] == "2026-01-01" and run["timezone"] == "UTC"
        fit = run["clvModel"]
        assert (fit["model"], fit["requested"], fit["fallback"], fit["customers"]) == (
            "PARETO_NBD",
            "PARETO_NBD",
            None,
            160,
        )
        assert set(fit["parameters"]) == {"r", "alpha", "s", "beta"} and set(fit["spendParameters"]) == {
            "p",
            "q",
            "gamma",
        }
        assert (fit["horizonDays"], fit["margin"], fit["discountRate"]) == (1095, "0.30", "0.10")
    body = base.gql(query, as_="agent")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_explanations_name_the_rule_the_clv_and_probability_alive(base):
    ids = base.run(lambda: Customer.filter(name__in=["b000", "b001", "b002"]).values_list("id", flat=True))
    query = "query($id: ID!) { customer(id: $id) { segmentation { valueTier tierRule explanation asOf clv { probabilityAlive model } } } }"
    for cid in ids:
        seg = base.data(query, {"id": to_global_id("Customer", cid)}, as_="admin")["customer"]["segmentation"]
        assert seg["asOf"] == "2026-01-01" and seg["clv"]["model"] == "PARETO_NBD"
        text = seg["explanation"]
        assert text.startswith(seg["valueTier"].lower() + ": ")
        if seg["valueTier"] != "GENERAL":
            assert text.startswith(f"{seg['valueTier'].lower()}: {seg['tierRule']}; ")
        alive = round(seg["clv"]["probabilityAlive"] * 100)
        assert f"{alive}% likely to still be buying (Pareto/NBD fitted as of 2026-01-01)" in text
        population = base.run(service.latest_run).population
        assert text.endswith(
            f"; as of 2026-01-01 (UTC); scored against {population} customers who bought in the window."
        ) or text.endswith("; as of 2026-01-01 (UTC).")


def test_without_numpy_and_scipy_the_run_rate_model_is_used_and_said(make_app, monkeypatch):
    monkeypatch.setattr(btyd, "numerics_missing", lambda: btyd.NEEDS_EXTRA)
    app = make_app(enabled=("segmentation",), settings=SETTINGS)
    app.clock.set(dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC))
    app.run(seed_base, 120, app.clock.now())
    app.run(service.recompute_all, app.kehu)
    model = app.run(service.latest_run).clv_model
    assert (model["requested"], model["model"], model["fallback"]) == ("pareto_nbd", "run_rate", btyd.NEEDS_EXTRA)
    row = next(iter(app.run(classifications, app).values()))
    assert row.p_alive is None and row.clv_predicted_cents >= 0
    s = app.kehu.settings_for("segmentation", service.explanation.SegmentationSettings)
    text = service.explain(row, app.run(service.latest_run), s)
    assert "(numpy and scipy are not installed (pip install 'kehu[analytics]'))" in text
    zh = service.explain(row, app.run(service.latest_run), s, "zh-CN")
    assert "未安装 numpy 和 scipy" in zh


# --------------------------------------------------------------------------- languages


def test_explanation_texts_exist_in_both_languages_with_the_same_placeholders():
    from string import Formatter

    def names(text):
        return {n for _, n, _, _ in Formatter().parse(text) if n}

    en, zh = explanation.TEXTS["en"], explanation.TEXTS["zh-CN"]
    assert set(en) == set(zh)
    for key in en:
        assert names(en[key]) == names(zh[key]), key


def test_explanation_language_follows_the_argument_the_request_and_the_setting(make_app):
    app = make_app(enabled=("segmentation",), settings=settings(language="zh-CN"))
    app.clock.set(dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC))
    app.run(seed_counts, {"x": [(3, "1234.5"), (50, "100")]}, app.clock.now())
    app.run(service.recompute_all, app.kehu)
    cid = app.run(lambda: Customer.get(name="x").values_list("id", flat=True))
    query = "query($id: ID!, $l: String) { customer(id: $id) { segmentation { explanation(language: $l) } } }"

    def text(language=None, header=None):
        headers = {"Authorization": f"Bearer {app.tokens['admin']}"}
        if header:
            headers["Accept-Language"] = header
        body = app.client.post(
            "/graphql", json={"query": query, "variables": {"id": to_global_id("Customer", cid), "l": language}},
            headers=headers,
        ).json()  # fmt: skip
        return body["data"]["customer"]["segmentation"]["explanation"]

    assert text().startswith("一般客户：不满足核心或潜力客户的任何规则；R=") and "¥1,334.50" in text()
    assert text(header="en-GB,en;q=0.8").startswith("general: no core or potential rule applies; R=")
    assert "(1,334.50)" in text(header="en")  # no ¥ unless the setting asks for it
    assert text("en", header="zh-CN").startswith("general:")
    assert text(header="zh-TW, fr").startswith("一般客户")  # neither: the setting


def test_a_currency_symbol_setting_applies_in_both_languages(make_app):
    app = make_app(enabled=("segmentation",), settings=settings(currency_symbol="$"))
    app.clock.set(dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC))
    app.run(seed_counts, {"x": [(3, "20")]}, app.clock.now())
    app.run(service.recompute_all, app.kehu)
    row = app.run(classifications, app)["x"]
    s = app.kehu.settings_for("segmentation", service.explanation.SegmentationSettings)
    run = app.run(service.latest_run)
    assert "M=1 ($20)" in service.explain(row, run, s, "en")
    assert "M=1（$20）" in service.explain(row, run, s, "zh-CN")


# --------------------------------------------------------------------------- results out


def export_args(app, *extra: str) -> argparse.Namespace:
    from kehu.cli.main import build_parser

    return build_parser(app.kehu).parse_args(["export", "segments", *extra])


def test_export_segments_writes_every_column_in_csv_jsonl_and_xlsx(base, tmp_path, capsys):
    cid = base.run(lambda: Customer.get(name="b000").values_list("id", flat=True))
    base.run(lambda: Customer.filter(id=cid).update(name='=HYPERLINK("http://evil")'))
    path = tmp_path / "segments.csv"
    assert base.run(export_args(base, "-o", str(path)).handler, base.kehu, export_args(base, "-o", str(path))) == 0
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 160 and tuple(rows[0]) == COLUMNS
    first = next(r for r in rows if r["customer_id"] == str(cid))
    assert first["name"].startswith("'=HYPERLINK")  # never a formula in a spreadsheet
    row = base.run(lambda: Classification.get(customer_id=cid))
    assert first["as_of"] == "2026-01-01" and first["value_tier"] == row.value_tier
    assert Decimal(first["clv_predicted"]) == Decimal(row.clv_predicted_cents) / 100
    assert float(first["probability_alive"]) == pytest.approx(row.p_alive, abs=1e-4)
    assert first["clv_model"] == "pareto_nbd" and first["explanation"].startswith(row.value_tier.lower())

    path = tmp_path / "segments.jsonl"
    args = export_args(base, "-o", str(path), "--value-tier", "GENERAL", "--language", "zh-CN")
    base.run(args.handler, base.kehu, args)
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert records and all(r["value_tier"] == "GENERAL" for r in records)
    assert records[0]["explanation"].startswith("一般客户") and isinstance(records[0]["monetary"], str)

    import openpyxl

    path = tmp_path / "segments.xlsx"
    args = export_args(base, "-o", str(path))
    base.run(args.handler, base.kehu, args)
    sheet = openpyxl.load_workbook(path, read_only=True)["segments"]
    table = list(sheet.values)
    assert table[0] == COLUMNS and len(table) == 161
    named = next(r for r in table[1:] if r[1] == cid)
    assert named[3] == '=HYPERLINK("http://evil")' and named[0] == dt.datetime(2026, 1, 1)
    assert "exported 160 customer(s)" in capsys.readouterr().err


def test_a_segments_members_are_exportable(base, tmp_path):
    rule = {"field": "lifecycleStage", "op": "in", "value": ["ACTIVE", "LOYAL"]}
    base.data(
        "mutation($i: CreateSegmentInput!) { createSegment(input: $i) { userErrors { code } } }",
        {"i": {"key": "active", "name": "Active", "rule": rule}},
        as_="admin",
    )
    path = tmp_path / "active.csv"
    args = export_args(base, "-o", str(path), "--segment", "active")
    base.run(args.handler, base.kehu, args)
    with path.open(encoding="utf-8") as f:
        stages = [r["lifecycle_stage"] for r in csv.DictReader(f)]
    expected = base.run(lambda: Classification.filter(lifecycle_stage__in=["ACTIVE", "LOYAL"]).count())
    assert len(stages) == expected > 0 and set(stages) <= {"ACTIVE", "LOYAL"}
    args = export_args(base, "--segment", "nope")
    from kehu.errors import NotFound

    with pytest.raises(NotFound, match="no segment with key 'nope'"):
        base.run(args.handler, base.kehu, args)


RESULTS = """query($after: String, $f: SegmentationResultFilter) {
  segmentationResults(first: 50, after: $after, filter: $f) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { customerId externalId asOf r f m valueTier tierRule lifecycleStage clvPredicted probabilityAlive clvModel } }
  } }"""


def test_segmentation_results_page_through_every_visible_customer(base):
    seen, after = [], None
    while True:
        page = base.data(RESULTS, {"after": after}, as_="admin")["segmentationResults"]
        seen += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == page["totalCount"] == 160
    assert len({n["customerId"] for n in seen}) == 160 and {n["asOf"] for n in seen} == {"2026-01-01"}
    assert all(n["clvModel"] == "PARETO_NBD" and 0 <= n["probabilityAlive"] <= 1 for n in seen)
    # Customers without an owner are invisible to an agent.
    assert base.data(RESULTS, as_="agent")["segmentationResults"]["totalCount"] == 0
    core = base.data(RESULTS, {"f": {"valueTier": "CORE"}}, as_="admin")["segmentationResults"]
    assert all(e["node"]["valueTier"] == "CORE" for e in core["edges"])
    missing = base.gql(RESULTS, {"f": {"segment": "nope"}}, as_="admin")
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_segmentation_results_page_by_keyset_both_ways_in_customer_order(base):
    ids = walk_pages(base, "segmentationResults", as_="admin", key="customerId", size=37)
    assert len(ids) == 160
    assert [pk_from_global_id(i, "Customer") for i in ids] == sorted(pk_from_global_id(i, "Customer") for i in ids)


def test_a_rule_segment_of_customers_likely_to_buy_again(base):
    create = (
        "mutation($i: CreateSegmentInput!) { createSegment(input: $i) { segment { size } userErrors { message } } }"
    )
    rule = {"field": "probabilityAlive", "op": "gte", "value": 0.5}
    data = base.data(create, {"i": {"key": "alive", "name": "Likely alive", "rule": rule}}, as_="admin")
    expected = base.run(lambda: Classification.filter(p_alive__gte=0.5, archived=False).count())
    assert data["createSegment"]["segment"]["size"] == expected > 0
    bad = {"field": "probabilityAlive", "op": "gte", "value": 1.5}
    data = base.data(create, {"i": {"key": "bad", "name": "Bad", "rule": bad}}, as_="admin")
    assert data["createSegment"]["userErrors"][0]["message"] == (
        "rule.value: probabilityAlive needs a number from 0 to 1"
    )
