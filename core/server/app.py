"""The Starlette application: /graphql, /healthz, /metrics and the plugins' routes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import math
from typing import TYPE_CHECKING, Any, cast

import orjson
from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ErrorMessage

from ..errors import PluginError
from .documents import TrustedDocuments
from .runtime import Kehu

if TYPE_CHECKING:
    from kehu.schema.context import Context

log = logging.getLogger(__name__)


class TrustedDocumentsWSHandler(BaseGraphQLTransportWSHandler):
    """graphql-transport-ws with trusted documents: a subscribe message names a
    registered document (or sends its hash only) like an HTTP request does."""

    async def handle_subscribe(self, message) -> None:
        payload = message.get("payload") or {}
        documents = cast("KehuGraphQL", self.view).documents
        if self.connection_acknowledged and documents.engaged(payload.get("extensions")):
            viewer = cast("Context", self.context).viewer
            outcome = await documents.prepare(payload.get("query"), payload.get("extensions"), viewer)
            if isinstance(outcome, GraphQLError):
                error: ErrorMessage = {"id": message["id"], "type": "error", "payload": [outcome.formatted]}
                await self.send_message(error)
                return
            message["payload"] = {**payload, "query": outcome}
        await super().handle_subscribe(message)


class KehuGraphQL(GraphQL):
    """strawberry's ASGI view with kehu's per-request context, orjson encoding and
    trusted documents (kehu.server.documents)."""

    graphql_transport_ws_handler_class = TrustedDocumentsWSHandler

    def __init__(self, kehu: Kehu, **kwargs: Any):
        if kehu.config.documents.trusted_only:
            # The legacy graphql-ws protocol would bypass the check above.
            kwargs.setdefault("subscription_protocols", (GRAPHQL_TRANSPORT_WS_PROTOCOL,))
        super().__init__(
            kehu.schema,
            graphql_ide="graphiql" if kehu.config.kehu.graphiql else None,
            **kwargs,
        )
        self.kehu = kehu
        self.documents = TrustedDocuments(kehu)

    def should_render_graphql_ide(self, request) -> bool:
        # GET ?documentId=… is an operation, not a visit to GraphiQL.
        return request.query_params.get("documentId") is None and super().should_render_graphql_ide(request)

    async def parse_http_body(self, request):
        data = await super().parse_http_body(request)
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
                    from graphql import ExecutionResult

                    result = ExecutionResult(data=None, errors=[outcome])
                    return [result] * len(items) if isinstance(request_data, list) else result
                item.query = outcome
        return await super().execute_operation(
            request, request_adapter, request_data, context, root_value, sub_response
        )

    async def get_context(self, request, response):
        from kehu.schema.context import Context

        viewer = await self.kehu.viewer_for_request(request)
        client = request.client.host if request.client else None
        return Context(kehu=self.kehu, viewer=viewer, request=request, response=response, client=client)

    async def on_ws_connect(self, context):
        """Browsers cannot set headers on a WebSocket, so the token comes in the
        connection_init payload: ``{"authorization": "Bearer <token>"}``. Without a
        valid one the connection is closed (4403): subscriptions are for signed-in
        users only."""
        from strawberry.exceptions import ConnectionRejectionError
        from strawberry.types.unset import UNSET

        from ..credentials import viewer_for_token

        if context.viewer is None:
            raw = str((context.connection_params or {}).get("authorization", ""))
            token = raw.split(" ", 1)[1] if raw.lower().startswith("bearer ") else raw
            context.viewer = await viewer_for_token(self.kehu, token.strip()) if token.strip() else None
        if context.viewer is None:
            raise ConnectionRejectionError(
                {"message": "sign in: send {authorization: 'Bearer <token>'} in connection_init"}
            )
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
        for error in data.get("errors") or ():
            extensions = error.setdefault("extensions", {})
            extensions.setdefault("code", code_for(error.get("message", ""), "path" in error))
        return data

    def decode_json(self, data: str | bytes) -> object:
        """Parse a request body strictly: a duplicate key (which value would win?),
        NaN/Infinity or a number too large for a float, an unpaired surrogate (not
        Unicode; the database cannot store it) or nesting deeper than Python can
        parse are refused with 400 before anything runs."""
        from cross_web import HTTPException  # what strawberry turns into a 4xx response

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


def _error_body(code: str, message: str) -> bytes:
    return orjson.dumps({"data": None, "errors": [{"message": message, "extensions": {"code": code}}]})


class RequestGuard:
    """ASGI middleware: refuses bodies over ``max_body_bytes`` before anything reads
    them (413), and ends requests that run over ``request_timeout_seconds`` (503)."""

    def __init__(self, app, *, max_body: int, timeout: float):
        self.app = app
        self.max_body = max_body
        self.timeout = timeout

    async def _reply(self, send, status: int, code: str, message: str) -> None:
        body = _error_body(code, message)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        too_large = f"request body over the limit of {self.max_body:,} bytes"
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return await self._reply(send, 413, "BODY_TOO_LARGE", too_large)
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
                await self._reply(send, 413, "BODY_TOO_LARGE", too_large)
        except TimeoutError:
            log.warning("request to %s ran over %ss", scope.get("path"), self.timeout)
            if not started:
                await self._reply(send, 503, "TIMEOUT", f"the request took longer than {self.timeout:g}s")


class _BodyTooLarge(Exception):
    pass


def tune_gc() -> None:
    """Garbage collection for a server process, once start-up is done.

    Everything alive then (modules, the schema, plugin registries: ~110,000
    objects with every built-in plugin) lives as long as the process, yet every
    full collection walks it again: many of W1's slowest requests (p95 ~120 ms
    against a ~32 ms median) were such collections. ``gc.freeze()`` moves them
    out of the collector's sight, as CPython recommends for long-lived servers.
    The collection thresholds stay CPython's: raising them let garbage cycles pile
    up (peak memory at 16 concurrent W1 requests ~100 → ~290 MB). Measured on W1:
    p95 122–133 ms before, 55–110 ms after, depending on the run
    (benchmarks/README.md). Off with ``[kehu] tune_gc = false``, e.g. when kehu is
    mounted inside another application. Once per process: later apps (tests start
    many) leave it as it is."""
    global _gc_tuned
    if _gc_tuned:
        return
    _gc_tuned = True
    gc.collect()
    gc.freeze()


_gc_tuned = False


def create_app(kehu: Kehu, *, migrate: bool = False) -> Starlette:
    """Build the ASGI app. The database is connected in the lifespan; with
    ``migrate`` pending migrations are applied first, otherwise start-up refuses
    an un-migrated database."""
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
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    taken: set[str | None] = {"/graphql", "/healthz", "/metrics"}
    for plugin, extra in kehu.plugins.each("kehu_routes", kehu=kehu):
        for route in extra or ():
            path = getattr(route, "path", None)
            if path in taken:
                raise PluginError(f"plugin '{plugin}': route {path} is already taken")
            taken.add(path)
            routes.append(route)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await kehu.start(migrate=migrate)
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
                allow_headers=["Authorization", "Content-Type"],
                max_age=cors.max_age,
            )
        )
    middleware.append(Middleware(RequestGuard, max_body=limits.max_body_bytes, timeout=limits.request_timeout_seconds))
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.kehu = kehu
    return app


def app_from_environment() -> Starlette:
    """ASGI factory for multi-worker and reload mode (``kehu serve --workers N``):
    each worker reads the configuration named by ``KEHU_CONFIG``."""
    from ..config import load_config

    return create_app(Kehu(load_config()))
