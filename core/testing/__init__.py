"""Test helpers for kehu and for plugin authors.

``KehuHarness`` runs a real kehu app (real database, real HTTP stack through
Starlette's TestClient) with a chosen set of plugins, and signs requests in as
any seeded account. ``assert_schema_documented`` checks that every element of
the schema has a description; ``walk_pages`` pages a connection both ways. ``database_url()`` gives a fresh SQLite file, or a fresh
PostgreSQL database when ``KEHU_TEST_POSTGRES`` names a server
(``postgres://user:pass@host:5432``). An app opened on a fresh database starts
from a copy of a migrated template, and apps with the same plugins and settings
share one schema (kehu.testing.templates): each test still has a database of its
own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, NamedTuple

from ..clock import FrozenClock
from ..config import parse_config
from ..credentials import issue_token
from ..models import AccountOwner, Role, TokenKind
from ..server.runtime import Kehu
from . import templates
from .templates import database_url as database_url

TEST_PASSWORD = "correct-horse-battery"

# name -> (role, team). Two teams, so team scoping is exercised.
ACCOUNTS: dict[str, tuple[Role, str]] = {
    "admin": (Role.ADMIN, ""),
    "manager": (Role.MANAGER, "north"),
    "agent": (Role.AGENT, "north"),
    "agent2": (Role.AGENT, "north"),
    "manager_south": (Role.MANAGER, "south"),
    "agent_south": (Role.AGENT, "south"),
    "analyst": (Role.ANALYST, ""),
}

_password_hash: str | None = None

# argon2id at its lowest cost (8 KiB, one pass) for the apps of this harness. At the
# production cost a hash or a check takes ~60 ms on an idle core and ~0.7 s on a
# busy two-core machine, and the tests of sign-in, lockouts and password changes
# make a few hundred. Same algorithm and code path; the cost is stored in each
# hash, so a hash made elsewhere (by a `kehu init` subprocess) still verifies.
TEST_HASH_COST = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


_test_hashing = False


def use_test_password_hashing() -> None:
    """Make this process hash passwords at ``TEST_HASH_COST`` (from the first test app on)."""
    global _test_hashing
    if not _test_hashing:
        from argon2 import PasswordHasher

        from ..credentials import use_password_hasher

        use_password_hasher(PasswordHasher(**TEST_HASH_COST))  # type: ignore[arg-type]
        _test_hashing = True


def password_hash() -> str:
    """The hash of ``TEST_PASSWORD`` (computed once: argon2 is slow on purpose)."""
    global _password_hash
    use_test_password_hashing()
    if _password_hash is None:
        from ..credentials import hash_password

        _password_hash = hash_password(TEST_PASSWORD)
    return _password_hash


async def create_accounts() -> tuple[dict[str, AccountOwner], dict[str, str]]:
    """The accounts of ``ACCOUNTS`` (password ``TEST_PASSWORD``), each with a
    session token: ``(name -> owner, name -> token)``. One transaction: a few
    milliseconds instead of fourteen commits."""
    from tortoise.transactions import in_transaction

    hashed = password_hash()
    accounts: dict[str, AccountOwner] = {}
    tokens: dict[str, str] = {}
    async with in_transaction():
        for name, (role, team) in ACCOUNTS.items():
            owner = await AccountOwner.create(
                name=name.replace("_", " ").title(),
                email=f"{name}@example.com",
                role=role,
                team=team,
                password_hash=hashed,
            )
            accounts[name] = owner
            tokens[name], _ = await issue_token(owner, TokenKind.SESSION, None)
    return accounts, tokens


class CommandResult(NamedTuple):
    """What ``KehuHarness.command`` returns."""

    status: int
    stdout: str
    stderr: str


class Subscription:
    """A live subscription of ``KehuHarness.subscribe``."""

    def __init__(self, socket: Any):
        self.socket = socket

    def next(self) -> dict[str, Any]:
        """The ``data`` of the next message; fails on an error message."""
        message = self.socket.receive_json()
        if message.get("type") != "next" or message["payload"].get("errors"):
            raise AssertionError(f"expected the next event, got {message}")
        return message["payload"]["data"]


class KehuHarness:
    """A running kehu app for tests. Use as a context manager."""

    def __init__(
        self,
        database_url: str,
        *,
        enabled: tuple[str, ...] = (),
        settings: dict[str, dict[str, Any]] | None = None,
        extra_plugins: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        clock: FrozenClock | None = None,
        seed_accounts: bool = True,
    ):
        raw = dict(config or {})
        raw.setdefault("kehu", {})
        raw["kehu"] = {**raw["kehu"], "database_url": database_url}
        # Events are delivered in the request that made them; retries, job runs and
        # redeliveries only when a test calls ``kehu.outbox.run_once()``.
        raw["events"] = {"poll_seconds": 0, **raw.get("events", {})}
        raw["plugins"] = {"enabled": list(enabled), **(settings or {})}
        self.config = parse_config(raw)
        self.clock = clock or FrozenClock()
        self.kehu = Kehu(self.config, extra_plugins=extra_plugins, clock=self.clock)
        self.seed_accounts = seed_accounts
        self.accounts: dict[str, AccountOwner] = {}
        self.tokens: dict[str, str] = {}

    def __enter__(self) -> "KehuHarness":
        from starlette.testclient import TestClient

        from ..server.app import create_app

        use_test_password_hashing()
        fresh = templates.claim_fresh(self.config.kehu.database_url)
        if fresh is not None:
            templates.templates.fill(self.kehu, fresh)
        templates.share_schema(self.kehu)
        # A template copy has nothing left to apply: its migrations are not even checked.
        self.app = create_app(self.kehu, migrate=fresh is None, check_migrations=fresh is None)
        self.client = TestClient(self.app)
        self.client.__enter__()
        try:
            if self.seed_accounts:
                self.run(self._seed)
        except BaseException:
            # Closed, so that the next app of the process can start (one Tortoise
            # context is the global fallback at a time): one failing test, not all.
            self.client.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.client.__exit__(*exc)

    async def _seed(self) -> None:
        accounts, tokens = await create_accounts()
        self.accounts.update(accounts)
        self.tokens.update(tokens)

    def run(self, fn, *args: Any) -> Any:
        """Run ``await fn(*args)`` on the app's event loop (where Tortoise lives)."""
        return self.client.portal.call(fn, *args)  # type: ignore[union-attr]  # set while the client runs

    def command(self, *argv: str) -> CommandResult:
        """Run one of the enabled plugins' ``kehu`` commands (``app.command("deals",
        "summary")``) in this app, on its database and clock, as ``kehu deals
        summary`` would: ``(status, stdout, stderr)``. A usage error is status 2 with
        argparse's message, as on the command line. The core's own commands
        (``kehu import`` …) start their own event loop: run those with ``subprocess``."""
        import contextlib
        import io

        from ..cli.main import build_parser

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                args = build_parser(self.kehu).parse_args(list(argv))
            except SystemExit as exc:
                return CommandResult(int(exc.code or 0), out.getvalue(), err.getvalue())
            handler = getattr(args, "handler", None)
            if handler is None or handler.__module__.startswith("kehu.cli"):
                raise ValueError(f"kehu {' '.join(argv)}: not a plugin's command (run the core's with subprocess)")
            status = self.run(handler, self.kehu, args)
        return CommandResult(int(status or 0), out.getvalue(), err.getvalue())

    @contextlib.contextmanager
    def subscribe(
        self, query: str, variables: dict[str, Any] | None = None, *, as_: str | None = None, timeout: float = 5
    ) -> Iterator[Subscription]:
        """A GraphQL subscription over graphql-transport-ws, live when the block starts::

        with app.subscribe('subscription { events(topics: ["deal"]) { topic nodeId } }', as_="agent") as sub:
            app.data(CREATE_DEAL, ..., as_="agent")
            assert sub.next()["events"]["topic"] == "deal.created"
        """
        import time

        token = self.tokens[as_] if as_ else None
        with self.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as socket:
            socket.send_json(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"} if token else {}}
            )
            ack = socket.receive_json()
            if ack.get("type") != "connection_ack":
                raise AssertionError(f"the server refused the connection: {ack}")
            before = self.kehu.events.subscriber_count
            socket.send_json(
                {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}
            )
            deadline = time.monotonic() + timeout
            while self.kehu.events.subscriber_count == before:  # live on the server: nothing is missed
                if time.monotonic() > deadline:
                    raise AssertionError("the subscription did not start")
                time.sleep(0.01)
            yield Subscription(socket)
            socket.send_json({"id": "1", "type": "complete"})

    def post(
        self, query: str, variables: dict[str, Any] | None = None, *, as_: str | None = None, token: str | None = None
    ):
        headers = {}
        token = token or (self.tokens[as_] if as_ else None)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)

    def gql(
        self, query: str, variables: dict[str, Any] | None = None, *, as_: str | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """POST a GraphQL document; returns the JSON body (``data``/``errors``)."""
        response = self.post(query, variables, as_=as_, token=token)
        assert response.status_code == 200, response.text
        return response.json()

    def data(
        self, query: str, variables: dict[str, Any] | None = None, *, as_: str | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """Like ``gql`` but fails the test on any GraphQL error."""
        body = self.gql(query, variables, as_=as_, token=token)
        assert not body.get("errors"), body["errors"]
        return body["data"]


class QueryCounter:
    """Counts SQL statements sent through Tortoise (``with count_queries() as q:
    ...; q.count``). Used to keep N+1 queries from coming back."""

    class _Handler(__import__("logging").Handler):  # type: ignore[misc]
        def __init__(self, sink: list[str]):
            super().__init__(level=0)
            self.sink = sink

        def emit(self, record) -> None:
            message = record.getMessage()
            if not message.startswith(("Created connection pool", "Closed connection pool")):
                self.sink.append(message)

    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)


@contextlib.contextmanager
def count_queries() -> Iterator[QueryCounter]:
    """Count the SQL statements Tortoise sends inside the block::

    with count_queries() as statements:
        kehu_client("agent").data(PAGE_OF_CUSTOMERS)
    assert statements.count <= 6   # not one per customer"""
    import logging

    counter = QueryCounter()
    logger = logging.getLogger("tortoise.db_client")
    handler = QueryCounter._Handler(counter.statements)
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield counter
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def assert_schema_documented(kehu: Kehu) -> None:
    """Fail, listing them, if any type, field, argument, input field or enum value
    of ``kehu``'s schema (``harness.kehu``, with your plugin enabled) has no
    description: they are what IDE hints, GraphiQL's documentation pane and
    generated client docs show. A connection's paging arguments, a mutation's
    ``input`` and a Node's ``id`` are described by kehu itself."""
    from kehu.schema.descriptions import undocumented

    missing = undocumented(kehu.schema.graphql_schema)
    assert not missing, f"{len(missing)} schema element(s) without a description: " + ", ".join(missing)


def walk_pages(app: Any, field: str, *, as_: str, arguments: str = "", size: int = 3, key: str = "id") -> list[Any]:
    """The ``key`` of every node of the root connection ``field`` (``arguments``:
    more of its arguments, e.g. ``"status: FAILED"``), read ``size`` at a time
    forwards (``first``/``after``) and backwards (``last``/``before``). Fails unless
    both walks give what pages of 100 give, in the same order, and ``pageInfo``
    says when there is more; returns those keys."""
    extra = f", {arguments}" if arguments else ""
    query = (
        f"query($f: Int, $a: String, $l: Int, $b: String) {{ {field}(first: $f, after: $a, last: $l, before: $b"
        f"{extra}) {{ edges {{ node {{ {key} }} }} pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} }} }}"
    )

    def forwards(size: int) -> list[Any]:
        keys: list[Any] = []
        after = None
        while True:
            connection = app.data(query, {"f": size, "a": after}, as_=as_)[field]
            keys += [edge["node"][key] for edge in connection["edges"]]
            info = connection["pageInfo"]
            assert info["hasPreviousPage"] == (after is not None), (field, info)
            if not info["hasNextPage"]:
                return keys
            after = info["endCursor"]

    whole = forwards(100)
    assert forwards(size) == whole, f"{field}: paging forwards by {size} differs from pages of 100"
    backward: list[Any] = []
    before = None
    while True:
        connection = app.data(query, {"l": size, "b": before}, as_=as_)[field]
        backward = [edge["node"][key] for edge in connection["edges"]] + backward
        info = connection["pageInfo"]
        assert info["hasNextPage"] == (before is not None), (field, info)
        if not info["hasPreviousPage"]:
            break
        before = info["startCursor"]
    assert backward == whole, f"{field}: paging backwards by {size} differs from paging forwards"
    return whole


def sdl_without_descriptions(kehu: Kehu | str) -> str:
    """The schema's SDL (of an app, or SDL text) with every description left out:
    one line per field and argument list, for tests that look for a signature such
    as ``"addNote(input: AddNoteInput!): AddNotePayload!"``."""
    import dataclasses

    from graphql import parse, print_ast, visit
    from graphql.language import Visitor

    class DropDescriptions(Visitor):
        def enter(self, node, *_):
            if getattr(node, "description", None) is not None:
                return dataclasses.replace(node, description=None)  # AST nodes are frozen
            return None

    sdl = kehu if isinstance(kehu, str) else kehu.schema.as_str()
    return print_ast(visit(parse(sdl), DropDescriptions()))


from .leaks import WALK_LIMITS, Canaries, Leak, plant_canaries, policy_leaks  # noqa: E402 - the harness first

__all__ = [
    "ACCOUNTS",
    "TEST_PASSWORD",
    "Canaries",
    "KehuHarness",
    "Leak",
    "QueryCounter",
    "WALK_LIMITS",
    "assert_schema_documented",
    "count_queries",
    "database_url",
    "plant_canaries",
    "policy_leaks",
    "sdl_without_descriptions",
    "walk_pages",
]
