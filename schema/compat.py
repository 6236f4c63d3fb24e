"""Every use kehu makes of strawberry's and graphql-core's internals, and the
start-up check that decides whether kehu may make them.

kehu's speed-ups — the executor (schema/executor.py), the plain resolvers
(schema/plain_resolvers.py) and the batch prefetch (schema/batch.py) — reach below
the two libraries' public API: a strawberry class and functions that are not
exported, attributes whose names start with an underscore, and graphql-core
executor methods that graphql-core documents as internal. Every such access is
written here, and the rest of kehu calls the functions below: a search for a
private name of either library finds this file and no other.

``problems()`` checks, once per process, that each of them is there and has the
shape of the versions kehu was tested with (pyproject.toml pins them; CONTRIBUTING.md
says how to move the pins): the names imported, the parameters of the executor
methods kehu overrides or calls, and the attributes read on strawberry's objects —
looked up on a one-field schema built for the purpose. If anything is missing or
different, kehu logs one warning and builds every schema on the plain path:
strawberry's own resolvers and strawberry's own graphql-core executor. Slower,
never wrong. A fast path that quietly skipped a step because a name moved ("fails
open") would be a bug: the plain resolvers, for instance, must leave strawberry's
resolvers in place when the schema has exception handlers, and only the private
``_exception_handler_specs`` says so — if it is gone, the fast path is off.

``KEHU_PLAIN_EXECUTION=1`` makes the check fail on purpose: the whole test suite
passes that way too, and it rules the fast path out when chasing a bug.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import os
import weakref
from typing import TYPE_CHECKING, Any

import graphql
import strawberry
from graphql import GraphQLSchema
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

if TYPE_CHECKING:
    from strawberry.types.field import StrawberryField

log = logging.getLogger(__name__)

#: Set to 1 to make the check fail: every schema is built on the plain path.
PLAIN_EXECUTION_ENV = "KEHU_PLAIN_EXECUTION"

_import_problems: list[str] = []

try:  # the graphql-core executor strawberry runs operations with (it adds strawberry's Info)
    from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext as ExecutorBase
except ImportError as exc:  # pragma: no cover - a strawberry kehu was not tested with
    ExecutorBase = object  # type: ignore[assignment,misc]  # never used: the plain path is taken
    _import_problems.append(f"strawberry's executor class: {exc}")

try:  # the GraphQL type of a strawberry enum, and the key linking a GraphQL field to its definition
    from strawberry.schema.schema_converter import CustomGraphQLEnumType, GraphQLCoreConverter

    DEFINITION_BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF
except (ImportError, AttributeError) as exc:  # pragma: no cover
    CustomGraphQLEnumType = None  # type: ignore[assignment,misc]
    DEFINITION_BACKREF = "strawberry-definition"
    _import_problems.append(f"strawberry's schema converter: {exc}")

try:  # how strawberry turns GraphQL argument values into Python ones for a resolver
    from strawberry.types.arguments import convert_arguments as strawberry_convert_arguments
except ImportError as exc:  # pragma: no cover
    strawberry_convert_arguments = None  # type: ignore[assignment]
    _import_problems.append(f"strawberry's convert_arguments: {exc}")


# graphql-core executor methods KehuExecutor overrides or calls, with the
# parameters graphql-core 3.3 gives them; and the attributes it reads.
EXECUTOR_METHODS = {
    "execute_fields": ("parent_type", "source_value", "path", "grouped_field_set", "position_context"),
    "execute_field": ("parent_type", "source", "field_details_list", "path", "position_context"),
    "complete_iterable_value": ("item_type", "field_details_list", "info", "path", "items", "position_context"),
    "collect_subfields": ("return_type", "field_details_list"),
    "build_resolve_info": ("field_def", "field_nodes", "parent_type", "path"),
    "handle_field_error": ("raw_error", "return_type", "field_details_list", "path"),
    "settle_in_background": ("awaitables",),
    "build_per_event_executor": ("payload",),
}
EXECUTOR_ATTRIBUTES = ("schema", "context_value", "variable_values", "middleware_manager", "hide_suggestions")


def _parameters(function: Any) -> tuple[str, ...]:
    return tuple(name for name in inspect.signature(function).parameters if name != "self")


def _annotations(cls: type) -> set[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        names.update(getattr(klass, "__annotations__", {}))
    return names


def _check_executor() -> list[str]:
    found = []
    for name, expected in EXECUTOR_METHODS.items():
        method = getattr(ExecutorBase, name, None)
        if method is None:
            found.append(f"graphql-core's executor has no {name}()")
        elif _parameters(method) != expected:
            found.append(f"graphql-core's {name}{_parameters(method)} is not {name}{expected}")
    missing = set(EXECUTOR_ATTRIBUTES) - _annotations(ExecutorBase)
    if missing:
        found.append(f"graphql-core's executor has no {', '.join(sorted(missing))}")
    from graphql.execution.collect_fields import CollectedFields, FieldDetails

    if not {"grouped_field_set", "new_defer_usages"} <= _annotations(CollectedFields):
        found.append("graphql-core's CollectedFields changed")
    if not {"node", "fragment_variable_values"} <= set(getattr(FieldDetails, "_fields", ())):
        found.append("graphql-core's FieldDetails changed")
    expected = ("type_def", "node", "variable_values", "fragment_variable_values", "hide_suggestions")
    if _parameters(graphql.get_argument_values) != expected:
        found.append("graphql-core's get_argument_values() takes other parameters")
    return found


@strawberry.type
class _Probe:
    ok: bool = True


def _check_strawberry() -> list[str]:
    """The attributes read on strawberry's objects, looked up on a one-field schema."""
    found = []
    fields = {f.name: f for f in dataclasses.fields(Info)}
    required = {n for n, f in fields.items() if f.init and f.default is f.default_factory is dataclasses.MISSING}
    if not {"_raw_info", "_field"} <= set(fields) or not required <= {"_raw_info", "_field"}:
        found.append("strawberry's Info is no longer made from _raw_info and _field")
    if "default_resolver" not in {f.name for f in dataclasses.fields(StrawberryConfig)}:
        found.append("strawberry's config has no default_resolver")
    probe = strawberry.Schema(query=_Probe)
    core = getattr(probe, "_schema", None)
    if not isinstance(core, GraphQLSchema):
        return [*found, "strawberry's Schema no longer keeps its graphql-core schema in _schema"]
    if getattr(core, "_strawberry_schema", None) is not probe:
        found.append("graphql-core's schema no longer points back to strawberry's (_strawberry_schema)")
    if not isinstance(getattr(probe.schema_converter, "_exception_handler_specs", None), tuple):
        found.append("strawberry's converter no longer lists its exception handlers (_exception_handler_specs)")
    if not hasattr(probe.schema_converter, "scalar_registry"):
        found.append("strawberry's converter has no scalar_registry")
    field = (core.query_type.fields["ok"].extensions or {}).get(DEFINITION_BACKREF) if core.query_type else None
    if field is None or not hasattr(field, "base_resolver"):
        found.append("graphql-core fields no longer carry strawberry's field definition")
    return found


