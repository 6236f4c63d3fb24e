"""kehu's execution of a validated operation: graphql-core's algorithm, with two
short cuts on the paths that dominate a list screen.

graphql-core completes a response depth-first, one field at a time: for every
field it builds a path, an info object, calls the resolver, checks for an
awaitable and completes the value through several calls. On a page of 100
customers with owner, last five interactions and plugin summaries that is
~4,600 fields and, with DataLoaders, ~1,000 asyncio tasks and ~3,000 callbacks
per request (benchmarks/README.md). The floor — the same JSON built from the same
SQL in one loop — is ten times faster.

1. **Batch prefetch** (schema/batch.py). Before the items of a list of objects
   are completed, the selection below them is walked breadth-first through
   plain fields (``edges``, ``node``) and batch fields, and every batch field is
   called once per level with all its parents. Completion then finds each
   value ready, so the per-parent resolver returns synchronously: no coroutine,
   future or task per parent.

2. **Plain fields without the machinery.** A field whose resolver is a plain
   attribute read or a plain function of the object (schema/plain_resolvers.py),
   or a batch field whose value is prefetched, is read and completed in place
   when its value is a leaf (the type's own ``coerce_output_value``; a dict for
   enums, whose strawberry coercion scans every value), an object of a concrete
   type, or a list of those — sub-selections through the same plans. Each
   selection's plans run as a function written out for its fields
   (``_selection_source``), compiled once per shape of selection.

Both are speculative in the same way: whenever the short cut meets anything it
does not handle — a ``None`` for a non-null field or list item, a value the
scalar refuses, an exception, a missing prefetch, a failed ``is_type_of``, a
deferred fragment — it decides so before anything below the field has run, does
nothing, and the field goes through graphql-core's ``execute_field`` from the
start. The short cuts only read (getters and ``is_type_of`` have no effects), so
running that field again is safe. Errors raised further down are handled with
graphql-core's own ``handle_field_error`` at the same paths, so every error, null
propagation and message is graphql-core's (tests/test_executor.py compares
with the plain path: no kehu executor, no plain resolvers).
Middleware (a schema extension with ``resolve``) turns both off.

What this executor needs of graphql-core's and strawberry's internals is reached
through schema/compat.py, which checks it at start-up; when the check fails the
schema is built without this executor.
"""

from __future__ import annotations

import asyncio
import functools
import keyword
import weakref
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLID,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLString,
    get_argument_values,
    is_leaf_type,
)
from graphql.pyutils import Path, Undefined, gather_with_cancel

from . import compat
from .batch import BATCH_EXTENSION, MISSING, BatchSpec, batch_store, permitted_parents, store_results, stored_value

# Field plan kinds (see _field_plan).
SLOW, FAST_LEAF, FAST_OBJECT, FAST_LIST = 0, 1, 2, 3

# ``Path(prev, key, typename)`` without the named tuple's ``__new__``, a Python
# function: the same tuple, made for each object of a page.
_path = tuple.__new__

# Leaf types whose coerce_output_value returns a value of this exact class unchanged.
_PASSTHROUGH: dict[Any, type] = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool}


@dataclass(slots=True)
class _FieldPlan:
    response_name: str
    details: Any  # graphql-core's FieldDetailsList
    kind: int
    getter: Any = None  # fast(source, context) -> value, for plain fields
    node: Any = None  # the field node, for batch fields (prefetch key)
    return_type: Any = None
    non_null: bool = False
    coerce: Any = None
    attr: str | None = None  # the getter only reads this attribute
    passthrough: Any = None  # a value of exactly this class needs no coercion
    object_type: Any = None  # FAST_OBJECT: the field's type; FAST_LIST: the items'
    is_type_of: Any = None
    item_type: Any = None  # FAST_LIST: the list's item type (maybe non-null)
    child: Any = None  # FAST_OBJECT/FAST_LIST: (sub-selection, its runner), once known


@dataclass(slots=True)
class _WalkStep:
    response_name: str
    details: Any
    field_def: Any
    spec: BatchSpec | None  # None: a plain field walked through
    getter: Any
    child: GraphQLObjectType | None
    child_is_list: bool


@dataclass(slots=True)
class _WalkPlan:
    steps: list[_WalkStep] = field(default_factory=list)
    reaches_batch: bool = False


