"""W1's garbage: what one list page leaves for Python's cycle collector, in process.

    python -m benchmarks.gc_w1 [--requests 200]

Serves W1 (every built-in plugin, 50 rows, the benchmark's 10,000-customer data
set in a temporary SQLite file) through the ASGI app, and reports the median
request time, the collector's time per request and per generation, and the
objects each request leaves in reference cycles. Objects freed by reference
counting never reach the collector; those in cycles wait for a collection, whose
cost grows with everything else alive (benchmarks/README.md, "W1: what a page
leaves for the collector").
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from pathlib import Path

from .dataset import seed
from .server import build
from .workloads import AUTH, BUILTINS, graphql_body, page_document


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    from starlette.testclient import TestClient

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{Path(tmp) / 'w1.db'}"
        seed(url, BUILTINS)
        body = graphql_body(page_document(BUILTINS), {"n": 50})
        headers = {**AUTH, "content-type": "application/json"}
        spent = [0.0, 0.0, 0.0]
        runs = [0, 0, 0]
        started = [0.0]

        def watch(phase: str, info: dict) -> None:
            if phase == "start":
                started[0] = time.perf_counter()
            else:
                spent[info["generation"]] += time.perf_counter() - started[0]
                runs[info["generation"]] += 1

        with TestClient(build("kehu", url, BUILTINS)) as client:
            for _ in range(30):  # warm: caches, the token's last use
                assert client.post("/graphql", content=body, headers=headers).status_code == 200
            gc.collect()
            gc.set_debug(gc.DEBUG_SAVEALL)
            for _ in range(5):
                client.post("/graphql", content=body, headers=headers)
            gc.collect()
            cyclic = len(gc.garbage) / 5
            gc.set_debug(0)
            gc.garbage.clear()
            gc.callbacks.append(watch)
            times = []
            for _ in range(args.requests):
                t0 = time.perf_counter()
                client.post("/graphql", content=body, headers=headers)
                times.append(time.perf_counter() - t0)
            gc.callbacks.remove(watch)
    n = args.requests
    print(f"W1, {n} requests: median {statistics.median(times) * 1000:.1f} ms")
    print(f"objects left in reference cycles per request: {cyclic:.0f}")
    print(f"collector: {sum(spent) / n * 1000:.2f} ms per request")
    for generation in range(3):
        print(f"  generation {generation}: {runs[generation]} collections, {spent[generation] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
