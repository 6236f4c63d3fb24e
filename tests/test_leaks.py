"""The leak suite: an AGENT tries every read and write path to learn about another
owner's customer, and learns nothing — not even whether it exists.

The world: ``agent`` owns Alice and Bob. ``agent2`` (same team) owns Carol, a big
ORGANIZATION customer with a secret purchase, and Frank (archived). ``agent_south``
owns Dave. Eve has no owner. Each foreign customer is reachable by a field value the
agent might guess (name, e-mail, phone, tag, region, kind).
"""

import datetime as dt
from decimal import Decimal

import pytest
from seed import add_customer, add_interaction, error_code, gid, owner_gid, snapshot

from kehu.models import Customer, CustomerKind, InteractionKind

T0 = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
MISSING_CUSTOMER = gid("Customer", 987_654)
MISSING_INTERACTION = gid("Interaction", 987_654)

CUSTOMER_FIELDS = "id name email phone region tags owner { email }"


@pytest.fixture
def world(app):
    def customer(owner, name, **fields):
        return add_customer(app, owner, name, **fields)

    ids = {
        "alice": customer(
            "agent",
            "Alice Own",
            email="alice@own.test",
            phone="+86 10 1111 2222",
            region="east",
            tags=["vip"],
            industry="retail",
            last_interaction_at=T0,
        ),
        "bob": customer("agent", "Bob Own", email="bob@own.test", region="east"),
        "carol": customer(
            "agent2",
            "Carol Secret",
            email="carol@secret.test",
            phone="+86 10 9999 8888",
            region="west",
            tags=["whale"],
            kind=CustomerKind.ORGANIZATION,
            last_interaction_at=T0 + dt.timedelta(days=30),
        ),
        "frank": customer("agent2", "Frank Gone", email="frank@secret.test", region="west", archived_at=T0),
        "dave": customer(
            "agent_south",
            "Dave South",
            email="dave@south.test",
            region="south",
            tags=["vip", "whale"],
            last_interaction_at=T0 - dt.timedelta(days=30),
        ),
        "eve": customer(None, "Eve Nobody", email="eve@nobody.test", region="west"),
    }
    interactions = {
        "alice_call": add_interaction(app, ids["alice"], "agent", subject="intro call", occurred_at=T0),
        "carol_purchase": add_interaction(
            app,
            ids["carol"],
            "agent2",
            kind=InteractionKind.PURCHASE,
            subject="secret deal",
            amount=Decimal("50000.00"),
            occurred_at=T0 + dt.timedelta(days=30),
        ),
        "dave_visit": add_interaction(
            app,
            ids["dave"],
            "agent_south",
            kind=InteractionKind.VISIT,
            subject="site visit",
            occurred_at=T0 - dt.timedelta(days=30),
        ),
    }
    out = {name: gid("Customer", pk) for name, pk in ids.items()}
    out.update({name: gid("Interaction", pk) for name, pk in interactions.items()})
    return out


def names(connection):
    return [e["node"]["name"] for e in connection["edges"]]


CUSTOMERS = """query($filter: CustomerFilterInput, $orderBy: CustomerOrder, $first: Int, $after: String) {
  customers(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    edges { cursor node { name } }
    pageInfo { hasNextPage endCursor }
  }
}"""


# --------------------------------------------------------------------------- root connection, counts


def test_agent_total_count_counts_only_own_customers(app, world):
    data = app.data(CUSTOMERS, {"orderBy": {"field": "NAME"}}, as_="agent")["customers"]
    assert data["totalCount"] == 2
    assert names(data) == ["Alice Own", "Bob Own"]
    assert data["pageInfo"]["hasNextPage"] is False


