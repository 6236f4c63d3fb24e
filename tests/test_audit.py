"""The audit trail: every successful core mutation leaves exactly one entry naming
the actor, the operation, the entity and the changed fields (before/after); a
refused or failed one leaves none; only admins read it."""

import pytest
from seed import (
    add_api_token,
    add_customer,
    audit_entries,
    error_code,
    gid,
    owner_gid,
    pk,
    snapshot,
)

from kehu.models import AccountOwner, AuditEntry, Customer
from kehu.testing import TEST_PASSWORD

NEW_PASSWORD = "a-brand-new-passphrase"
ERRORS = "userErrors { field code }"

AUDIT_LOG = """query($filter: AuditLogFilterInput, $first: Int) {
  auditLog(filter: $filter, first: $first) {
    totalCount
    edges { node { id at actorId actorLabel operation entityType entityId changes requestId } }
  }
}"""


def new_entries(app, before):
    """Audit rows written since ``before`` (a list from ``audit_entries``)."""
    seen = {row["id"] for row in before}
    return [row for row in audit_entries(app) if row["id"] not in seen]


# --------------------------------------------------------------------------- one entry per success
#
# Each case: (actor, document, setup(app) -> variables, expected(app, variables, data) ->
# (entity_type, entity_id, changes)). ``changes`` is the exact before/after record.


def _customer(app):
    return {"id": gid("Customer", add_customer(app, "agent", "Target Ltd", email="target@example.com"))}


def _token(app):
    return {"id": gid("ApiToken", add_api_token(app, "crm-sync"))}


def _clock(app):
    return app.clock.now().isoformat()


