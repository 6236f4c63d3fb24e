"""Connecting to the database and keeping its schema in step with the code.

One Tortoise app per plugin (``core`` for the core), each with its own
migrations package. The context is made the global fallback so that request
tasks — which uvicorn starts outside the lifespan's task — find it
(tortoise 1.x keeps its state in a ContextVar; see docs/internals.md).
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from tortoise.context import TortoiseContext
from tortoise.migrations.executor import MigrationExecutor, MigrationTarget

from .errors import ConfigError, MigrationsPending

log = logging.getLogger("kehu.db")


def normalise_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgres://" + url[len("postgresql://"):]
    return url


def tortoise_config(
    database_url: str, apps: dict[str, dict[str, Any]], statement_timeout: float | None = None
) -> dict[str, Any]:
    url = normalise_url(database_url)
    if not (url.startswith("sqlite://") or url.startswith("postgres://")):
        raise ConfigError(
            f"kehu.database_url: unsupported database '{url.split(':', 1)[0]}' "
            "(use sqlite://FILE or postgres://USER:PASSWORD@HOST:PORT/DB)"
        )
    if url.startswith("postgres://"):
        from tortoise.backends.base.config_generator import expand_db_url

        # asyncpg pool: a worker serves many requests concurrently.
        connection: Any = expand_db_url(url + ("&" if "?" in url else "?") + "minsize=1&maxsize=10")
        if statement_timeout is not None:
            # PostgreSQL ends any statement running longer: a runaway query cannot
            # hold a connection after the request that started it has timed out.
            connection["credentials"]["server_settings"] = {
                "statement_timeout": str(int(statement_timeout * 1000))
            }
    else:
        connection = url
    return {
        "connections": {"default": connection},
        "apps": apps,
        "use_tz": True,
        "timezone": "UTC",
    }


def is_sqlite(database_url: str) -> bool:
    return normalise_url(database_url).startswith("sqlite://")


async def open_context(config: dict[str, Any], *, global_fallback: bool = True) -> TortoiseContext:
    ctx = TortoiseContext()
    # Models are finalised during init() and look the connection up through the
    # *current* context, so the context must be entered first.
    ctx.__enter__()
    try:
        await ctx.init(config=config, _enable_global_fallback=global_fallback)
        await ctx.db().execute_query("SELECT 1")
    except ConfigError:
        raise
    except Exception as exc:
        await close_context(ctx)
        raise ConfigError(f"kehu.database_url: cannot connect: {exc}") from None
    return ctx


async def close_context(ctx: TortoiseContext) -> None:
    await ctx.close_connections()
    try:
        ctx.__exit__(None, None, None)
    except ValueError:  # closed from another task than the one that opened it
        pass


def _executor(ctx: TortoiseContext, apps: dict[str, dict[str, Any]]) -> MigrationExecutor:
    return MigrationExecutor(ctx.db(), apps)


async def pending_migrations(ctx: TortoiseContext, apps: dict[str, dict[str, Any]]) -> list[str]:
    """Names (``app.migration``) of migrations not applied yet."""
    plan = await _executor(ctx, apps).plan(
        [MigrationTarget(app_label=label, name="__latest__") for label in apps]
    )
    return [f"{s.migration.app_label}.{s.migration.name}" for s in plan if not s.backward]


async def migrate(
    ctx: TortoiseContext,
    apps: dict[str, dict[str, Any]],
    progress: Callable[[str, str, str], object] | None = None,
) -> list[str]:
    """Apply every pending migration of the enabled apps; returns what was applied."""
    pending = await pending_migrations(ctx, apps)
    if pending:
        await _executor(ctx, apps).migrate(
            [MigrationTarget(app_label=label, name="__latest__") for label in apps],
            progress=progress,
        )
    return pending


async def require_migrated(ctx: TortoiseContext, apps: dict[str, dict[str, Any]]) -> None:
    pending = await pending_migrations(ctx, apps)
    if pending:
        raise MigrationsPending(
            f"the database needs {len(pending)} migration(s) ({', '.join(pending[:3])}"
            f"{'…' if len(pending) > 3 else ''}): run `kehu migrate` (or `kehu serve --migrate`)"
        )
