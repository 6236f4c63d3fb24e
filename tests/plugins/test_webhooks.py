"""The webhooks plugin: endpoints admins register, Standard Webhooks signatures
(checked with the reference library), retries, the delivery log, replays, private
addresses refused, role views masked."""

from __future__ import annotations

import ipaddress
import json

import pytest
from webhook_receiver import Receiver

from kehu.models import OutboxEvent, OutboxState
from kehu.plugins.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from kehu.plugins.webhooks.service import addresses
from kehu.plugins.webhooks.settings import STANDARD_RETRIES
from kehu.testing import walk_pages

ALLOW_LOCAL = {"webhooks": {"allow_private": ["127.0.0.1"]}}
CREATE_ENDPOINT = """mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) {
  webhookEndpoint { id url topics active role } secret userErrors { field code message } } }"""
# The same contact details each time: deliberate duplicates (allowDuplicate), not refused ones.
CREATE_CUSTOMER = """mutation($name: String!) { createCustomer(input: {name: $name, email: "li@example.com",
  phone: "13812345678", allowDuplicate: true}) { customer { id } } }"""
DELIVERIES = """{ webhookDeliveries(first: 10) { edges { node { id messageId status attempts lastStatusCode topic
  attemptLog { statusCode latencyMs responseExcerpt error replay } } } } }"""
REPLAY = "mutation($id: ID!) { replayWebhookDelivery(input: {id: $id}) { webhookDelivery { id } userErrors { code } } }"


def deliveries(app):
    return [edge["node"] for edge in app.data(DELIVERIES, as_="admin")["webhookDeliveries"]["edges"]]


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def register(app, url, topics=("*",), role=None, as_="admin"):
    data = app.data(CREATE_ENDPOINT, {"i": {"url": url, "topics": list(topics), "role": role}}, as_=as_)
    return data["createWebhookEndpoint"]


def deliver(app):
    return app.run(app.kehu.outbox.run_once)


def test_each_event_reaches_the_endpoint_signed_with_ids_and_facts_only(make_app, receiver):
    app = make_app(enabled=("webhooks",), settings=ALLOW_LOCAL)
    created = register(app, receiver.url, ["customer"])
    assert created["userErrors"] == [] and created["secret"].startswith("whsec_")
    receiver.secrets = [created["secret"]]
    customer = app.data(CREATE_CUSTOMER, {"name": "Li Lei"}, as_="agent")["createCustomer"]["customer"]["id"]
    assert receiver.requests == []  # the request did not wait for the receiver
    deliver(app)
    [request] = receiver.requests
    assert request.verified_with == [created["secret"]]
    assert request.headers["webhook-id"].startswith("msg_")
    assert request.body["type"] == "customer.created"
    assert request.body["data"] == {"id": customer, "customerId": customer}
    assert "Li Lei" not in str(request.body) and "li@example.com" not in str(request.body)


def test_a_receiver_failing_five_times_gets_the_delivery_on_the_sixth_try(make_app, receiver):
    app = make_app(enabled=("webhooks",), settings=ALLOW_LOCAL)
    receiver.secrets = [register(app, receiver.url)["secret"]]
    receiver.fail_times = 5
    app.data(CREATE_CUSTOMER, {"name": "Li Lei"}, as_="agent")
    deliver(app)
    for pause in STANDARD_RETRIES[:5]:
        assert deliver(app).ids == []  # not due yet
        app.clock.advance(seconds=pause)
        deliver(app)
    statuses = [r.status for r in receiver.requests]
    assert statuses == [500] * 5 + [200]
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1  # one message, six attempts
    assert all(r.verified_with for r in receiver.requests)
    [delivery] = deliveries(app)
    assert delivery["status"] == "DELIVERED" and delivery["attempts"] == 6 and delivery["lastStatusCode"] == 200
    assert [a["statusCode"] for a in delivery["attemptLog"]] == [500] * 5 + [200]
    assert delivery["attemptLog"][0]["responseExcerpt"] == "not now"
    assert delivery["messageId"] == receiver.requests[0].headers["webhook-id"]


