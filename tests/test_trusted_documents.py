"""Trusted documents (persisted operations) over HTTP and WebSocket."""

import hashlib
import json

import pytest

from kehu.errors import ValidationError
from kehu.ids import to_global_id
from kehu.server.documents import Candidate, check_against_schema, collect, register

ME = "query Me { me { name role } }\n"
CUSTOMERS = "query Count { customers { totalCount } }\n"
TRUSTED = {"documents": {"trusted_only": True}}


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def add(app, *texts):
    async def go():
        return await register(app.kehu, [Candidate(t, "test", sha(t)) for t in texts])

    return app.run(go)


def post(app, body, as_=None):
    headers = {"Authorization": f"Bearer {app.tokens[as_]}"} if as_ else {}
    response = app.client.post(
        "/graphql", content=json.dumps(body), headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    return response.json()


def code(body):
    return body["errors"][0]["extensions"]["code"]


@pytest.fixture
def trusted(make_app):
    app = make_app(config=TRUSTED)
    add(app, ME)
    return app


def test_registered_document_runs_by_text_hash_or_document_id(trusted):
    by_text = post(trusted, {"query": ME}, as_="agent")
    assert by_text["data"]["me"]["role"] == "AGENT"
    by_hash = post(trusted, {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha(ME)}}}, as_="agent")
    assert by_hash == by_text
    by_id = post(trusted, {"documentId": f"sha256:{sha(ME)}"}, as_="agent")
    assert by_id == by_text
    by_get = trusted.client.get(
        "/graphql",
        params={"documentId": f"sha256:{sha(ME)}"},
        headers={"Authorization": f"Bearer {trusted.tokens['agent']}"},
    )
    assert by_get.json() == by_text


def test_unregistered_document_is_refused_in_trusted_mode(trusted):
    body = post(trusted, {"query": CUSTOMERS}, as_="manager")
    assert "data" not in body  # refused before it ran
    assert code(body) == "OPERATION_NOT_TRUSTED"
    # The same text with a trailing space is another document.
    assert code(post(trusted, {"query": ME + " "}, as_="manager")) == "OPERATION_NOT_TRUSTED"
    # Sending its hash with it does not register it either.
    body = post(
        trusted,
        {"query": CUSTOMERS, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha(CUSTOMERS)}}},
        as_="manager",
    )
    assert code(body) == "OPERATION_NOT_TRUSTED"
    body = post(
        trusted, {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha(CUSTOMERS)}}}, as_="manager"
    )
    assert code(body) == "PERSISTED_QUERY_NOT_FOUND"


def test_bad_hashes_are_refused_with_their_own_codes(trusted):
    assert code(post(trusted, {"documentId": "md5:abc"}, as_="agent")) == "BAD_DOCUMENT_ID"
    body = post(
        trusted,
        {"query": ME, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha(CUSTOMERS)}}},
        as_="agent",
    )
    assert code(body) == "PERSISTED_QUERY_HASH_MISMATCH"


def test_admins_may_send_any_query_when_the_setting_allows(make_app):
    allowed = make_app(config=TRUSTED)
    assert post(allowed, {"query": CUSTOMERS}, as_="admin")["data"]["customers"]["totalCount"] == 0
    assert code(post(allowed, {"query": CUSTOMERS}, as_="analyst")) == "OPERATION_NOT_TRUSTED"


def test_admins_are_held_to_the_list_when_the_setting_forbids(make_app):
    strict = make_app(config={"documents": {"trusted_only": True, "allow_admin_graphiql": False}})
    assert code(post(strict, {"query": CUSTOMERS}, as_="admin")) == "OPERATION_NOT_TRUSTED"
    # GraphiQL's page itself is static; its queries are what is refused.
    assert strict.client.get("/graphql", headers={"Accept": "text/html"}).status_code == 200


def test_without_trusted_mode_any_query_runs_and_hashes_work_like_apq(make_app):
    app = make_app()
    assert post(app, {"query": CUSTOMERS}, as_="agent")["data"]["customers"]["totalCount"] == 0
    apq = {"persistedQuery": {"version": 1, "sha256Hash": sha(ME)}}
    assert code(post(app, {"extensions": apq}, as_="agent")) == "PERSISTED_QUERY_NOT_FOUND"
    first = post(app, {"query": ME, "extensions": apq}, as_="agent")
    assert first["data"]["me"]["role"] == "AGENT"
    assert post(app, {"extensions": apq}, as_="agent") == first


