"""Live events over graphql-transport-ws: signed-in only, filtered per viewer."""

import pytest
from starlette.websockets import WebSocketDisconnect

SUBSCRIBE = "subscription($t: [String!]) { events(topics: $t) { topic nodeId customerId data } }"
CREATE = "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { customer { id } userErrors { code } } }"


def connect(app, token):
    ws = app.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"])
    socket = ws.__enter__()
    socket.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"} if token else {}})
    return ws, socket


def subscribe(app, socket, topics=None):
    import time

    before = app.kehu.events.subscriber_count
    socket.send_json({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE, "variables": {"t": topics}}})
    deadline = time.monotonic() + 5
    while app.kehu.events.subscriber_count == before:  # the subscription is live on the server
        assert time.monotonic() < deadline, "subscription did not start"
        time.sleep(0.01)


def owner_id(app, name):
    from kehu.ids import to_global_id

    return to_global_id("AccountOwner", app.accounts[name].id)


def test_unauthenticated_websocket_is_refused(app):
    ws, socket = connect(app, None)
    with pytest.raises(WebSocketDisconnect) as closed:
        socket.receive_json()
    assert closed.value.code == 4403
    ws.__exit__(None, None, None)


def test_agent_receives_events_about_own_customers_only(app):
    ws, socket = connect(app, app.tokens["agent"])
    assert socket.receive_json()["type"] == "connection_ack"
    subscribe(app, socket, ["customer"])
    # A customer of another team first: the agent must not hear of it.
    app.data(CREATE, {"i": {"name": "Foreign", "ownerId": owner_id(app, "agent_south")}}, as_="admin")
    mine = app.data(CREATE, {"i": {"name": "Mine", "ownerId": owner_id(app, "agent")}}, as_="admin")
    message = socket.receive_json()
    assert message["type"] == "next"
    event = message["payload"]["data"]["events"]
    assert event["topic"] == "customer.created"
    assert event["customerId"] == mine["createCustomer"]["customer"]["id"]
    assert "Mine" not in str(event), "events carry no personal data"
    socket.send_json({"id": "1", "type": "complete"})
    ws.__exit__(None, None, None)


def test_topics_filter_and_interaction_events(app):
    cid = app.data(CREATE, {"i": {"name": "C", "ownerId": owner_id(app, "agent")}}, as_="admin")["createCustomer"][
        "customer"
    ]["id"]
    ws, socket = connect(app, app.tokens["manager"])
    assert socket.receive_json()["type"] == "connection_ack"
    subscribe(app, socket, ["interaction.logged"])
    app.data(
        'mutation($c: ID!) { updateCustomer(input: {id: $c, region: "X"}) { userErrors { code } } }',
        {"c": cid},
        as_="agent",
    )
    app.data(
        "mutation($c: ID!) { logInteraction(input: {customerId: $c, kind: CALL}) { userErrors { code } } }",
        {"c": cid},
        as_="agent",
    )
    event = socket.receive_json()["payload"]["data"]["events"]
    assert event["topic"] == "interaction.logged"
    assert event["data"] == {"kind": "CALL"}
    ws.__exit__(None, None, None)
