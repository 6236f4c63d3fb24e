"""Relay conventions: global IDs, the Node interface, connections.

Cursors are opaque. Two kinds:

* **Keyset cursors** (``paginate(..., order_by=...)``): the values of the row in
  the list's ordering. The next page is "rows after these values" — a range scan
  from an index, so page 5,000 costs what page 1 costs, and rows inserted or
  archived meanwhile neither repeat nor skip others. They also page backwards
  (``last``/``before``). A cursor names its ordering: one from another ordering
  is refused.
* **Offset cursors** (lists without ``order_by``, and the per-parent lists of
  ``nested_connection(s)``): the position in the list.

``first``/``last`` are capped at 100. A malformed cursor or global ID is a GraphQL
error with a code, never a crash.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, Generic, Optional, TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.types.base import get_object_definition
from tortoise import fields as tortoise_fields
from tortoise.expressions import Q
from tortoise.models import Model

from kehu.errors import KehuError, PluginError
from kehu.ids import MAX_PK, BadRequest, to_global_id
from kehu.ids import b64 as _b64

from .batch import batch_field
from .limits import MAX_ITEMS, PAGED

T = TypeVar("T")

MAX_PAGE_SIZE = 100


def encode_cursor(offset: int) -> str:
    return _b64(f"o:{offset}")


def _invalid_cursor(cursor: str, field: str = "after", why: str = "is not a cursor this API issued") -> BadRequest:
    return BadRequest(f"'{field}' {why}: '{cursor[:40]}'", field=field, code="INVALID_CURSOR")


def _unpack(cursor: str, field: str) -> tuple[str, str]:
    """``(kind, payload)`` of a cursor: ``"o"`` (offset) or ``"k"`` (keyset)."""
    if not isinstance(cursor, str) or len(cursor) > 2000:
        raise _invalid_cursor(str(cursor), field)
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        kind, _, payload = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _invalid_cursor(cursor, field) from None
    if kind not in ("o", "k"):
        raise _invalid_cursor(cursor, field)
    return kind, payload


def decode_cursor(cursor: str | None, field: str = "after") -> int:
    """The offset *after* which the next page starts (an offset cursor)."""
    if cursor is None:
        return 0
    kind, raw = _unpack(cursor, field)
    try:
        offset = int(raw)
        if kind != "o" or not 0 <= offset < MAX_PK:
            raise ValueError
    except ValueError:
        raise _invalid_cursor(cursor, field) from None
    return offset + 1


def page_size(value: int | None, field: str, default: int) -> int:
    if value is None:
        return default
    if value < 0:
        raise BadRequest(f"'{field}' must not be negative", field=field, code="INVALID_PAGE_SIZE")
    if value > MAX_PAGE_SIZE:
        raise BadRequest(
            f"'{field}' is {value}, at most {MAX_PAGE_SIZE} items per page", field=field, code="PAGE_TOO_LARGE"
        )
    return value


def page_bounds(first: int | None, after: str | None, default: int = 20) -> tuple[int, int]:
    """``(offset, limit)`` for a page request, validated."""
    return decode_cursor(after), page_size(first, "first", default)


def _direction(first: int | None, after: str | None, last: int | None, before: str | None) -> bool:
    """True to page backwards (``last``/``before``)."""
    if last is None and before is None:
        return False
    if first is not None or after is not None:
        raise BadRequest(
            "page forwards (first/after) or backwards (last/before), not both at once",
            field="last" if last is not None else "before",
            code="INVALID_PAGE_ARGUMENTS",
        )
    return True


# --------------------------------------------------------------------------- keyset cursors


class Keyset:
    """An ordering of a model's rows that keyset cursors can resume: columns,
    ``-`` for descending, the last one unique (the primary key). Nullable columns
    are allowed: NULLs sort where the database puts them (PostgreSQL: above every
    value, SQLite: below), and the seek condition follows."""

    def __init__(self, model: type[Model], order_by: Sequence[str]):
        self.model = model
        self.order_by = tuple(order_by)
        meta = model._meta
        self.columns: list[tuple[str, bool, Any]] = []  # (name, descending, tortoise field)
        for column in self.order_by:
            name = column.lstrip("-")
            field = meta.fields_map.get(name)
            if field is None:
                raise ValueError(f"{model.__name__} has no column {name!r} to page by")
            self.columns.append((name, column.startswith("-"), field))
        if self.columns[-1][0] not in (meta.pk_attr, "id"):
            raise ValueError(f"a keyset ordering must end with the primary key: {self.order_by}")
        self.signature = ",".join(self.order_by)

    # cursor <-> values

    def cursor(self, row: Any) -> str:
        values = [_encode_value(getattr(row, name)) for name, _, _ in self.columns]
        return _b64("k:" + json.dumps([self.signature, values], separators=(",", ":"), ensure_ascii=False))

    def values(self, cursor: str, field: str) -> list[Any]:
        kind, payload = _unpack(cursor, field)
        if kind != "k":
            raise _invalid_cursor(cursor, field, "is a cursor of another list")
        try:
            signature, raw = json.loads(payload)
            if signature != self.signature:
                raise _invalid_cursor(cursor, field, "is a cursor of this list in another order")
            if not isinstance(raw, list) or len(raw) != len(self.columns):
                raise ValueError
            return [_decode_value(value, f) for value, (_, _, f) in zip(raw, self.columns)]
        except KehuError:
            raise
        except (ValueError, TypeError, InvalidOperation, OverflowError):
            raise _invalid_cursor(cursor, field) from None

    # the seek condition

    def after(self, values: list[Any], *, backwards: bool, nulls_high: bool) -> Q | None:
        """Rows after ``values`` in this ordering (reversed when ``backwards``); None
        if there can be none."""
        alternatives = []
        equal: list[Q] = []
        for (name, descending, field), value in zip(self.columns, values):
            later = _later(name, value, descending != backwards, nulls_high, field.null)
            if later is not None:
                alternatives.append(Q(*equal, later) if equal else later)
            equal.append(_is_null(name, True) if value is None else Q(**{name: value}))
        if not alternatives:
            return None
        condition = alternatives[0] if len(alternatives) == 1 else Q(*alternatives, join_type=Q.OR)
        # The same condition with the first column's bound spelled out on its own,
        # so that both databases start an index range scan there instead of
        # filtering every row before it.
        name, descending, field = self.columns[0]
        value, descending = values[0], descending != backwards
        if value is not None and not (field.null and nulls_high != descending):
            condition = Q(Q(**{f"{name}__{'lte' if descending else 'gte'}": value}), condition)
        return condition


@functools.lru_cache(maxsize=256)
def keyset(model: type[Model], order_by: tuple[str, ...]) -> Keyset:
    """The ``Keyset`` of ``model`` ordered by ``order_by`` (built once)."""
    return Keyset(model, order_by)


def _is_null(name: str, null: bool) -> Q:
    lookup: dict[str, Any] = {f"{name}__isnull": null}  # Any: mypy would match a bool to Q's join_type
    return Q(**lookup)


def _later(name: str, value: Any, descending: bool, nulls_high: bool, nullable: bool) -> Q | None:
    """Rows whose ``name`` comes after ``value`` in the order (None: none can)."""
    nulls_after = nulls_high != descending  # NULLs sort after every value
    if value is None:
        return _is_null(name, False) if not nulls_after else None
    later = Q(**{f"{name}__{'lt' if descending else 'gt'}": value})
    if nullable and nulls_after:
        later = Q(later, _is_null(name, True), join_type=Q.OR)
    return later


def _encode_value(value: Any) -> Any:
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _decode_value(value: Any, field: Any) -> Any:
    if value is None:
        if not field.null:
            raise ValueError("null for a non-null column")
        return None
    if isinstance(field, tortoise_fields.DatetimeField):
        parsed = dt.datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    if isinstance(field, tortoise_fields.DateField):
        return dt.date.fromisoformat(value)
    if isinstance(field, tortoise_fields.DecimalField):
        return Decimal(value)
    if isinstance(field, (tortoise_fields.IntField, tortoise_fields.BigIntField, tortoise_fields.SmallIntField)):
        if not isinstance(value, int) or isinstance(value, bool) or abs(value) > 2**63 - 1:
            raise ValueError("not an integer")
        return value
    if isinstance(field, tortoise_fields.BooleanField):
        if not isinstance(value, bool):
            raise ValueError("not a boolean")
        return value
    if isinstance(field, tortoise_fields.FloatField):
        return float(value)
    if not isinstance(value, str):
        raise ValueError("not text")
    return value


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

    # Without ``strawberry.ID(…)``, a call that returns its argument: a page of 100
    # customers shows ~700 IDs.
    def global_id(self) -> strawberry.ID:
        if not name:
            name.append(type_name())
        return to_global_id(name[0], getattr(self, attribute))  # type: ignore[return-value]

    def optional_global_id(self) -> Optional[strawberry.ID]:
        pk = getattr(self, attribute)
        if pk is None:
            return None
        if not name:
            name.append(type_name())
        return to_global_id(name[0], pk)  # type: ignore[return-value]

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
# An edge knows how to write its cursor (``cursors``: the connection's keyset, or
# None for an offset cursor).


def _edge_cursor(self) -> str:
    if self.cursors is None:
        return encode_cursor(self.offset)
    return self.cursors.cursor(self.node if self.row is None else self.row)


def _start_cursor(self) -> str | None:
    return _edge_cursor(self.first_edge) if self.first_edge is not None else None


def _end_cursor(self) -> str | None:
    return _edge_cursor(self.last_edge) if self.last_edge is not None else None


@strawberry.type(description="Where a page sits in its list, and the cursors to move from it.")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="More items follow the last one of this page (ask with `first` and `after: endCursor`)."
    )
    has_previous_page: bool = strawberry.field(
        description="Items come before the first one of this page (ask with `last` and `before: startCursor`)."
    )
    start_cursor: str | None = strawberry.field(
        resolver=_start_cursor, description="The cursor of the first item on the page; null when it is empty."
    )
    end_cursor: str | None = strawberry.field(
        resolver=_end_cursor, description="The cursor of the last item on the page; null when it is empty."
    )
    first_edge: strawberry.Private[Any] = None
    last_edge: strawberry.Private[Any] = None


@strawberry.type(description="An item of a page and the cursor that resumes the list after (or before) it.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(
        resolver=_edge_cursor, description="Opaque: pass as `after` (or `before`) to continue from this item."
    )
    node: T = strawberry.field(description="The item.")
    offset: strawberry.Private[int]
    cursors: strawberry.Private[Any] = None
    # The row the cursor is written from, when ``node`` shows something else
    # (``Connection.replace_nodes``).
    row: strawberry.Private[Any] = None


@strawberry.type(description="A page of results, Relay style.")
class Connection(Generic[T]):
    # As many as the connection's `first`: the query-size estimate counts them there.
    edges: list[Edge[T]] = strawberry.field(
        metadata={MAX_ITEMS: PAGED}, description="The items of this page, each with its cursor."
    )
    page_info: PageInfo = strawberry.field(description="Whether more pages follow or precede, and their cursors.")
    _count: strawberry.Private[Callable[[], Awaitable[int]]]
    # Connections of many parents that one statement can count: (counter, parent),
    # where ``await counter([parent, …])`` is the list of their counts.
    _count_group: strawberry.Private[Any] = None

    def replace_nodes(self, nodes: Sequence[Any]) -> None:
        """Show ``nodes`` (one per edge, in order) in the place of the page's rows —
        a view built for the whole page at once; the cursors stay the rows'."""
        if len(nodes) != len(self.edges):
            raise ValueError(f"{len(nodes)} nodes for {len(self.edges)} edges")
        for edge, node in zip(self.edges, nodes):
            edge.row, edge.node = edge.node if edge.row is None else edge.row, node

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
    items: list[Any],
    offset: int,
    limit: int,
    count: Callable[[], Awaitable[int]],
    count_group: Any = None,
    *,
    cursors: Keyset | None = None,
    has_previous: bool | None = None,
) -> Connection:
    """Build a connection from ``limit + 1`` fetched items (the extra one tells
    whether there is a next page). ``count_group``: see ``Connection``;
    ``cursors``: the keyset the edges' cursors are written in (None: offsets)."""
    has_next = len(items) > limit
    items = items[:limit]
    edges = [Edge(node=item, offset=offset + i, cursors=cursors) for i, item in enumerate(items)]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=offset > 0 if has_previous is None else has_previous,
            first_edge=edges[0] if edges else None,
            last_edge=edges[-1] if edges else None,
        ),
        _count=count,
        _count_group=count_group,
    )


