"""What plugins hand to ``kehu_graphql``: the one way to extend the schema."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from strawberry.types.base import has_object_definition

from kehu.errors import PluginError

EXTENSIBLE_TYPES = ("Customer", "Interaction", "AccountOwner")


@dataclass
class Contribution:
    plugin: str
    cls: type
    public: frozenset[str] = frozenset()
    self_service: frozenset[str] = frozenset()


@dataclass
class GraphQLRegistry:
    """Collects each plugin's contributions; ``build_schema`` composes them.

    Methods are called from a plugin's ``kehu_graphql(graphql)`` hook.
    """

    extensions: dict[str, list[Contribution]] = field(default_factory=lambda: {t: [] for t in EXTENSIBLE_TYPES})
    queries: list[Contribution] = field(default_factory=list)
    mutations: list[Contribution] = field(default_factory=list)
    subscriptions: list[Contribution] = field(default_factory=list)
    extra_types: list[Contribution] = field(default_factory=list)
    node_resolvers: dict[str, tuple[str, Callable[..., Awaitable[Any]]]] = field(default_factory=dict)
    customer_filters: list[tuple[Contribution, Callable[..., Any]]] = field(default_factory=list)
    policy_enforcers: list[tuple[str, Callable[..., Any]]] = field(default_factory=list)
    plugin: str = "core"

    def sort(self, plugins: list[str]) -> None:
        """Order every list of contributions by ``plugins`` (registration order;
        stable, so a plugin's own contributions keep the order it made them in)."""
        rank = {name: i for i, name in enumerate(plugins)}

        def key(plugin: str) -> int:
            return rank.get(plugin, len(rank))

        for contributions in (*self.extensions.values(), self.queries, self.mutations, self.subscriptions):
            contributions.sort(key=lambda c: key(c.plugin))
        self.extra_types.sort(key=lambda c: key(c.plugin))
        self.customer_filters.sort(key=lambda item: key(item[0].plugin))
        self.policy_enforcers.sort(key=lambda item: key(item[0]))

    def _check(self, cls: type, what: str) -> None:
        if not has_object_definition(cls):
            raise PluginError(f"plugin '{self.plugin}': {what} {cls!r} is not a @strawberry.type")

    def extend(self, type_name: str, mixin: type) -> None:
        """Add the fields of ``mixin`` (a ``@strawberry.type``) to a core type:
        ``"Customer"``, ``"Interaction"`` or ``"AccountOwner"``."""
        if type_name not in self.extensions:
            raise PluginError(
                f"plugin '{self.plugin}': cannot extend '{type_name}' (extensible: {', '.join(EXTENSIBLE_TYPES)})"
            )
        self._check(mixin, "extension of " + type_name)
        self.extensions[type_name].append(Contribution(self.plugin, mixin))

    def query(self, mixin: type, *, public: Iterable[str] = ()) -> None:
        """Add root query fields. ``public`` names fields (GraphQL names) that answer
        unauthenticated requests; all others require a signed-in viewer."""
        self._check(mixin, "query")
        self.queries.append(Contribution(self.plugin, mixin, frozenset(public)))

    def mutation(self, mixin: type, *, public: Iterable[str] = (), self_service: Iterable[str] = ()) -> None:
        """Add root mutation fields. Each runs in its own transaction with one audit
        entry. ``public`` as for ``query``; ``self_service`` fields (a viewer acting on
        their own account) are allowed to read-only roles too."""
        self._check(mixin, "mutation")
        self.mutations.append(Contribution(self.plugin, mixin, frozenset(public), frozenset(self_service)))

    def subscription(self, mixin: type) -> None:
        """Add root subscription fields (async generators). Subscriptions need a
        signed-in connection; check ``require_viewer(info.context.viewer)`` and
        filter what you yield by what the viewer may see. Most plugins need none:
        ``kehu.writes.publish(...)`` feeds the core's ``events`` subscription."""
        self._check(mixin, "subscription")
        self.subscriptions.append(Contribution(self.plugin, mixin))

    def types(self, *types: type) -> None:
        """Add types the schema cannot discover from fields (interface implementations)."""
        for t in types:
            self.extra_types.append(Contribution(self.plugin, t))

    def node(self, type_name: str, resolver: Callable[..., Awaitable[Any]]) -> None:
        """Make ``node(id)`` and ``nodes(ids)`` resolve global IDs of ``type_name``:
        ``async def resolver(info, pk) -> object | None``. It must return None for
        records the viewer may not see."""
        from .nodes import CORE_NODES

        if type_name in self.node_resolvers or type_name in CORE_NODES:
            other = self.node_resolvers.get(type_name, ("core",))[0]
            raise PluginError(f"plugins '{other}' and '{self.plugin}' both resolve node type '{type_name}'")
        self.node_resolvers[type_name] = (self.plugin, resolver)

    def customer_filter(self, input_mixin: type, apply: Callable[..., Any]) -> None:
        """Add fields to ``CustomerFilterInput`` (the ``filter`` of ``customers``).

        ``input_mixin`` is a ``@strawberry.input`` class whose fields all default to
        ``None``. ``apply(queryset, filter, info)`` (may be async) is called with the
        customers queryset — already narrowed to what the viewer may see — whenever a
        filter is given, and returns the queryset narrowed by the plugin's fields
        (e.g. ``queryset.filter(id__in=Subquery(...))``). Narrow only: never widen.
        """
        if not hasattr(input_mixin, "__strawberry_definition__"):
            raise PluginError(f"plugin '{self.plugin}': customer filter {input_mixin!r} is not a @strawberry.input")
        self.customer_filters.append((Contribution(self.plugin, input_mixin), apply))

    def enforce_field_policies(self, factory: Callable[..., Any]) -> None:
        """Compile field policies into the schema (the masking plugin does this).

        ``factory(policy, field)`` is called once at build time for every field that a
        ``kehu_field_policies`` hook declared; it returns a list of strawberry
        ``FieldExtension`` instances to install on that field. Fields without a policy
        are never touched, so they cost nothing per request.
        """
        self.policy_enforcers.append((self.plugin, factory))
