"""Per-request DataLoaders: a page of N customers costs a constant number of queries.

"Last n interactions of each customer" is one ``ROW_NUMBER() OVER (PARTITION BY
customer_id …)`` query for the whole page (a limited prefetch would limit globally,
not per customer) that returns the rows themselves.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Hashable

from pypika_tortoise.analytics import RowNumber
from pypika_tortoise.enums import Order
from pypika_tortoise.terms import Field
from strawberry.dataloader import DataLoader
from tortoise.connection import connections
from tortoise.functions import Count

from kehu.access import Viewer, visible_customers, visible_owners
from kehu.interactions import InteractionFilter, apply_interaction_filter
from kehu.models import AccountOwner, Customer, Interaction


def filter_key(f: InteractionFilter | None) -> Hashable:
    if f is None:
        return None
    return (
        tuple(f.owner_ids) if f.owner_ids is not None else None,
        tuple(getattr(k, "value", k) for k in f.kinds) if f.kinds is not None else None,
        f.occurred_after,
        f.occurred_before,
    )


class Loaders:
    def __init__(self, viewer: Viewer | None):
        self.viewer = viewer
        self.owner = DataLoader(self._load_owners)
        self.customer = DataLoader(self._load_customers)
        self._interaction_pages: dict[Hashable, DataLoader] = {}
        self._interaction_counts: dict[Hashable, DataLoader] = {}

    async def _load_owners(self, ids: list[int]) -> list[AccountOwner | None]:
        rows = {o.id: o for o in await visible_owners(self.viewer).filter(id__in=ids)}
        return [rows.get(i) for i in ids]

    async def _load_customers(self, ids: list[int]) -> list[Customer | None]:
        rows = {c.id: c for c in await visible_customers(self.viewer).filter(id__in=ids)}
        return [rows.get(i) for i in ids]

    def interaction_page(self, offset: int, limit: int, f: InteractionFilter | None) -> DataLoader:
        """Loader of ``limit`` interactions per customer after ``offset``, newest first.
        Callers pass customers the viewer may already see."""
        key = (offset, limit, filter_key(f))
        if key not in self._interaction_pages:

            async def load(customer_ids: list[int]) -> list[list[Interaction]]:
                return await self._load_interaction_pages(customer_ids, offset, limit, f)

            self._interaction_pages[key] = DataLoader(load)
        return self._interaction_pages[key]

    def interaction_count(self, f: InteractionFilter | None) -> DataLoader:
        key = filter_key(f)
        if key not in self._interaction_counts:

            async def load(customer_ids: list[int]) -> list[int]:
                qs = apply_interaction_filter(Interaction.filter(customer_id__in=customer_ids), f)
                rows = await qs.group_by("customer_id").annotate(n=Count("id")).values("customer_id", "n")
                counts = {r["customer_id"]: r["n"] for r in rows}
                return [counts.get(i, 0) for i in customer_ids]

            self._interaction_counts[key] = DataLoader(load)
        return self._interaction_counts[key]

    async def _load_interaction_pages(
        self, customer_ids: list[int], offset: int, limit: int, f: InteractionFilter | None
    ) -> list[list[Interaction]]:
        # Tortoise builds the filtered, ranked inner query (so values are encoded the
        # way the backend stores them); the rank bound is added around it, as a
        # window function cannot be filtered in its own WHERE clause. The inner query
        # selects the model's columns, so one statement returns the rows themselves,
        # newest first per customer (ordered by rank), turned into models the way
        # Tortoise's own executor does.
        rank = (
            RowNumber()
            .over(Field("customer_id"))
            .orderby(Field("occurred_at"), order=Order.desc)
            .orderby(Field("id"), order=Order.desc)
        )
        inner = apply_interaction_filter(Interaction.filter(customer_id__in=customer_ids), f)
        inner = inner.annotate(_rank=rank)
        inner.sql()  # builds inner.query
        inner_sql, params = inner.query.get_parameterized_sql()
        sql = (
            f"SELECT * FROM ({inner_sql}) ranked "
            f"WHERE _rank > {int(offset)} AND _rank <= {int(offset + limit)} ORDER BY _rank"
        )
        _, rows = await connections.get("default").execute_query(sql, params)
        by_customer: dict[int, list[Interaction]] = defaultdict(list)
        for row in rows:
            values = dict(row)
            del values["_rank"]
            interaction = Interaction._init_from_db(**values)
            by_customer[interaction.customer_id].append(interaction)
        return [by_customer.get(i, []) for i in customer_ids]
