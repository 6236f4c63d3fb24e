"""Query limits: depth, aliases, tokens, root fields, estimated nodes.

The token limit is a parse option (graphql-core stops lexing at the limit), the
depth/alias/root-field limits are graphql-core validation rules built once per
schema — the classes stay the same across requests, so the validation cache keeps
working (STACK-NOTES: per-request limiter classes cost ~5× throughput). The node
estimate needs the variables, so it runs at the start of execution: like GitHub's
API, each connection's ``first`` (or the default page size) multiplies through
its children. Every rejection carries ``extensions.code`` and says by how much.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    ValidationRule,
    get_named_type,
    value_from_ast,
)
from graphql.type import GraphQLObjectType, GraphQLInterfaceType
from strawberry.extensions import SchemaExtension

from kehu.config import LimitSettings


def _error(code: str, message: str, node=None) -> GraphQLError:
    return GraphQLError(message, nodes=node, extensions={"code": code})


def build_rules(limits: LimitSettings, default_page: int) -> tuple[type[ValidationRule], ...]:
    max_depth, max_aliases, max_root = limits.max_depth, limits.max_aliases, limits.max_root_fields

    class DepthLimit(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            depth = self._depth(node.selection_set, 0, set())
            if depth > max_depth:
                self.report_error(_error(
                    "QUERY_TOO_DEEP", f"query depth {depth} exceeds the limit of {max_depth} by {depth - max_depth}", node
                ))

        def _depth(self, selection_set, level: int, visiting: set[str]) -> int:
            if selection_set is None:
                return level
            deepest = level
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    if selection.name.value.startswith("__"):
                        continue  # introspection has its own shape; it is gated separately
                    deepest = max(deepest, self._depth(selection.selection_set, level + 1, visiting))
                elif isinstance(selection, InlineFragmentNode):
                    deepest = max(deepest, self._depth(selection.selection_set, level, visiting))
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.context.get_fragment(name)
                    if fragment is None or name in visiting:
                        continue  # unknown fragments and cycles are reported by graphql-core
                    deepest = max(deepest, self._depth(fragment.selection_set, level, visiting | {name}))
                if deepest > max_depth + 1:
                    break
            return deepest

    class AliasLimit(ValidationRule):
        def __init__(self, context):
            super().__init__(context)
            self.count = 0

        def enter_field(self, node: FieldNode, *_: Any) -> None:
            if node.alias is not None:
                self.count += 1

        def leave_document(self, node, *_: Any) -> None:
            if self.count > max_aliases:
                self.report_error(_error(
                    "TOO_MANY_ALIASES", f"{self.count} aliases exceed the limit of {max_aliases} by {self.count - max_aliases}"
                ))

    class RootFieldLimit(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            count = len(node.selection_set.selections)
            if count > max_root:
                self.report_error(_error(
                    "TOO_MANY_ROOT_FIELDS", f"{count} root fields exceed the limit of {max_root} by {count - max_root}", node
                ))

    return DepthLimit, AliasLimit, RootFieldLimit


def estimate_nodes(schema, document, operation_name: str | None, variables: dict[str, Any] | None, default_page: int) -> int:
    """Upper bound of the objects a query can return, multiplying each connection's
    page size through its children. Fragments are counted once each (memoised),
    so amplification through nested fragments costs linear time here."""
    fragments = {d.name.value: d for d in document.definitions if getattr(d, "kind", "") == "fragment_definition"}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if not operations:
        return 0
    operation = operations[0]
    root = {"query": schema.query_type, "mutation": schema.mutation_type, "subscription": schema.subscription_type}[
        operation.operation.value
    ]
    variables = variables or {}
    memo: dict[tuple[str, str], int] = {}

    def page_size(field_def, node: FieldNode) -> int | None:
        if "first" not in field_def.args:
            return None
        for argument in node.arguments or ():
            if argument.name.value in ("first", "last"):
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
                inner = count(selection.selection_set, child_type, visiting)
                total += (n + n * inner) if n is not None else inner
            elif isinstance(selection, InlineFragmentNode):
                target = schema.get_type(selection.type_condition.name.value) if selection.type_condition else parent_type
                total += count(selection.selection_set, target, visiting)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is None or name in visiting:
                    continue
                target = schema.get_type(fragment.type_condition.name.value)
                key = (name, getattr(target, "name", ""))
                if key not in memo:
                    memo[key] = count(fragment.selection_set, target, visiting | {name})
                total += memo[key]
        return total

    return count(operation.selection_set, root, frozenset())


class QueryLimits(SchemaExtension):
    """Applies the limits of plugins.toml's ``[limits]`` (see module docstring)."""

    def __init__(self, *, limits: LimitSettings, rules: tuple[type[ValidationRule], ...], default_page: int):
        self.limits = limits
        self.rules = rules
        self.default_page = default_page

    def on_operation(self):
        ec = self.execution_context
        ec.parse_options = {
            **(ec.parse_options or {}),
            "max_lexical_tokens": self.limits.max_tokens,
            "max_source_length": self.limits.max_document_chars,
        }
        ec.validation_rules = tuple(ec.validation_rules) + self.rules
        yield

    def on_execute(self):
        ec = self.execution_context
        if ec.result is None and ec.graphql_document is not None:
            nodes = estimate_nodes(ec.schema._schema, ec.graphql_document, ec.operation_name, ec.variables, self.default_page)
            limit = self.limits.max_nodes
            if nodes > limit:
                ec.result = ExecutionResult(data=None, errors=[_error(
                    "QUERY_TOO_LARGE",
                    f"query may return {nodes:,} objects, over the limit of {limit:,} by {nodes - limit:,}"
                    " (ask for smaller pages)",
                )])
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
                ec.result = ExecutionResult(data=None, errors=[GraphQLError(
                    f"rate limit of {limiter.limit} points a minute reached; retry in {wait:.0f}s",
                    extensions={"code": "RATE_LIMITED", "retryAfter": max(1, round(wait))},
                )])
                if ctx.response is not None:
                    ctx.response.status_code = 429
                    ctx.response.headers["Retry-After"] = str(max(1, round(wait)))
        yield
