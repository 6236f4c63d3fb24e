"""mergeCustomers over GraphQL: fields chosen, history moved, old ids resolving to
the survivor, one audit entry, permissions and visibility — and a third-party
plugin's rows carried over once it implements ``kehu_customers_merged``."""

from __future__ import annotations

import types

import sample_plugin

from kehu import hookimpl
from kehu.models import AuditEntry, Customer, DuplicatePair, Interaction

CREATE = """mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id } userErrors { code } }
}"""
LOG = """mutation($id: ID!, $kind: InteractionKind!, $amount: String) {
  logInteraction(input: {customerId: $id, kind: $kind, amount: $amount}) {
    interaction { id customer { id } } userErrors { code }
  }
}"""
MERGE = """mutation($input: MergeCustomersInput!) {
  mergeCustomers(input: $input) {
    customer { id name email phone tags attributes externalId createdAt interactions { totalCount } }
    mergedIds
    moved { part item count }
    userErrors { field code message }
  }
}"""
NODE = "query($id: ID!) { node(id: $id) { id ... on Customer { name } } customer(id: $id) { id } }"


def customer(app, as_="admin", **fields):
    values = {"name": "Li Lei", "allowDuplicate": True, **fields}
    data = app.data(CREATE, {"input": values}, as_=as_)["createCustomer"]
    assert not data["userErrors"], data
    return data["customer"]["id"]


def log(app, customer_id, kind="CALL", amount=None, as_="admin"):
    data = app.data(LOG, {"id": customer_id, "kind": kind, "amount": amount}, as_=as_)["logInteraction"]
    assert not data["userErrors"], data
    return data["interaction"]


def merge(app, survivor, merged, as_="admin", **fields):
    payload = {"survivorId": survivor, "mergedIds": merged, "fields": fields or None}
    return app.data(MERGE, {"input": payload}, as_=as_)["mergeCustomers"]


def test_merge_moves_the_history_and_fills_the_survivors_empty_fields(app):
    a = customer(app, name="张伟", email="zw@example.com", tags=["vip"], attributes={"source": "shop"})
    b = customer(
        app, name="Zhang Wei", phone="138 1234 5678", tags=["b2b"], attributes={"source": "fair", "birthday": "03-01"}
    )
    log(app, a)
    log(app, b, "PURCHASE", "88.00")
    log(app, b)
    result = merge(app, a, [b])
    assert result["userErrors"] == []
    survivor = result["customer"]
    assert survivor["id"] == a and result["mergedIds"] == [b]
    assert (survivor["name"], survivor["email"], survivor["phone"]) == ("张伟", "zw@example.com", "138 1234 5678")
    assert survivor["tags"] == ["b2b", "vip"]
    assert survivor["attributes"] == {"source": "shop", "birthday": "03-01"}  # the survivor's keys win
    assert survivor["interactions"]["totalCount"] == 3
    assert {"part": "core", "item": "interactions", "count": 2} in result["moved"]
    merged = app.run(lambda: Customer.get(id=int_id(b)))
    assert merged.archived_at is not None and merged.merged_into_id == int_id(a)
    assert app.run(lambda: Interaction.filter(customer_id=int_id(b)).count()) == 0


def test_each_field_can_come_from_the_record_chosen(app):
    a = customer(app, name="Zhang Wei", email="old@example.com", externalId=None)
    b = customer(app, name="张伟", email="new@example.com", externalId="ERP-7")
    survivor = merge(app, a, [b], name=b, email=b)["customer"]
    assert (survivor["name"], survivor["email"]) == ("张伟", "new@example.com")
    assert survivor["externalId"] == "ERP-7"  # empty on the survivor: it moves (it is unique)
    assert app.run(lambda: Customer.get(id=int_id(b))).external_id is None