def test_console_operations_are_trusted_when_the_console_is_enabled(make_app):
    app = make_app(enabled=("complaints", "console"), config=TRUSTED)
    manifest = app.client.get("/console/operations.json").json()["operations"]
    assert "ComplaintBoard" in manifest and "CustomerLoyalty" not in manifest  # loyalty is not enabled
    board = manifest["ComplaintBoard"]
    body = post(
        app, {"documentId": f"sha256:{board['sha256']}", "variables": {"statuses": ["RECEIVED"]}}, as_="manager"
    )
    assert body == {"data": {"complaints": {"totalCount": 0, "edges": []}}}
    login = manifest["Login"]
    body = post(app, {"query": login["text"], "variables": {"email": "nobody@example.com", "password": "x" * 12}})
    assert body["data"]["login"]["token"] is None
    assert code(post(app, {"query": CUSTOMERS}, as_="manager")) == "OPERATION_NOT_TRUSTED"


def test_subscriptions_over_websocket_are_held_to_the_list(make_app):
    app = make_app(enabled=("console",), config=TRUSTED)
    events = app.client.get("/console/operations.json").json()["operations"]["Events"]["text"]
    with app.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as socket:
        socket.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {app.tokens['agent']}"}})
        assert socket.receive_json()["type"] == "connection_ack"
        socket.send_json({"id": "1", "type": "subscribe", "payload": {"query": "subscription { events { topic } }"}})
        refused = socket.receive_json()
        assert refused["type"] == "error" and refused["payload"][0]["extensions"]["code"] == "OPERATION_NOT_TRUSTED"
        socket.send_json(
            {"id": "2", "type": "subscribe", "payload": {"query": events, "variables": {"topics": ["customer"]}}}
        )
        owner = to_global_id("AccountOwner", app.accounts["agent"].id)
        app.data(
            'mutation($o: ID!) { createCustomer(input: {name: "Live", ownerId: $o}) { userErrors { code } } }',
            {"o": owner},
            as_="admin",
        )  # an admin may send any operation
        event = socket.receive_json()
        assert event["id"] == "2" and event["payload"]["data"]["events"]["topic"] == "customer.created"


def test_registering_checks_documents_against_the_schema(tmp_path, make_app):
    app = make_app()
    (tmp_path / "ok.graphql").write_text(ME)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "count.gql").write_text(CUSTOMERS)
    found = collect([tmp_path])
    assert sorted(c.sha256 for c in found) == sorted([sha(ME), sha(CUSTOMERS)])
    check_against_schema(app.kehu, found)
    assert add(app, ME, CUSTOMERS) == (2, 0)
    assert add(app, ME) == (0, 1)
    (tmp_path / "bad.graphql").write_text("query { nope }")
    with pytest.raises(ValidationError, match="bad.graphql: Cannot query field 'nope'"):
        check_against_schema(app.kehu, collect([tmp_path / "bad.graphql"]))
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [{"id": sha(ME), "body": ME, "name": "Me", "type": "query"}],
            }
        )
    )
    assert [c.sha256 for c in collect([manifest])] == [sha(ME)]
    manifest.write_text(json.dumps({"0" * 64: ME}))
    with pytest.raises(ValidationError, match="not the SHA-256"):
        collect([manifest])


def test_documents_command_adds_and_lists(tmp_path):
    from serving import kehu, write_config

    config = write_config(
        tmp_path, f"sqlite://{tmp_path}/k.db", enabled=("console",), extra="[documents]\ntrusted_only = true\n"
    )
    kehu(config, "migrate")
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "me.graphql").write_text(ME)
    assert "1 document(s) registered" in kehu(config, "documents", "add", str(tmp_path / "ops")).stdout
    assert (
        "0 document(s) registered, 1 already"
        in kehu(config, "documents", "add", str(tmp_path / "ops" / "me.graphql")).stdout
    )
    (tmp_path / "bad.graphql").write_text("query { nope }")
    failed = kehu(config, "documents", "add", str(tmp_path / "bad.graphql"), check=False)
    assert failed.returncode == 2 and "Cannot query field 'nope'" in failed.stderr
    listing = kehu(config, "documents", "list").stdout
    assert f"sha256:{sha(ME)}  Me  " in listing
    assert "plugin:console" in listing and "trusted_only is on" in listing
