"""``Kehu``: one configured application — config, plugins, schema, database.

The server, the CLI and the tests all build one of these; plugins receive it as
the ``kehu`` argument of their hooks.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pydantic import BaseModel

from ..config import Config
from ..errors import PluginError
from . import db
from .plugin_manager import PluginSet

if TYPE_CHECKING:
    from starlette.requests import Request
    from tortoise.context import TortoiseContext

    from ..access import Viewer
    from ..clock import Clock

log = logging.getLogger(__name__)

SettingsModel = TypeVar("SettingsModel", bound=BaseModel)


class Kehu:
    """The application: one configuration, its plugins, its database and its schema.

    Every hook that takes ``kehu`` receives this object. Plugins use
    ``settings_for`` (their typed settings), ``clock`` (``kehu.clock.now()``),
    ``config`` (read only), ``is_enabled`` and ``viewer_for_request`` (in routes);
    the rest serves the server and the CLI."""

    def __init__(self, config: Config, *, extra_plugins: dict[str, Any] | None = None, clock: Clock | None = None):
        from ..clock import SystemClock

        self.config = config
        self.plugins = PluginSet(config, extra_plugins)
        self.hooks = self.plugins.hooks
        self.hooks.kehu = self
        self.clock = clock or SystemClock()
        self.apps = self.plugins.models_config()
        self.tortoise_config = db.tortoise_config(
            config.kehu.database_url, self.apps, statement_timeout=config.limits.request_timeout_seconds
        )
        self.field_policies = self.plugins.field_policies()
        self._composed_schema = None
        self._field_guard = None
        self.ctx: TortoiseContext | None = None
        # The token check's reads on the loop's own thread, for a SQLite file (kehu.server.db.LoopReads).
        self.loop_reads: db.LoopReads | None = None
        # Which index serves the customer search (kehu.search), found on connecting.
        self.search_index: Any = None
        from .ratelimit import RateLimiter

        self.rate_limiter = RateLimiter(self)
        from .eventbus import EventBus

        self.events = EventBus(self)
        from .sessions import LiveSessions

        self.sessions = LiveSessions(self)
        from .outbox import Outbox

        self.outbox = Outbox(self)

    # -- plugins ---------------------------------------------------------------

    @overload
    def settings_for(self, plugin: str) -> BaseModel | None: ...

    @overload
    def settings_for(self, plugin: str, model: type[SettingsModel]) -> SettingsModel: ...

    def settings_for(self, plugin: str, model: type[BaseModel] | None = None) -> BaseModel | None:
        """The validated ``[plugins.<name>]`` section of an enabled plugin (``None``
        when it is not enabled). A plugin reads its own settings typed, by naming
        their class: ``kehu.settings_for("loyalty", LoyaltySettings)`` returns a
        ``LoyaltySettings`` (the defaults when plugins.toml has no section) and
        raises ``PluginError`` if the plugin is not enabled."""
        settings = self.plugins.settings_for(plugin)
        if model is None or isinstance(settings, model):
            return settings
        if settings is None:
            raise PluginError(f"plugin '{plugin}' has no settings: is it enabled?")
        raise PluginError(f"plugin '{plugin}': its settings are a {type(settings).__name__}, not a {model.__name__}")

    @property
    def calendar(self):
        """The business calendar (``kehu.clock.BusinessCalendar``): days, weeks and
        months in ``[kehu] timezone``."""
        from ..clock import BusinessCalendar

        return BusinessCalendar(self.config.kehu.zone)

    def is_enabled(self, plugin: str) -> bool:
        return self.plugins.is_enabled(plugin)

    @property
    def field_guard(self):
        """How personal fields leave the server outside GraphQL fields (search,
        ordering, exports, audit log, event payloads): a plugin's
        ``kehu_field_guard``, or a guard that shows everything in clear."""
        if self._field_guard is None:
            from ..policies import FieldGuard

            answer = self.plugins.first("kehu_field_guard", kehu=self)
            self._field_guard = answer[1] if answer is not None else FieldGuard()
        return self._field_guard

    @property
    def schema(self):
        """The composed strawberry schema (built once, on first use)."""
        if self._composed_schema is None:
            from kehu.schema import build_schema

            self._composed_schema = build_schema(self)
        return self._composed_schema

    def permissions_for(self, role: str) -> frozenset[str]:
        return self.plugins.permission_table.for_role(role)

    # -- database ----------------------------------------------------------------

    async def connect(self, *, migrate: bool = False, check: bool = True) -> None:
        self.ctx = await db.open_context(self.tortoise_config)
        self.loop_reads = db.LoopReads.for_url(self.config.kehu.database_url)
        try:
            if migrate:
                await db.migrate(self.ctx, self.apps)
            elif check:
                await db.require_migrated(self.ctx, self.apps)
            from .. import search

            self.search_index = await search.index_kind(self.ctx.db())
        except BaseException:
            await self.disconnect()
            raise

    async def disconnect(self) -> None:
        if self.loop_reads is not None:
            self.loop_reads.close()
            self.loop_reads = None
        if self.ctx is not None:
            await db.close_context(self.ctx)
            self.ctx = None

    async def migrate(self, progress=None) -> list[str]:
        assert self.ctx is not None
        return await db.migrate(self.ctx, self.apps, progress)

    async def start(self, *, migrate: bool = False, check: bool = True) -> None:
        """Connect, check migrations (apply them with ``migrate``; ``check=False``
        trusts that they are), run plugins' start-up hooks."""
        await self.connect(migrate=migrate, check=check)
        try:
            await self.events.start()
            await self.hooks.lifecycle("kehu_startup", self, strict=True)
            await self.outbox.start()
        except BaseException:
            await self.disconnect()
            raise

    async def stop(self) -> None:
        try:
            await self.outbox.stop()
            await self.hooks.lifecycle("kehu_shutdown", self, strict=False)
        finally:
            from .. import jobs

            await jobs.stop(self)  # those a plugin left running
            await self.sessions.stop()
            await self.events.stop()
            await self.disconnect()

    # -- auth --------------------------------------------------------------------

    async def viewer_for_request(self, request: Request) -> Viewer | None:
        """The signed-in viewer of an HTTP request (bearer token), or ``None``."""
        from ..credentials import viewer_for_token

        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return await viewer_for_token(self, token.strip())
