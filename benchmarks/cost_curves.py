"""Cost against the size of the base: each request path and bulk job at 10,000,
100,000 and 1,000,000 customers, on SQLite and PostgreSQL.

    python -m benchmarks.cost_curves [--sizes 10000,100000,1000000] [--sqlite-only | --postgres-only]
                                     [--postgres postgres://postgres@127.0.0.1:54329] [--out benchmarks/curves]

For each size and database a base of that many customers with ten interactions each
(``benchmarks.dataset`` with ``Scale.people``: names, mobile numbers, external ids and
stored keys as a real base has them, loyalty accounts and ledgers, raw inserts, then
ANALYZE — and VACUUM on PostgreSQL — as a base in service would have). The base is
built once and kept (``--data``; PostgreSQL: the database ``<prefix><size>``), and
every run measures a copy of it (a file copy; ``CREATE DATABASE … TEMPLATE``), so
the writing paths leave the base as built. On the copy, every built-in plugin
enabled, in this order:

* **recompute** — segmentation's full recompute of the whole base, in process,
  twice: the first run (every customer's classification is new and recorded) and
  the next one (steady state);
* through HTTP against one kehu worker (benchmarks/server.py), concurrency 1, p50
  and p95 after a warm-up: **W1** the first page of 100 and a deep page (the page
  after the customer in the middle of the list, by its keyset cursor), **W2**
  ``{ me }``, **search** for a name, a phone fragment and a pinyin fragment
  (benchmarks/search_bench.py's terms), **W3** ``logInteraction`` (a purchase;
  every plugin reacting);
* **import** — a fixed file of 10,000 customers and 10,000 interactions
  (benchmarks/import_workload.py) imported into the base, with the plugins'
  after-load work (``kehu_bulk_loaded``) included and also given on its own.

Writes ``results.json`` (merged with what is there: sizes and databases can be
measured in separate runs), ``tables.md`` (one table per path: size, p50, p95,
growth per 10×) and ``cost_sqlite.svg`` / ``cost_postgres.svg`` (log-log, one line
per path) into ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import math
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from . import dataset, import_workload, search_bench, workloads
from .client import run_batch
from .run import Server, available_plugins, facts
from .workloads import AUTH, graphql_body

DATABASES = ("sqlite", "postgres")
PER_CUSTOMER = 10  # interactions per customer
IMPORT_ROWS = 10_000  # customers, and interactions, in the imported file (default)
# The periodic full recompute off: it would start at midnight UTC in the middle of a
# measurement (the recompute is measured on its own).
SETTINGS = {"segmentation": {"recompute_interval_minutes": 0}}
# path: (unit, what its cost should follow: "constant" or "linear" in the size of the base)
PATHS: dict[str, tuple[str, str]] = {
    "W1 first page": ("ms", "constant"),
    "W1 deep page": ("ms", "constant"),
    "W2 { me }": ("ms", "constant"),
    "W3 logInteraction": ("ms", "constant"),
    "search: name": ("ms", "constant"),
    "search: phone fragment": ("ms", "constant"),
    "search: pinyin fragment": ("ms", "constant"),
    "recompute (first run)": ("s", "linear"),
    "recompute (next run)": ("s", "linear"),
    "import": ("s", "constant"),
    "import: after-load work": ("s", "constant"),
}
SEARCHES = {
    "search: name": "name",
    "search: phone fragment": "phone fragment",
    "search: pinyin fragment": "pinyin fragment",
}
# Growth per 10× of the base above which a path grows faster than its data.
TOLERANCE = {"constant": 1.5, "linear": 13.0}
# Base format: a base built by another version of the generator is rebuilt.
BASE_VERSION = "curves-1"


def log(message: str) -> None:
    print(f"[{dt.datetime.now(dt.UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the bases


def scale(n: int) -> dataset.Scale:
    return dataset.Scale(customers=n, owners=100, interactions=n * PER_CUSTOMER, people=True)


class Bases:
    """Where the built bases are kept, and the working copies made of them."""

    def __init__(self, data: Path, server: str | None, prefix: str, plugins: tuple[str, ...]):
        self.data, self.server, self.prefix, self.plugins = data, (server or "").rstrip("/"), prefix, plugins

    def base_url(self, db: str, n: int) -> str:
        if db == "sqlite":
            return f"sqlite://{self.data / f'base-{n}.sqlite3'}"
        return f"{self.server}/{self.prefix}{n}"

    def built(self, db: str, n: int) -> bool:
        if db == "sqlite":
            marker = self.data / f"base-{n}.sqlite3.built"
            return marker.exists() and marker.read_text() == BASE_VERSION
        rows = asyncio.run(
            _pg_admin(
                self.server,
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
                f"{self.prefix}{n}",
            )
        )
        return bool(rows) and rows[0][0] == BASE_VERSION

    def build(self, db: str, n: int) -> float:
        """Build the base of ``n`` customers unless it is there; returns seconds (0: reused)."""
        if self.built(db, n):
            return 0.0
        started = time.perf_counter()
        url = self.base_url(db, n)
        if db == "sqlite":
            self.data.mkdir(parents=True, exist_ok=True)
            path = Path(url[len("sqlite://") :])
            for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                stale.unlink(missing_ok=True)
        else:
            name = f"{self.prefix}{n}"
            asyncio.run(_pg_admin(self.server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            asyncio.run(_pg_admin(self.server, f'CREATE DATABASE "{name}"'))
        log(f"{db} {n:,}: building the base ({n * PER_CUSTOMER:,} interactions)")
        # The search index is built after the rows, as search_bench does: kept in step
        # row by row (SQLite's triggers), a million customers load many times slower.
        search_bench.without_index(url, self.plugins)
        rows = dataset.generate(scale(n))
        dataset.load(url, rows, dataset.tables_of(url), dataset.columns_for(scale(n)))
        del rows
        search_bench.add_index(url)
        if db == "sqlite":
            search_bench.run_script(url, "PRAGMA journal_mode = WAL; VACUUM; ANALYZE;")
            (self.data / f"base-{n}.sqlite3.built").write_text(BASE_VERSION)
        else:
            search_bench.run_script(url, "VACUUM ANALYZE")
            asyncio.run(_pg_admin(self.server, f"COMMENT ON DATABASE \"{self.prefix}{n}\" IS '{BASE_VERSION}'"))
        seconds = time.perf_counter() - started
        log(f"{db} {n:,}: base built in {seconds:.0f} s")
        return seconds

    def copy(self, db: str, n: int, work: Path) -> str:
        """A working copy of the base; returns its URL."""
        base = self.base_url(db, n)
        if db == "sqlite":
            target = work / f"work-{n}.sqlite3"
            shutil.copyfile(base[len("sqlite://") :], target)
            return f"sqlite://{target}"
        name = f"{self.prefix}{n}_work"
        asyncio.run(_pg_admin(self.server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        asyncio.run(_pg_admin(self.server, f'CREATE DATABASE "{name}" TEMPLATE "{self.prefix}{n}"'))
        return f"{self.server}/{name}"

    def drop(self, db: str, url: str) -> None:
        if db == "sqlite":
            path = url[len("sqlite://") :]
            for leftover in (path, f"{path}-wal", f"{path}-shm"):
                Path(leftover).unlink(missing_ok=True)
        else:
            dataset.drop_pg_database(url)


async def _pg_admin(server: str, sql: str, *args) -> list:
    import asyncpg

    conn = await asyncpg.connect(server + "/postgres")
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def fetch_one(url: str, sql: str) -> tuple:
    """One row of a plain SQL query (no parameters) on either database."""
    if url.startswith("sqlite://"):
        con = sqlite3.connect(url[len("sqlite://") :])
        try:
            return con.execute(sql).fetchone()
        finally:
            con.close()
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return tuple(await conn.fetchrow(sql))
    finally:
        await conn.close()


# --------------------------------------------------------------------------- the paths


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pct(p: float) -> float:
        k = (len(ordered) - 1) * p
        lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)

    return {"p50": round(pct(0.5), 3), "p95": round(pct(0.95), 3), "runs": len(ordered)}


async def recompute(url: str, plugins: tuple[str, ...]) -> dict[str, dict]:
    """Segmentation's full recompute, twice, in process (the clock at the data set's now)."""
    from tortoise.backends.base.executor import EXECUTOR_CACHE

    from kehu.clock import FrozenClock
    from kehu.config import parse_config
    from kehu.plugins.segmentation import service
    from kehu.server.runtime import Kehu

    EXECUTOR_CACHE.clear()  # per process and connection name, not per dialect (import_workload._connect)
    config = parse_config({"kehu": {"database_url": url}, "plugins": {"enabled": list(plugins), **SETTINGS}})
    kehu = Kehu(config, clock=FrozenClock(dataset.NOW))
    await kehu.connect()
    out = {}
    try:
        for path in ("recompute (first run)", "recompute (next run)"):
            started, cpu = time.perf_counter(), time.process_time()
            result = await service.recompute_all(kehu)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            out[path] = {"p50": round(seconds, 3), "cpu": round(cpu, 3), "runs": 1, "steps": result.steps}
            out[path]["changes"] = result.changes
            log(f"  {path}: {seconds:.2f} s ({result.changes:,} history entries)")
    finally:
        await kehu.disconnect()
    return out


async def deep_cursor(url: str, first_page_cursor: str, position: int) -> str:
    """The keyset cursor of the customer at ``position`` of the list, made the way
    kehu makes its cursors (a base-64 ``k:`` and the ordering's values), checked
    against the first page's end cursor: the same recipe must give that one back."""

    def decode(cursor: str) -> list:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        assert raw.startswith("k:"), f"not a keyset cursor: {raw[:40]}"
        return json.loads(raw[2:])

    def encode(signature: str, values: list) -> str:
        payload = "k:" + json.dumps([signature, values], separators=(",", ":"), ensure_ascii=False)
        return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")

    signature, values = decode(first_page_cursor)
    if signature != "created_at,id":
        raise RuntimeError(f"the customer list is ordered by {signature!r}; the deep cursor expects created_at,id")

    async def values_of(customer_id: int) -> list:
        (created,) = await fetch_one(url, f"SELECT created_at FROM kehu_customer WHERE id = {int(customer_id)}")
        if isinstance(created, str):
            created = dt.datetime.fromisoformat(created)
        return [created.astimezone(dt.UTC).isoformat(), customer_id]

    if encode(signature, await values_of(values[1])) != first_page_cursor:
        raise RuntimeError(f"cannot rebuild the first page's cursor {values!r} from the database")
    # The data set's customers were created in the order of their ids.
    return encode(signature, await values_of(position))


async def http_paths(url: str, n: int, plugins: tuple[str, ...], runs: int) -> dict[str, dict]:
    """W1 (first and deep page), W2, the searches and W3 through one kehu worker."""
    server = Server("kehu", url, plugins, SETTINGS)
    out: dict[str, dict] = {}
    try:
        await server.wait_ready(timeout=300)

        async def timed(path: str, body, count: int) -> None:
            def request(i: int):
                return "POST", "/graphql", body(i) if callable(body) else body, AUTH

            await run_batch("127.0.0.1", server.port, 1, 3, request, workloads.check_graphql)  # warm-up
            cpu = (await server.call("stats"))["cpu_s"]
            sample = await run_batch("127.0.0.1", server.port, 1, count, request, workloads.check_graphql)
            cpu = (await server.call("stats"))["cpu_s"] - cpu
            if sample.failures:
                raise RuntimeError(f"{path}: {len(sample.failures)} failed, first: {sample.failures[0][:300]}")
            out[path] = {**_ms([s * 1000 for s in sample.latencies]), "cpu": round(cpu * 1000 / count, 3)}
            log(
                f"  {path}: p50 {out[path]['p50']:.1f} ms, p95 {out[path]['p95']:.1f} ms, kehu CPU {out[path]['cpu']:.1f} ms"
            )

        first = graphql_body(workloads.page_document(plugins), {"n": 100})
        status, answer = await server.post("/graphql", first, AUTH)
        problem = workloads.check_graphql(status, answer)
        if problem:
            raise RuntimeError(f"W1: {problem}")
        end = orjson.loads(answer)["data"]["customers"]["pageInfo"]["endCursor"]
        deep = graphql_body(
            workloads.page_document(plugins, after=True), {"n": 100, "after": await deep_cursor(url, end, n // 2)}
        )
        await timed("W1 first page", first, runs)
        await timed("W1 deep page", deep, runs)
        await timed("W2 { me }", graphql_body(workloads.ME_DOCUMENT), runs * 5)
        (phone,) = await fetch_one(url, f"SELECT phone FROM kehu_customer WHERE id = {n // 2 + 1}")
        for path, label in SEARCHES.items():
            term = search_bench.TERMS[label] or phone[3:10]
            await timed(path, graphql_body(search_bench.DOCUMENT, {"s": term}), runs)
        await timed(
            "W3 logInteraction",
            lambda i: graphql_body(workloads.LOG_DOCUMENT, workloads.log_variables(100_000 + i, n)),
            runs,
        )
    finally:
        server.stop()
    return out


async def import_file(url: str, plugins: tuple[str, ...], folder: Path, rows: int) -> dict[str, dict]:
    """A file of ``rows`` customers and ``rows`` interactions into the base:
    customers, then interactions, each with its after-load work."""
    customers, history = import_workload.generate(folder, rows, prefix="imp-")
    (c_report, c_time), (h_report, h_time) = await import_workload.kehu_import(url, plugins, customers, history)
    rejected = len(c_report.errors) + len(h_report.errors)
    total = c_time.seconds + h_time.seconds
    after = c_report.plugin_seconds + h_report.plugin_seconds
    # A few of the file's phone numbers may be in a large base already: those rows are
    # rejected as duplicates, as in any import, and counted.
    first = (c_report.errors or h_report.errors or [None])[0]
    log(f"  import: {total:.2f} s, of which after-load work {after:.2f} s; {rejected} rows rejected ({first})")
    return {
        "import": {
            "p50": round(total, 3),
            "cpu": round(c_time.cpu + h_time.cpu, 3),
            "runs": 1,
            "customers_s": round(c_time.seconds, 3),
            "interactions_s": round(h_time.seconds, 3),
            "rejected": rejected,
        },
        "import: after-load work": {
            "p50": round(after, 3),
            "runs": 1,
            "customers_s": round(c_report.plugin_seconds, 3),
            "interactions_s": round(h_report.plugin_seconds, 3),
        },
    }


def measure(bases: Bases, db: str, n: int, runs: int, work: Path, import_rows: int = IMPORT_ROWS) -> dict[str, Any]:
    """Every path on a working copy of the base of ``n`` customers."""
    built = bases.build(db, n)
    url = bases.copy(db, n, work)
    log(f"{db} {n:,}: measuring on a copy of the base (load average {os.getloadavg()[0]:.1f})")
    started = time.perf_counter()
    try:
        paths = asyncio.run(recompute(url, bases.plugins))
        paths.update(asyncio.run(http_paths(url, n, bases.plugins, runs)))
        folder = Path(tempfile.mkdtemp(dir=work))
        try:
            paths.update(asyncio.run(import_file(url, bases.plugins, folder, import_rows)))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        bases.drop(db, url)
    for path, (unit, _) in PATHS.items():
        if unit == "s":  # every value in milliseconds, as the request paths
            paths[path] = {k: (round(v * 1000, 1) if k in ("p50", "p95", "cpu") else v) for k, v in paths[path].items()}
    return {
        "paths": paths,
        "build_s": round(built, 1) or None,
        "measure_s": round(time.perf_counter() - started, 1),
        "load_average": os.getloadavg(),
        "at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


# --------------------------------------------------------------------------- the report


def growth(values: dict[int, float]) -> list[tuple[int, int, float]]:
    """``(from size, to size, growth per 10×)`` between consecutive sizes."""
    sizes = sorted(values)
    out = []
    for a, b in zip(sizes, sizes[1:]):
        factor = values[b] / values[a]
        out.append((a, b, factor ** (1 / math.log10(b / a))))
    return out


def faster_than_data(results: dict) -> list[tuple[str, str, str]]:
    """``(database, path, how)`` for every path whose cost grows faster than its data."""
    found = []
    for db, by_size in results.items():
        for path, (_, follows) in PATHS.items():
            values = {int(n): r["paths"][path]["p50"] for n, r in by_size.items() if path in r["paths"]}
            steps = growth(values)
            if any(g > TOLERANCE[follows] for _, _, g in steps):
                how = ", ".join(f"×{g:.1f} per 10× ({a:,}→{b:,})" for a, b, g in steps)
                found.append((db, path, f"should be {follows}; {how}"))
    return found


def _fmt(ms: float, unit: str) -> str:
    return f"{ms / 1000:,.2f} s" if unit == "s" else f"{ms:,.1f} ms"


def summary(results: dict, key: str = "p50") -> str:
    """One Markdown table of every path: ``key`` (the p50, or ``cpu``: kehu's CPU per
    request or job) at each size and its growth per 10×, per database."""
    dbs = [db for db in DATABASES if db in results]
    sizes = sorted({int(n) for db in dbs for n in results[db]})
    head = ["path"] + [f"{db} {n:,}" for db in dbs for n in sizes] + [f"{db} growth per 10×" for db in dbs]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for path, (unit, follows) in PATHS.items():
        cells = [f"{path} ({follows})"]
        steps = {}
        for db in dbs:
            values = {int(n): r["paths"][path][key] for n, r in results[db].items() if key in r["paths"].get(path, {})}
            steps[db] = growth(values)
            cells += ["—" if n not in values else _fmt(values[n], unit) for n in sizes]
        for db in dbs:
            marks = [f"**×{g:.1f}**" if g > TOLERANCE[follows] else f"×{g:.1f}" for _, _, g in steps[db]]
            cells.append(", ".join(marks) or "—")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def tables(results: dict) -> str:
    """One Markdown table per path: size, p50 (and p95) on each database, growth per 10×."""
    lines = []
    for path, (unit, follows) in PATHS.items():
        lines += [f"### {path}", "", f"Expected: {follows} in the size of the base.", ""]
        dbs = [db for db in DATABASES if db in results]
        head = ["customers"] + [f"{db} p50{' / p95' if unit == 'ms' else ''}" for db in dbs]
        head += [f"{db} kehu CPU" for db in dbs] + [f"{db} growth per 10×" for db in dbs]
        lines += ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
        sizes = sorted({int(n) for db in dbs for n in results[db]})
        growths = {}
        for db in dbs:
            values = {int(n): r["paths"][path]["p50"] for n, r in results[db].items() if path in r["paths"]}
            growths[db] = {b: g for _, b, g in growth(values)}
        for n in sizes:
            cells = [f"{n:,}"]
            for db in dbs:
                r = results[db].get(str(n), {}).get("paths", {}).get(path)
                if r is None:
                    cells.append("—")
                elif unit == "ms":
                    cells.append(f"{r['p50']:,.1f} / {r['p95']:,.1f} ms")
                else:
                    cells.append(_fmt(r["p50"], unit))
            for db in dbs:
                r = results[db].get(str(n), {}).get("paths", {}).get(path, {})
                cells.append("—" if "cpu" not in r else _fmt(r["cpu"], unit))
            for db in dbs:
                g = growths[db].get(n)
                cells.append(
                    "" if g is None else f"×{g:.2f}" + (" **(faster than its data)**" if g > TOLERANCE[follows] else "")
                )
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


COLOURS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#000000",
)


def svg(db: str, by_size: dict) -> str:
    """A log-log chart of cost (ms) against customers, one polyline per path."""
    width, height = 860, 520
    left, right, top, bottom = 70, 250, 40, 50
    sizes = sorted(int(n) for n in by_size)
    values = [r["p50"] for n in sizes for r in by_size[str(n)]["paths"].values()]
    lo_x, hi_x = math.floor(math.log10(min(sizes))), math.ceil(math.log10(max(sizes)))
    hi_x = max(hi_x, lo_x + 1)
    lo_y = math.floor(math.log10(max(min(values), 1e-3)))
    hi_y = max(math.ceil(math.log10(max(values))), lo_y + 1)

    def x(n: float) -> float:
        return left + (math.log10(n) - lo_x) / (hi_x - lo_x) * (width - left - right)

    def y(ms: float) -> float:
        return top + (hi_y - math.log10(max(ms, 1e-3))) / (hi_y - lo_y) * (height - top - bottom)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="22" font-size="15">kehu on {db}: cost against customers (p50, log-log)</text>',
    ]
    for e in range(lo_x, hi_x + 1):
        out.append(f'<line x1="{x(10**e):.1f}" y1="{top}" x2="{x(10**e):.1f}" y2="{height - bottom}" stroke="#ddd"/>')
        out.append(f'<text x="{x(10**e):.1f}" y="{height - bottom + 18}" text-anchor="middle">{10**e:,}</text>')
    for e in range(lo_y, hi_y + 1):
        label = f"{10**e:g} ms" if e < 3 else f"{10 ** (e - 3):g} s"
        out.append(f'<line x1="{left}" y1="{y(10**e):.1f}" x2="{width - right}" y2="{y(10**e):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y(10**e) + 4:.1f}" text-anchor="end">{label}</text>')
    out.append(
        f'<text x="{(left + width - right) / 2:.0f}" y="{height - 12}" text-anchor="middle">customers in the base '
        f"({PER_CUSTOMER} interactions each)</text>"
    )
    for i, path in enumerate(PATHS):
        points = [(n, by_size[str(n)]["paths"][path]["p50"]) for n in sizes if path in by_size[str(n)]["paths"]]
        colour = COLOURS[i % len(COLOURS)]
        coords = " ".join(f"{x(n):.1f},{y(v):.1f}" for n, v in points)
        out.append(
            f'<polyline data-path="{_xml(path)}" points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>'
        )
        for n, v in points:
            out.append(f'<circle cx="{x(n):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"/>')
        ly = top + 10 + i * 20
        out.append(
            f'<line x1="{width - right + 15}" y1="{ly}" x2="{width - right + 40}" y2="{ly}" stroke="{colour}" stroke-width="2"/>'
        )
        out.append(f'<text x="{width - right + 46}" y="{ly + 4}">{_xml(path)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def write(out: Path, document: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    results = document["results"]
    findings = faster_than_data(results)
    text = [
        "# Cost against the size of the base",
        "",
        "Written by " + " and ".join(f"`{c}`" for c in document["commands"]) + "; see benchmarks/README.md "
        "for the machine and what each path is.",
        "p50 / p95 of the request paths over the runs at concurrency 1; the bulk jobs run once. "
        f"import: a file of {document['import_rows']:,} customers and as many interactions.",
        "Growth per 10×: how much the p50 grows when the base grows tenfold "
        f"(a flat path stays under ×{TOLERANCE['constant']}, a linear one under ×{TOLERANCE['linear']:.0f}).",
        "",
        "## All paths (p50; in bold, growth faster than the path's data)",
        "",
        summary(results),
        "## kehu's CPU per request or job",
        "",
        "CPU seconds of the kehu process (every thread; SQLite works in aiosqlite's) per request, or per",
        "bulk job: what the machine's other work does not inflate. PostgreSQL's own work runs in its",
        "server processes and is not in these figures.",
        "",
        summary(results, "cpu"),
        tables(results),
        "## Paths that grow faster than their data",
        "",
        *(f"- {db}, {path}: {how}" for db, path, how in findings),
        *(["- none"] if not findings else []),
        "",
    ]
    (out / "tables.md").write_text("\n".join(text), encoding="utf-8")
    for db, by_size in results.items():
        if by_size:
            (out / f"cost_{db}.svg").write_text(svg(db, by_size), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cost_curves", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="customers per base, comma-separated")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--sqlite-only", action="store_true")
    only.add_argument("--postgres-only", action="store_true")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("KEHU_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:54329"),
        help="PostgreSQL server (postgres://user@host:port)",
    )
    parser.add_argument("--out", default="benchmarks/curves", help="where results.json, tables.md and the charts go")
    parser.add_argument(
        "--data",
        default=str(Path(tempfile.gettempdir()) / "kehu-cost-curves"),
        help="where the SQLite bases are kept between runs",
    )
    parser.add_argument("--pg-prefix", default="curves_", help="PostgreSQL bases are the databases <prefix><size>")
    parser.add_argument("--runs", type=int, default=30, help="timed requests per request path (W2: 5×)")
    parser.add_argument("--import-rows", type=int, default=IMPORT_ROWS, help="customers and interactions imported")
    parser.add_argument("--build-only", action="store_true", help="build the bases, measure nothing")
    parser.add_argument("--fresh", action="store_true", help="start results.json afresh instead of merging")
    parser.add_argument("--report-only", action="store_true", help="rewrite tables.md and the charts from results.json")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    dbs = ["sqlite"] * (not args.postgres_only) + ["postgres"] * (not args.sqlite_only)
    plugins = available_plugins(None, every=True)
    bases = Bases(Path(args.data), args.postgres, args.pg_prefix, plugins)
    out = Path(args.out)
    previous = out / "results.json"
    document: dict[str, Any] = {"results": {}}
    if previous.exists() and not args.fresh:
        document = json.loads(previous.read_text(encoding="utf-8"))
    if args.report_only:
        write(out, document)
        return 0
    if args.fresh:
        previous.unlink(missing_ok=True)
    command = "python -m benchmarks.cost_curves " + " ".join(argv if argv is not None else sys.argv[1:])
    document["commands"] = [c for c in document.get("commands", []) if c != command] + [command]
    document["facts"] = {**facts(), "plugins": list(plugins)}
    document["per_customer"] = PER_CUSTOMER
    document["import_rows"] = args.import_rows
    if args.build_only:
        for db in dbs:
            for n in sizes:
                bases.build(db, n)
        return 0
    with tempfile.TemporaryDirectory(dir=args.data if Path(args.data).exists() else None) as tmp:
        for db in dbs:
            for n in sizes:
                result = measure(bases, db, n, args.runs, Path(tmp), args.import_rows)
                if previous.exists():  # what another run (the other database) wrote meanwhile
                    other = json.loads(previous.read_text(encoding="utf-8"))
                    document["results"] = other["results"]
                    document["commands"] = [c for c in other["commands"] if c != command] + [command]
                document["results"].setdefault(db, {})[str(n)] = result
                write(out, document)
    for db, path, how in faster_than_data(document["results"]):
        log(f"grows faster than its data: {db}, {path}: {how}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
