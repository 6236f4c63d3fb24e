"""CLV on real data: CDNOW, calibrated 1997-01-01..1997-09-30, held out to 1998-06-30.

    python benchmarks/clv_cdnow.py                      # SQLite
    python benchmarks/clv_cdnow.py --postgres postgres://postgres@127.0.0.1:54329
    python benchmarks/clv_cdnow.py --data CDNOW_master.txt   # a copy you already have

CDNOW (Fader & Hardie's public data set: 23,570 customers who first bought in
1997 Q1, 69,659 purchase records to 1998-06-30) is read from the package that
ships it, the ``lifetimes`` wheel (``pip download lifetimes --no-deps``: only its
data file is used, never its code — it does not install on current numpy).

The whole history is loaded into a fresh kehu database *without shifting any
date*, the clock set after the holdout, and ``recompute_all(as_of=1997-09-30)``
scores every customer as of the end of calibration, with
``clv.horizon_days`` = the holdout's 273 days. Then:

* kehu's predicted CLV and expected revenue are ranked against each customer's
  actual holdout revenue (Spearman) and the expected total against the actual;
* the reference — BG/NBD + Gamma-Gamma as in the literature (repeat purchases
  only for spend, the population mean for one-time buyers) — is fitted on the
  same calibration data and scored the same way;
* ``--check-shift`` also loads the data shifted so that 1998-06-30 is "today"
  and checks that it scores exactly like the unshifted data ``--as-of 1998-06-30``.

Exit status 1 when kehu ranks worse than the reference or misses the total by
more than 25 %. Results are in benchmarks/segmentation.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

CALIBRATION_END = dt.date(1997, 9, 30)
HOLDOUT_END = dt.date(1998, 6, 30)
HOLDOUT_DAYS = (HOLDOUT_END - CALIBRATION_END).days  # 273
CACHE = Path.home() / ".cache" / "kehu-benchmarks"
BATCH = 10_000


def cdnow_lines(path: str | None) -> list[str]:
    """CDNOW_master.txt: from ``path``, else from the lifetimes wheel (downloaded once)."""
    if path:
        return Path(path).read_text().splitlines()
    CACHE.mkdir(parents=True, exist_ok=True)
    wheels = sorted(CACHE.glob("[Ll]ifetimes-*.whl"))
    if not wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "lifetimes==0.11.3", "--no-deps", "-q", "-d", str(CACHE)],
            check=True,
        )
        wheels = sorted(CACHE.glob("[Ll]ifetimes-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as wheel:
        return wheel.read("lifetimes/datasets/CDNOW_master.txt").decode().splitlines()


def parse(lines: list[str]) -> list[tuple[str, dt.date, Decimal]]:
    """(customer, date, dollars) per record; the header line is skipped."""
    out = []
    for line in lines[1:]:
        customer, day, _cds, dollars = line.split()
        out.append((customer, dt.date(int(day[:4]), int(day[4:6]), int(day[6:])), Decimal(dollars)))
    return out


async def load(records, shift: dt.timedelta = dt.timedelta(0)) -> dict[int, str]:
    """Customers and purchases into the connected database; {kehu id: CDNOW id}.
    Each purchase at noon UTC of its day (plus ``shift``)."""
    from kehu.models import Customer, Interaction, InteractionKind

    names = sorted({r[0] for r in records})
    for lo in range(0, len(names), BATCH):
        await Customer.bulk_create([Customer(name=n) for n in names[lo : lo + BATCH]])
    ids = {c.name: c.id for c in await Customer.all().only("id", "name")}
    rows = [
        Interaction(
            customer_id=ids[customer],
            kind=InteractionKind.PURCHASE,
            occurred_at=dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC) + shift,
            amount=dollars,
        )
        for customer, day, dollars in records
    ]
    for lo in range(0, len(rows), BATCH):
        await Interaction.bulk_create(rows[lo : lo + BATCH])
    return {v: k for k, v in ids.items()}


def calibration_summary(records):
    """Per customer, in days as of the end of calibration: repeat purchase days,
    t_x, age, mean spend of the repeat days; and the holdout revenue."""
    days: dict[str, dict[dt.date, float]] = defaultdict(lambda: defaultdict(float))
    for customer, day, dollars in records:
        days[customer][day] += float(dollars)
    out = {}
    for customer, by_day in days.items():
        calib = sorted(d for d in by_day if d <= CALIBRATION_END)
        first, last = calib[0], calib[-1]
        repeat = [by_day[d] for d in calib[1:]]
        out[customer] = {
            "x": len(calib) - 1,
            "t_x": (last - first).days,
            "age": (CALIBRATION_END - first).days,
            "repeat_mean": sum(repeat) / len(repeat) if repeat else 0.0,
            "holdout": sum(v for d, v in by_day.items() if CALIBRATION_END < d <= HOLDOUT_END),
        }
    return out


def reference_predictions(summary) -> dict[str, float]:
    """BG/NBD + Gamma-Gamma, the textbook way: expected holdout revenue per customer.

    Written here from the papers and nothing else — none of kehu's code — so that
    it checks kehu rather than repeats it: the BG/NBD likelihood and conditional
    expectation of Fader, Hardie & Lee (2005), "Counting Your Customers the Easy
    Way" (eq. 6 and 10; the Excel note's A1..A4 terms), the Gamma-Gamma likelihood
    and conditional mean of their "RFM and CLV" (2005, eq. 4 and 5), fitted on
    repeat purchases of positive value only, with the population mean for one-time buyers. Times in
    weeks, as in the papers; Nelder-Mead, as in their Excel/MATLAB notes."""
    import numpy as np
    from scipy.optimize import minimize
    from scipy.special import gammaln, hyp2f1

    week = 7.0
    names = sorted(summary)
    x = np.array([summary[n]["x"] for n in names], float)
    t_x = np.array([summary[n]["t_x"] for n in names], float) / week
    age = np.array([summary[n]["age"] for n in names], float) / week
    zbar = np.array([summary[n]["repeat_mean"] for n in names], float)

    def bg_nbd_nll(log_params):
        r, alpha, a, b = np.exp(log_params)
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
        a3 = -(r + x) * np.log(alpha + age)
        with np.errstate(divide="ignore", invalid="ignore"):
            a4 = np.where(x > 0, np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + t_x), -np.inf)
        return -np.sum(a1 + a2 + np.logaddexp(a3, a4))

    bg = minimize(
        bg_nbd_nll, np.zeros(4), method="Nelder-Mead", options={"maxiter": 20_000, "xatol": 1e-8, "fatol": 1e-8}
    )
    r, alpha, a, b = np.exp(bg.x)
    t = HOLDOUT_DAYS / week
    with np.errstate(divide="ignore", invalid="ignore"):
        alive = 1 / (
            1 + np.where(x > 0, a / (b + np.maximum(x, 1) - 1) * ((alpha + age) / (alpha + t_x)) ** (r + x), 0)
        )
        inner = 1 - ((alpha + age) / (alpha + age + t)) ** (r + x) * hyp2f1(
            r + x, b + x, a + b + x - 1, t / (alpha + age + t)
        )
    purchases = (a + b + x - 1) / (a - 1) * inner * alive

    repeat = (x > 0) & (zbar > 0)  # a repeat buyer of only $0 orders has no spend to fit
    n, m = x[repeat], zbar[repeat]

    def gamma_gamma_nll(log_params):
        p, q, g = np.exp(log_params)
        return -np.sum(
            gammaln(p * n + q) - gammaln(p * n) - gammaln(q) + q * np.log(g)
            + (p * n - 1) * np.log(m) + p * n * np.log(n) - (p * n + q) * np.log(g + n * m)
        )  # fmt: skip

    gg = minimize(gamma_gamma_nll, np.log([1.0, 2.0, float(m.mean())]), method="Nelder-Mead",
                  options={"maxiter": 20_000, "xatol": 1e-8, "fatol": 1e-8})  # fmt: skip
    p, q, g = np.exp(gg.x)
    spend = np.where(repeat, p * (g + x * zbar) / (p * x + q - 1), p * g / (q - 1))
    print(
        f"reference BG/NBD (weeks): r={r:.4g}, alpha={alpha:.4g}, a={a:.4g}, b={b:.4g} (LL {-bg.fun:.1f}); "
        f"Gamma-Gamma: p={p:.4g}, q={q:.4g}, gamma={g:.4g} (LL {-gg.fun:.1f})"
    )
    return dict(zip(names, purchases * spend))


def fmt(params: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in params.items())


def spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).correlation)


async def kehu_app(url: str, now: dt.datetime):
    from kehu.clock import FrozenClock
    from kehu.config import parse_config
    from kehu.server.runtime import Kehu

    config = parse_config(
        {
            "kehu": {"database_url": url},
            "plugins": {
                "enabled": ["segmentation"],
                "segmentation": {"recompute_interval_minutes": 0, "clv": {"horizon_days": HOLDOUT_DAYS}},
            },
        }
    )
    kehu = Kehu(config, clock=FrozenClock(now))
    await kehu.connect(migrate=True)
    return kehu


async def scored(kehu, as_of: dt.date | None) -> tuple[dict[int, tuple], float, dict]:
    from kehu.plugins.segmentation import service
    from kehu.plugins.segmentation.models import Classification

    result = await service.recompute_all(kehu, as_of=as_of)
    rows = await Classification.all().values_list(
        "customer_id", "r", "f", "m", "abc_class", "value_tier", "lifecycle_stage", "clv_predicted_cents",
        "expected_revenue_cents", "p_alive",
    )  # fmt: skip
    return {r[0]: r[1:] for r in rows}, result.seconds, result.clv_model or {}


async def main(url_for, data: str | None, check_shift: bool) -> int:
    records = parse(cdnow_lines(data))
    summary = calibration_summary(records)
    print(f"CDNOW: {len(summary):,} customers, {len(records):,} purchase records")
    now = dt.datetime(1998, 7, 1, 9, tzinfo=dt.UTC)
    async with url_for() as url:
        kehu = await kehu_app(url, now)
        try:
            started = time.perf_counter()
            names = await load(records)
            print(f"loaded in {time.perf_counter() - started:.1f}s")
            rows, seconds, model = await scored(kehu, CALIBRATION_END)
            print(f"recompute as of {CALIBRATION_END}: {seconds:.2f}s (model fit {model.get('seconds')}s)")
            print(
                f"kehu {model.get('model')}: {fmt(model.get('params') or {})}; spend: {fmt(model.get('spend') or {})}"
            )
            full = (await scored(kehu, HOLDOUT_END))[0] if check_shift else {}
        finally:
            await kehu.disconnect()
    reference = reference_predictions(summary)
    order = sorted(names)
    actual = [summary[names[i]]["holdout"] for i in order]
    clv = [rows[i][6] / 100 for i in order]
    expected = [rows[i][7] / 100 for i in order]
    ref = [reference[names[i]] for i in order]
    results = {
        "kehu CLV (margin, discounted)": (spearman(clv, actual), None),
        "kehu expected revenue": (spearman(expected, actual), sum(expected)),
        "BG/NBD + Gamma-Gamma": (spearman(ref, actual), sum(ref)),
        # For scale: kehu's own scores (no model), as the issue measured them.
        "R + F + M scores": (spearman([sum(v or 0 for v in rows[i][:3]) for i in order], actual), None),
    }
    total = sum(actual)
    print(f"\nholdout revenue 1997-10-01..1998-06-30: {total:,.2f}")
    print(f"{'model':<32} {'Spearman':>9} {'expected total':>15} {'vs actual':>10}")
    for label, (rho, level) in results.items():
        level_text = f"{level:>15,.2f} {100 * (level / total - 1):>+9.1f}%" if level is not None else ""
        print(f"{label:<32} {rho:>9.4f} {level_text}")
    ok = results["kehu CLV (margin, discounted)"][0] >= results["BG/NBD + Gamma-Gamma"][0]
    ok &= results["kehu expected revenue"][0] >= results["BG/NBD + Gamma-Gamma"][0]
    ok &= abs(results["kehu expected revenue"][1] / total - 1) <= 0.25
    if check_shift:
        ok &= await shifted_equals(url_for, records, full, names)
    print("\nOK" if ok else "\nFAILED")
    return 0 if ok else 1


async def shifted_equals(url_for, records, unshifted: dict[int, tuple], names: dict[int, str]) -> bool:
    """Load the data shifted so that HOLDOUT_END is today, score it without an as-of."""
    # The evening of the day 1998-06-30 is shifted to: its purchases (at noon) are in.
    now = dt.datetime(2026, 1, 1, 21, tzinfo=dt.UTC)
    shift = dt.timedelta(days=(now.date() - HOLDOUT_END).days)
    async with url_for() as url:
        kehu = await kehu_app(url, now)
        try:
            shifted_names = await load(records, shift)
            rows, _, _ = await scored(kehu, None)
        finally:
            await kehu.disconnect()
    by_name = {shifted_names[i]: v[:6] for i, v in rows.items()}
    differ = [n for i, n in names.items() if unshifted[i][:6] != by_name[n]]
    print(f"as-of {HOLDOUT_END} unshifted vs shifted load: {len(names) - len(differ):,} of {len(names):,} identical")
    return not differ


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="server URL (a database is created and dropped)")
    parser.add_argument("--data", help="a CDNOW_master.txt (default: from the lifetimes wheel)")
    parser.add_argument("--check-shift", action="store_true", help="also compare with a date-shifted load")
    args = parser.parse_args()
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def url_for():
        if args.postgres:
            import asyncpg

            name = f"kehu_cdnow_{uuid.uuid4().hex[:8]}"
            server = args.postgres.rstrip("/")
            admin = await asyncpg.connect(server + "/postgres")
            await admin.execute(f'CREATE DATABASE "{name}"')
            try:
                yield f"{server}/{name}"
            finally:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await admin.close()
        else:
            with tempfile.TemporaryDirectory() as tmp:
                yield f"sqlite://{tmp}/cdnow.db"

    sys.exit(asyncio.run(main(url_for, args.data, args.check_shift)))


if __name__ == "__main__":
    run()
