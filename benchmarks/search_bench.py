"""The customer search against the size of the base: 10,000 to 1,000,000 customers.

    python -m benchmarks.search_bench [--sizes 10000,100000,1000000] [--postgres URL] [--repeat 30]

For each size and database: a data set built with raw inserts (benchmarks.dataset's
loader; customers only — the search reads no other table), then the search through
GraphQL in process (``kehu.schema.execute_as``, as the admin: the resolver, the
connection and the SQL an HTTP request runs, without the HTTP) for a name, a phone
fragment and a pinyin fragment, and a two-character name (too short for a trigram
index: the plain scan by design). Each term is timed on the base without the search
index (before: as it was, the plain ``LIKE`` conditions) and after building it,
p50 and p95 over ``--repeat`` runs (``--before-repeat`` for the plain search) after
one warm-up. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time

from . import dataset

TERMS = {  # label: the term (the data set is seeded: each finds customers at every size)
    "name": "欧阳明轩",
    "phone fragment": None,  # seven digits from the middle of the number of the customer in the middle
    "pinyin fragment": "ouyangming",
    "2-char name (scan)": "张伟",
    "2-char, no match (scan)": "轩欧",
}
DOCUMENT = """query($s: String!) { customers(filter: {search: $s}, first: 20) {
  edges { node { id name email phone } } pageInfo { hasNextPage } } }"""

COLUMNS = (
    "id",
    "name",
    "kind",
    "email",
    "phone",
    "tags",
    "attributes",
    "created_at",
    "updated_at",
    "owner_id",
    "email_key",
    "phone_key",
    "name_key",
    "name_pinyin",
    "name_initials",
)


def customers(n: int) -> list[tuple]:
    """``n`` customers named as ``dataset.person`` names them (some 欧阳明轩 and
    张伟); mobile numbers; the normalised keys as kehu stores them."""
    rng = random.Random(dataset.SEED)
    cache: dict[str, object] = {}
    rows = []
    for i in range(1, n + 1):
        name, phone = dataset.person(rng)
        email = f"c{i:07d}@example.com"
        keys = dataset.name_keys(name, cache)
        created = dataset.NOW - dataset.dt.timedelta(days=760) + dataset.dt.timedelta(seconds=i * 7)
        rows.append(
            (
                i,
                name,
                "PERSON",
                email,
                phone,
                [],
                {},
                created,
                created,
                2 + i % 99,
                email,
                f"+86{phone}",
                keys.name_key,  # type: ignore[attr-defined]
                keys.name_pinyin,  # type: ignore[attr-defined]
                keys.name_initials,  # type: ignore[attr-defined]
            )
        )
    return rows


def build(url: str, n: int) -> float:
    """Migrate ``url`` and load ``n`` customers, the search index dropped (the base
    as it was before the index); returns seconds."""
    start = time.perf_counter()
    without_index(url, ())
    base = dataset.generate(dataset.Scale(customers=0, interactions=0))  # the owners and the admin's token
    dataset.load(url, base, {"kehu_account_owner", "kehu_access_token"})
    dataset.load(url, {"kehu_customer": customers(n)}, {"kehu_customer"}, {"kehu_customer": COLUMNS})
    run_script(url, "ANALYZE;")
    return time.perf_counter() - start


def without_index(url: str, plugins: tuple[str, ...]) -> None:
    """Migrate ``url`` (with ``plugins``), then drop the search index and the key
    indexes: the base as it was before them, or ready for a fast bulk load."""
    from kehu import search

    asyncio.run(dataset.migrate(url, plugins))
    sqlite = url.startswith("sqlite://")
    run_script(url, search.KEY_INDEXES_DROP + (search.SQLITE_DROP if sqlite else search.POSTGRES_DROP))


def add_index(url: str) -> float:
    """Build the search index over the loaded customers (what migration 0011 does
    on an existing base); returns seconds."""
    from kehu import search

    start = time.perf_counter()
    if url.startswith("sqlite://"):
        run_script(url, search.KEY_INDEXES + search.SQLITE_SCHEMA + "ANALYZE;")
    else:
        indexes = "".join(f"{search.trigram_index_sql(n, e)};" for n, e in search.POSTGRES_INDEXES.items())
        run_script(url, "CREATE EXTENSION IF NOT EXISTS pg_trgm;" + search.KEY_INDEXES + indexes + "ANALYZE;")
    return time.perf_counter() - start


def run_script(url: str, sql: str) -> None:
    """Run a script of SQL statements on either database."""
    if url.startswith("sqlite://"):
        import sqlite3

        con = sqlite3.connect(url[len("sqlite://") :])
        try:
            con.executescript(sql)
        finally:
            con.close()
        return

    async def run():
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


async def measure(url: str, runs: int) -> dict[str, tuple[float, float, list]]:
    """``{term label: (p50 ms, p95 ms, ids of the first page)}`` with whatever
    search index the database has."""
    from kehu.access import Viewer
    from kehu.config import parse_config
    from kehu.models import AccountOwner, Customer
    from kehu.schema import execute_as
    from kehu.server.runtime import Kehu

    kehu = Kehu(parse_config({"kehu": {"database_url": url}, "plugins": {"enabled": []}}))
    await kehu.connect()
    try:
        owner = await AccountOwner.get(id=1)
        viewer = Viewer(owner=owner, permissions=kehu.permissions_for(owner.role))
        middle = await Customer.filter(id=await Customer.all().count() // 2 + 1).first()
        out: dict[str, tuple[float, float, list]] = {}
        for label, term in TERMS.items():
            term = term or middle.phone[3:10]
            times = []
            found = None
            for run in range(runs + 1):
                start = time.perf_counter()
                result = await execute_as(kehu, viewer, DOCUMENT, {"s": term})
                elapsed = (time.perf_counter() - start) * 1000
                assert not result.errors, result.errors
                ids = [e["node"]["id"] for e in result.data["customers"]["edges"]]
                assert found is None or ids == found
                found = ids
                if run:  # the first run warms the caches
                    times.append(elapsed)
            times.sort()
            p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
            out[label] = (statistics.median(times), p95, found or [])
        return out
    finally:
        await kehu.disconnect()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--postgres", default=os.environ.get("KEHU_BENCH_POSTGRES"))
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--before-repeat", type=int, default=10, help="runs of the plain search (slow at 1M)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    targets = ["sqlite"] + ([] if args.sqlite_only or not args.postgres else ["postgres"])
    print("| database | customers | term | before p50 / p95 ms | after p50 / p95 ms | rows (first page) |")
    print("|---|---:|---|---:|---:|---:|")
    for target in targets:
        for n in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                if target == "sqlite":
                    url = f"sqlite://{tmp}/search.sqlite3"
                else:
                    url = dataset.create_pg_database(args.postgres)
                try:
                    seconds = build(url, n)
                    before = asyncio.run(measure(url, args.before_repeat))
                    indexing = add_index(url)
                    print(
                        f"<!-- {target} {n}: loaded in {seconds:.0f} s, indexed in {indexing:.0f} s -->",
                        file=sys.stderr,
                        flush=True,
                    )
                    after = asyncio.run(measure(url, args.repeat))
                finally:
                    if target == "postgres":
                        dataset.drop_pg_database(url)
            for label in TERMS:
                b50, b95, rows = before[label]
                a50, a95, same = after[label]
                assert rows == same, f"{target} {n} {label}: the index changed the first page"
                print(
                    f"| {target} | {n:,} | {label} | {b50:.1f} / {b95:.1f} | {a50:.1f} / {a95:.1f} | {len(rows)} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