async def paginate(
    qs,
    first: int | None,
    after: str | None,
    default: int = 20,
    *,
    last: int | None = None,
    before: str | None = None,
    order_by: Sequence[str] | None = None,
) -> Connection:
    """One page of a Tortoise queryset (already filtered by visibility).

    With ``order_by`` (column names, ``-`` for descending, ending with the primary
    key) the list is ordered so and paged by keyset cursors (see module docstring);
    without, ``qs`` must already be ordered and is paged by offset.
    ``last``/``before`` page backwards."""
    backwards = _direction(first, after, last, before)
    limit = page_size(last if backwards else first, "last" if backwards else "first", default)
    if order_by is not None:
        return await _keyset_page(
            qs, keyset(qs.model, tuple(order_by)), limit, before if backwards else after, backwards
        )
    if not backwards:
        offset = decode_cursor(after)
        items = await qs.offset(offset).limit(limit + 1) if limit else []
        return make_connection(list(items), offset, limit, qs.count)
    end = decode_cursor(before, "before") - 1 if before is not None else await qs.count()
    offset = max(0, end - limit)
    items = await qs.offset(offset).limit(end - offset) if end > offset else []
    connection = make_connection(list(items), offset, end - offset, qs.count)
    connection.page_info.has_next_page = before is not None
    return connection


