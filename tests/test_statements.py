"""What kehu changes in the statements Tortoise writes and how it reads their rows,
on both engines:

* kehu.server.db.install_list_parameters: a long ``__in`` / ``__not_in`` list is one
  parameter (a JSON text on SQLite, an array on PostgreSQL) and selects exactly
  what Tortoise's ``IN (?, ?, …)`` selects — integers, strings, lists with
  duplicates, ids that do not exist, lists longer than either engine's limit of
  parameters per statement, and through ``count``, ``values``, ``exclude``,
  ``update`` and ``delete``;
* kehu.server.db.install_row_readers: models built by kehu's executors are the
  ones Tortoise's own executors build, annotations, ``.only()`` and
  ``select_related`` included.
"""

import datetime

import pytest
from test_rows import described
from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.backends.sqlite.client import SqliteClient
from tortoise.functions import Count

from kehu.models import AccountOwner, Customer, Interaction, InteractionKind
from kehu.server import db
from kehu.testing import count_queries

pytestmark = pytest.mark.usefixtures("app")


async def seed(n: int) -> list[Customer]:
    owner = await AccountOwner.first()
    customers = [Customer(name=f"客户{i}", email=f"c{i}@example.com", owner=owner) for i in range(n)]
    await Customer.bulk_create(customers)
    customers = await Customer.all().order_by("id")
    now = datetime.datetime.now(datetime.UTC)
    await Interaction.bulk_create(
        [
            Interaction(customer=c, kind=InteractionKind.CALL, subject=f"call {c.id}", occurred_at=now)
            for c in customers[::2]
        ]
    )
    return customers


def test_a_long_list_is_one_parameter_and_selects_what_in_selects(app, db_url):
    customers = app.run(lambda: seed(30))
    ids = [c.id for c in customers]
    wanted = ids[3:20] + [ids[5], ids[5], 2**31 - 1, -1]  # duplicates, an id no row has, a negative one

    async def query():
        return [c.id for c in await Customer.filter(id__in=wanted).order_by("id")]

    with count_queries() as counted:
        got = app.run(query)
    seen = counted.statements
    assert got == ids[3:20]
    assert len(seen) == 1
    assert ("json_each(?)" if db_url.startswith("sqlite") else "= ANY($1)") in seen[0]
    assert seen[0].count("?") + seen[0].count("$") <= 2, seen[0]  # not one placeholder per value


def test_not_in_strings_and_every_kind_of_query_agree_with_in_lists(app):
    customers = app.run(lambda: seed(40))
    ids = [c.id for c in customers]
    emails = [c.email for c in customers[::3]]
    short = ids[:3]  # below LIST_PARAMETER_MIN: Tortoise's own IN

    async def both():
        out = {}
        for label, values in (("long", ids[::2]), ("short", short)):
            out[label] = {
                "in": sorted(c.id for c in await Customer.filter(id__in=values)),
                "not_in": sorted(c.id for c in await Customer.filter(id__not_in=values, id__in=ids)),
                "exclude": sorted(c.id for c in await Customer.filter(id__in=ids).exclude(id__in=values)),
                "count": await Customer.filter(id__in=values).count(),
                "values": sorted(r["id"] for r in await Customer.filter(id__in=values).values("id")),
                "related": await Interaction.filter(customer_id__in=values).count(),
            }
        out["strings"] = sorted(c.email for c in await Customer.filter(email__in=emails))
        return out

    got = app.run(both)
    assert got["long"]["in"] == ids[::2] and got["long"]["not_in"] == ids[1::2]
    assert got["long"]["exclude"] == ids[1::2] and got["long"]["count"] == 20
    assert got["long"]["values"] == ids[::2]
    assert got["long"]["related"] == 20  # every other customer has one, and every other is asked for
    assert got["short"]["in"] == short and got["short"]["count"] == 3
    assert got["strings"] == sorted(emails)


def test_update_and_delete_through_a_long_list(app):
    customers = app.run(lambda: seed(20))
    ids = [c.id for c in customers]

    async def write():
        await Customer.filter(id__in=ids[:10]).update(region="华东")
        await Interaction.filter(customer_id__in=ids[:10]).delete()
        return (
            sorted(c.id for c in await Customer.filter(region="华东")),
            await Interaction.filter(customer_id__in=ids).count(),
        )

    regions, interactions = app.run(write)
    assert regions == ids[:10]
    assert interactions == len(ids[10::2])


def test_a_list_longer_than_the_engines_parameter_limit(app):
    customers = app.run(lambda: seed(10))
    ids = [c.id for c in customers]
    wanted = list(range(-40_000, 0)) + ids  # SQLite allows 32,766 parameters, PostgreSQL 32,767

    async def query():
        return sorted(c.id for c in await Customer.filter(id__in=wanted))

    assert app.run(query) == ids


def test_printed_without_parameters_the_list_is_written_out(app):
    sql = Customer.filter(id__in=list(range(1, 11))).sql(params_inline=True)
    assert "IN (1,2,3,4,5,6,7,8,9,10)" in sql


def test_other_values_keep_tortoises_in(app):
    assert not db._one_parameter([True] * 10)  # bool is an int, but JSON would write true
    assert not db._one_parameter([2**63] * 10)  # past SQLite's integers
    assert not db._one_parameter([1.5] * 10)
    assert not db._one_parameter(list(range(db.LIST_PARAMETER_MIN - 1)))
    assert db._one_parameter(list(range(db.LIST_PARAMETER_MIN)))
    assert db._one_parameter(["a"] * db.LIST_PARAMETER_MIN)


def test_executors_build_what_tortoises_build(app):
    app.run(lambda: seed(12))
    client = next(c for c in (SqliteClient, AsyncpgDBClient) if isinstance(app.kehu.ctx.db(), c))
    ours_class = client.executor_class
    assert ours_class in (db._SqliteExecutor, db._AsyncpgExecutor)

    async def fetch():
        return (
            await Customer.all().order_by("id"),
            await Customer.annotate(n=Count("interactions")).order_by("id"),
            await Customer.all().only("id", "name").order_by("id"),
            await Interaction.all().select_related("customer").order_by("id"),
        )

    ours = app.run(fetch)
    client.executor_class = ours_class.__bases__[-1]  # Tortoise's own
    try:
        theirs = app.run(fetch)
    finally:
        client.executor_class = ours_class
    for mine, tortoises in zip(ours, theirs, strict=True):
        assert mine and [described(m) for m in mine] == [described(t) for t in tortoises]
    assert sorted({c.n for c in ours[1]}) == [0, 1]  # the annotation is read, not only carried
