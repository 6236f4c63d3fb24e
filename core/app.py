"""The Starlette application: /graphql, /healthz and the plugins' routes."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from strawberry.asgi import GraphQL

from .errors import PluginError
from .runtime import Kehu

log = logging.getLogger("kehu.app")


class KehuGraphQL(GraphQL):
    """strawberry's ASGI view with kehu's per-request context and orjson encoding."""

    def __init__(self, kehu: Kehu, **kwargs: Any):
        super().__init__(
            kehu.schema,
            graphql_ide="graphiql" if kehu.config.kehu.graphiql else None,
            **kwargs,
        )
        self.kehu = kehu

    async def get_context(self, request, response):
        from kehu.schema.context import Context

        viewer = await self.kehu.viewer_for_request(request)
        client = request.client.host if request.client else None
        return Context(kehu=self.kehu, viewer=viewer, request=request, response=response, client=client)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)


def create_app(kehu: Kehu, *, migrate: bool = False) -> Starlette:
    """Build the ASGI app. The database is connected in the lifespan; with
    ``migrate`` pending migrations are applied first, otherwise start-up refuses
    an un-migrated database."""
    graphql = KehuGraphQL(kehu)

    async def healthz(request: Request) -> JSONResponse:
        try:
            await kehu.ctx.db().execute_query("SELECT 1")
        except Exception as exc:  # report, never raise: this is what monitors poll
            log.warning("health check failed: %s", exc)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok", "plugins": sorted(kehu.plugins.records)})

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    taken = {"/graphql", "/healthz"}
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
        try:
            yield
        finally:
            await kehu.stop()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.kehu = kehu
    return app


def app_from_environment() -> Starlette:
    """ASGI factory for multi-worker and reload mode (``kehu serve --workers N``):
    each worker reads the configuration named by ``KEHU_CONFIG``."""
    from .config import load_config

    return create_app(Kehu(load_config()))
