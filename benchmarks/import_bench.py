"""Time ``kehu.cli.transfer.import_customers`` on 100,000 generated CSV rows.

    python benchmarks/import_bench.py [--rows 100000] [--batch-size 1000] [--database-url URL]
                                      [--enable PLUGIN ...] [--events]

Generates the CSV into a temporary directory (a mix of persons and organizations,
about half with tags, a third with an owner and attributes), imports it into a
fresh SQLite database (or the PostgreSQL database given), prints rows/s, and checks
that every row arrived. The generated file and database are removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from kehu.cli.transfer import COLUMNS, import_customers
from kehu.config import parse_config
from kehu.credentials import hash_password
from kehu.models import AccountOwner, Customer, CustomerTag, Role
from kehu.server.runtime import Kehu

REGIONS = ["Shanghai", "Beijing", "Guangdong", "Zhejiang", "Sichuan", "London", "Berlin", "New York"]
INDUSTRIES = ["Retail", "Manufacturing", "Software", "Healthcare", "Logistics", "Education"]
TAGS = ["vip", "wholesale", "newsletter", "referral", "trade-show", "at-risk", "key account"]
OWNERS = [f"owner{i}@bench.kehu" for i in range(5)]


def generate(path: Path, rows: int, seed: int = 1) -> None:
    rnd = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        for i in range(rows):
            org = i % 4 == 0
            writer.writerow(
                [
                    f"Company {i} Ltd" if org else f"客户 {i} Customer",
                    "ORGANIZATION" if org else "PERSON",
                    f"c{i}@example.com",
                    f"+86 138 {i % 10000:04d} {rnd.randrange(10000):04d}",
                    f"{rnd.randrange(1, 999)} Nanjing Road\nFloor {rnd.randrange(1, 30)}" if i % 3 == 0 else "",
                    rnd.choice(REGIONS),
                    rnd.choice(INDUSTRIES),
                    ";".join(rnd.sample(TAGS, rnd.randrange(0, 3))) if i % 2 else "",
                    rnd.choice(OWNERS) if i % 3 == 0 else "",
                    json.dumps({"source": "bench", "n": i}) if i % 3 == 1 else "",
                ]
            )


async def run(
    database_url: str, csv_path: Path, batch_size: int, enabled: list[str], events: bool
) -> tuple[float, int, int, int]:
    kehu = Kehu(parse_config({"kehu": {"database_url": database_url}, "plugins": {"enabled": enabled}}))
    await kehu.connect(migrate=True)
    try:
        password = hash_password("bench-password-unused")
        for email in OWNERS:
            await AccountOwner.create(name=email, email=email, role=Role.AGENT, password_hash=password)
        started = time.perf_counter()
        report = await import_customers(kehu, csv_path, actor="import_bench", batch_size=batch_size, events=events)
        elapsed = time.perf_counter() - started
        if report.errors:
            print(f"unexpected errors, first: {report.errors[0]}", file=sys.stderr)
        return elapsed, report.imported, await Customer.all().count(), await CustomerTag.all().count()
    finally:
        await kehu.disconnect()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--database-url", help="default: a fresh SQLite file in the temporary directory")
    parser.add_argument("--enable", nargs="*", default=[], metavar="PLUGIN", help="plugins to enable")
    parser.add_argument("--events", action="store_true", help="fire kehu_customer_created per customer")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kehu-import-bench-") as tmp:
        csv_path = Path(tmp) / "customers.csv"
        started = time.perf_counter()
        generate(csv_path, args.rows)
        size_mb = csv_path.stat().st_size / 1e6
        print(f"generated {args.rows:,} rows ({size_mb:.1f} MB) in {time.perf_counter() - started:.1f}s")
        url = args.database_url or f"sqlite://{Path(tmp) / 'bench.db'}"
        elapsed, imported, customers, tags = asyncio.run(run(url, csv_path, args.batch_size, args.enable, args.events))
    print(
        f"imported {imported:,} rows in {elapsed:.2f}s: {imported / elapsed:,.0f} rows/s "
        f"({customers:,} customers, {tags:,} tag rows, batch size {args.batch_size}, {url.split(':')[0]}, "
        f"plugins: {', '.join(args.enable) or 'none'}, events: {'on' if args.events else 'off'})"
    )
    return 0 if imported == customers == args.rows else 1


if __name__ == "__main__":
    sys.exit(main())
