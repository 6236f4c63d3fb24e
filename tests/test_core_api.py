"""The core GraphQL API over HTTP: customers, interactions, pagination, errors."""

import datetime as dt
from decimal import Decimal

import pytest

from kehu.models import Customer, Interaction
from kehu.testing import count_queries

CREATE = """mutation($i: CreateCustomerInput!) {
  createCustomer(input: $i) { customer { id name email phone tags kind region owner { email } } userErrors { field code message } }
}"""
UPDATE = """mutation($i: UpdateCustomerInput!) {
  updateCustomer(input: $i) { customer { id name email phone tags region } userErrors { field code message } }
}"""
LOG = """mutation($i: LogInteractionInput!) {
  logInteraction(input: $i) { interaction { id kind amount occurredAt customer { lastInteractionAt } } userErrors { field code message } }
}"""


def create(app, as_="admin", **fields):
    fields.setdefault("name", "Zhang Wei")
    body = app.data(CREATE, {"i": fields}, as_=as_)["createCustomer"]
    assert body["userErrors"] == [], body
    return body["customer"]


def counts(app):
    return app.run(lambda: _counts())


async def _counts():
    return await Customer.all().count(), await Interaction.all().count()


def audit_total(app):
    return app.data("{ auditLog { totalCount } }", as_="admin")["auditLog"]["totalCount"]


# --------------------------------------------------------------------------- customers


def test_create_customer_normalises_and_returns_it(app):
    c = create(
        app,
        name="  Zhang Wei ",
        email="ZW@Example.COM",
        phone="+86 138 0013 8000",
        tags=["VIP", "vip", " retail "],
        region="Shanghai",
    )
    assert c["name"] == "Zhang Wei"
    assert c["email"] == "ZW@example.com"
    assert c["tags"] == ["retail", "vip"]
    assert c["kind"] == "PERSON"
    assert c["owner"] is None  # admins create unassigned customers unless they say otherwise


def test_agent_becomes_owner_of_customers_they_create(app):
    c = create(app, as_="agent", name="Li Na")
    assert c["owner"] == {"email": "agent@example.com"}


@pytest.mark.parametrize(
    "fields, field, code",
    [
        ({"name": ""}, "name", "REQUIRED"),
        ({"name": "   "}, "name", "REQUIRED"),
        ({"name": "x" * 201}, "name", "TOO_LONG"),
        ({"name": "Ok", "email": "not-an-email"}, "email", "INVALID_EMAIL"),
        ({"name": "Ok", "phone": "call me"}, "phone", "INVALID_PHONE"),
        ({"name": "Ok\x00"}, "name", "INVALID_CHARACTERS"),
        ({"name": "Ok", "ownerId": "QWNjb3VudE93bmVyOjk5OTk"}, "ownerId", "UNKNOWN_OWNER"),
        ({"name": "Ok", "ownerId": "garbage!"}, "ownerId", "INVALID_ID"),
        ({"name": "Ok", "tags": ["a"] * 51}, "tags", "TOO_MANY"),
    ],
)
def test_invalid_customer_input_returns_user_errors_and_writes_nothing(app, fields, field, code):
    before = counts(app), audit_total(app)
    body = app.data(CREATE, {"i": fields}, as_="admin")["createCustomer"]
    assert body["customer"] is None
    assert [(e["field"], e["code"]) for e in body["userErrors"]] == [(field, code)]
    assert body["userErrors"][0]["message"]
    assert (counts(app), audit_total(app)) == before


def test_update_changes_only_the_fields_sent(app):
    c = create(app, email="a@example.com", phone="12345678", region="Beijing")
    body = app.data(UPDATE, {"i": {"id": c["id"], "region": "Shenzhen", "phone": None}}, as_="admin")["updateCustomer"]
    assert body["userErrors"] == []
    assert body["customer"]["region"] == "Shenzhen"
    assert body["customer"]["phone"] is None
    assert body["customer"]["email"] == "a@example.com"


def test_update_records_before_and_after_in_the_audit_log(app):
    c = create(app, region="Beijing")
    app.data(UPDATE, {"i": {"id": c["id"], "region": "Shenzhen"}}, as_="admin")
    entry = app.data(
        '{ auditLog(first: 1, filter: {operation: "updateCustomer"}) { edges { node { changes entityType } } } }',
        as_="admin",
    )
    node = entry["auditLog"]["edges"][0]["node"]
    assert node["entityType"] == "Customer"
    assert node["changes"] == {"region": {"before": "Beijing", "after": "Shenzhen"}}


