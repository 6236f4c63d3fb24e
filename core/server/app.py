"""The Starlette application: /graphql, /healthz, /metrics and the plugins' routes."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import json
import logging
import math
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, cast

import orjson
from cross_web import HTTPException  # what strawberry's view raises for a 4xx answer
from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLRequestData
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ErrorMessage
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from ..credentials import prepare_login_checks
from ..errors import PluginError
from . import graphql_http
from .documents import TrustedDocuments
from .graphql_http import RequestError
from .runtime import Kehu

if TYPE_CHECKING:
    from kehu.schema.context import Context

log = logging.getLogger(__name__)


# The context of the operation whose task is being created (see KehuWSHandler.context).
_OPERATION: ContextVar[Any] = ContextVar("kehu_ws_operation", default=None)


class KehuWSHandler(BaseGraphQLTransportWSHandler):
    """graphql-transport-ws, the one WebSocket protocol kehu speaks, with:

    * a live session (kehu.server.sessions): every operation started on the socket
      reads the token from the database again and runs with a context of its own
      (that viewer, its own request id and loaders), like an HTTP request; the
      session is checked before every event; when it ends, nothing more is sent
      and the socket is closed with 4401 and the reason;
    * trusted documents: a subscribe message names a registered document (or sends
      its hash only) like an HTTP request does;
    * every problem found before an operation runs — a syntax error, a validation
      error, an unknown operation name — answered with an ``error`` message carrying
      the coded GraphQL errors, as the protocol describes; strawberry would close
      the whole socket (4400) for the first two kinds.
    """

    # strawberry's run_operation passes ``self.context`` to the schema from inside
    # the operation's own task. The task is created in handle_subscribe below, after
    # _OPERATION is set, so it inherits that operation's context (asyncio copies
    # context variables into a new task). Everywhere else this is the connection's
    # context, whose viewer is None once the socket is acknowledged: an operation
    # that ever ran without its own context would run signed out (fail closed).
    @property
    def context(self):
        return _OPERATION.get() or self._connection

    @context.setter
    def context(self, value) -> None:
        self._connection = cast("Context", value)

    async def handle_connection_init(self, message) -> None:
        from .sessions import CLOSE_TOO_MANY_SOCKETS, TooManySockets

        try:
            await super().handle_connection_init(message)
        except TooManySockets as exc:
            await self.websocket.close(code=CLOSE_TOO_MANY_SOCKETS, reason=str(exc))
            return
        session = self._connection.session
        if session is not None:
            if self.connection_acknowledged:
                session.bind(self._session_ended)
            else:
                cast("KehuGraphQL", self.view).kehu.sessions.close(session)

    async def _handle_pre_execution_error(self, operation, result) -> None:
        await operation.send_initial_errors(result.errors)

    async def handle_subscribe(self, message) -> None:
        from .sessions import SessionEnded

        session = self._connection.session
        if not self.connection_acknowledged or session is None:
            await super().handle_subscribe(message)  # closes the socket: 4401 Unauthorized
            return
        try:
            viewer = await session.refresh()
        except SessionEnded:
            return  # the session closes the socket
        except Exception:
            await self.send_message({"id": message["id"], "type": "error", "payload": [_internal_error()]})
            return
        context = self._connection.for_operation(viewer)
        payload = message.get("payload") or {}
        documents = cast("KehuGraphQL", self.view).documents
        if documents.engaged(payload.get("extensions")):
            outcome = await documents.prepare(payload.get("query"), payload.get("extensions"), viewer)
            if isinstance(outcome, GraphQLError):
                error: ErrorMessage = {"id": message["id"], "type": "error", "payload": [outcome.formatted]}
                await self.send_message(error)
                return
            message["payload"] = {**payload, "query": outcome}
        token = _OPERATION.set(context)
        try:
            await super().handle_subscribe(message)
        finally:
            _OPERATION.reset(token)

    async def send_message(self, message) -> None:
        session = self._connection.session
        if session is not None and session.ended is not None:
            return  # the session is over: not one more message
        await super().send_message(message)

    async def _session_ended(self, code: int, reason: str) -> None:
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        with contextlib.suppress(Exception):  # already closed by the other side
            await self.websocket.close(code=code, reason=reason)

    async def shutdown(self) -> None:
        session = self._connection.session
        if session is not None:
            cast("KehuGraphQL", self.view).kehu.sessions.close(session)
        await super().shutdown()


def _internal_error() -> dict[str, Any]:
    return {"message": "Internal error", "extensions": {"code": "INTERNAL_ERROR"}}


class KehuGraphQL(GraphQL):
    """strawberry's ASGI view with kehu's per-request context, orjson encoding and
    trusted documents (kehu.server.documents)."""

    graphql_transport_ws_handler_class = KehuWSHandler

    def __init__(self, kehu: Kehu, **kwargs: Any):
        # Only graphql-transport-ws: the legacy graphql-ws protocol (unmaintained
        # since 2021) would need every check of KehuWSHandler a second time.
        kwargs.setdefault("subscription_protocols", (GRAPHQL_TRANSPORT_WS_PROTOCOL,))
        # A socket that has not signed in within 10 s is closed (4408), not kept a minute.
        kwargs.setdefault("connection_init_wait_timeout", dt.timedelta(seconds=10))
        # Browsers cannot be kept off a WebSocket by CORS: strawberry checks the
        # handshake's Origin itself, against the same list.
        kwargs.setdefault("allowed_origins", kehu.config.cors.allow_origins)
        super().__init__(
            kehu.schema,
            graphql_ide="graphiql" if kehu.config.kehu.graphiql else None,
            **kwargs,
        )
        self.kehu = kehu
        self.documents = TrustedDocuments(kehu)

    async def __call__(self, scope, receive, send):
        """HTTP requests get the media type they accept, and request errors as
        GraphQL responses with a code (kehu.server.graphql_http)."""
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        request = Request(scope, receive=receive)
        media_type = graphql_http.negotiate(request.headers.get("accept"))
        if media_type is None and not self.should_render_graphql_ide(request):
            error = RequestError(
                406,
                "NOT_ACCEPTABLE",
                f'answers are "{graphql_http.GRAPHQL_RESPONSE_JSON}" or "{graphql_http.JSON}": '
                "neither is in the Accept header",
            )
            return await graphql_http.error_response(error, graphql_http.JSON)(scope, receive, send)
        scope["kehu.media_type"] = media_type or graphql_http.JSON
        try:
            response = await self.run(request)
        except HTTPException as exc:
            response = graphql_http.error_response(graphql_http.as_request_error(exc), scope["kehu.media_type"])
        await response(scope, receive, send)

    def should_render_graphql_ide(self, request) -> bool:
        if request.method != "GET":  # strawberry's own test starts the same way; POSTs skip the query string
            return False
        # GET ?documentId=… or ?extensions=… (a persisted query) is an operation, not a visit to GraphiQL.
        params = request.query_params
        return (
            params.get("documentId") is None
            and params.get("extensions") is None
            and super().should_render_graphql_ide(request)
        )

    async def render_graphql_ide(self, request) -> Response:
        """GraphiQL from kehu's own files (kehu.server.graphiql): no CDN."""
        from starlette.responses import HTMLResponse

        from .graphiql import CONTENT_SECURITY_POLICY, page

        return HTMLResponse(
            page(), headers={"content-security-policy": CONTENT_SECURITY_POLICY, "x-content-type-options": "nosniff"}
        )

    async def get_sub_response(self, request) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = request.scope.get("kehu.media_type", graphql_http.JSON)
        return sub_response

    def create_response(self, response_data, sub_response) -> Response:
        media_type = sub_response.media_type
        response = super().create_response(response_data, sub_response)
        response.headers["content-type"] = f"{media_type}; charset=utf-8"
        if not sub_response.status_code and isinstance(response_data, dict):
            response.status_code = graphql_http.status_for(response_data, media_type)
        return response

    async def parse_http_body(self, request):
        if request.method == "POST":
            content_type = request.headers.get("content-type") or ""
            if not content_type:
                raise RequestError(
                    415, "UNSUPPORTED_MEDIA_TYPE", 'send the request as "Content-Type: application/json"'
                )
            if graphql_http.is_media_type(content_type, graphql_http.JSON) and not (await request.get_body()).strip():
                raise RequestError(400, "INVALID_JSON", 'the request body is empty: send {"query": "…"}')
        data = await super().parse_http_body(request)
        if isinstance(data, GraphQLRequestData) and not isinstance(data.operation_name, (str, type(None))):
            raise RequestError(400, "INVALID_REQUEST", "the operation's `operationName` must be a string or null")
        # {"documentId": "sha256:…"} (GraphQL-over-HTTP persisted documents) sits
        # beside "query"; strawberry drops it, so carry it in the extensions.
        if isinstance(data, GraphQLRequestData) and data.query is None:
            raw = request.query_params if request.method == "GET" else self.parse_json(await request.get_body())
            document_id = raw.get("documentId") if hasattr(raw, "get") else None
            if document_id is not None:
                data.extensions = {**(data.extensions or {}), "documentId": document_id}
        return data

    async def execute_operation(self, request, request_adapter, request_data, context, root_value, sub_response):
        items = request_data if isinstance(request_data, list) else [request_data]
        for item in items:
            if self.documents.engaged(item.extensions):
                outcome = await self.documents.prepare(item.query, item.extensions, context.viewer)
                if not isinstance(outcome, (str, type(None))):
                    result = PreExecutionError(data=None, errors=[outcome])
                    return [result] * len(items) if isinstance(request_data, list) else result
                item.query = outcome
        return await super().execute_operation(
            request, request_adapter, request_data, context, root_value, sub_response
        )

    async def execute_single(self, request, request_adapter, sub_response, context, root_value, request_data):
        """strawberry's, with its request errors answered the GraphQL-over-HTTP way
        (kehu.server.graphql_http): an unknown operation name is a GraphQL request
        error, a mutation over GET is 405, a subscription over plain HTTP is
        refused with a pointer to the WebSocket."""
        from kehu.schema.extensions import operation_error

        method = request_adapter.method
        # Subscriptions run over WebSocket: over HTTP they would have no stream to answer on.
        allowed = OperationType.from_http(method) - {OperationType.SUBSCRIPTION}
        try:
            result = await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
            context.release()
        except CannotGetOperationTypeError as exc:
            return PreExecutionError(data=None, errors=[operation_error(exc)])
        except InvalidOperationTypeError as exc:
            if exc.operation_type is OperationType.SUBSCRIPTION:
                raise RequestError(
                    400,
                    "OPERATION_NOT_SUPPORTED",
                    "subscriptions run over WebSocket (graphql-transport-ws) at this same path",
                ) from None
            raise RequestError(
                405,
                "METHOD_NOT_ALLOWED",
                f"{exc.operation_type.value}s are not allowed over {method}: use POST",
                {"Allow": "POST"},
            ) from None
        except MissingQueryError:
            raise RequestError(
                400, "MISSING_QUERY", 'no GraphQL document in the request: send {"query": "…"}'
            ) from None
        if result.data is None and result.errors and all(error.path is None for error in result.errors):
            # Refused before anything ran (a variable that does not fit its type, a
            # limit): no `data` entry, as the GraphQL spec says of request errors.
            result = PreExecutionError(data=None, errors=result.errors, extensions=result.extensions)
        return result

    async def get_context(self, request, response):
        from starlette.websockets import WebSocket

        from kehu.schema.context import Context

        # A WebSocket signs in at connection_init (on_ws_connect), not here.
        viewer = None if isinstance(request, WebSocket) else await self.kehu.viewer_for_request(request)
        client = request.client.host if request.client else None
        return Context(kehu=self.kehu, viewer=viewer, request=request, response=response, client=client)

    async def on_ws_connect(self, context):
        """Browsers cannot set headers on a WebSocket, so the token comes in the
        connection_init payload: ``{"authorization": "Bearer <token>"}`` (or in the
        handshake's Authorization header). Without a valid one the connection is
        closed (4403): subscriptions are for signed-in users only. Over
        ``[limits] max_sockets_per_user`` it is closed with 4429."""
        from strawberry.exceptions import ConnectionRejectionError
        from strawberry.types.unset import UNSET

        raw = str((context.connection_params or {}).get("authorization", ""))
        if not raw.strip() and context.request is not None:
            raw = context.request.headers.get("authorization", "")
        token = raw.split(" ", 1)[1] if raw.lower().startswith("bearer ") else raw
        session = await self.kehu.sessions.open(token.strip())
        if session is None:
            raise ConnectionRejectionError(
                {"message": "sign in: send {authorization: 'Bearer <token>'} in connection_init"}
            )
        context.session = session
        context.viewer = None  # each operation gets a context with the viewer read then
        return UNSET

    def encode_json(self, data: object) -> str:
        # str, not bytes: strawberry sends bytes as binary WebSocket frames, and
        # graphql-transport-ws clients expect text. Decoding costs microseconds.
        return orjson.dumps(data).decode()

    async def process_result(self, request, result):
        """Every error leaves with ``extensions.code`` — also those strawberry
        answers before any extension runs (a document over the size limit)."""
        from kehu.schema.extensions import code_for

        data = await super().process_result(request, result)
        if isinstance(result, PreExecutionError):
            del data["data"]
        for error in data.get("errors") or ():
            extensions = error.setdefault("extensions", {})
            extensions.setdefault("code", code_for(error.get("message", ""), "path" in error))
        return data

    def decode_json(self, data: str | bytes) -> object:
        """Parse a request body strictly: a duplicate key (which value would win?),
        NaN/Infinity or a number too large for a float, an unpaired surrogate (not
        Unicode; the database cannot store it) or nesting deeper than Python can
        parse are refused with 400 before anything runs."""
        try:
            value = json.loads(data, object_pairs_hook=_unique_keys, parse_constant=_no_constant, parse_float=_finite)
        except RecursionError:
            raise HTTPException(400, "the request body is nested too deeply") from None
        except _BadJSON as exc:
            raise HTTPException(400, f"the request body is not acceptable JSON: {exc}") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise HTTPException(400, "Unable to parse request body as JSON") from None
        if _has_surrogate(value):
            raise HTTPException(400, "the request body is not acceptable JSON: it contains an unpaired surrogate")
        return value


