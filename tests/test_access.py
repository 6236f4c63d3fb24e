"""Role × operation matrix over HTTP, and the role rules behind it.

Every core root query and mutation is tried by an anonymous caller and by each
role. A refused call answers with a stable error code and leaves every core table
exactly as it was; an allowed one is checked for the value it returns.
"""

import pytest
from seed import add_api_token, add_customer, add_interaction, error_code, gid, owner_gid, pk, snapshot

from kehu.models import Customer, DuplicatePair, DuplicateSource, OutboxEvent, OutboxKind, OutboxState
from kehu.testing import ACCOUNTS, TEST_PASSWORD

OK = "ok"
DENIED = "FORBIDDEN"
ANON = "UNAUTHENTICATED"

ROLES = ("anonymous", "admin", "manager", "agent", "analyst")

# What each caller gets from each core root field. This table is the specification.
#                      anonymous admin  manager  agent   analyst
MATRIX = {
    # queries
    "me": (ANON, OK, OK, OK, OK),
    "node": (ANON, OK, OK, OK, OK),
    "nodes": (ANON, OK, OK, OK, OK),
    "customer": (ANON, OK, OK, OK, OK),
    "customers": (ANON, OK, OK, OK, OK),
    "interactions": (ANON, OK, OK, OK, OK),
    "accountOwners": (ANON, OK, OK, OK, OK),
    "plugins": (ANON, OK, OK, OK, OK),
    "auditLog": (ANON, OK, DENIED, DENIED, DENIED),
    "apiTokens": (ANON, OK, DENIED, DENIED, DENIED),
    "outboxEvents": (ANON, OK, DENIED, DENIED, DENIED),
    "duplicateCandidates": (ANON, OK, OK, OK, OK),
    # mutations
    "login": (OK, OK, OK, OK, OK),
    "logout": (ANON, OK, OK, OK, OK),
    "changePassword": (ANON, OK, OK, OK, OK),
    "setMyLanguage": (ANON, OK, OK, OK, OK),
    "createCustomer": (ANON, OK, OK, OK, DENIED),
    "updateCustomer": (ANON, OK, OK, OK, DENIED),
    "archiveCustomer": (ANON, OK, OK, DENIED, DENIED),
    "assignOwner": (ANON, OK, OK, DENIED, DENIED),
    "logInteraction": (ANON, OK, OK, OK, DENIED),
    "logInteractions": (ANON, OK, OK, OK, DENIED),
    "createAccountOwner": (ANON, OK, DENIED, DENIED, DENIED),
    "updateAccountOwner": (ANON, OK, DENIED, DENIED, DENIED),
    "createApiToken": (ANON, OK, DENIED, DENIED, DENIED),
    "revokeApiToken": (ANON, OK, DENIED, DENIED, DENIED),
    "retryOutboxEvent": (ANON, OK, DENIED, DENIED, DENIED),
    "dismissDuplicateCandidate": (ANON, OK, OK, DENIED, DENIED),
    "reopenDuplicateCandidate": (ANON, OK, OK, DENIED, DENIED),
    "mergeCustomers": (ANON, OK, OK, DENIED, DENIED),
}

NEW_PASSWORD = "a-brand-new-passphrase"
USER_ERRORS = "userErrors { field code message }"


# --------------------------------------------------------------------------- operations
#
# Each operation: (document, setup(app, role) -> variables, check(app, role, result, variables)).
# The target records are ones the role may see (owned by "agent", of team north), so
# the matrix tests what a role may *do*; what it may *see* is tested below and in
# test_leaks.py.


def _setup_customer(app, role):
    return {"id": gid("Customer", add_customer(app, "agent", "Target Ltd", email="target@example.com"))}


def _check_me(app, role, result, variables):
    assert result == {"email": f"{role}@example.com", "role": ACCOUNTS[role][0].value}


def _check_target_name(app, role, result, variables):
    assert result == {"id": variables["id"], "name": "Target Ltd"}


def _check_customers(app, role, result, variables):
    assert result["totalCount"] == 1
    assert [e["node"]["name"] for e in result["edges"]] == ["Target Ltd"]


def _setup_interaction(app, role):
    customer_id = add_customer(app, "agent", "Target Ltd")
    add_interaction(app, customer_id, "agent", subject="first call")
    return {}


def _check_interactions(app, role, result, variables):
    assert result["totalCount"] == 1
    assert result["edges"][0]["node"]["subject"] == "first call"


