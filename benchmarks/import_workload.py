"""W5: importing a customer base and its history, against a raw insert of the same rows.

Three measurements, each in the same run as its anchor so that the machine's
load falls on both alike:

* **customers** — ``import_customers`` of N generated rows (CSV: external id,
  name, kind, e-mail, phone, region, industry, tags, owner, attributes, customer
  since) into a fresh database with the plugins enabled, against a plain
  ``executemany``/``COPY`` of the same rows as ready-made tuples (no parsing, no
  checks, no plugins) into another fresh database — the floor.
* **interactions** — ``import_interactions`` of N rows (purchases and contacts
  over ten years, by customer external id), likewise against a raw insert.
  Both kehu figures are given twice: rows written per second, and per second
  including the plugins' catching up afterwards (loyalty's history replay,
  segmentation's recompute).
* **W1 during an import** — the W1 page request at concurrency 1 against the
  running kehu server while ``kehu import`` runs in another process on the same
  database (customers, then interactions), next to the same request on the idle
  server just before: the API keeps answering while an import commits in batches.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from .client import Sample, run_batch
from .workloads import AUTH, graphql_body

REGIONS = ["Shanghai", "Beijing", "Guangdong", "Zhejiang", "Jiangsu", "Sichuan", "London", "Berlin", "New York"]
INDUSTRIES = ["Retail", "Manufacturing", "Software", "Healthcare", "Logistics", "Education", "Hospitality"]
TAGS = ["vip", "wholesale", "newsletter", "referral", "trade-show", "wechat", "key account"]
KINDS = ["PURCHASE"] * 6 + ["CALL", "EMAIL", "VISIT", "MESSAGE"]
OWNER = "importer@bench.kehu.invalid"
CUSTOMER_HEADER = ["external_id", "name", "kind", "email", "phone", "region", "industry", "tags", "owner_email"]
CUSTOMER_HEADER += ["attributes", "created_at"]
HISTORY_HEADER = ["external_id", "customer_external_id", "kind", "occurred_at", "amount", "subject", "direction"]


def generate(
    folder: Path, rows: int, *, prefix: str = "", seed: int = 5, owner: str = OWNER, history_rows: int | None = None
) -> tuple[Path, Path]:
    """``customers.csv`` of ``rows`` rows and ``history.csv`` of ``history_rows``
    (default: as many); a third of the customers assigned to ``owner`` (an
    e-mail; "" for none)."""
    rng = random.Random(seed)
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    customers, history = folder / f"{prefix}customers.csv", folder / f"{prefix}history.csv"
    with customers.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CUSTOMER_HEADER)
        for i in range(rows):
            org = i % 4 == 0
            since = now - dt.timedelta(days=rng.randrange(30, 3650))
            # A number of its own per customer (scattered; 7,919 is prime to 10⁸): a
            # shared one would be a duplicate, which the import rejects.
            phone = (i * 7919 + 4711) % 100_000_000
            writer.writerow(
                [
                    f"{prefix}C{i:07d}",
                    f"Company {i} Ltd" if org else f"客户 {i} Customer",
                    "ORGANIZATION" if org else "PERSON",
                    f"{prefix}c{i}@example.com",
                    f"+86 138 {phone // 10000:04d} {phone % 10000:04d}",
                    rng.choice(REGIONS),
                    rng.choice(INDUSTRIES),
                    ";".join(rng.sample(TAGS, rng.randrange(0, 3))),
                    owner if i % 3 == 0 else "",
                    json.dumps({"source": "crm", "level": i % 5}) if i % 3 == 1 else "",
                    since.date().isoformat(),
                ]
            )
    with history.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HISTORY_HEADER)
        for i in range(rows if history_rows is None else history_rows):
            kind = rng.choice(KINDS)
            at = now - dt.timedelta(days=rng.randrange(1, 3650), seconds=rng.randrange(86400))
            writer.writerow(
                [
                    f"{prefix}O{i:08d}",
                    f"{prefix}C{rng.randrange(rows):07d}",
                    kind,
                    at.strftime("%Y-%m-%d %H:%M:%S"),
                    f"{rng.lognormvariate(5, 0.8):.2f}" if kind == "PURCHASE" else "",
                    "Order" if kind == "PURCHASE" else "Contact",
                    "INBOUND" if kind == "PURCHASE" else "OUTBOUND",
                ]
            )
    return customers, history


async def _connect(url: str, plugins: tuple[str, ...]):
    from tortoise.backends.base.executor import EXECUTOR_CACHE

    from kehu.config import parse_config
    from kehu.server.runtime import Kehu

    # Tortoise caches each model's INSERT per process by connection name, not by
    # dialect: after SQLite's run, PostgreSQL would get SQLite's statements.
    EXECUTOR_CACHE.clear()
    kehu = Kehu(parse_config({"kehu": {"database_url": url}, "plugins": {"enabled": list(plugins)}}))
    await kehu.connect(migrate=True)
    return kehu


async def _owner() -> int:
    from kehu.models import AccountOwner, Role

    return (await AccountOwner.create(name="Importer", email=OWNER, role=Role.MANAGER, team="north")).id


def _customer_tuples(path: Path, owner_id: int, now: dt.datetime) -> list[tuple]:
    """The rows as kehu stores them, the duplicates' normalised keys too
    (``CUSTOMER_COLUMNS``)."""
    from kehu.bulk import encode_json
    from kehu.duplicates import stored_keys

    out = []
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            keys = stored_keys(None, row["name"], row["email"], row["phone"]).values()
            out.append(
                (
                    row["external_id"],
                    row["name"],
                    row["kind"],
                    row["email"],
                    row["phone"],
                    None,
                    row["region"],
                    row["industry"],
                    encode_json(sorted(t for t in row["tags"].split(";") if t)),
                    row["attributes"] or "{}",
                    owner_id if row["owner_email"] else None,
                    dt.datetime.fromisoformat(row["created_at"]).replace(tzinfo=dt.UTC),
                    now,
                    *keys,
                )
            )
    return out


def _history_tuples(path: Path, ids: dict[str, int], now: dt.datetime) -> list[tuple]:
    out = []
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            out.append(
                (
                    ids[row["customer_external_id"]],
                    None,
                    row["kind"],
                    row["direction"],
                    dt.datetime.fromisoformat(row["occurred_at"]).replace(tzinfo=dt.UTC),
                    row["subject"],
                    "",
                    Decimal(row["amount"]) if row["amount"] else None,
                    None,
                    row["external_id"],
                    now,
                )
            )
    return out


CUSTOMER_COLUMNS = (
    "external_id",
    "name",
    "kind",
    "email",
    "phone",
    "address",
    "region",
    "industry",
    "tags",
    "attributes",
    "owner_id",
    "created_at",
    "updated_at",
    "email_key",
    "phone_key",
    "name_key",
    "name_pinyin",
    "name_initials",
)
HISTORY_COLUMNS = (
    "customer_id",
    "owner_id",
    "kind",
    "direction",
    "occurred_at",
    "subject",
    "notes",
    "amount",
    "next_follow_up_at",
    "external_id",
    "created_at",
)


@dataclass
class Timing:
    """One measured step: wall seconds and this process's CPU seconds (every
    thread: SQLite works in aiosqlite's; PostgreSQL's own work is in its server
    processes and not counted)."""

    seconds: float = 0.0
    cpu: float = 0.0

    @contextmanager
    def measure(self):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield self
        finally:
            self.seconds += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu


async def raw_insert(url: str, customers: Path, history: Path, batch: int = 5000) -> tuple[Timing, Timing]:
    """Insert the files' rows as ready-made tuples (built beforehand, not timed), in
    transactions of ``batch`` rows, without parsing, checks or plugins, with the
    SQLite settings kehu's import uses (``kehu.bulk.bulk_session``)."""
    from tortoise.transactions import in_transaction

    from kehu.bulk import bulk_session, insert_rows
    from kehu.models import Customer, Interaction

    kehu = await _connect(url, ())
    try:
        owner_id = await _owner()
        now = dt.datetime.now(dt.UTC)
        rows = _customer_tuples(customers, owner_id, now)
        first, second = Timing(), Timing()
        with first.measure():
            async with bulk_session(Customer):
                for start in range(0, len(rows), batch):
                    async with in_transaction():
                        await insert_rows(Customer, CUSTOMER_COLUMNS, rows[start : start + batch])
        ids = dict(await Customer.all().values_list("external_id", "id"))
        rows = _history_tuples(history, ids, now)
        with second.measure():
            async with bulk_session(Customer):
                for start in range(0, len(rows), batch):
                    async with in_transaction():
                        await insert_rows(Interaction, HISTORY_COLUMNS, rows[start : start + batch])
        return first, second
    finally:
        await kehu.disconnect()


