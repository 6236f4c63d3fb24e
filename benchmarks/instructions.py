"""Instructions a request costs, counted by callgrind: a measure that does not move
with the machine's minute-to-minute speed.

    python -m benchmarks.instructions W3 [--requests 30] [--warmup 20]
    python -m benchmarks.instructions W1 [--rows 100] [--concurrency 16]

Seeds the benchmark's 10,000-customer data set (every built-in plugin) in a
temporary SQLite file, serves it in process through the ASGI app under
``valgrind --tool=callgrind`` (Debian's ``valgrind`` package), sends ``--warmup``
requests uncounted, then counts the instructions of ``--requests`` more,
``--concurrency`` at a time (default one), in every thread (the event loop's
and aiosqlite's). W1 is the customer page of ``--rows``; W3 a purchase logged
with every plugin's reaction.

Timings of two commits on this 2-core VM moved by ±20 % between minutes;
instruction counts of the same code repeat within about 1.5 %, so a change of a
few percent shows. They weigh every instruction alike (a cache miss counts as
one), so confirm a gain in time with ``python -m benchmarks`` as well.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import dataset
from .client import InProcess
from .server import build
from .workloads import AUTH, BUILTINS, LOG_DOCUMENT, check_graphql, graphql_body, log_variables, page_document


async def serve(workload: str, url: str, rows: int, concurrency: int) -> None:
    """The served side (``--serve``): answer "ready", then for each line with a
    number on stdin send that many requests and answer "done"."""
    app = build("kehu", url, BUILTINS)
    client = InProcess(app, {**AUTH, "content-type": "application/json"})
    page = graphql_body(page_document(BUILTINS), {"n": rows})
    sent = 0

    def body() -> bytes:
        nonlocal sent
        sent += 1
        if workload == "W1":
            return page
        return graphql_body(LOG_DOCUMENT, log_variables(100_000 + sent, dataset.FULL.customers))

    async def send(n: int) -> None:
        for _ in range(n):
            status, answer = await client.post("/graphql", body())
            problem = check_graphql(status, answer)
            if problem:
                raise SystemExit(f"{workload} failed: {problem}")

    async with client:
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            n = int(line)
            await asyncio.gather(*(send(n // concurrency + (i < n % concurrency)) for i in range(concurrency)))
            print("done", flush=True)


def count(workload: str, url: str, rows: int, concurrency: int, warmup: int, requests: int, out: Path) -> float:
    """Millions of instructions per request, the served side run under callgrind."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        sys.executable,
        "-m",
        "benchmarks.instructions",
        "--serve",
        f"{workload},{url},{rows},{concurrency}",
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    with subprocess.Popen(
        command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as served:
        assert served.stdin is not None and served.stdout is not None

        def send(n: int) -> None:
            served.stdin.write(f"{n}\n")  # type: ignore[union-attr]
            served.stdin.flush()  # type: ignore[union-attr]
            if served.stdout.readline().strip() != "done":  # type: ignore[union-attr]
                raise SystemExit(f"the served process stopped (exit {served.wait()})")

        if served.stdout.readline().strip() != "ready":
            raise SystemExit(f"the served process did not start (exit {served.wait()})")
        send(warmup)
        subprocess.run(["callgrind_control", "--instr=on", str(served.pid)], check=True, capture_output=True)
        send(requests)
        subprocess.run(["callgrind_control", "--instr=off", str(served.pid)], check=True, capture_output=True)
        served.stdin.close()
        served.wait()
    total = 0
    for dump in out.parent.glob(out.name + "*"):
        for line in dump.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
    return total / requests / 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", nargs="?", choices=("W1", "W3"), default="W3")
    parser.add_argument("--requests", type=int, default=30, help="requests counted")
    parser.add_argument("--warmup", type=int, default=20, help="requests sent first, uncounted")
    parser.add_argument("--rows", type=int, default=100, help="W1's page size")
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight at once")
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # workload,url,rows,concurrency: the served side
    args = parser.parse_args(argv)
    if args.serve:
        workload, url, rows, concurrency = args.serve.rsplit(",", 3)
        asyncio.run(serve(workload, url, int(rows), int(concurrency)))
        return
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("needs valgrind (Debian: apt install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{Path(tmp) / 'bench.db'}"
        dataset.seed(url, BUILTINS)
        per_request = count(
            args.workload, url, args.rows, args.concurrency, args.warmup, args.requests, Path(tmp) / "callgrind.out"
        )
    print(
        f"{args.workload}: {per_request:.2f} M instructions per request"
        f" ({args.requests} after {args.warmup}, {args.concurrency} at a time)"
    )


if __name__ == "__main__":
    main()