def _check_account_owners(app, role, result, variables):
    assert result["totalCount"] == len(ACCOUNTS)
    assert sorted(e["node"]["email"] for e in result["edges"]) == sorted(f"{n}@example.com" for n in ACCOUNTS)


def _check_plugins(app, role, result, variables):
    assert isinstance(result, list)
    assert all(not p["enabled"] for p in result)  # the app runs with no plugin enabled


def _check_audit_log(app, role, result, variables):
    # The setup wrote one entry through a real mutation.
    assert result["totalCount"] == 1
    assert result["edges"][0]["node"]["operation"] == "createCustomer"


def _setup_audit(app, role):
    app.data('mutation { createCustomer(input: {name: "Audited"}) { userErrors { code } } }', as_="admin")
    return {}


def _check_api_tokens(app, role, result, variables):
    assert result == [{"name": "crm-sync", "role": "AGENT", "revokedAt": None}]


def _setup_login(app, role):
    who = "admin" if role == "anonymous" else role
    return {"email": f"{who}@example.com", "password": TEST_PASSWORD}


def _check_login(app, role, result, variables):
    assert result["userErrors"] == []
    assert result["viewer"]["email"] == variables["email"]
    me = app.data("{ me { email } }", token=result["token"])
    assert me["me"]["email"] == variables["email"]


def _check_logout(app, role, result, variables):
    assert result == {"ok": True, "userErrors": []}
    body = app.gql("{ me { email } }", as_=role)
    assert error_code(body) == ANON


def _check_change_password(app, role, result, variables):
    assert result == {"ok": True, "userErrors": []}
    login = app.data(
        "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token userErrors { code } } }",
        {"e": f"{role}@example.com", "p": NEW_PASSWORD},
    )
    assert login["login"]["userErrors"] == [] and login["login"]["token"]


def _check_create_customer(app, role, result, variables):
    assert result["userErrors"] == []
    assert result["customer"]["name"] == "New Co"
    # Managers and agents own what they create; an admin's customer starts unassigned.
    expected_owner = None if role == "admin" else {"email": f"{role}@example.com"}
    assert result["customer"]["owner"] == expected_owner


def _check_update_customer(app, role, result, variables):
    assert result == {"customer": {"id": variables["id"], "name": "Renamed Ltd"}, "userErrors": []}
    name = app.run(lambda: Customer.get(id=pk(variables["id"])).values_list("name", flat=True))
    assert name == "Renamed Ltd"


def _check_archive_customer(app, role, result, variables):
    assert result["userErrors"] == []
    assert result["customer"]["archivedAt"] is not None
    archived_at = app.run(lambda: Customer.get(id=pk(variables["id"])).values_list("archived_at", flat=True))
    assert archived_at == app.clock.now()


def _setup_assign(app, role):
    variables = _setup_customer(app, role)
    variables["ownerId"] = owner_gid(app, "agent2")
    return variables


def _check_assign_owner(app, role, result, variables):
    assert result == {"customer": {"id": variables["id"], "owner": {"email": "agent2@example.com"}}, "userErrors": []}


def _check_log_interaction(app, role, result, variables):
    assert result["userErrors"] == []
    assert result["interaction"]["kind"] == "CALL"
    assert result["interaction"]["customer"] == {"id": variables["id"]}
    assert result["interaction"]["owner"] == {"email": f"{role}@example.com"}


def _check_log_interactions(app, role, result, variables):
    assert result["userErrors"] == []
    [item] = result["results"]
    assert item["userErrors"] == [] and item["created"] is True
    assert item["interaction"]["customer"] == {"id": variables["id"]}
    assert item["interaction"]["owner"] == {"email": f"{role}@example.com"}


def _check_create_owner(app, role, result, variables):
    assert result["userErrors"] == []
    assert result["accountOwner"] == {"email": "newbie@example.com", "role": "AGENT", "team": "north"}


def _check_set_my_language(app, role, result, variables):
    assert result == {"me": {"email": f"{role}@example.com", "language": "ZH_CN"}, "userErrors": []}


def _setup_update_owner(app, role):
    return {"id": owner_gid(app, "agent2")}


def _check_update_owner(app, role, result, variables):
    assert result == {"accountOwner": {"id": variables["id"], "name": "Agent Two"}, "userErrors": []}


