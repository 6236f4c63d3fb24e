"""W3 with the plugins' reactions in the request or after it: what taking them off
the request path would buy.

    python -m benchmarks.w3_delivery [--calls 320] [--pairs 3] [--postgres URL]
    python -m benchmarks.w3_delivery --leave-out segmentation --leave-out loyalty ...

``logInteraction`` purchases (every built-in plugin) are sent through the ASGI
app in process, at concurrency 1 and 16, with ``[events] deliver_inline`` true
(the default: the handlers — loyalty's accrual, segmentation's re-score,
webhooks — run before the response) and false (the response goes out after the
commit; the worker's outbox loop delivers the events right after). Each run
starts from a copy of the benchmark's 10,000-customer base (a file copy on
SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL), and its figures
count until the outbox is drained, so work moved after the response is still
paid for: requests/s of the responses alone, requests/s until every event is
delivered, p50 of the responses, and the process's CPU per purchase. The two
settings alternate, one process per run.

With ``--leave-out PLUGIN`` (repeatable; ``a+b`` leaves out both) the runs
alternate between every plugin and every plugin but those instead, handlers
in the request: what each plugin's reactions add to a purchase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import dataset
from .client import InProcess
from .server import build
from .workloads import AUTH, BUILTINS, LOG_DOCUMENT, check_graphql, graphql_body, log_variables

WARMUP = 20


async def one_run(url: str, inline: bool, concurrency: int, calls: int, first: int, left_out: str = "") -> dict:
    """Run in a process of its own (``--run``): one setting, one concurrency;
    ``left_out``: plugins not enabled, joined by ``+``."""
    from kehu.models import OutboxEvent, OutboxState

    plugins = tuple(p for p in BUILTINS if p not in left_out.split("+"))
    app = build("kehu", url, plugins, sections={"events": {"deliver_inline": inline}})
    client = InProcess(app, {**AUTH, "content-type": "application/json"})

    async def post(i: int) -> None:
        status, answer = await client.post(
            "/graphql", graphql_body(LOG_DOCUMENT, log_variables(i, dataset.FULL.customers))
        )
        problem = check_graphql(status, answer)
        if problem:
            raise SystemExit(f"logInteraction failed: {problem}")

    async def drained() -> None:
        while await OutboxEvent.filter(state=OutboxState.PENDING).exists():
            await asyncio.sleep(0.005)

    latencies: list[float] = []

    async def timed(i: int) -> None:
        start = time.perf_counter()
        await post(i)
        latencies.append(time.perf_counter() - start)

    async with client:
        for i in range(first, first + WARMUP):
            await post(i)
        await drained()
        rounds = calls // concurrency
        n = rounds * concurrency
        begin, cpu = time.perf_counter(), time.process_time()
        i = first + WARMUP
        for _ in range(rounds):
            await asyncio.gather(*(timed(i + k) for k in range(concurrency)))
            i += concurrency
        answered = time.perf_counter()
        await drained()
        done = time.perf_counter()
        cpu = time.process_time() - cpu
    return {
        "answered_per_s": n / (answered - begin),
        "delivered_per_s": n / (done - begin),
        "p50_ms": statistics.median(latencies) * 1000,
        "cpu_ms": cpu / n * 1000,
    }


def _copy(url: str, path: Path) -> str:
    """A fresh copy of the seeded base at ``url``: a file, or a PostgreSQL database
    made from it as a template."""
    if url.startswith("sqlite://"):
        shutil.copyfile(url.removeprefix("sqlite://"), path)
        return f"sqlite://{path}"
    server, _, base = url.rpartition("/")
    return dataset.create_pg_database(server, template=base)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=320, help="purchases per run")
    parser.add_argument("--pairs", type=int, default=3, help="runs of each setting, alternating")
    parser.add_argument("--postgres", help="a PostgreSQL server (postgres://user@host:port) instead of SQLite")
    parser.add_argument(
        "--leave-out",
        action="append",
        default=[],
        metavar="PLUGIN",
        help="alternate every plugin with every plugin but this one (a+b: both), handlers in the request",
    )
    parser.add_argument("--run", help=argparse.SUPPRESS)  # url,inline,concurrency,calls,first,left_out: one run
    args = parser.parse_args(argv)
    if args.run:
        url, inline, concurrency, calls, first, left_out = args.run.rsplit(",", 5)
        result = asyncio.run(one_run(url, inline == "1", int(concurrency), int(calls), int(first), left_out))
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "base.db"
        url = dataset.create_pg_database(args.postgres) if args.postgres else f"sqlite://{template}"
        dataset.seed(url, BUILTINS)
        # (handlers in the request, plugins left out): the settings that alternate
        variants = [(True, ""), *((True, p) for p in args.leave_out)] if args.leave_out else [(True, ""), (False, "")]
        results: dict[tuple[bool, str, int], list[dict]] = {}
        first = 100_000
        try:
            for concurrency in (1, 16):
                for _ in range(args.pairs):
                    for inline, left_out in variants:
                        run_url = _copy(url, Path(tmp) / "run.db")
                        spec = f"{run_url},{int(inline)},{concurrency},{args.calls},{first},{left_out}"
                        first += args.calls + WARMUP
                        try:
                            done = subprocess.run(
                                [sys.executable, "-m", "benchmarks.w3_delivery", "--run", spec],
                                capture_output=True,
                                text=True,
                                env={**os.environ, "PYTHONHASHSEED": "0"},
                            )
                            if done.returncode:
                                raise SystemExit(f"run {spec} failed:\n{done.stderr[-3000:]}")
                            out = done.stdout
                        finally:
                            if args.postgres:
                                dataset.drop_pg_database(run_url)
                        runs = results.setdefault((inline, left_out, concurrency), [])
                        runs.append(json.loads(out.splitlines()[-1]))
        finally:
            if args.postgres:
                dataset.drop_pg_database(url)
    engine = "PostgreSQL" if args.postgres else "SQLite"
    print(f"W3 delivery, {engine}, {args.calls} purchases per run, medians of {args.pairs} runs each")
    print("| handlers | concurrency | answered req/s | req/s until delivered | p50 ms | CPU ms per purchase |")
    print("|---|---:|---:|---:|---:|---:|")
    for (inline, left_out, concurrency), runs in results.items():
        med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        handlers = "in the request" if inline else "after the response"
        if left_out:
            handlers += ", without " + " and ".join(left_out.split("+"))
        print(
            f"| {handlers} | {concurrency} "
            f"| {med['answered_per_s']:.0f} | {med['delivered_per_s']:.0f} | {med['p50_ms']:.1f} | {med['cpu_ms']:.2f} |"
        )


if __name__ == "__main__":
    main()
