"""A session that ends, ends on every open WebSocket too: no operation started after
it, no event delivered after it, and the socket closed within a second with 4401
and the reason. A role or team change applies to the next operation and event.

(Two real workers on PostgreSQL: tests/test_workers.py.)
"""

import pytest
from live import Closed, LiveSocket
from seed import owner_gid

from kehu import hookimpl
from kehu.events import RetryLater
from kehu.ids import to_global_id
from kehu.models import AccessToken
from kehu.testing import TEST_PASSWORD
from kehu.writes import publish, write_scope

LOGIN = (
    """mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token userErrors { code } } }"""
)
CREATE = "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { customer { id } userErrors { code } } }"
ME = "{ me { email role team } }"


def sign_in(app, account="agent"):
    token = app.data(LOGIN, {"e": f"{account}@example.com", "p": TEST_PASSWORD})["login"]["token"]
    assert token
    return token


def create_customer(app, owner="agent", name="Someone"):
    data = app.data(CREATE, {"i": {"name": name, "ownerId": owner_gid(app, owner)}}, as_="admin")
    return data["createCustomer"]["customer"]["id"]


def assert_ended(live, reason):
    closed = live.closed(within=1.0)
    assert closed.code == 4401, closed
    assert reason in closed.reason, closed.reason


def test_logout_closes_every_socket_of_that_session_within_a_second(app):
    token = sign_in(app)
    with LiveSocket(app, token) as live, LiveSocket(app, token) as idle:
        live.acknowledged()
        idle.acknowledged()
        live.subscribe(["customer"])
        assert app.data("mutation { logout { ok } }", token=token)["logout"]["ok"]
        assert_ended(live, "signed out")
        assert_ended(idle, "signed out")


def test_a_socket_of_an_ended_session_receives_no_further_event(app):
    token = sign_in(app)
    with LiveSocket(app, token) as live:
        live.acknowledged()
        live.subscribe(["customer"])
        create_customer(app)
        assert live.event()["topic"] == "customer.created"
        app.data("mutation { logout { ok } }", token=token)
        create_customer(app)  # the agent's own customer: would have been delivered
        assert_ended(live, "signed out")


def test_an_operation_after_the_token_was_revoked_elsewhere_does_not_run(app):
    """Revoked behind kehu's back (SQL by hand, another tool): no notification at
    all, yet the next operation reads the token again and finds it dead."""
    token = sign_in(app)
    with LiveSocket(app, token) as live:
        live.acknowledged()
        assert live.execute(ME)["data"]["me"]["email"] == "agent@example.com"
        app.run(
            lambda: AccessToken.filter(revoked_at=None, owner_id=app.accounts["agent"].id).update(
                revoked_at=app.clock.now()
            )
        )
        live.start(CREATE, {"i": {"name": "Sneaky"}})
        assert_ended(live, "revoked")
    names = app.data("{ customers(first: 10) { edges { node { name } } } }", as_="admin")
    assert "Sneaky" not in str(names)


def test_revoking_an_api_token_closes_its_sockets(app):
    created = app.data(
        'mutation { createApiToken(input: {name: "sync", role: AGENT}) { token apiToken { id } } }', as_="admin"
    )["createApiToken"]
    with LiveSocket(app, created["token"]) as live:
        live.acknowledged()
        live.subscribe()
        revoked = app.data(
            "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { apiToken { revokedAt } } }",
            {"id": created["apiToken"]["id"]},
            as_="admin",
        )
        assert revoked["revokeApiToken"]["apiToken"]["revokedAt"]
        assert_ended(live, "revoked")


def test_deactivating_an_account_closes_its_sockets_and_refuses_its_writes(app):
    with LiveSocket(app, app.tokens["agent"]) as live:
        live.acknowledged()
        live.subscribe()
        app.data(
            "mutation($id: ID!) { updateAccountOwner(input: {id: $id, active: false}) { accountOwner { active } } }",
            {"id": owner_gid(app, "agent")},
            as_="admin",
        )
        live.start(CREATE, {"i": {"name": "After deactivation"}})
        assert_ended(live, "deactivated")
    assert "After deactivation" not in str(
        app.data("{ customers(first: 50) { edges { node { name } } } }", as_="admin")
    )


