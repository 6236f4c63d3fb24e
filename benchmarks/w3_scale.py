"""W3 (``logInteraction``, every built-in plugin) against the size of the base.

    python -m benchmarks.w3_scale --postgres postgres://postgres@127.0.0.1:54329 [--sizes 10000,100000]
    python -m benchmarks.w3_scale --sizes 10000,100000           # SQLite only

For each size: ``benchmarks.dataset``'s base (N customers, 10 interactions each,
raw inserts), one full segmentation recompute (what a live base has had), then
``--calls`` purchases logged through GraphQL in process (``kehu.schema.execute_as``
as the admin: the resolver, the write, every plugin's reaction and the SQL an HTTP
request runs, without HTTP and the token check) after ``--warmup`` calls (more than
the five runs after which PostgreSQL may switch a prepared statement to a generic
plan). Prints ms per call (p50 / p95), statements per call, and the statements
whose time is largest, each with its mean ms per call.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager

from . import dataset
from .workloads import BUILTINS, LOG_DOCUMENT, log_variables

INTERACTIONS_PER_CUSTOMER = 10


class StatementTimes:
    """Every SQL statement's time, by statement text with literals folded."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        self.count = 0

    def add(self, sql: str, ms: float) -> None:
        self.count += 1
        self.times[_shape(sql)].append(ms)


def _shape(sql: str) -> str:
    sql = re.sub(r"'[^']*'", "'…'", sql)
    sql = re.sub(r"\b\d+\b", "N", sql)
    return " ".join(sql.split())


@contextmanager
def timed_statements(into: StatementTimes):
    """Time each statement of either driver (asyncpg, aiosqlite) while inside."""
    patched = []

    def wrap(cls, name):
        original = getattr(cls, name)

        async def timed(self, query, *args, **kwargs):
            start = time.perf_counter()
            try:
                return await original(self, query, *args, **kwargs)
            finally:
                into.add(query, (time.perf_counter() - start) * 1000)

        setattr(cls, name, timed)
        patched.append((cls, name, original))

    import aiosqlite
    import asyncpg

    for name in ("execute", "executemany", "fetch", "fetchrow", "fetchval"):
        wrap(asyncpg.connection.Connection, name)
    for name in ("execute", "executemany", "execute_insert", "execute_fetchall"):
        wrap(aiosqlite.Connection, name)
    try:
        yield into
    finally:
        for cls, name, original in reversed(patched):
            setattr(cls, name, original)


@contextmanager
def explained_statements(pattern: str, out: list[tuple[str, str, str]]):
    """EXPLAIN ANALYZE each PostgreSQL statement that matches ``pattern``, as a
    custom and as a generic plan, inside the transaction it runs in (undone
    with a savepoint), then run it: ``out`` gets (statement, custom, generic)."""
    import asyncpg

    Connection = asyncpg.connection.Connection
    originals = {name: getattr(Connection, name) for name in ("execute", "fetch", "fetchrow")}
    fetch = originals["fetch"]

    async def plan(conn, query, args, generic: bool) -> str:
        tx = conn.transaction()
        await tx.start()
        try:
            if generic:
                await originals["execute"](conn, "SET LOCAL plan_cache_mode = force_generic_plan")
            rows = await fetch(conn, "EXPLAIN (ANALYZE, BUFFERS) " + query, *args)
            return "\n".join(r[0] for r in rows)
        finally:
            await tx.rollback()

    def wrap(name):
        original = originals[name]

        async def explained(self, query, *args, **kwargs):
            one = ";" not in query.strip().rstrip(";")  # EXPLAIN takes one statement
            if (
                one
                and re.search(pattern, query)
                and query.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE"))
            ):
                out.append((query, await plan(self, query, args, False), await plan(self, query, args, True)))
            return await original(self, query, *args, **kwargs)

        setattr(Connection, name, explained)

    for name in originals:
        wrap(name)
    try:
        yield out
    finally:
        for name, original in originals.items():
            setattr(Connection, name, original)


def build(url: str, customers: int) -> float:
    """Migrate ``url`` with every built-in plugin and load the base; returns seconds."""
    start = time.perf_counter()
    scale = dataset.Scale(customers=customers, interactions=customers * INTERACTIONS_PER_CUSTOMER)
    dataset.seed(url, BUILTINS, scale)
    return time.perf_counter() - start


def _kehu(url: str):
    from kehu.config import parse_config
    from kehu.server.runtime import Kehu

    return Kehu(
        parse_config(
            {
                "kehu": {"database_url": url, "graphiql": False},
                "limits": {"rate_per_minute": 0},
                "plugins": {"enabled": list(BUILTINS)},
            }
        )
    )


