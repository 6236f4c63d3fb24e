"""Query limits: depth, aliases, tokens, root fields, estimated nodes.

The document-length and token limits are parse options (graphql-core stops
before or while lexing); the depth/alias/root-field limits are one linear walk of
the parsed document before graphql-core's validation, which is then skipped for a
refused document (its overlapping-fields rule is quadratic). No per-request rule
classes, so the validation cache keeps working (STACK-NOTES: per-request limiter
classes cost ~5× throughput). The node
estimate needs the variables, so it runs at the start of execution: like GitHub's
API, each connection's ``first`` (or the default page size) multiplies through
its children, and so does every plain list of objects whose field declares the
most items it can hold (``max_items``); an undeclared plain list counts as one. Every
rejection carries ``extensions.code`` and says by how much.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Any

import strawberry
from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    VariableNode,
    get_named_type,
    value_from_ast,
)
from graphql.type import GraphQLInterfaceType, GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLUnionType
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache

from kehu.config import LimitSettings

from . import compat


def _error(code: str, message: str, node=None) -> GraphQLError:
    return GraphQLError(message, nodes=node, extensions={"code": code})


def shape_errors(document, limits: LimitSettings) -> list[GraphQLError]:
    """Depth, alias and root-field limits, checked on the parsed document *before*
    graphql-core's validation: its overlapping-fields rule is quadratic in the
    number of fields, so 200 aliases took ~8 ms to validate only to be refused for
    being 185 too many. One linear walk; fragments are measured once each."""
    fragments = {d.name.value: d for d in document.definitions if getattr(d, "kind", "") == "fragment_definition"}
    errors: list[GraphQLError] = []

    aliases = 0
    for definition in document.definitions:
        stack = [getattr(definition, "selection_set", None)]
        while stack:
            selection_set = stack.pop()
            for selection in getattr(selection_set, "selections", None) or ():
                if isinstance(selection, FieldNode) and selection.alias is not None:
                    aliases += 1
                stack.append(getattr(selection, "selection_set", None))
    if aliases > limits.max_aliases:
        errors.append(
            _error(
                "TOO_MANY_ALIASES",
                f"{aliases} aliases exceed the limit of {limits.max_aliases} by {aliases - limits.max_aliases}",
            )
        )

    memo: dict[str, int] = {}

    def depth(selection_set, visiting: frozenset[str]) -> int:
        deepest = 0
        for selection in getattr(selection_set, "selections", None) or ():
            if isinstance(selection, FieldNode):
                if selection.name.value.startswith("__"):
                    continue  # introspection has its own shape; it is gated separately
                deepest = max(deepest, 1 + depth(selection.selection_set, visiting))
            elif isinstance(selection, InlineFragmentNode):
                deepest = max(deepest, depth(selection.selection_set, visiting))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in visiting or name not in fragments:
                    continue  # cycles and unknown fragments are reported by graphql-core
                if name not in memo:
                    memo[name] = depth(fragments[name].selection_set, visiting | {name})
                deepest = max(deepest, memo[name])
        return deepest

    for operation in (d for d in document.definitions if isinstance(d, OperationDefinitionNode)):
        roots = len(operation.selection_set.selections)
        if roots > limits.max_root_fields:
            errors.append(
                _error(
                    "TOO_MANY_ROOT_FIELDS",
                    f"{roots} root fields exceed the limit of {limits.max_root_fields} by {roots - limits.max_root_fields}",
                    operation,
                )
            )
        found = depth(operation.selection_set, frozenset())
        if found > limits.max_depth:
            errors.append(
                _error(
                    "QUERY_TOO_DEEP",
                    f"query depth {found} exceeds the limit of {limits.max_depth} by {found - limits.max_depth}",
                    operation,
                )
            )
    return errors


class KehuParserCache(ParserCache):
    """strawberry's parser cache, except that a document that does not parse is
    left to strawberry's own parse: the cache's hook runs outside strawberry's
    error handling, so a syntax error raised there escapes a subscription over
    WebSocket as an exception (the client saw the operation complete silently)
    instead of an ``error`` message."""

    def on_parse(self):
        ec = self.execution_context
        try:
            ec.graphql_document = self.cached_parse_document(ec.query, **ec.parse_options)
        except GraphQLError:
            ec.graphql_document = None  # parsed again, and reported, by strawberry
        yield


class DocumentMemo:
    """What was worked out about parsed documents, for the ``maxsize`` most recently
    used, found by the document's identity. The parser cache hands out the same
    document object for the same text, while a graphql-core document (a frozen
    dataclass) hashes its whole tree at every look-up by value — for a cached
    document, the largest part of the look-up. An entry holds its document, so the
    id cannot be reused while the entry lives. One per schema (built with it)."""

    def __init__(self, maxsize: int = 512):
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple[int, Any], tuple[Any, Any]] = OrderedDict()

    def get(self, document, key: Any = None, default: Any = None) -> Any:
        entry = self._entries.get((id(document), key))
        if entry is None or entry[0] is not document:
            return default
        self._entries.move_to_end((id(document), key))
        return entry[1]

    def put(self, document, key: Any, value: Any) -> None:
        self._entries[(id(document), key)] = (document, value)
        self._entries.move_to_end((id(document), key))
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)


class LimitedValidationCache(ValidationCache):
    """strawberry's validation cache, preceded by ``shape_errors``: a document over
    a limit is refused without running graphql-core's rules at all. The outcome of
    both is kept per document in ``checked`` (``DocumentMemo``), so a cached
    document costs one look-up by identity."""

    def __init__(self, *, limits: LimitSettings, maxsize: int = 512, checked: DocumentMemo | None = None):
        super().__init__(maxsize=maxsize)
        self.limits = limits
        self.checked = checked if checked is not None else DocumentMemo(maxsize)

    def on_validate(self):
        ec = self.execution_context
        document = ec.graphql_document
        executed = compat.executed_graphql_schema(ec.schema)
        if document is None or executed is None:  # strawberry parses again and reports / keeps its schema elsewhere
            errors = shape_errors(document, self.limits) if document is not None else []
            if errors:
                ec.pre_execution_errors = errors
                yield
            else:
                yield from super().on_validate()
            return
        rules = ec.validation_rules
        errors = self.checked.get(document, rules)
        if errors is None:
            errors = shape_errors(document, self.limits) or self.cached_validate_document(executed, document, rules)
            self.checked.put(document, rules, errors)
        ec.pre_execution_errors = errors
        yield


#: strawberry field ``metadata`` key: the most items a plain list field returns.
MAX_ITEMS = "kehu.max_items"
#: The ``MAX_ITEMS`` of a connection's ``edges``: counted by the connection's ``first``.
PAGED = "paged"
#: A plain list of objects whose field does not say how long it gets counts as one
#: object, as every plain list did before ``max_items``. Counting it as a full page
#: (100) was tried and refused the console's own screens and a documented
#: third-party plugin's queries at the default ``max_nodes``: worst-case bounds
#: multiply (a page of survey responses x 100 answers x 50 choices). Fields declare
#: their bound with ``max_items`` to be priced by it.
DEFAULT_LIST_BOUND = 1


def max_items(n: int) -> dict[str, int]:
    """Field metadata for a plain list: ``strawberry.field(metadata=max_items(12))``.
    The query-size estimate (``[limits] max_nodes``) multiplies what is selected
    below the field by ``n``; without it, the list counts as one object. Say the
    real bound — the most the resolver can return — or make the field a connection."""
    return {MAX_ITEMS: n}


def declared_bounds(schema: strawberry.Schema) -> dict[tuple[str, str], int | str]:
    """``max_items`` of every field that declares it, by (GraphQL type, GraphQL field):
    read from strawberry's type definitions through its public API, so the estimate
    is the same on the fast path and on the plain path (whose graphql-core schema is
    rebuilt from the SDL and carries no strawberry metadata). Computed once per schema."""
    found = _declared.get(schema)
    if found is None:
        found = {}
        names = schema.config.name_converter
        for type_name in compat.graphql_schema(schema).type_map:
            definition = schema.get_type_by_name(type_name)
            for field in getattr(definition, "fields", None) or ():
                bound = (getattr(field, "metadata", None) or {}).get(MAX_ITEMS)
                if bound is not None:
                    found[(type_name, names.get_graphql_name(field))] = bound
        _declared[schema] = found
    return found


_declared: weakref.WeakKeyDictionary[strawberry.Schema, dict[tuple[str, str], int | str]] = weakref.WeakKeyDictionary()


def list_bound(parent_type, field_name: str, field_def, declared: dict[tuple[str, str], int | str]) -> int | None:
    """How many objects a plain list field may return, or None for anything else
    (a single object, a leaf or a list of leaves, a connection's edges)."""
    t = field_def.type
    while isinstance(t, GraphQLNonNull):
        t = t.of_type
    if not isinstance(t, GraphQLList):
        return None
    if not isinstance(get_named_type(t), (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)):
        return None
    bound = declared.get((parent_type.name, field_name), DEFAULT_LIST_BOUND)
    return None if bound == PAGED else int(bound)


def estimate_nodes(
    schema: strawberry.Schema, document, operation_name: str | None, variables: dict[str, Any] | None, default_page: int
) -> int:
    """Upper bound of the objects a query can return, multiplying each connection's
    page size, and each plain list's bound, through its children. Fragments are counted once each (memoised),
    so amplification through nested fragments costs linear time here."""
    return node_estimate(schema, document, operation_name, variables, default_page)[0]


def node_estimate(
    schema: strawberry.Schema, document, operation_name: str | None, variables: dict[str, Any] | None, default_page: int
) -> tuple[int, bool]:
    """``estimate_nodes``, and whether it read a variable (a page size given as
    ``first: $n``): an estimate that did not holds for every request of the document."""
    declared = declared_bounds(schema)
    graphql_schema = compat.graphql_schema(schema)
    fragments = {d.name.value: d for d in document.definitions if getattr(d, "kind", "") == "fragment_definition"}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if not operations:
        return 0, False
    operation = operations[0]
    root = {
        "query": graphql_schema.query_type,
        "mutation": graphql_schema.mutation_type,
        "subscription": graphql_schema.subscription_type,
    }[operation.operation.value]
    variables = variables or {}
    memo: dict[tuple[str, str], int] = {}
    read_variables = False

    def page_size(field_def, node: FieldNode) -> int | None:
        nonlocal read_variables
        if "first" not in field_def.args:
            return None
        for argument in node.arguments or ():
            if argument.name.value in ("first", "last"):
                read_variables = read_variables or isinstance(argument.value, VariableNode)
                value = value_from_ast(argument.value, field_def.args[argument.name.value].type, variables)
                return int(value) if isinstance(value, int) and value >= 0 else default_page
        return default_page

    def count(selection_set, parent_type, visiting: frozenset[str]) -> int:
        if selection_set is None or not isinstance(parent_type, (GraphQLObjectType, GraphQLInterfaceType)):
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                field_def = parent_type.fields.get(selection.name.value)
                if field_def is None:
                    continue
                child_type = get_named_type(field_def.type)
                n = page_size(field_def, selection)
                if n is None:
                    n = list_bound(parent_type, selection.name.value, field_def, declared)
                inner = count(selection.selection_set, child_type, visiting)
                total += (n + n * inner) if n is not None else inner
            elif isinstance(selection, InlineFragmentNode):
                target = (
                    graphql_schema.get_type(selection.type_condition.name.value)
                    if selection.type_condition
                    else parent_type
                )
                total += count(selection.selection_set, target, visiting)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is None or name in visiting:
                    continue
                target = graphql_schema.get_type(fragment.type_condition.name.value)
                key = (name, getattr(target, "name", ""))
                if key not in memo:
                    memo[key] = count(fragment.selection_set, target, visiting | {name})
                total += memo[key]
        return total

    nodes = count(operation.selection_set, root, frozenset())
    return nodes, read_variables


class QueryLimits(SchemaExtension):
    """Applies the limits of plugins.toml's ``[limits]`` (see module docstring)."""

    def __init__(self, *, limits: LimitSettings, default_page: int, estimates: DocumentMemo | None = None):
        self.limits = limits
        self.default_page = default_page
        #: Estimates that read no variable, per document and operation name.
        self.estimates = estimates if estimates is not None else DocumentMemo()

    def on_operation(self):
        ec = self.execution_context
        ec.parse_options = {
            **(ec.parse_options or {}),
            "max_lexical_tokens": self.limits.max_tokens,
            "max_source_length": self.limits.max_document_chars,
        }
        yield

    def on_execute(self):
        ec = self.execution_context
        document = ec.graphql_document
        if ec.result is None and document is not None:
            nodes = self.estimates.get(document, ec.operation_name)
            if nodes is None:
                nodes, read_variables = node_estimate(
                    ec.schema, document, ec.operation_name, ec.variables, self.default_page
                )
                if not read_variables:
                    self.estimates.put(document, ec.operation_name, nodes)
            limit = self.limits.max_nodes
            if nodes > limit:
                ec.result = ExecutionResult(
                    data=None,
                    errors=[
                        _error(
                            "QUERY_TOO_LARGE",
                            f"query may return {nodes:,} objects, over the limit of {limit:,} by {nodes - limit:,}"
                            " (ask for smaller pages)",
                        )
                    ],
                )
        yield


class RateLimit(SchemaExtension):
    """Charges each operation to its caller; over budget, the operation is refused
    with ``RATE_LIMITED``, HTTP 429 and ``Retry-After``."""

    async def on_execute(self):
        ec = self.execution_context
        ctx = ec.context
        limiter = getattr(ctx.kehu, "rate_limiter", None)
        if ec.result is None and limiter is not None and limiter.enabled:
            viewer = ctx.viewer
            if viewer is not None:
                caller = f"token:{viewer.token_id}" if viewer.token_id else f"owner:{viewer.id}"
            else:
                caller = f"ip:{ctx.client or 'unknown'}"
            mutation = ec.operation_type.value == "mutation"
            cost = ctx.kehu.config.limits.mutation_cost if mutation else 1
            wait = await limiter.spend(caller, cost)
            if wait is not None:
                ec.result = ExecutionResult(
                    data=None,
                    errors=[
                        GraphQLError(
                            f"rate limit of {limiter.limit} points a minute reached; retry in {wait:.0f}s",
                            extensions={"code": "RATE_LIMITED", "retryAfter": max(1, round(wait))},
                        )
                    ],
                )
                if ctx.response is not None:
                    ctx.response.status_code = 429
                    ctx.response.headers["Retry-After"] = str(max(1, round(wait)))
        yield
