"""Cross-cutting behaviour compiled into the schema once at start-up.

* ``RootAccess`` (root fields only): unauthenticated callers reach public fields
  only; read-only roles reach no mutation except self-service ones.
* ``WriteOperation`` (mutations only): one transaction and one audit entry per
  mutation; domain errors become ``userErrors`` and roll the write back.
* ``KehuErrors`` (schema extension): unexpected exceptions are masked with a request
  id (and logged in full with it); domain and validation errors pass with a code.

None of these wraps ordinary (non-root) fields, so they cost nothing per field.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from graphql import GraphQLError, get_operation_ast
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.extensions import FieldExtension, MaskErrors, SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.exceptions import CannotGetOperationTypeError
from strawberry.types.base import has_object_definition

from kehu.errors import KehuError, NotAuthenticated, PermissionDenied
from kehu.server import metrics
from kehu.writes import Rollback, write_scope

log = logging.getLogger(__name__)

INTROSPECTION_RE = re.compile(r"__schema\b|__type\b")
SUGGESTION_RE = re.compile(r"\s*Did you mean [^?]*\?")


def _user_error(error: KehuError):
    from .types import UserError

    return UserError(field=error.field, code=error.code, message=error.message)


class ValueTransform(FieldExtension):
    """A field extension that only changes the resolved value — masking a personal
    field, say. Implement ``transform``; kehu compiles it into the field's plain
    resolver (schema/plain_resolvers.py), so a plain field with only such
    extensions keeps the executor's fast path instead of strawberry's per-field
    ``Info`` and extension chain. ``transform`` must be synchronous, must not write,
    and must give the same answer when called twice."""

    def transform(self, source: Any, context: Any, value: Any) -> Any:
        """``value`` as the requester (``context.viewer``) may see it."""
        raise NotImplementedError

    def resolve(self, next_, source, info, **kwargs):
        return self.transform(source, info.context, next_(source, info, **kwargs))

    async def resolve_async(self, next_, source, info, **kwargs):
        result = next_(source, info, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return self.transform(source, info.context, result)


class RootAccess(FieldExtension):
    def __init__(self, *, public: bool, mutation: bool = False, self_service: bool = False):
        self.public = public
        self.mutation = mutation
        self.self_service = self_service

    def _check(self, info) -> None:
        viewer = info.context.viewer
        if viewer is None:
            if not self.public:
                raise NotAuthenticated("sign in first (mutation login) or send an API token")
            return
        if self.mutation and viewer.read_only and not (self.public or self.self_service):
            raise PermissionDenied(f"your role ({viewer.role.value}) is read-only")

    def resolve(self, next_, source, info, **kwargs):
        self._check(info)
        return next_(source, info, **kwargs)

    async def resolve_async(self, next_, source, info, **kwargs):
        self._check(info)
        result = next_(source, info, **kwargs)
        if hasattr(result, "__await__"):
            result = await result
        return result


class LiveAccess(FieldExtension):
    """Every root subscription field: a signed-in viewer to start, and before each
    event the viewer as it is then (``Context.begin_event``): a WebSocket session
    that ended delivers nothing more, a changed role or team applies at once."""

    def resolve(self, next_, source, info, **kwargs):  # pragma: no cover - subscriptions are async
        raise RuntimeError("kehu subscriptions must be async generators")

    async def resolve_async(self, next_, source, info, **kwargs):
        if info.context.viewer is None:
            raise NotAuthenticated("sign in first: send {authorization: 'Bearer <token>'} in connection_init")
        events = next_(source, info, **kwargs)
        if inspect.isawaitable(events):
            events = await events
        return _checked_events(info.context, events)


async def _checked_events(context, events):
    from kehu.server.sessions import SessionEnded

    try:
        async for event in events:
            try:
                await context.begin_event()
            except SessionEnded:
                return
            yield event
    finally:
        closing = getattr(events, "aclose", None)
        if closing is not None:
            await closing()


class WriteOperation(FieldExtension):
    """Runs a mutation inside ``write_scope``; see module docstring."""

    def apply(self, field) -> None:
        self.field = field

    def _payload_class(self):
        t = self.field.type
        while not has_object_definition(t) and hasattr(t, "of_type"):
            t = t.of_type
        return t

    def resolve(self, next_, source, info, **kwargs):  # pragma: no cover - mutations are async
        raise RuntimeError("kehu mutations must be async")

    async def resolve_async(self, next_, source, info, **kwargs):
        ctx = info.context
        result = None
        try:
            # A public mutation (answering a survey) has no viewer: say so in the audit log.
            label = None if ctx.viewer else f"anonymous ({ctx.client or 'unknown address'})"
            async with write_scope(ctx.kehu, ctx.viewer, info.field_name, request_id=ctx.request_id, actor_label=label):
                result = await next_(source, info, **kwargs)
                if getattr(result, "user_errors", None):
                    raise Rollback
        except Rollback:
            return result
        except PermissionDenied:
            raise
        except KehuError as exc:
            return self._payload_class()(user_errors=[_user_error(exc)])
        return result


def code_for(message: str, has_path: bool) -> str:
    """A stable code for errors graphql-core raises without one."""
    if message.startswith("Syntax Error: Document contains more than"):
        return "TOO_MANY_TOKENS"
    if message.startswith("Syntax Error: Source contains more than"):
        return "DOCUMENT_TOO_LARGE"
    if message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if message.startswith(("Variable '$", "Argument '")):
        # A variable or argument value that does not fit its type: graphql-core
        # finds most before anything runs, an explicit null for a non-null
        # argument with a default only when the field is about to run.
        return "BAD_USER_INPUT"
    if message.startswith(("Unknown operation named", "Must provide operation name", "Must provide an operation")):
        return "OPERATION_NOT_FOUND"
    return "BAD_REQUEST" if has_path else "GRAPHQL_VALIDATION_FAILED"


def operation_error(error: CannotGetOperationTypeError) -> GraphQLError:
    """The coded GraphQL error for a request whose operation cannot be chosen."""
    if error.operation_name is not None:
        return GraphQLError(
            f"Unknown operation named '{error.operation_name[:100]}'.", extensions={"code": "OPERATION_NOT_FOUND"}
        )
    return GraphQLError(
        "Must provide operation name if query contains multiple operations (or an operation, if it holds none).",
        extensions={"code": "OPERATION_NOT_FOUND"},
    )


def _is_expected(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None or isinstance(original, (KehuError, StrawberryGraphQLError)):
        # (strawberry raises StrawberryGraphQLError when a permission class denies)
        return True
    # graphql-core's own errors about the request — an argument value that does not
    # fit its type, found while a field is about to run — and strawberry's "no such
    # operation" are the caller's mistakes, not the server's.
    if isinstance(original, CannotGetOperationTypeError):
        return True
    if isinstance(original, GraphQLError):
        return _is_expected(original)
    # A variable value that does not fit its type ("Variable '$i' has invalid value
    # at .occurredAt: …", raised by graphql-core or a strawberry scalar while
    # coercing variables, before anything runs) is the caller's mistake.
    return error.path is None and error.message.startswith("Variable '$")


class RequestMetrics(SchemaExtension):
    """Counts and times each operation for ``/metrics`` (kehu.server.metrics), by the
    operation's name — or its first root field's when the document names none."""

    def on_operation(self):
        started = time.perf_counter()
        yield
        ec = self.execution_context
        name, kind = None, "unknown"
        try:
            operation = (
                get_operation_ast(ec.graphql_document, ec.operation_name) if ec.graphql_document is not None else None
            )
            if operation is not None:
                kind = operation.operation.value
                name = ec.operation_name
                if name is None and operation.selection_set.selections:
                    name = getattr(operation.selection_set.selections[0], "name", None)
                    name = name.value if name is not None else None
        except Exception:  # an unparsable document is counted, unnamed
            pass
        result = ec.result
        ok = not ec.pre_execution_errors and not (result is not None and result.errors)
        metrics.graphql_answered(name, kind, ok, time.perf_counter() - started)


class KehuErrors(MaskErrors):
    """Masks unexpected errors as "Internal error" with a request id; gives domain
    errors their stable code in ``extensions``.

    strawberry's ``MaskErrors`` asks ``should_mask_error`` about each error of a
    result and puts ``anonymise_error(error)`` in the place of those it says yes
    to. kehu says yes to every error and decides in ``anonymise_error`` what each
    becomes — only the public names of ``MaskErrors`` are used."""

    def __init__(self, *, execution_context=None):
        super().__init__(should_mask_error=lambda error: True)
        if execution_context is not None:
            self.execution_context = execution_context

    def _request_id(self) -> str:
        return getattr(self.execution_context.context, "request_id", "-")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        """``error`` as the client sees it (see the class docstring)."""
        if not _is_expected(error):
            rid = self._request_id()
            return GraphQLError(
                message=f"Internal error (request {rid})",
                nodes=error.nodes,
                path=error.path,
                extensions={"code": "INTERNAL_ERROR", "requestId": rid},
            )
        if isinstance(error.original_error, CannotGetOperationTypeError):
            return operation_error(error.original_error)
        if isinstance(error.original_error, KehuError) and not (error.extensions or {}).get("code"):
            original = error.original_error
            codes: dict[str, Any] = {"code": original.code}
            if original.field:
                codes["field"] = original.field
            return GraphQLError(error.message, nodes=error.nodes, path=error.path, extensions=codes)
        message, extensions = error.message, error.extensions
        if self._hide_suggestions() and SUGGESTION_RE.search(message):
            message = SUGGESTION_RE.sub("", message)
        if type(error.original_error) is StrawberryGraphQLError and not (extensions or {}).get("code"):
            extensions = {**(extensions or {}), "code": PermissionDenied.code}  # a permission class
        if not (extensions or {}).get("code"):
            extensions = {**(extensions or {}), "code": code_for(message, error.path is not None)}
        if (message, extensions) != (error.message, error.extensions):
            error = GraphQLError(message, nodes=error.nodes, path=error.path, extensions=extensions)
        return error

    def _hide_suggestions(self) -> bool:
        """Suggestions (did you mean 'totalCount'?) let a caller enumerate the schema
        name by name: for anonymous callers, introspection by another route."""
        ctx = self.execution_context.context
        return getattr(ctx, "viewer", None) is None and not ctx.kehu.config.kehu.anonymous_introspection


class IntrospectionGuard(SchemaExtension):
    """Introspection is for signed-in users unless plugins.toml allows it anonymously."""

    def on_execute(self):
        ctx = self.execution_context.context
        query = self.execution_context.query or ""
        if (
            getattr(ctx, "viewer", None) is None
            and not ctx.kehu.config.kehu.anonymous_introspection
            and INTROSPECTION_RE.search(query)
        ):
            from graphql import ExecutionResult

            self.execution_context.result = ExecutionResult(
                data=None,
                errors=[GraphQLError("introspection requires signing in", extensions={"code": "UNAUTHENTICATED"})],
            )
        yield


class HookRunner(SchemaExtensionsRunner):
    """strawberry's runner of the schema extensions' hooks (``on_operation``,
    ``on_parse``, ``on_validate``, ``on_execute``) and results, with the work that
    depends only on the extensions' classes done once per process.

    strawberry's own runner inspects every extension for every hook of every
    request — for kehu's seven extensions 28 look-ups a request, each turning the
    hook into a context manager anew (``inspect``, ``contextlib.contextmanager``,
    ``functools.update_wrapper``) — and enters them through an ``AsyncExitStack``:
    together about a tenth of a trivial request's CPU (benchmarks W2). Here each
    (class, hook) gets its context-manager factory once, each set of extension
    classes its list of hooks per step, and a step enters and leaves them itself:
    in the extensions' order and back, exceptions passed to each hook on the way
    out as ``contextlib`` passes them (an exception on the way out goes through
    ``AsyncExitStack``, so nesting and chaining are strawberry's; as there, a hook
    cannot swallow the block's own exception). A class's hooks are read once: an
    extension class is not changed while the server runs.

    Only public names of strawberry are used (``SchemaExtensionsRunner``,
    ``SchemaExtension``'s hook names and ``get_results``);
    tests/test_extension_hooks.py holds the runner to strawberry's own."""

    def operation(self) -> _Hooks:  # type: ignore[override]  # strawberry names its own class; same protocol
        return self._step("on_operation")

    def parsing(self) -> _Hooks:  # type: ignore[override]  # strawberry names its own class; same protocol
        return self._step("on_parse")

    def validation(self) -> _Hooks:  # type: ignore[override]  # strawberry names its own class; same protocol
        return self._step("on_validate")

    def executing(self) -> _Hooks:  # type: ignore[override]  # strawberry names its own class; same protocol
        return self._step("on_execute")

    def _step(self, name: str) -> _Hooks:
        classes = getattr(self, "_classes", None)
        if classes is None:  # once per request, not once per step
            classes = self._classes = tuple(type(e) for e in self.extensions)
        return _Hooks(self.extensions, _plan(classes, name), name)

    async def get_extensions_results(self, ctx) -> dict[str, Any]:
        """strawberry's, asking only the extensions whose class has ``get_results``."""
        data: dict[str, Any] = {}
        for extension in self.extensions:
            if type(extension).get_results is not SchemaExtension.get_results:
                results = extension.get_results()
                data.update(await results if inspect.isawaitable(results) else results)
        data.update(ctx.extensions_results)
        return data


_HookFactory = Callable[[SchemaExtension], Any]
#: (extension classes, hook name) → [(position, context-manager factory, is async)]
#: for the extensions whose class defines the hook.
_PLANS: dict[tuple[tuple[type, ...], str], list[tuple[int, _HookFactory, bool]]] = {}


def _hook(cls: type[SchemaExtension], name: str) -> tuple[_HookFactory, bool] | None:
    """The context-manager factory of ``cls``'s hook ``name`` (and whether it is
    async), made as strawberry's ``ExtensionContextManagerBase.get_hook`` makes it:
    a generator is a context manager, an async generator an async one, a plain or a
    coroutine function runs on entering. None when ``cls`` does not define it."""
    fn = getattr(cls, name)
    if fn is getattr(SchemaExtension, name):
        return None
    if inspect.isgeneratorfunction(fn):
        return contextlib.contextmanager(fn), False
    if inspect.isasyncgenfunction(fn):
        return contextlib.asynccontextmanager(fn), True
    if inspect.iscoroutinefunction(fn):

        @contextlib.asynccontextmanager
        async def run_async(extension: SchemaExtension):
            await fn(extension)
            yield

        return run_async, True
    if callable(fn):

        @contextlib.contextmanager
        def run(extension: SchemaExtension):
            fn(extension)
            yield

        return run, False
    raise ValueError(f"Hook {name} on {cls.__name__} must be callable, received {fn!r}")


def _plan(classes: tuple[type, ...], name: str) -> list[tuple[int, _HookFactory, bool]]:
    plan = _PLANS.get((classes, name))
    if plan is None:
        plan = _PLANS[(classes, name)] = [
            (i, *hook) for i, cls in enumerate(classes) if (hook := _hook(cls, name)) is not None
        ]
    return plan


class _Hooks:
    """One lifecycle step's hooks of one request, as a context manager (sync or async)."""

    __slots__ = ("extensions", "plan", "name", "entered")

    def __init__(self, extensions: list[SchemaExtension], plan: list[tuple[int, _HookFactory, bool]], name: str):
        self.extensions = extensions
        self.plan = plan
        self.name = name
        self.entered: list[tuple[Any, bool]] = []

    def __enter__(self) -> None:
        for i, factory, is_async in self.plan:
            if is_async:
                raise RuntimeError(f"SchemaExtension hook {self.name} failed to complete synchronously.")
            manager = factory(self.extensions[i])
            manager.__enter__()
            self.entered.append((manager, False))

    def __exit__(self, *exc: Any) -> None:
        # None, as strawberry's runner returns: a hook cannot swallow the block's exception.
        if exc[0] is not None:
            self._stack().__exit__(*exc)
            return
        while self.entered:
            manager, _ = self.entered.pop()
            try:
                manager.__exit__(None, None, None)
            except BaseException as error:  # the hooks not yet left see it, through contextlib
                if not self._stack().__exit__(type(error), error, error.__traceback__):
                    raise
                return

    async def __aenter__(self) -> None:
        for i, factory, is_async in self.plan:
            manager = factory(self.extensions[i])
            if is_async:
                await manager.__aenter__()
            else:
                manager.__enter__()
            self.entered.append((manager, is_async))

    async def __aexit__(self, *exc: Any) -> None:
        if exc[0] is not None:
            await self._async_stack().__aexit__(*exc)
            return
        while self.entered:
            manager, is_async = self.entered.pop()
            try:
                if is_async:
                    await manager.__aexit__(None, None, None)
                else:
                    manager.__exit__(None, None, None)
            except BaseException as error:
                if not await self._async_stack().__aexit__(type(error), error, error.__traceback__):
                    raise
                return

    def _stack(self) -> contextlib.ExitStack:
        """The hooks not yet left, in an ``ExitStack``: the way out with an exception."""
        stack = contextlib.ExitStack()
        for manager, _ in self.entered:
            stack.push(manager)
        self.entered = []
        return stack

    def _async_stack(self) -> contextlib.AsyncExitStack:
        stack = contextlib.AsyncExitStack()
        for manager, is_async in self.entered:
            if is_async:
                stack.push_async_exit(manager)
            else:
                stack.push(manager)
        self.entered = []
        return stack
