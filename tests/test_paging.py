"""Keyset paging: the large lists resume from the values of the last row seen, so
a deep page costs what the first does, nothing repeats or goes missing while rows
are added, and ``last``/``before`` page backwards."""

import pytest

from kehu.testing import count_queries, walk_pages

PAGE = """query($first: Int, $after: String, $last: Int, $before: String, $order: CustomerOrder) {
  customers(first: $first, after: $after, last: $last, before: $before, orderBy: $order) {
    edges { cursor node { name } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


def add_customers(app, names, *, owner="agent"):
    for name in names:
        app.data(
            "mutation($n: String!) { createCustomer(input: {name: $n}) { customer { id } } }", {"n": name}, as_=owner
        )


def page(app, as_="admin", **variables):
    return app.data(PAGE, variables, as_=as_)["customers"]


def names(connection):
    return [edge["node"]["name"] for edge in connection["edges"]]


def walk_forward(app, size, order=None):
    seen, after, pages = [], None, 0
    while True:
        connection = page(app, first=size, after=after, order=order)
        seen += names(connection)
        pages += 1
        info = connection["pageInfo"]
        assert info["hasPreviousPage"] == (after is not None)
        if not info["hasNextPage"]:
            return seen, pages
        assert info["endCursor"] == connection["edges"][-1]["cursor"]
        after = info["endCursor"]


def walk_backward(app, size, order=None):
    seen, before = [], None
    while True:
        connection = page(app, last=size, before=before, order=order)
        seen = names(connection) + seen
        info = connection["pageInfo"]
        assert info["hasNextPage"] == (before is not None)
        if not info["hasPreviousPage"]:
            return seen
        before = info["startCursor"]


def test_walking_forwards_and_backwards_visits_every_customer_once_in_order(app):
    expected = [f"c{i:02d}" for i in range(23)]
    add_customers(app, expected)
    everything = names(page(app, first=100))
    assert everything == expected  # created in this order (ties on created_at broken by id)
    seen, pages = walk_forward(app, 5)
    assert (seen, pages) == (expected, 5)
    assert walk_backward(app, 5) == expected
    assert walk_backward(app, 7) == expected


@pytest.mark.parametrize("field", ["NAME", "CREATED_AT", "UPDATED_AT", "LAST_INTERACTION_AT"])
@pytest.mark.parametrize("direction", ["ASC", "DESC"])
def test_every_ordering_pages_like_the_single_page_it_cuts(app, field, direction):
    add_customers(app, ["delta", "alpha", "echo", "charlie", "bravo", "alpha", "foxtrot"])
    # Some customers have interactions (lastInteractionAt set), the others have NULL.
    ids = app.data("{ customers(first: 100) { edges { node { id name } } } }", as_="admin")["customers"]["edges"]
    for edge in ids[::2]:
        app.data(
            "mutation($c: ID!) { logInteraction(input: {customerId: $c, kind: CALL}) { userErrors { code } } }",
            {"c": edge["node"]["id"]},
            as_="agent",
        )
        app.clock.advance(minutes=1)
    order = {"field": field, "direction": direction}
    whole = names(page(app, first=100, order=order))
    assert sorted(whole) == sorted(e["node"]["name"] for e in ids)
    for size in (1, 2, 3):
        assert walk_forward(app, size, order)[0] == whole
        assert walk_backward(app, size, order) == whole


def test_rows_added_or_archived_while_paging_neither_repeat_nor_vanish(app):
    add_customers(app, [f"c{i:02d}" for i in range(10)])
    first = page(app, first=4)
    assert names(first) == ["c00", "c01", "c02", "c03"]
    # Meanwhile: a customer archived on the next page, and new ones (they sort last).
    ids = app.data("{ customers(first: 100) { edges { node { id name } } } }", as_="admin")["customers"]["edges"]
    archived = next(e["node"]["id"] for e in ids if e["node"]["name"] == "c05")
    app.data(
        "mutation($i: ID!) { archiveCustomer(input: {id: $i}) { userErrors { code } } }", {"i": archived}, as_="admin"
    )
    add_customers(app, ["new1", "new2"])
    rest, after = [], first["pageInfo"]["endCursor"]
    while after:
        connection = page(app, first=4, after=after)
        rest += names(connection)
        after = connection["pageInfo"]["endCursor"] if connection["pageInfo"]["hasNextPage"] else None
    assert rest == ["c04", "c06", "c07", "c08", "c09", "new1", "new2"]


def test_a_deep_page_costs_the_statements_of_the_first_and_no_offset(app):
    add_customers(app, [f"c{i:03d}" for i in range(60)])
    cursor = None
    for _ in range(10):
        cursor = page(app, first=5, after=cursor)["pageInfo"]["endCursor"]
    with count_queries() as first_page:
        page(app, first=5)
    with count_queries() as deep_page:
        assert names(page(app, first=5, after=cursor)) == [f"c{i:03d}" for i in range(50, 55)]
    assert deep_page.count == first_page.count
    assert not any("OFFSET" in statement.upper() for statement in deep_page.statements)


@pytest.mark.parametrize(
    "variables, message",
    [
        ({"first": 2, "last": 2}, "not both"),
        ({"last": 2, "after": "CURSOR"}, "not both"),
        ({"last": 101}, "at most 100"),
        ({"last": -1}, "negative"),
    ],
)
def test_mixing_directions_or_oversized_pages_are_coded_errors(app, variables, message):
    add_customers(app, ["a", "b", "c"])
    cursor = page(app, first=1)["pageInfo"]["endCursor"]
    variables = {k: cursor if v == "CURSOR" else v for k, v in variables.items()}
    body = app.gql(PAGE, variables, as_="admin")
    error = body["errors"][0]
    assert error["extensions"]["code"] in ("INVALID_PAGE_ARGUMENTS", "PAGE_TOO_LARGE", "INVALID_PAGE_SIZE")
    assert message in error["message"]


def test_a_cursor_only_resumes_the_list_and_order_it_came_from(app):
    add_customers(app, ["a", "b", "c"])
    by_name = page(app, first=1, order={"field": "NAME", "direction": "ASC"})["pageInfo"]["endCursor"]
    nested = app.data(
        "{ customers(first: 1) { edges { node { interactions(first: 1) { pageInfo { endCursor } } } } } }", as_="admin"
    )
    body = app.gql(PAGE, {"first": 1, "after": by_name}, as_="admin")
    assert body["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"
    assert "another order" in body["errors"][0]["message"]
    interactions = app.gql("query($a: String) { interactions(first: 1, after: $a) { totalCount } }", {"a": by_name})
    assert interactions["errors"][0]["extensions"]["code"] in ("INVALID_CURSOR", "UNAUTHENTICATED")
    interactions = app.gql(
        "query($a: String) { interactions(first: 1, after: $a) { totalCount } }", {"a": by_name}, as_="admin"
    )
    assert interactions["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"
    assert nested["customers"]["edges"][0]["node"]["interactions"]["pageInfo"]["endCursor"] is None


@pytest.mark.parametrize(
    "raw",
    [
        b'k:["created_at,id",["not a date",1]]',
        b'k:["created_at,id",[null,1]]',
        b'k:["created_at,id",["2026-01-01T00:00:00+00:00"]]',
        b'k:["created_at,id",["2026-01-01T00:00:00+00:00","1"]]',
        b"k:not json",
        b"x:1",
    ],
)
def test_a_forged_cursor_is_refused_with_a_code(app, raw):
    from kehu.ids import b64

    add_customers(app, ["a"])
    body = app.gql(PAGE, {"first": 1, "after": b64(raw.decode())}, as_="admin")
    assert body["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"


def log_note(app, customer, follow_up=None):
    app.data(
        """mutation($c: ID!, $f: DateTime) { logInteraction(input: {customerId: $c, kind: NOTE, nextFollowUpAt: $f}) {
             userErrors { code } } }""",
        {"c": customer, "f": follow_up},
        as_="agent",
    )


def test_interactions_audit_log_owners_and_the_outbox_page_by_keyset_both_ways(app):
    add_customers(app, ["a", "b"])
    customer = app.data("{ customers(first: 1) { edges { node { id } } } }", as_="admin")["customers"]["edges"][0]
    for hours in range(7):
        follow_up = f"2026-03-0{hours % 3 + 1}T09:00:00Z" if hours % 2 else None
        log_note(app, customer["node"]["id"], follow_up)
        app.clock.advance(hours=1)
    for field, as_, arguments in (
        ("interactions", "agent", ""),
        ("interactions", "agent", "orderBy: {field: NEXT_FOLLOW_UP_AT, direction: ASC}"),
        ("interactions", "agent", "orderBy: {field: NEXT_FOLLOW_UP_AT, direction: DESC}"),
        ("interactions", "agent", "orderBy: {field: OCCURRED_AT, direction: ASC}"),
        ("auditLog", "admin", ""),
        ("accountOwners", "admin", ""),
        ("outboxEvents", "admin", "state: DONE"),
    ):
        assert len(walk_pages(app, field, as_=as_, arguments=arguments)) >= 7, (field, arguments)


def test_interactions_ordered_by_follow_up_page_in_that_order(app):
    add_customers(app, ["a"])
    customer = app.data("{ customers(first: 1) { edges { node { id } } } }", as_="admin")["customers"]["edges"][0]
    for day in (3, None, 1, 2, None):
        log_note(app, customer["node"]["id"], f"2026-03-0{day}T09:00:00Z" if day else None)
    query = """query($f: Int, $a: String) { interactions(first: $f, after: $a,
      orderBy: {field: NEXT_FOLLOW_UP_AT, direction: ASC}) { edges { node { nextFollowUpAt } } pageInfo { endCursor } } }"""
    first = app.data(query, {"f": 2}, as_="agent")["interactions"]
    rest = app.data(query, {"f": 10, "a": first["pageInfo"]["endCursor"]}, as_="agent")["interactions"]
    days = [e["node"]["nextFollowUpAt"] for e in first["edges"] + rest["edges"]]
    dated = [d[:10] for d in days if d]
    assert dated == ["2026-03-01", "2026-03-02", "2026-03-03"] and days.count(None) == 2
