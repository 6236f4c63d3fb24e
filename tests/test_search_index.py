"""The customer search through its index (kehu.search) finds exactly what the plain
search finds — for generated customers and terms, for every role, after every kind of
write — and is what the search uses whenever a trigram index can serve the term."""

from __future__ import annotations

import random

import pytest

from kehu import search
from kehu.access import Viewer
from kehu.customers import CustomerFilter, filter_customers, search_conditions
from kehu.matching import customer_keys
from kehu.models import Customer
from kehu.plugins.masking.service.crypto import generate_key

CREATE = """mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id } userErrors { code } }
}"""
UPDATE = """mutation($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) { customer { id } userErrors { code } }
}"""
ARCHIVE = "mutation($id: ID!) { archiveCustomer(input: {id: $id}) { customer { id } userErrors { code } } }"
MERGE = """mutation($s: ID!, $d: [ID!]!) {
  mergeCustomers(input: {survivorId: $s, mergedIds: $d}) { customer { id } userErrors { code } }
}"""
SEARCH = "query($s: String!) { customers(filter: {search: $s, archived: null}, first: 100) { edges { node { id } } } }"

SURNAMES = "王李张刘陈杨黄赵吴周欧阳司马"
GIVEN = "伟芳娜秀英敏静丽强磊军洋明轩"
LATIN = ("Anna Schmidt", "Ben Müller", "ÉLODIE Dubois", "Zoë O'Brien", 'Max "Maxi" Power', "Jürgen_Voß 100%")


def people(rng: random.Random, n: int) -> list[dict]:
    out = []
    for i in range(n):
        if rng.random() < 0.7:
            surname = "欧阳" if rng.random() < 0.1 else rng.choice(SURNAMES[:10])
            name = surname + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))
        else:
            name = rng.choice(LATIN)
        phone = f"1{rng.choice('3589')}{rng.randint(0, 10**9 - 1):09d}" if rng.random() < 0.9 else None
        email = f"{rng.choice(('li', 'Wang.Fang', 'anna', 'zw'))}{i}@{rng.choice(('qq.com', 'Example.COM'))}"
        out.append({"name": name, "phone": phone, "email": email if rng.random() < 0.9 else None})
    return out


def terms(rng: random.Random, rows: list[dict]) -> list[str]:
    """Fragments of what is stored, as typed: names, pinyin (compact, spaced,
    initials), phone digits in any format, e-mail pieces in any case; one and two
    characters; what matches nothing; what FTS or LIKE would read as syntax."""
    out = ["张", "张伟", "欧阳", "zw", "oy", "a", "1", "13", "@", ".", "%", "_", "'", '"', "*", "-", "a:b", "OR"]
    out += ["NEAR(a b)", "zhang AND wei", 'x" OR "y', "^abc", "müller", "MÜLLER", "élodie", "o'brien", "100%"]
    out += ["nobody-here", "9999999999", "zhangwei", "Zhang Wei", "ouyang", "OUYANG ming", "wangfang", "qq.com"]
    for row in rng.sample(rows, 25):
        name = row["name"]
        keys = customer_keys(name, None, None)
        start = rng.randrange(len(name))
        out += [name, name[start : start + rng.randint(1, 4)], name.upper(), name.lower()]
        if keys.name_pinyin:
            p = keys.name_pinyin
            start = rng.randrange(len(p))
            out += [p, p[start : start + rng.randint(2, 7)], keys.name_initials, " ".join(keys.name_pinyin[:6])]
        if row["phone"]:
            phone = row["phone"]
            start = rng.randrange(len(phone) - 3)
            fragment = phone[start : start + rng.randint(2, 8)]
            out += [phone, fragment, f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}", f"({phone[:3]}) {phone[3:]}"]
        if row["email"]:
            email = row["email"]
            out += [email.upper(), email[2:9], email.split("@")[1]]
    return list(dict.fromkeys(t for t in out if t.strip()))


def viewer_of(app, account: str) -> Viewer:
    owner = app.accounts[account]
    return Viewer(owner=owner, permissions=app.kehu.permissions_for(owner.role))