async def kehu_import(url: str, plugins: tuple[str, ...], customers: Path, history: Path):
    """``import_customers`` then ``import_interactions`` (each with the plugins'
    after-load work: ``kehu_bulk_loaded``); their reports and timings."""
    from kehu.cli.history import import_interactions
    from kehu.cli.transfer import import_customers

    kehu = await _connect(url, plugins)
    try:
        await _owner()
        first, second = Timing(), Timing()
        with first.measure():
            customers_report = await import_customers(kehu, customers, actor="benchmark")
        with second.measure():
            history_report = await import_interactions(kehu, history, actor="benchmark")
        return (customers_report, first), (history_report, second)
    finally:
        await kehu.disconnect()


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _rows(db: str, what: str, n: int, rounds: list[tuple[Any, Timing, Timing]], Row) -> list:
    """The kehu and raw rows of one import (customers or interactions) over the
    interleaved rounds: medians, and each round's ratio."""
    kehu_rate = _median([n / k.seconds for _, k, _ in rounds])
    raw_rate = _median([n / r.seconds for _, _, r in rounds])
    shares = [r.seconds / k.seconds for _, k, r in rounds]  # kehu's rows/s as a share of raw's, per round
    written = _median([n / (k.seconds - report.plugin_seconds) for report, k, _ in rounds])
    after = _median([report.plugin_seconds for report, _, _ in rounds])
    kehu_cpu = _median([k.cpu / n * 1e6 for _, k, _ in rounds])
    raw_cpu = _median([r.cpu / n * 1e6 for _, _, r in rounds])
    report = rounds[-1][0]
    verdict = "met" if kehu_rate >= 50_000 else "MISSED"
    note = (
        f"{_median(shares):.0%} of raw (rounds: {', '.join(f'{x:.0%}' for x in shares)}); "
        f"import with after-load work ({after:.1f} s of plugins); {written:,.0f}/s written before it; "
        f"CPU {kehu_cpu:.0f} µs/row (raw {raw_cpu:.0f}); target ≥50,000 {verdict}"
    )
    if report.errors:
        note += f"; {len(report.errors)} REJECTED, first: {report.errors[0]}"
    return [
        Row(f"W5 import {what} (rows/s)", db, "kehu", 1, rps=kehu_rate, ratio=raw_rate / kehu_rate, note=note),
        Row(
            f"W5 import {what} (rows/s)",
            db,
            "raw",
            1,
            rps=raw_rate,
            note=f"{n:,} ready-made rows, {_median([r.seconds for _, _, r in rounds]):.2f} s; CPU {raw_cpu:.0f} µs/row",
        ),
    ]