def test_archived_customer_leaves_lists_but_keeps_history(app):
    c = create(app)
    app.data(LOG, {"i": {"customerId": c["id"], "kind": "CALL"}}, as_="admin")
    body = app.data(
        "mutation($id: ID!) { archiveCustomer(input: {id: $id}) { customer { archivedAt } userErrors { code } } }",
        {"id": c["id"]},
        as_="admin",
    )
    assert body["archiveCustomer"]["customer"]["archivedAt"]
    assert app.data("{ customers { totalCount } }", as_="admin")["customers"]["totalCount"] == 0
    archived = app.data(
        "{ customers(filter: {archived: true}) { totalCount edges { node { interactions { totalCount } } } } }",
        as_="admin",
    )
    assert archived["customers"]["totalCount"] == 1
    assert archived["customers"]["edges"][0]["node"]["interactions"]["totalCount"] == 1
    again = app.data(
        "mutation($id: ID!) { archiveCustomer(input: {id: $id}) { userErrors { code } } }", {"id": c["id"]}, as_="admin"
    )
    assert again["archiveCustomer"]["userErrors"] == [{"code": "ARCHIVED"}]
    edit = app.data(UPDATE, {"i": {"id": c["id"], "name": "New"}}, as_="admin")["updateCustomer"]
    assert edit["userErrors"][0]["code"] == "ARCHIVED"


def test_there_is_no_way_to_delete_a_customer(app):
    sdl = app.kehu.schema.as_str()
    assert "deleteCustomer" not in sdl and "deleteInteraction" not in sdl


def test_assign_owner_and_unassign(app):
    c = create(app)
    agent_id = app.data('{ accountOwners(filter: {search: "Agent South"}) { edges { node { id } } } }', as_="admin")[
        "accountOwners"
    ]["edges"][0]["node"]["id"]
    body = app.data(
        "mutation($c: ID!, $o: ID) { assignOwner(input: {customerId: $c, ownerId: $o}) { customer { owner { email } } userErrors { code } } }",
        {"c": c["id"], "o": agent_id},
        as_="admin",
    )
    assert body["assignOwner"]["customer"]["owner"] == {"email": "agent_south@example.com"}
    body = app.data(
        "mutation($c: ID!) { assignOwner(input: {customerId: $c, ownerId: null}) { customer { owner { email } } } }",
        {"c": c["id"]},
        as_="admin",
    )
    assert body["assignOwner"]["customer"]["owner"] is None


# --------------------------------------------------------------------------- interactions


def test_log_purchase_updates_last_interaction(app):
    c = create(app)
    when = "2025-12-01T10:00:00+00:00"
    body = app.data(
        LOG, {"i": {"customerId": c["id"], "kind": "PURCHASE", "amount": "250.00", "occurredAt": when}}, as_="admin"
    )["logInteraction"]
    assert body["userErrors"] == []
    assert body["interaction"]["amount"] == "250.00"
    assert body["interaction"]["customer"]["lastInteractionAt"].startswith("2025-12-01T10:00:00")
    earlier = app.data(
        LOG, {"i": {"customerId": c["id"], "kind": "CALL", "occurredAt": "2025-01-01T00:00:00Z"}}, as_="admin"
    )["logInteraction"]
    assert earlier["interaction"]["customer"]["lastInteractionAt"].startswith("2025-12-01"), (
        "back-dated entries do not rewind it"
    )


def test_amounts_are_decimal_not_float(app):
    c = create(app)
    app.data(LOG, {"i": {"customerId": c["id"], "kind": "PURCHASE", "amount": "0.10"}}, as_="admin")
    app.data(LOG, {"i": {"customerId": c["id"], "kind": "PURCHASE", "amount": "0.20"}}, as_="admin")

    async def total():
        rows = await Interaction.filter(kind="PURCHASE").values_list("amount", flat=True)
        return sum(rows, Decimal("0"))

    assert app.run(total) == Decimal("0.30")


