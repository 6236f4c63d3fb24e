"""Schema-driven fuzzing: random queries and mutations for every role, with every
built-in plugin enabled.

Documents come from hypothesis-graphql, one root field at a time (so they stay
under the query limits and reach deep into each field), with argument values drawn
from real global IDs and garbage IDs, cursors, unicode, very long strings and
out-of-range numbers. Before sending, every selection set gets ``__typename`` and
``id`` added, so that each Customer, Interaction and Complaint in a response can be
checked against the database: whatever the document, a viewer receives only
records its role may see.

Each response must be: not a 5xx, free of INTERNAL_ERROR, and within the access
rules. Deterministic (a fixed seed per role) and bounded (``EXAMPLES``) for CI.
"""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal
from typing import Any

import graphql
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

hypothesis_graphql = pytest.importorskip("hypothesis_graphql")
from hypothesis_graphql import nodes  # noqa: E402

from kehu.ids import from_global_id, to_global_id  # noqa: E402
from kehu.models import AuditEntry, Customer, Interaction, InteractionKind  # noqa: E402
from kehu.testing import KehuHarness, database_url  # noqa: E402

PLUGINS = ("segmentation", "loyalty", "complaints", "surveys")
SETTINGS = {
    "segmentation": {"recompute_interval_minutes": 0},
    "loyalty": {"schedule_hours": 0},
    "complaints": {"scheduler_interval_minutes": 0},
}
# Rate limiting off: the fuzzer sends hundreds of requests inside one frozen minute.
CONFIG = {"limits": {"rate_per_minute": 0}}
ROLES = ("admin", "manager", "agent", "analyst", None)
# Mutations that would end the session the rest of the run depends on.
SKIP_MUTATIONS = {"logout"}
QUERY_EXAMPLES = 80
MUTATION_EXAMPLES = 60


# --------------------------------------------------------------------------- data


async def _seed(app: KehuHarness) -> dict[str, list[str]]:
    """Customers of several owners and teams (and one without an owner), with
    interactions, so that every visibility rule has something to hide."""
    ids: dict[str, list[str]] = {"Customer": [], "Interaction": [], "AccountOwner": []}
    owners = ["agent", "agent2", "agent_south", "manager", None]
    for i, owner in enumerate(owners * 2):
        customer = await Customer.create(
            name=f"Fuzz {i}",
            owner=app.accounts[owner] if owner else None,
            tags=["vip"] if i % 2 else [],
            email=f"fuzz{i}@example.com",
            attributes={"n": i},
        )
        ids["Customer"].append(to_global_id("Customer", customer.id))
        for kind, amount in ((InteractionKind.PURCHASE, Decimal("120.50")), (InteractionKind.CALL, None)):
            interaction = await Interaction.create(
                customer=customer,
                owner=app.accounts[owner or "admin"],
                kind=kind,
                amount=amount,
                occurred_at=app.clock.now() - dt.timedelta(days=i + 1),
            )
            ids["Interaction"].append(to_global_id("Interaction", interaction.id))
    ids["AccountOwner"] = [to_global_id("AccountOwner", o.id) for o in app.accounts.values()]
    return ids


def _seed_plugins(app: KehuHarness, ids: dict[str, list[str]]) -> None:
    """Plugin records, made the way a user makes them (GraphQL, as the admin)."""
    customer = ids["Customer"][1]  # agent2's
    body = app.data(
        """mutation($c: ID!) { fileComplaint(input: {customerId: $c, channel: HOTLINE, category: "billing",
             description: "charged twice"}) { complaint { id } userErrors { message } } }""",
        {"c": customer},
        as_="admin",
    )
    ids["Complaint"] = [body["fileComplaint"]["complaint"]["id"]]
    body = app.data('mutation { createReward(input: {name: "Mug", pointsCost: 10}) { reward { id } } }', as_="admin")
    ids["Reward"] = [body["createReward"]["reward"]["id"]]
    app.data(
        """mutation($c: ID!) { awardPoints(input: {customerId: $c, points: 100, reason: "welcome",
             idempotencyKey: "fuzz-1"}) { userErrors { message } } }""",
        {"c": customer},
        as_="admin",
    )
    app.data(
        """mutation($c: [ID!]) { createSegment(input: {key: "fuzzers", name: "Fuzzers", customerIds: $c})
             { userErrors { message } } }""",
        {"c": ids["Customer"][:3]},
        as_="admin",
    )


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    with database_url(tmp_path_factory.mktemp("fuzz")) as url:
        with KehuHarness(url, enabled=PLUGINS, settings=SETTINGS, config=CONFIG) as app:
            app.ids = app.run(_seed, app)
            _seed_plugins(app, app.ids)
            yield app


# --------------------------------------------------------------------------- strategies


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _bad_ids() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(
            [
                "",
                "x",
                "====",
                _b64("Customer:"),
                _b64("Customer:-1"),
                _b64("Customer:0"),
                _b64("Customer:1.5"),
                _b64("Customer:99999999999999999999999"),
                _b64("Customer:" + "9" * 400),
                _b64("Nope:1"),
                _b64("Interaction:2147483648"),
                _b64("AccountOwner:-9223372036854775809"),
                _b64("\xff:1"),
                "Q3VzdG9tZXI6MQ" * 20,
                "%00",
                "\u0000",
            ]
        ),
        st.integers(min_value=-(2**70), max_value=2**70).map(lambda n: _b64(f"Customer:{n}")),
        st.text(max_size=30),
    )