async def w5(
    db: str,
    new_database: Callable[[], Awaitable[str]],
    drop_database: Callable[[str], Awaitable[None]],
    plugins: tuple[str, ...],
    rows: int,
    log,
    Row,
    rounds: int = 2,
) -> list:
    """Customers and interactions, kehu and raw, each into its own fresh database,
    in ``rounds`` rounds that alternate which goes first, so that the machine's
    load falls on both alike."""
    folder = Path(tempfile.mkdtemp(prefix="kehu-bench-import-"))
    customers, history = generate(folder, rows)
    log(
        f"  W5 import of {rows:,} customers and {rows:,} interactions, kehu and a raw insert interleaved, "
        f"{rounds} rounds (load average {os.getloadavg()[0]:.1f})"
    )
    results: dict[str, list] = {"customers": [], "interactions": []}
    for round_ in range(rounds):
        measured: dict[str, Any] = {}
        for impl in ("kehu", "raw") if round_ % 2 == 0 else ("raw", "kehu"):
            url = await new_database()
            try:
                if impl == "kehu":
                    measured["kehu"] = await kehu_import(url, plugins, customers, history)
                else:
                    measured["raw"] = await raw_insert(url, customers, history)
            except Exception as exc:  # report, do not lose the other workloads' results
                note = f"FAILED: {type(exc).__name__}: {str(exc)[:120]}"
                return [Row("W5 import (rows/s)", db, impl, 1, note=note)]
            finally:
                await drop_database(url)
        (c_report, c_kehu), (h_report, h_kehu) = measured["kehu"]
        c_raw, h_raw = measured["raw"]
        results["customers"].append((c_report, c_kehu, c_raw))
        results["interactions"].append((h_report, h_kehu, h_raw))
        log(
            f"    round {round_ + 1}: customers kehu {c_kehu.seconds:.2f} s / raw {c_raw.seconds:.2f} s, "
            f"interactions kehu {h_kehu.seconds:.2f} s / raw {h_raw.seconds:.2f} s "
            f"(load average {os.getloadavg()[0]:.1f})"
        )
    return _rows(db, "customers", rows, results["customers"], Row) + _rows(
        db, "interactions", rows, results["interactions"], Row
    )


