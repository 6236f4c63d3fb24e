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
import os
import threading
import time
from pathlib import Path

import pytest
from serving import Server, connected, init, kehu, write_config

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


# --------------------------------------------------------------------------- events after a crash

CUSTOMER = 'mutation { createCustomer(input: {name: "Li Lei", email: "lilei@example.com"}) { customer { id } } }'
PURCHASE = """mutation($c: ID!) { logInteraction(input: {customerId: $c, kind: PURCHASE, amount: "100.00"}) {
  interaction { id } userErrors { message } } }"""
BALANCE = "query($c: ID!) { customer(id: $c) { loyalty { balance } } }"
# The first server commits but never delivers (no inline delivery, no background
# pass before it is killed): "killed after the commit, before the handlers".
HOLD_EVENTS = "[events]\ndeliver_inline = false\npoll_seconds = 0\n"
# The restarted one delivers in the background within a fraction of a second; on
# PostgreSQL a killed worker's claims run out after lease_seconds.
DELIVER = "[events]\npoll_seconds = 0.1\nlease_seconds = 2\n"


def _wait_for(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    return check()


def _ledger(config, interaction_gid: str):
    from kehu.plugins.loyalty.models import LedgerEntry

    async def read():
        async with connected(config):
            pk = from_global_id(interaction_gid)[1]
            return await LedgerEntry.filter(interaction_id=pk).values_list("points", flat=True)

    return asyncio.run(read())


def _outbox_states(config, name: str) -> list[str]:
    from kehu.models import OutboxEvent

    async def read():
        async with connected(config):
            return [s.value for s in await OutboxEvent.filter(name=name).values_list("state", flat=True)]

    return asyncio.run(read())


def test_a_purchase_committed_before_a_kill_is_credited_once_after_the_restart(db_url, tmp_path):
    loyalty = "[plugins.loyalty]\nschedule_hours = 0\n"
    config = write_config(tmp_path, db_url, enabled=["loyalty"], extra=LIMITS + loyalty + HOLD_EVENTS)
    init(config)
    with Server(config) as server:
        token = server.login()
        customer = server.gql(CUSTOMER, token=token)[1]["data"]["createCustomer"]["customer"]["id"]
        body = server.gql(PURCHASE, {"c": customer}, token=token)[1]
        interaction = body["data"]["logInteraction"]["interaction"]["id"]
        assert _ledger(config, interaction) == []  # committed, not credited
        server.kill()
    assert _outbox_states(config, "kehu_interaction_logged") == ["PENDING"]

    write_config(tmp_path, db_url, enabled=["loyalty"], extra=LIMITS + loyalty + DELIVER)
    with Server(config) as server:
        token = server.login()
        balance = _wait_for(
            lambda: server.gql(BALANCE, {"c": customer}, token=token)[1]["data"]["customer"]["loyalty"]["balance"]
        )
        assert balance == 100
        time.sleep(0.5)  # a few more background passes: nothing is credited twice
    assert _ledger(config, interaction) == [100]
    assert _outbox_states(config, "kehu_interaction_logged") == ["DONE"]


KILLER = """
import os, signal
from pathlib import Path

from kehu import hookimpl

MARK = Path(os.environ["KEHU_KILLER_MARK"])


@hookimpl
def kehu_interaction_logged(event_id):
    # Registered after the built-ins: loyalty has credited the purchase and
    # committed; the server dies before recording that the event was delivered.
    if not MARK.exists():
        MARK.write_text(str(event_id))
        os.kill(os.getpid(), signal.SIGKILL)
"""


def _install_killer(tmp_path, monkeypatch) -> Path:
    """A plugin that SIGKILLs its own server the first time it sees a purchase."""
    site = tmp_path / "killer-site"
    (site / "kehu_killer-0.1.dist-info").mkdir(parents=True)
    (site / "kehu_killer.py").write_text(KILLER, encoding="utf-8")
    (site / "kehu_killer-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: kehu-killer\nVersion: 0.1\n", encoding="utf-8"
    )
    (site / "kehu_killer-0.1.dist-info" / "entry_points.txt").write_text(
        "[kehu.plugins]\nkiller = kehu_killer\n", encoding="utf-8"
    )
    mark = tmp_path / "killed-at-event"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("KEHU_KILLER_MARK", str(mark))
    monkeypatch.syspath_prepend(str(site))  # so this process can read the database with the same plugins
    return mark


def test_a_kill_after_the_accrual_and_before_the_delivery_is_recorded_credits_once(db_url, tmp_path, monkeypatch):
    mark = _install_killer(tmp_path, monkeypatch)
    extra = LIMITS + "[plugins.loyalty]\nschedule_hours = 0\n" + DELIVER
    config = write_config(tmp_path, db_url, enabled=["loyalty", "killer"], extra=extra)
    init(config)
    with Server(config) as server:
        token = server.login()
        customer = server.gql(CUSTOMER, token=token)[1]["data"]["createCustomer"]["customer"]["id"]
        with pytest.raises((OSError, http.client.HTTPException)):
            server.gql(PURCHASE, {"c": customer}, token=token)  # the server dies answering it
        server.process.wait(timeout=30)
    assert mark.exists()
    assert _outbox_states(config, "kehu_interaction_logged") == ["PENDING"]  # delivered, not recorded

    with Server(config) as server:  # the same plugins: the event is delivered again
        _wait_for(lambda: _outbox_states(config, "kehu_interaction_logged") == ["DONE"])
        token = server.login()
        assert server.gql(BALANCE, {"c": customer}, token=token)[1]["data"]["customer"]["loyalty"]["balance"] == 100

    async def accruals():
        from kehu.plugins.loyalty.models import LedgerEntry

        async with connected(config):
            entries = await LedgerEntry.filter(kind="EARN").values_list("idempotency_key", "points")
            writes = await AuditEntry.filter(operation__startswith="loyalty.").values_list("operation", flat=True)
            return entries, writes

    # Credited once: one EARN entry for the purchase, one loyalty write. (A customer's
    # first purchase is credited by replaying their history, as of its date.)
    entries, writes = asyncio.run(accruals())
    assert [points for _, points in entries] == [100] and entries[0][0].startswith("purchase:")
    assert len(writes) == 1, writes


def test_a_webhook_for_a_write_committed_before_a_kill_is_delivered_once(db_url, tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "plugins"))
    from webhook_receiver import Receiver

    webhooks = '[plugins.webhooks]\nallow_private = ["127.0.0.1"]\n'
    config = write_config(tmp_path, db_url, enabled=["webhooks"], extra=LIMITS + webhooks + HOLD_EVENTS)
    init(config)
    with Receiver() as receiver:
        added = kehu(config, "webhooks", "add", receiver.url, "--topic", "customer.created").stdout
        receiver.secrets = [added.split("(shown once): ")[1].strip()]
        with Server(config) as server:
            server.gql(CUSTOMER, token=server.login())
            server.kill()
        assert receiver.requests == []
        write_config(tmp_path, db_url, enabled=["webhooks"], extra=LIMITS + webhooks + DELIVER)
        with Server(config):
            assert _wait_for(lambda: receiver.requests)
            time.sleep(1)  # more background passes: no second request
        [request] = receiver.requests
        assert request.verified_with and request.body["type"] == "customer.created"