def _check_create_token(app, role, result, variables):
    assert result["userErrors"] == []
    assert result["token"].startswith("kh_")
    assert result["apiToken"] == {"name": "warehouse", "role": "ANALYST"}


def _setup_revoke(app, role):
    return {"id": gid("ApiToken", add_api_token(app))}


def _check_revoke_token(app, role, result, variables):
    assert result["userErrors"] == []
    assert result["apiToken"]["id"] == variables["id"]
    assert result["apiToken"]["revokedAt"] is not None


def _setup_failed_event(app, role):
    """A dead letter: a run of a job no worker of this app runs, so a retry delivers nothing."""

    async def make():
        now = app.clock.now()
        row = await OutboxEvent.create(
            kind=OutboxKind.JOB, name="access.test", state=OutboxState.FAILED, attempts=3, due_at=now, created_at=now
        )
        return row.id

    return {"id": gid("OutboxEvent", app.run(make))}


def _check_failed_events(app, role, result, variables):
    assert [e["node"]["name"] for e in result["edges"]] == ["access.test"]


def _check_retry_event(app, role, result, variables):
    assert result["userErrors"] == []
    assert result["outboxEvent"] == {"id": variables["id"], "state": "PENDING", "attempts": 0}


def _setup_pair(app, role, status="OPEN"):
    """Two of the agent's customers that may be one, as a candidate pair."""
    a = add_customer(app, "agent", "Target Ltd", email="target@example.com")
    b = add_customer(app, "agent", "Target Limited", email="target@example.com")

    async def make():
        row = await DuplicatePair.create(
            customer_a_id=a, customer_b_id=b, score=90, reasons=["SAME_EMAIL"], status=status,
            source=DuplicateSource.SCAN, found_at=app.clock.now(),
        )  # fmt: skip
        return row.id

    return {"id": gid("DuplicateCandidate", app.run(make)), "a": gid("Customer", a), "b": gid("Customer", b)}


def _check_candidates(app, role, result, variables):
    assert [e["node"]["id"] for e in result["edges"]] == [variables["id"]]


def _check_decided(status):
    def check(app, role, result, variables):
        assert result["userErrors"] == [] and result["candidate"] == {"id": variables["id"], "status": status}

    return check


def _check_merge(app, role, result, variables):
    assert result["userErrors"] == []
    assert result["customer"]["id"] == variables["a"] and result["mergedIds"] == [variables["b"]]


