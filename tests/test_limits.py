"""Abuse limits: each class of abusive query is refused with its code, quickly,
and says which limit and by how much."""

import pytest


def error_of(body):
    assert body.get("data") is None, body
    return body["errors"][0]


def test_too_deep_query_is_refused(app):
    deep = "{ customers { edges { node { owner { customers { edges { node { owner { customers { edges { node { id } } } } } } } } } } } }"
    error = error_of(app.gql(deep, as_="admin"))
    assert error["extensions"]["code"] == "QUERY_TOO_DEEP"
    assert "exceeds the limit of 8" in error["message"]


def test_too_many_aliases_is_refused(app):
    query = "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(16)) + " }"
    error = error_of(app.gql(query, as_="admin"))
    assert error["extensions"]["code"] in ("TOO_MANY_ALIASES", "TOO_MANY_ROOT_FIELDS")
    assert "by 1" in error["message"]


def test_too_many_root_fields_is_refused(make_app):
    app = make_app(config={"limits": {"max_aliases": 100}})
    query = "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(21)) + " }"
    error = error_of(app.gql(query, as_="admin"))
    assert error["extensions"]["code"] == "TOO_MANY_ROOT_FIELDS"


def test_huge_document_is_refused_by_the_token_limit(app):
    query = "{ me { " + " ".join(["id"] * 2000) + " } }"
    error = error_of(app.gql(query, as_="admin"))
    assert "token" in error["message"].lower()


def test_node_estimate_multiplies_page_sizes(app):
    query = "{ customers(first: 100) { edges { node { interactions(first: 100) { edges { node { id } } } } } } }"
    error = error_of(app.gql(query, as_="admin"))
    assert error["extensions"]["code"] == "QUERY_TOO_LARGE"
    assert "10,100" in error["message"] and "by 100" in error["message"]


def test_node_estimate_reads_variables(app):
    query = "query($n: Int) { customers(first: $n) { edges { node { interactions(first: $n) { edges { node { id } } } } } } }"
    assert error_of(app.gql(query, {"n": 100}, as_="admin"))["extensions"]["code"] == "QUERY_TOO_LARGE"
    assert app.data(query, {"n": 50}, as_="admin")["customers"]["edges"] == []


def test_fragment_amplification_is_counted(app):
    query = """
    query { ...A }
    fragment A on Query { x1: customers(first: 100) { ...B } x2: customers(first: 100) { ...B } }
    fragment B on CustomerConnection { edges { node { interactions(first: 60) { totalCount } } } }
    """
    body = app.gql(query, as_="admin")
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_LARGE"


def test_fragment_cycle_is_refused(app):
    query = "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }"
    body = app.gql(query, as_="admin")
    assert "Cannot spread fragment" in body["errors"][0]["message"]


def test_introspection_is_not_limited_by_depth(app):
    body = app.gql(
        "{ __schema { types { name fields { name type { name ofType { name ofType { name ofType { name } } } } } } } }",
        as_="admin",
    )
    assert "errors" not in body or not body["errors"]


def test_anonymous_introspection_is_refused(app):
    error = error_of(app.gql("{ __schema { queryType { name } } }"))
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    error = error_of(app.gql('{ __type(name: "Customer") { name } }'))
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


def test_anonymous_typename_is_fine(app):
    assert app.gql("{ __typename }")["data"] == {"__typename": "Query"}


