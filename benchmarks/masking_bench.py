"""Masking overhead on a page of 100 customers: the same query, same run, with
the masking plugin off and on (and on with encryption at rest).

    python -m benchmarks.masking_bench [--rounds 200]

Each configuration is a real kehu app (TestClient over HTTP, SQLite file) seeded
with the demo data; the query asks for the personal fields of 100 customers, so
500 fields carry a masking extension. Tortoise allows one app per process at a
time, so the configurations run one after another, twice over; the median per
request is reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

QUERY = "{ customers(first: 100) { edges { node { id name email phone address attributes region createdAt } } } }"


def _app(directory: Path, name: str, enabled: tuple[str, ...], settings: dict):
    from kehu.cli.demo import seed_demo
    from kehu.testing import KehuHarness

    app = KehuHarness(
        f"sqlite://{directory / name}.db", enabled=enabled, settings=settings, config={"limits": {"rate_per_minute": 0}}
    ).__enter__()
    app.run(lambda: seed_demo(app.kehu, force=True))  # beside the test accounts
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    from kehu.plugins.masking.service.crypto import generate_key

    os.environ.setdefault("KEHU_MASKING_KEY", generate_key())
    configs = {
        "masking off": ((), {}),
        "masking on": (("masking",), {}),
        "masking on + phone encrypted": (("masking",), {"masking": {"encrypted_fields": ["Customer.phone"]}}),
    }
    timings: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # Tortoise allows one global context per process: one app at a time.
        for repeat in range(2):  # twice, interleaved, so drift hits every configuration
            for label, (enabled, settings) in configs.items():
                app = _app(Path(tmp), f"{label.replace(' ', '_')}{repeat}", enabled, settings)
                try:
                    for _ in range(20):  # warm the parser/validation caches
                        app.post(QUERY, as_="analyst")
                    for _ in range(args.rounds // 2):
                        for role in ("admin", "analyst"):
                            started = time.perf_counter()
                            response = app.post(QUERY, as_=role)
                            timings.setdefault((label, role), []).append(time.perf_counter() - started)
                            assert response.status_code == 200 and "errors" not in response.json()
                finally:
                    app.__exit__(None, None, None)
    base = {role: statistics.median(timings[("masking off", role)]) for role in ("admin", "analyst")}
    print(f"page of 100 customers, {args.rounds} requests per row, median ms per request (HTTP, in process)")
    for (label, role), values in timings.items():
        median = statistics.median(values)
        print(f"  {label:30} {role:8} {median * 1000:7.2f} ms   {100 * (median / base[role] - 1):+6.1f} %")


if __name__ == "__main__":
    main()
