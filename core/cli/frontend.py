"""Schema tooling for frontend teams (``kehu schema --check/--possible-types/--validate``).

* **Breaking changes**: the schema of the enabled plugins against an older SDL
  file, with graphql-core's ``find_breaking_changes`` (a removed field, a type
  changed incompatibly, a new required argument …) and ``find_dangerous_changes``
  (a new enum value a client may not handle, a changed default …).
* **Possible types**: what Apollo Client's ``InMemoryCache({possibleTypes})``
  needs to match fragments on interfaces and unions (``Node``, …).
* **Validating a project's documents**: every ``.graphql``/``.gql`` file under
  the paths, taken together as frontend tooling (graphql-config, codegen) takes
  them: names of operations and fragments unique across files, each operation
  valid against the schema with the fragments it uses, wherever they are defined.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLSchema,
    GraphQLUnionType,
    OperationDefinitionNode,
    build_schema,
    find_breaking_changes,
    find_dangerous_changes,
    parse,
    validate,
    visit,
)
from graphql.error import GraphQLError, GraphQLSyntaxError
from graphql.language import Visitor

from ..errors import ValidationError


def schema_changes(old_sdl: str, new: GraphQLSchema, source: str = "the old schema") -> tuple[list[str], list[str]]:
    """``(breaking, dangerous)`` changes from ``old_sdl`` to ``new``, one line each."""
    try:
        old = build_schema(old_sdl)
    except GraphQLSyntaxError as exc:
        raise ValidationError(f"{source}: {exc.message} (line {_line(exc)})", code="INVALID_SDL") from None
    except (GraphQLError, TypeError) as exc:
        raise ValidationError(f"{source}: not a schema: {exc}", code="INVALID_SDL") from None
    breaking = [f"{change.type.name}: {change.description}" for change in find_breaking_changes(old, new)]
    dangerous = [f"{change.type.name}: {change.description}" for change in find_dangerous_changes(old, new)]
    return breaking, dangerous


def possible_types(schema: GraphQLSchema) -> dict[str, list[str]]:
    """``{interface or union: [object types]}``, sorted: Apollo Client's format."""
    out: dict[str, list[str]] = {}
    for name, gql_type in sorted(schema.type_map.items()):
        if name.startswith("__"):
            continue
        if isinstance(gql_type, (GraphQLInterfaceType, GraphQLUnionType)):
            out[name] = sorted(t.name for t in schema.get_possible_types(gql_type))
    return out


def _line(error: GraphQLSyntaxError) -> int | str:
    return error.locations[0].line if error.locations else "?"


def _spreads(node) -> set[str]:
    names: set[str] = set()

    class Spreads(Visitor):
        def enter_fragment_spread(self, spread: FragmentSpreadNode, *_):
            names.add(spread.name.value)

    visit(node, Spreads())
    return names


def validate_project(schema: GraphQLSchema, files: list[Path]) -> list[str]:
    """Problems with the documents in ``files`` taken together, one line each
    (empty: all valid)."""
    problems: list[str] = []
    # One table or the other, by kind: Any keeps mypy from fixing `table` to the first.
    operations: dict[str, Any] = {}
    fragments: dict[str, Any] = {}
    for file in files:
        try:
            document = parse(file.read_text(encoding="utf-8"))
        except GraphQLSyntaxError as exc:
            problems.append(f"{file}:{_line(exc)}: {exc.message}")
            continue
        except UnicodeDecodeError:
            problems.append(f"{file}: not UTF-8 text")
            continue
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                if definition.name is None:
                    problems.append(f"{file}: an anonymous operation (tools need every operation named)")
                    continue
                name, table = definition.name.value, operations
            elif isinstance(definition, FragmentDefinitionNode):
                name, table = definition.name.value, fragments
            else:
                problems.append(f"{file}: holds a type definition, not an operation or fragment")
                continue
            if name in table:
                kind = "operation" if table is operations else "fragment"
                problems.append(f"{file}: {kind} {name} is also defined in {table[name][0]}")
            else:
                table[name] = (file, definition)
    for name, (file, operation) in sorted(operations.items()):
        used, queue = set(), list(_spreads(operation))
        while queue:
            fragment = queue.pop()
            if fragment in used or fragment not in fragments:
                continue
            used.add(fragment)
            queue += _spreads(fragments[fragment][1])
        document = DocumentNode(definitions=(operation, *(fragments[f][1] for f in sorted(used))))
        for error in validate(schema, document):
            line = error.locations[0].line if error.locations else "?"
            problems.append(f"{file}:{line}: {name}: {error.message}")
    return problems