CASES = {
    "login": (
        None,
        'mutation($p: String!) { login(input: {email: "agent@example.com", password: $p}) { token ' + ERRORS + " } }",
        lambda app: {"p": TEST_PASSWORD},
        lambda app, v, d: (
            "AccessToken",
            None,
            {
                "kind": {"before": None, "after": "SESSION"},
                "owner_id": {"before": None, "after": app.accounts["agent"].id},
            },
        ),
    ),
    "logout": (
        "agent",
        "mutation { logout { ok " + ERRORS + " } }",
        lambda app: {},
        lambda app, v, d: ("AccessToken", None, {"revoked_at": {"before": None, "after": _clock(app)}}),
    ),
    "changePassword": (
        "agent",
        "mutation($c: String!, $n: String!) { changePassword(input: {currentPassword: $c, newPassword: $n}) { ok "
        + ERRORS
        + " } }",
        lambda app: {"c": TEST_PASSWORD, "n": NEW_PASSWORD},
        lambda app, v, d: (
            "AccountOwner",
            str(app.accounts["agent"].id),
            {"password": {"before": "***", "after": "***"}},
        ),
    ),
    "createCustomer": (
        "agent",
        'mutation { createCustomer(input: {name: "New Co", email: "new@example.com", tags: ["VIP"]})'
        " { customer { id } " + ERRORS + " } }",
        lambda app: {},
        # A new customer's entry records every field's initial value, set or not.
        lambda app, v, d: (
            "Customer",
            str(pk(d["customer"]["id"])),
            {
                "name": {"before": None, "after": "New Co"},
                "email": {"before": None, "after": "new@example.com"},
                "tags": {"before": None, "after": ["vip"]},
                "owner_id": {"before": None, "after": app.accounts["agent"].id},
                "phone": {"before": None, "after": None},
                "address": {"before": None, "after": None},
                "region": {"before": None, "after": None},
                "industry": {"before": None, "after": None},
                "attributes": {"before": None, "after": {}},
                "external_id": {"before": None, "after": None},
            },
        ),
    ),
    "updateCustomer": (
        "agent",
        # The e-mail is sent unchanged: only what changed is recorded.
        'mutation($id: ID!) { updateCustomer(input: {id: $id, name: "Renamed Ltd", email: "target@example.com",'
        ' region: "east"}) { customer { id } ' + ERRORS + " } }",
        _customer,
        lambda app, v, d: (
            "Customer",
            str(pk(v["id"])),
            {
                "name": {"before": "Target Ltd", "after": "Renamed Ltd"},
                "region": {"before": None, "after": "east"},
            },
        ),
    ),
    "archiveCustomer": (
        "manager",
        "mutation($id: ID!) { archiveCustomer(input: {id: $id}) { customer { id } " + ERRORS + " } }",
        _customer,
        lambda app, v, d: ("Customer", str(pk(v["id"])), {"archived_at": {"before": None, "after": _clock(app)}}),
    ),
    "assignOwner": (
        "manager",
        "mutation($id: ID!, $o: ID) { assignOwner(input: {customerId: $id, ownerId: $o}) { customer { id } "
        + ERRORS
        + " } }",
        lambda app: {**_customer(app), "o": owner_gid(app, "agent2")},
        lambda app, v, d: (
            "Customer",
            str(pk(v["id"])),
            {
                "owner_id": {"before": app.accounts["agent"].id, "after": app.accounts["agent2"].id},
            },
        ),
    ),
    "logInteraction": (
        "agent",
        'mutation($id: ID!) { logInteraction(input: {customerId: $id, kind: PURCHASE, amount: "250.5"})'
        " { interaction { id } " + ERRORS + " } }",
        _customer,
        lambda app, v, d: (
            "Interaction",
            str(pk(d["interaction"]["id"])),
            {
                "customer_id": {"before": None, "after": pk(v["id"])},
                "kind": {"before": None, "after": "PURCHASE"},
                "occurred_at": {"before": None, "after": _clock(app)},
                "amount": {"before": None, "after": "250.50"},  # Decimal, kept exact as text
            },
        ),
    ),
    "createAccountOwner": (
        "admin",
        'mutation { createAccountOwner(input: {name: "Newbie", email: "Newbie@Example.com", role: AGENT,'
        ' team: "north", password: "initial-password-1"}) { accountOwner { id } ' + ERRORS + " } }",
        lambda app: {},
        lambda app, v, d: (
            "AccountOwner",
            str(pk(d["accountOwner"]["id"])),
            {
                "name": {"before": None, "after": "Newbie"},
                "email": {"before": None, "after": "newbie@example.com"},
                "role": {"before": None, "after": "AGENT"},
                "team": {"before": None, "after": "north"},
            },
        ),
    ),
    "updateAccountOwner": (
        "admin",
        'mutation($id: ID!) { updateAccountOwner(input: {id: $id, team: "south", role: MANAGER})'
        " { accountOwner { id } " + ERRORS + " } }",
        lambda app: {"id": owner_gid(app, "agent2")},
        lambda app, v, d: (
            "AccountOwner",
            str(pk(v["id"])),
            {
                "team": {"before": "north", "after": "south"},
                "role": {"before": "AGENT", "after": "MANAGER"},
            },
        ),
    ),
    "createApiToken": (
        "admin",
        'mutation { createApiToken(input: {name: "warehouse", role: ANALYST}) { token apiToken { id } '
        + ERRORS
        + " } }",
        lambda app: {},
        lambda app, v, d: (
            "AccessToken",
            str(pk(d["apiToken"]["id"])),
            {
                "name": {"before": None, "after": "warehouse"},
                "role": {"before": None, "after": "ANALYST"},
            },
        ),
    ),
    "revokeApiToken": (
        "admin",
        "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { apiToken { id } " + ERRORS + " } }",
        _token,
        lambda app, v, d: ("AccessToken", str(pk(v["id"])), {"revoked_at": {"before": None, "after": _clock(app)}}),
    ),
}


@pytest.mark.parametrize("operation", list(CASES))
def test_successful_mutation_leaves_exactly_one_audit_entry(app, operation):
    actor, document, setup, expected = CASES[operation]
    variables = setup(app)
    before = audit_entries(app)
    data = app.data(document, variables, as_=actor)[operation]
    assert data["userErrors"] == []
    [entry] = new_entries(app, before)
    entity_type, entity_id, changes = expected(app, variables, data)
    actor = actor or "agent"  # login: the account that signed in
    assert entry["operation"] == operation
    assert entry["actor_id"] == app.accounts[actor].id
    assert entry["actor_label"] == f"{actor}@example.com ({app.accounts[actor].role.value})"
    assert entry["entity_type"] == entity_type
    if entity_id is not None:
        assert entry["entity_id"] == entity_id
    else:
        assert entry["entity_id"].isdigit()
    assert entry["changes"] == changes
    assert entry["request_id"]