@functools.cache
def _structural_problems() -> tuple[str, ...]:
    found = list(_import_problems)
    if not found:
        for check in (_check_executor, _check_strawberry):
            try:
                found += check()
            except Exception as exc:  # noqa: BLE001 - any surprise means "not the shape kehu knows"
                found.append(f"{check.__name__}: {exc!r}")
    return tuple(found)


def problems() -> tuple[str, ...]:
    """Why the fast path cannot be used here (empty when it can)."""
    if os.environ.get(PLAIN_EXECUTION_ENV, "").strip() not in ("", "0"):
        return (f"{PLAIN_EXECUTION_ENV} is set",)
    return _structural_problems()


_reported: set[tuple[str, ...]] = set()


def fast_path() -> bool:
    """Whether schemas get kehu's executor and plain resolvers; says why not, once."""
    found = problems()
    if found and found not in _reported:
        _reported.add(found)
        forced = found == (f"{PLAIN_EXECUTION_ENV} is set",)
        log.log(
            logging.DEBUG if forced else logging.WARNING,  # asked for: nothing to tell
            "GraphQL runs on the plain path (strawberry's and graphql-core's own execution: slower, same answers): %s",
            "; ".join(found),
        )
    return not found


# --------------------------------------------------------------------------- the accesses


_rebuilt: weakref.WeakKeyDictionary[Any, GraphQLSchema] = weakref.WeakKeyDictionary()


def graphql_schema(schema: strawberry.Schema) -> GraphQLSchema:
    """The graphql-core schema of a strawberry schema. On the plain path it is
    rebuilt from the schema's SDL (the same types, fields, arguments and defaults,
    without resolvers): enough for validation and the node estimate."""
    if not problems():
        return schema._schema
    rebuilt = _rebuilt.get(schema)
    if rebuilt is None:
        rebuilt = _rebuilt[schema] = graphql.build_schema(schema.as_str())
    return rebuilt


def executed_graphql_schema(schema: strawberry.Schema) -> GraphQLSchema | None:
    """The graphql-core schema strawberry itself executes, introspects and prints
    (``as_str``) — on either path; None if strawberry no longer keeps it where
    kehu looks. kehu writes the conventional descriptions into it
    (``descriptions.describe_conventions``), so that they are in every answer."""
    core = getattr(schema, "_schema", None)
    return core if isinstance(core, GraphQLSchema) else None


def strawberry_schema(schema: GraphQLSchema) -> strawberry.Schema:
    """The strawberry schema a graphql-core schema was converted from."""
    return schema._strawberry_schema  # type: ignore[attr-defined]


def strawberry_field(gql_field: graphql.GraphQLField) -> StrawberryField | None:
    """The strawberry field a graphql-core field was converted from."""
    return (gql_field.extensions or {}).get(DEFINITION_BACKREF)


def has_exception_handlers(schema: strawberry.Schema) -> bool:
    """Whether strawberry wraps resolvers to map exceptions to result types."""
    return bool(schema.schema_converter._exception_handler_specs)


def make_info(schema: strawberry.Schema, raw_info: graphql.GraphQLResolveInfo, field: StrawberryField) -> Info:
    """strawberry's ``Info`` for a resolver kehu calls itself (a batch field)."""
    return schema.config.info_class(_raw_info=raw_info, _field=field)


def field_node(info: Info) -> graphql.FieldNode:
    """The first node of the field being resolved (the batch store's key)."""
    return info._raw_info.field_nodes[0]


def convert_arguments(
    raw: dict[str, Any], field: StrawberryField, schema: strawberry.Schema, info: Info
) -> dict[str, Any]:
    """GraphQL argument values as the field's resolver takes them, as strawberry converts them."""
    return strawberry_convert_arguments(
        raw,
        field.arguments,
        scalar_registry=schema.schema_converter.scalar_registry,
        config=schema.config,
        info=info,
    )


def enum_class(leaf_type: Any) -> type | None:
    """The Python enum behind a strawberry enum's GraphQL type, or None."""
    if CustomGraphQLEnumType is None or not isinstance(leaf_type, CustomGraphQLEnumType):
        return None
    wrapped = getattr(leaf_type, "wrapped_cls", None)
    return wrapped if isinstance(wrapped, type) else None