def found(app, viewer: Viewer, term: str, kind) -> list[int]:
    kehu = app.kehu

    async def ids():
        saved = kehu.search_index
        kehu.search_index = kind
        try:
            qs = filter_customers(viewer, CustomerFilter(search=term, archived=None), kehu=kehu)
            return sorted(await qs.values_list("id", flat=True))
        finally:
            kehu.search_index = saved

    return app.run(ids)


def assert_same_as_the_plain_search(app, rows: list[dict], accounts=("admin", "agent", "analyst")) -> int:
    """Every term, every role: the indexed search's ids are the plain search's.
    Returns how many (term, role) searches the index served, to prove it was used."""
    kind = app.kehu.search_index
    assert kind is not None, "the search index is missing"
    served = 0
    for account in accounts:
        viewer = viewer_of(app, account)
        for term in terms(random.Random(7), rows):
            indexed = search.indexed_condition(kind, search_conditions(viewer, term, kehu=app.kehu))
            served += indexed is not None
            assert found(app, viewer, term, kind) == found(app, viewer, term, None), (account, term)
    return served


def insert(app, rows: list[dict]) -> list[int]:
    """The rows as customers, written the way an import writes them (bulk)."""
    agent = app.accounts["agent"]

    async def write():
        objects = []
        for i, row in enumerate(rows):
            keys = customer_keys(row["name"], row["email"], row["phone"]).values()
            objects.append(Customer(**row, **keys, owner_id=agent.id if i % 3 == 0 else None))
        await Customer.bulk_create(objects)
        return await Customer.all().order_by("id").values_list("id", flat=True)

    return app.run(write)


def test_the_indexed_search_finds_what_the_plain_search_finds(app):
    rows = people(random.Random(20261201), 150)
    insert(app, rows)
    served = assert_same_as_the_plain_search(app, rows)
    assert served > 100  # most terms are three characters or more: the index serves them


def test_the_index_follows_creates_updates_archives_and_merges(app):
    rng = random.Random(5)
    rows = people(rng, 40)
    ids = []
    for row in rows:
        created = app.data(CREATE, {"input": {**row, "allowDuplicate": True}}, as_="admin")["createCustomer"]
        assert created["userErrors"] == []
        ids.append(created["customer"]["id"])
    for customer_id, row in zip(ids[:10], people(rng, 10)):
        result = app.data(UPDATE, {"input": {"id": customer_id, **row, "allowDuplicate": True}}, as_="admin")
        assert result["updateCustomer"]["userErrors"] == []
    for customer_id in ids[10:15]:
        assert app.data(ARCHIVE, {"id": customer_id}, as_="admin")["archiveCustomer"]["userErrors"] == []
    merged = app.data(MERGE, {"s": ids[20], "d": ids[21:24]}, as_="admin")["mergeCustomers"]
    assert merged["userErrors"] == []
    current = app.run(lambda: Customer.all().order_by("id").values("name", "phone", "email"))
    assert_same_as_the_plain_search(app, rows + current, accounts=("admin",))
    # The renamed are found by their new names only, over GraphQL too.
    new = current[0]["name"]
    by_new = {e["node"]["id"] for e in app.data(SEARCH, {"s": new}, as_="admin")["customers"]["edges"]}
    assert ids[0] in by_new


@pytest.mark.parametrize("term", ["欧阳明轩", "ouyangming", "1391234", "zw@qq", "ANNA SCHMIDT"])
def test_graphql_search_through_the_index_answers_as_the_plain_search(app, term):
    insert(
        app,
        [
            {"name": "欧阳明轩", "phone": "13912345678", "email": "zw@qq.com"},
            {"name": "Anna Schmidt", "phone": "13800000000", "email": "anna@example.com"},
            {"name": "王芳", "phone": "13700000000", "email": None},
        ],
    )
    with_index = app.data(SEARCH, {"s": term}, as_="admin")["customers"]["edges"]
    kind, app.kehu.search_index = app.kehu.search_index, None
    try:
        plain = app.data(SEARCH, {"s": term}, as_="admin")["customers"]["edges"]
    finally:
        app.kehu.search_index = kind
    assert with_index == plain and len(plain) == 1


