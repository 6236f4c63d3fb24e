"""The leak suite: as ANALYST (personal fields masked by default) no clear e-mail
address or phone number of any demo customer comes out of the server — through
any GraphQL shape, a search, an ordering, an export, an error or a log line. As
ADMIN the same queries do show them (so the suite would notice if nothing ran).

Every built-in plugin is enabled, so plugin types that reach customers (complaints,
surveys, segments, loyalty) are walked too: a plugin field returning personal data
it did not declare a policy for fails here.
"""

import io
import json
import logging
import re

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLObjectType,
    GraphQLScalarType,
    get_named_type,
    is_non_null_type,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kehu.cli.demo import seed_demo
from kehu.models import Customer
from kehu.testing import KehuHarness, database_url
from kehu.testing.leaks import (
    has_default,
    selection,  # every field of a type, a few levels down
)

PLUGINS = ("segmentation", "loyalty", "complaints", "surveys", "masking")
LIMITS = {
    "limits": {
        "max_tokens": 100_000,
        "max_aliases": 1000,
        "max_root_fields": 200,
        "max_nodes": 1_000_000,
        "max_depth": 12,
        "rate_per_minute": 0,
    }
}
ROLES_MASKED = ("analyst",)


@pytest.fixture(scope="module")
def leak_app(tmp_path_factory):
    """One app with the demo data for the whole module: every test here only reads
    (the writes tried as an analyst are refused and write nothing)."""
    with database_url(tmp_path_factory.mktemp("leaks")) as url, KehuHarness(url, enabled=PLUGINS, config=LIMITS) as app:
        yield _seeded(app)


def _seeded(app):
    app.run(lambda: seed_demo(app.kehu, force=True))  # beside the test accounts

    async def secrets():
        rows = await Customer.all().values_list("id", "email", "phone")
        return rows

    rows = app.run(secrets)
    app.customer_ids = [r[0] for r in rows]
    app.secrets = sorted({v for _, e, p in rows for v in (e, p) if v})
    # A phone number written as bare digits is the same secret.
    app.secrets += sorted({re.sub(r"\D", "", p) for _, _, p in rows if p})
    assert len(app.secrets) > 100
    assert not any(JSON_PUNCTUATION.search(s) for s in app.secrets)  # (for `leaked`)
    return app


def leaked(app, *texts: str) -> list[str]:
    """The secrets found in ``texts``. No secret holds a character of JSON's
    punctuation (``_seeded`` checks), so each lies within one piece of a text cut
    at those characters: the distinct pieces are searched, each once. The walks'
    answers repeat the same customers many times over, and searching megabytes
    for each of hundreds of secrets took most of this module's time."""
    pieces = {piece for text in texts for piece in JSON_PUNCTUATION.split(text)}
    blob = "\n".join(pieces)
    return [s for s in app.secrets if s in blob]


JSON_PUNCTUATION = re.compile(r'[{}\[\],:"\n]')


def ask(app, query, variables=None, *, as_):
    response = app.post(query, variables, as_=as_)
    assert response.status_code in (200, 400), response.text
    return response.text


# --------------------------------------------------------------------------- a query of everything


def everything_queries(app, depth: int) -> list[str]:
    """One query per root field (a refused non-null field would null the rest)."""
    schema = app.kehu.schema.graphql_schema
    query_type = schema.query_type
    parts = []
    for name, field in query_type.fields.items():
        if name in ("node",) or any(is_non_null_type(a.type) and not has_default(a) for a in field.args.values()):
            continue
        inner = get_named_type(field.type)
        if isinstance(inner, GraphQLObjectType):
            parts.append(f"{name} {selection(inner, depth)}")
        elif isinstance(inner, (GraphQLScalarType, GraphQLEnumType)):
            parts.append(name)
    return ["{ " + part + " }" for part in parts]


def test_no_clear_email_or_phone_in_any_root_field_as_analyst(leak_app, caplog):
    caplog.set_level(logging.DEBUG, logger="kehu")
    queries = everything_queries(leak_app, depth=5)
    assert len(queries) > 10
    analyst = [ask(leak_app, query, as_="analyst") for query in queries]
    assert any('"customers":{' in answer for answer in analyst)  # the walk reached customers
    assert leaked(leak_app, *analyst, caplog.text) == []
    admin = [ask(leak_app, query, as_="admin") for query in queries]
    assert len(leaked(leak_app, *admin)) > 20


def customer_fields(app, depth: int = 3) -> str:
    return selection(app.kehu.schema.graphql_schema.type_map["Customer"], depth)


def test_every_customer_field_including_plugin_fields_is_masked(leak_app):
    fields = customer_fields(leak_app)
    first = leak_app.customer_ids[:5]
    from kehu.schema import to_global_id

    queries = [
        ("{ customers(first: 100) { edges { node " + fields + " } } }", None),
        (
            "query($id: ID!) { node(id: $id) { ... on Customer " + fields + " } }",
            {"id": to_global_id("Customer", first[0])},
        ),
        (
            "query($id: ID!) { a: customer(id: $id) " + fields + " b: customer(id: $id) { e: email p: phone } }",
            {"id": to_global_id("Customer", first[1])},
        ),
        ("{ interactions(first: 100) { edges { node { customer { email phone name } } } } }", None),
        (
            "{ accountOwners(first: 50) { edges { node { customers(first: 100) { edges { node { email phone } } } } } } }",
            None,
        ),
        (
            "fragment P on Customer { email ...Q } fragment Q on Customer { phone } "
            "{ customers(first: 100) { edges { node { ...P } } } }",
            None,
        ),
    ]
    for query, variables in queries:
        analyst = ask(leak_app, query, variables, as_="analyst")
        assert leaked(leak_app, analyst) == [], query
        assert leaked(leak_app, ask(leak_app, query, variables, as_="admin")), query


