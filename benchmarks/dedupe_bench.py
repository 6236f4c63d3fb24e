"""Measure ``kehu dedupe scan``: how many planted duplicates it finds, how many of
its pairs are false, and how long it takes.

    python benchmarks/dedupe_bench.py [--customers 100000] [--duplicates 2000] [--seed N]
                                      [--database-url URL] [--min-score 50] [--show 10]

Generates a base with planted duplicates (``benchmarks/dedupe_data.py``: names in
hanzi and pinyin, typos, homophones, phone and e-mail formats, households that
share a landline), imports it into a fresh SQLite database (or the PostgreSQL
database given) with ``--allow-duplicates``, runs the scan as ``kehu dedupe scan``
does, and compares its pairs with the truth:

* **found**: planted duplicates paired with a record of the same customer;
* **false pairs**: pairs of records of two different customers, as a share of
  all pairs the scan reports.

The import is not timed; the scan is, from reading the customers to storing the
pairs (wall clock, and the CPU time of the process: SQLite runs in it, so on a
machine shared with other work the CPU time is what the scan needs alone). Exit status 1 when recall < 95 %, false pairs > 5 % or the scan takes a
minute or more — the acceptance line of duplicate management.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.dedupe_data import SEED, generate
from kehu.cli.transfer import import_customers
from kehu.config import parse_config
from kehu.duplicates import scan
from kehu.models import Customer
from kehu.server.runtime import Kehu

COLUMNS = ("external_id", "name", "kind", "email", "phone", "address", "region", "attributes")


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        for index, row in enumerate(rows):
            attributes = json.dumps(row["attributes"], ensure_ascii=False) if row.get("attributes") else ""
            writer.writerow(
                [f"R{index}", row["name"], row["kind"], row["email"] or "", row["phone"] or "", row["address"] or ""]
                + [row["region"] or "", attributes]
            )


def customer_of(rows: int, duplicate_of: dict[int, int]) -> list[int]:
    """Row index -> the index of the customer it is a record of (a duplicate of a
    duplicate is a record of the same customer)."""
    parent = list(range(rows))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for dup, source in duplicate_of.items():
        parent[root(dup)] = root(source)
    return [root(i) for i in range(rows)]


async def run(url: str, csv_path: Path, data, min_score: int, show: int) -> dict:
    kehu = Kehu(parse_config({"kehu": {"database_url": url}, "plugins": {"enabled": []}}))
    await kehu.connect(migrate=True)
    try:
        started = time.perf_counter()
        imported = await import_customers(kehu, csv_path, actor="dedupe_bench", allow_duplicates=True)
        import_seconds = time.perf_counter() - started
        if imported.errors:
            print(f"unexpected import errors, first: {imported.errors[0]}", file=sys.stderr)
        row_of = {pk: int(ext[1:]) for pk, ext in await Customer.all().values_list("id", "external_id")}
        started, cpu = time.perf_counter(), time.process_time()
        report = await scan(kehu, min_score=min_score, actor_label="dedupe_bench")
        scan_seconds, scan_cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await kehu.disconnect()
    customer = customer_of(len(data.rows), data.duplicate_of)
    found_dups: set[int] = set()
    false_pairs = []
    for pair in report.pairs:
        a, b = row_of[pair.a], row_of[pair.b]
        if customer[a] == customer[b]:
            found_dups.update(i for i in (a, b) if i in data.duplicate_of)
        else:
            false_pairs.append((pair, a, b))
    for pair, a, b in false_pairs[:show]:
        print(f"  false pair, score {pair.score} {pair.reasons}:\n    {data.rows[a]}\n    {data.rows[b]}")
    missed = [d for d in data.duplicate_of if d not in found_dups]
    for d in missed[:show]:
        print(f"  missed:\n    {data.rows[d]}\n    {data.rows[data.duplicate_of[d]]}")
    return {
        "import_seconds": import_seconds,
        "scan_seconds": scan_seconds,
        "scan_cpu": scan_cpu,
        "customers": report.customers,
        "compared": report.compared,
        "pairs": len(report.pairs),
        "found": len(found_dups),
        "planted": len(data.duplicate_of),
        "false": len(false_pairs),
        "skipped_blocks": report.skipped_blocks,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--duplicates", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--database-url", help="default: a fresh SQLite file in the temporary directory")
    parser.add_argument("--min-score", type=int, default=50)
    parser.add_argument("--show", type=int, default=0, help="print this many false and missed pairs")
    args = parser.parse_args()
    data = generate(args.customers, args.duplicates, args.seed)
    with tempfile.TemporaryDirectory(prefix="kehu-dedupe-bench-") as tmp:
        csv_path = Path(tmp) / "customers.csv"
        write_csv(csv_path, data.rows)
        url = args.database_url or f"sqlite://{Path(tmp) / 'bench.db'}"
        r = asyncio.run(run(url, csv_path, data, args.min_score, args.show))
    recall = r["found"] / max(r["planted"], 1)
    false_share = r["false"] / max(r["pairs"], 1)
    print(
        f"{r['customers']:,} customers ({r['planted']:,} planted duplicates, seed {args.seed}, {url.split(':')[0]}): "
        f"scan {r['scan_seconds']:.1f}s, {r['scan_cpu']:.1f}s CPU ({r['compared']:,} pairs compared, {r['skipped_blocks']:,} blocks skipped), "
        f"import {r['import_seconds']:.1f}s\n"
        f"found {r['found']:,} of {r['planted']:,} planted duplicates ({recall:.1%}); "
        f"{r['pairs']:,} pairs reported, {r['false']:,} false ({false_share:.1%})"
    )
    ok = recall >= 0.95 and false_share <= 0.05 and r["scan_seconds"] < 60
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