def test_old_ids_resolve_to_the_survivor_for_reads_and_writes(app):
    a, b, c = customer(app, name="A"), customer(app, name="B"), customer(app, name="C")
    merge(app, a, [b])
    body = app.data(NODE, {"id": b}, as_="admin")
    assert body["node"] == {"id": a, "name": "A"} and body["customer"] == {"id": a}
    assert log(app, b)["customer"]["id"] == a  # a frontend holding the old id logs on the survivor
    updated = app.data(
        'mutation($id: ID!) { updateCustomer(input: {id: $id, region: "上海"}) { customer { id region } } }',
        {"id": b},
        as_="admin",
    )["updateCustomer"]["customer"]
    assert updated == {"id": a, "region": "上海"}
    merge(app, c, [a])  # the survivor is merged in turn: the oldest id follows
    assert app.data(NODE, {"id": b}, as_="admin")["node"]["id"] == c
    assert app.run(lambda: Customer.get(id=int_id(b))).merged_into_id == int_id(c)
    archived = app.data(
        "{ customers(filter: {archived: true}) { edges { node { id mergedInto { id } } } } }", as_="admin"
    )["customers"]["edges"]
    assert {(e["node"]["id"], e["node"]["mergedInto"]["id"]) for e in archived} == {(a, c), (b, c)}


def test_a_merge_writes_one_audit_entry_listing_what_moved(app):
    a, b = customer(app, name="A"), customer(app, name="B", phone="13900000000")
    log(app, b)
    before = app.run(lambda: AuditEntry.all().count())
    merge(app, a, [b])
    entries = app.run(lambda: AuditEntry.filter(id__gt=before).all())
    assert [e.operation for e in entries] == ["mergeCustomers"]
    changes = entries[0].changes
    assert changes["merged"]["after"] == [b]
    assert changes["moved"]["after"]["core"]["interactions"] == 1
    assert changes["phone"] == {"before": None, "after": "13900000000"}
    assert changes[f"Customer:{int_id(b)}"]["merged_into"]["after"] == a


def test_merging_needs_the_permission_and_sight_of_every_record(app):
    mine = customer(app, "agent", name="Mine")
    also_mine = customer(app, "agent", name="Also mine")
    south = customer(app, "agent_south", name="South")
    body = app.gql(MERGE, {"input": {"survivorId": mine, "mergedIds": [also_mine]}}, as_="agent")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # agents may not merge
    refused = merge(app, mine, [south], as_="manager")
    assert refused["userErrors"][0]["field"] == "mergedIds.0" and refused["userErrors"][0]["code"] == "NOT_FOUND"
    assert merge(app, mine, [also_mine], as_="manager")["userErrors"] == []


def test_merges_that_make_no_sense_are_refused(app):
    a, b, c = customer(app, name="A"), customer(app, name="B"), customer(app, name="C")
    assert merge(app, a, [a])["userErrors"][0]["code"] == "SELF_MERGE"
    assert merge(app, a, [b, b])["userErrors"][0]["code"] == "DUPLICATE_ID"
    assert merge(app, a, [b], name=c)["userErrors"][0] == {
        "field": "fields.name",
        "code": "NOT_IN_MERGE",
        "message": "must be the survivor or one of the merged customers",
    }
    merge(app, a, [b])
    assert merge(app, c, [b])["userErrors"][0]["code"] == "ALREADY_MERGED"
    app.data("mutation($id: ID!) { archiveCustomer(input: {id: $id}) { customer { id } } }", {"id": c}, as_="admin")
    assert merge(app, c, [a])["userErrors"][0]["code"] == "ARCHIVED"


def test_candidate_pairs_of_the_merged_records_become_the_survivors(app):
    a = customer(app, name="Zhang Wei", email="z@example.com")
    b = customer(app, name="Zhang Wei", email="z@example.com")  # allowDuplicate: pair a-b dismissed
    c = customer(app, name="Zhang Wei", phone="13700000000")
    d = customer(app, name="Zhang Wei", phone="13700000000")  # pair c-d
    app.run(lambda: DuplicatePair.all().update(status="OPEN"))
    merge(app, a, [b, c])
    pairs = app.run(lambda: DuplicatePair.all().values_list("customer_a_id", "customer_b_id"))
    assert pairs == [(int_id(a), int_id(d))]  # a-b and a-c settled by the merge; c-d is a's now