class _BadJSON(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _BadJSON(f"duplicate key {key[:40]!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise _BadJSON(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _BadJSON(f"the number {text[:40]} is too large")
    return value


def _has_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class RequestGuard:
    """ASGI middleware: refuses bodies over ``max_body_bytes`` before anything reads
    them (413), and ends requests that run over ``request_timeout_seconds`` (503)."""

    def __init__(self, app, *, max_body: int, timeout: float):
        self.app = app
        self.max_body = max_body
        self.timeout = timeout

    async def _reply(self, scope, send, status: int, code: str, message: str) -> None:
        body = graphql_http.error_body(code, message)
        accept = dict(scope.get("headers") or []).get(b"accept")
        media_type = graphql_http.negotiate(accept.decode("latin-1") if accept else None) or graphql_http.JSON
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", f"{media_type}; charset=utf-8".encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        too_large = f"request body over the limit of {self.max_body:,} bytes"
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return await self._reply(scope, send, 413, "BODY_TOO_LARGE", too_large)
        received = 0
        started = False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            async with asyncio.timeout(self.timeout):
                await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._reply(scope, send, 413, "BODY_TOO_LARGE", too_large)
        except TimeoutError:
            log.warning(
                "request to %s ran over %ss", RedactedPaths.installed().path(scope.get("path", "")), self.timeout
            )
            if not started:
                await self._reply(scope, send, 503, "TIMEOUT", f"the request took longer than {self.timeout:g}s")


class SecurityHeaders:
    """ASGI middleware: the one place that gives every HTTP response kehu sends —
    the API, GraphiQL, the console, a plugin's page, an error — its security
    headers, decided by the response's content type, so no new page can forget them.

    Every response: ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy:
    no-referrer`` (URLs may hold secrets: survey links). HTML also gets
    ``X-Frame-Options: DENY`` and a Content-Security-Policy with
    ``frame-ancestors 'none'``: added to the page's own policy when it has one
    (the console's, the survey page's), else ``frame-ancestors 'none'; base-uri
    'none'; object-src 'none'`` — which forbids framing without touching how a page
    loads its own scripts and styles (GraphiQL). A header the response set itself
    is kept."""

    ALWAYS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"))
    HTML = ((b"x-frame-options", b"DENY"),)
    FRAMING = b"frame-ancestors 'none'"
    DEFAULT_POLICY = b"frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": self.secured(list(message.get("headers") or ()))}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @classmethod
    def secured(cls, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        names = {name.lower(): i for i, (name, _) in enumerate(headers)}
        content_type = headers[names[b"content-type"]][1].lower() if b"content-type" in names else b""
        wanted = list(cls.ALWAYS)
        if content_type.startswith((b"text/html", b"application/xhtml")):
            wanted += cls.HTML
            if b"content-security-policy" in names:
                i = names[b"content-security-policy"]
                policy = headers[i][1]
                if b"frame-ancestors" not in policy:
                    headers[i] = (headers[i][0], policy.rstrip(b"; ") + b"; " + cls.FRAMING)
            else:
                wanted.append((b"content-security-policy", cls.DEFAULT_POLICY))
        return headers + [(name, value) for name, value in wanted if name not in names]


class _BodyTooLarge(Exception):
    pass


class RedactedPaths(logging.Filter):
    """Access logs without secrets: a path that matches a route with path
    parameters is logged as the route's template (``/s/{token}``, never the
    survey link's token), and query strings (GraphQL variables in a GET, which may
    hold personal data) are dropped. Installed once per process on uvicorn's
    loggers; every app built in the process adds its routes (``learn``), so a
    plugin's new parameterised route is covered without asking."""

    LOGGERS = ("uvicorn.access", "uvicorn.error")

    def __init__(self):
        super().__init__()
        self.templates: dict[str, Any] = {}

    def learn(self, routes) -> None:
        for route in routes:
            if getattr(route, "param_convertors", None) and isinstance(route, (Route, WebSocketRoute)):
                self.templates.setdefault(route.path, route.path_regex)

    def path(self, raw: str) -> str:
        from urllib.parse import unquote

        path, query, _ = raw.partition("?")
        plain = unquote(path)
        for template, regex in self.templates.items():
            if regex.match(plain):
                path = template
                break
        return path + ("?…" if query else "")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and a.startswith("/") for a in record.args):
            record.args = tuple(self.path(a) if isinstance(a, str) and a.startswith("/") else a for a in record.args)
        return True

    @classmethod
    def installed(cls) -> RedactedPaths:
        global _redacted_paths
        if _redacted_paths is None:
            _redacted_paths = cls()
            for name in cls.LOGGERS:
                logging.getLogger(name).addFilter(_redacted_paths)
        return _redacted_paths


_redacted_paths: RedactedPaths | None = None


# Middle-generation collections between two full ones, once tune_gc ran
# (CPython's default: 10).
FULL_COLLECTION_EVERY = 100
# Objects allocated and not yet freed that start a young collection, once
# tune_gc ran (CPython's default: 700).
YOUNG_COLLECTION_AFTER = 10_000


def tune_gc() -> None:
    """Garbage collection for a server process, once start-up is done.

    Everything alive then (modules, the schema, plugin registries: ~110,000
    objects with every built-in plugin) lives as long as the process, yet every
    full collection walks it again: many of W1's slowest requests (p95 ~120 ms
    against a ~32 ms median) were such collections. ``gc.freeze()`` moves them
    out of the collector's sight, as CPython recommends for long-lived servers.
    Measured on W1: p95 122–133 ms before, 55–110 ms after, depending on the run
    (benchmarks/README.md).

    With the start-up heap frozen, the old generation CPython counts is tiny, so
    a full collection followed every 10th middle-generation one, and each walked
    every request in flight: 7.3–7.7 ms of collection per request at 16
    concurrent W1 pages. A full collection now waits for 100 of them
    (``FULL_COLLECTION_EVERY``): 3.7–4.7 ms, with the same resident memory, as a
    request's objects are freed by reference counting (``Context.release``
    breaks their cycles), not by the collector (``python -m benchmarks.gc_w1
    --rows 100 --concurrency 16 --requests 1600 --full-every 10``, then 100).
    A young collection starts once 10,000 objects were allocated and not yet
    freed (``YOUNG_COLLECTION_AFTER``; CPython's 700 started ten in every W1
    page, each promoting the page's rows and results to be walked again by the
    middle generation). A page of 100 customers frees what it made before that,
    so at one request at a time there is almost no collection left: 3,022
    young and 274 middle collections in 300 W1 pages before, 23 and 2 after,
    with the same resident memory, and 4 % fewer instructions per page (3 % at
    16 in flight; ``python -m benchmarks.gc_w1 --rows 100 --requests 300
    --young 700``, then 10000; ``python -m benchmarks.instructions W1``).
    Garbage in reference cycles still goes at the next young collection.
    (Tried before ``Context.release`` freed a page's objects, a higher
    threshold let garbage pile up: peak memory at c=16 ~100 → ~290 MB.)

    Off with ``[kehu] tune_gc = false``, e.g. when kehu is mounted inside another
    application. Once per process: later apps (tests start many) leave it as it
    is."""
    global _gc_tuned
    if _gc_tuned:
        return
    _gc_tuned = True
    gc.collect()
    gc.freeze()
    _, middle, _ = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_AFTER, middle, FULL_COLLECTION_EVERY)