def _cursors() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(min_value=-(2**64), max_value=2**64).map(lambda n: _b64(f"o:{n}")),
        st.sampled_from(["", "o:1", _b64("o:"), _b64("o:1e9"), _b64("x:1"), "!!!"]),
    )


def _strings() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=40),
        st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=12),
        st.sampled_from(
            [
                "",
                " ",
                "a" * 5000,
                "\u202e\u0000\x1b[31m",
                "🙂" * 100,
                "NaN",
                "Infinity",
                "1e400",
                "-0",
                "0001-01-01T00:00:00",
                "9999-12-31T23:59:59Z",
                "agent@example.com",
                "correct-horse-battery",
                '{"a": 1, "a": 2}',
            ]
        ),
        _cursors(),
    )


def _ints() -> st.SearchStrategy[int]:
    # GraphQL's Int is 32-bit: larger literals must be refused by validation, not crash.
    return st.one_of(
        st.integers(min_value=-5, max_value=200),
        st.sampled_from([0, -1, 2**31 - 1, -(2**31), 100_000, 2**31, 2**63, -(2**80)]),
    )


def _json_values() -> st.SearchStrategy[Any]:
    return st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)),
        max_leaves=12,
    )


def _json_node(value: Any) -> graphql.ValueNode:
    if value is None:
        return graphql.NullValueNode()
    if isinstance(value, bool):
        return graphql.BooleanValueNode(value=value)
    if isinstance(value, int):
        return graphql.IntValueNode(value=str(value))
    if isinstance(value, str):
        return graphql.StringValueNode(value=value)
    if isinstance(value, list):
        return graphql.ListValueNode(values=tuple(_json_node(v) for v in value))
    return graphql.ObjectValueNode(
        fields=tuple(
            graphql.ObjectFieldNode(name=graphql.NameNode(value=f"k{i}"), value=_json_node(v))
            for i, v in enumerate(value.values())
        )
    )


def _scalars(ids: dict[str, list[str]]) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    real_ids = [i for values in ids.values() for i in values]
    return {
        "ID": st.one_of(st.sampled_from(real_ids), _bad_ids()).map(nodes.String),
        "String": _strings().map(nodes.String),
        "Int": _ints().map(nodes.Int),
        "Float": st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([1e308, -0.0])).map(
            nodes.Float
        ),
        "Date": st.one_of(
            st.dates().map(lambda d: d.isoformat()), st.sampled_from(["0000-01-01", "2024-02-30", ""])
        ).map(nodes.String),
        "DateTime": st.one_of(
            st.datetimes(timezones=st.just(dt.UTC)).map(lambda d: d.isoformat()),
            st.sampled_from(["0000-01-01T00:00:00Z", "9999-12-31T23:59:59+14:00", "yesterday", "2026-13-01T00:00:00"]),
        ).map(nodes.String),
        "Decimal": st.one_of(
            st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**6), max_value=10**6).map(str),
            st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "sNaN", "0.001", "abc", ""]),
        ).map(nodes.String),
        "JSON": _json_values().map(_json_node),
    }


# --------------------------------------------------------------------------- making responses checkable


def _named(type_: graphql.GraphQLType) -> graphql.GraphQLNamedType:
    return graphql.get_named_type(type_)


def _field(name: str) -> graphql.FieldNode:
    return graphql.FieldNode(name=graphql.NameNode(value=name))


def _augment(
    schema: graphql.GraphQLSchema, selection_set: graphql.SelectionSetNode, parent: graphql.GraphQLNamedType
) -> None:
    """Add ``__typename`` (and ``id`` where the type has one) to every selection set."""
    for selection in selection_set.selections:
        if isinstance(selection, graphql.FieldNode) and selection.selection_set is not None:
            definition = getattr(parent, "fields", {}).get(selection.name.value)
            if definition is not None:
                _augment(schema, selection.selection_set, _named(definition.type))
        elif isinstance(selection, graphql.InlineFragmentNode):
            target = schema.get_type(selection.type_condition.name.value) if selection.type_condition else parent
            _augment(schema, selection.selection_set, target)
    extra: list[graphql.SelectionNode] = [_field("__typename")]
    if isinstance(parent, (graphql.GraphQLObjectType, graphql.GraphQLInterfaceType)) and "id" in parent.fields:
        extra.append(_field("id"))
    elif isinstance(parent, graphql.GraphQLUnionType) and any(t.name == "Customer" for t in parent.types):
        extra.append(
            graphql.InlineFragmentNode(
                type_condition=graphql.NamedTypeNode(name=graphql.NameNode(value="Customer")),
                selection_set=graphql.SelectionSetNode(selections=(_field("id"),)),
            )
        )
    # graphql-core 3.3's AST nodes are frozen; these are our own freshly parsed ones.
    object.__setattr__(selection_set, "selections", tuple(selection_set.selections) + tuple(extra))


