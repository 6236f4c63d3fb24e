"""Duplicates with the masking plugin's encryption at rest: the normalised keys of
encrypted fields are keyed digests (never the clear value), exact duplicates are
still caught through them, and a merge keeps every value encrypted."""

import pytest

from kehu.plugins.masking.service.crypto import generate_key

SETTINGS = {"masking": {"encrypted_fields": ["Customer.email", "Customer.phone"]}}
CREATE = """mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id } userErrors { field code } } }"""
MERGE = """mutation($input: MergeCustomersInput!) {
  mergeCustomers(input: $input) { customer { email phone } userErrors { code } } }"""
SEARCH = "query($s: String!) { customers(filter: {search: $s}) { totalCount } }"


@pytest.fixture
def app(make_app, monkeypatch):
    monkeypatch.setenv("KEHU_MASKING_KEY", generate_key())
    return make_app(enabled=("masking",), settings=SETTINGS)


def create(app, **fields):
    return app.data(CREATE, {"input": {"name": "Li Lei", **fields}}, as_="admin")["createCustomer"]


def stored(app):
    async def rows():
        sql = "SELECT id, email, phone, email_key, phone_key, name_pinyin FROM kehu_customer ORDER BY id"
        return await app.kehu.ctx.db().execute_query_dict(sql)

    return app.run(rows)


def test_keys_of_encrypted_fields_are_digests_and_still_catch_a_duplicate(app):
    create(app, email="LiLei@Example.com", phone="138 1234 5678")
    [row] = stored(app)
    assert row["email"].startswith("kehu:e1:") and row["phone"].startswith("kehu:e1:")
    assert row["email_key"].startswith("kehu:b1:") and row["phone_key"].startswith("kehu:b1:")
    assert "lilei" not in row["email_key"] and "13812345678" not in row["phone_key"]
    assert row["name_pinyin"] == "lilei"  # names are not encrypted: their key is clear
    again = create(app, email="lilei@example.COM", phone="+86 138-1234-5678")
    assert {(e["field"], e["code"]) for e in again["userErrors"]} == {
        ("email", "DUPLICATE_CUSTOMER"),
        ("phone", "DUPLICATE_CUSTOMER"),
    }
    assert app.data(SEARCH, {"s": "+86 138 1234 5678"}, as_="admin")["customers"]["totalCount"] == 1


def test_a_merge_keeps_the_chosen_values_encrypted(app):
    a = create(app, email="a@example.com")["customer"]["id"]
    b = create(app, name="Li Lei (shop)", phone="139 0000 1111")["customer"]["id"]
    result = app.data(MERGE, {"input": {"survivorId": a, "mergedIds": [b]}}, as_="admin")["mergeCustomers"]
    assert result["userErrors"] == [] and result["customer"] == {"email": "a@example.com", "phone": "139 0000 1111"}
    survivor = stored(app)[0]
    assert survivor["phone"].startswith("kehu:e1:") and survivor["phone_key"].startswith("kehu:b1:")
    assert create(app, name="Other", phone="13900001111")["userErrors"][0]["code"] == "DUPLICATE_CUSTOMER"