@pytest.mark.parametrize(
    "fields, field, code",
    [
        ({"kind": "PURCHASE", "amount": "-1"}, "amount", "NEGATIVE"),
        ({"kind": "PURCHASE"}, "amount", "REQUIRED"),
        ({"kind": "PURCHASE", "amount": "abc"}, "amount", "INVALID"),
        ({"kind": "PURCHASE", "amount": "1.234"}, "amount", "INVALID"),
        ({"kind": "PURCHASE", "amount": "1e20"}, "amount", "TOO_LARGE"),
        ({"kind": "CALL", "amount": "5"}, "amount", "INVALID"),
        ({"kind": "CALL", "occurredAt": "2999-01-01T00:00:00Z"}, "occurredAt", "OUT_OF_RANGE"),
        ({"kind": "CALL", "occurredAt": "2100-01-01T00:00:00Z"}, "occurredAt", "IN_FUTURE"),
    ],
)
def test_invalid_interaction_returns_user_errors_and_writes_nothing(app, fields, field, code):
    c = create(app)
    before = counts(app), audit_total(app)
    body = app.data(LOG, {"i": {"customerId": c["id"], **fields}}, as_="admin")["logInteraction"]
    assert body["interaction"] is None
    assert [(e["field"], e["code"]) for e in body["userErrors"]] == [(field, code)]
    assert (counts(app), audit_total(app)) == before


def test_interaction_on_unknown_customer_is_not_found(app):
    body = app.data(LOG, {"i": {"customerId": "Q3VzdG9tZXI6OTk5", "kind": "CALL"}}, as_="admin")["logInteraction"]
    assert body["userErrors"] == [{"field": "customerId", "code": "NOT_FOUND", "message": "no such customer"}]


def test_interactions_are_listed_newest_first_with_filters(app):
    c = create(app)
    for day, kind in [(1, "CALL"), (3, "EMAIL"), (2, "PURCHASE")]:
        extra = {"amount": "9.00"} if kind == "PURCHASE" else {}
        app.data(
            LOG,
            {"i": {"customerId": c["id"], "kind": kind, "occurredAt": f"2025-03-0{day}T00:00:00Z", **extra}},
            as_="admin",
        )
    body = app.data("{ interactions { edges { node { kind } } } }", as_="admin")
    assert [e["node"]["kind"] for e in body["interactions"]["edges"]] == ["EMAIL", "PURCHASE", "CALL"]
    body = app.data(
        '{ interactions(filter: {kinds: [CALL, EMAIL], occurredAfter: "2025-03-02T00:00:00Z"}) { totalCount edges { node { kind } } } }',
        as_="admin",
    )
    assert body["interactions"]["totalCount"] == 1
    nested = app.data(
        "query($c: ID!) { customer(id: $c) { interactions(first: 1, filter: {kinds: [PURCHASE]}) { totalCount edges { node { amount } } } } }",
        {"c": c["id"]},
        as_="admin",
    )
    assert nested["customer"]["interactions"] == {"totalCount": 1, "edges": [{"node": {"amount": "9.00"}}]}


FOLLOW_UPS = """query($f: InteractionFilterInput, $o: InteractionOrder) {
  interactions(filter: $f, orderBy: $o) { totalCount edges { node { subject nextFollowUpAt customer { name } } } }
}"""


def _log(app, customer, day, subject, follow_up_day=None, as_="admin", **extra):
    fields = {
        "customerId": customer["id"],
        "kind": "CALL",
        "subject": subject,
        "occurredAt": f"2025-03-{day:02d}T09:00:00Z",
        **extra,
    }
    if follow_up_day is not None:
        fields["nextFollowUpAt"] = f"2025-03-{follow_up_day:02d}T09:00:00Z"
    body = app.data(LOG, {"i": fields}, as_=as_)["logInteraction"]
    assert body["userErrors"] == []


def test_open_follow_ups_due_by_a_moment_are_listed_soonest_first(app):
    wang, li, zhao = create(app, name="Wang"), create(app, name="Li"), create(app, name="Zhao")
    _log(app, wang, 1, "wang: call back on the 10th", 10)
    _log(app, li, 2, "li: call back on the 5th", 5)
    _log(app, zhao, 3, "zhao: call back on the 20th", 20)
    due_by_12th = {"followUpOpen": True, "nextFollowUpBefore": "2025-03-12T00:00:00Z"}
    body = app.data(
        FOLLOW_UPS, {"f": due_by_12th, "o": {"field": "NEXT_FOLLOW_UP_AT", "direction": "ASC"}}, as_="admin"
    )
    assert [e["node"]["subject"] for e in body["interactions"]["edges"]] == [
        "li: call back on the 5th",
        "wang: call back on the 10th",
    ]
    assert body["interactions"]["totalCount"] == 2
    later = {"followUpOpen": True, "nextFollowUpAfter": "2025-03-12T00:00:00Z"}
    body = app.data(FOLLOW_UPS, {"f": later}, as_="admin")
    assert [e["node"]["customer"]["name"] for e in body["interactions"]["edges"]] == ["Zhao"]


