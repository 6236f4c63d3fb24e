"""Descriptions: every type, field, argument, input field and enum value of the
schema has one, because IDE hints, GraphiQL's documentation pane and generated
client docs are all frontend teams see of the API.

* ``undocumented(schema)`` lists what lacks one (kehu's tests run it with every
  built-in plugin; ``kehu.testing.assert_schema_documented`` offers it to plugin
  authors).
* ``describe_conventions(schema)`` fills in, where the code gave none, the
  descriptions that are the same wherever the convention appears: a connection's
  ``first``/``after``/``last``/``before``/``filter``, a mutation's ``input``, a ``Node``'s
  ``id``. A description written in the code always wins.
* ``describe_enum_values(enum, {...})``: Python ``Enum`` members cannot carry a
  description; this gives a ``strawberry.enum(...)`` wrapper's values theirs.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
)

PAGE_ARGUMENTS = {
    "first": "Page forwards: at most this many items (up to 100) after `after`.",
    "after": "A cursor from this list (`pageInfo.endCursor` or an edge's `cursor`): the page starts after it.",
    "last": "Page backwards: at most this many items (up to 100) before `before`.",
    "before": "A cursor from this list (`pageInfo.startCursor` or an edge's `cursor`): the page ends before it.",
    "filter": "Only the items matching it: all of its conditions.",
}
INPUT_ARGUMENT = "What the mutation needs: see the input type's fields."
NODE_ID = "The object's global ID: `node(id:)` fetches it, and it is the same in every response."


def _is_connection(gql_type: Any) -> bool:
    named = get_named_type(gql_type)
    return isinstance(named, GraphQLObjectType) and {"edges", "pageInfo"} <= set(named.fields)


def describe_conventions(schema: GraphQLSchema) -> None:
    """Fill in conventional descriptions (see module docstring) in place."""
    node = schema.type_map.get("Node")
    for name, gql_type in schema.type_map.items():
        if name.startswith("__") or not isinstance(gql_type, (GraphQLObjectType, GraphQLInterfaceType)):
            continue
        for field_name, field in gql_type.fields.items():
            if _is_connection(field.type):
                for arg_name, text in PAGE_ARGUMENTS.items():
                    argument = field.args.get(arg_name)
                    if argument is not None and not argument.description:
                        argument.description = text
            if gql_type is schema.mutation_type and "input" in field.args and not field.args["input"].description:
                field.args["input"].description = INPUT_ARGUMENT
            if (
                field_name == "id"
                and not field.description
                and (gql_type is node or (node is not None and node in getattr(gql_type, "interfaces", ())))
            ):
                field.description = NODE_ID


def describe_enum_values(enum: Any, descriptions: dict[str, str]) -> Any:
    """Give the values of ``enum`` (made by ``strawberry.enum``) their descriptions,
    by member name; every member must be described. Returns ``enum``."""
    values = enum.__strawberry_definition__.values
    missing = {v.name for v in values} - set(descriptions)
    extra = set(descriptions) - {v.name for v in values}
    if missing or extra:
        raise ValueError(f"{enum.__name__}: values without a description {sorted(missing)}, unknown {sorted(extra)}")
    for value in values:
        value.description = descriptions[value.name]
    return enum


def undocumented(schema: GraphQLSchema) -> list[str]:
    """Every element of ``schema`` without a description: ``Type``,
    ``Type.field``, ``Type.field(argument)``, ``Input.field``, ``Enum.VALUE``."""
    missing: list[str] = []
    for name, gql_type in sorted(schema.type_map.items()):
        if name.startswith("__"):
            continue
        if not gql_type.description:
            missing.append(name)
        if isinstance(gql_type, (GraphQLObjectType, GraphQLInterfaceType)):
            for field_name, field in gql_type.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                missing += [f"{name}.{field_name}({a})" for a, arg in field.args.items() if not arg.description]
        elif isinstance(gql_type, GraphQLInputObjectType):
            missing += [f"{name}.{f}" for f, field in gql_type.fields.items() if not field.description]
        elif isinstance(gql_type, GraphQLEnumType):
            missing += [f"{name}.{v}" for v, value in gql_type.values.items() if not value.description]
    return missing
