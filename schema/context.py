"""The per-request context: who is asking, and the request's DataLoaders."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from kehu.access import Viewer

from .loaders import Loaders

if TYPE_CHECKING:
    from kehu.server.runtime import Kehu


@dataclass
class Context:
    kehu: Kehu
    viewer: Viewer | None
    request: Any = None
    response: Any = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    client: str | None = None
    # graphql-transport-ws: the connection_init payload ({"authorization": "Bearer …"}).
    connection_params: dict[str, Any] | None = None
    # A WebSocket's signed-in session (kehu.server.sessions.LiveSession); None over HTTP.
    session: Any = None
    # Plugins keep their own per-request loaders here, keyed by plugin name.
    plugin_loaders: dict[str, Any] = field(default_factory=dict)
    # Batch fields' prefetched values (kehu.schema.batch), filled by the executor.
    batch_results: dict[Any, Any] = field(default_factory=dict)
    # Called by ``release``: the executor drops the rows and plans it kept.
    on_release: list[Callable[[], None]] = field(default_factory=list)

    @cached_property
    def loaders(self) -> Loaders:
        """Built lazily, once per request: never shared between viewers."""
        return Loaders(self.viewer)

    def for_operation(self, viewer: Viewer) -> "Context":
        """A fresh context for one operation started on a WebSocket: the viewer as
        the database says now, its own request id, loaders and batch values."""
        return Context(
            kehu=self.kehu,
            viewer=viewer,
            request=self.request,
            response=self.response,
            client=self.client,
            connection_params=self.connection_params,
            session=self.session,
        )

    async def live_viewer(self) -> Viewer | None:
        """The viewer for the next event of a subscription: a WebSocket's session is
        checked first (``SessionEnded`` when it is over), and a changed role or team
        applies from this event on."""
        if self.session is None:
            return self.viewer
        self.viewer = await self.session.current()
        return self.viewer

    async def begin_event(self) -> None:
        """Before a subscription's next event is resolved: the viewer as it is now,
        and no loader values left from earlier events (or built for another role)."""
        await self.live_viewer()
        self.__dict__.pop("loaders", None)
        self.plugin_loaders.clear()

    def release(self) -> None:
        """Drop what the request's resolvers kept (batch values, loaders and their
        rows) once its answer is built. Those values, the executor and the context
        refer to each other, so without this each request leaves a few thousand
        objects in reference cycles that only the garbage collector frees — the
        collections that followed cost a tenth of a list page's time."""
        for release in self.on_release:
            release()
        self.on_release.clear()
        self.batch_results.clear()
        self.plugin_loaders.clear()
        loaders = self.__dict__.pop("loaders", None)
        if loaders is not None:
            loaders.release()

    def loader(self, key: str, factory) -> Any:
        """A plugin's per-request loader: ``info.context.loader("loyalty.balance", make)``."""
        if key not in self.plugin_loaders:
            self.plugin_loaders[key] = factory()
        return self.plugin_loaders[key]
