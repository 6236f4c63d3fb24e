"""W1's garbage: what one list page leaves for Python's cycle collector, in process.

    python -m benchmarks.gc_w1 [--requests 200] [--rows 50] [--concurrency 16] [--full-every 10] [--young 700]

Serves W1 (every built-in plugin, ``--rows`` customers, the benchmark's
10,000-customer data set in a temporary SQLite file) through the ASGI app,
``--concurrency`` requests at a time, and reports the median request time, the
collector's time per request and per generation, the objects each request
leaves in reference cycles and the process's resident memory after the warm-up
and at the end. Objects freed by reference counting never reach the collector;
those in cycles wait for a collection, whose cost grows with everything else
alive (benchmarks/README.md, "W1: what a page leaves for the collector").
``--full-every`` sets the collector's third threshold after start-up, in place
of kehu's (``kehu.server.app.FULL_COLLECTION_EVERY``; 10 is CPython's), and
``--young`` its first (CPython's: 700 allocations).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import time
from pathlib import Path

from .client import InProcess
from .dataset import seed
from .server import build, memory
from .workloads import AUTH, BUILTINS, graphql_body, page_document


async def serve(url: str, args: argparse.Namespace) -> dict:
    body = graphql_body(page_document(BUILTINS), {"n": args.rows})
    spent = [0.0, 0.0, 0.0]
    runs = [0, 0, 0]
    started = [0.0]

    def watch(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            spent[info["generation"]] += time.perf_counter() - started[0]
            runs[info["generation"]] += 1

    async def page() -> float:
        t0 = time.perf_counter()
        status, _ = await client.post("/graphql", body)
        assert status == 200, status
        return time.perf_counter() - t0

    async with InProcess(build("kehu", url, BUILTINS), {**AUTH, "content-type": "application/json"}) as client:
        for _ in range(30):  # warm: caches, the token's last use
            await page()
        young, middle, full = gc.get_threshold()
        gc.set_threshold(args.young or young, middle, args.full_every or full)
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        for _ in range(5):
            await page()
        gc.collect()
        cyclic = len(gc.garbage) / 5
        gc.set_debug(0)
        gc.garbage.clear()
        gc.callbacks.append(watch)
        warm = memory()["rss_mb"]
        times: list[float] = []
        for _ in range(max(args.requests // args.concurrency, 1)):
            times += await asyncio.gather(*(page() for _ in range(args.concurrency)))
        gc.callbacks.remove(watch)
        resident = (warm, memory()["rss_mb"])
    return {"times": times, "cyclic": cyclic, "spent": spent, "runs": runs, "memory": resident}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rows", type=int, default=50, help="customers per page (W1 proper: 100)")
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight at once")
    parser.add_argument("--full-every", type=int, help="the collector's third threshold after start-up")
    parser.add_argument("--young", type=int, help="the collector's first threshold after start-up")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{Path(tmp) / 'w1.db'}"
        seed(url, BUILTINS)
        result = asyncio.run(serve(url, args))
    n = len(result["times"])
    spent, runs = result["spent"], result["runs"]
    print(f"W1, {n} requests, {args.concurrency} at a time: median {statistics.median(result['times']) * 1000:.1f} ms")
    print(f"objects left in reference cycles per request: {result['cyclic']:.0f}")
    print(f"collector: {sum(spent) / n * 1000:.2f} ms per request")
    for generation in range(3):
        print(f"  generation {generation}: {runs[generation]} collections, {spent[generation] * 1000:.0f} ms")
    print("resident memory: {:.0f} MB after the warm-up, {:.0f} MB at the end".format(*result["memory"]))


if __name__ == "__main__":
    main()