def _unwrap(gql_type: Any) -> tuple[Any, bool]:
    if isinstance(gql_type, GraphQLNonNull):
        return gql_type.of_type, True
    return gql_type, False


# One fast coercion per enum type of a schema; it goes with the schema.
_ENUM_COERCERS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _coercer(leaf_type: Any) -> Any:
    """``leaf_type.coerce_output_value``, or an equivalent that is faster on the
    values resolvers return. strawberry's enum type finds a member's name by
    scanning every value of the enum (~11% of W1's time): here a dict does it."""
    wrapped = compat.enum_class(leaf_type)
    if wrapped is None or not issubclass(wrapped, Enum):
        return leaf_type.coerce_output_value
    cached = _ENUM_COERCERS.get(leaf_type)
    if cached is not None:
        return cached
    names: dict[Any, str] = {}
    for member in wrapped:
        for name, value in leaf_type.values.items():  # the first match, as strawberry's loop finds
            if member.value == value.value:
                names.setdefault(member, name)
                break
    slow = leaf_type.coerce_output_value

    def coerce(value: Any) -> Any:
        if value.__class__ is wrapped:
            name = names.get(value)
            if name is not None:
                return name
        return slow(value)

    _ENUM_COERCERS[leaf_type] = coerce
    return coerce


def _stored_or_none(store: dict, node: Any, parent: Any) -> Any:
    try:
        return stored_value(store, node, parent)
    except Exception:
        return None


def fast_getter(field_def: Any) -> Any:
    """``fast(source, context)`` of a plain field (schema/plain_resolvers.py), or None."""
    return getattr(field_def.resolve, "_kehu_fast", None)


def _selection_code(plans: list[_FieldPlan]) -> Any:
    """``make(executor, parent_type, plans)``, which returns ``run(source, path,
    position_context)``: the selection's fields executed on one object, each
    field's short cut written out in order (see ``_selection_source``)."""
    return _compiled_selection(tuple(_field_shape(p) for p in plans))


def _field_shape(plan: _FieldPlan) -> tuple:
    # What the code of a field depends on. Response names (aliases), getters,
    # nodes and coercions are the closure's values, so every document selecting
    # the same fields of a type shares one compiled function.
    if plan.kind == SLOW:
        return (SLOW,)
    if plan.attr is not None:
        read = "attr"
    elif plan.getter is not None:
        read = "getter"
    else:
        read = "stored"
    attr = plan.attr if read == "attr" else None
    return (plan.kind, read, attr, plan.non_null, plan.passthrough is not None)


@functools.lru_cache(maxsize=1024)
def _compiled_selection(shapes: tuple[tuple, ...]) -> Any:
    namespace = {"MISSING": MISSING, "Undefined": Undefined, "stored_value": stored_value}
    exec(compile(_selection_source(shapes), "<kehu selection>", "exec"), namespace)  # noqa: S102 - no text of a request is in the source
    return namespace["make"]


