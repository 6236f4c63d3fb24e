"""Every way a user sends data is checked: sizes, characters, numbers, dates and
the JSON itself. Each bad input gets a clear error (which field, why) and nothing
is written — proved by comparing every core table before and after."""

from __future__ import annotations

import base64
import json

import pytest

from kehu.cli.transfer import import_customers
from kehu.models import AuditEntry, Customer, CustomerTag, Interaction

CREATE = """mutation($i: CreateCustomerInput!) {
  createCustomer(input: $i) { customer { id } userErrors { field code message } } }"""
LOG = """mutation($i: LogInteractionInput!) {
  logInteraction(input: $i) { interaction { id } userErrors { field code message } } }"""


def _rows(app):
    async def dump():
        return [await m.all().count() for m in (Customer, CustomerTag, Interaction, AuditEntry)]

    return app.run(dump)


def _raw(app, body: bytes, as_="admin"):
    return app.client.post(
        "/graphql",
        content=body,
        headers={"Authorization": f"Bearer {app.tokens[as_]}", "Content-Type": "application/json"},
    )


@pytest.fixture
def customer(app):
    return app.data(CREATE, {"i": {"name": "Existing"}}, as_="admin")["createCustomer"]["customer"]["id"]


@pytest.mark.parametrize(
    "fields, field, code",
    [
        ({"name": "a" * 50_000}, "name", "TOO_LONG"),
        ({"name": "x", "tags": ["t"] * 10_000}, "tags", "TOO_MANY"),
        ({"name": "x", "tags": ["t" * 65]}, "tags", "TOO_LONG"),
        ({"name": "a\x00b"}, "name", "INVALID_CHARACTERS"),
        ({"name": "a\x1b[31mred"}, "name", "INVALID_CHARACTERS"),
        ({"name": "x", "email": "a@b.c\r\nBcc: x@y.z"}, "email", "INVALID_CHARACTERS"),
        ({"name": "x", "attributes": json.loads('{"a": ' + "[" * 50 + "]" * 50 + "}")}, "attributes", "TOO_DEEP"),
        ({"name": "x", "attributes": {"n": 10**30}}, "attributes", "INVALID_JSON"),
        ({"name": "x", "attributes": {"k": "v" * 40_000}}, "attributes", "TOO_LONG"),
        ({"name": "x", "attributes": [1, 2]}, "attributes", "INVALID"),
    ],
    ids=[
        "50k-name",
        "10k-tags",
        "long-tag",
        "nul",
        "escape",
        "header-injection",
        "deep-json",
        "huge-int",
        "big-json",
        "json-list",
    ],
)
def test_bad_customer_fields_get_a_field_error_and_write_nothing(app, fields, field, code):
    before = _rows(app)
    body = app.data(CREATE, {"i": fields}, as_="admin")["createCustomer"]
    assert body["customer"] is None
    assert [(e["field"], e["code"]) for e in body["userErrors"]] == [(field, code)], body
    assert _rows(app) == before


def test_a_megabyte_name_is_refused_before_it_is_read(app):
    before = _rows(app)
    response = app.post(CREATE, {"i": {"name": "a" * 1_000_000}}, as_="admin")
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "BODY_TOO_LARGE"
    assert _rows(app) == before


@pytest.mark.parametrize(
    "body, reason",
    [
        (
            b'{"query": "CREATE", "variables": {"i": {"name": "dup", "attributes": {"a": 1, "a": 2}}}}',
            "duplicate key 'a'",
        ),
        (b'{"query": "CREATE", "variables": {"i": {"name": "nan", "attributes": {"a": NaN}}}}', "NaN"),
        (b'{"query": "CREATE", "variables": {"i": {"name": "inf", "attributes": {"a": 1e400}}}}', "too large"),
        (b'{"query": "CREATE", "variables": {"i": {"name": "a\\ud800b"}}}', "unpaired surrogate"),
        (
            b'{"query": "CREATE", "variables": {"i": {"name": "deep", "attributes": {"a": '
            + b"[" * 40_000
            + b"]" * 40_000
            + b"}}}}",
            "nested too deeply",
        ),
    ],
    ids=["duplicate-key", "nan", "1e400", "lone-surrogate", "deep-nesting"],
)
def test_unacceptable_json_bodies_are_refused_with_400(app, body, reason):
    before = _rows(app)
    response = _raw(app, body.replace(b"CREATE", json.dumps(CREATE)[1:-1].encode()))
    assert response.status_code == 400 and reason in response.text, response.text
    assert _rows(app) == before


