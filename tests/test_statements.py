"""How kehu reads the rows of Tortoise's statements, on both engines:
kehu.server.db.install_row_readers: models built by kehu's executors are the ones
Tortoise's own executors build, annotations, ``.only()`` and ``select_related``
included.
"""

import datetime

import pytest
from test_rows import described
from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.backends.sqlite.client import SqliteClient
from tortoise.functions import Count

from kehu.models import AccountOwner, Customer, Interaction, InteractionKind
from kehu.server import db

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
