"""W9, deep pages: ``customers(first: 100, after: <cursor of row N/2>)`` against the
first page, on a large customer list.

    python -m benchmarks.deep_pages                          # 1,000,000 customers, SQLite
    python -m benchmarks.deep_pages --postgres postgres://postgres@127.0.0.1:54329
    python -m benchmarks.deep_pages --customers 100000 --rounds 20

For each database: seed the customers (raw inserts, streamed: the rows of
benchmarks/dataset.py without interactions), start kehu as the other workloads do
(benchmarks/server.py, one uvicorn worker), walk the list page by page to the
cursor of row N/2 the way a client must (the cursor is opaque), then time the first
page and the page after row N/2 alternately and compare their medians. Also times,
for reference, the same page fetched by ``OFFSET`` in plain SQL — what the offset
cursors kehu used before cost.

Exit status 1 when a deep page takes more than twice the first page's time.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from . import dataset
from .client import HTTPConnection
from .run import Server
from .workloads import AUTH, graphql_body

PAGE = (
    "query Deep($after: String, $order: CustomerOrder) { customers(first: 100, after: $after, orderBy: $order) { "
    "pageInfo { hasNextPage endCursor } edges { node { id name email region owner { id name } } } } }"
)
# Orderings measured: the default, and one that needs its own index (migration 0009).
ORDERS = ("CREATED_AT", "NAME")
OWNERS = 20


def customer_rows(n: int) -> Iterator[tuple]:
    """``kehu_customer`` rows as benchmarks/dataset.py makes them, streamed."""
    rng = random.Random(dataset.SEED)
    start = dataset.NOW - dt.timedelta(days=760)
    for i in range(1, n + 1):
        created = start + dt.timedelta(minutes=i)  # in id order: row N of the list is customer N
        yield (
            i,
            f"Customer {i:07d}",
            "ORGANIZATION" if rng.random() < 0.3 else "PERSON",
            f"customer{i:07d}@example.com",
            f"+86 21 {rng.randint(1000_0000, 9999_9999)}",
            None,
            rng.choice(dataset.REGIONS),
            rng.choice(dataset.INDUSTRIES),
            [],
            {},
            None,
            None,
            created,
            created,
            2 + (i % (OWNERS - 1)),
        )


def seed(url: str, customers: int) -> None:
    asyncio.run(dataset.migrate(url, ()))
    rows = dataset.generate(dataset.Scale(customers=0, owners=OWNERS, interactions=0))
    cols = dataset.COLUMNS["kehu_customer"]
    if url.startswith("sqlite://"):
        con = sqlite3.connect(url[len("sqlite://") :])
        con.execute("PRAGMA synchronous = OFF")
        try:
            with con:
                for table in ("kehu_account_owner", "kehu_access_token"):
                    names = dataset.COLUMNS[table]
                    con.executemany(
                        f'INSERT INTO "{table}" ({", ".join(names)}) VALUES ({", ".join("?" * len(names))})',
                        ([dataset._sqlite_value(c, v) for c, v in zip(names, row)] for row in rows[table]),
                    )
                con.executemany(
                    f'INSERT INTO "kehu_customer" ({", ".join(cols)}) VALUES ({", ".join("?" * len(cols))})',
                    ([dataset._sqlite_value(c, v) for c, v in zip(cols, row)] for row in customer_rows(customers)),
                )
            con.execute("ANALYZE")
        finally:
            con.close()
        return

    async def load_pg() -> None:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            for table in ("kehu_account_owner", "kehu_access_token"):
                await conn.copy_records_to_table(table, records=rows[table], columns=list(dataset.COLUMNS[table]))
            await conn.copy_records_to_table(
                "kehu_customer",
                records=(tuple(dataset._pg_value(c, v) for c, v in zip(cols, row)) for row in customer_rows(customers)),
                columns=list(cols),
            )
            for table in ("kehu_account_owner", "kehu_customer", "kehu_access_token"):
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
                )
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()

    asyncio.run(load_pg())


def offset_sql_ms(url: str, offset: int, rounds: int) -> float:
    """The median time of the deep page fetched by OFFSET in plain SQL."""
    sql = (
        "SELECT id, name, email, region, owner_id FROM kehu_customer WHERE archived_at IS NULL "
        f"ORDER BY created_at, id LIMIT 101 OFFSET {offset}"
    )
    times = []
    if url.startswith("sqlite://"):
        con = sqlite3.connect(url[len("sqlite://") :])
        try:
            for _ in range(rounds):
                t0 = time.perf_counter()
                con.execute(sql).fetchall()
                times.append((time.perf_counter() - t0) * 1000)
        finally:
            con.close()
        return statistics.median(times)

    async def run() -> None:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            for _ in range(rounds):
                t0 = time.perf_counter()
                await conn.fetch(sql)
                times.append((time.perf_counter() - t0) * 1000)
        finally:
            await conn.close()

    asyncio.run(run())
    return statistics.median(times)


async def fetch_page(conn: HTTPConnection, after: str | None, order: str) -> tuple[float, dict]:
    variables = {"after": after, "order": {"field": order, "direction": "ASC"}}
    t0 = time.perf_counter()
    status, _, body = await conn.request("POST", "/graphql", graphql_body(PAGE, variables), AUTH)
    ms = (time.perf_counter() - t0) * 1000
    data = orjson.loads(body)
    if status != 200 or data.get("errors"):
        raise RuntimeError(f"HTTP {status}: {body[:300]!r}")
    return ms, data["data"]["customers"]


async def measure(url: str, customers: int, rounds: int, log) -> dict:
    server = Server("kehu", url, ())
    results = {}
    try:
        await server.wait_ready()
        conn = await HTTPConnection("127.0.0.1", server.port).open()
        try:
            for order in ORDERS:
                results[order] = await measure_order(conn, order, customers, rounds, log)
        finally:
            await conn.close()
    finally:
        server.stop()
    return results


async def measure_order(conn: HTTPConnection, order: str, customers: int, rounds: int, log) -> dict:
    target = customers // 2  # the deep page starts after this row
    after, walked, checkpoints = None, 0, {}
    t0 = time.perf_counter()
    while walked < target:
        ms, page = await fetch_page(conn, after, order)
        walked += len(page["edges"])
        after = page["pageInfo"]["endCursor"]
        page_number = walked // 100
        if page_number in (1, 10, 100, 1000, 2000, 3000, 4000, 5000) or walked >= target:
            checkpoints[page_number] = round(ms, 2)
    walk_s = time.perf_counter() - t0
    log(f"  {order}: walked {walked:,} rows ({walked // 100:,} pages) in {walk_s:.1f}s; page times {checkpoints}")
    first, deep = [], []
    for _ in range(3):  # warm both paths
        await fetch_page(conn, None, order)
        await fetch_page(conn, after, order)
    for _ in range(rounds):
        first.append((await fetch_page(conn, None, order))[0])
        ms, page = await fetch_page(conn, after, order)
        deep.append(ms)
    expected = f"Customer {target + 1:07d}"  # names sort like ids and creation times
    got = page["edges"][0]["node"]["name"]
    if got != expected:
        raise RuntimeError(f"the deep page starts at {got!r}, expected {expected!r}")
    first_ms, deep_ms = statistics.median(first), statistics.median(deep)
    return {"first_ms": first_ms, "deep_ms": deep_ms, "ratio": deep_ms / first_ms, "walk_s": walk_s}


def run_database(name: str, url: str, customers: int, rounds: int, log) -> dict:
    t0 = time.perf_counter()
    seed(url, customers)
    log(f"{name}: seeded {customers:,} customers in {time.perf_counter() - t0:.0f}s")
    results = asyncio.run(measure(url, customers, rounds, log))
    offset_ms = offset_sql_ms(url, customers // 2, max(3, rounds // 4))
    for order, result in results.items():
        log(
            f"{name} {order}: first page {result['first_ms']:.1f} ms, page after row {customers // 2:,} "
            f"{result['deep_ms']:.1f} ms (×{result['ratio']:.2f})"
        )
    log(f"{name}: the CREATED_AT deep page by OFFSET in plain SQL (what offset cursors cost): {offset_ms:.1f} ms")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.deep_pages", description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=40, help="timed requests of each page (default 40)")
    parser.add_argument("--postgres", metavar="URL", help="also run on PostgreSQL (postgres://user@host:port)")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, flush=True)

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_sqlite:
            results["sqlite"] = run_database(
                "sqlite", f"sqlite://{Path(tmp) / 'deep.db'}", args.customers, args.rounds, log
            )
        if args.postgres:
            url = dataset.create_pg_database(args.postgres)
            try:
                results["postgres"] = run_database("postgres", url, args.customers, args.rounds, log)
            finally:
                dataset.drop_pg_database(url)
    over = {f"{db} {order}": r["ratio"] for db, rs in results.items() for order, r in rs.items() if r["ratio"] > 2}
    if over:
        log(f"FAILED: a deep page costs more than twice the first: {over}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
