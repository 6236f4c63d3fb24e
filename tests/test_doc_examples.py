"""Every GraphQL example in README.md and docs/ runs verbatim against the demo data.

The convention (CONTRIBUTING.md): a ```graphql block's first line says who runs it,
``# as ADMIN`` / ``# as MANAGER`` / ``# as AGENT`` / ``# as ANALYST`` (the demo
account of that role, README's table) or ``# as anonymous`` (no sign-in). The test
signs in as that account with the ``login`` mutation, as a reader would, and runs the
blocks of each page in the order they appear (a page may create something in one
block and use it in the next), with every built-in plugin enabled. A block passes
when it has no errors, every ``userErrors`` in its answer is empty, and it returns
something: an example that answers nothing teaches nothing. A ``subscription``
block is subscribed over graphql-transport-ws and must deliver an event when a
customer is created.
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import pytest

from kehu.cli.demo import DEMO_ACCOUNTS, seed_demo
from kehu.server.plugin_manager import BUILTIN_PLUGINS
from kehu.testing import KehuHarness, database_url

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```graphql[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
ROLE_LINE = re.compile(r"\A# as (ADMIN|MANAGER|AGENT|ANALYST|anonymous)\b")
# Hosts of the examples' webhook endpoints: public addresses, without asking a DNS server.
EXAMPLE_HOST = re.compile(r"(^|\.)example\.(com|org|net)$")


def blocks() -> list[tuple[str, int, str]]:
    """``(page, line, text)`` of every ```graphql block, in page order."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 2
            found.append((str(page.relative_to(ROOT)), line, match.group(1)))
    return found


BLOCKS = blocks()


def test_the_pages_hold_graphql_examples_and_each_names_its_role():
    assert len(BLOCKS) >= 15
    unnamed = [f"{page}:{line}" for page, line, text in BLOCKS if not ROLE_LINE.match(text)]
    assert unnamed == [], "start each ```graphql block with a line such as `# as AGENT` (or `# as anonymous`)"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and EXAMPLE_HOST.search(host):
            host = "93.184.215.14"
        return real_getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch, database_url(tmp_path_factory.mktemp("demo")) as url:
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        with KehuHarness(url, enabled=tuple(BUILTIN_PLUGINS), seed_accounts=False) as app:

            async def seed():
                return await seed_demo(app.kehu)

            app.run(seed)
            app.tokens = {role: sign_in(app, email, password) for role, (email, password, *_) in DEMO_ACCOUNTS.items()}
            yield app


def sign_in(app, email: str, password: str) -> str:
    body = app.gql(
        "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token } }",
        {"e": email, "p": password},
    )
    return body["data"]["login"]["token"]


def user_errors(value, path="data") -> list[str]:
    """Every non-empty ``userErrors`` in an answer, with where it is."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "userErrors" and item:
                found.append(f"{path}.{key}: {item}")
            else:
                found += user_errors(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += user_errors(item, f"{path}.{index}")
    return found


def says_something(value) -> bool:
    """True when the answer holds a non-empty list or a value other than null,
    false, zero or an empty string (``userErrors`` aside)."""
    if isinstance(value, dict):
        return any(says_something(v) for k, v in value.items() if k != "userErrors")
    if isinstance(value, list):
        return bool(value)
    return value not in (None, False, 0, "")


def run_subscription(app, text: str, token: str | None) -> dict:
    with app.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"} if token else {}})
        assert ws.receive_json()["type"] == "connection_ack"
        before = app.kehu.events.subscriber_count
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": text}})
        deadline = time.monotonic() + 5
        while app.kehu.events.subscriber_count == before:
            assert time.monotonic() < deadline, "the subscription did not start"
            time.sleep(0.01)
        app.data(
            'mutation { createCustomer(input: {name: "Subscription Example"}) { userErrors { code } } }',
            token=app.tokens["ADMIN"],
        )
        message = ws.receive_json()
        ws.send_json({"id": "1", "type": "complete"})
    assert message["type"] == "next", message
    return message["payload"]


@pytest.mark.parametrize("page, line, text", BLOCKS, ids=[f"{page}:{line}" for page, line, _ in BLOCKS])
def test_the_example_runs_verbatim_as_the_role_it_names(demo, page, line, text):
    role = ROLE_LINE.match(text).group(1)
    token = None if role == "anonymous" else demo.tokens[role]
    operation = re.sub(r"#[^\n]*", "", text).lstrip()
    if operation.startswith("subscription"):
        body = run_subscription(demo, text, token)
    else:
        body = demo.gql(text, token=token)
    assert not body.get("errors"), f"{page}:{line} as {role}: {body['errors']}"
    assert user_errors(body["data"]) == [], f"{page}:{line} as {role}"
    assert says_something(body["data"]), f"{page}:{line} as {role} answers nothing: {body['data']}"