def test_a_replay_from_the_log_has_the_same_webhook_id(make_app, receiver):
    app = make_app(enabled=("webhooks",), settings=ALLOW_LOCAL)
    receiver.secrets = [register(app, receiver.url)["secret"]]
    app.data(CREATE_CUSTOMER, {"name": "Li Lei"}, as_="agent")
    deliver(app)
    [delivery] = deliveries(app)
    assert app.data(REPLAY, {"id": delivery["id"]}, as_="admin")["replayWebhookDelivery"]["userErrors"] == []
    deliver(app)
    first, again = receiver.requests
    assert again.headers["webhook-id"] == first.headers["webhook-id"] == delivery["messageId"]
    assert again.body == first.body and again.verified_with
    [delivery] = deliveries(app)
    assert [a["replay"] for a in delivery["attemptLog"]] == [False, True]


def test_spent_retries_fail_the_delivery_and_leave_a_dead_letter(make_app, receiver):
    app = make_app(enabled=("webhooks",), settings={"webhooks": {**ALLOW_LOCAL["webhooks"], "retry_seconds": [5]}})
    register(app, receiver.url)
    receiver.fail_times = 100
    app.data(CREATE_CUSTOMER, {"name": "Li Lei"}, as_="agent")
    deliver(app)
    app.clock.advance(seconds=5)
    deliver(app)
    assert len(receiver.requests) == 2
    [delivery] = deliveries(app)
    assert delivery["status"] == "FAILED" and delivery["attempts"] == 2
    [dead] = app.run(lambda: OutboxEvent.filter(state=OutboxState.FAILED))
    assert dead.name == "kehu_webhook_delivery_due" and "HTTP 500" in dead.last_error
    app.clock.advance(days=3)
    deliver(app)
    assert len(receiver.requests) == 2  # no more tries by itself
    receiver.fail_times = 0
    app.data(REPLAY, {"id": delivery["id"]}, as_="admin")
    deliver(app)
    [delivery] = deliveries(app)
    assert delivery["status"] == "DELIVERED"


