"""Relay conventions: global IDs, the Node interface, connections.

Cursors are opaque (base64 of an offset in the requested ordering); ``first`` is
capped at 100. A malformed cursor or global ID is a GraphQL error with a code, never
a crash.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import strawberry
from graphql import GraphQLError

from kehu.errors import KehuError
from kehu.ids import MAX_PK, BadRequest
from kehu.ids import b64 as _b64

from .batch import batch_field

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
    edges: list[Edge[T]]
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
