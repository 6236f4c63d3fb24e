"""Composing one strawberry Schema from the core and the enabled plugins.

strawberry cannot extend a type after it is defined, so the schema is built in
one factory: plugin mixins are merged into ``Customer``/``Interaction``/
``AccountOwner`` first, then every field's annotation is re-evaluated in a
namespace where "Customer" (etc.) means the merged type. Fields are copied before
that, so building several schemas in one process (tests, `kehu schema` with other
settings) never lets one leak into another. See docs/internals.md.
"""

from __future__ import annotations

import copy
import functools
import logging
import typing
from typing import TYPE_CHECKING, Any

import strawberry
from graphql import GraphQLSchema
from strawberry.annotation import StrawberryAnnotation
from strawberry.exceptions import DuplicatedTypeName
from strawberry.extensions import FieldExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types.base import get_object_definition, has_object_definition
from strawberry.utils.str_converters import to_camel_case

from kehu.errors import PluginError

from . import compat, root
from . import duplicates as duplicates_schema
from .descriptions import describe_conventions
from .executor import KehuExecutor
from .extensions import (
    HookRunner,
    IntrospectionGuard,
    KehuErrors,
    LiveAccess,
    RequestMetrics,
    RootAccess,
    WriteOperation,
    _is_expected,
)
from .limits import DocumentMemo, KehuParserCache, LimitedValidationCache, QueryLimits, RateLimit
from .plain_resolvers import install_plain_resolvers
from .registry import Contribution, GraphQLRegistry
from .relay import Node, check_node_types
from .subscriptions import CoreSubscription
from .types import AccountOwnerBase, AuditEntry, CustomerBase, CustomerFilterInput, InteractionBase, OutboxEvent

if TYPE_CHECKING:
    from kehu.server.runtime import Kehu

log = logging.getLogger(__name__)

BASES = {"Customer": CustomerBase, "Interaction": InteractionBase, "AccountOwner": AccountOwnerBase}
ROOT_DESCRIPTIONS = {
    "Query": "Reads. Everything but public fields needs a signed-in caller (`Authorization: Bearer <token>`).",
    "Mutation": "Writes: each runs in one transaction with one audit entry; problems the user can fix come back "
    "as `userErrors` in the payload, and nothing is written.",
    "Subscription": "Live updates over WebSocket (graphql-transport-ws at the same path); sign in with "
    '`{"authorization": "Bearer <token>"}` in the connection_init payload.',
}


class KehuSchema(strawberry.Schema):
    node_resolvers: dict[str, Any]
    registry: GraphQLRegistry
    #: True when built on the plain path: strawberry's own resolvers and executor.
    plain: bool

    def create_extensions_runner(self, execution_context, extensions):
        """The schema extensions' hooks, looked up once per process (``HookRunner``);
        strawberry's own runner on the plain path."""
        if getattr(self, "plain", False):
            return super().create_extensions_runner(execution_context, extensions)
        return HookRunner(execution_context=execution_context, extensions=extensions)

    @functools.cached_property
    def graphql_schema(self) -> GraphQLSchema:
        """The graphql-core schema (validation, the node estimate, tests' document generators)."""
        return compat.graphql_schema(self)

    def process_errors(self, errors, execution_context=None) -> None:
        """Log unexpected errors in full with the request id (the client sees only
        the id); expected ones (validation, domain) at debug level."""
        rid = getattr(getattr(execution_context, "context", None), "request_id", "-")
        for error in errors:
            if _is_expected(error):
                log.debug("request %s: %s", rid, error.message)
            else:
                log.error("request %s: %s", rid, error.message, exc_info=error.original_error)


def _field_name(field) -> str:
    return field.graphql_name or to_camel_case(field.python_name)


def _rebound(annotation: StrawberryAnnotation, names: dict[str, type]) -> StrawberryAnnotation:
    namespace = dict(annotation.namespace or {})
    namespace.update(names)
    return StrawberryAnnotation(annotation.raw_annotation, namespace=namespace)


def _rebind(cls: type, names: dict[str, type]) -> None:
    """Give ``cls`` its own copies of its fields (and their arguments), with
    annotations that resolve the core type names to this build's composed types."""
    definition = get_object_definition(cls, strict=True)
    fields = []
    for field in definition.fields:
        new = copy.copy(field)
        annotation = field.type_annotation or (field.base_resolver.type_annotation if field.base_resolver else None)
        if annotation is not None:
            new.type_annotation = _rebound(annotation, names)
        arguments = []
        for argument in field.arguments:
            argument = copy.copy(argument)
            if argument.type_annotation is not None:
                argument.type_annotation = _rebound(argument.type_annotation, names)
            arguments.append(argument)
        new.arguments = arguments
        fields.append(new)
    definition.fields[:] = fields


def _check_unique_fields(type_name: str, parts: list[tuple[str, type]]) -> None:
    seen: dict[str, str] = {}
    for plugin, cls in parts:
        for field in get_object_definition(cls, strict=True).fields:
            name = _field_name(field)
            if name in seen and seen[name] != plugin:
                raise PluginError(
                    f"plugins '{seen[name]}' and '{plugin}' both define the GraphQL field {type_name}.{name}"
                )
            seen[name] = plugin