def test_a_token_in_an_endpoints_url_stays_out_of_logs_errors_and_the_audit_log(make_app, receiver, caplog):
    """Chat bots take webhooks at URLs that carry their token (…/hook/<token>,
    ?access_token=…): whoever reads the server's log must not get to post with it."""
    app = make_app(enabled=("webhooks",), settings={"webhooks": {**ALLOW_LOCAL["webhooks"], "retry_seconds": [5]}})
    url = receiver.url.rstrip("/") + "/bot/hook/SECRET-PATH-TOKEN?access_token=SECRET-QUERY-TOKEN"
    endpoint = register(app, url)["webhookEndpoint"]["id"]
    app.data(
        "mutation($i: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $i) { userErrors { code } } }",
        {"i": {"id": endpoint, "url": url.replace("SECRET-QUERY-TOKEN", "SECRET-NEW-TOKEN")}},
        as_="admin",
    )
    receiver.fail_times = 100
    app.data(CREATE_CUSTOMER, {"name": "Li Lei"}, as_="agent")
    deliver(app)
    app.clock.advance(seconds=5)
    deliver(app)  # the last try: FAILED, logged as an error
    [dead] = app.run(lambda: OutboxEvent.filter(state=OutboxState.FAILED))
    audit = app.data("{ auditLog(first: 50) { edges { node { changes } } } }", as_="admin")
    seen = caplog.text + dead.last_error + str(audit)
    assert "HTTP 500" in dead.last_error and "127.0.0.1" in dead.last_error
    assert "SECRET" not in seen
    # The endpoint itself still holds and shows its URL to those who manage it.
    assert app.data("{ webhookEndpoints { url } }", as_="admin")["webhookEndpoints"][0]["url"].endswith(
        "SECRET-NEW-TOKEN"
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9/hook",
        "http://[::ffff:127.0.0.1]:9/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_loopback_private_and_link_local_endpoints_are_refused(make_app, url):
    app = make_app(enabled=("webhooks",))
    result = register(app, url)
    assert result["webhookEndpoint"] is None
    assert result["userErrors"][0]["field"] == "url" and result["userErrors"][0]["code"] == "ADDRESS_NOT_ALLOWED"


def test_bad_endpoints_are_user_errors(make_app):
    app = make_app(enabled=("webhooks",), settings=ALLOW_LOCAL)
    cases = {
        ("ftp://127.0.0.1/x", ("*",), None): ("url", "INVALID_URL"),
        ("http://user:pw@127.0.0.1/x", ("*",), None): ("url", "INVALID_URL"),
        ("http://127.0.0.1/x", (), None): ("topics", "INVALID"),
        ("http://127.0.0.1/x", ("Not A Topic",), None): ("topics", "INVALID"),
        ("http://127.0.0.1/x", ("*",), "AGENT"): ("role", "ROLE_NOT_ALLOWED"),
    }
    for (url, topics, role), expected in cases.items():
        errors = register(app, url, topics, role)["userErrors"]
        assert (errors[0]["field"], errors[0]["code"]) == expected, url
    assert app.gql(CREATE_ENDPOINT, {"i": {"url": "http://127.0.0.1/x", "topics": ["*"]}}, as_="manager")["errors"]


def test_the_address_is_checked_again_before_each_request(make_app, receiver, monkeypatch):
    """DNS rebinding: a name that was public when registered answers 127.0.0.1 later."""
    app = make_app(enabled=("webhooks",))
    answers = [ipaddress.ip_address("93.184.216.34")]

    async def resolve(host, port):
        return answers if host == "rebind.example" else [ipaddress.ip_address(host)]

    monkeypatch.setattr(addresses, "resolve", resolve)
    port = receiver.url.split(":")[2].split("/")[0]
    assert register(app, f"http://rebind.example:{port}/hook")["userErrors"] == []
    answers[:] = [ipaddress.ip_address("127.0.0.1")]
    app.data(CREATE_CUSTOMER, {"name": "Li Lei"}, as_="agent")
    deliver(app)
    assert receiver.requests == []
    [attempt] = app.run(lambda: WebhookAttempt.all())
    assert attempt.status_code is None and "loopback, private or link-local" in attempt.error


def test_a_rotated_secret_signs_alongside_the_old_one_for_a_while(make_app, receiver):
    app = make_app(enabled=("webhooks",), settings=ALLOW_LOCAL)
    created = register(app, receiver.url)
    old = created["secret"]
    rotated = app.data(
        "mutation($id: ID!) { rotateWebhookSecret(input: {id: $id, keepPreviousHours: 24}) { secret "
        "webhookEndpoint { previousSecretExpiresAt } } }",
        {"id": created["webhookEndpoint"]["id"]},
        as_="admin",
    )["rotateWebhookSecret"]
    new = rotated["secret"]
    assert new != old and rotated["webhookEndpoint"]["previousSecretExpiresAt"].startswith("2026-01-02T09:00")
    receiver.secrets = [old, new]
    app.data(CREATE_CUSTOMER, {"name": "A"}, as_="agent")
    deliver(app)
    assert receiver.requests[-1].verified_with == [old, new]
    app.clock.advance(hours=25)
    app.data(CREATE_CUSTOMER, {"name": "B"}, as_="agent")
    deliver(app)
    assert receiver.requests[-1].verified_with == [new]


def test_an_endpoint_with_a_role_gets_that_roles_masked_view(make_app):
    settings = {**ALLOW_LOCAL, "masking": {}}
    app = make_app(enabled=("masking", "webhooks"), settings=settings)
    with Receiver() as analyst, Receiver() as admin, Receiver() as plain:
        register(app, analyst.url, ["customer.created"], role="ANALYST")
        register(app, admin.url, ["customer.created"], role="ADMIN")
        register(app, plain.url, ["customer.created"])
        app.data(CREATE_CUSTOMER, {"name": "Li Lei"}, as_="agent")
        deliver(app)
        seen_by_admin = admin.requests[0].body["data"]["object"]
        seen_by_analyst = analyst.requests[0].body["data"]["object"]
        assert seen_by_admin["name"] == "Li Lei" and seen_by_admin["email"] == "li@example.com"
        assert seen_by_analyst["id"] == seen_by_admin["id"]
        assert seen_by_analyst["name"] != "Li Lei" and seen_by_analyst["email"] != "li@example.com"
        assert "object" not in plain.requests[0].body["data"]


def test_the_delivery_log_shows_an_admins_view_no_clearer_than_its_reader_sees(make_app):
    """A manager given webhooks.manage, who sees phones partly masked, reads the log
    of an endpoint with an admin's view: the body's phone is masked for them."""
    settings = {**ALLOW_LOCAL, "masking": {"fields": {"Customer.phone": {"MANAGER": "PARTIAL"}}}}
    app = make_app(
        enabled=("masking", "webhooks"), settings=settings, config={"roles": {"MANAGER": ["webhooks.manage"]}}
    )
    register(app, "http://127.0.0.1:9/hook", ["customer.created"], role="ADMIN")
    app.data(CREATE_CUSTOMER, {"name": "Li Lei"}, as_="agent")
    log = "{ webhookDeliveries { edges { node { body } } } }"
    [as_admin] = [edge["node"] for edge in app.data(log, as_="admin")["webhookDeliveries"]["edges"]]
    [as_manager] = [edge["node"] for edge in app.data(log, as_="manager")["webhookDeliveries"]["edges"]]
    assert '"phone":"13812345678"' in as_admin["body"]
    seen = json.loads(as_manager["body"])["data"]["object"]
    assert seen["phone"] != "13812345678" and seen["phone"].endswith("5678")
    assert seen["name"] == "Li Lei"  # what the manager sees in clear stays clear
    assert "13812345678" not in as_manager["body"]


def test_topics_choose_what_an_endpoint_gets(make_app):
    app = make_app(enabled=("webhooks",), settings=ALLOW_LOCAL)
    with Receiver() as interactions_only:
        register(app, interactions_only.url, ["interaction"])
        customer = app.data(CREATE_CUSTOMER, {"name": "Li Lei"}, as_="agent")["createCustomer"]["customer"]["id"]
        app.data(
            "mutation($c: ID!) { logInteraction(input: {customerId: $c, kind: CALL}) { userErrors { code } } }",
            {"c": customer},
            as_="agent",
        )
        deliver(app)
        assert [r.body["type"] for r in interactions_only.requests] == ["interaction.logged"]
        assert interactions_only.requests[0].body["data"]["kind"] == "CALL"


def test_a_repeated_event_makes_no_second_delivery(make_app, receiver):
    app = make_app(enabled=("webhooks",), settings=ALLOW_LOCAL)
    register(app, receiver.url)
    app.data(CREATE_CUSTOMER, {"name": "Li Lei"}, as_="agent")
    deliver(app)

    async def published_again():
        await OutboxEvent.filter(name="kehu_event_published").update(state=OutboxState.PENDING)
        await OutboxEvent.filter(name="kehu_webhook_delivery_due").update(state=OutboxState.PENDING)
        await app.kehu.outbox.run_once()
        return await WebhookDelivery.all().count(), await WebhookDelivery.get(id=1)

    count, delivery = app.run(published_again)
    assert count == 1 and delivery.status is DeliveryStatus.DELIVERED
    assert len(receiver.requests) == 1


def test_the_delivery_log_pages_by_keyset_and_endpoints_and_deliveries_are_nodes_for_admins(make_app, receiver):
    app = make_app(enabled=("webhooks",), settings=ALLOW_LOCAL)
    endpoint = register(app, receiver.url, ["customer"])["webhookEndpoint"]["id"]
    for i in range(7):
        app.data(CREATE_CUSTOMER, {"name": f"Li {i}"}, as_="agent")
    deliver(app)
    ids = walk_pages(app, "webhookDeliveries", as_="admin")
    assert len(ids) == 7
    assert walk_pages(app, "webhookDeliveries", as_="admin", arguments="status: DELIVERED") == ids
    nested = """query($id: ID!, $after: String) { node(id: $id) { ... on WebhookEndpoint {
      deliveries(first: 4, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } } } }"""
    first = app.data(nested, {"id": endpoint}, as_="admin")["node"]["deliveries"]
    rest = app.data(nested, {"id": endpoint, "after": first["pageInfo"]["endCursor"]}, as_="admin")["node"]
    assert first["pageInfo"]["hasNextPage"] and not rest["deliveries"]["pageInfo"]["hasNextPage"]
    assert [e["node"]["id"] for e in first["edges"] + rest["deliveries"]["edges"]] == ids
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename } }"
    assert app.data(query, {"ids": [endpoint, ids[0]]}, as_="admin")["nodes"] == [
        {"__typename": "WebhookEndpoint"},
        {"__typename": "WebhookDelivery"},
    ]
    assert app.data(query, {"ids": [endpoint, ids[0]]}, as_="manager")["nodes"] == [None, None]
