"""What a webhook says.

Every body is a Standard Webhooks payload: ``{"type", "timestamp", "data"}``. By
default ``data`` holds only what the live event holds — the object's global ID,
its customer's, and a few non-personal facts (a status, a kind): the receiver asks
the GraphQL API for more, through its own access rules. An endpoint granted a role
also gets ``data.object``: the object as that role sees it through GraphQL — every
scalar field of its type, each personal field masked as the masking plugin says
for the role — read as the endpoint's service account.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING, Any

import orjson
from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    build_schema,
)

from kehu.access import Viewer
from kehu.ids import from_global_id, to_global_id

if TYPE_CHECKING:
    from kehu import Kehu
    from kehu.events import Event

    from ..models import WebhookEndpoint

log = logging.getLogger("kehu.plugins.webhooks")

# Roles whose view an endpoint may be given: those that see every customer. A
# MANAGER or AGENT service account would see nobody's (it owns no customer).
ROLES = ("ADMIN", "ANALYST")


def facts(event: Event) -> dict[str, Any]:
    data: dict[str, Any] = {"id": event.node_id}
    if event.customer_id is not None:
        data["customerId"] = to_global_id("Customer", event.customer_id)
    data.update(event.data)
    return data


async def body(kehu: Kehu, endpoint: WebhookEndpoint, event: Event) -> str:
    data = facts(event)
    if endpoint.role and endpoint.service_owner_id and event.node_id:
        seen = await role_view(kehu, endpoint, event.node_id)
        if seen is not None:
            data["object"] = seen
    return orjson.dumps({"type": event.topic, "timestamp": event.at, "data": data}).decode()


def as_seen_by(kehu: Kehu, viewer: Viewer | None, body: str) -> str:
    """A delivery's body as ``viewer`` may read it in the log: ``data.object`` holds
    the endpoint's role's view, which may be clearer than the reader's own, so each
    of its personal fields is masked again as the reader sees that field."""
    try:
        payload = orjson.loads(body)
        data = payload["data"]
        seen = data["object"]
        type_name, _ = from_global_id(data["id"])
    except Exception:  # no object: ids and facts only
        return body
    if not isinstance(seen, dict):
        return body
    guard = kehu.field_guard
    data["object"] = {name: guard.mask(viewer, f"{type_name}.{name}", value) for name, value in seen.items()}
    return orjson.dumps(payload).decode()


_queries: dict[tuple[int, str], str | None] = {}
# The schema as graphql-core types, built from its public SDL (strawberry's own
# graphql-core schema is a private attribute, which plugins do not touch).
_typed: weakref.WeakKeyDictionary[Any, GraphQLSchema] = weakref.WeakKeyDictionary()


def _leaf_query(kehu: Kehu, type_name: str) -> str | None:
    """``node(id)`` selecting every scalar field (no required arguments) of a type."""
    key = (id(kehu.schema), type_name)
    if key not in _queries:
        typed = _typed.get(kehu.schema)
        if typed is None:
            typed = _typed[kehu.schema] = build_schema(kehu.schema.as_str())
        graphql_type = typed.get_type(type_name)
        names = []
        if isinstance(graphql_type, GraphQLObjectType):
            for name, field in graphql_type.fields.items():
                inner = field.type
                while isinstance(inner, (GraphQLNonNull, GraphQLList)):
                    inner = inner.of_type
                required = any(isinstance(a.type, GraphQLNonNull) for a in field.args.values())
                if isinstance(inner, (GraphQLScalarType, GraphQLEnumType)) and not required:
                    names.append(name)
        _queries[key] = (
            f"query WebhookObject($id: ID!) {{ node(id: $id) {{ ... on {type_name} {{ {' '.join(names)} }} }} }}"
            if names
            else None
        )
    return _queries[key]


async def role_view(kehu: Kehu, endpoint: WebhookEndpoint, node_id: str) -> dict[str, Any] | None:
    from kehu.models import AccountOwner
    from kehu.schema import execute_as

    try:
        type_name, _ = from_global_id(node_id)
    except Exception:
        return None
    query = _leaf_query(kehu, type_name)
    owner = await AccountOwner.get_or_none(id=endpoint.service_owner_id, active=True)
    if query is None or owner is None:
        return None
    viewer = Viewer(owner=owner, permissions=kehu.permissions_for(owner.role))
    result = await execute_as(kehu, viewer, query, {"id": node_id})
    if result.errors:
        log.warning(
            "webhook endpoint %s: the %s view of %s failed: %s", endpoint.id, owner.role, node_id, result.errors
        )
    node = (result.data or {}).get("node")
    return node or None