def _selection_source(shapes: tuple[tuple, ...]) -> str:
    """The source of ``make`` for fields of these shapes. Each field block makes
    the decisions the executor's short cuts make (module docstring) in the same
    order; whatever a block does not finish goes to ``_slow``, graphql-core's
    ``execute_field``. Written out rather than looped, one selection of a page
    runs once per object: a loop over field plans paid for unpacking and
    branching on every field of every row (5 % of W1's instructions)."""
    head = [
        "def make(ex, parent_type, plans):",
        "    context = ex.context_value",
        "    store = ex._store",
        "    is_awaitable = ex.is_awaitable",
        "    slow = ex._slow",
        "    finish = ex._finish",
        "    abandon = ex._abandon",
        "    complete_object = ex._complete_plain_object",
        "    complete_list = ex._complete_plain_list",
    ]
    body = []
    for i, shape in enumerate(shapes):
        head.append(f"    p{i} = plans[{i}]")
        slow = f"slow(p{i}, parent_type, source, path, position_context, results, awaiting)"
        if shape[0] == SLOW:
            body.append(f"            {slow}")
            continue
        kind, read, attr, non_null, passthrough = shape
        head.append(f"    n{i} = p{i}.response_name")
        if read == "attr":
            if attr.isidentifier() and not keyword.iskeyword(attr) and not attr.startswith("__"):
                expression = f"source.{attr}"
            else:
                head.append(f"    a{i} = p{i}.attr")
                expression = f"getattr(source, a{i})"
        elif read == "getter":
            head.append(f"    g{i} = p{i}.getter")
            expression = f"g{i}(source, context)"
        else:
            head.append(f"    d{i} = p{i}.node")
            expression = f"stored_value(store, d{i}, source)"
        on_none = f"results[n{i}] = None" if not non_null else slow
        block = [
            "try:",
            f"    value = {expression}",
            "except Exception:",
            "    value = MISSING",
        ]
        if kind == FAST_LEAF:
            head.append(f"    c{i} = p{i}.coerce")
            if passthrough:
                head.append(f"    t{i} = p{i}.passthrough")
                block += [f"if value.__class__ is t{i}:", f"    results[n{i}] = value", "elif value is None:"]
            else:
                block.append("if value is None:")
            block += [
                f"    {on_none}",
                "elif value is MISSING:",
                f"    {slow}",
                "else:",
                "    try:",
                f"        completed = c{i}(value)",
                "    except Exception:",
                "        completed = None",
                "    if completed is None or completed is Undefined:",
                f"        {slow}",
                "    else:",
                f"        results[n{i}] = completed",
            ]
        else:
            complete = "complete_object" if kind == FAST_OBJECT else "complete_list"
            block += [
                "if value is None:",
                f"    {on_none}",
                "elif value is MISSING:",
                f"    {slow}",
                "else:",
                f"    completed = {complete}(p{i}, parent_type, path, value, position_context)",
                "    if completed is MISSING:",
                f"        {slow}",
                "    else:",
                f"        results[n{i}] = completed",
                "        if completed.__class__ is not dict and completed.__class__ is not list and is_awaitable(completed):",
                f"            awaiting.append(n{i})",
            ]
        body += [f"            {line}" for line in block]
    return "\n".join(
        [
            *head,
            "    def run(source, path, position_context):",
            "        results = {}",
            "        awaiting = []",
            "        try:",
            *(body or ["            pass"]),
            "        except Exception:",
            "            abandon(results, awaiting)",
            "            raise",
            "        return finish(results, awaiting) if awaiting else results",
            "    return run",
            "",
        ]
    )


