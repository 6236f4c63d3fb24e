"""CDNOW's real transactions through the documented commands, timed.

    python -m benchmarks.cdnow [--wheel Lifetimes-0.11.3-py3-none-any.whl] [--database-url URL]
                               [--plugins segmentation,loyalty,...] [--keep DIR]

The CDNOW data set (23,570 customers who first bought from the CD retailer in
the first quarter of 1997, and their 69,659 purchases until June 1998) ships in
the ``lifetimes`` package's wheel. The package itself no longer installs on a
current numpy, so this script only downloads the wheel (``pip download
lifetimes --no-deps``) or takes one you name, and reads
``lifetimes/datasets/CDNOW_master.txt`` straight out of the zip.

It writes the two files a team would write — customers (external id, name,
customer since) and purchases (order id, customer external id, date, amount) —
and runs ``kehu import customers`` then ``kehu import interactions`` against a
fresh database with every built-in plugin enabled, printing each command's
summary and the total time (target: under a minute on SQLite). Running the
imports a second time must change nothing; the script does that too.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

MEMBER = "lifetimes/datasets/CDNOW_master.txt"
PLUGINS = "segmentation,loyalty,complaints,surveys,masking,console,webhooks,notifications"  # every built-in


def wheel_path(given: str | None, folder: Path) -> Path:
    if given:
        return Path(given)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "lifetimes==0.11.3",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            str(folder),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return next(folder.glob("[Ll]ifetimes-*.whl"))


def write_files(wheel: Path, folder: Path) -> tuple[Path, Path, int, int]:
    """CDNOW_master.txt: ``customer_id date(YYYYMMDD) number_of_cds dollar_value``."""
    with zipfile.ZipFile(wheel) as z:
        text = z.read(MEMBER).decode("ascii")
    first_seen: dict[str, str] = {}
    purchases = folder / "cdnow-purchases.csv"
    count = 0
    with purchases.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["external_id", "customer_external_id", "kind", "occurred_at", "amount", "subject"])
        for number, line in enumerate(io.StringIO(text), start=0):
            parts = line.split()
            if number == 0 or len(parts) != 4:  # the header
                continue
            customer, date, cds, value = parts
            day = f"{date[:4]}-{date[4:6]}-{date[6:]}"
            first_seen.setdefault(customer, day)
            writer.writerow([f"cdnow-{number}", f"cdnow-{customer}", "PURCHASE", day, value, f"{cds} CD(s)"])
            count += 1
    customers = folder / "cdnow-customers.csv"
    with customers.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["external_id", "name", "created_at"])
        for customer, day in first_seen.items():
            writer.writerow([f"cdnow-{customer}", f"CDNOW customer {customer}", day])
    return customers, purchases, len(first_seen), count


def kehu(config: Path, *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "kehu.cli", *args],
        env={**os.environ, "KEHU_CONFIG": str(config)},
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"kehu {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return seconds, done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cdnow", description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", help="the lifetimes wheel (default: pip download it)")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--plugins", default=PLUGINS, help=f"plugins to enable (default {PLUGINS})")
    parser.add_argument("--keep", help="write the files and database here and keep them")
    args = parser.parse_args(argv)
    folder = Path(args.keep or tempfile.mkdtemp(prefix="kehu-cdnow-"))
    folder.mkdir(parents=True, exist_ok=True)
    customers, purchases, n_customers, n_purchases = write_files(wheel_path(args.wheel, folder), folder)
    print(f"CDNOW: {n_customers:,} customers, {n_purchases:,} purchases")
    url = args.database_url or f"sqlite://{folder / 'cdnow.db'}"
    plugins = [p for p in args.plugins.split(",") if p]
    config = folder / "plugins.toml"
    config.write_text(
        f'[kehu]\ndatabase_url = "{url}"\n\n[plugins]\nenabled = {plugins!r}\n'.replace("'", '"'), encoding="utf-8"
    )
    kehu(config, "migrate")
    total = 0.0
    for what, path in (("customers", customers), ("interactions", purchases)):
        seconds, output = kehu(config, "import", what, str(path))
        total += seconds
        print(f"kehu import {what} ({seconds:.1f} s): {output}")
    print(f"both imports: {total:.1f} s (target: under a minute on SQLite)")
    for what, path in (("customers", customers), ("interactions", purchases)):
        seconds, output = kehu(config, "import", what, str(path))
        print(f"again, kehu import {what} ({seconds:.1f} s): {output}")
    print(kehu(config, "loyalty", "check")[1] if "loyalty" in plugins else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