@pytest.mark.parametrize("operation", ["changePassword", "createAccountOwner", "createApiToken", "login"])
def test_audit_entries_never_hold_secrets(app, operation):
    actor, document, setup, _ = CASES[operation]
    before = audit_entries(app)
    data = app.data(document, setup(app), as_=actor)[operation]
    [entry] = new_entries(app, before)
    text = repr(entry)
    for secret in (TEST_PASSWORD, NEW_PASSWORD, "initial-password-1", data.get("token") or "no-token"):
        assert secret not in text
    assert "$argon2" not in text


def test_writes_through_an_api_token_are_attributed_to_its_service_account(app):
    created = app.data('mutation { createApiToken(input: {name: "crm-sync", role: AGENT}) { token } }', as_="admin")[
        "createApiToken"
    ]["token"]
    before = audit_entries(app)
    app.data('mutation { createCustomer(input: {name: "Via API"}) { customer { id } } }', token=created)
    [entry] = new_entries(app, before)
    service = app.run(lambda: AccountOwner.get(is_service=True))
    assert entry["actor_id"] == service.id
    assert entry["actor_label"] == f"{service.email} (AGENT)"


# --------------------------------------------------------------------------- none for a failure


FAILURES = {
    "createCustomer_invalid_email": (
        "agent",
        'mutation { createCustomer(input: {name: "X", email: "not-an-email"}) { ' + ERRORS + " } }",
        lambda app: {},
        ("email", "INVALID_EMAIL"),
    ),
    "updateCustomer_not_found": (
        "agent",
        'mutation($id: ID!) { updateCustomer(input: {id: $id, name: "Y"}) { ' + ERRORS + " } }",
        lambda app: {"id": gid("Customer", add_customer(app, "agent2", "Foreign"))},
        ("id", "NOT_FOUND"),
    ),
    "updateCustomer_blank_name": (
        "agent",
        'mutation($id: ID!) { updateCustomer(input: {id: $id, name: "  "}) { ' + ERRORS + " } }",
        _customer,
        ("name", "REQUIRED"),
    ),
    "archiveCustomer_twice": (
        "manager",
        "mutation($id: ID!) { archiveCustomer(input: {id: $id}) { " + ERRORS + " } }",
        lambda app: {"id": gid("Customer", add_customer(app, "agent", "Gone", archived_at=app.clock.now()))},
        ("id", "ARCHIVED"),
    ),
    "assignOwner_outside_team": (
        "manager",
        "mutation($id: ID!, $o: ID) { assignOwner(input: {customerId: $id, ownerId: $o}) { " + ERRORS + " } }",
        lambda app: {**_customer(app), "o": owner_gid(app, "agent_south")},
        ("ownerId", "OUTSIDE_TEAM"),
    ),
    "logInteraction_purchase_without_amount": (
        "agent",
        "mutation($id: ID!) { logInteraction(input: {customerId: $id, kind: PURCHASE}) { " + ERRORS + " } }",
        _customer,
        ("amount", "REQUIRED"),
    ),
    "createAccountOwner_duplicate_email": (
        "admin",
        'mutation { createAccountOwner(input: {name: "Dup", email: "agent@example.com", role: AGENT,'
        ' password: "initial-password-1"}) { ' + ERRORS + " } }",
        lambda app: {},
        ("email", "DUPLICATE"),
    ),
    "createAccountOwner_weak_password": (
        "admin",
        'mutation { createAccountOwner(input: {name: "Weak", email: "weak@example.com", role: AGENT,'
        ' password: "short"}) { ' + ERRORS + " } }",
        lambda app: {},
        ("password", "WEAK_PASSWORD"),
    ),
    "updateAccountOwner_self_lockout": (
        "admin",
        "mutation($id: ID!) { updateAccountOwner(input: {id: $id, role: AGENT}) { " + ERRORS + " } }",
        lambda app: {"id": owner_gid(app, "admin")},
        ("id", "SELF_LOCKOUT"),
    ),
    "createApiToken_duplicate_name": (
        "admin",
        'mutation { createApiToken(input: {name: "crm-sync", role: AGENT}) { ' + ERRORS + " } }",
        _token,
        ("name", "DUPLICATE"),
    ),
    "revokeApiToken_unknown": (
        "admin",
        "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { " + ERRORS + " } }",
        lambda app: {"id": gid("ApiToken", 4242)},
        ("id", "NOT_FOUND"),
    ),
    "changePassword_wrong_current": (
        "agent",
        'mutation { changePassword(input: {currentPassword: "nope-nope-nope", newPassword:'
        ' "a-brand-new-passphrase"}) { ' + ERRORS + " } }",
        lambda app: {},
        ("currentPassword", "INVALID_CREDENTIALS"),
    ),
    "login_wrong_password": (
        None,
        'mutation { login(input: {email: "agent@example.com", password: "wrong-password"}) { ' + ERRORS + " } }",
        lambda app: {},
        ("password", "INVALID_CREDENTIALS"),
    ),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_mutation_with_user_errors_leaves_no_audit_entry_and_no_change(app, case):
    actor, document, setup, error = FAILURES[case]
    variables = setup(app)
    before = snapshot(app)
    data = app.data(document, variables, as_=actor)
    [payload] = data.values()
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [error]
    assert snapshot(app) == before


REFUSALS = [
    ("analyst", "createCustomer", 'mutation { createCustomer(input: {name: "X"}) { customer { id } } }', "FORBIDDEN"),
    (
        "agent",
        "archiveCustomer",
        "mutation($id: ID!) { archiveCustomer(input: {id: $id}) { customer { id } } }",
        "FORBIDDEN",
    ),
    (
        "agent",
        "assignOwner",
        "mutation($id: ID!) { assignOwner(input: {customerId: $id}) { customer { id } } }",
        "FORBIDDEN",
    ),
    (
        "manager",
        "createAccountOwner",
        'mutation { createAccountOwner(input: {name: "N", email: "n@example.com",'
        ' role: ADMIN, password: "initial-password-1"}) { accountOwner { id } } }',
        "FORBIDDEN",
    ),
    (
        "manager",
        "createApiToken",
        'mutation { createApiToken(input: {name: "t", role: ADMIN}) { token } }',
        "FORBIDDEN",
    ),
    (None, "createCustomer", 'mutation { createCustomer(input: {name: "X"}) { customer { id } } }', "UNAUTHENTICATED"),
    (None, "logout", "mutation { logout { ok } }", "UNAUTHENTICATED"),
]


@pytest.mark.parametrize(
    "actor, operation, document, code", REFUSALS, ids=[f"{r[0] or 'anonymous'}-{r[1]}" for r in REFUSALS]
)
def test_refused_mutation_leaves_no_audit_entry(app, actor, operation, document, code):
    variables = _customer(app) if "$id" in document else {}
    before = snapshot(app)
    body = app.gql(document, variables, as_=actor)
    assert error_code(body) == code
    assert snapshot(app) == before


def test_a_request_with_several_mutations_audits_each_one(app):
    before = audit_entries(app)
    data = app.data(
        'mutation { a: createCustomer(input: {name: "A"}) { customer { id } userErrors { code } }'
        ' b: createCustomer(input: {name: "B", email: "bad"}) { customer { id } userErrors { code } }'
        ' c: createCustomer(input: {name: "C"}) { customer { id } userErrors { code } } }',
        as_="agent",
    )
    assert data["b"]["userErrors"] == [{"code": "INVALID_EMAIL"}]
    entries = new_entries(app, before)
    assert [e["entity_id"] for e in entries] == [
        str(pk(data["a"]["customer"]["id"])),
        str(pk(data["c"]["customer"]["id"])),
    ]
    assert app.run(lambda: Customer.filter(name="B").count()) == 0


# --------------------------------------------------------------------------- reading the log


@pytest.mark.parametrize("role", ["manager", "agent", "analyst"])
def test_audit_log_is_refused_to_everyone_but_admins(app, role):
    app.data('mutation { createCustomer(input: {name: "X"}) { customer { id } } }', as_="agent")
    body = app.gql(AUDIT_LOG, {}, as_=role)
    assert error_code(body) == "FORBIDDEN"
    assert body["data"] is None


def test_audit_log_needs_sign_in(app):
    assert error_code(app.gql(AUDIT_LOG, {})) == "UNAUTHENTICATED"


def test_audit_entry_node_is_hidden_from_non_admins(app):
    app.data('mutation { createCustomer(input: {name: "X"}) { customer { id } } }', as_="agent")
    entry_id = app.data(AUDIT_LOG, {}, as_="admin")["auditLog"]["edges"][0]["node"]["id"]
    query = "query($id: ID!) { node(id: $id) { id ... on AuditEntry { operation } } }"
    assert app.data(query, {"id": entry_id}, as_="admin")["node"] == {"id": entry_id, "operation": "createCustomer"}
    for role in ("manager", "agent", "analyst"):
        assert (
            app.gql(query, {"id": entry_id}, as_=role)
            == app.gql(query, {"id": gid("AuditEntry", 999_999)}, as_=role)
            == {"data": {"node": None}}
        )


def test_admin_reads_the_audit_log_newest_first_with_global_ids(app):
    customer = app.data('mutation { createCustomer(input: {name: "X"}) { customer { id } } }', as_="agent")
    customer_id = customer["createCustomer"]["customer"]["id"]
    app.data(
        'mutation($id: ID!) { updateCustomer(input: {id: $id, name: "Y"}) { customer { id } } }',
        {"id": customer_id},
        as_="manager",
    )
    log = app.data(AUDIT_LOG, {}, as_="admin")["auditLog"]
    assert log["totalCount"] == 2
    newest, oldest = (e["node"] for e in log["edges"])
    assert (newest["operation"], newest["actorId"], newest["actorLabel"]) == (
        "updateCustomer",
        owner_gid(app, "manager"),
        "manager@example.com (MANAGER)",
    )
    assert newest["changes"] == {"name": {"before": "X", "after": "Y"}}
    assert (oldest["operation"], oldest["entityType"], oldest["entityId"]) == (
        "createCustomer",
        "Customer",
        str(pk(customer_id)),
    )


def test_audit_log_filters_by_actor_entity_operation_and_time(app):
    first = app.data('mutation { createCustomer(input: {name: "A"}) { customer { id } } }', as_="agent")
    first_id = first["createCustomer"]["customer"]["id"]
    app.clock.advance(minutes=1)  # audit entries take their time from the kehu clock
    app.data('mutation { createCustomer(input: {name: "B"}) { customer { id } } }', as_="manager")
    app.clock.advance(minutes=1)
    app.data(
        "mutation($id: ID!) { logInteraction(input: {customerId: $id, kind: CALL}) { interaction { id } } }",
        {"id": first_id},
        as_="agent",
    )

    def operations(filter_):
        log = app.data(AUDIT_LOG, {"filter": filter_}, as_="admin")["auditLog"]
        assert log["totalCount"] == len(log["edges"])
        return [e["node"]["operation"] for e in log["edges"]]

    assert operations({"actorId": owner_gid(app, "agent")}) == ["logInteraction", "createCustomer"]
    assert operations({"actorId": owner_gid(app, "manager")}) == ["createCustomer"]
    assert operations({"entityType": "Interaction"}) == ["logInteraction"]
    assert operations({"entityType": "Customer", "entityId": first_id}) == ["createCustomer"]
    assert operations({"operation": "createCustomer"}) == ["createCustomer", "createCustomer"]
    times = sorted(row["at"] for row in audit_entries(app))
    assert operations({"after": times[-1].isoformat()}) == ["logInteraction"]
    assert operations({"before": times[1].isoformat()}) == ["createCustomer"]


def test_audit_entries_are_kept_in_the_database_with_their_write(app):
    # The entry and the change commit together: a customer row without its entry
    # (or the reverse) would mean a write escaped its scope.
    app.data('mutation { createCustomer(input: {name: "A"}) { customer { id } } }', as_="agent")
    customers = app.run(lambda: Customer.all().values_list("id", flat=True))
    entries = app.run(lambda: AuditEntry.filter(entity_type="Customer").values_list("entity_id", flat=True))
    assert [str(c) for c in customers] == entries