# --------------------------------------------------------------------------- third-party plugins


def stickers_with_hook():
    """The test plugin of tests/sample_plugin (stickers on customers, one row each),
    with the merge hook a third party writes from its documentation."""

    @hookimpl
    async def kehu_customers_merged(survivor, merged):
        from sample_plugin.models import Sticker

        moved = await Sticker.filter(customer_id__in=[c.id for c in merged]).update(customer_id=survivor.id)
        return {"stickers": moved}

    hooks = {name: getattr(sample_plugin, name) for name in dir(sample_plugin) if name.startswith("kehu_")}
    return types.SimpleNamespace(**hooks, kehu_customers_merged=kehu_customers_merged)


ADD_STICKER = 'mutation($id: ID!) { addSticker(input: {customerId: $id, label: "star"}) { userErrors { code } } }'


def test_a_plugin_without_the_hook_makes_the_merge_refuse_rather_than_leave_rows_behind(make_app):
    app = make_app(enabled=("stickers",), extra_plugins={"stickers": sample_plugin})
    a, b = customer(app, name="A"), customer(app, name="B")
    app.data(ADD_STICKER, {"id": b}, as_="admin")
    refused = merge(app, a, [b])
    assert refused["customer"] is None
    assert refused["userErrors"][0]["code"] == "MERGE_INCOMPLETE"
    assert "test_sticker" in refused["userErrors"][0]["message"]
    assert app.run(lambda: Customer.get(id=int_id(b))).merged_into_id is None  # nothing happened


def test_a_plugin_that_implements_the_hook_is_carried_over(make_app):
    app = make_app(enabled=("stickers",), extra_plugins={"stickers": stickers_with_hook()})
    a, b = customer(app, name="A"), customer(app, name="B")
    app.data(ADD_STICKER, {"id": b}, as_="admin")
    app.data(ADD_STICKER, {"id": b}, as_="admin")
    result = merge(app, a, [b])
    assert result["userErrors"] == []
    assert {"part": "stickers", "item": "stickers", "count": 2} in result["moved"]
    stickers = app.data("query($id: ID!) { customer(id: $id) { stickers } }", {"id": a}, as_="admin")
    assert stickers["customer"]["stickers"] == ["star", "star"]


def test_a_plugin_may_answer_with_a_plain_count(make_app):
    @hookimpl
    async def kehu_customers_merged(survivor, merged):
        from sample_plugin.models import Sticker

        return await Sticker.filter(customer_id__in=[c.id for c in merged]).update(customer_id=survivor.id)

    hooks = {name: getattr(sample_plugin, name) for name in dir(sample_plugin) if name.startswith("kehu_")}
    plugin = types.SimpleNamespace(**hooks, kehu_customers_merged=kehu_customers_merged)
    app = make_app(enabled=("stickers",), extra_plugins={"stickers": plugin})
    a, b = customer(app, name="A"), customer(app, name="B")
    app.data(ADD_STICKER, {"id": b}, as_="admin")
    result = merge(app, a, [b])
    assert result["userErrors"] == [] and {"part": "stickers", "item": "rows", "count": 1} in result["moved"]


def test_a_plugin_that_fails_undoes_the_whole_merge(make_app):
    @hookimpl
    async def kehu_customers_merged(survivor):
        raise RuntimeError("disk on fire")

    broken = types.SimpleNamespace(kehu_customers_merged=kehu_customers_merged)
    app = make_app(enabled=("broken",), extra_plugins={"broken": broken})
    a, b = customer(app, name="A"), customer(app, name="B", phone="13911112222")
    log(app, b)
    refused = merge(app, a, [b])
    assert refused["userErrors"][0]["code"] == "MERGE_FAILED"
    assert "broken" in refused["userErrors"][0]["message"] and "disk" not in refused["userErrors"][0]["message"]
    assert app.run(lambda: Interaction.filter(customer_id=int_id(b)).count()) == 1
    assert app.run(lambda: Customer.get(id=int_id(a))).phone is None


def int_id(global_id: str) -> int:
    from kehu.ids import from_global_id

    return from_global_id(global_id)[1]
