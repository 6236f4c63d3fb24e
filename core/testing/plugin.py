"""kehu's pytest plugin: fixtures for testing kehu plugins.

pytest loads it by itself once kehu is installed (``[project.entry-points.pytest11]``),
so a plugin's test suite needs no conftest to get:

``kehu_plugins``
    The plugins the ``kehu_app`` fixture enables: a list of names (built-in or
    installed through the ``kehu.plugins`` entry point) or a ``{name: module}``
    dict (a plugin that is not installed, e.g. one defined in a test). Empty by
    default: override it in your conftest.py or test module::

        @pytest.fixture
        def kehu_plugins():
            return ["followups"]

``kehu_settings``
    The ``[plugins.<name>]`` sections for ``kehu_app``, e.g.
    ``{"followups": {"default_interval_days": 14}}``. Empty by default.

``kehu_database_url``
    A fresh, empty database for this test: a SQLite file, or a new PostgreSQL
    database (dropped afterwards) when ``KEHU_TEST_POSTGRES`` names a server
    (``postgres://user:password@host:5432``). The apps of ``kehu_make_app`` and
    ``kehu_app`` open the same database; the first starts from a copy of a
    migrated template (kehu.testing.templates).

``kehu_clock``
    The app's clock, frozen at 2026-01-01 09:00 UTC; it moves only when told
    (``kehu_clock.advance(days=3)``, ``kehu_clock.set(when)``).

``kehu_events``
    Records every event hook call (``kehu_customer_created``,
    ``kehu_interaction_logged``, plugins' own events …) with its arguments, in
    the order they were delivered — see :class:`EventRecorder`.

``kehu_make_app``
    Factory for more apps on the same database (``kehu_make_app(plugins=[...],
    settings={...})``), e.g. to test that disabling a plugin keeps its data.
    Each app is a :class:`kehu.testing.KehuHarness`: migrated, with the accounts
    of ``kehu.testing.ACCOUNTS`` (one per role and team) signed in.

``kehu_app``
    An app with ``kehu_plugins`` enabled and ``kehu_settings`` applied.

``kehu_client``
    A GraphQL client over HTTP signed in as any seeded account or role:
    ``kehu_client("agent").data("{ me { email } }")``; ``kehu_client(None)``
    is anonymous. See :class:`GraphQLClient`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..clock import FrozenClock
    from . import KehuHarness


@dataclass(frozen=True)
class Event:
    """One delivered event: the hook's name and the arguments it was called with."""

    hook: str
    args: dict[str, Any]

    @property
    def name(self) -> str:
        """The hook's name without the ``kehu_`` prefix (``"interaction_logged"``)."""
        return self.hook.removeprefix("kehu_")

    def __getitem__(self, key: str) -> Any:
        return self.args[key]


class EventRecorder:
    """Every event hook call of the apps made by ``kehu_make_app``/``kehu_app``.

    ``kehu_events.names`` lists the hooks in delivery order;
    ``kehu_events.of("interaction_logged")`` (with or without the ``kehu_``
    prefix) returns those events, whose arguments read as ``event["customer"]``.
    Events are recorded as the core delivers them — after the write committed,
    never for a write that was rolled back.
    """

    def __init__(self) -> None:
        self.events: list[Event] = []

    def record(self, hook: str, args: dict[str, Any]) -> None:
        self.events.append(Event(hook, dict(args)))

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.events]

    def of(self, hook: str) -> list[Event]:
        hook = hook if hook.startswith("kehu_") else f"kehu_{hook}"
        return [e for e in self.events if e.hook == hook]

    def last(self, hook: str) -> Event:
        found = self.of(hook)
        assert found, f"no {hook} event was emitted (emitted: {self.names or 'none'})"
        return found[-1]

    def clear(self) -> None:
        self.events.clear()

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def attach(self, harness: KehuHarness) -> None:
        """Record the events of ``harness``'s app (a wrapper around the one place
        the core delivers events, so plugins' own event hooks are recorded too)."""
        hooks = harness.kehu.hooks
        deliver = hooks.dispatch_event

        async def dispatch_event(hook_name: str, **kwargs: Any) -> dict[str, Exception]:
            self.record(hook_name, {k: v for k, v in kwargs.items() if k not in ("kehu", "plugins")})
            return await deliver(hook_name, **kwargs)

        hooks.dispatch_event = dispatch_event  # type: ignore[method-assign]


class GraphQLClient:
    """Sends GraphQL documents over HTTP to an app as one signed-in account.

    ``data()`` fails the test on any GraphQL error and returns ``data``;
    ``gql()`` returns the whole body (``data`` and ``errors``) for tests of errors.
    ``owner`` is the signed-in ``kehu.models.AccountOwner`` (None when anonymous).
    """

    def __init__(self, harness: KehuHarness, account: str | None):
        self.harness = harness
        self.account = account
        self.owner = harness.accounts.get(account) if account else None

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.harness.gql(query, variables, as_=self.account)

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.harness.data(query, variables, as_=self.account)

    def __repr__(self) -> str:
        return f"<GraphQLClient as {self.account or 'anonymous'}>"