def _merged(name: str, types: tuple[type, ...], description: str | None) -> type:
    """strawberry's ``merge_types``, keeping a description (it drops the parts')."""
    merged = merge_types(name, types)
    get_object_definition(merged, strict=True).description = description
    return merged


def _compose(type_name: str, base: type, contributions: list[Contribution]) -> type:
    parts = [("core", base)] + [(c.plugin, c.cls) for c in contributions]
    _check_unique_fields(type_name, parts)
    # Mixins first so plugins can add, base last so the core's `id` and
    # `is_type_of` stay in charge.
    types = tuple(c.cls for c in reversed(contributions)) + (base,)
    return _merged(type_name, types, get_object_definition(base, strict=True).description)


def _referenced_types(cls: type) -> list[type]:
    """Strawberry object types used by the fields of ``cls`` (one level)."""
    found = []
    for field in get_object_definition(cls, strict=True).fields:
        try:
            t = field.type
        except Exception:  # unresolvable until rebound
            continue
        stack = [t]
        while stack:
            t = stack.pop()
            if has_object_definition(t):
                found.append(t)
                # Connection[PluginType]: reach the type argument too.
                specialized = getattr(get_object_definition(t, strict=True), "specialized_type_var_map", None) or {}
                stack.extend(a for a in specialized.values() if isinstance(a, type))
            for attr in ("of_type",):
                if hasattr(t, attr):
                    stack.append(getattr(t, attr))
            stack.extend(a for a in typing.get_args(t) if isinstance(a, type))
    return found


def build_schema(kehu: Kehu, *, plain: bool | None = None) -> KehuSchema:
    """The schema of ``kehu``'s enabled plugins. ``plain=True`` builds it without
    kehu's executor and plain resolvers — strawberry's and graphql-core's own
    execution, what the differential tests compare against; by default that
    happens only when ``compat.fast_path()`` says the internals they use changed
    (or ``KEHU_PLAIN_EXECUTION`` is set)."""
    if plain is None:
        plain = not compat.fast_path()
    registry = GraphQLRegistry()
    registry.query(root.CoreQuery, public=root.PUBLIC_QUERIES)
    registry.mutation(root.CoreMutation, public=root.PUBLIC_MUTATIONS, self_service=root.SELF_SERVICE_MUTATIONS)
    duplicates_schema.register(registry)
    registry.subscription(CoreSubscription)
    for impl in kehu.plugins.call_order("kehu_graphql"):
        registry.plugin = impl.plugin_name
        try:
            impl.function(graphql=registry)
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(f"plugin '{impl.plugin_name}': kehu_graphql failed: {exc}") from exc
    # The hooks ran in pluggy's order; the schema lists what they added in
    # registration order, so its text does not depend on tryfirst/trylast.
    registry.sort(list(kehu.plugins.records))

    composed = {name: _compose(name, base, registry.extensions[name]) for name, base in BASES.items()}
    filter_parts = [("core", CustomerFilterInput)] + [(c.plugin, c.cls) for c, _ in registry.customer_filters]
    _check_unique_fields("CustomerFilterInput", filter_parts)
    composed["CustomerFilterInput"] = strawberry.input(
        type("CustomerFilterInput", tuple(cls for _, cls in reversed(filter_parts)), {}),
        description=get_object_definition(CustomerFilterInput, strict=True).description,
    )

    query_parts = [(c.plugin, c.cls) for c in registry.queries]
    mutation_parts = [(c.plugin, c.cls) for c in registry.mutations]
    _check_unique_fields("Query", query_parts)
    _check_unique_fields("Mutation", mutation_parts)
    Query = _merged("Query", tuple(cls for _, cls in reversed(query_parts)), ROOT_DESCRIPTIONS["Query"])
    Mutation = _merged("Mutation", tuple(cls for _, cls in reversed(mutation_parts)), ROOT_DESCRIPTIONS["Mutation"])
    subscription_parts = [(c.plugin, c.cls) for c in registry.subscriptions]
    _check_unique_fields("Subscription", subscription_parts)
    Subscription = _merged(
        "Subscription", tuple(cls for _, cls in reversed(subscription_parts)), ROOT_DESCRIPTIONS["Subscription"]
    )

    # Rebind every type that may name a core type by string: the composed types,
    # the roots, the plugins' own types, and (one level down) the payload and
    # connection types the roots return.
    to_rebind: list[type] = [*composed.values(), Query, Mutation, Subscription]
    to_rebind += [c.cls for c in registry.extra_types]
    for contributions in registry.extensions.values():
        to_rebind += [c.cls for c in contributions]
    seen: set[int] = set()
    reachable: dict[str, type] = {}  # GraphQL name -> class, for field policies
    ours = ("kehu.", *_plugin_modules(kehu, registry))
    queue = list(to_rebind)
    while queue:
        cls = queue.pop()
        if id(cls) in seen:
            continue
        seen.add(id(cls))
        reachable.setdefault(get_object_definition(cls, strict=True).name, cls)
        _rebind(cls, composed)
        for ref in _referenced_types(cls):
            if id(ref) not in seen and ref.__module__.startswith(ours):
                queue.append(ref)

    # A policy may name any type the schema reaches (not only registered ones).
    _install_policy_enforcers(
        kehu, registry, {**reachable, **{c.cls.__name__: c.cls for c in registry.extra_types}, **composed}
    )
    _install_root_extensions(Query, registry.queries, mutation=False)
    _install_root_extensions(Mutation, registry.mutations, mutation=True)
    for field in get_object_definition(Subscription, strict=True).fields:
        field.extensions = [LiveAccess(), *field.extensions]

    limits = kehu.config.limits
    page_default = kehu.config.kehu.page_size_default
    # What the limits and the validation found per document, kept with this schema.
    checked, estimates = DocumentMemo(512), DocumentMemo(512)
    try:
        schema = KehuSchema(
            query=Query,
            mutation=Mutation,
            subscription=Subscription,
            types=[*composed.values(), AuditEntry, OutboxEvent, *(c.cls for c in registry.extra_types)],
            extensions=[
                RequestMetrics,
                KehuErrors,
                IntrospectionGuard,
                lambda: QueryLimits(limits=limits, default_page=page_default, estimates=estimates),
                RateLimit,
                lambda: KehuParserCache(maxsize=512),
                lambda: LimitedValidationCache(limits=limits, maxsize=512, checked=checked),
            ],
            config=StrawberryConfig(relay_max_results=100),
            execution_context_class=None if plain else KehuExecutor,
        )
    except DuplicatedTypeName as exc:
        raise PluginError(f"two plugins define the GraphQL type '{exc.args[0] if exc.args else exc}'") from None
    check_node_types(schema)
    schema.node_resolvers = registry.node_resolvers
    schema.registry = registry
    # Into the schema strawberry runs and prints, before anything (the plain path's
    # rebuilt copy included) reads it: the descriptions are in every answer.
    executed = compat.executed_graphql_schema(schema)
    if executed is not None:
        describe_conventions(executed)
    schema.plain = plain
    if not plain:
        install_plain_resolvers(schema)
    return schema


