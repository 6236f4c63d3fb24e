"""Relay conventions: global IDs, the Node interface, connections.

Cursors are opaque (base64 of an offset in the requested ordering); ``first`` is
capped at 100. A malformed cursor or global ID is a GraphQL error with a code, never
a crash.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Optional, TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.types.base import get_object_definition

from kehu.errors import KehuError, PluginError
from kehu.ids import MAX_PK, BadRequest, to_global_id
from kehu.ids import b64 as _b64

from .batch import batch_field
from .limits import MAX_ITEMS, PAGED

T = TypeVar("T")

MAX_PAGE_SIZE = 100


def encode_cursor(offset: int) -> str:
    return _b64(f"o:{offset}")


def decode_cursor(cursor: str | None) -> int:
    """The offset *after* which the next page starts."""
    if cursor is None:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        prefix, _, raw = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        offset = int(raw)
        if prefix != "o" or not 0 <= offset < MAX_PK:
            raise ValueError
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest(
            f"'after' is not a cursor this API issued: '{cursor[:40]}'", field="after", code="INVALID_CURSOR"
        ) from None
    return offset + 1


def page_bounds(first: int | None, after: str | None, default: int = 20) -> tuple[int, int]:
    """``(offset, limit)`` for a page request, validated."""
    if first is None:
        first = default
    if first < 0:
        raise BadRequest("'first' must not be negative", field="first", code="INVALID_PAGE_SIZE")
    if first > MAX_PAGE_SIZE:
        raise BadRequest(
            f"'first' is {first}, at most {MAX_PAGE_SIZE} items per page", field="first", code="PAGE_TOO_LARGE"
        )
    return decode_cursor(after), first


@strawberry.interface(description="An object with a global ID, fetchable with `node(id)`.")
class Node:
    id: strawberry.ID


class ModelNode(Node):
    """The base of a ``Node`` type whose objects are rows of one Tortoise model::

        @strawberry.type(description="An item of the rewards catalogue.")
        class Reward(ModelNode, model=models.Reward):
            name: str
            points_cost: int

    It gives the type the two things every ``Node`` type needs: ``id``, the global
    ID of the row (the type's GraphQL name and the row's ``id``), and
    ``is_type_of``, which tells graphql-core that a ``models.Reward`` row is a
    ``Reward``. Resolvers return model rows, not strawberry objects, and a ``Node``
    type without ``is_type_of`` fails every field that returns it — so kehu refuses
    to start with one (``check_node_types``). A subclass keeps its parent's model
    unless it names another; an ``id`` or ``is_type_of`` written in the class body
    wins over the derived one.
    """

    def __init_subclass__(cls, *, model: type | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        model = model or getattr(cls, "_kehu_model", None)
        if model is None:
            raise TypeError(f"{cls.__name__}: name its model, e.g. class {cls.__name__}(ModelNode, model=MyModel)")
        cls._kehu_model = model  # type: ignore[attr-defined]
        if "id" not in cls.__dict__:
            cls.id = strawberry.field(
                resolver=_global_id_of(lambda: get_object_definition(cls, strict=True).name, "id")
            )
        if "is_type_of" not in cls.__dict__:
            cls.is_type_of = classmethod(_instance_check(model))  # type: ignore[attr-defined]


def global_id_field(type_name: str, attribute: str = "id", *, optional: bool = False, description: str | None = None):
    """A field showing ``to_global_id(type_name, <the object's attribute>)``: the ``id``
    of a type that is not a ``Node`` (``id = global_id_field("SurveyChoice")``), or a
    reference to another object (``global_id_field("Interaction", "interaction_id",
    optional=True)``: ``null`` when the attribute is ``None``)."""
    resolver = _global_id_of(lambda: type_name, attribute, optional=optional)
    return strawberry.field(resolver=resolver, description=description)


def _global_id_of(type_name: Callable[[], str], attribute: str, *, optional: bool = False) -> Callable[[Any], Any]:
    # A plain function of the object alone keeps the field on the executor's fast
    # path (plain_resolvers). The type name is read once, on first use: a class's
    # GraphQL name is known only after @strawberry.type has run.
    name: list[str] = []

    def global_id(self) -> strawberry.ID:
        if not name:
            name.append(type_name())
        return strawberry.ID(to_global_id(name[0], getattr(self, attribute)))

    def optional_global_id(self) -> Optional[strawberry.ID]:
        pk = getattr(self, attribute)
        if pk is None:
            return None
        if not name:
            name.append(type_name())
        return strawberry.ID(to_global_id(name[0], pk))

    return optional_global_id if optional else global_id


def _instance_check(model: type) -> Callable[[Any, Any, Any], bool]:
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, model)

    return is_type_of


def check_node_types(schema: Any) -> None:
    """Refuse a schema with a ``Node`` type that has no ``is_type_of`` (see
    ``ModelNode``): one line at start-up rather than an error on every request."""
    for concrete in schema.schema_converter.type_map.values():
        definition = concrete.definition
        interfaces = getattr(definition, "interfaces", None) or ()
        if any(i.name == "Node" for i in interfaces) and getattr(definition, "is_type_of", None) is None:
            origin = definition.origin
            raise PluginError(
                f"GraphQL type {definition.name} ({origin.__module__}.{origin.__qualname__}) implements Node "
                "without is_type_of: derive it from kehu.schema.ModelNode"
            )


# Cursors are encoded only when asked for: a page of customers with their last
# interactions holds ~100 connections and ~600 edges whose cursors nobody reads.


def _start_cursor(self) -> str | None:
    return encode_cursor(self.offset) if self.count else None


def _end_cursor(self) -> str | None:
    return encode_cursor(self.offset + self.count - 1) if self.count else None


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None = strawberry.field(resolver=_start_cursor)
    end_cursor: str | None = strawberry.field(resolver=_end_cursor)
    offset: strawberry.Private[int] = 0  # of the first item on the page
    count: strawberry.Private[int] = 0  # items on the page


def _edge_cursor(self) -> str:
    return encode_cursor(self.offset)


@strawberry.type
class Edge(Generic[T]):
    cursor: str = strawberry.field(resolver=_edge_cursor)
    node: T
    offset: strawberry.Private[int]


@strawberry.type(description="A page of results, Relay style.")
class Connection(Generic[T]):
    # As many as the connection's `first`: the query-size estimate counts them there.
    edges: list[Edge[T]] = strawberry.field(metadata={MAX_ITEMS: PAGED})
    page_info: PageInfo
    _count: strawberry.Private[Callable[[], Awaitable[int]]]
    # Connections of many parents that one statement can count: (counter, parent),
    # where ``await counter([parent, …])`` is the list of their counts.
    _count_group: strawberry.Private[Any] = None

    @batch_field(description="Number of items matching, over all pages (only those the viewer may see).")
    async def total_count(connections: list[Connection]) -> list[int]:
        counts: list[Any] = [None] * len(connections)
        groups: dict[int, tuple[Any, list[tuple[int, Any]]]] = {}
        for index, connection in enumerate(connections):
            if connection._count_group is None:
                counts[index] = await connection._count()
            else:
                counter, parent = connection._count_group
                groups.setdefault(id(counter), (counter, []))[1].append((index, parent))
        for counter, members in groups.values():
            for (index, _), n in zip(members, await counter([parent for _, parent in members])):
                counts[index] = n
        return counts


def make_connection(
    items: list[Any], offset: int, limit: int, count: Callable[[], Awaitable[int]], count_group: Any = None
) -> Connection:
    """Build a connection from ``limit + 1`` fetched items (the extra one tells
    whether there is a next page). ``count_group``: see ``Connection``."""
    has_next = len(items) > limit
    items = items[:limit]
    edges = [Edge(node=item, offset=offset + i) for i, item in enumerate(items)]
    return Connection(
        edges=edges,
        page_info=PageInfo(has_next_page=has_next, has_previous_page=offset > 0, offset=offset, count=len(edges)),
        _count=count,
        _count_group=count_group,
    )


async def paginate(qs, first: int | None, after: str | None, default: int = 20) -> Connection:
    """One page of a Tortoise queryset (already filtered by visibility and ordered)."""
    offset, limit = page_bounds(first, after, default)
    items = await qs.offset(offset).limit(limit + 1) if limit else []
    return make_connection(list(items), offset, limit, qs.count)


def as_graphql_error(error: KehuError) -> GraphQLError:
    return GraphQLError(
        error.message, extensions={"code": error.code, **({"field": error.field} if error.field else {})}
    )
