"""Crash safety: SIGKILL the server in the middle of a stream of writes, and the
importer in the middle of a CSV import; after a restart every acknowledged write is
there, and nothing is half-written.

"Half-written" is checked structurally, over every row the database holds (not
only the acknowledged ones): each customer's tag rows match its tags, each
customer and interaction has its audit entry, each audit entry its record, and an
import's committed batches are whole.
"""

from __future__ import annotations

import asyncio
import http.client
import threading
import time

from serving import Server, connected, init, write_config

from kehu.cli.transfer import BATCH_SIZE
from kehu.ids import from_global_id
from kehu.models import AuditEntry, Customer, CustomerTag, Interaction

LIMITS = "[limits]\nrate_per_minute = 0\n"
CREATE = """mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id } userErrors { message } } }"""
LOG = """mutation($input: LogInteractionInput!) {
  logInteraction(input: $input) { interaction { id } userErrors { message } } }"""
WRITERS = 4


def _stream_writes(server: Server, token: str, stop: threading.Event, acked: dict[str, list], errors: list) -> None:
    n = 0
    name = threading.current_thread().name
    while not stop.is_set():
        n += 1
        try:
            status, body, _ = server.gql(
                CREATE,
                {
                    "input": {
                        "name": f"{name} customer {n}",
                        "tags": [f"{name}-{n}", "crash", f"batch-{n % 3}"],
                        "attributes": {"n": n, "writer": name},
                    }
                },
                token=token,
                timeout=5,
            )
            if status != 200 or not body.get("data") or not body["data"]["createCustomer"]["customer"]:
                errors.append(body)
                continue
            customer = body["data"]["createCustomer"]["customer"]["id"]
            acked["customers"].append((customer, f"{name} customer {n}"))
            status, body, _ = server.gql(
                LOG,
                {
                    "input": {
                        "customerId": customer,
                        "kind": "PURCHASE",
                        "amount": f"{n}.50",
                        "subject": f"order {n}",
                    }
                },
                token=token,
                timeout=5,
            )
            if status == 200 and body.get("data") and body["data"]["logInteraction"]["interaction"]:
                acked["interactions"].append(body["data"]["logInteraction"]["interaction"]["id"])
        except (
            OSError,
            http.client.HTTPException,
            ValueError,
        ):  # the server is gone: anything unanswered is unacknowledged
            if stop.is_set():
                return
            time.sleep(0.01)


async def _check_nothing_half_written(config) -> dict[str, int]:
    async with connected(config):
        customers = {c.id: c for c in await Customer.all()}
        tags: dict[int, set[str]] = {}
        for customer_id, tag in await CustomerTag.all().values_list("customer_id", "tag"):
            tags.setdefault(customer_id, set()).add(tag)
        for customer in customers.values():
            assert set(customer.tags) == tags.get(customer.id, set()), customer.id
        assert set(tags) <= set(customers)

        audited: dict[str, set[str]] = {}
        for operation, entity_id in await AuditEntry.all().values_list("operation", "entity_id"):
            audited.setdefault(operation, set()).add(entity_id)
        created = audited.get("createCustomer", set())
        assert created == {str(pk) for pk in customers}, "a customer without its audit entry, or the reverse"
        interactions = await Interaction.all().values_list("id", "customer_id")
        assert {str(pk) for pk, _ in interactions} == audited.get("logInteraction", set())
        assert all(customer_id in customers for _, customer_id in interactions)
        return {"customers": len(customers), "interactions": len(interactions)}


def test_acknowledged_writes_survive_sigkill_and_nothing_is_half_written(db_url, tmp_path):
    config = write_config(tmp_path, db_url, extra=LIMITS)
    init(config)
    acked: dict[str, list] = {"customers": [], "interactions": []}
    errors: list = []
    with Server(config) as server:
        token = server.login()
        stop = threading.Event()
        writers = [
            threading.Thread(target=_stream_writes, args=(server, token, stop, acked, errors), name=f"w{i}")
            for i in range(WRITERS)
        ]
        for writer in writers:
            writer.start()
        deadline = time.monotonic() + 20
        while len(acked["interactions"]) < 40 and time.monotonic() < deadline:
            time.sleep(0.02)
        server.kill()  # mid-stream: the writers have requests in flight
        stop.set()
        for writer in writers:
            writer.join(timeout=15)
    assert not errors, errors[:3]
    assert len(acked["interactions"]) >= 40, "the writes were too slow to test anything"

    with Server(config) as server:  # restarts on the crashed database
        token = server.login()
        status, body, _ = server.gql("{ customers(first: 1) { totalCount } }", token=token)
        assert status == 200 and body["data"]["customers"]["totalCount"] >= len(acked["customers"])

    counts = asyncio.run(_check_nothing_half_written(config))

    async def acknowledged_present():
        async with connected(config):
            for gid, name in acked["customers"]:
                customer = await Customer.get_or_none(id=from_global_id(gid)[1])
                assert customer is not None and customer.name == name, gid
            pks = [from_global_id(gid)[1] for gid in acked["interactions"]]
            assert await Interaction.filter(id__in=pks).count() == len(pks)

    asyncio.run(acknowledged_present())
    assert counts["customers"] >= len(acked["customers"])


IMPORT_ROWS = 30 * BATCH_SIZE  # large enough that the import is still running when killed
BATCH = BATCH_SIZE  # import_customers' default batch size, which the CLI uses


def _count_customers(config) -> int:
    async def count():
        async with connected(config):
            return await Customer.all().count()

    return asyncio.run(count())


def test_a_killed_import_leaves_only_whole_batches(db_url, tmp_path):
    import subprocess
    import sys

    config = write_config(tmp_path, db_url, extra=LIMITS)
    init(config)
    csv_file = tmp_path / "customers.csv"
    with csv_file.open("w", encoding="utf-8") as f:
        f.write("name,email,tags,attributes\n")
        for i in range(IMPORT_ROWS):
            f.write(f'Imported {i},imp{i}@example.com,imp;row-{i},"{{""row"": {i}}}"\n')
    importer = subprocess.Popen(
        [sys.executable, "-m", "kehu.cli", "--config", str(config), "import", "customers", str(csv_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and importer.poll() is None:
            if _count_customers(config) >= 2 * BATCH:
                break
            time.sleep(0.05)
        assert importer.poll() is None, "the import finished before it could be killed: make the file larger"
        importer.kill()
    finally:
        importer.kill()
        importer.wait(timeout=30)

    async def check():
        async with connected(config):
            total = await Customer.all().count()
            entries = await AuditEntry.filter(operation="importCustomers").values_list("changes", flat=True)
            assert 0 < total < IMPORT_ROWS
            assert total % BATCH == 0, f"{total} customers: a partial batch was committed"
            assert sum(e["imported"] for e in entries) == total and len(entries) == total // BATCH
            tag_rows = await CustomerTag.all().count()
            assert tag_rows == 2 * total  # every imported customer has both its tag rows
            names = {int(n.rsplit(" ", 1)[1]) for n in await Customer.all().values_list("name", flat=True)}
            assert names == set(range(total)), "batches are committed in file order, none skipped"

    asyncio.run(check())