OPERATIONS = {
    "me": ("{ me { email role } }", lambda app, role: {}, _check_me),
    "node": (
        "query($id: ID!) { node(id: $id) { id ... on Customer { name } } }",
        _setup_customer,
        _check_target_name,
    ),
    "nodes": (
        "query($id: ID!) { nodes(ids: [$id]) { id ... on Customer { name } } }",
        _setup_customer,
        lambda app, role, result, variables: _check_target_name(app, role, result[0], variables),
    ),
    "customer": ("query($id: ID!) { customer(id: $id) { id name } }", _setup_customer, _check_target_name),
    "customers": (
        "{ customers { totalCount edges { node { name } } } }",
        lambda app, role: _setup_customer(app, role) and {},
        _check_customers,
    ),
    "interactions": (
        "{ interactions { totalCount edges { node { subject } } } }",
        _setup_interaction,
        _check_interactions,
    ),
    "accountOwners": (
        "{ accountOwners(first: 100) { totalCount edges { node { email } } } }",
        lambda app, role: {},
        _check_account_owners,
    ),
    "plugins": ("{ plugins { name enabled } }", lambda app, role: {}, _check_plugins),
    "auditLog": (
        "{ auditLog { totalCount edges { node { operation } } } }",
        _setup_audit,
        _check_audit_log,
    ),
    "apiTokens": (
        "{ apiTokens { name role revokedAt } }",
        lambda app, role: add_api_token(app) and {},
        _check_api_tokens,
    ),
    "login": (
        "mutation($email: String!, $password: String!) { login(input: {email: $email, password: $password})"
        " { token viewer { email } " + USER_ERRORS + " } }",
        _setup_login,
        _check_login,
    ),
    "logout": ("mutation { logout { ok " + USER_ERRORS + " } }", lambda app, role: {}, _check_logout),
    "changePassword": (
        "mutation($current: String!, $new: String!) { changePassword(input: {currentPassword: $current,"
        " newPassword: $new}) { ok " + USER_ERRORS + " } }",
        lambda app, role: {"current": TEST_PASSWORD, "new": NEW_PASSWORD},
        _check_change_password,
    ),
    "setMyLanguage": (
        "mutation { setMyLanguage(input: {language: ZH_CN}) { me { email language } " + USER_ERRORS + " } }",
        lambda app, role: {},
        _check_set_my_language,
    ),
    "createCustomer": (
        'mutation { createCustomer(input: {name: "New Co", email: "new@example.com"})'
        " { customer { name owner { email } } " + USER_ERRORS + " } }",
        lambda app, role: {},
        _check_create_customer,
    ),
    "updateCustomer": (
        'mutation($id: ID!) { updateCustomer(input: {id: $id, name: "Renamed Ltd"})'
        " { customer { id name } " + USER_ERRORS + " } }",
        _setup_customer,
        _check_update_customer,
    ),
    "archiveCustomer": (
        "mutation($id: ID!) { archiveCustomer(input: {id: $id}) { customer { archivedAt } " + USER_ERRORS + " } }",
        _setup_customer,
        _check_archive_customer,
    ),
    "assignOwner": (
        "mutation($id: ID!, $ownerId: ID) { assignOwner(input: {customerId: $id, ownerId: $ownerId})"
        " { customer { id owner { email } } " + USER_ERRORS + " } }",
        _setup_assign,
        _check_assign_owner,
    ),
    "logInteraction": (
        'mutation($id: ID!) { logInteraction(input: {customerId: $id, kind: CALL, subject: "hello"})'
        " { interaction { kind customer { id } owner { email } } " + USER_ERRORS + " } }",
        _setup_customer,
        _check_log_interaction,
    ),
    "logInteractions": (
        'mutation($id: ID!) { logInteractions(input: {items: [{customerId: $id, kind: CALL, subject: "hello"}]})'
        " { results { created interaction { customer { id } owner { email } } "
        + USER_ERRORS
        + " } "
        + USER_ERRORS
        + " } }",
        _setup_customer,
        _check_log_interactions,
    ),
    "createAccountOwner": (
        'mutation { createAccountOwner(input: {name: "Newbie", email: "newbie@example.com", role: AGENT,'
        ' team: "north", password: "initial-password-1"}) { accountOwner { email role team } ' + USER_ERRORS + " } }",
        lambda app, role: {},
        _check_create_owner,
    ),
    "updateAccountOwner": (
        'mutation($id: ID!) { updateAccountOwner(input: {id: $id, name: "Agent Two"})'
        " { accountOwner { id name } " + USER_ERRORS + " } }",
        _setup_update_owner,
        _check_update_owner,
    ),
    "createApiToken": (
        'mutation { createApiToken(input: {name: "warehouse", role: ANALYST}) { token apiToken { name role } '
        + USER_ERRORS
        + " } }",
        lambda app, role: {},
        _check_create_token,
    ),
    "revokeApiToken": (
        "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { apiToken { id revokedAt } " + USER_ERRORS + " } }",
        _setup_revoke,
        _check_revoke_token,
    ),
    "outboxEvents": (
        "{ outboxEvents(state: FAILED) { edges { node { name } } } }",
        _setup_failed_event,
        _check_failed_events,
    ),
    "retryOutboxEvent": (
        "mutation($id: ID!) { retryOutboxEvent(input: {id: $id}) { outboxEvent { id state attempts } "
        + USER_ERRORS
        + " } }",
        _setup_failed_event,
        _check_retry_event,
    ),
    "duplicateCandidates": (
        "{ duplicateCandidates { edges { node { id } } } }",
        _setup_pair,
        _check_candidates,
    ),
    "dismissDuplicateCandidate": (
        "mutation($id: ID!) { dismissDuplicateCandidate(input: {id: $id}) { candidate { id status } "
        + USER_ERRORS
        + " } }",
        _setup_pair,
        _check_decided("DISMISSED"),
    ),
    "reopenDuplicateCandidate": (
        "mutation($id: ID!) { reopenDuplicateCandidate(input: {id: $id}) { candidate { id status } "
        + USER_ERRORS
        + " } }",
        lambda app, role: _setup_pair(app, role, status="DISMISSED"),
        _check_decided("OPEN"),
    ),
    "mergeCustomers": (
        "mutation($a: ID!, $b: ID!) { mergeCustomers(input: {survivorId: $a, mergedIds: [$b]}) "
        "{ customer { id } mergedIds " + USER_ERRORS + " } }",
        _setup_pair,
        _check_merge,
    ),
}