def test_oversized_body_is_refused_before_parsing(app):
    response = app.client.post(
        "/graphql",
        content=b'{"query": "' + b" " * 200_000 + b'{ me { id } }"}',
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {app.tokens['admin']}"},
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "BODY_TOO_LARGE"


def test_batched_requests_are_refused(app):
    response = app.client.post(
        "/graphql", json=[{"query": "{ me { id } }"}] * 100, headers={"Authorization": f"Bearer {app.tokens['admin']}"}
    )
    assert response.status_code == 400


@pytest.mark.parametrize("limit", ["max_depth", "max_aliases", "max_tokens"])
def test_limits_are_configurable(make_app, limit):
    app = make_app(config={"limits": {limit: 1000 if limit != "max_depth" else 50}})
    assert app.kehu.config.limits.model_dump()[limit] in (1000, 50)


def test_every_rejection_carries_a_code(app):
    huge = "{ me { " + "id " * 30_000 + "} }"
    response = app.client.post(
        "/graphql", json={"query": huge}, headers={"Authorization": f"Bearer {app.tokens['admin']}"}
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "DOCUMENT_TOO_LARGE"
    assert app.gql("{ me { ", as_="admin")["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert app.gql("{ me { nope } }", as_="admin")["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    body = app.gql("query($n: Int!) { customers(first: $n) { totalCount } }", {"n": "x"}, as_="admin")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_postgres_statements_have_a_timeout(app, db_url):
    if not db_url.startswith("postgres"):
        import pytest

        pytest.skip("PostgreSQL's statement_timeout")

    async def setting():
        from tortoise.connection import connections

        rows = await connections.get("default").execute_query_dict("SHOW statement_timeout")
        return rows[0]["statement_timeout"]

    assert app.run(setting) == "30s"


# --------------------------------------------------------------------------- plain lists


def _lists_plugin():
    import types

    import strawberry

    from kehu import hookimpl
    from kehu.schema import max_items

    @strawberry.type
    class Tag:
        name: str

    @strawberry.type
    class CustomerLists:
        @strawberry.field(description="An undeclared plain list: counted as one object.")
        def labels(self) -> list[Tag]:
            return [Tag(name="a")]

        @strawberry.field(description="A list that may hold 200 items.", metadata=max_items(200))
        def up_to_200(self) -> list[Tag]:
            return [Tag(name="a")]

        @strawberry.field(description="A list whose field says how long it gets.", metadata=max_items(3))
        def top_three(self) -> list[Tag]:
            return [Tag(name="a")]

        @strawberry.field(description="Strings are not objects: not counted.")
        def words(self) -> list[str]:
            return ["a"]

    return types.SimpleNamespace(kehu_graphql=hookimpl(lambda graphql: graphql.extend("Customer", CustomerLists)))


@pytest.fixture
def lists_app(make_app):
    return make_app(enabled=("lists",), extra_plugins={"lists": _lists_plugin()})


def test_a_plain_list_counts_by_the_bound_its_field_declares(lists_app):
    # 100 customers x (1 + 200 declared items): over 10,000.
    error = error_of(lists_app.gql("{ customers(first: 100) { edges { node { upTo200 { name } } } } }", as_="admin"))
    assert error["extensions"]["code"] == "QUERY_TOO_LARGE"
    assert "20,100" in error["message"]
    # max_items(3): 100 x (1 + 3) is fine; an undeclared list counts as one; strings are not objects.
    body = lists_app.gql(
        "{ customers(first: 100) { edges { node { topThree { name } labels { name } words } } } }", as_="admin"
    )
    assert "errors" not in body


def test_plain_lists_add_up_under_each_parent(lists_app):
    query = "{ customers(first: 30) { edges { node { upTo200 { name } topThree { name } } } } }"
    assert "errors" not in lists_app.gql(query, as_="admin")  # 30 x (1 + 200 + 3) = 6,120
    query = query.replace("first: 30", "first: 99")  # 99 x 204 = 20,196
    assert error_of(lists_app.gql(query, as_="admin"))["extensions"]["code"] == "QUERY_TOO_LARGE"


def test_what_is_kept_per_document_holds_for_every_request_of_it(app):
    """The validation outcome and a node estimate that reads no variable are kept per
    parsed document (schema/limits.py, ``DocumentMemo``); an estimate that reads a
    variable is made again for each request, whatever came before."""
    paged = "query($n: Int) { customers(first: $n) { edges { node { interactions(first: $n) { edges { node { id } } } } } } }"
    assert app.data(paged, {"n": 50}, as_="admin")["customers"]["edges"] == []
    assert error_of(app.gql(paged, {"n": 100}, as_="admin"))["extensions"]["code"] == "QUERY_TOO_LARGE"
    assert app.data(paged, {"n": 50}, as_="admin")["customers"]["edges"] == []
    two = """
    query Small { customers(first: 10) { edges { node { id } } } }
    query Large { customers(first: 100) { edges { node { interactions(first: 100) { edges { node { id } } } } } } }
    """
    auth = {"Authorization": f"Bearer {app.tokens['admin']}"}

    def named(name):
        return app.client.post("/graphql", json={"query": two, "operationName": name}, headers=auth).json()

    for _ in range(2):
        assert named("Small") == {"data": {"customers": {"edges": []}}}
        assert error_of(named("Large"))["extensions"]["code"] == "QUERY_TOO_LARGE"
    invalid = "{ me { id nosuchfield } }"
    aliased = "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(16)) + " }"
    for _ in range(2):
        assert "nosuchfield" in error_of(app.gql(invalid, as_="admin"))["message"]
        assert error_of(app.gql(aliased, as_="admin"))["extensions"]["code"] in (
            "TOO_MANY_ALIASES",
            "TOO_MANY_ROOT_FIELDS",
        )
