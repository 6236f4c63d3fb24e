"""Every HTML page kehu serves — GraphiQL, the console, the survey page, a
plugin's own page, an error page — cannot be framed by another site, is not
sniffed, and sends no referrer; one middleware decides it by content type."""

import types

import pytest
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

from kehu import hookimpl


def assert_html_protected(response):
    headers = response.headers
    assert headers["content-type"].startswith("text/html")
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


def test_graphiql_cannot_be_framed(app):
    response = app.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert_html_protected(response)


def test_the_console_keeps_its_own_policy_and_cannot_be_framed(make_app):
    app = make_app(enabled=("console",))
    response = app.client.get("/console/")
    assert_html_protected(response)
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert response.headers.get_list("content-security-policy") == [policy]  # one policy, not two


def test_the_survey_page_cannot_be_framed(make_app):
    app = make_app(enabled=("surveys",))
    response = app.client.get("/s/not-a-real-token")
    assert response.status_code == 404
    assert_html_protected(response)
    assert "form-action 'self'" in response.headers["content-security-policy"]


def _plugin_page(request):
    return HTMLResponse("<h1>a plugin's page</h1>")


def _plugin_page_with_policy(request):
    return HTMLResponse("<h1>framed?</h1>", headers={"Content-Security-Policy": "default-src 'self'"})


def _plain(request):
    return PlainTextResponse("plain")


PAGES = types.SimpleNamespace(
    kehu_routes=hookimpl(
        lambda kehu: [
            Route("/pages/bare", _plugin_page),
            Route("/pages/policy", _plugin_page_with_policy),
            Route("/pages/plain", _plain),
        ]
    )
)


@pytest.fixture
def pages(make_app):
    return make_app(enabled=("pages",), extra_plugins={"pages": PAGES})


def test_a_plugins_html_page_gets_the_headers_without_asking(pages):
    assert_html_protected(pages.client.get("/pages/bare"))


def test_a_pages_own_policy_gets_frame_ancestors_added(pages):
    response = pages.client.get("/pages/policy")
    assert_html_protected(response)
    assert response.headers["content-security-policy"] == "default-src 'self'; frame-ancestors 'none'"


def test_every_response_is_not_sniffed_and_sends_no_referrer(pages):
    for response in (
        pages.client.get("/pages/plain"),
        pages.client.post("/graphql", json={"query": "{ __typename }"}),
        pages.client.get("/no-such-page"),
        pages.client.get("/healthz"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "x-frame-options" not in response.headers  # not HTML: nothing to frame