CASES = [
    pytest.param(operation, role, expected, id=f"{role}-{operation}-{expected}")
    for operation, row in MATRIX.items()
    for role, expected in zip(ROLES, row)
]


@pytest.mark.parametrize("operation, role, expected", CASES)
def test_role_operation_matrix(app, operation, role, expected):
    document, setup, check = OPERATIONS[operation]
    variables = setup(app, role)
    before = snapshot(app)
    body = app.gql(document, variables, as_=None if role == "anonymous" else role)
    if expected == OK:
        assert not body.get("errors"), body["errors"]
        check(app, role, body["data"][operation], variables)
    else:
        assert error_code(body) == expected
        assert (body.get("data") or {}).get(operation) is None
        assert snapshot(app) == before, "a refused call changed the database"


def test_matrix_covers_every_core_root_field(app):
    data = app.data(
        '{ q: __type(name: "Query") { fields { name } } m: __type(name: "Mutation") { fields { name } } }',
        as_="admin",
    )
    root_fields = {f["name"] for f in data["q"]["fields"]} | {f["name"] for f in data["m"]["fields"]}
    assert root_fields == set(MATRIX) == set(OPERATIONS)


# --------------------------------------------------------------------------- anonymous callers


def test_anonymous_caller_gets_only_login(app):
    add_customer(app, "agent", "Hidden Ltd")
    body = app.gql("{ customers { totalCount } }")
    assert error_code(body) == ANON
    assert body["data"] is None
    login = app.data(
        'mutation($p: String!) { login(input: {email: "agent@example.com", password: $p}) { token } }',
        {"p": TEST_PASSWORD},
    )
    assert login["login"]["token"].startswith("kh_")


def test_unknown_or_malformed_token_is_treated_as_anonymous(app):
    for header in ("Bearer kh_not-a-real-token", "Bearer " + "x" * 500, "Basic YWRtaW46cGFzcw==", "Bearer "):
        response = app.client.post(
            "/graphql", json={"query": "{ customers { totalCount } }"}, headers={"Authorization": header}
        )
        assert response.status_code == 200
        assert error_code(response.json()) == ANON


@pytest.mark.parametrize(
    "query",
    ["{ __schema { queryType { name } } }", '{ __type(name: "Customer") { fields { name } } }'],
    ids=["schema", "type"],
)
def test_introspection_requires_sign_in(app, query):
    body = app.gql(query)
    assert "data" not in body  # refused before anything ran
    assert error_code(body) == ANON
    signed_in = app.data(query, as_="agent")
    assert signed_in != {}


def test_introspection_over_get_requires_sign_in(app):
    response = app.client.get("/graphql", params={"query": "{ __schema { queryType { name } } }"})
    assert error_code(response.json()) == ANON


@pytest.mark.parametrize(
    "query",
    [
        "{ customers { totalCont } }",
        "{ customers(fist: 1) { totalCount } }",
        'mutation { login(input: {email: "a@b.c", pasword: "x"}) { token } }',
    ],
    ids=["field", "argument", "input_field"],
)
def test_anonymous_callers_get_no_schema_suggestions(app, query):
    # "Did you mean 'totalCount'?" would let anyone map the schema without introspection.
    anonymous = app.gql(query)
    assert anonymous["errors"] and not any("Did you mean" in e["message"] for e in anonymous["errors"])
    signed_in = app.gql(query, as_="agent")
    assert any("Did you mean" in e["message"] for e in signed_in["errors"])


def test_anonymous_callers_get_no_suggestions_from_variable_values(app):
    query = "query($f: CustomerFilterInput) { customers(filter: $f) { totalCount } }"
    body = app.gql(query, {"f": {"serch": "x"}})
    assert body["errors"] and not any("Did you mean" in e["message"] for e in body["errors"])


def test_anonymous_introspection_can_be_allowed_in_config(make_app):
    app = make_app(config={"kehu": {"anonymous_introspection": True}})
    data = app.data("{ __schema { queryType { name } } }")
    assert data == {"__schema": {"queryType": {"name": "Query"}}}
    # Data is still closed to anonymous callers.
    assert error_code(app.gql("{ customers { totalCount } }")) == ANON


# --------------------------------------------------------------------------- agents