CHANGE_PASSWORD = """mutation($c: String!, $n: String!) {
  changePassword(input: {currentPassword: $c, newPassword: $n}) { ok userErrors { code } } }"""


def test_a_password_change_closes_every_socket_of_the_account(app):
    current, other = sign_in(app), sign_in(app)
    with LiveSocket(app, current) as mine, LiveSocket(app, other) as theirs:
        mine.acknowledged()
        theirs.acknowledged()
        theirs.subscribe()
        changed = app.data(CHANGE_PASSWORD, {"c": TEST_PASSWORD, "n": "a-new-long-passphrase-42"}, token=current)
        assert changed["changePassword"]["ok"]
        assert_ended(mine, "password")
        assert_ended(theirs, "password")
    # Over HTTP the session that made the change goes on; the other one is over.
    assert app.gql(ME, token=current)["data"]["me"]["email"] == "agent@example.com"
    assert app.gql(ME, token=other)["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    with LiveSocket(app, other) as again:
        with pytest.raises(Closed) as refused:
            again.receive()
        assert refused.value.code == 4403


def test_an_expired_token_closes_its_socket(app):
    token = sign_in(app)  # session_hours = 12
    with LiveSocket(app, token) as live:
        live.acknowledged()
        live.subscribe()
        app.clock.advance(hours=12)
        assert_ended(live, "expired")


def test_a_role_change_applies_to_the_next_operation_and_event(app):
    foreign = create_customer(app, owner="agent_south", name="Foreign")
    with LiveSocket(app, app.tokens["agent"]) as live:
        live.acknowledged()
        live.subscribe(["customer.updated"])
        assert live.execute(ME)["data"]["me"]["role"] == "AGENT"
        app.data(
            "mutation($id: ID!) { updateAccountOwner(input: {id: $id, role: ANALYST}) { accountOwner { role } } }",
            {"id": owner_gid(app, "agent")},
            as_="admin",
        )
        assert live.execute(ME)["data"]["me"]["role"] == "ANALYST"
        refused = live.execute(CREATE, {"i": {"name": "Read-only now"}})
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        # An analyst sees every customer: events about the other team's now arrive.
        app.data(
            'mutation($c: ID!) { updateCustomer(input: {id: $c, region: "X"}) { customer { id } } }',
            {"c": foreign},
            as_="admin",
        )
        assert live.event()["customerId"] == foreign


def test_a_team_change_moves_the_events_a_manager_hears(app):
    north = create_customer(app, owner="agent", name="North")
    south = create_customer(app, owner="agent_south", name="South")
    update = 'mutation($c: ID!) { updateCustomer(input: {id: $c, region: "Y"}) { customer { id } } }'
    with LiveSocket(app, app.tokens["manager"]) as live:
        live.acknowledged()
        live.subscribe(["customer.updated"])
        app.data(
            'mutation($id: ID!) { updateAccountOwner(input: {id: $id, team: "south"}) { accountOwner { team } } }',
            {"id": owner_gid(app, "manager")},
            as_="admin",
        )
        app.data(update, {"c": north}, as_="admin")
        app.data(update, {"c": south}, as_="admin")
        assert live.event()["customerId"] == south
        live.silent()


def test_sockets_per_account_are_capped_with_a_coded_close(make_app):
    app = make_app(config={"limits": {"max_sockets_per_user": 2}})
    with LiveSocket(app, app.tokens["agent"]) as one, LiveSocket(app, app.tokens["agent"]) as two:
        one.acknowledged()
        two.acknowledged()
        with LiveSocket(app, app.tokens["agent"]) as three:
            with pytest.raises(Closed) as refused:
                three.receive()
            assert refused.value.code == 4429
            assert "too many live connections" in refused.value.reason
        with LiveSocket(app, app.tokens["manager"]) as other_account:
            other_account.acknowledged()
    with LiveSocket(app, app.tokens["agent"]) as again:  # the first two are closed now
        again.acknowledged()


def test_an_unknown_token_is_refused_at_connection_init(app):
    with LiveSocket(app, "kh_not-a-token") as live:
        with pytest.raises(Closed) as refused:
            live.receive()
        assert refused.value.code == 4403


def test_each_operation_on_a_socket_has_a_context_of_its_own(app):
    """Loaders are per operation: a customer renamed between two queries on one
    socket is read anew, not from the first query's cache."""
    cid = create_customer(app, name="Before")
    query = "query($id: ID!) { customer(id: $id) { name } }"
    with LiveSocket(app, app.tokens["agent"]) as live:
        live.acknowledged()
        assert live.execute(query, {"id": cid})["data"]["customer"]["name"] == "Before"
        app.data(
            'mutation($c: ID!) { updateCustomer(input: {id: $c, name: "After"}) { customer { id } } }',
            {"c": cid},
            as_="admin",
        )
        assert live.execute(query, {"id": cid})["data"]["customer"]["name"] == "After"


def test_the_legacy_graphql_ws_protocol_is_not_spoken(app):
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect):
        with app.client.websocket_connect("/graphql", subprotocols=["graphql-ws"]) as socket:
            socket.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {app.tokens['agent']}"}})
            socket.receive_json()


