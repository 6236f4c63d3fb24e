"""GraphQL over HTTP as the spec and the clients expect it: the media type the
client accepts, the spec's status codes, and every refusal as a JSON body with
``errors[].extensions.code`` (the graphql-http audit suite runs against a live
server in tests/test_frontend_clients.py)."""

import pytest

GRAPHQL_RESPONSE = "application/graphql-response+json"


def post(app, body=None, *, accept=None, content=None, content_type="application/json", as_="admin"):
    headers = {"Authorization": f"Bearer {app.tokens[as_]}"} if as_ else {}
    if accept is not None:
        headers["Accept"] = accept
    if content_type is not None:
        headers["Content-Type"] = content_type
    if body is not None:
        import json

        content = json.dumps(body)
    return app.client.post("/graphql", content=content, headers=headers)


def media_type(response) -> str:
    return response.headers["content-type"].split(";")[0]


def code(response) -> str:
    return response.json()["errors"][0]["extensions"]["code"]


@pytest.mark.parametrize(
    "accept, expected",
    [
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        ("application/json", "application/json"),
        ("*/*", "application/json"),
        (None, "application/json"),
        # Apollo Client 4 and urql, as they send it:
        (f"{GRAPHQL_RESPONSE},application/json;q=0.9", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/graphql+json, application/json, text/event-stream", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE};q=0.5", "application/json"),
    ],
)
def test_the_answer_comes_in_the_media_type_the_client_prefers(app, accept, expected):
    response = post(app, {"query": "{ me { email } }"}, accept=accept)
    assert response.status_code == 200
    assert media_type(response) == expected
    assert "charset=utf-8" in response.headers["content-type"]
    assert response.json() == {"data": {"me": {"email": "admin@example.com"}}}


def test_a_client_accepting_no_json_type_gets_406_with_a_coded_body(app):
    response = post(app, {"query": "{ me { email } }"}, accept="text/csv")
    assert response.status_code == 406
    assert media_type(response) == "application/json"
    assert code(response) == "NOT_ACCEPTABLE"


@pytest.mark.parametrize(
    "body, expected_code",
    [
        ({"query": "{ me { email "}, "GRAPHQL_PARSE_FAILED"),
        ({"query": "{ noSuchField }"}, "GRAPHQL_VALIDATION_FAILED"),
        ({"query": "query($id: ID!) { customer(id: $id) { name } }", "variables": {"id": None}}, "BAD_USER_INPUT"),
        ({"query": "query A { me { id } }", "operationName": "B"}, "OPERATION_NOT_FOUND"),
    ],
    ids=["parse", "validation", "variable", "unknown-operation"],
)
def test_request_errors_are_400_without_data_for_graphql_response_json_and_200_for_json(app, body, expected_code):
    strict = post(app, body, accept=GRAPHQL_RESPONSE)
    assert strict.status_code == 400
    assert media_type(strict) == GRAPHQL_RESPONSE
    assert "data" not in strict.json()
    assert code(strict) == expected_code
    legacy = post(app, body, accept="application/json")
    assert legacy.status_code == 200
    assert legacy.json() == strict.json()


def test_a_field_error_keeps_data_and_status_200(app):
    response = post(app, {"query": "{ customers(first: 1000) { totalCount } }"}, accept=GRAPHQL_RESPONSE)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert code(response) == "PAGE_TOO_LARGE"