def test_agent_creates_customers_for_themselves_only(app):
    data = app.data(
        'mutation { createCustomer(input: {name: "Mine"}) { customer { owner { email } } userErrors { code } } }',
        as_="agent",
    )
    assert data["createCustomer"]["customer"]["owner"] == {"email": "agent@example.com"}
    before = snapshot(app)
    body = app.gql(
        'mutation($o: ID) { createCustomer(input: {name: "Theirs", ownerId: $o}) { customer { id } } }',
        {"o": owner_gid(app, "agent2")},
        as_="agent",
    )
    assert error_code(body) == DENIED
    assert snapshot(app) == before


def test_agent_cannot_log_interaction_in_another_owners_name(app):
    customer = gid("Customer", add_customer(app, "agent", "Mine"))
    before = snapshot(app)
    body = app.gql(
        "mutation($c: ID!, $o: ID) { logInteraction(input: {customerId: $c, kind: CALL, ownerId: $o})"
        " { interaction { id } } }",
        {"c": customer, "o": owner_gid(app, "agent2")},
        as_="agent",
    )
    assert error_code(body) == DENIED
    assert snapshot(app) == before


# --------------------------------------------------------------------------- managers


@pytest.fixture
def teams(app):
    """Customers of both teams: north (manager, agent, agent2) and south."""
    ids = {
        "north_manager": add_customer(app, "manager", "North Manager Co"),
        "north_agent": add_customer(app, "agent", "North Agent Co"),
        "north_agent2": add_customer(app, "agent2", "North Agent2 Co"),
        "south": add_customer(app, "agent_south", "South Co"),
        "unassigned": add_customer(app, None, "Nobody Co"),
    }
    for name, pk in ids.items():  # noqa: F402 (the loop's pk, not the helper)
        add_interaction(app, pk, "admin", subject=f"call {name}")
    return {name: gid("Customer", pk) for name, pk in ids.items()}


def names(connection):
    return sorted(e["node"]["name"] for e in connection["edges"])


def test_manager_sees_only_their_teams_customers(app, teams):
    data = app.data("{ customers { totalCount edges { node { name } } } }", as_="manager")
    assert data["customers"]["totalCount"] == 3
    assert names(data["customers"]) == ["North Agent Co", "North Agent2 Co", "North Manager Co"]
    south = app.data("{ customers { totalCount edges { node { name } } } }", as_="manager_south")
    assert south["customers"]["totalCount"] == 1
    assert names(south["customers"]) == ["South Co"]


def test_manager_sees_only_their_teams_interactions(app, teams):
    data = app.data("{ interactions { totalCount edges { node { subject } } } }", as_="manager")
    assert data["interactions"]["totalCount"] == 3
    assert sorted(e["node"]["subject"] for e in data["interactions"]["edges"]) == [
        "call north_agent",
        "call north_agent2",
        "call north_manager",
    ]


def test_manager_cannot_see_other_teams_customer_through_node(app, teams):
    query = "query($id: ID!) { node(id: $id) { id } customer(id: $id) { id } }"
    assert app.data(query, {"id": teams["south"]}, as_="manager") == {"node": None, "customer": None}
    assert app.data(query, {"id": teams["north_agent2"]}, as_="manager") == {
        "node": {"id": teams["north_agent2"]},
        "customer": {"id": teams["north_agent2"]},
    }


ASSIGN = (
    "mutation($c: ID!, $o: ID) { assignOwner(input: {customerId: $c, ownerId: $o})"
    " { customer { owner { email } } userErrors { field code message } } }"
)


def test_manager_reassigns_within_their_team(app, teams):
    data = app.data(ASSIGN, {"c": teams["north_agent"], "o": owner_gid(app, "agent2")}, as_="manager")
    assert data["assignOwner"] == {"customer": {"owner": {"email": "agent2@example.com"}}, "userErrors": []}
    visible_to_agent = app.data("{ customers { totalCount } }", as_="agent")
    assert visible_to_agent["customers"]["totalCount"] == 0


def test_manager_cannot_reassign_to_another_team(app, teams):
    before = snapshot(app)
    data = app.data(ASSIGN, {"c": teams["north_agent"], "o": owner_gid(app, "agent_south")}, as_="manager")
    assert data["assignOwner"]["customer"] is None
    assert [(e["field"], e["code"]) for e in data["assignOwner"]["userErrors"]] == [("ownerId", "OUTSIDE_TEAM")]
    assert snapshot(app) == before


