"""What makes a test app cheap: a migrated template database per plugin set, and
the composed schema per plugin set and configuration, both made once per process.

Measured on the project's own suite (docs/internals.md, "The test suite"), most of
a test's set-up was Tortoise's migration executor — it renders every model state
of every migration again for each new database (~0.3 s with the core alone, 2–4 s
with every built-in plugin) — and then the schema build (0.1–0.9 s). Both depend
only on the plugin set (and, for the schema, the configuration), so:

* **Template databases.** The first app a process opens with a given set of
  Tortoise apps migrates a template database. Each *fresh* database (one made by
  :func:`kehu.testing.database_url` that nothing has written to yet) starts as a
  copy of it: a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on
  PostgreSQL. Every test still gets its own database, so nothing leaks from one
  test to the next; a database that is not fresh (a second app in the same test,
  a file a CLI command made) is migrated the ordinary way. The test accounts are
  not part of the template: seeding them in one transaction costs a few
  milliseconds (their password is hashed once per process), and each app gets
  session tokens of its own after its start-up hooks ran, as before.
* **Schema cache.** A composed schema is immutable once built and holds no
  reference to the ``Kehu`` it was built for (resolvers find it through the
  request context), so apps whose plugins contribute the same GraphQL hooks and
  whose configuration is the same (the database URL aside) share one. A plugin
  made inside a test with schema hooks of its own is a new key, so it gets its
  own schema. A schema with field-policy enforcers (the masking plugin) is never
  shared: an enforcer is plugin code inside the schema and may hold on to the
  first app it served.

The processes of one pytest session (its xdist workers) share their SQLite
templates: the session's pytest plugin names a directory in
``KEHU_TEST_TEMPLATES`` before the workers start, and the first process that
needs a template builds it there under a file lock while the others wait and then
copy it. Each plugin set is migrated once per session, not once per worker.

``KEHU_TEST_CACHES=off`` in the environment turns both off (every app migrates
and builds its schema, as a production start does).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import hashlib
import importlib.util
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..server.runtime import Kehu


def enabled() -> bool:
    return os.environ.get("KEHU_TEST_CACHES", "").lower() not in ("0", "off", "false", "no")


def run_sync(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """``asyncio.run(make())``, in a thread of its own when the caller is already
    inside an event loop (a test harness opened from async code)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    result: list[Any] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(make()))
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


# --------------------------------------------------------------------------- fresh databases


