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

* either of these followed by extensions that only transform the value
  (:class:`kehu.schema.ValueTransform`, e.g. the masking plugin's policies):
  ``transform(source, context, value)`` applied in strawberry's order.

Each such resolver carries ``_kehu_fast(source, context)``, which kehu's executor
(schema/executor.py) calls directly, without building an ``info``.

Batch fields (schema/batch.py) without extensions get a direct resolver that
returns the prefetched value, and strawberry's resolver only when there is none;
every batch field's GraphQL definition carries its ``BatchSpec`` for the executor.

Everything else — async resolvers, resolvers taking ``info`` or arguments, fields
with other extensions (root access, writes) — keeps strawberry's
resolver. Schema-extension middleware, if any, still wraps every field, because
graphql-core applies middleware around whatever ``resolve`` the field has.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from graphql import GraphQLObjectType

from . import compat
from .batch import BATCH_EXTENSION, MISSING, batch_spec, batch_store, prefetchable, stored_value
from .extensions import ValueTransform


def _attribute(name: str) -> Callable[[Any, Any], Any]:
    def fast(source: Any, context: Any) -> Any:
        return getattr(source, name)

    fast._kehu_attr = name  # type: ignore[attr-defined]  # the executor reads the attribute itself
    return fast


def _self_only(func: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    def fast(source: Any, context: Any) -> Any:
        return func(source)

    return fast


def _transformed(base: Callable[[Any, Any], Any], transforms: list[ValueTransform]) -> Callable[[Any, Any], Any]:
    # strawberry chains extensions so that the last one listed runs outermost:
    # the first transform sees the resolver's value.
    def fast(source: Any, context: Any) -> Any:
        value = base(source, context)
        for transform in transforms:
            value = transform.transform(source, context, value)
        return value

    return fast


def _resolver(fast: Callable[[Any, Any], Any]) -> Callable[..., Any]:
    def resolve(source: Any, info: Any) -> Any:
        return fast(source, info.context)

    resolve._kehu_fast = fast  # type: ignore[attr-defined]
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


def _direct_batch(original: Callable[..., Any]) -> Callable[..., Any]:
    def resolve(source: Any, info: Any, **kwargs: Any) -> Any:
        value = stored_value(batch_store(info.context), info.field_nodes[0], source)
        if value is not MISSING:
            return value
        return original(source, info, **kwargs)

    resolve._kehu_batch_direct = True  # type: ignore[attr-defined]
    return resolve


def _fields(schema):
    core = compat.graphql_schema(schema)
    for gql_type in core.type_map.values():
        if (
            not isinstance(gql_type, GraphQLObjectType)
            or gql_type.name.startswith("__")
            or gql_type is core.subscription_type
        ):
            continue
        for gql_field in gql_type.fields.values():
            field = compat.strawberry_field(gql_field)
            if field is not None:
                yield gql_field, field


def install_plain_resolvers(schema) -> int:
    """Replace eligible fields' resolvers (see module docstring); returns how many.
    Only on the fast path (``compat.fast_path()``): this reads strawberry's internals."""
    replaced = 0
    for gql_field, field in _fields(schema):
        spec = batch_spec(field)
        if spec is None or not prefetchable(field):
            continue  # (not prefetchable: resolved parent by parent, through its extensions)
        gql_field.extensions = {**(gql_field.extensions or {}), BATCH_EXTENSION: spec}
        if not field.extensions and not getattr(field, "permission_classes", None):
            gql_field.resolve = _direct_batch(gql_field.resolve)
            replaced += 1
    if schema.config.default_resolver is not getattr or compat.has_exception_handlers(schema):
        return replaced  # strawberry would do more per field than a plain getattr
    for gql_field, field in _fields(schema):
        if getattr(field, "permission_classes", None) or any(
            not isinstance(e, ValueTransform) for e in field.extensions
        ):
            continue
        if field.base_resolver is None:
            fast = _attribute(field.python_name)
        else:
            func = _plain_function(field.base_resolver)
            if func is None:
                continue
            fast = _self_only(func)
        if field.extensions:
            fast = _transformed(fast, list(field.extensions))
        gql_field.resolve = _resolver(fast)
        replaced += 1
    return replaced