def test_agent_page_boundaries_follow_own_customers_only(app, world):
    first = app.data(CUSTOMERS, {"orderBy": {"field": "NAME"}, "first": 1}, as_="agent")["customers"]
    assert names(first) == ["Alice Own"] and first["pageInfo"]["hasNextPage"] is True
    second = app.data(
        CUSTOMERS, {"orderBy": {"field": "NAME"}, "first": 1, "after": first["pageInfo"]["endCursor"]}, as_="agent"
    )["customers"]
    assert names(second) == ["Bob Own"] and second["pageInfo"]["hasNextPage"] is False
    third = app.data(
        CUSTOMERS, {"orderBy": {"field": "NAME"}, "first": 5, "after": second["pageInfo"]["endCursor"]}, as_="agent"
    )["customers"]
    assert third == {"totalCount": 2, "edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}


# (filter, what the agent sees, foreign customers the same filter finds for an admin)
FILTERS = [
    ("search_foreign_name", {"search": "carol"}, [], ["Carol Secret"]),
    ("search_foreign_email", {"search": "carol@secret.test"}, [], ["Carol Secret"]),
    ("search_foreign_email_domain", {"search": "secret.test"}, [], ["Carol Secret"]),
    ("search_foreign_phone", {"search": "9999 8888"}, [], ["Carol Secret"]),
    (
        "search_matching_own_and_foreign",
        {"search": "@"},
        ["Alice Own", "Bob Own"],
        ["Carol Secret", "Dave South", "Eve Nobody"],
    ),
    ("search_like_wildcard", {"search": "%"}, [], []),
    ("foreign_tag", {"tags": ["whale"]}, [], ["Carol Secret", "Dave South"]),
    ("tag_shared_with_foreign", {"tags": ["vip"]}, ["Alice Own"], ["Dave South"]),
    ("foreign_region", {"regions": ["west"]}, [], ["Carol Secret", "Eve Nobody"]),
    ("foreign_kind", {"kinds": ["ORGANIZATION"]}, [], ["Carol Secret"]),
    ("foreign_owner", {"ownerIds": ["@agent2"]}, [], ["Carol Secret"]),
    ("unassigned", {"unassigned": True}, [], ["Eve Nobody"]),
    ("archived_only", {"archived": True}, [], ["Frank Gone"]),
    (
        "archived_and_active",
        {"archived": None},
        ["Alice Own", "Bob Own"],
        ["Carol Secret", "Dave South", "Eve Nobody", "Frank Gone"],
    ),
    (
        "last_interaction_window",
        {"lastInteractionAfter": (T0 + dt.timedelta(days=1)).isoformat()},
        [],
        ["Carol Secret"],
    ),
]


@pytest.mark.parametrize("filter_, agent_sees, admin_also_sees", [pytest.param(*f[1:], id=f[0]) for f in FILTERS])
def test_agent_filter_on_foreign_fields_reveals_nothing(app, world, filter_, agent_sees, admin_also_sees):
    filter_ = {
        k: [owner_gid(app, x[1:]) if isinstance(x, str) and x.startswith("@") else x for x in v]
        if isinstance(v, list)
        else v
        for k, v in filter_.items()
    }
    variables = {"filter": filter_, "orderBy": {"field": "NAME"}, "first": 100}
    agent = app.data(CUSTOMERS, variables, as_="agent")["customers"]
    assert names(agent) == agent_sees
    assert agent["totalCount"] == len(agent_sees)
    # The filter does match foreign customers: the agent is shown none of them.
    admin = app.data(CUSTOMERS, variables, as_="admin")["customers"]
    assert names(admin) == sorted(agent_sees + admin_also_sees)


@pytest.mark.parametrize("field", ["NAME", "CREATED_AT", "UPDATED_AT", "LAST_INTERACTION_AT"])
@pytest.mark.parametrize("direction", ["ASC", "DESC"])
def test_agent_ordering_by_any_field_reveals_nothing(app, world, field, direction):
    order = {"field": field, "direction": direction}
    agent = app.data(CUSTOMERS, {"orderBy": order}, as_="agent")["customers"]
    # The agent's list is exactly the admin's list restricted to the agent's customers:
    # no gaps, no foreign rows, cursors counting own customers only.
    own_only = app.data(CUSTOMERS, {"orderBy": order, "filter": {"ownerIds": [owner_gid(app, "agent")]}}, as_="admin")[
        "customers"
    ]
    assert agent == own_only
    assert sorted(names(agent)) == ["Alice Own", "Bob Own"]


def test_manager_filters_never_reach_another_team(app, world):
    variables = {"filter": {"search": "dave@south.test", "archived": None}}
    data = app.data(CUSTOMERS, variables, as_="manager")["customers"]
    assert data["totalCount"] == 0 and data["edges"] == []
    team = app.data(CUSTOMERS, {"orderBy": {"field": "NAME"}}, as_="manager")["customers"]
    assert names(team) == ["Alice Own", "Bob Own", "Carol Secret"]


# --------------------------------------------------------------------------- node(id), customer(id)


def test_agent_cannot_see_foreign_customer_through_node(app, world):
    query = "query($id: ID!) { node(id: $id) { id ... on Customer { name email } } }"
    for foreign in ("carol", "frank", "dave", "eve"):
        assert (
            app.gql(query, {"id": world[foreign]}, as_="agent")
            == app.gql(query, {"id": MISSING_CUSTOMER}, as_="agent")
            == {"data": {"node": None}}
        )
    assert app.data(query, {"id": world["alice"]}, as_="agent")["node"]["name"] == "Alice Own"


def test_agent_cannot_see_foreign_customer_through_customer_field(app, world):
    query = "query($id: ID!) { customer(id: $id) { name interactions { totalCount } } }"
    for foreign in ("carol", "frank", "dave", "eve"):
        assert (
            app.gql(query, {"id": world[foreign]}, as_="agent")
            == app.gql(query, {"id": MISSING_CUSTOMER}, as_="agent")
            == {"data": {"customer": None}}
        )


def test_agent_cannot_see_foreign_interaction_through_node(app, world):
    query = "query($id: ID!) { node(id: $id) { id ... on Interaction { subject customer { name } } } }"
    for foreign in ("carol_purchase", "dave_visit"):
        assert (
            app.gql(query, {"id": world[foreign]}, as_="agent")
            == app.gql(query, {"id": MISSING_INTERACTION}, as_="agent")
            == {"data": {"node": None}}
        )
    own = app.data(query, {"id": world["alice_call"]}, as_="agent")["node"]
    assert own == {"id": world["alice_call"], "subject": "intro call", "customer": {"name": "Alice Own"}}


def test_manager_cannot_see_other_teams_customer_through_node(app, world):
    query = "query($id: ID!) { node(id: $id) { id } customer(id: $id) { id } }"
    assert app.gql(query, {"id": world["dave"]}, as_="manager") == app.gql(
        query, {"id": MISSING_CUSTOMER}, as_="manager"
    )
    assert app.data(query, {"id": world["carol"]}, as_="manager")["node"] == {"id": world["carol"]}


# --------------------------------------------------------------------------- nested fields


def test_agent_sees_no_customers_of_another_owner_through_account_owner(app, world):
    query = """query($id: ID!) {
      node(id: $id) { ... on AccountOwner { email customers { totalCount edges { node { name } } } } }
    }"""
    data = app.data(query, {"id": owner_gid(app, "agent2")}, as_="agent")
    assert data["node"] == {"email": "agent2@example.com", "customers": {"totalCount": 0, "edges": []}}
    admin = app.data(query, {"id": owner_gid(app, "agent2")}, as_="admin")
    assert admin["node"]["customers"]["totalCount"] == 1  # Carol (Frank is archived)


def test_agent_sees_only_own_customers_through_the_owner_directory(app, world):
    data = app.data(
        "{ accountOwners(first: 100) { edges { node { email customers { totalCount edges { node { name } } } } } } }",
        as_="agent",
    )
    counts = {e["node"]["email"]: e["node"]["customers"] for e in data["accountOwners"]["edges"]}
    assert counts["agent@example.com"]["totalCount"] == 2
    assert sorted(names(counts["agent@example.com"])) == ["Alice Own", "Bob Own"]
    assert {email: c["totalCount"] for email, c in counts.items() if email != "agent@example.com"} == {
        f"{n}@example.com": 0 for n in ("admin", "manager", "agent2", "manager_south", "agent_south", "analyst")
    }


def test_agent_sees_own_customers_through_me(app, world):
    data = app.data("{ me { customers { totalCount edges { node { name } } } } }", as_="agent")
    assert data["me"]["customers"]["totalCount"] == 2


def test_customer_interactions_list_only_that_customers_interactions(app, world):
    data = app.data(
        "query($id: ID!) { customer(id: $id) { interactions { totalCount edges { node { subject } } } } }",
        {"id": world["alice"]},
        as_="agent",
    )
    assert data["customer"]["interactions"] == {"totalCount": 1, "edges": [{"node": {"subject": "intro call"}}]}


def test_interaction_customer_and_owner_resolve_for_the_viewer(app, world):
    data = app.data(
        "{ interactions { edges { node { subject customer { name owner { email } } owner { email } } } } }",
        as_="agent",
    )
    assert data["interactions"]["edges"] == [
        {
            "node": {
                "subject": "intro call",
                "customer": {"name": "Alice Own", "owner": {"email": "agent@example.com"}},
                "owner": {"email": "agent@example.com"},
            }
        }
    ]


def test_agent_loses_a_customer_and_its_history_when_reassigned(app, world):
    app.data(
        "mutation($c: ID!, $o: ID) { assignOwner(input: {customerId: $c, ownerId: $o}) { userErrors { code } } }",
        {"c": world["alice"], "o": owner_gid(app, "agent2")},
        as_="manager",
    )
    query = """query($c: ID!, $i: ID!) {
      customer(id: $c) { name }
      node(id: $i) { id }
      interactions { totalCount }
      customers { totalCount }
    }"""
    data = app.data(query, {"c": world["alice"], "i": world["alice_call"]}, as_="agent")
    assert data == {"customer": None, "node": None, "interactions": {"totalCount": 0}, "customers": {"totalCount": 1}}


# --------------------------------------------------------------------------- interactions connection


INTERACTIONS = """query($filter: InteractionFilterInput) {
  interactions(filter: $filter) { totalCount edges { node { subject } } }
}"""


def test_agent_interactions_connection_lists_only_own_customers_interactions(app, world):
    data = app.data(INTERACTIONS, {}, as_="agent")["interactions"]
    assert data == {"totalCount": 1, "edges": [{"node": {"subject": "intro call"}}]}
    assert app.data(INTERACTIONS, {}, as_="admin")["interactions"]["totalCount"] == 3


@pytest.mark.parametrize(
    "filter_",
    [
        {"customerIds": ["carol"]},
        {"customerIds": ["dave"]},
        {"kinds": ["PURCHASE"]},
        {"ownerIds": ["@agent2"]},
        {"occurredAfter": (T0 + dt.timedelta(days=1)).isoformat()},
    ],
    ids=["foreign_customer", "other_team_customer", "foreign_kind", "foreign_owner", "foreign_time_window"],
)
def test_agent_interaction_filters_reveal_nothing(app, world, filter_):
    def resolve(value):
        if isinstance(value, str) and value.startswith("@"):
            return owner_gid(app, value[1:])
        return world.get(value, value) if isinstance(value, str) else value

    filter_ = {k: [resolve(x) for x in v] if isinstance(v, list) else v for k, v in filter_.items()}
    data = app.data(INTERACTIONS, {"filter": filter_}, as_="agent")["interactions"]
    assert data == {"totalCount": 0, "edges": []}
    assert app.data(INTERACTIONS, {"filter": filter_}, as_="admin")["interactions"]["totalCount"] == 1


def test_agent_filtering_interactions_by_foreign_customer_equals_nonexistent_one(app, world):
    foreign = app.gql(INTERACTIONS, {"filter": {"customerIds": [world["carol"]]}}, as_="agent")
    missing = app.gql(INTERACTIONS, {"filter": {"customerIds": [MISSING_CUSTOMER]}}, as_="agent")
    assert foreign == missing == {"data": {"interactions": {"totalCount": 0, "edges": []}}}


# --------------------------------------------------------------------------- mutations on foreign customers


MUTATIONS = {
    "updateCustomer": 'updateCustomer(input: {id: $id, name: "Pwned"}) { customer { id } userErrors { field code message } }',
    "archiveCustomer": "archiveCustomer(input: {id: $id}) { customer { id } userErrors { field code message } }",
    "assignOwner": "assignOwner(input: {customerId: $id, ownerId: $me}) { customer { id } userErrors { field code message } }",
    "logInteraction": (
        'logInteraction(input: {customerId: $id, kind: NOTE, notes: "probe"})'
        " { interaction { id } userErrors { field code message } }"
    ),
}

FOREIGN_TARGETS = [
    ("agent", "carol"),  # same team, other agent
    ("agent", "frank"),  # archived: must not answer ARCHIVED
    ("agent", "dave"),  # other team
    ("agent", "eve"),  # unassigned
    ("manager", "dave"),  # other team
    ("manager_south", "alice"),
]


@pytest.mark.parametrize("role, target", FOREIGN_TARGETS, ids=[f"{r}-{t}" for r, t in FOREIGN_TARGETS])
def test_mutations_on_foreign_customer_answer_like_a_nonexistent_one(app, world, role, target):
    before = snapshot(app)
    for mutation, selection in MUTATIONS.items():
        uses_me = "$me" in selection
        document = f"mutation($id: ID!{', $me: ID' if uses_me else ''}) {{ result: {selection} }}"
        extra = {"me": owner_gid(app, role)} if uses_me else {}
        foreign = app.gql(document, {"id": world[target], **extra}, as_=role)
        missing = app.gql(document, {"id": MISSING_CUSTOMER, **extra}, as_=role)
        assert foreign == missing, mutation
        if foreign.get("errors"):
            # Agents may not archive or assign at all: refused before any lookup.
            assert (role, mutation, error_code(foreign)) in {
                ("agent", "archiveCustomer", "FORBIDDEN"),
                ("agent", "assignOwner", "FORBIDDEN"),
            }
        else:
            assert [e["code"] for e in foreign["data"]["result"]["userErrors"]] == ["NOT_FOUND"], mutation
    assert snapshot(app) == before


def test_update_of_foreign_customer_changes_nothing_that_admin_can_see(app, world):
    app.gql(
        'mutation($id: ID!) { updateCustomer(input: {id: $id, name: "Pwned", email: "x@evil.test"}) { customer { id } } }',
        {"id": world["carol"]},
        as_="agent",
    )
    carol = app.data("query($id: ID!) { customer(id: $id) { name email } }", {"id": world["carol"]}, as_="admin")
    assert carol["customer"] == {"name": "Carol Secret", "email": "carol@secret.test"}


def test_error_messages_do_not_name_foreign_customers(app, world):
    body = app.gql(
        "mutation($id: ID!) { logInteraction(input: {customerId: $id, kind: NOTE}) { userErrors { message } } }",
        {"id": world["carol"]},
        as_="agent",
    )
    text = str(body)
    assert "Carol" not in text and "secret" not in text and "agent2" not in text


# --------------------------------------------------------------------------- unit level: the enforcement point


def test_enforcement_point_fails_closed(app, world):
    """No viewer sees nothing; a manager without a team does not see everyone's."""
    from kehu.access import Viewer, visible_customers, visible_interactions

    agent = Viewer(owner=app.accounts["agent"])
    assert app.run(lambda: visible_customers(agent).count()) == 2
    assert app.run(lambda: visible_customers(None).count()) == 0
    assert app.run(lambda: visible_interactions(None).count()) == 0
    manager_without_team = Viewer(owner=app.accounts["manager"])
    app.accounts["manager"].team = ""
    try:
        # A manager with no team sees only customers they own themselves, not everyone's.
        assert app.run(lambda: visible_customers(manager_without_team).count()) == 0
    finally:
        app.accounts["manager"].team = "north"
    assert app.run(lambda: Customer.all().count()) == 6


def test_rows_of_visible_customers_match_the_subquery_for_every_role(app, world):
    """``of_visible_customers`` answers as ``customer_id IN visible_customer_ids``
    for every role (and no viewer); for those who see everyone it leaves the
    customer table out of the query, so its cost does not grow with the base."""
    from kehu.access import Viewer, customer_scope, of_visible_customers, visible_customer_ids
    from kehu.models import Interaction

    viewers = [None] + [Viewer(owner=account) for account in app.accounts.values()]
    assert any(customer_scope(v).everyone for v in viewers) and not all(customer_scope(v).everyone for v in viewers)
    for viewer in viewers:
        scoped = of_visible_customers(Interaction, viewer)
        expected = Interaction.filter(customer_id__in=visible_customer_ids(viewer))
        assert sorted(app.run(lambda q=scoped: q.values_list("id", flat=True))) == sorted(
            app.run(lambda q=expected: q.values_list("id", flat=True))
        )
        sql = scoped.sql()
        assert ("kehu_customer" not in sql) == customer_scope(viewer).everyone, sql
