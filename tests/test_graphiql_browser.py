"""GraphiQL works offline and under strict security headers: headless Chromium
(Debian's package, driven by Playwright) with every request to anywhere but the
kehu server refused, and the console's Content-Security-Policy added to the page
on top of its own, renders GraphiQL from kehu's bundled files and runs a query.

Skipped when Playwright or Chromium is missing; CI installs both.
"""

from __future__ import annotations

import json
import os
import shutil
from types import SimpleNamespace
from urllib.parse import urlparse

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)

from serving import Server, init, write_config  # noqa: E402

from kehu.testing import database_url  # noqa: E402

# The strictest policy kehu's own pages use (the console's): no inline script or
# style, nothing from elsewhere.
STRICT_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("graphiql")
    with database_url(directory) as url:
        config = write_config(directory, url)
        init(config)
        with Server(config) as running:
            yield SimpleNamespace(url=running.url, token=running.login())


@pytest.fixture(scope="module")
def browser(server):
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        yield chromium
        chromium.close()


def offline_page(browser, server, *, headers: dict | None = None, query: str | None = None):
    """A page whose requests may reach the kehu server only; the rest are refused
    and listed in ``page.refused``."""
    context = browser.new_context()
    host = urlparse(server.url).netloc
    refused: list[str] = []

    def route(route):
        request = route.request
        if urlparse(request.url).netloc != host:
            refused.append(request.url)
            return route.abort()
        if request.resource_type == "document":
            response = route.fetch()
            merged = {**response.headers}
            # A second policy: both are enforced, so the page must satisfy each.
            merged["content-security-policy"] = merged.get("content-security-policy", "") + ", " + STRICT_CSP
            return route.fulfill(response=response, headers=merged)
        return route.continue_()

    context.route("**/*", route)
    script = ""
    if headers is not None:
        script += f"localStorage.setItem('graphiql:headers', {json.dumps(json.dumps(headers))});"
    if query is not None:
        script += f"localStorage.setItem('graphiql:query', {json.dumps(query)});"
    script += (
        "document.addEventListener('securitypolicyviolation', e => "
        "(window.__violations = window.__violations || []).push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    context.add_init_script(script)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.refused, page.errors = refused, errors
    return context, page


def test_graphiql_renders_and_runs_a_query_with_no_request_leaving_the_machine(browser, server):
    context, page = offline_page(
        browser, server, headers={"Authorization": f"Bearer {server.token}"}, query="query Me { me { email role } }"
    )
    try:
        response = page.goto(server.url + "/graphql")
        assert response.status == 200
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_selector(".graphiql-container", timeout=30_000)
        page.click(".graphiql-execute-button")
        page.wait_for_function(
            "() => (document.querySelector('.result-window') || {}).textContent?.includes('admin@example.com')",
            timeout=30_000,
        )
        result = page.inner_text(".result-window")
        assert '"role": "ADMIN"' in result
        # The schema was introspected too: the documentation pane knows the types.
        page.click("[aria-label='Show Documentation Explorer']")
        page.wait_for_selector("text=Query", timeout=15_000)
        violations = page.evaluate("window.__violations || []")
        # Only GraphiQL's fonts (data: URLs) may be refused by the stricter policy,
        # which lacks `font-src data:`: the page then uses the system's fonts.
        assert [v for v in violations if not v.startswith("font-src")] == []
        assert page.refused == []
        assert page.errors == []
    finally:
        context.close()


def test_without_a_token_graphiql_still_loads_and_says_how_to_sign_in(browser, server):
    context, page = offline_page(browser, server)
    try:
        page.goto(server.url + "/graphql")
        page.wait_for_selector(".graphiql-container", timeout=30_000)
        assert "Authorization" in page.inner_text(".graphiql-query-editor")
        assert page.refused == []
    finally:
        context.close()


def test_the_bundle_is_served_with_its_licences_and_versions(server):
    import urllib.request

    with urllib.request.urlopen(server.url + "/graphiql/VERSIONS.json") as response:
        versions = json.load(response)
    assert set(versions) == {"graphiql", "react", "react-dom"}
    for info in versions.values():
        assert info["license"] == "MIT"
        for name in info["files"]:
            with urllib.request.urlopen(f"{server.url}/graphiql/{name}") as response:
                assert response.status == 200