def account_for(who: str | None) -> str | None:
    """A seeded account name for ``who``: an account (``"agent_south"``) or a role
    (``"AGENT"`` → the first account with it)."""
    from . import ACCOUNTS

    if who is None or who in ACCOUNTS:
        return who
    for name, (role, _team) in ACCOUNTS.items():
        if role.value == who.upper():
            return name
    known = ", ".join([*ACCOUNTS, "or a role: ADMIN, MANAGER, AGENT, ANALYST"])
    raise ValueError(f"no test account {who!r} (accounts: {known})")


def _split_plugins(plugins: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    if isinstance(plugins, dict):
        names = tuple(plugins)
        modules = {
            name: module for name, module in plugins.items() if module is not None and not isinstance(module, str)
        }
        return names, modules
    return tuple(plugins or ()), {}


@pytest.fixture
def kehu_plugins() -> list[str] | dict[str, Any]:
    return []


@pytest.fixture
def kehu_settings() -> dict[str, dict[str, Any]]:
    return {}


@pytest.fixture
def kehu_fresh_database(tmp_path) -> Iterator[Any]:
    """The test's database before anything used it (kehu.testing.templates): on
    PostgreSQL it is created by the first app, as a copy of a migrated template,
    or empty by ``kehu_database_url``."""
    from .templates import fresh_database

    with fresh_database(tmp_path) as fresh:
        yield fresh


@pytest.fixture
def kehu_database_url(kehu_fresh_database) -> str:
    return kehu_fresh_database.create()


@pytest.fixture
def kehu_clock() -> FrozenClock:
    from ..clock import FrozenClock

    return FrozenClock()


@pytest.fixture
def kehu_events() -> EventRecorder:
    return EventRecorder()


class AppFactory:
    """What ``kehu_make_app`` is: ``kehu_make_app(plugins=[...], settings={...},
    **harness_options)`` opens another app on the test's database (with the test's
    clock, its events recorded); ``kehu_make_app.close(app)`` closes one early, e.g.
    before opening the same database with other plugins. The rest close at the end
    of the test."""

    def __init__(self, database_url: str, clock: FrozenClock, events: EventRecorder):
        self.database_url = database_url
        self.clock = clock
        self.events = events
        self.opened: list[KehuHarness] = []

    def __call__(
        self, plugins: Any = (), settings: dict[str, dict[str, Any]] | None = None, **options: Any
    ) -> KehuHarness:
        names, modules = _split_plugins(plugins)
        options.setdefault("clock", self.clock)
        extra = {**modules, **(options.pop("extra_plugins", None) or {})}
        names = tuple(dict.fromkeys((*names, *options.pop("enabled", ()))))
        harness = _app_class()(
            self.database_url, enabled=names, settings=settings, extra_plugins=extra or None, **options
        )
        self.events.attach(harness)
        harness.__enter__()
        self.opened.append(harness)
        return harness

    def close(self, app: KehuHarness) -> None:
        if app in self.opened:
            self.opened.remove(app)
            app.__exit__(None, None, None)

    def close_all(self) -> None:
        while self.opened:
            self.close(self.opened[-1])


_APP_CLASS: type | None = None


def _app_class() -> type:
    """``KehuHarness`` that signs the test accounts in again when the database
    already has them (an app re-opened on the same database in one test)."""
    global _APP_CLASS
    if _APP_CLASS is None:
        from ..credentials import issue_token
        from ..models import AccountOwner, TokenKind
        from . import ACCOUNTS, KehuHarness

        class PluginTestApp(KehuHarness):
            async def _seed(self) -> None:
                existing = {
                    o.email: o for o in await AccountOwner.filter(email__in=[f"{n}@example.com" for n in ACCOUNTS])
                }
                if not existing:
                    return await super()._seed()
                for name in ACCOUNTS:
                    owner = existing.get(f"{name}@example.com")
                    if owner is not None:
                        self.accounts[name] = owner
                        self.tokens[name], _ = await issue_token(owner, TokenKind.SESSION, None)

        _APP_CLASS = PluginTestApp
    return _APP_CLASS


@pytest.fixture
def kehu_make_app(kehu_fresh_database, kehu_clock, kehu_events) -> Iterator[AppFactory]:
    factory = AppFactory(kehu_fresh_database.url, kehu_clock, kehu_events)
    yield factory
    factory.close_all()


@pytest.fixture
def kehu_app(kehu_make_app, kehu_plugins, kehu_settings) -> KehuHarness:
    return kehu_make_app(plugins=kehu_plugins, settings=kehu_settings)


@pytest.fixture
def kehu_client(kehu_app) -> Callable[..., GraphQLClient]:
    """``kehu_client("manager")`` / ``kehu_client("ANALYST")`` / ``kehu_client(None)``."""

    def client(who: str | None = "admin") -> GraphQLClient:
        return GraphQLClient(kehu_app, account_for(who))

    return client


def pytest_configure(config) -> None:
    """In the session's main process (not in an xdist worker): a directory in which
    all its processes share their template databases (kehu.testing.templates)."""
    if not hasattr(config, "workerinput"):
        from . import templates

        config._kehu_remove_shared_templates = templates.share_between_processes()


def pytest_unconfigure(config) -> None:
    """Remove this process's template databases (kehu.testing.templates) while the
    interpreter can still reach a database server: at exit, asyncio cannot; then,
    in the main process, the session's shared ones."""
    import sys

    templates = sys.modules.get("kehu.testing.templates")
    if templates is not None:
        templates.templates.remove_all()
    remove_shared = getattr(config, "_kehu_remove_shared_templates", None)
    if remove_shared is not None:
        remove_shared()