def test_an_unauthenticated_request_refused_before_it_ran_is_401(app):
    response = post(app, {"query": "{ __schema { queryType { name } } }"}, accept=GRAPHQL_RESPONSE, as_=None)
    assert response.status_code == 401
    assert code(response) == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "content, content_type, status, expected_code",
    [
        (b'{"query": "{ me { id } }"}', None, 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b'{"query": "{ me { id } }"}', "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b"", "application/json", 400, "INVALID_JSON"),
        (b'{"query": "{ me', "application/json", 400, "INVALID_JSON"),
        (b'{"notquery": "{ me { id } }"}', "application/json", 400, "MISSING_QUERY"),
        (b'{"query": {"obj": 1}}', "application/json", 400, "INVALID_REQUEST"),
        (b'{"query": "{ me { id } }", "variables": "x"}', "application/json", 400, "INVALID_REQUEST"),
        (b'{"query": "{ me { id } }", "operationName": 0}', "application/json", 400, "INVALID_REQUEST"),
        (b'{"query": "{ me { id } }", "extensions": []}', "application/json", 400, "INVALID_REQUEST"),
        (b'[{"query": "{ me { id } }"}]', "application/json", 400, "BATCHING_NOT_SUPPORTED"),
    ],
    ids=[
        "no-content-type",
        "text-plain",
        "empty-body",
        "bad-json",
        "no-query",
        "query-object",
        "variables-string",
        "operation-name-number",
        "extensions-list",
        "batch",
    ],
)
def test_malformed_requests_get_a_coded_json_error_in_the_accepted_media_type(
    app, content, content_type, status, expected_code
):
    for accept in (GRAPHQL_RESPONSE, "application/json"):
        response = post(app, content=content, content_type=content_type, accept=accept)
        assert response.status_code == status, response.text
        assert media_type(response) == accept
        body = response.json()
        assert "data" not in body
        assert body["errors"][0]["extensions"]["code"] == expected_code
        assert body["errors"][0]["message"]


def test_a_mutation_over_get_is_405_with_allow_post(app):
    response = app.client.get(
        "/graphql",
        params={"query": "mutation { logout { ok } }"},
        headers={"Accept": GRAPHQL_RESPONSE, "Authorization": f"Bearer {app.tokens['admin']}"},
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert code(response) == "METHOD_NOT_ALLOWED"
    # …and the session was not ended.
    assert app.data("{ me { email } }", as_="admin")["me"]["email"] == "admin@example.com"


def test_other_methods_are_405_with_a_coded_body(app):
    response = app.client.put("/graphql", content=b"{}", headers={"Content-Type": "application/json"})
    assert response.status_code == 405
    assert code(response) == "METHOD_NOT_ALLOWED"


def test_a_query_over_get_with_variables_runs(app):
    response = app.client.get(
        "/graphql",
        params={"query": "query($n: String!) { __type(name: $n) { name } }", "variables": '{"n": "Customer"}'},
        headers={"Accept": GRAPHQL_RESPONSE, "Authorization": f"Bearer {app.tokens['admin']}"},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"__type": {"name": "Customer"}}}


def test_guard_refusals_are_coded_json_in_the_accepted_media_type(make_app):
    app = make_app(config={"limits": {"max_body_bytes": 1000}})
    response = post(app, content=b'{"query": "' + b" " * 5000 + b'{ me { id } }"}', accept=GRAPHQL_RESPONSE)
    assert response.status_code == 413
    assert media_type(response) == GRAPHQL_RESPONSE
    assert response.json() == {
        "errors": [{"message": "request body over the limit of 1,000 bytes", "extensions": {"code": "BODY_TOO_LARGE"}}]
    }


def test_an_explicit_null_for_a_non_null_argument_with_a_default_is_a_user_error(app):
    body = app.gql("query($r: Boolean) { apiTokens(includeRevoked: $r) { name } }", {"r": None}, as_="admin")
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "includeRevoked" in error["message"]
    # Left out, the default applies.
    assert app.data("query($r: Boolean) { apiTokens(includeRevoked: $r) { name } }", {}, as_="admin") == {
        "apiTokens": []
    }


# --------------------------------------------------------------------------- WebSocket


def ws_connect(app, *, origin=None, as_="admin"):
    headers = {"origin": origin} if origin else {}
    ws = app.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"], headers=headers)
    socket = ws.__enter__()
    socket.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {app.tokens[as_]}"}})
    assert socket.receive_json()["type"] == "connection_ack"
    return ws, socket