def test_with_masking_and_encrypted_phones_the_index_changes_nothing_a_role_may_find(make_app, monkeypatch):
    monkeypatch.setenv("KEHU_MASKING_KEY", generate_key())
    app = make_app(
        enabled=("masking",), settings={"masking": {"encrypted_fields": ["Customer.email", "Customer.phone"]}}
    )
    rng = random.Random(11)
    rows = people(rng, 30)
    for row in rows:
        created = app.data(CREATE, {"input": {**row, "allowDuplicate": True}}, as_="admin")["createCustomer"]
        assert created["userErrors"] == []
    assert_same_as_the_plain_search(app, rows)
    phone = next(r["phone"] for r in rows if r["phone"])
    # Encrypted at rest: no clear phone number reaches the index; the number is
    # found whole through the blind index, and not by a fragment.
    hits = app.run(
        lambda: (
            app.kehu.ctx.db().execute_query_dict(search._fts_query([phone[2:9]]))
            if app.kehu.search_index is search.IndexKind.FTS5
            else Customer.filter(phone__contains=phone[2:9]).values("id")
        )
    )
    assert hits == []
    assert len(found(app, viewer_of(app, "admin"), phone, app.kehu.search_index)) == 1
    assert found(app, viewer_of(app, "admin"), phone[2:9], app.kehu.search_index) == []


def test_terms_too_short_for_trigrams_are_searched_the_plain_way(app):
    viewer = viewer_of(app, "admin")
    for term in ("张伟", "zw", "13", "a"):
        assert search.indexed_condition(app.kehu.search_index, search_conditions(viewer, term, kehu=app.kehu)) is None
    assert search.indexed_condition(app.kehu.search_index, search_conditions(viewer, "欧阳明", kehu=app.kehu))


class _Server:
    """A PostgreSQL connection as the migration sees it, without pg_trgm."""

    def __init__(self, available: list[dict], refuse: bool = False):
        self.available, self.refuse, self.scripts = available, refuse, []

    async def execute_query_dict(self, sql, values=None):
        return self.available

    async def execute_script(self, sql):
        self.scripts.append(sql)
        if self.refuse and sql.startswith("CREATE EXTENSION"):
            raise PermissionError("permission denied to create extension")


@pytest.mark.parametrize(
    ("available", "refuse"), [([], False), ([{"installed_version": None}], True)], ids=["missing", "refused"]
)
def test_without_pg_trgm_the_migration_warns_and_creates_no_index(available, refuse, caplog):
    import asyncio

    server = _Server(available, refuse)
    assert asyncio.run(search.create_postgres_indexes(server)) is False
    assert not any("gin_trgm_ops" in sql for sql in server.scripts)
    assert "customer search reads every row" in caplog.text
    if refuse:  # the refusal is undone inside the migration's transaction, which goes on
        assert server.scripts[-1] == "ROLLBACK TO SAVEPOINT kehu_pg_trgm"


def test_no_trigram_index_serves_an_exact_lookup_of_a_key():
    """PostgreSQL's planner sees through a CAST to the column's own type: a trigram
    index on ``CAST(key AS VARCHAR)`` also serves ``key IN (…)`` and may be chosen
    over the key's btree — seconds per lookup where keys share their trigrams
    (phone numbers, pinyin). A key column with a btree index has its trigram index
    on another expression (UPPER, which its search compares)."""
    import re

    keys = set(re.findall(r"ON kehu_customer \((\w+)\)", search.KEY_INDEXES))
    assert {"phone_key", "name_pinyin"} <= keys
    for name, expression in search.POSTGRES_INDEXES.items():
        bare = re.fullmatch(r'CAST\("(\w+)" AS VARCHAR\)', expression)
        assert not (bare and bare.group(1) in keys), f"{name} would serve exact lookups of {bare.group(1)}"
    replaced = {new for _, new in search.POSTGRES_REPLACED_INDEXES.values()}
    assert replaced <= set(search.POSTGRES_INDEXES)