@dataclasses.dataclass
class FreshDatabase:
    """A test's own database, until its first app claims it.

    On PostgreSQL the database is created only when something needs it:
    :meth:`create` (an empty one, for whoever uses the URL itself), or the first
    app, as a copy of the template — a database created empty first would cost a
    second ``CREATE DATABASE`` and a ``DROP``."""

    url: str
    path: Path | None = None  # SQLite: the file, which must not exist yet
    server: str | None = None  # PostgreSQL: postgres://user@host:port
    name: str | None = None  # PostgreSQL: the database
    created: bool = False  # PostgreSQL: it exists

    def create(self) -> str:
        if self.server is not None and not self.created:
            postgres_admin(self.server, f'CREATE DATABASE "{self.name}"')
            self.created = True
        return self.url

    def drop(self) -> None:
        if self.server is not None and self.created:
            postgres_admin(self.server, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.created = False

    def still_empty(self) -> bool:
        if self.path is not None:
            return not self.path.exists()
        if not self.created:
            return True

        async def tables() -> int:
            import asyncpg

            conn = await asyncpg.connect(self.url)
            try:
                return await conn.fetchval(
                    "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
                )
            finally:
                await conn.close()

        return run_sync(tables) == 0


_fresh: dict[str, FreshDatabase] = {}


def postgres_admin(server: str, *statements: str) -> None:
    """Run statements on the server's ``postgres`` database (CREATE/DROP DATABASE)."""

    async def run() -> None:
        import asyncpg

        conn = await asyncpg.connect(server.rstrip("/") + "/postgres")
        try:
            for sql in statements:
                await conn.execute(sql)
        finally:
            await conn.close()

    run_sync(run)


@contextlib.contextmanager
def fresh_database(tmp_path: Path) -> Iterator[FreshDatabase]:
    """A database for one test: a SQLite file in ``tmp_path``, or a PostgreSQL
    database (created when first needed, dropped afterwards) when
    ``KEHU_TEST_POSTGRES`` names a server."""
    server = os.environ.get("KEHU_TEST_POSTGRES")
    if server:
        server = server.rstrip("/")
        name = f"kehu_t_{uuid.uuid4().hex[:12]}"
        fresh = FreshDatabase(f"{server}/{name}", server=server, name=name)
    else:
        path = Path(tmp_path) / "kehu-test.db"
        fresh = FreshDatabase(f"sqlite://{path}", path=path)
    _fresh[fresh.url] = fresh
    try:
        yield fresh
    finally:
        _fresh.pop(fresh.url, None)
        fresh.drop()


@contextlib.contextmanager
def database_url(tmp_path: Path) -> Iterator[str]:
    """A fresh SQLite file in ``tmp_path``, or a fresh PostgreSQL database (dropped
    afterwards) when ``KEHU_TEST_POSTGRES`` names a server."""
    with fresh_database(tmp_path) as fresh:
        yield fresh.create()


def claim_fresh(url: str) -> FreshDatabase | None:
    """The fresh database behind ``url``, once: the first app opened on it may fill
    it from a template; every later one finds it used."""
    fresh = _fresh.pop(url, None)
    if fresh is None:
        return None
    if not enabled():
        fresh.create()
        return None
    return fresh if fresh.still_empty() else None


# --------------------------------------------------------------------------- templates


@dataclasses.dataclass
class Template:
    """A migrated database to copy."""

    url: str
    path: Path | None = None  # SQLite
    server: str | None = None  # PostgreSQL
    name: str | None = None
    shared: bool = False  # in the session's directory: removed with it, not by this process


def _module_file(name: str) -> str:
    """Where module ``name`` is (or would be) loaded from, without importing it:
    the key must not change once Tortoise has imported the models."""
    module = sys.modules.get(name)
    if module is not None:
        return str(getattr(module, "__file__", None) or name)
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    return str(spec.origin if spec is not None and spec.origin else name)


def _template_key(kehu: Kehu, fresh: FreshDatabase) -> str:
    """What a migrated database depends on: the Tortoise apps (their models and
    migrations, by module and file, so a plugin of the same name generated
    elsewhere is another key) and the database server."""
    apps = {
        label: {
            "models": [(m, _module_file(m)) for m in app["models"]],
            "migrations": (app["migrations"], _module_file(app["migrations"])),
        }
        for label, app in kehu.apps.items()
    }
    return json.dumps([fresh.server or "sqlite", apps], sort_keys=True)


class Templates:
    """The template databases of this process, removed at the end of the test
    session (kehu.testing.plugin) or, failing that, when the process exits."""

    def __init__(self) -> None:
        self._made: dict[str, Template] = {}
        self._directory: Path | None = None
        self._lock = threading.Lock()
        atexit.register(self.remove_all)

    def fill(self, kehu: Kehu, fresh: FreshDatabase) -> None:
        """Make ``fresh`` a migrated copy of the template for ``kehu``'s plugins
        (building the template first if this process has none yet)."""
        key = _template_key(kehu, fresh)
        with self._lock:
            template = self._made.get(key)
            if template is None:
                template = self._made[key] = self._build(kehu, fresh, key)
        if fresh.path is not None:
            assert template.path is not None  # a SQLite database's template is a file
            shutil.copyfile(template.path, fresh.path)
        else:
            statements = [f'DROP DATABASE IF EXISTS "{fresh.name}"'] if fresh.created else []
            statements.append(f'CREATE DATABASE "{fresh.name}" TEMPLATE "{template.name}"')
            postgres_admin(fresh.server or "", *statements)
            fresh.created = True

    def _build(self, kehu: Kehu, fresh: FreshDatabase, key: str) -> Template:
        number = len(self._made) + 1
        shared = shared_directory()
        if fresh.path is not None and shared is not None:
            return self._build_shared(kehu, shared, key)
        if fresh.path is not None:
            if self._directory is None:
                self._directory = Path(tempfile.mkdtemp(prefix="kehu-templates-"))
            path = self._directory / f"template-{number}.db"
            template = Template(f"sqlite://{path}", path=path)
        else:
            name = f"kehu_template_{os.getpid()}_{number}_{uuid.uuid4().hex[:6]}"
            postgres_admin(fresh.server or "", f'CREATE DATABASE "{name}"')
            template = Template(f"{fresh.server}/{name}", server=fresh.server, name=name)
        try:
            run_sync(lambda: _migrate(kehu, template))
            if template.path is not None:
                _checkpoint(template.path)
        except BaseException:
            self._remove(template)
            raise
        return template

    def _build_shared(self, kehu: Kehu, directory: Path, key: str) -> Template:
        """The session's template for ``key``: built here under the directory's
        lock for it unless another process of the session built it already."""
        import fcntl

        name = f"template-{hashlib.sha256(key.encode()).hexdigest()[:24]}"
        path = directory / f"{name}.db"
        with open(directory / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            if not path.exists():
                scratch = directory / f"{name}.{os.getpid()}.db"
                building = Template(f"sqlite://{scratch}", path=scratch)
                try:
                    run_sync(lambda: _migrate(kehu, building))
                    _checkpoint(scratch)
                    os.replace(scratch, path)
                finally:
                    self._remove(building)
        return Template(f"sqlite://{path}", path=path, shared=True)

    def _remove(self, template: Template) -> None:
        if template.shared:
            return
        if template.path is not None:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.unlink(f"{template.path}{suffix}")
        else:
            with contextlib.suppress(Exception):
                postgres_admin(template.server or "", f'DROP DATABASE IF EXISTS "{template.name}" WITH (FORCE)')

    def remove_all(self) -> None:
        with self._lock:
            for template in self._made.values():
                self._remove(template)
            self._made.clear()
            if self._directory is not None:
                shutil.rmtree(self._directory, ignore_errors=True)
                self._directory = None


#: The environment variable naming the directory of a session's shared templates.
SHARED_TEMPLATES = "KEHU_TEST_TEMPLATES"


def shared_directory() -> Path | None:
    """The directory this session's processes share their SQLite templates in, if
    the session made one (and the platform can lock files)."""
    value = os.environ.get(SHARED_TEMPLATES)
    if not value or not os.path.isdir(value) or not importlib.util.find_spec("fcntl"):
        return None
    return Path(value)


def share_between_processes() -> Callable[[], None]:
    """Make a directory for the templates of this session's processes (the pytest
    plugin calls it before xdist starts its workers, which inherit the variable);
    returns what removes it. A session started inside another one's test makes its
    own: its plugins' files may have changed under the same paths."""
    directory = tempfile.mkdtemp(prefix="kehu-shared-templates-")
    previous = os.environ.get(SHARED_TEMPLATES)
    os.environ[SHARED_TEMPLATES] = directory

    def remove() -> None:
        if previous is None:
            os.environ.pop(SHARED_TEMPLATES, None)
        else:
            os.environ[SHARED_TEMPLATES] = previous
        shutil.rmtree(directory, ignore_errors=True)

    return remove


async def _migrate(kehu: Kehu, template: Template) -> None:
    # Not the global fallback: another app of the process may hold that.
    from ..server import db

    ctx = await db.open_context(db.tortoise_config(template.url, kehu.apps), global_fallback=False)
    try:
        await db.migrate(ctx, kehu.apps)
    finally:
        await db.close_context(ctx)


def _checkpoint(path: Path) -> None:
    """Fold the write-ahead log into the file, so that copying the file alone
    copies the whole database."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


templates = Templates()


# --------------------------------------------------------------------------- schemas

SCHEMA_HOOKS = ("kehu_graphql", "kehu_field_policies")
_SCHEMA_CACHE_SIZE = 32
_schemas: OrderedDict[tuple, Any] = OrderedDict()


def _schema_key(kehu: Kehu) -> tuple | None:
    """What ``build_schema`` reads: the implementations of the schema hooks, the
    plugins' module names (types are rebound by module), and the configuration but
    its database URL. The key holds the hook functions themselves, so an id is
    never mistaken for another object's; a plugin object without schema hooks
    made anew in each test (an event recorder) keeps the key the same."""
    hooks = tuple(
        (name, tuple((impl.plugin_name, impl.function) for impl in getattr(kehu.plugins.pm.hook, name).get_hookimpls()))
        for name in SCHEMA_HOOKS
    )
    modules = tuple((name, getattr(r.module, "__name__", "")) for name, r in kehu.plugins.records.items())
    try:
        hash(hooks)
        config = kehu.config.with_database("").model_copy(update={"path": None}).model_dump_json()
    except Exception:  # an unhashable plugin object, or settings JSON cannot show
        return None
    return (hooks, modules, config)


def share_schema(kehu: Kehu) -> None:
    """Give ``kehu`` the schema an earlier app with the same key built (or build it
    now and keep it for the next one)."""
    if not enabled():
        return
    key = _schema_key(kehu)
    if key is None:
        return
    schema = _schemas.get(key)
    if schema is None:
        schema = kehu.schema
        if schema.registry.policy_enforcers:
            # Enforcers are plugin objects installed in the schema, and may keep the
            # app they first serve (the masking plugin's keep its field guard: keys,
            # settings): such a schema belongs to its app alone.
            return
        _schemas[key] = schema
        if len(_schemas) > _SCHEMA_CACHE_SIZE:
            _schemas.popitem(last=False)
    else:
        _schemas.move_to_end(key)
        kehu._composed_schema = schema  # the property's own cache: this app now has a schema