def test_search_by_clear_values_tells_an_analyst_nothing(leak_app):
    query = "query($s: String) { customers(filter: {search: $s}) { totalCount edges { node { id } } } }"
    counts = set()
    for secret in leak_app.secrets[:40] + ["+86 100 0000 0000", "nobody@nowhere.example"]:
        body = json.loads(ask(leak_app, query, {"s": secret}, as_="analyst"))
        counts.add(body["data"]["customers"]["totalCount"])
    assert counts == {0}


def test_ordering_by_a_masked_field_is_refused(leak_app, caplog):
    caplog.set_level(logging.DEBUG)
    body = ask(
        leak_app, "{ customers(orderBy: {field: NAME, direction: DESC}) { edges { node { id } } } }", as_="analyst"
    )
    assert "MASKED_FIELD" in body


def test_export_as_analyst_is_masked(leak_app):
    from kehu.access import Viewer
    from kehu.cli.transfer import export_customers

    owner = leak_app.accounts["analyst"]
    viewer = Viewer(owner=owner, permissions=leak_app.kehu.permissions_for(owner.role))

    async def export():
        out = io.StringIO()
        await export_customers(leak_app.kehu, out, format="csv", viewer=viewer)
        return out.getvalue()

    text = leak_app.run(export)
    assert text.count("\n") > 100 and leaked(leak_app, text) == []


def test_writes_and_reveals_refused_to_an_analyst_echo_nothing(leak_app, caplog):
    from kehu.schema import to_global_id

    caplog.set_level(logging.DEBUG)
    customer = to_global_id("Customer", leak_app.customer_ids[0])
    mutation = """mutation($id: ID!) {
      revealField(input: {customerId: $id, field: "phone", reason: "let me see it please"}) { value userErrors { message } }
      updateCustomer(input: {id: $id, name: "x"}) { customer { phone } userErrors { message } } }"""
    body = ask(leak_app, mutation, {"id": customer}, as_="analyst")
    assert "errors" in body and leaked(leak_app, body, caplog.text) == []


# --------------------------------------------------------------------------- property: any query shape

PERSONAL = ("name", "email", "phone", "address", "attributes")
alias = st.from_regex(r"[a-z][a-zA-Z0-9]{0,6}", fullmatch=True)


@st.composite
def customer_selection(draw, depth=0):
    picked = draw(st.lists(st.sampled_from(PERSONAL + ("id",)), min_size=1, max_size=6))
    parts = []
    for name in picked:
        text = f"{draw(alias)}: {name}" if draw(st.booleans()) else name
        wrap = draw(st.sampled_from(("plain", "inline", "named")))
        if wrap == "inline":
            text = "... on Customer { " + text + " }"
        parts.append((wrap, text))
    if depth < 2 and draw(st.booleans()):
        inner = draw(customer_selection(depth + 1))
        nested = draw(
            st.sampled_from(
                (
                    "interactions(first: 3) { edges { node { customer { %s } } } }",
                    "owner { customers(first: 5) { edges { node { %s } } } }",
                )
            )
        )
        parts.append(("plain", nested % inner))
    fragments = [t for w, t in parts if w == "named"]
    body = " ".join(t for w, t in parts if w != "named")
    if fragments:
        body += " ...Personal"
        draw_fragments.append("fragment Personal on Customer { " + " ".join(fragments) + " }")
    return body


draw_fragments: list[str] = []


@st.composite
def documents(draw, customer_ids):
    draw_fragments.clear()
    fields = draw(customer_selection())
    entry = draw(st.sampled_from(("customers", "node", "customer", "interactions", "owners")))
    if entry == "customers":
        first = draw(st.integers(min_value=1, max_value=100))
        query = f"{{ customers(first: {first}) {{ edges {{ node {{ {fields} }} }} }} }}"
    elif entry in ("node", "customer"):
        from kehu.schema import to_global_id

        gid = to_global_id("Customer", draw(st.sampled_from(customer_ids)))
        inner = f"... on Customer {{ {fields} }}" if entry == "node" else fields
        query = f'{{ {draw(alias)}: {entry}(id: "{gid}") {{ {inner} }} }}'
    elif entry == "interactions":
        query = f"{{ interactions(first: 50) {{ edges {{ node {{ customer {{ {fields} }} }} }} }} }}"
    else:
        query = f"{{ accountOwners(first: 10) {{ edges {{ node {{ customers(first: 20) {{ edges {{ node {{ {fields} }} }} }} }} }} }} }}"
    fragments = sorted(set(draw_fragments))
    return " ".join([query, *fragments[:1]])


def test_no_generated_query_shape_leaks_a_masked_value(leak_app, caplog):
    caplog.set_level(logging.DEBUG, logger="kehu")
    ran = []

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(documents(leak_app.customer_ids))
    def property_(document):
        for role in ROLES_MASKED:
            body = ask(leak_app, document, as_=role)
            assert leaked(leak_app, body, caplog.text) == [], (document, body[:500])
            ran.append(json.loads(body).get("data") is not None)

    property_()
    assert sum(ran) > 30  # most generated documents were valid and answered
