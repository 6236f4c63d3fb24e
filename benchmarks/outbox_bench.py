"""Outbox throughput: N kehu workers on PostgreSQL deliver E events; none lost, none
delivered twice.

    python -m benchmarks.outbox_bench --postgres postgres://postgres@127.0.0.1:54329
    python -m benchmarks.outbox_bench --postgres … --events 10000 --workers 1 2 --rounds 2

For each worker count: a fresh database, migrated; ``kehu serve --workers N`` with a
recorder plugin (installed into a temporary directory through an entry point, as a
third-party plugin is); then one transaction writes E customers and their E
``kehu_customer_created`` events (inline delivery off, as if the workers that made
them had died after committing), and the clock runs until every event is DONE.

The recorder's handler is what a real one does: one write per event, once per
event (``write_scope(event_id=...)``: a transaction with its audit entry), and it
appends ``<event id> <pid>`` to a file for every call — so a duplicate delivery
shows there even though the database would refuse its second write.

Checks after each run: E lines, E distinct event ids (no duplicate call), every
event DONE, E audit entries (no loss) — and which worker delivered how many.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

RECORDER = """
import asyncio
import os

from kehu import hookimpl
from kehu.writes import record_change, write_scope

LOG = os.environ["KEHU_BENCH_LOG"]
WAIT = float(os.environ.get("KEHU_BENCH_HANDLER_MS", "0")) / 1000


@hookimpl
async def kehu_customer_created(customer, event_id, kehu):
    if WAIT:  # a receiver's latency: what a webhook or an e-mail handler waits for
        await asyncio.sleep(WAIT)
    async with write_scope(kehu, None, "bench.customerCreated", actor_label="bench", event_id=event_id):
        record_change("Customer", customer.id, {"seen": (False, True)})
    with open(LOG, "a", encoding="utf-8") as log:  # one short line: O_APPEND keeps lines whole
        log.write(f"{event_id} {os.getpid()}\\n")
"""


def install_recorder(directory: Path) -> Path:
    site = directory / "site"
    info = site / "kehu_bench_recorder-0.1.dist-info"
    info.mkdir(parents=True)
    (site / "kehu_bench_recorder.py").write_text(RECORDER, encoding="utf-8")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kehu-bench-recorder\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[kehu.plugins]\nbench = kehu_bench_recorder\n")
    return site


async def run_sql(server: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server.rstrip("/") + "/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def write_config(directory: Path, url: str, poll: float) -> Path:
    path = directory / "plugins.toml"
    path.write_text(
        f'[kehu]\ndatabase_url = "{url}"\n\n[plugins]\nenabled = ["bench"]\n\n'
        f"[limits]\nrate_per_minute = 0\n\n[events]\ndeliver_inline = false\npoll_seconds = {poll}\n",
        encoding="utf-8",
    )
    return path


async def emit_events(url: str, count: int) -> float:
    """One transaction: ``count`` customers and their events. Returns when committed."""
    from kehu.cli.transfer import bulk_create_with_ids
    from kehu.config import parse_config
    from kehu.models import Customer
    from kehu.server.runtime import Kehu
    from kehu.writes import write_scope

    # The recorder enabled here too: an event is written PENDING only for hooks some
    # enabled plugin implements (else it is written as delivered, to nobody).
    raw = {"kehu": {"database_url": url}, "plugins": {"enabled": ["bench"]}, "events": {"deliver_inline": False}}
    app = Kehu(parse_config(raw))
    await app.connect(check=False)
    try:
        async with write_scope(app, None, "bench.seed", actor_label="bench") as scope:
            customers = [Customer(name=f"Bench {i}") for i in range(count)]
            await bulk_create_with_ids(Customer, customers)
            for customer in customers:
                scope.emit("kehu_customer_created", customer=customer)
        return time.perf_counter()
    finally:
        await app.disconnect()


async def counts(url: str) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE state = 'DONE') AS done, count(*) AS total FROM kehu_outbox "
            "WHERE name = 'kehu_customer_created'"
        )
        audited = await conn.fetchval("SELECT count(*) FROM kehu_audit_entry WHERE operation = 'bench.customerCreated'")
        return {"done": row["done"], "total": row["total"], "audited": audited}
    finally:
        await conn.close()


def one_run(server: str, workers: int, events: int, poll: float, timeout: float, handler_ms: float = 0) -> dict:
    name = f"kehu_outbox_bench_{uuid.uuid4().hex[:8]}"
    url = f"{server.rstrip('/')}/{name}"
    asyncio.run(run_sql(server, f'CREATE DATABASE "{name}"'))
    directory = Path(tempfile.mkdtemp(prefix="kehu-outbox-bench-"))
    site = install_recorder(directory)
    log = directory / "deliveries.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "KEHU_BENCH_LOG": str(log),
        "KEHU_BENCH_HANDLER_MS": str(handler_ms),
        "KEHU_DATABASE_URL": "",
    }
    config = write_config(directory, url, poll)
    kehu = [sys.executable, "-m", "kehu.cli", "--config", str(config)]
    server_process = None
    try:
        subprocess.run([*kehu, "migrate"], env=env, check=True, capture_output=True)
        port = 18000 + os.getpid() % 1000
        server_process = subprocess.Popen(
            [*kehu, "serve", "--port", str(port), "--workers", str(workers), "--log-level", "warning"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:  # every worker up (one answer is enough: the others start alike)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("kehu serve did not start") from None
                time.sleep(0.1)
        time.sleep(2)
        sys.path.insert(0, str(site))
        os.environ["KEHU_BENCH_LOG"] = str(log)
        committed = asyncio.run(emit_events(url, events))
        while True:
            state = asyncio.run(counts(url))
            if state["done"] >= events or time.perf_counter() - committed > timeout:
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - committed
    finally:
        if server_process is not None:
            os.killpg(server_process.pid, 15)
            server_process.wait(timeout=30)
    lines = log.read_text().split() if log.exists() else []
    ids = lines[0::2]
    by_worker = collections.Counter(lines[1::2])
    state = asyncio.run(counts(url))
    asyncio.run(run_sql(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return {
        "workers": workers,
        "events": events,
        "handler_ms": handler_ms,
        "seconds": round(seconds, 2),
        "events_per_second": round(events / seconds),
        "handler_calls": len(ids),
        "distinct_events": len(set(ids)),
        "done": state["done"],
        "audited": state["audited"],
        "by_worker": sorted(by_worker.values(), reverse=True),
        "ok": len(ids) == len(set(ids)) == state["done"] == state["audited"] == events,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("KEHU_TEST_POSTGRES"), required=False)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--poll", type=float, default=0.05)
    parser.add_argument(
        "--handler-ms", type=float, default=0, help="each handler also waits this long (a receiver's latency)"
    )
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    if not args.postgres:
        parser.error("--postgres postgres://user@host:port (or KEHU_TEST_POSTGRES) is needed")
    results = []
    for _ in range(args.rounds):
        for workers in args.workers:  # interleaved rounds: the machine's load hits both alike
            result = one_run(args.postgres, workers, args.events, args.poll, args.timeout, args.handler_ms)
            results.append(result)
            print(
                f"{result['workers']} worker(s): {result['events']:,} events in {result['seconds']:.1f}s "
                f"({result['events_per_second']:,}/s); handler calls {result['handler_calls']:,}, distinct "
                f"{result['distinct_events']:,}, done {result['done']:,}, audited {result['audited']:,}; "
                f"per worker {result['by_worker']}; {'OK' if result['ok'] else 'FAILED'}",
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
