"""Batch fields: one call resolves a field for a whole list of parents.

A plugin that adds a field to ``Customer`` writes it for a *list* of customers::

    @strawberry.type
    class CustomerLoyaltyFields:
        @batch_field(description="Loyalty membership: points, tier, ledger, vouchers.")
        async def loyalty(customers: list["Customer"], info: Info) -> list[CustomerLoyalty]:
            accounts = await accounts_of([c.id for c in customers])
            return [CustomerLoyalty(account=accounts.get(c.id)) for c in customers]

The function receives the parents — model instances, in the order the response
needs them — as its first parameter, then ``info`` and the field's GraphQL
arguments as keyword arguments, exactly as a strawberry resolver would; it returns
one value per parent, in the same order (a list of the same length). In the schema
the field has the item type (``loyalty: CustomerLoyalty!``) and its arguments.

How it is called (schema/executor.py): when a list of objects is about to be
completed, kehu walks the selection breadth-first and calls each batch field
*once* with every parent on that level — a page of 100 customers with their last
five interactions is one call for ``Customer.interactions`` and one for
``Interaction.owner`` over all 500 interactions, not 100 or 500. The results are
handed to the normal (depth-first) completion without a coroutine, future or task
per parent, which is where a DataLoader-per-field design spends its time
(benchmarks/README.md). Where no list is in sight (``customer(id)``, ``node``),
parents met in the same tick are batched through a per-request DataLoader, so the
function is still called once per level.

Rules for the function:

* it may be ``async`` or not; it must not depend on the order of calls;
* it sees only parents the viewer may see (they were fetched through
  ``kehu.access``), but must narrow what it loads for them the same way;
* it must not write: it may run for parents whose field is then not shown
  (an ancestor nulled by an error elsewhere);
* it never runs for a parent its field's ``permission_classes`` deny: those are
  asked per parent first, and only the parents they allow are passed. A field with
  any other field extension (one that might refuse in its own way) is not
  prefetched at all: it resolves through its extensions, parent by parent, and
  only the parents they let through reach the per-request DataLoader;
* an exception fails the field for every parent of the call, each at its own path.
"""

from __future__ import annotations

import collections.abc
import inspect
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from kehu.errors import PluginError

from . import compat

#: Key of a GraphQLField's ``extensions`` entry holding its :class:`BatchSpec`.
BATCH_EXTENSION = "kehu.batch"


@dataclass(frozen=True)
class BatchSpec:
    """What kehu knows of a batch field: its function and how to call it."""

    function: Callable[..., Any]
    name: str
    takes_info: bool

    async def call(self, parents: Sequence[Any], info: Any, arguments: dict[str, Any]) -> list[Any]:
        """The function's results for ``parents``, checked to be one per parent."""
        if self.takes_info:
            arguments = {**arguments, "info": info}
        result = self.function(list(parents), **arguments)
        if inspect.isawaitable(result):
            result = await result
        if not isinstance(result, (list, tuple)) or len(result) != len(parents):
            # A bug in the plugin, not the caller's mistake: masked for the client, logged in full.
            got = f"{len(result)} values" if isinstance(result, (list, tuple)) else type(result).__name__
            raise TypeError(f"batch field '{self.name}' returned {got} for {len(parents)} parents")
        return list(result)


class _Failed:
    """A batch call's exception, stored for each parent it was meant for."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException):
        self.error = error


def batch_store(context: Any) -> dict:
    """The request's prefetched batch results: ``{(id(field node), id(parent)):
    (parent, value)}`` (the parent is kept so its id cannot be reused)."""
    store = getattr(context, "batch_results", None)
    if store is None:
        store = {}
        try:
            context.batch_results = store
        except AttributeError:  # a context that takes no attributes: nothing is shared
            pass
    return store


def stored_value(store: dict, node: Any, parent: Any) -> Any:
    """The prefetched value for ``parent`` at field ``node``, or ``MISSING``;
    raises the batch call's exception if it failed."""
    hit = store.get((id(node), id(parent)))
    if hit is None or hit[0] is not parent:
        return MISSING
    value = hit[1]
    if type(value) is _Failed:
        raise value.error
    return value


MISSING = object()


def store_results(store: dict, node: Any, parents: Sequence[Any], results: Sequence[Any] | BaseException) -> None:
    if isinstance(results, BaseException):
        failed = _Failed(results)
        for parent in parents:
            store[(id(node), id(parent))] = (parent, failed)
        return
    for parent, value in zip(parents, results):
        store[(id(node), id(parent))] = (parent, value)


def _item_annotation(annotation: Any, name: str) -> Any:
    """``X`` from a return annotation ``list[X]`` (or the string ``"list[X]"``)."""
    if isinstance(annotation, str):
        text = annotation.strip()
        for prefix in ("list[", "List[", "typing.List[", "Sequence[", "typing.Sequence["):
            if text.startswith(prefix) and text.endswith("]"):
                return text[len(prefix) : -1]
    elif typing.get_origin(annotation) in (list, collections.abc.Sequence):
        args = typing.get_args(annotation)
        if len(args) == 1:
            return args[0]
    raise PluginError(f"batch field '{name}' must be annotated to return list[ItemType], not {annotation!r}")