class KehuExecutor(compat.ExecutorBase):
    """strawberry's graphql-core executor with the two short cuts. Used only when
    ``compat.fast_path()`` says the internals it relies on are as tested; the
    schema is built without it (and without plain resolvers) otherwise."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        self._shortcuts = manager is None or not getattr(manager, "middlewares", ())
        self._field_plans: dict[tuple[Any, int], Any] = {}  # selection -> its runner
        self._walk_plans: dict[tuple[Any, int], _WalkPlan] = {}
        self._walked: set[int] = set()
        self._keep: list[Any] = []  # walked lists and plan keys stay alive: their ids are keys
        self._store: dict = batch_store(self.context_value)
        on_release = getattr(self.context_value, "on_release", None)
        if on_release is not None:
            on_release.append(self.release)

    def build_per_event_executor(self, payload: Any) -> Any:
        """A subscription event is executed by a copy of this executor (a shallow
        one: graphql-core's). It shares none of this one's per-request state: not
        the lists walked or the values prefetched for earlier events, which would
        pile up for as long as the subscription lasts; not the selections'
        runners, which are bound to the executor that made them (an event's
        errors belong to its own result); and no plans, which each event makes
        anew anyway (its root selection is collected anew, so shared plans would
        only grow by one set per event)."""
        executor = super().build_per_event_executor(payload)
        assert isinstance(executor, KehuExecutor)
        executor._field_plans = {}
        executor._walk_plans = {}
        executor.forget_event()
        return executor

    def release(self) -> None:
        """Once the answer is built (``Context.release``): drop the rows walked and
        the plans. graphql-core's executor refers to itself through its resolve
        helpers, so whatever it holds would otherwise wait for the collector."""
        self._field_plans = {}
        self._walk_plans = {}
        self.forget_event()

    def forget_event(self) -> None:
        self._walked = set()
        self._keep = []
        self._store.clear()

    # ------------------------------------------------------------------ plain fields

    def _field_plan(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> list[_FieldPlan]:
        plans = []
        fields = parent_type.fields
        for response_name, details in grouped_field_set.items():
            node = details[0].node
            field_def = fields.get(node.name.value)
            plan = _FieldPlan(response_name, details, SLOW)
            plans.append(plan)
            if field_def is None:
                continue
            getter = fast_getter(field_def)
            if getter is None and not getattr(field_def.resolve, "_kehu_batch_direct", False):
                continue
            inner, non_null = _unwrap(field_def.type)
            if is_leaf_type(inner):
                plan.kind, plan.coerce, plan.passthrough = FAST_LEAF, _coercer(inner), _PASSTHROUGH.get(inner)
            elif isinstance(inner, GraphQLObjectType):
                plan.kind, plan.object_type, plan.is_type_of = FAST_OBJECT, inner, inner.is_type_of
            elif isinstance(inner, GraphQLList) and not any(d.node.directives for d in details):
                item, _ = _unwrap(inner.of_type)
                if not isinstance(item, GraphQLObjectType):
                    continue
                plan.kind, plan.object_type, plan.is_type_of = FAST_LIST, item, item.is_type_of
                plan.item_type = inner.of_type
            else:
                continue
            plan.getter, plan.return_type, plan.non_null = getter, field_def.type, non_null
            plan.attr = getattr(getter, "_kehu_attr", None)
            plan.node = node if getter is None else None
        return plans

    def execute_fields(self, parent_type, source_value, path, grouped_field_set, position_context):
        if not self._shortcuts:
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        return self._runner_for(parent_type, grouped_field_set)(source_value, path, position_context)

    def _runner_for(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> Any:
        """``run(source, path, position_context)``: the selection executed on one
        object (see ``_selection_code``), made once per request and selection."""
        key = (parent_type, id(grouped_field_set))
        runner = self._field_plans.get(key)
        if runner is None:
            plans = self._field_plan(parent_type, grouped_field_set)
            runner = self._field_plans[key] = _selection_code(plans)(self, parent_type, plans)
            self._keep.append(grouped_field_set)
        return runner

    def _child(self, plan: _FieldPlan) -> tuple[Any, Any]:
        """The sub-selection on a plain object field's values and its runner."""
        child = plan.child
        if child is None:
            grouped = self._grouped_subfields(plan.object_type, plan.details)
            runner = self._runner_for(plan.object_type, grouped) if grouped is not None else None
            child = plan.child = (grouped, runner)
        return child

    def _slow(self, plan: _FieldPlan, parent_type, source_value, path, position_context, results, awaiting) -> None:
        """A field the short cuts do not take, through graphql-core's ``execute_field``."""
        name = plan.response_name
        result = self.execute_field(
            parent_type, source_value, plan.details, Path(path, name, parent_type.name), position_context
        )
        if result is not Undefined:
            results[name] = result
            if self.is_awaitable(result):
                awaiting.append(name)

    def _finish(self, results: dict[str, Any], awaiting: list[str]) -> Any:
        """A selection's results, awaited together when some are awaitable."""
        if not awaiting:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaiting) == 1:
                f = awaiting[0]
                results[f] = await results[f]
            else:
                awaited = await gather_with_cancel(*(results[f] for f in awaiting))
                results.update(zip(awaiting, awaited, strict=True))
            return results

        return get_results()

    def _abandon(self, results: dict[str, Any], awaiting: list[str]) -> None:
        """A selection failed: what it already started settles in the background."""
        if awaiting:
            self.settle_in_background([results[f] for f in awaiting])

    def _grouped_subfields(self, object_type: GraphQLObjectType, details: Any) -> Any:
        """The sub-selection to execute on ``object_type`` values (graphql-core
        memoises it), or None when it defers part of itself (graphql-core's own
        path handles that)."""
        collected = self.collect_subfields(object_type, details)
        return None if collected.new_defer_usages else collected.grouped_field_set

    def _complete_plain_object(self, plan, parent_type, path, value, position_context):
        is_type_of = plan.is_type_of
        if is_type_of is not None:
            try:
                ok = is_type_of(value, None)
            except Exception:
                return MISSING
            if ok is not True:
                return MISSING
        grouped, run = self._child(plan)
        if grouped is None:
            return MISSING
        field_path = _path(Path, (path, plan.response_name, parent_type.name))
        try:
            completed = run(value, field_path, position_context)
        except Exception as raw_error:
            self.handle_field_error(raw_error, plan.return_type, plan.details, field_path)
            return None
        if completed.__class__ is dict or not self.is_awaitable(completed):
            return completed
        return self._await_field(completed, plan.return_type, plan.details, field_path)

    async def _await_field(self, completed, return_type, details, field_path) -> Any:
        """As graphql-core's ``execute_field`` awaits a completion: an error is the
        field's (null and reported, or raised on for a non-null field)."""
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, details, field_path)
            return None

    def _complete_plain_list(self, plan, parent_type, path, items, position_context):
        """A list of objects of one concrete type, completed item by item as
        graphql-core's ``complete_list_value`` would, without its per-item calls."""
        if items.__class__ is not list:
            return MISSING
        object_type, details = plan.object_type, plan.details
        if items and id(items) not in self._walked and self._walk_plan(object_type, details).reaches_batch:
            return MISSING  # not prefetched yet: complete_iterable_value does that
        is_type_of = plan.is_type_of
        for item in items:  # checked before anything runs, so giving up is still free
            if item is None:
                return MISSING
            if is_type_of is not None:
                try:
                    if is_type_of(item, None) is not True:
                        return MISSING
                except Exception:
                    return MISSING
        grouped, run = self._child(plan)
        if grouped is None:
            return MISSING
        field_path = _path(Path, (path, plan.response_name, parent_type.name))
        item_type = plan.item_type
        completed: list[Any] = []
        awaitable_indices: list[int] = []
        is_awaitable = self.is_awaitable
        try:
            for index, item in enumerate(items):
                item_path = _path(Path, (field_path, index, None))
                try:
                    result = run(item, item_path, position_context)
                except Exception as raw_error:
                    self.handle_field_error(raw_error, item_type, details, item_path)
                    result = None
                if result.__class__ is not dict and is_awaitable(result):
                    result = self._await_field(result, item_type, details, item_path)
                    awaitable_indices.append(index)
                completed.append(result)
        except Exception as raw_error:  # a non-null item failed: the list is the field's error
            if awaitable_indices:
                self.settle_in_background([completed[i] for i in awaitable_indices])
            self.handle_field_error(raw_error, plan.return_type, details, field_path)
            return None
        if not awaitable_indices:
            return completed

        async def gather_items() -> list[Any]:
            awaited = await gather_with_cancel(*(completed[i] for i in awaitable_indices))
            for i, result in zip(awaitable_indices, awaited, strict=True):
                completed[i] = result
            return completed

        return self._await_field(gather_items(), plan.return_type, details, field_path)

    # ------------------------------------------------------------------ batch prefetch

    def complete_iterable_value(self, item_type, field_details_list, info, path, items, position_context):
        if self._shortcuts and isinstance(items, list) and items and id(items) not in self._walked:
            inner, _ = _unwrap(item_type)
            if isinstance(inner, GraphQLObjectType) and self._walk_plan(inner, field_details_list).reaches_batch:
                self._mark_walked(items)
                prefetch = self._prefetch(inner, field_details_list, items, path.add_key(0, None))
                complete = super().complete_iterable_value

                async def then() -> Any:
                    await prefetch
                    completed = complete(item_type, field_details_list, info, path, items, position_context)
                    if self.is_awaitable(completed):
                        completed = await completed
                    return completed

                return then()
        return super().complete_iterable_value(item_type, field_details_list, info, path, items, position_context)

    def _mark_walked(self, items: list) -> None:
        self._walked.add(id(items))
        self._keep.append(items)

    def _walk_plan(self, object_type: GraphQLObjectType, field_details_list: Any) -> _WalkPlan:
        key = (object_type, id(field_details_list))
        plan = self._walk_plans.get(key)
        if plan is not None:
            return plan
        plan = self._walk_plans[key] = _WalkPlan()  # placeholder: selections are finite, but be safe
        self._keep.append(field_details_list)
        grouped = self.collect_subfields(object_type, field_details_list).grouped_field_set
        for response_name, details in grouped.items():
            field_def = object_type.fields.get(details[0].node.name.value)
            if field_def is None:
                continue
            spec = (field_def.extensions or {}).get(BATCH_EXTENSION)
            getter = fast_getter(field_def)
            if spec is None and getter is None:
                continue
            inner, _ = _unwrap(field_def.type)
            is_list = isinstance(inner, GraphQLList)
            if is_list:
                inner, _ = _unwrap(inner.of_type)
            child = inner if isinstance(inner, GraphQLObjectType) else None
            if spec is None and child is None:
                continue  # a plain leaf: nothing to prefetch below it
            step = _WalkStep(response_name, details, field_def, spec, getter, child, is_list)
            if spec is not None:
                plan.reaches_batch = True
            if child is not None and self._walk_plan(child, details).reaches_batch:
                plan.reaches_batch = True
            plan.steps.append(step)
        return plan

    async def _prefetch(
        self, object_type: GraphQLObjectType, field_details_list: Any, parents: list, path: Path
    ) -> None:
        store = self._store
        context = self.context_value
        level = [(object_type, field_details_list, parents, path)]
        while level:
            below: list = []
            calls: list = []
            for parent_type, details, sources, first_path in level:
                plan = self._walk_plan(parent_type, details)
                if not plan.reaches_batch:
                    continue
                for step in plan.steps:
                    step_path = first_path.add_key(step.response_name, parent_type.name)
                    if step.spec is not None:
                        node = step.details[0].node
                        todo = [s for s in sources if (id(node), id(s)) not in store]
                        if todo:
                            calls.append((step, parent_type, todo, step_path))
                        else:  # met before (the same objects through another path)
                            self._descend(step, [_stored_or_none(store, node, s) for s in sources], step_path, below)
                        continue
                    values = []
                    for source in sources:
                        try:
                            values.append(step.getter(source, context))
                        except Exception:
                            continue  # completion will meet the error where it belongs
                    self._descend(step, values, step_path, below)
            if calls:
                outcomes = await asyncio.gather(*(self._call_batch(*call) for call in calls))
                for (step, _, sources, step_path), outcome in zip(calls, outcomes):
                    store_results(store, step.details[0].node, sources, outcome)
                    if step.child is not None and not isinstance(outcome, BaseException):
                        self._descend(step, outcome, step_path, below)
            level = below

    def _descend(self, step: _WalkStep, values: list, step_path: Path, below: list) -> None:
        if step.child is None:
            return
        children: list[Any] = []
        for value in values:
            if value is None or value is MISSING:
                continue
            if step.child_is_list:
                if isinstance(value, list):
                    self._mark_walked(value)
                    children.extend(v for v in value if v is not None)
            else:
                children.append(value)
        if children:
            first = step_path.add_key(0, None) if step.child_is_list else step_path
            below.append((step.child, step.details, children, first))

    async def _call_batch(self, step: _WalkStep, parent_type, sources: list, step_path: Path) -> Any:
        """One batch call; its exception is returned (stored for each parent), never raised."""
        try:
            field_def = step.field_def
            details = step.details
            node = details[0].node
            raw_info = self.build_resolve_info(field_def, [d.node for d in details], parent_type, step_path)
            strawberry_field = compat.strawberry_field(field_def)
            assert strawberry_field is not None and step.spec is not None  # a batch field of this schema
            strawberry_schema = compat.strawberry_schema(self.schema)
            info = compat.make_info(strawberry_schema, raw_info, strawberry_field)
            raw = (
                get_argument_values(
                    field_def, node, self.variable_values, details[0].fragment_variable_values, self.hide_suggestions
                )
                if field_def.args or node.arguments
                else {}
            )
            arguments = compat.convert_arguments(raw, strawberry_field, strawberry_schema, info)
            for extension in strawberry_field.extensions:
                arguments = extension.map_arguments(arguments)
            # Denied parents never reach the function. In place: the caller stores
            # the outcome for this same list, so they get no value and their own
            # resolver's permission check refuses them as usual.
            sources[:] = await permitted_parents(strawberry_field, sources, info, arguments)
            return await step.spec.call(sources, info, arguments) if sources else []
        except Exception as error:  # noqa: BLE001 - reported at each parent's path by completion
            return error
