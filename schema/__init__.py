"""kehu.schema: one strawberry Schema composed from the core and enabled plugins.

What plugin authors use from here: ``Payload`` and ``UserError`` for mutation
results, ``Connection``/``paginate`` for lists (``nested_connection`` for a
list under each item of a page, batched), ``to_global_id``/``from_global_id``
and ``Node`` for IDs, and ``GraphQLRegistry`` (handed to ``kehu_graphql``).
"""

from .loaders import nested_connection
from .registry import GraphQLRegistry
from .relay import Connection, Node, from_global_id, make_connection, paginate, pk_from_global_id, to_global_id
from .types import Payload, UserError


def build_schema(kehu):
    from .build import build_schema as _build

    return _build(kehu)


__all__ = [
    "GraphQLRegistry",
    "Connection",
    "Node",
    "Payload",
    "UserError",
    "build_schema",
    "from_global_id",
    "make_connection",
    "nested_connection",
    "paginate",
    "pk_from_global_id",
    "to_global_id",
]
