"""Plain resolvers: the cheapest resolution graphql-core can do, for fields that
need nothing of strawberry at request time.

strawberry resolves a field without a resolver through three Python calls
(``_get_basic_result`` → ``StrawberryField.get_result`` → ``getattr``), and a field
with a resolver through an ``Info`` object, argument conversion and an awaitable
check — even for ``def id(self) -> ID`` that takes no argument. A page of 100
customers with their last five interactions resolves ~4,600 fields, so this is
per-request cost that grows with the page (benchmarks/README.md).

After the schema is built, this pass gives graphql-core a direct resolver where
that cannot change behaviour:

* a field without resolver, extensions or permission classes: ``getattr(source,
  python_name)`` (strawberry's default resolver is ``getattr``; kehu does not
  change it);
* a field whose resolver is a plain synchronous function of ``self`` alone (no
  ``info``, no arguments, no extensions): ``func(source)``.

Everything else — async resolvers, resolvers taking ``info`` or arguments, fields
with extensions (root access, writes, masking policies) — keeps strawberry's
resolver. Schema-extension middleware, if any, still wraps every field, because
graphql-core applies middleware around whatever ``resolve`` the field has.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from graphql import GraphQLObjectType
from strawberry.schema.schema_converter import GraphQLCoreConverter


def _attribute(name: str) -> Callable[..., Any]:
    def resolve(source: Any, info: Any) -> Any:
        return getattr(source, name)

    return resolve


def _self_only(func: Callable[[Any], Any]) -> Callable[..., Any]:
    def resolve(source: Any, info: Any) -> Any:
        return func(source)

    return resolve


def _plain_function(resolver) -> Callable[[Any], Any] | None:
    """The resolver's function if it is sync and takes exactly ``self``."""
    func = resolver.wrapped_func
    if resolver.is_async or not inspect.isfunction(func) or resolver.arguments:
        return None
    params = list(inspect.signature(func).parameters.values())
    if len(params) != 1 or params[0].name != "self" or params[0].kind is not params[0].POSITIONAL_OR_KEYWORD:
        return None
    return func


def install_plain_resolvers(schema) -> int:
    """Replace eligible fields' resolvers (see module docstring); returns how many."""
    converter = getattr(schema, "schema_converter", None)
    if schema.config.default_resolver is not getattr or getattr(converter, "_exception_handler_specs", None):
        return 0  # strawberry would do more per field than a plain getattr
    replaced = 0
    for gql_type in schema._schema.type_map.values():
        if (
            not isinstance(gql_type, GraphQLObjectType)
            or gql_type.name.startswith("__")
            or gql_type is schema._schema.subscription_type
        ):
            continue
        for gql_field in gql_type.fields.values():
            field = (gql_field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if field is None or field.extensions or getattr(field, "permission_classes", None):
                continue
            if field.base_resolver is None:
                gql_field.resolve = _attribute(field.python_name)
                replaced += 1
                continue
            func = _plain_function(field.base_resolver)
            if func is not None:
                gql_field.resolve = _self_only(func)
                replaced += 1
    return replaced
