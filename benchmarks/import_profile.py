"""Where an import's time goes: customers, then interactions, with every built-in
plugin enabled, split into phases.

    python -m benchmarks.import_profile [--customers 200000] [--interactions 1000000]
                                        [--database-url URL] [--plugins a,b] [--cprofile FILE]

Generates the W5 files (``import_workload.generate``) and measures, each on its
own: reading the file (decoding, CSV, a dict per row); reading and checking every
row (``prepare``: the API's rules); the whole ``kehu import`` into a fresh
database, with the plugins' after-load work (``kehu_bulk_loaded``: loyalty's
history replay, segmentation's recompute) timed per plugin. Wall time, the main
thread's CPU time (Python) and the other threads' (SQLite runs in aiosqlite's
thread; on PostgreSQL, asyncpg's protocol work, the server's own work is in
its processes) are given for each, so the split holds on a loaded machine too.
``--cprofile FILE`` writes the import's profile (``pstats``) for a closer look;
``--sql`` lists the SQL statements by the CPU time SQLite spent on them (in
aiosqlite's thread).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from .import_workload import OWNER, generate


class Clock:
    """Wall, main-thread CPU and process CPU over a block."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float, float]] = []

    @contextmanager
    def phase(self, name: str):
        wall, main, process = time.perf_counter(), time.thread_time(), time.process_time()
        try:
            yield
        finally:
            self.rows.append(
                (
                    name,
                    time.perf_counter() - wall,
                    time.thread_time() - main,
                    time.process_time() - process - (time.thread_time() - main),
                )
            )

    def add(self, name: str, wall: float, main: float, other: float) -> None:
        self.rows.append((name, wall, main, other))

    def print(self, rows_by_phase: dict[str, int]) -> None:
        print(f"{'phase':<46} {'wall s':>8} {'py CPU s':>9} {'db CPU s':>9} {'µs/row CPU':>11} {'rows/s':>9}")
        for name, wall, main, other in self.rows:
            n = rows_by_phase.get(name.split(":")[0], 0)
            per = f"{(main + other) / n * 1e6:.1f}" if n else ""
            rate = f"{n / wall:,.0f}" if n and wall else ""
            print(f"{name:<46} {wall:>8.2f} {main:>9.2f} {other:>9.2f} {per:>11} {rate:>9}")


def _timed_plugins(clock: Clock) -> None:
    """Time each plugin's ``kehu_bulk_loaded`` work (the service functions its
    hook imports when called)."""
    from kehu.plugins.loyalty import service as loyalty
    from kehu.plugins.masking import service as masking
    from kehu.plugins.segmentation import service as segmentation

    def wrap(module, name: str, label: str) -> None:
        original = getattr(module, name)

        async def timed(*args, **kwargs):
            wall, main, process = time.perf_counter(), time.thread_time(), time.process_time()
            result = None
            try:
                result = await original(*args, **kwargs)
                return result
            finally:
                main_cpu = time.thread_time() - main
                steps = getattr(result, "steps", None)  # segmentation's: wall seconds per step
                note = f" {steps}" if steps else ""
                clock.add(label + note, time.perf_counter() - wall, main_cpu, time.process_time() - process - main_cpu)

        setattr(module, name, timed)

    wrap(loyalty, "catch_up", "  after-load: loyalty history replay")
    wrap(segmentation, "recompute_all", "  after-load: segmentation recompute")
    wrap(masking, "index_customers", "  after-load: masking blind indexes")


