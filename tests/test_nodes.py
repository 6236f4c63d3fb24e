"""Global object identification: every type with a global ID is a ``Node``, and
``node(id)``/``nodes(ids)`` fetch any of them under the same visibility rules."""

import pytest

from kehu.ids import to_global_id

NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on Customer { name } } }"


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
