"""The transactional outbox: events are written with their write, delivered after
the commit at least once, retried with backoff, dead-lettered for admins; handlers
get the event's id and can make their writes happen once per event."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import types

import pytest
from serving import Worker, counting_job

from kehu import hookimpl
from kehu.events import RetryLater, Secret
from kehu.models import AuditEntry, Customer, OutboxEvent, OutboxKind, OutboxState
from kehu.writes import AlreadyHandled, emit, record_change, write_scope

CREATE = 'mutation { createCustomer(input: {name: "Ma Li"}) { customer { id } } }'
LOG = 'mutation($c: ID!) { logInteraction(input: {customerId: $c, kind: PURCHASE, amount: "12.50"}) { userErrors { code } } }'
RETRY = (
    "mutation($id: ID!) { retryOutboxEvent(input: {id: $id}) { outboxEvent { state attempts } userErrors { code } } }"
)
FAILED = "{ outboxEvents(state: FAILED) { totalCount edges { node { id number name state attempts lastError remaining } } } }"


class Handlers:
    """A plugin whose ``kehu_customer_created`` handler fails ``fail_times`` times."""

    def __init__(self, fail_times: int = 0):
        self.fail_times = fail_times
        self.calls: list[tuple[int, str]] = []
        self.module = self  # pluggy registers the object; its marked methods are the hooks

    @hookimpl
    async def kehu_customer_created(self, customer, event_id, kehu):
        self.calls.append((event_id, customer.name))
        if len(self.calls) <= self.fail_times:
            raise RuntimeError(f"receiver down ({len(self.calls)})")

    @hookimpl
    async def kehu_interaction_logged(self, interaction, event_id, kehu):
        # A write made once per event, however often the event comes.
        async with write_scope(kehu, None, "flaky.noteInteraction", event_id=event_id):
            record_change("Interaction", interaction.id, {"noted": (False, True)})


@pytest.fixture
def flaky(make_app):
    def make(fail_times=0, **config):
        handlers = Handlers(fail_times)
        app = make_app(enabled=("flaky",), extra_plugins={"flaky": handlers.module}, config=config or None)
        return app, handlers

    return make


def _rows(app, **filters):
    return app.run(lambda: OutboxEvent.filter(**filters).order_by("id"))


def test_an_event_is_written_with_its_write_and_delivered_before_the_response(flaky):
    app, handlers = flaky()
    app.data(CREATE, as_="admin")
    [row] = _rows(app, name="kehu_customer_created")
    assert handlers.calls == [(row.id, "Ma Li")]
    assert row.state is OutboxState.DONE and row.attempts == 0 and row.locked_by is None
    assert row.arguments["customer"]["$model"] == "core.Customer"
    assert row.actor_id == app.accounts["admin"].id


def test_a_rolled_back_write_leaves_no_event(flaky):
    app, handlers = flaky()

    async def failing_write():
        with pytest.raises(RuntimeError):
            async with write_scope(app.kehu, None, "test.fail"):
                customer = await Customer.create(name="Nobody")
                emit("kehu_customer_created", customer=customer)
                raise RuntimeError("boom")

    app.run(failing_write)
    assert _rows(app) == [] and handlers.calls == []


def test_a_failing_handler_is_retried_with_backoff_and_the_same_event_id(flaky, clock):
    app, handlers = flaky(fail_times=5)
    app.data(CREATE, as_="admin")
    [row] = _rows(app)
    schedule = app.kehu.config.events.retry_seconds
    assert row.state is OutboxState.PENDING and row.attempts == 1 and row.remaining == ["flaky"]
    assert row.due_at == app.clock.now() + dt.timedelta(seconds=schedule[0])
    assert "receiver down (1)" in row.last_error

    assert app.run(app.kehu.outbox.run_once).delivered == 0  # not due yet
    for attempt in range(2, 7):
        app.clock.advance(seconds=schedule[attempt - 2])
        app.run(app.kehu.outbox.run_once)
        [row] = _rows(app)
        if attempt < 6:
            assert row.attempts == attempt and row.state is OutboxState.PENDING
    # the sixth try succeeds: every try carried the same event id
    assert row.state is OutboxState.DONE and row.remaining is None and row.last_error == ""
    assert [event_id for event_id, _ in handlers.calls] == [row.id] * 6


def test_only_the_failing_plugins_handler_is_called_again(make_app):
    calls = {"steady": 0, "flaky": 0}

    def handler(name, fails):
        async def kehu_customer_created(event_id):
            calls[name] += 1
            if calls[name] <= fails:
                raise RuntimeError("down")

        return types.SimpleNamespace(kehu_customer_created=hookimpl(kehu_customer_created))

    app = make_app(
        enabled=("steady", "flaky"), extra_plugins={"steady": handler("steady", 0), "flaky": handler("flaky", 1)}
    )
    app.data(CREATE, as_="admin")
    app.clock.advance(hours=1)
    app.run(app.kehu.outbox.run_once)
    assert calls == {"steady": 1, "flaky": 2}


def test_spent_retries_leave_a_dead_letter_that_admins_see_and_retry(flaky):
    app, handlers = flaky(fail_times=100, events={"retry_seconds": [5, 10]})
    app.data(CREATE, as_="admin")
    for seconds in (5, 10):
        app.clock.advance(seconds=seconds)
        app.run(app.kehu.outbox.run_once)
    [row] = _rows(app)
    assert row.state is OutboxState.FAILED and row.attempts == 3 and row.finished_at == app.clock.now()
    app.clock.advance(days=2)
    app.run(app.kehu.outbox.run_once)
    assert len(handlers.calls) == 3  # a dead letter is never tried by itself

    failed = app.data(FAILED, as_="admin")["outboxEvents"]
    assert failed["totalCount"] == 1
    node = failed["edges"][0]["node"]
    assert node["number"] == str(row.id) and node["name"] == "kehu_customer_created"
    assert node["state"] == "FAILED" and node["remaining"] == ["flaky"] and "receiver down" in node["lastError"]
    assert app.gql(FAILED, as_="manager")["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    handlers.fail_times = 0
    retried = app.data(RETRY, {"id": node["id"]}, as_="admin")["retryOutboxEvent"]
    assert retried == {"outboxEvent": {"state": "PENDING", "attempts": 0}, "userErrors": []}
    app.run(app.kehu.outbox.run_once)
    [row] = _rows(app)
    assert row.state is OutboxState.DONE and len(handlers.calls) == 4
    entry = app.run(lambda: AuditEntry.filter(operation="retryOutboxEvent").first())
    assert entry.entity_type == "OutboxEvent" and entry.changes["state"] == {"before": "FAILED", "after": "PENDING"}
    again = app.data(RETRY, {"id": node["id"]}, as_="admin")["retryOutboxEvent"]
    assert again["userErrors"][0]["code"] == "NOT_FOUND"


def test_retry_later_waits_without_spending_an_attempt(make_app):
    waits = []

    async def kehu_customer_created(event_id):
        if not waits:
            waits.append(event_id)
            raise RetryLater(120, "rate limited")

    app = make_app(
        enabled=("patient",),
        extra_plugins={"patient": types.SimpleNamespace(kehu_customer_created=hookimpl(kehu_customer_created))},
    )
    app.data(CREATE, as_="admin")
    [row] = _rows(app)
    assert row.state is OutboxState.PENDING and row.attempts == 0
    assert row.due_at == app.clock.now() + dt.timedelta(seconds=120)
    app.clock.advance(seconds=120)
    app.run(app.kehu.outbox.run_once)
    assert _rows(app)[0].state is OutboxState.DONE


def test_a_handler_write_with_the_event_id_commits_once_however_often_delivered(flaky):
    app, _ = flaky()
    customer = app.data(CREATE, as_="admin")["createCustomer"]["customer"]["id"]
    app.data(LOG, {"c": customer}, as_="admin")
    [row] = _rows(app, name="kehu_interaction_logged")
    assert row.state is OutboxState.DONE

    async def deliver_again():
        # What a worker does after a crash: the row is due again, its arguments are
        # read back from the database and the handlers called with the same id.
        await OutboxEvent.filter(id=row.id).update(state=OutboxState.PENDING, remaining=None)
        report = await app.kehu.outbox.run_once()
        with pytest.raises(AlreadyHandled):
            async with write_scope(app.kehu, None, "flaky.noteInteraction", event_id=row.id):
                pass
        return report

    report = app.run(deliver_again)
    assert report.delivered == 1
    notes = app.run(lambda: AuditEntry.filter(operation="flaky.noteInteraction").values_list("event_id", flat=True))
    assert notes == [row.id]


def test_arguments_survive_the_database_round_trip(make_app):
    got = []

    async def kehu_customer_updated(customer, changes, actor, event_id):
        got.append((customer, changes, actor, event_id))

    app = make_app(
        enabled=("probe",),
        extra_plugins={"probe": types.SimpleNamespace(kehu_customer_updated=hookimpl(kehu_customer_updated))},
        config={"events": {"deliver_inline": False}},
    )
    cid = app.data(CREATE, as_="manager")["createCustomer"]["customer"]["id"]
    app.data(
        'mutation($id: ID!) { updateCustomer(input: {id: $id, region: "华东", tags: ["vip"]}) { userErrors { code } } }',
        {"id": cid},
        as_="manager",
    )
    assert got == []  # nothing delivered in the request
    app.run(app.kehu.outbox.run_once)
    [(customer, changes, actor, event_id)] = got
    assert isinstance(customer, Customer) and customer.region == "华东"
    assert changes["region"] == (None, "华东") and changes["tags"] == ([], ["vip"])
    assert actor.email == "manager@example.com"
    assert event_id == _rows(app, name="kehu_customer_updated")[0].id


def test_a_secret_argument_is_erased_once_delivered(make_app):
    seen = []

    async def kehu_survey_requested(reason, reference, event_id):
        seen.append(reference)

    app = make_app(
        enabled=("secretive",),
        extra_plugins={"secretive": types.SimpleNamespace(kehu_survey_requested=hookimpl(kehu_survey_requested))},
    )

    async def write():
        async with write_scope(app.kehu, None, "test.secret"):
            customer = await Customer.create(name="S")
            emit("kehu_survey_requested", customer=customer, reason="test", reference=Secret("token-123"), actor=None)

    app.run(write)
    [row] = _rows(app, name="kehu_survey_requested")
    assert seen == ["token-123"]
    assert row.state is OutboxState.DONE and row.arguments["reference"] == {"$secret": None}


def test_a_killed_worker_loses_its_claims_to_another_after_the_lease(kehu_make_app, kehu_clock):
    handlers = Handlers()
    options = {"extra_plugins": {"flaky": handlers.module}, "config": {"events": {"deliver_inline": False}}}
    first = kehu_make_app(["flaky"], **options)
    first.data(CREATE, as_="admin")
    # A worker claims the row and dies before delivering it.
    [claimed] = first.run(first.kehu.outbox.claim, 10)
    assert claimed.locked_by.startswith(first.kehu.outbox.worker)
    kehu_make_app.close(first)

    second = kehu_make_app(["flaky"], **options)
    assert second.run(second.kehu.outbox.run_once).delivered == 0  # the claim still holds
    kehu_clock.advance(seconds=second.kehu.config.events.lease_seconds + 1)
    assert second.run(second.kehu.outbox.run_once).ids == [claimed.id]
    assert handlers.calls == [(claimed.id, "Ma Li")]


def test_a_sqlite_server_takes_over_what_a_dead_process_claimed_at_start(kehu_make_app):
    import socket

    handlers = Handlers()
    options = {"extra_plugins": {"flaky": handlers.module}, "config": {"events": {"deliver_inline": False}}}
    first = kehu_make_app(["flaky"], **options)
    first.data(CREATE, as_="admin")
    first.data(CREATE, as_="admin")
    [dead, alive] = first.run(first.kehu.outbox.claim, 10)

    async def claimed_by(row_id, worker):
        await OutboxEvent.filter(id=row_id).update(locked_by=worker)

    host = socket.gethostname()[:32]
    first.run(claimed_by, dead.id, f"{host}:{2**22 + 17}:0badc0de/1")  # no such process
    first.run(claimed_by, alive.id, f"{host}:{__import__('os').getpid()}:0badc0de/2")  # a running one
    kehu_make_app.close(first)
    # A server on SQLite releases the claims of processes that are gone and
    # delivers their events straight away; a live process keeps its own.
    second = kehu_make_app(["flaky"], **{**options, "config": {"events": {"deliver_inline": False}}})
    assert second.run(second.kehu.outbox.release_dead_claims) == 1
    assert second.run(second.kehu.outbox.run_once).ids == [dead.id]
    assert handlers.calls == [(dead.id, "Ma Li")]


def test_a_periodic_job_runs_once_per_slot_across_workers(db_url, clock):
    runs = []

    async def scenario():
        workers = [await Worker(db_url, clock).start(migrate=i == 0) for i in range(2)]
        for i, worker in enumerate(workers):
            await worker.call(counting_job("test.hourly", 3600, runs, i))

        async def everyone_polls(order=(0, 1)):
            await asyncio.gather(*(workers[i].call(lambda k: k.outbox.run_once()) for i in order))

        await everyone_polls()
        assert runs == []  # the slot in progress at start-up is not run
        for hour in range(3):
            clock.advance(hours=1)
            await everyone_polls((0, 1) if hour % 2 else (1, 0))
        slots = await workers[0].call(
            lambda k: OutboxEvent.filter(kind=OutboxKind.JOB).values_list("dedupe_key", "state")
        )
        for worker in workers:
            await worker.close()
        return slots

    slots = asyncio.run(scenario())
    assert len(runs) == 3, runs  # one run per slot, whichever worker ran it
    assert len(slots) == 3 and all(state is OutboxState.DONE for _, state in slots)


def test_delivered_events_are_pruned_after_keep_days(flaky):
    app, _ = flaky(events={"keep_days": 1})
    app.data(CREATE, as_="admin")
    assert app.run(app.kehu.outbox.prune) == 0
    app.clock.advance(days=2)
    assert app.run(app.kehu.outbox.prune) == 1


def test_metrics_are_off_by_default_and_need_the_token_when_on(make_app, monkeypatch):
    off = make_app()
    assert off.client.get("/metrics").status_code == 404
    off.__exit__(None, None, None)

    monkeypatch.setenv("KEHU_METRICS_TOKEN", "s3cret-token")
    app = make_app(config={"metrics": {"enabled": True}}, seed_accounts=False)
    assert app.client.get("/metrics").status_code == 403
    assert app.client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    app.post("{ me { id } }")
    page = app.client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    text = page.text
    assert 'kehu_outbox_events{state="PENDING"} 0.0' in text and 'kehu_outbox_events{state="FAILED"} 0.0' in text
    assert "kehu_outbox_oldest_due_seconds" in text
    assert re.search(r'kehu_graphql_requests_total\{kind="query",operation="me",outcome="\w+"\} \d', text)
    assert "kehu_graphql_request_seconds_bucket" in text


def test_metrics_count_deliveries_failures_and_the_dead_letters(flaky, monkeypatch):
    monkeypatch.setenv("KEHU_METRICS_TOKEN", "t")
    app, _ = flaky(fail_times=100, events={"retry_seconds": [5]}, metrics={"enabled": True})
    app.data(CREATE, as_="admin")
    app.clock.advance(seconds=5)
    app.run(app.kehu.outbox.run_once)
    text = app.client.get("/metrics", headers={"Authorization": "Bearer t"}).text
    assert 'kehu_outbox_events{state="FAILED"} 1.0' in text
    assert re.search(r'kehu_event_handler_failures_total\{hook="kehu_customer_created",plugin="flaky"\} [1-9]', text)
    assert 'kehu_events_delivered_total{hook="kehu_customer_created"}' in text


def test_the_cli_lists_dead_letters_and_retries_them(flaky, tmp_path, capsys):
    from kehu.cli.main import main

    app, handlers = flaky(fail_times=100, events={"retry_seconds": [5]})
    app.data(CREATE, as_="admin")
    app.clock.advance(seconds=5)
    app.run(app.kehu.outbox.run_once)
    [row] = _rows(app)
    config = tmp_path / "cli.toml"
    config.write_text(f'[kehu]\ndatabase_url = "{app.config.kehu.database_url}"\n', encoding="utf-8")
    app.__exit__(None, None, None)  # the CLI opens the database itself

    assert main(["--config", str(config), "events", "failed"]) == 0
    out = capsys.readouterr().out
    assert "0 pending, 1 failed" in out and f"{row.id:>8}  FAILED" in out and "receiver down" in out
    assert main(["--config", str(config), "events", "retry", str(row.id)]) == 0
    assert "due now" in capsys.readouterr().out
    assert main(["--config", str(config), "events", "retry", "999999"]) == 1
    assert main(["--config", str(config), "events", "list", "--state", "PENDING"]) == 0
    assert "1 pending, 0 failed" in capsys.readouterr().out