class SqlCosts:
    """CPU time of each SQL statement in aiosqlite's thread, by statement text."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def install(self) -> None:
        import re
        from functools import partial

        import aiosqlite.core

        original = aiosqlite.core.Connection._execute
        costs = self

        async def _execute(connection, fn, *args, **kwargs):
            sql = args[0] if args and isinstance(args[0], str) else getattr(fn, "__name__", "?")
            key = re.sub(r"(\?, )+\?", "?…", " ".join(sql.split()))[:110]
            inner = partial(fn, *args, **kwargs)

            def timed():
                started = time.thread_time()
                try:
                    return inner()
                finally:
                    costs.cpu[key] = costs.cpu.get(key, 0.0) + time.thread_time() - started
                    costs.calls[key] = costs.calls.get(key, 0) + 1

            return await original(connection, timed)

        aiosqlite.core.Connection._execute = _execute

    def print(self, top: int = 25) -> None:
        total = sum(self.cpu.values())
        print(f"\nSQL in aiosqlite's thread: {total:.2f} s CPU")
        for key, cpu in sorted(self.cpu.items(), key=lambda kv: -kv[1])[:top]:
            print(f"{cpu:8.2f} s {self.calls[key]:>7} × {key}")


async def _read(path: Path) -> int:
    from kehu.cli.sources import open_source

    n = 0
    for _ in open_source(path).records():
        n += 1
    return n


async def _check(kehu, path: Path, what: str) -> int:
    """Read and check every row as the import does, writing nothing."""
    from kehu.cli.history import INTERACTION_COLUMNS, InteractionImporter
    from kehu.cli.sources import open_source
    from kehu.cli.transfer import COLUMNS, ColumnPlan, ImportReport, _CustomerImporter
    from kehu.errors import ValidationError

    source = open_source(path)
    report = ImportReport(path=path)
    now = kehu.clock.now()
    if what == "customers":
        plan = ColumnPlan((*COLUMNS, "interactions"))
        importer = _CustomerImporter(
            kehu, report, None, "", on_conflict="error", events=False, columns=source.header, now=now
        )
    else:
        plan = ColumnPlan(INTERACTION_COLUMNS, allow_attributes=False)
        importer = InteractionImporter(kehu, report, None, "", now=now)
    extras = plan.check_header(source)
    await importer.owners.load()
    bad = 0
    for line, row in source.records():
        try:
            known, extra = plan.split(row, extras, line)
            if what == "customers":
                importer.prepare(line, known, extra)
            else:
                importer.prepare(line, known)
        except ValidationError:
            bad += 1
    return bad


@contextmanager
def _profiling(profiler: cProfile.Profile | None):
    if profiler is None:
        yield
        return
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()


async def run(args) -> None:
    from tortoise.backends.base.executor import EXECUTOR_CACHE

    from kehu.cli.history import import_interactions
    from kehu.cli.transfer import import_customers
    from kehu.config import parse_config
    from kehu.models import AccountOwner, Role
    from kehu.server.runtime import Kehu

    folder = Path(tempfile.mkdtemp(prefix="kehu-import-profile-"))
    started = time.perf_counter()
    customers, history = generate(folder, args.customers, history_rows=args.interactions)
    size = (customers.stat().st_size + history.stat().st_size) / 1e6
    print(
        f"generated {args.customers:,} customers and {args.interactions:,} interactions ({size:.0f} MB) "
        f"in {time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.1f}"
    )
    clock = Clock()
    from .run import available_plugins

    plugins = available_plugins(args.plugins, every=True)
    _timed_plugins(clock)
    sql = SqlCosts() if args.sql else None
    if sql:
        sql.install()
    url = args.database_url or f"sqlite://{folder / 'import.db'}"
    if args.postgres:
        from .dataset import create_pg_database

        url = await asyncio.to_thread(create_pg_database, args.postgres)
    EXECUTOR_CACHE.clear()
    kehu = Kehu(parse_config({"kehu": {"database_url": url}, "plugins": {"enabled": list(plugins)}}))
    await kehu.connect(migrate=True)
    profiler = cProfile.Profile() if args.cprofile else None
    try:
        await AccountOwner.create(name="Importer", email=OWNER, role=Role.MANAGER, team="north")
        with clock.phase("customers: read (decode, CSV, dict per row)"):
            await _read(customers)
        with clock.phase("customers: read + check (no writes)"):
            await _check(kehu, customers, "customers")
        with clock.phase("customers: kehu import (all)"), _profiling(profiler):
            first = await import_customers(kehu, customers, actor="profile")
        with clock.phase("interactions: read (decode, CSV, dict per row)"):
            await _read(history)
        with clock.phase("interactions: read + check (no writes)"):
            await _check(kehu, history, "interactions")
        with clock.phase("interactions: kehu import (all)"), _profiling(profiler):
            second = await import_interactions(kehu, history, actor="profile")
        if profiler:
            profiler.dump_stats(args.cprofile)
    finally:
        await kehu.disconnect()
        if args.postgres:
            from .dataset import drop_pg_database

            await asyncio.to_thread(drop_pg_database, url)
    for report in (first, second):
        print(
            f"{report.summary()}; {report.seconds:.2f} s, of which after-load {report.plugin_seconds:.2f} s"
            + (f"; first error: {report.errors[0]}" if report.errors else "")
        )
    print(f"plugins: {', '.join(plugins)}; load average now {os.getloadavg()[0]:.1f}")
    clock.print({"customers": args.customers, "interactions": args.interactions})
    if sql:
        sql.print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary directory")
    parser.add_argument("--postgres", metavar="URL", help="a fresh database on this PostgreSQL server instead")
    parser.add_argument("--plugins", help="comma-separated (default: every built-in plugin)")
    parser.add_argument("--cprofile", metavar="FILE", help="write a cProfile of the two imports to FILE")
    parser.add_argument("--sql", action="store_true", help="list SQL statements by SQLite's CPU time")
    asyncio.run(run(parser.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
