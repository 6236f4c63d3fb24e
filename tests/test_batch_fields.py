"""kehu.schema.batch_field: a field written for a list of parents, called once per
level of a response — by the executor's prefetch inside lists, through a
per-request DataLoader elsewhere — with errors reported per parent."""

import datetime as dt
import logging
import types
from typing import Optional

import pytest
import strawberry
from strawberry.types import Info

from kehu import hookimpl
from kehu.errors import PluginError
from kehu.ids import to_global_id
from kehu.models import Customer, Interaction, InteractionKind
from kehu.schema import batch_field
from kehu.testing import count_queries

CALLS: list[tuple[str, tuple]] = []


@strawberry.type
class CustomerProbe:
    @batch_field(description="A label per customer, made in one call for the whole page.")
    async def probe(customers: list["Customer"], info: Info, prefix: str = "c") -> list[str]:
        CALLS.append((f"customer:{prefix}", tuple(c.id for c in customers)))
        assert info.context.viewer is not None
        return [f"{prefix}{c.id}" for c in customers]

    @batch_field
    def failing(customers: list["Customer"]) -> list[Optional[str]]:
        CALLS.append(("failing", tuple(c.id for c in customers)))
        raise ValueError("the probe's storage is down")

    @batch_field
    def misaligned(customers: list["Customer"]) -> list[Optional[str]]:
        return ["only one"]


@strawberry.type
class InteractionProbe:
    @batch_field
    async def probe(interactions: list["Interaction"]) -> list[int]:
        CALLS.append(("interaction", tuple(i.id for i in interactions)))
        return [i.id * 10 for i in interactions]


def _graphql(graphql):
    graphql.extend("Customer", CustomerProbe)
    graphql.extend("Interaction", InteractionProbe)


PROBE = types.SimpleNamespace(kehu_graphql=hookimpl(_graphql))


@pytest.fixture
def probed(make_app):
    app = make_app(enabled=("probe",), extra_plugins={"probe": PROBE})

    async def seed():
        ids = []
        for i in range(12):
            customer = await Customer.create(name=f"Probe {i:02d}", owner=app.accounts["agent"])
            for days in range(3):
                await Interaction.create(
                    customer=customer,
                    owner=app.accounts["agent"],
                    kind=InteractionKind.CALL,
                    occurred_at=app.clock.now() - dt.timedelta(days=days + 1),
                )
            ids.append(customer.id)
        return ids

    app.customer_ids = app.run(seed)
    CALLS.clear()
    yield app
    CALLS.clear()


PAGE = """{ customers(first: 10) { edges { node { id probe
            interactions(first: 2) { edges { node { id probe } } } } } } }"""


