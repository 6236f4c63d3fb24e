"""``node(id)`` and ``nodes(ids)``: any object by its global ID, with the same
visibility rules as every other way to reach it.

The core's types load many at once (one query per type for ``nodes``); a plugin's
type resolves through the function it registered with ``graphql.node(...)``, one
ID at a time (its loaders may batch them). An ID of a type nobody resolves, or of
an object the viewer may not see, is ``null``.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from kehu import models
from kehu.ids import BadRequest, from_global_id
from kehu.interactions import filter_interactions

MAX_NODES = 100


# Customers and owners through the request's DataLoaders: a `node` beside a
# `customer(id)` in the same operation is one query, and batch fields below them
# see their parents together.


async def _customers(info: Any, pks: list[int]) -> dict[int, Any]:
    return dict(zip(pks, await info.context.loaders.customer.load_many(pks)))


async def _owners(info: Any, pks: list[int]) -> dict[int, Any]:
    return dict(zip(pks, await info.context.loaders.owner.load_many(pks)))


async def _interactions(info: Any, pks: list[int]) -> dict[int, Any]:
    return {row.id: row for row in await filter_interactions(info.context.viewer).filter(id__in=pks)}


async def _audit_entries(info: Any, pks: list[int]) -> dict[int, Any]:
    if not info.context.viewer.can("audit.read"):
        return {}
    from .root import _audit_as_seen

    return {row.id: row for row in _audit_as_seen(info, await models.AuditEntry.filter(id__in=pks))}


async def _api_tokens(info: Any, pks: list[int]) -> dict[int, Any]:
    if not info.context.viewer.can("tokens.manage"):
        return {}
    rows = await models.AccessToken.filter(id__in=pks, kind=models.TokenKind.API).select_related("owner")
    return {row.id: row for row in rows}


async def _outbox_events(info: Any, pks: list[int]) -> dict[int, Any]:
    if not info.context.viewer.can("events.manage"):
        return {}
    return {row.id: row for row in await models.OutboxEvent.filter(id__in=pks)}


#: The core's node types: type name -> ``async (info, pks) -> {pk: object}``.
CORE_NODES: dict[str, Callable[[Any, list[int]], Awaitable[dict[int, Any]]]] = {
    "Customer": _customers,
    "AccountOwner": _owners,
    "Interaction": _interactions,
    "AuditEntry": _audit_entries,
    "ApiToken": _api_tokens,
    "OutboxEvent": _outbox_events,
}


async def load_nodes(info: Any, ids: Sequence[str], field: str = "ids") -> list[Any]:
    """The objects named by ``ids``, in order (None where nothing visible is)."""
    if len(ids) > MAX_NODES:
        raise BadRequest(
            f"'{field}' names {len(ids)} objects, at most {MAX_NODES} at once", field=field, code="TOO_MANY_IDS"
        )
    parsed = [from_global_id(global_id, field=f"{field}[{i}]") for i, global_id in enumerate(ids)]
    wanted: dict[str, set[int]] = defaultdict(set)
    for type_name, pk in parsed:
        wanted[type_name].add(pk)
    plugin_resolvers = info.context.kehu.schema.node_resolvers
    found: dict[tuple[str, int], Any] = {}
    for type_name, pks in wanted.items():
        if type_name in CORE_NODES:
            for pk, row in (await CORE_NODES[type_name](info, sorted(pks))).items():
                found[type_name, pk] = row
        elif type_name in plugin_resolvers:
            resolve = plugin_resolvers[type_name][1]
            ordered = sorted(pks)
            for pk, row in zip(ordered, await asyncio.gather(*(resolve(info, pk) for pk in ordered))):
                found[type_name, pk] = row
    return [found.get(key) for key in parsed]