def test_manager_cannot_unassign_a_customer(app, teams):
    before = snapshot(app)
    data = app.data(ASSIGN, {"c": teams["north_agent"], "o": None}, as_="manager")
    assert [(e["field"], e["code"]) for e in data["assignOwner"]["userErrors"]] == [("ownerId", "REQUIRED")]
    assert snapshot(app) == before


def test_manager_cannot_take_over_another_teams_customer(app, teams):
    before = snapshot(app)
    foreign = app.data(ASSIGN, {"c": teams["south"], "o": owner_gid(app, "agent")}, as_="manager")
    missing = app.data(ASSIGN, {"c": gid("Customer", 999_999), "o": owner_gid(app, "agent")}, as_="manager")
    assert foreign == missing
    assert [e["code"] for e in foreign["assignOwner"]["userErrors"]] == ["NOT_FOUND"]
    assert snapshot(app) == before


def test_manager_cannot_create_customer_for_another_team(app):
    before = snapshot(app)
    data = app.data(
        'mutation($o: ID) { createCustomer(input: {name: "X", ownerId: $o}) { customer { id } userErrors { field code } } }',
        {"o": owner_gid(app, "agent_south")},
        as_="manager",
    )
    assert data["createCustomer"] == {"customer": None, "userErrors": [{"field": "ownerId", "code": "OUTSIDE_TEAM"}]}
    assert snapshot(app) == before


def test_admin_assigns_across_teams_and_unassigns(app, teams):
    data = app.data(ASSIGN, {"c": teams["north_agent"], "o": owner_gid(app, "agent_south")}, as_="admin")
    assert data["assignOwner"]["customer"] == {"owner": {"email": "agent_south@example.com"}}
    data = app.data(ASSIGN, {"c": teams["north_agent"], "o": None}, as_="admin")
    assert data["assignOwner"]["customer"] == {"owner": None}


# --------------------------------------------------------------------------- analysts


def test_analyst_reads_every_customer_and_interaction(app, teams):
    data = app.data(
        "{ customers { totalCount edges { node { name owner { email } } } } interactions { totalCount } }",
        as_="analyst",
    )
    assert data["customers"]["totalCount"] == 5
    assert names(data["customers"]) == sorted(
        ["North Manager Co", "North Agent Co", "North Agent2 Co", "South Co", "Nobody Co"]
    )
    assert data["interactions"]["totalCount"] == 5
    for customer_id in teams.values():
        node = app.data("query($id: ID!) { node(id: $id) { id } }", {"id": customer_id}, as_="analyst")
        assert node["node"] == {"id": customer_id}


def test_analyst_api_token_is_read_only_too(app, teams):
    created = app.data('mutation { createApiToken(input: {name: "bi-export", role: ANALYST}) { token } }', as_="admin")
    token = created["createApiToken"]["token"]
    assert app.data("{ customers { totalCount } }", token=token)["customers"]["totalCount"] == 5
    before = snapshot(app)
    body = app.gql('mutation { createCustomer(input: {name: "Sneaky"}) { customer { id } } }', token=token)
    assert error_code(body) == DENIED
    assert snapshot(app) == before


def test_analyst_keeps_self_service_mutations(app):
    # Read-only means no data changes; an analyst still manages their own sign-in.
    data = app.data(
        "mutation($c: String!, $n: String!) { changePassword(input: {currentPassword: $c, newPassword: $n}) { ok } }",
        {"c": TEST_PASSWORD, "n": NEW_PASSWORD},
        as_="analyst",
    )
    assert data["changePassword"]["ok"] is True


# --------------------------------------------------------------------------- owner directory


def test_service_accounts_are_listed_to_admins_only(app):
    add_api_token(app, name="crm-sync")
    query = '{ accountOwners(first: 100, filter: {search: "API token"}) { totalCount edges { node { isService } } } }'
    assert app.data(query, as_="admin")["accountOwners"]["totalCount"] == 1
    for role in ("manager", "agent", "analyst"):
        assert app.data(query, as_=role)["accountOwners"] == {"totalCount": 0, "edges": []}


def test_role_change_takes_effect_on_existing_sessions(app, teams):
    # Roles are read per request: promoting an agent widens their view at once.
    app.data(
        "mutation($id: ID!) { updateAccountOwner(input: {id: $id, role: MANAGER}) { userErrors { code } } }",
        {"id": owner_gid(app, "agent")},
        as_="admin",
    )
    assert app.data("{ customers { totalCount } }", as_="agent")["customers"]["totalCount"] == 3