def test_an_invitation_email_for_a_write_committed_before_a_kill_is_sent_once(db_url, tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "plugins"))
    from test_notifications import Inbox

    inbox = Inbox()
    inbox.start()
    try:
        notifications = (
            f'[plugins.notifications]\npublic_base_url = "http://crm.example.com"\n'
            f'smtp = {{ host = "127.0.0.1", port = {inbox.port} }}\n'
        )
        enabled = ["surveys", "notifications"]
        config = write_config(tmp_path, db_url, enabled=enabled, extra=LIMITS + notifications + HOLD_EVENTS)
        init(config)
        with Server(config) as server:
            token = server.login()
            customer = server.gql(CUSTOMER, token=token)[1]["data"]["createCustomer"]["customer"]["id"]
            survey = server.gql(
                'mutation { createSurvey(input: {title: "满意度", questions: [{type: NPS, text: "推荐吗？"}]}) '
                "{ survey { id } } }",
                token=token,
            )[1]["data"]["createSurvey"]["survey"]["id"]
            server.gql(
                "mutation($id: ID!) { publishSurvey(input: {id: $id}) { userErrors { code } } }",
                {"id": survey},
                token=token,
            )
            invited = server.gql(
                "mutation($s: ID!, $c: ID!) { inviteToSurvey(input: {surveyId: $s, customerIds: [$c]}) "
                "{ userErrors { code message } } }",
                {"s": survey, "c": customer},
                token=token,
            )[1]
            assert invited["data"]["inviteToSurvey"]["userErrors"] == []
            server.kill()
        assert inbox.messages == []
        write_config(tmp_path, db_url, enabled=enabled, extra=LIMITS + notifications + DELIVER)
        with Server(config):
            assert _wait_for(lambda: inbox.messages)
            time.sleep(1)
        [mail] = inbox.messages
        assert mail["To"] == "lilei@example.com" and "http://crm.example.com/s/" in mail.get_content()
    finally:
        inbox.stop()