@pytest.mark.parametrize(
    "payload, expected_code",
    [
        ({"query": "subscription { events { topic "}, "GRAPHQL_PARSE_FAILED"),
        ({"query": "subscription { noSuchField }"}, "GRAPHQL_VALIDATION_FAILED"),
        ({"query": "subscription A { events { topic } }", "operationName": "B"}, "OPERATION_NOT_FOUND"),
        ({"query": "subscription($t: [String!]) { events(topics: $t) { topic } }", "variables": {"t": 5}}, None),
    ],
    ids=["syntax", "validation", "unknown-operation", "bad-variable"],
)
def test_websocket_errors_before_execution_are_error_messages_with_codes(app, payload, expected_code):
    ws, socket = ws_connect(app)
    socket.send_json({"id": "op1", "type": "subscribe", "payload": payload})
    message = socket.receive_json()
    assert message["type"] == "error" and message["id"] == "op1", message
    codes = [e["extensions"]["code"] for e in message["payload"]]
    assert "INTERNAL_ERROR" not in codes
    assert codes[0] == (expected_code or "BAD_USER_INPUT")
    # The connection stays usable.
    socket.send_json({"id": "op2", "type": "subscribe", "payload": {"query": "{ me { email } }"}})
    assert socket.receive_json() == {
        "id": "op2",
        "type": "next",
        "payload": {"data": {"me": {"email": "admin@example.com"}}},
    }
    ws.__exit__(None, None, None)


def test_websocket_handshake_from_an_origin_allowed_by_cors_is_accepted(make_app):
    app = make_app(config={"cors": {"allow_origins": ["https://app.example.com"]}})
    ws, socket = ws_connect(app, origin="https://app.example.com")
    socket.send_json({"id": "1", "type": "subscribe", "payload": {"query": "{ me { email } }"}})
    assert socket.receive_json()["payload"] == {"data": {"me": {"email": "admin@example.com"}}}
    ws.__exit__(None, None, None)


def test_websocket_handshake_from_another_origin_is_refused(make_app):
    from starlette.websockets import WebSocketDisconnect

    app = make_app(config={"cors": {"allow_origins": ["https://app.example.com"]}})
    with pytest.raises(WebSocketDisconnect):
        with app.client.websocket_connect(
            "/graphql", subprotocols=["graphql-transport-ws"], headers={"origin": "https://evil.example.net"}
        ) as socket:
            socket.receive_json()


PREFLIGHT = {
    "Origin": "https://app.example.com",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type,apollographql-client-name,apollographql-client-version",
}


def test_cors_preflight_allows_apollo_client_awareness_headers_by_default(make_app):
    app = make_app(config={"cors": {"allow_origins": ["https://app.example.com"]}})
    assert app.client.options("/graphql", headers=PREFLIGHT).status_code == 200
    refused = {**PREFLIGHT, "Access-Control-Request-Headers": "content-type,x-tenant"}
    assert app.client.options("/graphql", headers=refused).status_code == 400


def test_cors_allowed_headers_are_configurable(make_app):
    app = make_app(
        config={"cors": {"allow_origins": ["https://app.example.com"], "allow_headers": ["Content-Type", "X-Tenant"]}}
    )
    allowed = {**PREFLIGHT, "Access-Control-Request-Headers": "content-type,x-tenant"}
    response = app.client.options("/graphql", headers=allowed)
    assert response.status_code == 200
    assert "x-tenant" in response.headers["access-control-allow-headers"].lower()


def test_a_subscription_over_plain_http_is_refused_with_a_pointer_to_the_websocket(app):
    response = post(app, {"query": "subscription { events { topic } }"}, accept=GRAPHQL_RESPONSE)
    assert response.status_code == 400
    assert code(response) == "OPERATION_NOT_SUPPORTED"
    assert "WebSocket" in response.json()["errors"][0]["message"]


# --------------------------------------------------------------------------- GraphiQL


def test_graphiql_page_loads_only_kehus_own_files_and_no_inline_script(app):
    import re

    response = app.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    html = response.text
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("graphiql/") for s in sources), sources
    assert "<style" not in html
    assert len(re.findall(r"<script", html)) == len(re.findall(r"<script src=", html))
    assert "script-src 'self'" in response.headers["content-security-policy"]
    for source in sources:
        assert app.client.get("/" + source).status_code == 200, source


def test_the_bundled_files_are_the_ones_versions_json_names():
    import hashlib
    import json

    from kehu.server.graphiql import STATIC

    versions = json.loads((STATIC / "VERSIONS.json").read_text())
    for package, info in versions.items():
        assert (STATIC / f"LICENSE.{package}").exists()
        for name, digest in info["files"].items():
            assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == digest, name


def test_graphiql_is_not_served_when_turned_off(make_app):
    app = make_app(config={"kehu": {"graphiql": False}})
    response = app.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert app.client.get("/graphiql/graphiql.min.js").status_code == 404