async def recompute(url: str) -> float:
    """One full segmentation recompute; returns seconds."""
    from kehu.plugins.segmentation.service import recompute_all

    kehu = _kehu(url)
    await kehu.connect()
    try:
        start = time.perf_counter()
        await recompute_all(kehu)
        return time.perf_counter() - start
    finally:
        await kehu.disconnect()


async def measure(
    url: str, customers: int, calls: int, warmup: int, explain: str | None = None, first: int = 0
) -> tuple[list[float], StatementTimes]:
    """ms of each measured call, and the statements of the measured calls. With
    ``explain`` (a pattern), one more call prints the plans of its statements
    that match."""
    from kehu.access import Viewer
    from kehu.models import AccountOwner
    from kehu.schema import execute_as

    kehu = _kehu(url)
    await kehu.connect()
    try:
        owner = await AccountOwner.get(id=1)
        viewer = Viewer(owner=owner, permissions=kehu.permissions_for(owner.role))
        times: list[float] = []
        statements = StatementTimes()
        for i in range(first, first + warmup + calls):
            variables = log_variables(i, customers)
            if i < first + warmup:
                result = await execute_as(kehu, viewer, LOG_DOCUMENT, variables)
            else:
                with timed_statements(statements):
                    start = time.perf_counter()
                    result = await execute_as(kehu, viewer, LOG_DOCUMENT, variables)
                    times.append((time.perf_counter() - start) * 1000)
            assert not result.errors, result.errors
            assert not result.data["logInteraction"]["userErrors"], result.data
        if explain:
            plans: list[tuple[str, str, str]] = []
            with explained_statements(explain, plans):
                result = await execute_as(kehu, viewer, LOG_DOCUMENT, log_variables(first + warmup + calls, customers))
            assert not result.errors, result.errors
            for query, custom, generic in plans:
                print(f"\n### {_shape(query)[:200]}\n\ncustom plan:\n{custom}\n\ngeneric plan:\n{generic}")
        return times, statements
    finally:
        await kehu.disconnect()


def report(label: str, times: list[float], statements: StatementTimes, top: int) -> None:
    calls = len(times)
    times = sorted(times)
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    print(
        f"\n## {label}: {statistics.median(times):.1f} ms p50, {p95:.1f} ms p95, "
        f"{statistics.mean(times):.1f} ms mean per call, "
        f"{statements.count / calls:.1f} statements per call"
    )
    print("| mean ms per call | runs per call | ms per run | statement |")
    print("|---:|---:|---:|---|")
    by_time = sorted(statements.times.items(), key=lambda kv: -sum(kv[1]))
    for sql, ms in by_time[:top]:
        print(f"| {sum(ms) / calls:.2f} | {len(ms) / calls:.2f} | {statistics.mean(ms):.1f} | `{sql[:160]}` |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--postgres", default=os.environ.get("KEHU_BENCH_POSTGRES"))
    parser.add_argument("--databases", default="sqlite,postgres", help="which of sqlite, postgres")
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--top", type=int, default=12, help="statements listed per run")
    parser.add_argument("--first", type=int, default=0, help="first call's number (another: other customers)")
    parser.add_argument("--explain", metavar="PATTERN", help="print the plans of the statements that match")
    parser.add_argument("--keep", action="store_true", help="leave the PostgreSQL databases (their URLs are printed)")
    parser.add_argument("--prefix", default="kehu_w3", help="of the PostgreSQL databases' names")
    parser.add_argument("--database", help="measure this already built and recomputed base only (one size)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.database:
        times, statements = asyncio.run(
            measure(args.database, sizes[0], args.calls, args.warmup, args.explain, args.first)
        )
        report(f"{args.database}, {sizes[0]:,} customers", times, statements, args.top)
        return
    targets = [t for t in args.databases.split(",") if t == "sqlite" or (t == "postgres" and args.postgres)]
    for target in targets:
        for n in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                url = (
                    f"sqlite://{tmp}/w3.sqlite3"
                    if target == "sqlite"
                    else dataset.create_pg_database(args.postgres, args.prefix)
                )
                try:
                    built = build(url, n)
                    recomputed = asyncio.run(recompute(url))
                    print(f"\n<!-- {target} {n}: loaded in {built:.0f} s, recomputed in {recomputed:.0f} s -->")
                    times, statements = asyncio.run(measure(url, n, args.calls, args.warmup, args.explain))
                finally:
                    if target == "postgres":
                        if args.keep:
                            print(f"<!-- kept {url} -->")
                        else:
                            dataset.drop_pg_database(url)
            report(f"{target}, {n:,} customers", times, statements, args.top)


if __name__ == "__main__":
    main()