def _plugin_modules(kehu: Kehu, registry: GraphQLRegistry) -> tuple[str, ...]:
    """The packages whose types may name core types by string, as ``"package."``:
    each plugin module's, and each registered class's. A plugin given as an object
    rather than a module (pluggy takes either) has no package of its own, but the
    classes its ``kehu_graphql`` registers have one."""
    names = [getattr(r.module, "__name__", "") for r in kehu.plugins.records.values()]
    contributions = [*registry.queries, *registry.mutations, *registry.subscriptions, *registry.extra_types]
    for extensions in registry.extensions.values():
        contributions += extensions
    names += [c.cls.__module__ for c in contributions]
    return tuple(sorted({name.rsplit(".", 1)[0] + "." for name in names if name}))


def _install_policy_enforcers(kehu: Kehu, registry: GraphQLRegistry, types: dict[str, type]) -> None:
    """Give each field that has a policy the enforcers' extensions; no other field
    is touched. A policy naming a field that does not exist is a start-up error.

    Plugin types are module-level classes shared by every schema built in the
    process: extensions an earlier build installed (marked ``_kehu_policy``) are
    removed first, so a build without the masking plugin masks nothing."""
    for policy in kehu.field_policies:
        cls = types.get(policy.type_name)
        field = None
        if cls is not None:
            field = next(
                (f for f in get_object_definition(cls, strict=True).fields if _field_name(f) == policy.field_name), None
            )
        if field is None:
            if not registry.policy_enforcers:
                continue
            raise PluginError(f"field policy for {policy.key}: the schema has no such field")
        field.extensions = [e for e in field.extensions if not getattr(e, "_kehu_policy", False)]
        for plugin, factory in registry.policy_enforcers:
            try:
                extensions = list(factory(policy, field) or ())
            except Exception as exc:
                raise PluginError(f"plugin '{plugin}': enforcing {policy.key} failed: {exc}") from exc
            for extension in extensions:
                extension._kehu_policy = True
            field.extensions = [*field.extensions, *extensions]


def _install_root_extensions(root_type: type, contributions: list[Contribution], *, mutation: bool) -> None:
    owner_of: dict[str, Contribution] = {}
    for contribution in contributions:
        for field in get_object_definition(contribution.cls, strict=True).fields:
            owner_of[_field_name(field)] = contribution
    for field in get_object_definition(root_type, strict=True).fields:
        name = _field_name(field)
        contribution = owner_of[name]
        extensions: list[FieldExtension] = [
            RootAccess(
                public=name in contribution.public,
                mutation=mutation,
                self_service=name in contribution.self_service,
            )
        ]
        if mutation and not (contribution.plugin == "core" and name in root.UNSCOPED_MUTATIONS):
            extensions.append(WriteOperation())
        # Extensions run outermost-last: access is checked before the write opens.
        field.extensions = [*extensions[::-1], *field.extensions]


__all__ = ["build_schema", "KehuSchema", "Node"]