def test_the_next_contact_answers_an_open_follow_up(app):
    wang = create(app, name="Wang")
    _log(app, wang, 1, "asked to call back", 10)
    # Neither a purchase, nor a note, nor an internal entry is a contact.
    _log(app, wang, 2, "bought", kind="PURCHASE", amount="10.00")
    _log(app, wang, 2, "noted", kind="NOTE")
    _log(app, wang, 2, "discussed with the team", direction="INTERNAL")
    assert app.data(FOLLOW_UPS, {"f": {"followUpOpen": True}}, as_="admin")["interactions"]["totalCount"] == 1
    _log(app, wang, 2, "called back", kind="MESSAGE")  # no new follow-up: nothing is open any more
    body = app.data(FOLLOW_UPS, {"f": {"followUpOpen": True}}, as_="admin")
    assert body["interactions"]["totalCount"] == 0
    answered = app.data(
        FOLLOW_UPS, {"f": {"followUpOpen": False, "nextFollowUpBefore": "2025-04-01T00:00:00Z"}}, as_="admin"
    )
    assert [e["node"]["subject"] for e in answered["interactions"]["edges"]] == ["asked to call back"]
    _log(app, wang, 3, "promised a quote", 15)
    body = app.data(FOLLOW_UPS, {"f": {"followUpOpen": True}}, as_="admin")
    assert [e["node"]["subject"] for e in body["interactions"]["edges"]] == ["promised a quote"]
    # A back-dated entry is not a later contact: the follow-up stays open.
    _log(app, wang, 2, "back-dated note")
    assert app.data(FOLLOW_UPS, {"f": {"followUpOpen": True}}, as_="admin")["interactions"]["totalCount"] == 1
    nested = app.data(
        "query($c: ID!) { customer(id: $c) { interactions(filter: {followUpOpen: true}) { totalCount } } }",
        {"c": wang["id"]},
        as_="admin",
    )
    assert nested["customer"]["interactions"]["totalCount"] == 1


def test_agents_see_only_the_follow_ups_of_their_customers(app):
    mine, theirs = create(app, as_="agent", name="Mine"), create(app, as_="agent_south", name="Theirs")
    _log(app, mine, 1, "mine", 5, as_="agent")
    _log(app, theirs, 1, "theirs", 5, as_="agent_south")
    body = app.data(FOLLOW_UPS, {"f": {"followUpOpen": True}}, as_="agent")
    assert [e["node"]["subject"] for e in body["interactions"]["edges"]] == ["mine"]


# --------------------------------------------------------------------------- pagination and errors