async def w1_during_import(
    server, db: str, url: str, plugins: tuple[str, ...], rows: int, log, Row, root: Path
) -> list:
    """W1 p50/p95 on the idle server, then while ``kehu import`` runs beside it."""
    from . import workloads

    body = graphql_body(workloads.page_document(plugins), {"n": 100})
    folder = Path(tempfile.mkdtemp(prefix="kehu-bench-live-"))
    # Into the benchmark's own data set, whose owners the file does not know.
    customers, history = generate(folder, rows, prefix="live-", seed=9, owner="")
    config = folder / "plugins.toml"
    config.write_text(
        f'[kehu]\ndatabase_url = "{url}"\n\n[plugins]\nenabled = {json.dumps(list(plugins))}\n', encoding="utf-8"
    )

    def request(i):
        return ("POST", "/graphql", body, AUTH)

    log(f"  W1 while importing {rows:,} customers and {rows:,} interactions in another process")
    idle = await run_batch("127.0.0.1", server.port, 1, 40, request, workloads.check_graphql)
    env = {
        **os.environ,
        "KEHU_CONFIG": str(config),
        "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    command = [sys.executable, "-m", "kehu.cli", "import"]
    proc = await asyncio.to_thread(
        subprocess.Popen,
        [*command, "customers", str(customers)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    started = time.perf_counter()
    during = Sample()
    step, died = 0, False
    while True:
        if proc.poll() is not None:
            if step == 0:
                output = proc.stdout.read().decode()
                step = 1
                proc = await asyncio.to_thread(
                    subprocess.Popen,
                    [*command, "interactions", str(history)],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
                continue
            output += proc.stdout.read().decode()
            break
        if server.proc.poll() is not None:  # the server died: say so, and let the import finish
            died = True
            await asyncio.sleep(0.5)
            continue
        try:
            during.extend(await run_batch("127.0.0.1", server.port, 1, 5, request, workloads.check_graphql))
        except OSError as exc:  # a dropped connection is a failed request, not the end of the run
            during.failures.append(f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(0.1)
    seconds = time.perf_counter() - started
    ok = proc.returncode == 0
    summary = " / ".join(line.split(": ", 1)[-1] for line in output.splitlines() if " row(s) read " in line)
    return [
        Row("W1 page of 100, idle", db, "kehu", 1, idle.p(0.5) * 1000, idle.p(0.95) * 1000, idle.throughput),
        Row(
            "W1 page of 100, during import",
            db,
            "kehu",
            1,
            during.p(0.5) * 1000,
            during.p(0.95) * 1000,
            during.throughput,
            note=(
                f"{during.requests} requests, {len(during.failures)} failed, over the {seconds:.1f} s import"
                + ("" if ok else " — IMPORT FAILED")
                + (f" — THE SERVER DIED: {server.log_tail(200)!r}" if died else "")
                + (f"; first failure: {during.failures[0][:80]}" if during.failures else "")
                + (f": {summary[:140]}" if summary else "")
            ),
        ),
    ]
