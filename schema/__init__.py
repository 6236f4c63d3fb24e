"""kehu.schema: one strawberry Schema composed from the core and enabled plugins.

What plugin authors use from here: ``Payload`` and ``UserError`` for mutation
results, ``Connection``/``paginate`` for lists (``nested_connection`` for a
list under each item of a page, batched), ``ModelNode`` as the base of a type
shown from a model's rows (it derives ``id`` and ``is_type_of``),
``global_id_field`` for the ``id`` of other types and for references,
``to_global_id``/``from_global_id``/``pk_from_global_id``/``pks_from_global_ids``
for IDs in arguments, ``GraphQLRegistry`` (handed to ``kehu_graphql``),
``batch_field`` for a field resolved for a whole page of parents in one call,
``ValueTransform`` for a field extension that only changes a value (it keeps the
field on the fast path), ``max_items`` for the bound of a plain list field,
``describe_enum_values`` to describe the values of an enum made from a Python
``Enum`` (every schema element needs a description), and
``Language`` (the GraphQL enum of ``kehu.i18n.Language``) for a field or argument
naming a language. ``execute_as`` runs a GraphQL document as a given viewer from a
plugin's own code (outside a request), with everything a request would enforce:
permissions, visibility and masking.
"""

from kehu.ids import from_global_id, pk_from_global_id, pks_from_global_ids, to_global_id

from .batch import batch_field
from .descriptions import describe_enum_values
from .extensions import ValueTransform
from .limits import max_items
from .loaders import nested_connection, nested_connections
from .registry import GraphQLRegistry
from .relay import Connection, ModelNode, Node, global_id_field, make_connection, paginate
from .types import Language, Payload, UserError


async def execute_as(kehu, viewer, document: str, variables: dict | None = None):
    """Run ``document`` against kehu's schema as ``viewer`` (a ``kehu.access.Viewer``,
    or None for an anonymous caller) and return strawberry's ``ExecutionResult``.
    The viewer sees exactly what the same query over HTTP would show them — the
    webhooks plugin builds each endpoint's payload this way, in its role."""
    from .context import Context

    return await kehu.schema.execute(document, variable_values=variables, context_value=Context(kehu, viewer))


def build_schema(kehu, *, plain=None):
    """Compose the strawberry schema of ``kehu``'s core and enabled plugins (``kehu.schema`` does it once)."""
    from .build import build_schema as _build

    return _build(kehu, plain=plain)


__all__ = [
    "GraphQLRegistry",
    "ValueTransform",
    "batch_field",
    "Connection",
    "Language",
    "ModelNode",
    "Node",
    "Payload",
    "UserError",
    "build_schema",
    "describe_enum_values",
    "execute_as",
    "from_global_id",
    "global_id_field",
    "make_connection",
    "max_items",
    "nested_connection",
    "nested_connections",
    "paginate",
    "pk_from_global_id",
    "pks_from_global_ids",
    "to_global_id",
]
