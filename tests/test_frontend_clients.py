"""The API as frontends meet it, checked with the ecosystem's own tools from Node:
the GraphQL-over-HTTP audit suite (graphql-http) and real clients — graphql-ws,
Apollo Client with its persisted-query link, urql with its persisted exchange —
each running a query, a persisted query and a subscription against ``kehu serve``
from a page on an origin that ``[cors]`` allows.

The Node packages are pinned in tests/js/package.json (and package-lock.json);
.ci/run installs them with ``npm ci``. Without them (or without Node) these tests
are skipped, saying so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

JS = Path(__file__).parent / "js"
NODE = shutil.which("node")
if NODE is None:
    pytest.skip("Node.js is not installed (the client tests need node >= 20)", allow_module_level=True)
if not (JS / "node_modules").is_dir():
    pytest.skip("the Node packages are not installed: run `npm ci` in tests/js", allow_module_level=True)

from serving import Server, init, write_config  # noqa: E402

from kehu.testing import database_url  # noqa: E402

ORIGIN = "http://frontend.example.test"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("frontend")
    with database_url(directory) as url:
        config = write_config(directory, url, extra=f'[cors]\nallow_origins = ["{ORIGIN}"]\n')
        init(config)
        with Server(config) as running:
            yield SimpleNamespace(url=running.url + "/graphql", token=running.login(), server=running)


def node(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([NODE, script, *args], cwd=JS, capture_output=True, text=True, timeout=timeout, check=False)


def run_client(server, name: str) -> dict:
    result = node("clients.mjs", name, server.url, server.token, ORIGIN)
    assert result.stdout.strip(), result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["ok"], report.get("error")
    return report


def test_graphql_over_http_audit_suite_passes_without_warnings(server):
    result = node("audit.mjs", server.url, server.token)
    audits = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(audits) > 50, result.stderr
    problems = [a for a in audits if a["status"] in ("error", "warn")]
    assert problems == [], json.dumps(problems, indent=1)
    assert result.returncode == 0
    # The optional ones (MAY) pass too.
    assert [a for a in audits if a["status"] != "ok"] == []


def test_graphql_ws_runs_a_query_a_persisted_query_and_a_subscription(server):
    report = run_client(server, "graphql-ws")
    assert report["query"] == {"data": {"me": {"email": "admin@example.com", "role": "ADMIN"}}}
    miss = report["persistedMiss"]["errors"][0]
    assert (miss["message"], miss["extensions"]["code"]) == ("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
    assert report["persisted"] == report["persistedRegistered"]
    assert "customers" in report["persisted"]["data"]
    event = report["event"]["data"]["events"]
    assert event["topic"] == "customer.created" and event["customerId"] in report["createdIds"]


def test_apollo_client_runs_a_query_a_persisted_query_and_a_subscription(server):
    report = run_client(server, "apollo")
    assert report["query"]["me"]["email"] == "admin@example.com"
    # Apollo's cache normalises by __typename and id.
    assert report["query"]["me"]["__typename"] == "AccountOwner"
    assert report["persisted"] == report["persistedAgain"]
    assert report["persisted"]["customers"]["__typename"] == "CustomerConnection"
    # The link sends the hash alone (GET), then the text once the server asks for
    # it, and the hash alone is enough from then on.
    hashed = [r for r in report["requests"] if r["sentHash"]]
    assert any(not r["sentQuery"] and r["status"] == 200 for r in hashed), report["requests"]
    assert any(not r["sentQuery"] and r["status"] == 400 for r in hashed), report["requests"]
    assert all(r["contentType"].startswith("application/graphql-response+json") for r in report["requests"])
    assert report["event"]["data"]["events"]["customerId"] in report["createdIds"]
    assert report["errorOnBadQuery"]["errors"][0]["extensions"]["code"] == "PAGE_TOO_LARGE"


def test_urql_runs_a_query_a_persisted_query_and_a_subscription(server):
    report = run_client(server, "urql")
    assert report["query"] == {"me": {"email": "admin@example.com", "role": "ADMIN"}}
    assert report["persistedError"] is None
    assert report["persisted"] == report["persistedAgain"]
    hashed = [r for r in report["requests"] if r["sentHash"]]
    assert [r["sentQuery"] for r in hashed] == [False, True, False], report["requests"]
    assert hashed[-1]["status"] == 200
    assert report["event"]["data"]["events"]["customerId"] in report["createdIds"]
    assert report["errorOnBadQuery"]["codes"] == ["PAGE_TOO_LARGE"]


def test_the_console_operations_pass_graphql_js_validation_as_one_project(tmp_path):
    from serving import kehu

    config = write_config(
        tmp_path,
        f"sqlite://{tmp_path / 'k.db'}",
        enabled=["segmentation", "loyalty", "complaints", "surveys", "masking", "console"],
    )
    sdl = tmp_path / "schema.graphql"
    sdl.write_text(kehu(config, "schema").stdout)
    operations = Path(__file__).parent.parent / "plugins" / "console" / "operations"
    result = node("validate-documents.mjs", str(sdl), str(operations))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("0 problem(s)")