async def _keyset_page(qs, keyset: Keyset, limit: int, cursor: str | None, backwards: bool) -> Connection:
    count = qs.count
    items: list[Any] = []
    if limit:
        order = [c[1:] if c.startswith("-") else "-" + c for c in keyset.order_by] if backwards else keyset.order_by
        condition = None
        if cursor is not None:
            values = keyset.values(cursor, "before" if backwards else "after")
            nulls_high = keyset.model._meta.db.capabilities.dialect != "sqlite"
            condition = keyset.after(values, backwards=backwards, nulls_high=nulls_high)
        if cursor is None or condition is not None:
            items = list(
                await (qs.filter(condition) if condition is not None else qs).order_by(*order).limit(limit + 1)
            )
    elif cursor is not None:
        keyset.values(cursor, "before" if backwards else "after")  # still refuse a bad cursor
    more = len(items) > limit  # beyond the page, in the direction of paging
    items = items[:limit]
    connection = make_connection(items[::-1] if backwards else items, 0, limit, count, cursors=keyset)
    info = connection.page_info
    info.has_next_page, info.has_previous_page = (cursor is not None, more) if backwards else (more, cursor is not None)
    return connection


def as_graphql_error(error: KehuError) -> GraphQLError:
    return GraphQLError(
        error.message, extensions={"code": error.code, **({"field": error.field} if error.field else {})}
    )