def checkable(schema: graphql.GraphQLSchema, document: str) -> str:
    ast = graphql.parse(document)
    for definition in ast.definitions:
        if isinstance(definition, graphql.OperationDefinitionNode):
            root = schema.mutation_type if definition.operation is graphql.OperationType.MUTATION else schema.query_type
            _augment(schema, definition.selection_set, root)
    return graphql.print_ast(ast)


def returned(data: Any, out: dict[str, set[int]]) -> dict[str, set[int]]:
    """``{type name: {pk, ...}}`` of every object in a response."""
    if isinstance(data, dict):
        type_name, gid = data.get("__typename"), data.get("id")
        if type_name and isinstance(gid, str):
            try:
                out.setdefault(type_name, set()).add(from_global_id(gid)[1])
            except Exception:
                pass
        for value in data.values():
            returned(value, out)
    elif isinstance(data, list):
        for value in data:
            returned(value, out)
    return out


# --------------------------------------------------------------------------- checks


async def _visible_customer_pks(app: KehuHarness, role: str | None) -> set[int] | None:
    """What the access rules allow ``role`` to see (None: everything)."""
    if role in ("admin", "analyst"):
        return None
    if role is None:
        return set()
    owner = app.accounts[role]
    if role == "agent":
        return set(await Customer.filter(owner_id=owner.id).values_list("id", flat=True))
    return set(await Customer.filter(owner__team=owner.team).values_list("id", flat=True))


async def _customers_of(model_name: str, pks: set[int]) -> set[int]:
    if model_name == "Customer":
        return pks
    if model_name == "Interaction":
        return set(await Interaction.filter(id__in=pks).values_list("customer_id", flat=True))
    from kehu.plugins.complaints.models import Complaint

    return set(await Complaint.filter(id__in=pks).values_list("customer_id", flat=True))


def check_response(app: KehuHarness, role: str | None, document: str, response) -> None:
    assert response.status_code < 500, (document, response.status_code, response.text)
    if response.status_code != 200:
        return
    body = response.json()
    for error in body.get("errors") or ():
        code = (error.get("extensions") or {}).get("code")
        assert code != "INTERNAL_ERROR", (document, error)
        assert "Traceback" not in error.get("message", ""), (document, error)
    objects = returned(body.get("data"), {})

    async def check() -> None:
        allowed = await _visible_customer_pks(app, role)
        if allowed is None:
            return
        for model_name in ("Customer", "Interaction", "Complaint"):
            pks = objects.get(model_name, set())
            if pks:
                leaked = await _customers_of(model_name, pks) - allowed
                assert not leaked, (role, model_name, leaked, document, body)

    app.run(check)


# What a read-only role may still change: its own session, password and language.
OWN_ACCOUNT_OPERATIONS = ("login", "logout", "changePassword", "setMyLanguage")


def _audit_count(app: KehuHarness) -> int:
    return app.run(AuditEntry.exclude(operation__in=OWN_ACCOUNT_OPERATIONS).count)


# --------------------------------------------------------------------------- the tests


def _root_fields(schema: graphql.GraphQLSchema, mutation: bool) -> list[str]:
    root = schema.mutation_type if mutation else schema.query_type
    return sorted(name for name in root.fields if name not in SKIP_MUTATIONS)


def _documents(app: KehuHarness, mutation: bool) -> st.SearchStrategy[str]:
    schema = app.kehu.schema.graphql_schema
    make = hypothesis_graphql.mutations if mutation else hypothesis_graphql.queries
    scalars = _scalars(app.ids)
    per_field = {name: make(schema, fields=[name], custom_scalars=scalars) for name in _root_fields(schema, mutation)}
    return st.sampled_from(sorted(per_field)).flatmap(per_field.__getitem__)


FUZZ_SETTINGS = dict(
    derandomize=False,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "anonymous")
def test_fuzzed_queries_never_fail_internally_or_leak(fuzz_app, role):
    schema = fuzz_app.kehu.schema.graphql_schema

    @seed(ROLES.index(role))  # fixed, but a different document stream per role
    @settings(max_examples=QUERY_EXAMPLES, **FUZZ_SETTINGS)
    @given(document=_documents(fuzz_app, mutation=False))
    def run(document):
        document = checkable(schema, document)
        check_response(fuzz_app, role, document, fuzz_app.post(document, as_=role))

    run()


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "anonymous")
def test_fuzzed_mutations_never_fail_internally_or_leak(fuzz_app, role):
    schema = fuzz_app.kehu.schema.graphql_schema

    @seed(100 + ROLES.index(role))
    @settings(max_examples=MUTATION_EXAMPLES, **FUZZ_SETTINGS)
    @given(document=_documents(fuzz_app, mutation=True))
    def run(document):
        document = checkable(schema, document)
        before = _audit_count(fuzz_app) if role == "analyst" else None
        check_response(fuzz_app, role, document, fuzz_app.post(document, as_=role))
        if before is not None:  # a read-only role writes nothing but its own account's settings
            assert _audit_count(fuzz_app) == before, document

    run()