@pytest.mark.parametrize(
    "fields, field, code",
    [
        ({"occurredAt": "0001-01-01T00:00:00Z"}, "occurredAt", "OUT_OF_RANGE"),
        ({"occurredAt": "9999-12-31T23:59:59Z"}, "occurredAt", "OUT_OF_RANGE"),
        ({"nextFollowUpAt": "9999-01-01T00:00:00Z"}, "nextFollowUpAt", "OUT_OF_RANGE"),
        ({"kind": "PURCHASE", "amount": "NaN"}, "amount", "INVALID"),
        ({"kind": "PURCHASE", "amount": "Infinity"}, "amount", "INVALID"),
        ({"kind": "PURCHASE", "amount": "1e400"}, "amount", "TOO_LARGE"),
        ({"kind": "PURCHASE", "amount": "-5"}, "amount", "NEGATIVE"),
        ({"kind": "PURCHASE", "amount": "0.001"}, "amount", "INVALID"),
        ({"notes": "n" * 90_000}, "notes", "TOO_LONG"),
    ],
    ids=["year-1", "year-9999", "follow-up-9999", "nan", "infinity", "1e400", "negative", "fraction", "long-notes"],
)
def test_absurd_dates_and_amounts_get_a_field_error_and_write_nothing(app, customer, fields, field, code):
    before = _rows(app)
    body = app.data(LOG, {"i": {"customerId": customer, "kind": "CALL", **fields}}, as_="admin")["logInteraction"]
    assert body["interaction"] is None
    assert [(e["field"], e["code"]) for e in body["userErrors"]] == [(field, code)], body
    assert _rows(app) == before


def test_a_date_no_calendar_has_is_a_client_error_not_an_internal_one(app, customer):
    """Year 0 cannot even be parsed: the variable is refused, unmasked, before anything runs."""
    before = _rows(app)
    body = app.gql(
        LOG, {"i": {"customerId": customer, "kind": "CALL", "occurredAt": "0000-01-01T00:00:00Z"}}, as_="admin"
    )
    assert "data" not in body  # refused before anything ran
    assert "occurredAt" in body["errors"][0]["message"] and "year 0 is out of range" in body["errors"][0]["message"]
    assert body["errors"][0].get("extensions", {}).get("code") != "INTERNAL_ERROR"
    assert _rows(app) == before


@pytest.mark.parametrize("pk", ["99999999999999999999999", "9223372036854775808", "2147483648", "0", "-1"])
def test_ids_naming_no_possible_row_are_invalid_not_internal(app, pk):
    gid = base64.urlsafe_b64encode(f"Customer:{pk}".encode()).decode().rstrip("=")
    body = app.gql("query($id: ID!) { customer(id: $id) { id } node(id: $id) { id } }", {"id": gid}, as_="admin")
    assert {e["extensions"]["code"] for e in body["errors"]} == {"INVALID_ID"}
    body = app.data(LOG, {"i": {"customerId": gid, "kind": "CALL"}}, as_="admin")["logInteraction"]
    assert body["userErrors"][0]["code"] == "INVALID_ID"
    cursor = base64.urlsafe_b64encode(f"o:{pk}".encode()).decode().rstrip("=")
    body = app.gql("query($c: String) { customers(first: 1, after: $c) { totalCount } }", {"c": cursor}, as_="admin")
    if pk not in ("0",):
        assert body["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"


def test_csv_import_rejects_invalid_utf8_and_control_characters_row_by_row(app, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(
        b"name,email,tags,attributes\n"
        b"Good One,good1@example.com,a;b,\n"
        b"Bad \xff\xfe Bytes,bad@example.com,,\n"
        b"Bell \x07 Ringer,bell@example.com,,\n"
        b"Deep,deep@example.com,," + b'"{""a"": ' + b"[" * 20 + b"]" * 20 + b'}"\n'
        b"Good Two,good2@example.com,,\n"
    )
    report = app.run(import_customers, app.kehu, path)
    assert report.imported == 2
    problems = {line: (field, message) for line, field, message, _ in report.errors}
    assert "not valid UTF-8" in problems[3][1]
    assert problems[4] == ("name", "contains a control character")
    assert problems[5][0] == "attributes" and "deeper" in problems[5][1]
    names = app.run(lambda: Customer.all().order_by("id").values_list("name", flat=True))
    assert names == ["Good One", "Good Two"]