def test_a_batch_field_is_called_once_per_level_of_a_page(probed):
    data = probed.data(PAGE, as_="admin")
    nodes = [e["node"] for e in data["customers"]["edges"]]
    page_ids = probed.customer_ids[:10]
    assert [n["probe"] for n in nodes] == [f"c{i}" for i in page_ids]
    interaction_ids = [e["node"]["id"] for n in nodes for e in n["interactions"]["edges"]]
    assert len(interaction_ids) == 20
    # One call for the ten customers, one for all twenty interactions under them.
    assert [kind for kind, _ in CALLS] == ["customer:c", "interaction"]
    assert CALLS[0][1] == tuple(page_ids)
    assert sorted(CALLS[1][1]) == sorted(
        int(e["node"]["probe"]) // 10 for n in nodes for e in n["interactions"]["edges"]
    )
    for n in nodes:
        for e in n["interactions"]["edges"]:
            assert to_global_id("Interaction", e["node"]["probe"] // 10) == e["node"]["id"]


def test_a_page_costs_the_same_statements_for_3_customers_as_for_10(probed):
    small = PAGE.replace("first: 10", "first: 3")
    probed.data(PAGE, as_="admin")  # warm: the token's last use is written once a minute
    with count_queries() as few:
        probed.data(small, as_="admin")
    with count_queries() as many:
        probed.data(PAGE, as_="admin")
    assert few.count == many.count


def test_arguments_reach_the_function_and_each_alias_is_its_own_call(probed):
    data = probed.data(
        '{ customers(first: 4) { edges { node { a: probe(prefix: "x") b: probe(prefix: "y") } } } }', as_="admin"
    )
    ids = probed.customer_ids[:4]
    assert [e["node"] for e in data["customers"]["edges"]] == [{"a": f"x{i}", "b": f"y{i}"} for i in ids]
    assert sorted(kind for kind, _ in CALLS) == ["customer:x", "customer:y"]


def test_outside_a_list_parents_met_together_share_one_call(probed):
    first, second = (to_global_id("Customer", i) for i in probed.customer_ids[:2])
    data = probed.data(
        "query($a: ID!, $b: ID!) { a: customer(id: $a) { probe } b: node(id: $b) { ... on Customer { probe } } }",
        {"a": first, "b": second},
        as_="admin",
    )
    assert data == {"a": {"probe": f"c{probed.customer_ids[0]}"}, "b": {"probe": f"c{probed.customer_ids[1]}"}}
    assert CALLS == [("customer:c", tuple(probed.customer_ids[:2]))]


def test_only_visible_parents_reach_the_function(probed, make_app):
    # The agent owns every probe customer; a manager of another team sees none of them.
    data = probed.data("{ customers(first: 100) { edges { node { probe } } } }", as_="manager_south")
    assert data["customers"]["edges"] == []
    assert CALLS == []


def test_a_failing_function_fails_the_field_of_each_parent_at_its_own_path(probed, caplog):
    with caplog.at_level(logging.ERROR, logger="kehu.schema"):
        body = probed.gql("{ customers(first: 3) { edges { node { name failing } } } }", as_="admin")
    names = [e["node"]["name"] for e in body["data"]["customers"]["edges"]]
    assert names == ["Probe 00", "Probe 01", "Probe 02"]
    assert [e["node"]["failing"] for e in body["data"]["customers"]["edges"]] == [None, None, None]
    assert [e["path"] for e in body["errors"]] == [["customers", "edges", i, "node", "failing"] for i in range(3)]
    assert {e["extensions"]["code"] for e in body["errors"]} == {"INTERNAL_ERROR"}
    assert all("storage is down" not in e["message"] for e in body["errors"])
    assert "storage is down" in caplog.text
    assert CALLS == [("failing", tuple(probed.customer_ids[:3]))]


def test_a_function_returning_the_wrong_number_of_values_is_an_error_not_a_misaligned_answer(probed, caplog):
    with caplog.at_level(logging.ERROR, logger="kehu.schema"):
        body = probed.gql("{ customers(first: 2) { edges { node { misaligned } } } }", as_="admin")
    assert [e["node"]["misaligned"] for e in body["data"]["customers"]["edges"]] == [None, None]
    assert {e["extensions"]["code"] for e in body["errors"]} == {"INTERNAL_ERROR"}
    assert "returned 1 values for 2 parents" in caplog.text


def test_the_schema_shows_the_item_type_and_the_arguments(probed):
    sdl = probed.kehu.schema.as_str()
    assert 'probe(prefix: String! = "c"): String!' in sdl
    assert "failing: String" in sdl


def test_a_batch_field_must_be_annotated_with_a_list_of_results():
    with pytest.raises(PluginError, match=r"must be annotated to return list\[ItemType\]"):

        @strawberry.type
        class Wrong:
            @batch_field
            def count(customers: list["Customer"]) -> int:
                return 0


# --------------------------------------------------------------------------- permissions


class AdminsOnly(strawberry.BasePermission):
    message = "admins only"

    def has_permission(self, source, info, **kwargs) -> bool:
        return info.context.viewer is not None and info.context.viewer.role.value == "ADMIN"


class EvenCustomersOnly(strawberry.BasePermission):
    message = "odd customers are secret"

    async def has_permission(self, source, info, **kwargs) -> bool:
        return source.id % 2 == 0


class RefuseAgents(strawberry.extensions.FieldExtension):
    """A plugin's own gate, written as a field extension rather than a permission."""

    async def resolve_async(self, next_, source, info, **kwargs):
        if info.context.viewer.role.value == "AGENT":
            raise PermissionError("agents may not read this")
        return await next_(source, info, **kwargs)


@strawberry.type
class GuardedProbe:
    @batch_field(permission_classes=[AdminsOnly])
    def secret(customers: list["Customer"]) -> list[Optional[str]]:
        CALLS.append(("secret", tuple(c.id for c in customers)))
        return [f"s{c.id}" for c in customers]

    @batch_field(permission_classes=[EvenCustomersOnly])
    def even(customers: list["Customer"]) -> list[Optional[str]]:
        CALLS.append(("even", tuple(c.id for c in customers)))
        return [f"e{c.id}" for c in customers]

    @batch_field(extensions=[RefuseAgents()])
    def gated(customers: list["Customer"]) -> list[Optional[str]]:
        CALLS.append(("gated", tuple(c.id for c in customers)))
        return [f"g{c.id}" for c in customers]


GUARDED = types.SimpleNamespace(kehu_graphql=hookimpl(lambda graphql: graphql.extend("Customer", GuardedProbe)))


@pytest.fixture
def guarded(make_app):
    app = make_app(enabled=("guarded",), extra_plugins={"guarded": GUARDED})

    async def seed():
        return [(await Customer.create(name=f"G {i}", owner=app.accounts["agent"])).id for i in range(6)]

    app.customer_ids = app.run(seed)
    CALLS.clear()
    yield app
    CALLS.clear()


def test_a_batch_field_its_permission_denies_never_runs(guarded):
    body = guarded.gql("{ customers(first: 10) { edges { node { id secret } } } }", as_="agent")
    assert CALLS == []
    assert {(e["message"], e["extensions"]["code"]) for e in body["errors"]} == {("admins only", "FORBIDDEN")}
    assert len(body["errors"]) == 6
    data = guarded.data("{ customers(first: 10) { edges { node { secret } } } }", as_="admin")
    assert [e["node"]["secret"] for e in data["customers"]["edges"]] == [f"s{i}" for i in guarded.customer_ids]
    assert CALLS == [("secret", tuple(guarded.customer_ids))]


def test_a_batch_field_runs_only_for_the_parents_its_permission_allows(guarded):
    body = guarded.gql("{ customers(first: 10) { edges { node { id even } } } }", as_="admin")
    assert CALLS == [("even", tuple(i for i in guarded.customer_ids if i % 2 == 0))]
    assert len(body["errors"]) == sum(1 for i in guarded.customer_ids if i % 2)


def test_a_batch_field_behind_another_extension_runs_only_past_it(guarded):
    body = guarded.gql("{ customers(first: 10) { edges { node { gated } } } }", as_="agent")
    assert CALLS == []
    assert len(body["errors"]) == 6
    data = guarded.data("{ customers(first: 10) { edges { node { gated } } } }", as_="admin")
    assert [e["node"]["gated"] for e in data["customers"]["edges"]] == [f"g{i}" for i in guarded.customer_ids]
    assert CALLS == [("gated", tuple(guarded.customer_ids))]  # still one call for the page


def test_the_plain_paths_loader_keeps_each_parent_while_it_holds_its_result():
    """A cache keyed by ``id(parent)`` outlived its parent: a connection completed
    and freed mid-request left its id to a new one, which was then served the first
    one's cached count (seen as a flaky totalCount on the plain path, under load)."""
    import asyncio
    import gc
    import weakref

    from strawberry.dataloader import DataLoader

    from kehu.schema.batch import _Same

    class Parent:
        def __init__(self, n):
            self.n = n

    async def values(parents):
        return [p.n for p in parents]

    async def run():
        loader = DataLoader(values, cache_key_fn=_Same)
        first = Parent(1)
        gone = weakref.ref(first)
        assert await loader.load(first) == 1
        del first
        gc.collect()
        assert gone() is not None  # its id cannot be another parent's while it is cached
        assert await loader.load(Parent(2)) == 2

    asyncio.run(run())