def test_pagination_walks_every_customer_once(app):
    for i in range(25):
        create(app, name=f"Customer {i:02d}")
    seen, after = [], None
    while True:
        page = app.data(
            "query($a: String) { customers(first: 10, after: $a, orderBy: {field: NAME}) { totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { node { name } } } }",
            {"a": after},
            as_="admin",
        )["customers"]
        assert page["totalCount"] == 25
        seen += [e["node"]["name"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [f"Customer {i:02d}" for i in range(25)]


def test_ordering_descending(app):
    for name in ["b", "a", "c"]:
        create(app, name=name)
    body = app.data("{ customers(orderBy: {field: NAME, direction: DESC}) { edges { node { name } } } }", as_="admin")
    assert [e["node"]["name"] for e in body["customers"]["edges"]] == ["c", "b", "a"]


def test_first_above_100_is_a_clear_error(app):
    body = app.gql("{ customers(first: 1000) { totalCount } }", as_="admin")
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "PAGE_TOO_LARGE"
    assert "at most 100" in body["errors"][0]["message"]


@pytest.mark.parametrize("cursor", ["zzz", "bzotMQ", "", "a" * 300])
def test_bad_cursor_is_a_clear_error(app, cursor):
    body = app.gql("query($a: String) { customers(after: $a) { totalCount } }", {"a": cursor}, as_="admin")
    assert body["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"


def test_bad_global_id_is_a_clear_error(app):
    body = app.gql('{ customer(id: "not-an-id") { name } }', as_="admin")
    assert body["errors"][0]["extensions"]["code"] == "INVALID_ID"
    body = app.gql('{ customer(id: "QWNjb3VudE93bmVyOjE") { name } }', as_="admin")  # an AccountOwner id
    assert body["errors"][0]["extensions"]["code"] == "INVALID_ID"


def test_filters_by_tag_region_kind_search_and_ranges(app):
    create(app, name="Acme Ltd", kind="ORGANIZATION", tags=["vip"], region="Shanghai", email="buy@acme.example")
    create(app, name="Wang Fang", tags=["vip", "retail"], region="Beijing", phone="13800138000")
    create(app, name="Li Lei", tags=["retail"], region="Beijing")

    def names(filter):
        body = app.data(
            "query($f: CustomerFilterInput) { customers(filter: $f, orderBy: {field: NAME}) { totalCount edges { node { name } } } }",
            {"f": filter},
            as_="admin",
        )
        assert body["customers"]["totalCount"] == len(body["customers"]["edges"])
        return [e["node"]["name"] for e in body["customers"]["edges"]]

    assert names({"tags": ["vip"]}) == ["Acme Ltd", "Wang Fang"]
    assert names({"tags": ["vip", "retail"]}) == ["Wang Fang"]
    assert names({"regions": ["Beijing"]}) == ["Li Lei", "Wang Fang"]
    assert names({"kinds": ["ORGANIZATION"]}) == ["Acme Ltd"]
    assert names({"search": "acme.example"}) == ["Acme Ltd"]
    assert names({"search": "0013800"}) == ["Wang Fang"]
    assert names({"createdAfter": "2100-01-01T00:00:00Z"}) == []
    assert names({"unassigned": True}) == ["Acme Ltd", "Li Lei", "Wang Fang"]


def test_unexpected_errors_are_masked_with_a_request_id(app, caplog, monkeypatch):
    import kehu.customers

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(kehu.customers, "filter_customers", broken)
    body = app.gql("{ customers { totalCount } }", as_="admin")
    error = body["errors"][0]
    assert error["message"].startswith("Internal error (request ")
    assert error["extensions"]["code"] == "INTERNAL_ERROR"
    assert "secret" not in str(body)
    assert any(
        "secret internals" in (r.exc_text or "")
        or "secret internals" in r.getMessage()
        or (r.exc_info and "secret internals" in str(r.exc_info[1]))
        for r in caplog.records
    )


def test_syntax_and_validation_errors_are_not_masked(app):
    body = app.gql("{ customers { nope } }", as_="admin")
    assert "Cannot query field 'nope'" in body["errors"][0]["message"]
    body = app.gql("{ customers { ", as_="admin")
    assert "Syntax Error" in body["errors"][0]["message"]


def test_healthz_checks_the_database(app):
    response = app.client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_mutations_are_refused_over_get(app):
    response = app.client.get(
        "/graphql",
        params={"query": "mutation { logout { ok } }"},
        headers={"Authorization": f"Bearer {app.tokens['admin']}"},
    )
    assert response.status_code in (400, 405)


# --------------------------------------------------------------------------- query counts

PAGE = """query($n: Int) { customers(first: $n) { totalCount edges { node {
  id name email owner { id name team }
  interactions(first: 5) { totalCount edges { node { id kind occurredAt amount owner { name } } } }
} } } }"""


async def _seed_many(n):
    from kehu.models import AccountOwner

    owners = await AccountOwner.filter(role__in=["AGENT", "MANAGER"]).order_by("id")
    customers = await Customer.bulk_create(
        [Customer(name=f"C{i:03d}", owner_id=owners[i % len(owners)].id) for i in range(n)]
    )
    customers = await Customer.all().order_by("id")
    now = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    rows = []
    for c in customers:
        for j in range(7):
            rows.append(
                Interaction(
                    customer_id=c.id,
                    owner_id=c.owner_id,
                    kind="PURCHASE" if j % 2 else "CALL",
                    amount=Decimal("10.00") if j % 2 else None,
                    occurred_at=now - dt.timedelta(days=j),
                )
            )
    await Interaction.bulk_create(rows, batch_size=1000)


def test_page_query_count_does_not_grow_with_page_size(app):
    app.run(_seed_many, 120)
    app.data("{ me { id } }", as_="admin")  # the token's last-used time is written once a minute
    results = {}
    for n in (10, 100):
        with count_queries() as q:
            body = app.data(PAGE, {"n": n}, as_="admin")
        assert len(body["customers"]["edges"]) == n
        assert all(len(e["node"]["interactions"]["edges"]) == 5 for e in body["customers"]["edges"])
        assert all(e["node"]["interactions"]["totalCount"] == 7 for e in body["customers"]["edges"])
        results[n] = q.count
    assert results[10] == results[100], results
    assert results[100] <= 10, results


def test_last_interactions_are_the_newest_per_customer(app):
    app.run(_seed_many, 3)
    body = app.data(PAGE, {"n": 3}, as_="admin")
    for edge in body["customers"]["edges"]:
        times = [e["node"]["occurredAt"] for e in edge["node"]["interactions"]["edges"]]
        assert times == sorted(times, reverse=True)
        assert times[0].startswith("2025-06-01")


def test_retried_log_interaction_with_same_key_logs_once(app):
    c = create(app)
    variables = {"i": {"customerId": c["id"], "kind": "PURCHASE", "amount": "250.00", "idempotencyKey": "order-7731"}}
    first = app.data(LOG, variables, as_="admin")["logInteraction"]["interaction"]
    second = app.data(LOG, variables, as_="admin")["logInteraction"]["interaction"]
    assert first["id"] == second["id"]
    assert counts(app)[1] == 1
    other = dict(variables["i"], kind="CALL", amount=None)
    body = app.data(LOG, {"i": other}, as_="admin")["logInteraction"]
    assert body["userErrors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_idempotency_keys_are_scoped_to_the_customer(app):
    """A key used on a customer of another team neither replays, nor is refused,
    nor tells that it was used: the same key on another customer is another request."""
    from seed import owner_gid

    theirs = app.data(CREATE, {"i": {"name": "South's", "ownerId": owner_gid(app, "agent_south")}}, as_="admin")
    mine = app.data(CREATE, {"i": {"name": "North's", "ownerId": owner_gid(app, "agent")}}, as_="admin")
    theirs_id = theirs["createCustomer"]["customer"]["id"]
    mine_id = mine["createCustomer"]["customer"]["id"]
    used = {"customerId": theirs_id, "kind": "PURCHASE", "amount": "9.00", "idempotencyKey": "order-1"}
    first = app.data(LOG, {"i": used}, as_="agent_south")["logInteraction"]
    assert first["userErrors"] == []
    # Another team's agent, same key, another kind, own customer: logged, no hint.
    probe = {"customerId": mine_id, "kind": "CALL", "idempotencyKey": "order-1"}
    body = app.data(LOG, {"i": probe}, as_="agent")["logInteraction"]
    assert body["userErrors"] == [] and body["interaction"]["id"] != first["interaction"]["id"]
    # And it did not block the first team's retry.
    again = app.data(LOG, {"i": used}, as_="agent_south")["logInteraction"]
    assert again["interaction"]["id"] == first["interaction"]["id"]
    assert counts(app)[1] == 2


def test_concurrent_retries_with_same_key_log_once(app):
    import asyncio

    from kehu.access import Viewer
    from kehu.interactions import log_interaction
    from kehu.writes import write_scope

    c = create(app)
    pk = int(__import__("kehu.ids", fromlist=["x"]).from_global_id(c["id"])[1])

    async def attempt():
        owner = app.accounts["admin"]
        viewer = Viewer(owner=owner, permissions=app.kehu.permissions_for("ADMIN"))
        async with write_scope(app.kehu, viewer, "logInteraction"):
            return (
                await log_interaction(
                    viewer,
                    {"customer_id": pk, "kind": "PURCHASE", "amount": "5.00", "idempotency_key": "k1"},
                    app.clock.now(),
                )
            ).id

    async def many():
        return await asyncio.gather(*(attempt() for _ in range(10)))

    ids = app.run(many)
    assert len(set(ids)) == 1
    assert counts(app)[1] == 1
