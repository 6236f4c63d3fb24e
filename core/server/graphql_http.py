"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/): media types,
status codes, and request errors as GraphQL responses.

* The response's media type follows the request's ``Accept`` header:
  ``application/graphql-response+json`` when the client asks for it (Apollo Client,
  urql and graphql-http do), ``application/json`` for ``*/*``, ``application/json``
  or no header. A request that accepts neither is answered with 406.
* With ``application/graphql-response+json`` the status tells what happened: a
  response without ``data`` (the document did not parse or validate, a variable
  did not fit its type, the operation was refused before it ran) is 4xx; one with
  ``data`` — even ``null`` after a field error — is 200. With ``application/json``
  every well-formed request is answered 200, as legacy clients expect.
* A request that is not a well-formed GraphQL request (bad JSON, no query, a
  mutation over GET, an unsupported content type …) is still answered with a
  GraphQL response body: ``{"errors": [{"message", "extensions": {"code"}}]}``,
  never plain text, so clients can read the reason.

The status of an error response without ``data`` comes from its first error's
code (``STATUS_BY_CODE``); anything else is 400.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from cross_web import HTTPException
from starlette.responses import Response

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"

#: Status of a response without ``data``, by the code of its first error
#: (``application/graphql-response+json`` only; request errors use their own status).
STATUS_BY_CODE = {
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "OPERATION_NOT_TRUSTED": 403,
    "RATE_LIMITED": 429,
    "BODY_TOO_LARGE": 413,
    "TIMEOUT": 503,
}


class RequestError(HTTPException):
    """A request refused before any GraphQL runs: answered with ``status`` and a
    GraphQL response body whose error carries ``code``."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(status, message)
        self.code = code
        self.headers = dict(headers or {})


#: strawberry's own request errors (raised as cross_web.HTTPException with these
#: reasons) and the status and code kehu answers them with.
STRAWBERRY_REASONS: dict[str, tuple[int, str]] = {
    "Unsupported content type": (415, "UNSUPPORTED_MEDIA_TYPE"),
    "Unable to parse request body as JSON": (400, "INVALID_JSON"),
    "Batching is not enabled": (400, "BATCHING_NOT_SUPPORTED"),
    "Too many operations": (400, "BATCHING_NOT_SUPPORTED"),
    "No GraphQL query found in the request": (400, "MISSING_QUERY"),
    "GraphQL only supports GET and POST requests.": (405, "METHOD_NOT_ALLOWED"),
    "Not Found": (404, "NOT_FOUND"),
    "Unable to parse the multipart body": (400, "INVALID_REQUEST"),
    "File(s) missing in form data": (400, "INVALID_REQUEST"),
}
REASON_MESSAGES = {
    "Batching is not enabled": "batched requests (a JSON array) are not supported: send one operation per request",
    "Unsupported content type": 'send the request as "Content-Type: application/json" (or use GET)',
    "GraphQL only supports GET and POST requests.": "GraphQL requests are GET or POST",
}


def as_request_error(exc: HTTPException) -> RequestError:
    """``exc`` with a code: kehu's own as they are, strawberry's by their reason."""
    if isinstance(exc, RequestError):
        return exc
    status, code = STRAWBERRY_REASONS.get(exc.reason, (exc.status_code, _code_for_status(exc.status_code)))
    if exc.reason.startswith("The GraphQL operation's"):  # `query`/`variables`/`extensions` of the wrong type
        status, code = 400, "INVALID_REQUEST"
    headers = {"Allow": "GET, POST"} if status == 405 else {}
    return RequestError(status, code, REASON_MESSAGES.get(exc.reason, exc.reason), headers)


def _code_for_status(status: int) -> str:
    return {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "BODY_TOO_LARGE"}.get(
        status, "BAD_REQUEST"
    )


def _media_ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
            elif name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
                quality = 0.0  # kehu answers in UTF-8 only
        ranges.append((media.lower(), quality))
    return ranges


def negotiate(accept: str | None) -> str | None:
    """The media type to answer a request with ``Accept: accept`` in, or None when
    it accepts neither JSON type. The client's preference (q-value, then order)
    decides; a wildcard means ``application/json``, as the spec recommends during
    its transition."""
    if accept is None or not accept.strip():
        return JSON
    best, best_quality = None, 0.0
    for media, quality in _media_ranges(accept):
        if media == GRAPHQL_RESPONSE_JSON:
            offer = GRAPHQL_RESPONSE_JSON
        elif media in (JSON, "application/*", "*/*"):
            offer = JSON
        else:
            continue
        if quality > best_quality:
            best, best_quality = offer, quality
    return best


def is_media_type(value: str, expected: str) -> bool:
    return value.split(";", 1)[0].strip().lower() == expected


def error_body(code: str, message: str, **extensions: object) -> bytes:
    """A GraphQL response with one request error and no ``data``."""
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": code, **extensions}}]})


def error_response(error: RequestError, media_type: str | None) -> Response:
    return Response(
        error_body(error.code, error.reason),
        status_code=error.status_code,
        headers={**error.headers, "content-type": f"{media_type or JSON}; charset=utf-8"},
    )


def status_for(response: dict, media_type: str) -> int:
    """The status of a GraphQL response (see module docstring)."""
    if media_type != GRAPHQL_RESPONSE_JSON or "data" in response:
        return 200
    errors = response.get("errors") or ()
    code = (errors[0].get("extensions") or {}).get("code") if errors else None
    return STATUS_BY_CODE.get(code, 400) if isinstance(code, str) else 400