def test_one_event_costs_one_visibility_query_whatever_the_number_of_subscribers(app):
    from kehu.testing import count_queries

    accounts = ["admin", "manager", "agent", "agent2", "manager_south", "agent_south", "analyst"]
    sockets = [LiveSocket(app, app.tokens[a]) for a in accounts for _ in range(3)]
    try:
        for live in sockets:
            live.acknowledged()
            live.subscribe(["customer"])
        before = app.kehu.events.visibility_queries
        with count_queries() as queries:
            cid = create_customer(app, owner="agent")
            heard = {}
            for account, live in zip([a for a in accounts for _ in range(3)], sockets):
                if account in ("admin", "manager", "agent", "analyst"):
                    heard.setdefault(account, []).append(live.event()["customerId"])
        assert app.kehu.events.visibility_queries - before == 1
        assert all(ids == [cid] * 3 for ids in heard.values()) and len(heard) == 4
        customer_reads = [q for q in queries.statements if 'FROM "kehu_customer"' in q and "LEFT OUTER JOIN" in q]
        assert len(customer_reads) == 1, customer_reads
        for account, live in zip([a for a in accounts for _ in range(3)], sockets):
            if account not in heard:
                live.silent(0.2)
    finally:
        for live in sockets:
            live.__exit__(None, None, None)


def test_an_event_about_no_customer_reaches_every_signed_in_subscriber_without_a_query(app):
    from kehu.events import Event

    with LiveSocket(app, app.tokens["agent"]) as live:
        live.acknowledged()
        live.subscribe(["system"])
        before = app.kehu.events.visibility_queries
        app.run(app.kehu.events.publish, Event("system.notice", None, None, {"n": 1}))
        assert live.event()["data"] == {"n": 1}
        assert app.kehu.events.visibility_queries == before


class LaterNotice:
    """A plugin that publishes a live event from the outbox's background delivery:
    the first (inline) delivery of each customer's creation asks to be retried."""

    def __init__(self):
        self.tried: set[int] = set()

    @hookimpl
    async def kehu_customer_created(self, customer, event_id, kehu):
        if customer.id not in self.tried:
            self.tried.add(customer.id)
            raise RetryLater(0, "in the background, please")
        async with write_scope(kehu, None, "later.notice", event_id=event_id):
            publish("later.notice", customer_id=customer.id, node_id=to_global_id("Customer", customer.id))


def test_events_a_background_delivery_publishes_follow_each_session_as_it_is_then(make_app):
    app = make_app(enabled=("later",), extra_plugins={"later": LaterNotice()})
    agent_token = sign_in(app)
    with LiveSocket(app, app.tokens["manager"]) as manager, LiveSocket(app, agent_token) as agent:
        for live in (manager, agent):
            live.acknowledged()
            live.subscribe(["later"])
        create_customer(app, owner="agent", name="North")
        manager.silent(0.2)  # not delivered in the request: the outbox has it
        app.data(
            'mutation($id: ID!) { updateAccountOwner(input: {id: $id, team: "south"}) { accountOwner { team } } }',
            {"id": owner_gid(app, "manager")},
            as_="admin",
        )
        app.data("mutation { logout { ok } }", token=agent_token)
        assert_ended(agent, "signed out")
        assert app.run(app.kehu.outbox.run_once).ids  # the notice about North goes out now
        manager.silent()  # North is team north's: no longer the manager's
        south = create_customer(app, owner="agent_south", name="South")
        app.run(app.kehu.outbox.run_once)
        assert manager.event()["customerId"] == south