_gc_tuned = False


def create_app(kehu: Kehu, *, migrate: bool = False, check_migrations: bool = True) -> Starlette:
    """Build the ASGI app. The database is connected in the lifespan; with
    ``migrate`` pending migrations are applied first, otherwise start-up refuses
    an un-migrated database — unless ``check_migrations`` is false, for a caller
    that knows every migration is applied (kehu.testing, on a copy of a migrated
    template)."""
    graphql = KehuGraphQL(kehu)

    async def healthz(request: Request) -> JSONResponse:
        try:
            assert kehu.ctx is not None, "not connected"
            await kehu.ctx.db().execute_query("SELECT 1")
        except Exception as exc:  # report, never raise: this is what monitors poll
            log.warning("health check failed: %s", exc)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok", "plugins": sorted(kehu.plugins.records)})

    async def metrics_endpoint(request: Request) -> Response:
        """Prometheus scrapes (kehu.server.metrics): 404 unless enabled, 403 without
        the token or an allowed address."""
        from . import metrics

        if not kehu.config.metrics.enabled:
            return JSONResponse({"error": "metrics are off ([metrics] enabled = false)"}, status_code=404)
        if not metrics.allowed(kehu, request):
            return JSONResponse({"error": "send the metrics token as a bearer token"}, status_code=403)
        body, content_type = await metrics.render(kehu)
        return Response(body, media_type=content_type)

    routes = [
        Route("/graphql", graphql),  # the view answers other methods with 405 and a coded error
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    if kehu.config.kehu.graphiql:
        from .graphiql import routes as graphiql_routes

        routes += graphiql_routes()
    taken: set[str | None] = {"/graphql", "/healthz", "/metrics", "/graphiql"}
    for plugin, extra in kehu.plugins.each("kehu_routes", kehu=kehu):
        for route in extra or ():
            path = getattr(route, "path", None)
            if path in taken:
                raise PluginError(f"plugin '{plugin}': route {path} is already taken")
            taken.add(path)
            routes.append(route)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await kehu.start(migrate=migrate, check=check_migrations)
        prepare_login_checks()
        if kehu.config.kehu.tune_gc:
            tune_gc()
        try:
            yield
        finally:
            await kehu.stop()

    limits, cors = kehu.config.limits, kehu.config.cors
    middleware = []
    if cors.allow_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors.allow_origins),
                allow_credentials=cors.allow_credentials,
                allow_methods=["GET", "POST"],
                allow_headers=list(cors.allow_headers),
                expose_headers=["Retry-After"],  # how long a rate-limited client waits
                max_age=cors.max_age,
            )
        )
    middleware.append(Middleware(RequestGuard, max_body=limits.max_body_bytes, timeout=limits.request_timeout_seconds))
    # Outermost: its headers reach every response, the other middlewares' included.
    middleware.insert(0, Middleware(SecurityHeaders))
    RedactedPaths.installed().learn(routes)
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.kehu = kehu
    return app


def app_from_environment() -> Starlette:
    """ASGI factory for multi-worker and reload mode (``kehu serve --workers N``):
    each worker reads the configuration named by ``KEHU_CONFIG``."""
    from ..config import load_config

    return create_app(Kehu(load_config()))