def _arguments_key(arguments: dict[str, Any]) -> Any:
    items = tuple(sorted(arguments.items()))
    try:
        hash(items)
    except TypeError:  # input objects are unhashable dataclasses; their repr is stable
        return repr(items)
    return items


class _Same:
    """A parent as a DataLoader's cache key: the parent itself, compared by
    identity. A key of ``id(parent)`` alone outlived its parent: a connection
    completed and freed mid-request left its id to a new one, which was then
    served the first one's cached ``totalCount``."""

    __slots__ = ("parent",)

    def __init__(self, parent: Any) -> None:
        self.parent = parent

    def __hash__(self) -> int:
        return id(self.parent)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.parent is self.parent


def _per_parent_resolver(spec: BatchSpec, function: Callable[..., Any]) -> Callable[..., Any]:
    """The strawberry resolver of one parent: the prefetched value when the
    executor has one, otherwise a per-request DataLoader over ``spec``."""
    signature = inspect.signature(function)
    parameters = list(signature.parameters.values())
    if not parameters or parameters[0].kind not in (parameters[0].POSITIONAL_ONLY, parameters[0].POSITIONAL_OR_KEYWORD):
        raise PluginError(f"batch field '{spec.name}' must take the list of parents as its first parameter")
    arguments = [p for p in parameters[1:] if p.name != "info"]
    for p in arguments:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            raise PluginError(f"batch field '{spec.name}': GraphQL arguments must be named parameters ('{p.name}')")

    async def resolve(self, info: Info, **kwargs: Any) -> Any:
        store = getattr(info.context, "batch_results", None)
        if store:  # filled by kehu's executor, on the fast path only
            value = stored_value(store, compat.field_node(info), self)
            if value is not MISSING:
                return value
        loaders = getattr(info.context, "plugin_loaders", None)
        if loaders is None:
            return (await spec.call([self], info, kwargs))[0]
        # Parents met in the same tick with the same arguments share a call.
        key = ("kehu.batch", spec, _arguments_key(kwargs))
        loader = loaders.get(key)
        if loader is None:

            async def load(parents: list[Any]) -> list[Any]:
                return await spec.call(parents, info, kwargs)

            loader = loaders[key] = DataLoader(load, cache_key_fn=_Same)
        return await loader.load(self)

    resolve.__name__ = function.__name__
    resolve.__qualname__ = function.__qualname__
    resolve.__module__ = function.__module__
    resolve.__doc__ = function.__doc__
    resolve.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[
            inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            inspect.Parameter("info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Info),
            *arguments,
        ],
        return_annotation=_item_annotation(signature.return_annotation, spec.name),
    )
    resolve._kehu_batch = spec  # type: ignore[attr-defined]
    return resolve


def batch_field(
    function: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    deprecation_reason: str | None = None,
    permission_classes: list[type] | None = None,
    extensions: list[Any] | None = None,
    directives: Sequence[object] = (),
    metadata: dict[str, Any] | None = None,
) -> Any:
    """Declare a field of a strawberry type that is resolved for many parents in
    one call (see the module docstring). Takes strawberry.field's options
    (``metadata``: e.g. ``max_items(2)``, the bound of a plain list)."""

    def wrap(function: Callable[..., Any]) -> Any:
        parameters = inspect.signature(function).parameters
        spec = BatchSpec(function=function, name=function.__qualname__, takes_info="info" in parameters)
        return strawberry.field(
            resolver=_per_parent_resolver(spec, function),
            name=name,
            description=description,
            deprecation_reason=deprecation_reason,
            permission_classes=permission_classes or [],
            extensions=extensions or [],
            directives=directives,
            metadata=metadata,
        )

    return wrap(function) if function is not None else wrap


def prefetchable(strawberry_field: Any) -> bool:
    """Whether the executor may call the field's function ahead of its per-parent
    resolver: only when nothing around that resolver can refuse a parent except
    permission classes, which ``permitted_parents`` asks first. (Value transforms —
    masking — change a value after it is loaded; they refuse nothing.)"""
    from strawberry.permission import PermissionExtension

    from .extensions import ValueTransform

    return all(isinstance(e, (ValueTransform, PermissionExtension)) for e in strawberry_field.extensions)


async def permitted_parents(strawberry_field: Any, parents: Sequence[Any], info: Any, arguments: dict) -> list[Any]:
    """The parents every permission class of the field allows (as strawberry's
    PermissionExtension would decide for each): a denied parent never reaches the
    batch function. A permission that fails denies."""
    from strawberry.permission import PermissionExtension

    permissions = [p for e in strawberry_field.extensions if isinstance(e, PermissionExtension) for p in e.permissions]
    if not permissions:
        return list(parents)
    allowed = []
    for parent in parents:
        try:
            for permission in permissions:
                verdict = permission.has_permission(parent, info, **arguments)
                if inspect.isawaitable(verdict):
                    verdict = await verdict
                if verdict is not True:
                    break
            else:
                allowed.append(parent)
        except Exception:  # noqa: BLE001 - the per-parent resolver will raise it where it belongs
            continue
    return allowed


def batch_spec(strawberry_field: Any) -> BatchSpec | None:
    """The :class:`BatchSpec` of a strawberry field declared with ``batch_field``."""
    resolver = getattr(strawberry_field, "base_resolver", None)
    func = getattr(resolver, "wrapped_func", None)
    return getattr(func, "_kehu_batch", None)
