"""Global object identification: every type with a global ID is a ``Node``, and
``node(id)``/``nodes(ids)`` fetch any of them under the same visibility rules."""

import pytest
from graphql import GraphQLNonNull, GraphQLObjectType, get_named_type

from kehu.ids import to_global_id
from kehu.server.plugin_manager import BUILTIN_PLUGINS

NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on Customer { name } } }"
ALL_PLUGINS = tuple(BUILTIN_PLUGINS)


def create(app, name, owner="agent"):
    return app.data(
        "mutation($n: String!) { createCustomer(input: {name: $n}) { customer { id } } }", {"n": name}, as_=owner
    )["createCustomer"]["customer"]["id"]


def test_nodes_returns_each_object_in_the_order_asked_with_null_for_the_invisible(app):
    mine = create(app, "Mine")
    foreign = create(app, "Foreign", owner="agent_south")
    me = to_global_id("AccountOwner", app.accounts["agent"].id)
    unknown_type = to_global_id("Spaceship", 1)
    missing = to_global_id("Customer", 999_999)
    ids = [foreign, mine, me, unknown_type, missing, mine]
    got = app.data(NODES, {"ids": ids}, as_="agent")["nodes"]
    assert got == [
        None,
        {"__typename": "Customer", "id": mine, "name": "Mine"},
        {"__typename": "AccountOwner", "id": me},
        None,
        None,
        {"__typename": "Customer", "id": mine, "name": "Mine"},
    ]
    # node(id) answers the same, one at a time.
    assert [app.data("query($id: ID!) { node(id: $id) { id } }", {"id": i}, as_="agent")["node"] for i in ids] == [
        None if n is None else {"id": n["id"]} for n in got
    ]
    assert app.data(NODES, {"ids": [foreign]}, as_="manager_south")["nodes"] == [
        {"__typename": "Customer", "id": foreign, "name": "Foreign"}
    ]


def test_api_tokens_are_nodes_for_those_who_manage_them(app):
    created = app.data(
        'mutation { createApiToken(input: {name: "etl", role: ANALYST}) { apiToken { id name } } }', as_="admin"
    )["createApiToken"]["apiToken"]
    query = "query($id: ID!) { node(id: $id) { __typename ... on ApiToken { name role } } }"
    assert app.data(query, {"id": created["id"]}, as_="admin")["node"] == {
        "__typename": "ApiToken",
        "name": "etl",
        "role": "ANALYST",
    }
    assert app.data(query, {"id": created["id"]}, as_="manager")["node"] is None


@pytest.mark.parametrize(
    "ids, code, field",
    [
        (["not-an-id"], "INVALID_ID", "ids[0]"),
        ([to_global_id("Customer", 1), "x"], "INVALID_ID", "ids[1]"),
        ([to_global_id("Customer", i) for i in range(1, 102)], "TOO_MANY_IDS", "ids"),
    ],
)
def test_bad_ids_are_coded_errors(app, ids, code, field):
    body = app.gql(NODES, {"ids": ids}, as_="admin")
    error = body["errors"][0]
    assert (error["extensions"]["code"], error["extensions"]["field"]) == (code, field)


def test_every_type_with_a_global_id_is_a_node_that_node_can_fetch(make_app):
    from kehu.schema.nodes import CORE_NODES

    app = make_app(enabled=ALL_PLUGINS)
    schema = app.kehu.schema.graphql_schema
    node_types = set()
    for name, gql_type in schema.type_map.items():
        if not isinstance(gql_type, GraphQLObjectType) or name.startswith("__") or "id" not in gql_type.fields:
            continue
        id_type = gql_type.fields["id"].type
        if isinstance(id_type, GraphQLNonNull) and get_named_type(id_type).name == "ID":
            assert "Node" in [i.name for i in gql_type.interfaces], f"{name} has a global id but is not a Node"
            node_types.add(name)
    resolvable = set(CORE_NODES) | set(app.kehu.schema.node_resolvers)
    assert node_types - resolvable == set(), "node(id) cannot fetch these"


def test_plugin_objects_with_global_ids_round_trip_through_node(make_app):
    """Survey questions, choices and invitations and complaint timeline entries are
    Nodes: node(id) fetches each, and what is tied to a customer stays hidden from
    those who may not see the customer."""
    app = make_app(enabled=("surveys", "complaints"))
    customer = create(app, "Node Ltd")
    survey = app.data(
        """mutation($i: CreateSurveyInput!) { createSurvey(input: $i) {
             survey { id questions { id choices { id } } } userErrors { code } } }""",
        {"i": {"title": "S", "questions": [{"type": "SINGLE_CHOICE", "text": "Q?", "choices": ["a", "b"]}]}},
        as_="manager",
    )["createSurvey"]["survey"]
    app.data(
        "mutation($id: ID!) { publishSurvey(input: {id: $id}) { userErrors { code } } }",
        {"id": survey["id"]},
        as_="manager",
    )
    invitation = app.data(
        """mutation($s: ID!, $c: ID!) { inviteToSurvey(input: {surveyId: $s, customerIds: [$c]}) {
             invitations { invitation { id } } userErrors { code } } }""",
        {"s": survey["id"], "c": customer},
        as_="manager",
    )["inviteToSurvey"]["invitations"][0]["invitation"]
    complaint = app.data(
        """mutation($c: ID!) { fileComplaint(input: {customerId: $c, channel: HOTLINE, category: "service",
             description: "late"}) { complaint { timeline { id } } userErrors { code } } }""",
        {"c": customer},
        as_="agent",
    )["fileComplaint"]["complaint"]
    question = survey["questions"][0]
    expected = {
        question["id"]: "SurveyQuestion",
        question["choices"][0]["id"]: "SurveyChoice",
        invitation["id"]: "SurveyInvitation",
        complaint["timeline"][0]["id"]: "ComplaintTimelineEntry",
    }
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"
    got = app.data(query, {"ids": list(expected)}, as_="agent")["nodes"]
    assert [(n["__typename"], n["id"]) for n in got] == [(t, i) for i, t in expected.items()]
    # Another team's agent sees the survey's definition, not what concerns the customer.
    hidden = app.data(query, {"ids": list(expected)}, as_="agent_south")["nodes"]
    assert [n and n["__typename"] for n in hidden] == ["SurveyQuestion", "SurveyChoice", None, None]


def test_outbox_events_are_nodes_for_those_who_manage_events_only(app):
    create(app, "Evented")
    [event] = app.data("{ outboxEvents(state: DONE, first: 1) { edges { node { id name } } } }", as_="admin")[
        "outboxEvents"
    ]["edges"]
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename ... on OutboxEvent { name } } }"
    ids = [event["node"]["id"]]
    assert app.data(query, {"ids": ids}, as_="admin")["nodes"] == [
        {"__typename": "OutboxEvent", "name": event["node"]["name"]}
    ]
    for role in ("manager", "agent", "analyst"):
        assert app.data(query, {"ids": ids}, as_=role)["nodes"] == [None]


def test_the_query_size_estimate_counts_what_nodes_selects_a_hundred_times(app):
    """nodes(ids:) may return 100 objects: a customer's 100 interactions under each
    is 10,000 objects and more, refused before anything runs, as the same page of
    customers would be."""
    query = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on Customer {
      interactions(first: 100) { edges { node { id } } } } } }"""
    body = app.gql(query, {"ids": [create(app, "One")]}, as_="admin")
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_LARGE"
    assert app.data(query.replace("first: 100", "first: 5"), {"ids": []}, as_="admin") == {"nodes": []}
