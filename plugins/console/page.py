"""HTTP routes of the console: the static app, its operation manifest, its
message catalogues, and ``/`` leading to it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from kehu.i18n import LANGUAGES

from .messages import console_catalogues
from .service import available_operations
from .settings import ConsoleSettings

if TYPE_CHECKING:
    from kehu import Kehu

STATIC = Path(__file__).parent / "static"

# The console loads nothing from elsewhere and runs no inline script.
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        b"base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class _WithHeaders:
    """Adds the security headers to every response of the wrapped ASGI app."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def console_routes(kehu: Kehu) -> list:
    operations = available_operations(kehu)
    settings = kehu.settings_for("console", ConsoleSettings)
    manifest = {
        "operations": {name: {"sha256": op.sha256, "text": op.text} for name, op in operations.items()},
        "plugins": sorted(kehu.plugins.records),
        "languages": list(LANGUAGES),
        "currency": settings.currency,
        # Months in dashboards are the business calendar's ([kehu] timezone).
        "timezone": kehu.calendar.name,
    }
    catalogues = console_catalogues(kehu)

    async def operation_manifest(request: Request) -> JSONResponse:
        return JSONResponse(manifest, headers={"cache-control": "no-cache"})

    async def messages(request: Request) -> Response:
        entries = catalogues.get(request.path_params["language"])
        if entries is None:
            return JSONResponse({"error": f"languages: {', '.join(LANGUAGES)}"}, status_code=404)
        return JSONResponse(entries, headers={"cache-control": "no-cache"})

    async def home(request: Request) -> RedirectResponse:
        return RedirectResponse("/console/", status_code=307)

    return [
        Route("/", home, methods=["GET", "HEAD"]),
        Route("/console/operations.json", operation_manifest, methods=["GET"]),
        Route("/console/messages/{language}.json", messages, methods=["GET"]),
        Mount("/console", app=_WithHeaders(StaticFiles(directory=STATIC, html=True)), name="console"),
    ]
