"""Full segmentation recompute on a generated data set.

    python benchmarks/segmentation_bench.py                       # SQLite, 100k / 1M
    python benchmarks/segmentation_bench.py --postgres postgres://postgres@127.0.0.1:54329
    python benchmarks/segmentation_bench.py --customers 10000 --interactions 100000

Generates customers and PURCHASE interactions (bulk inserts in batches of 10,000,
fixed random seed) in a fresh database, then times ``service.recompute_all`` twice
(first run: everything changes and is recorded; second run: steady state) and one
incremental re-score. Results are in benchmarks/segmentation.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

BATCH = 10_000


async def generate(customers: int, interactions: int, now: dt.datetime) -> None:
    from kehu.models import Customer, Interaction, InteractionKind

    rng = random.Random(42)
    started = time.perf_counter()
    for lo in range(0, customers, BATCH):
        await Customer.bulk_create(
            [
                Customer(name=f"customer {i}", region=rng.choice(("north", "south", "east", "west")))
                for i in range(lo, min(lo + BATCH, customers))
            ]
        )
    first_id = (await Customer.all().order_by("id").first()).id
    # Skewed activity: a few customers buy a lot (Pareto-like), some never.
    weights = [rng.paretovariate(1.2) if rng.random() > 0.1 else 0 for _ in range(customers)]
    targets = rng.choices(range(customers), weights=weights, k=interactions)
    for lo in range(0, interactions, BATCH):
        await Interaction.bulk_create(
            [
                Interaction(
                    customer_id=first_id + targets[i],
                    kind=InteractionKind.PURCHASE,
                    occurred_at=now - dt.timedelta(days=rng.random() * 730),
                    amount=Decimal(rng.randint(500, 200_000)) / 100,
                )
                for i in range(lo, min(lo + BATCH, interactions))
            ]
        )
    print(f"generated {customers:,} customers, {interactions:,} purchases in {time.perf_counter() - started:.1f}s")


async def main(url: str, customers: int, interactions: int, generated: bool = False, settings=None) -> None:
    from kehu.clock import FrozenClock
    from kehu.config import parse_config
    from kehu.plugins.segmentation import service
    from kehu.server.runtime import Kehu

    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    config = parse_config(
        {
            "kehu": {"database_url": url},
            "plugins": {
                "enabled": ["segmentation"],
                "segmentation": {"recompute_interval_minutes": 0, **(settings or {})},
            },
        }
    )
    kehu = Kehu(config, clock=FrozenClock(now))
    await kehu.connect(migrate=True)
    try:
        if not generated:
            await generate(customers, interactions, now)
        for label in ("first full recompute", "second full recompute"):
            result = await service.recompute_all(kehu)
            print(
                f"{label}: {result.seconds:.2f}s ({result.customers:,} customers, "
                f"{result.population:,} scored, {result.changes:,} history entries)"
            )
            print(f"  steps (s): {result.steps}")
            model = result.clv_model or {}
            print(
                f"  CLV model: {model.get('model')} {model.get('params') or model.get('fallback')} "
                f"(fit {model.get('seconds')}s, {model.get('iterations')} iterations)"
            )
        started = time.perf_counter()
        await service.recompute_customer(kehu, 1, "INTERACTION")
        print(f"incremental re-score of one customer: {(time.perf_counter() - started) * 1000:.1f} ms")
    finally:
        await kehu.disconnect()


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument(
        "--postgres", help="server URL, e.g. postgres://postgres@127.0.0.1:54329 (a database is created)"
    )
    parser.add_argument("--db", help="SQLite file to keep the data set in: generated once, reused by later runs")
    parser.add_argument("--clv-model", choices=["pareto_nbd", "bg_nbd", "run_rate"], help="clv.model for the run")
    args = parser.parse_args()
    settings = {"clv": {"model": args.clv_model}} if args.clv_model else {}
    if args.postgres:
        import asyncpg

        name = f"kehu_bench_{uuid.uuid4().hex[:8]}"
        server = args.postgres.rstrip("/")

        async def admin(sql: str) -> None:
            conn = await asyncpg.connect(server + "/postgres")
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
        try:
            asyncio.run(main(f"{server}/{name}", args.customers, args.interactions, settings=settings))
        finally:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    elif args.db:
        exists = Path(args.db).exists()
        asyncio.run(main(f"sqlite://{args.db}", args.customers, args.interactions, exists, settings))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(main(f"sqlite://{tmp}/bench.db", args.customers, args.interactions, settings=settings))


if __name__ == "__main__":
    run()
