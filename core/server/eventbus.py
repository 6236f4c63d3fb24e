"""The live event bus: ``kehu.events.Event``s to subscribers (GraphQL subscriptions).

Each subscriber receives only events about customers it may see (checked per
event, per subscriber).

Events are published after the write commits (``kehu.writes.publish`` queues
them in the write scope). With PostgreSQL they travel through
``NOTIFY kehu_events`` so subscribers on every worker receive them (no new
infrastructure); with SQLite (one process) they stay in memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from ..events import Event
from .db import is_sqlite, normalise_url

if TYPE_CHECKING:
    from .runtime import Kehu

log = logging.getLogger(__name__)

CHANNEL = "kehu_events"
QUEUE_SIZE = 256


class EventBus:
    def __init__(self, kehu: Kehu):
        self.kehu = kehu
        self.shared = not is_sqlite(kehu.config.kehu.database_url)
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._listener: Any = None  # an asyncpg connection (untyped)

    async def start(self) -> None:
        if not self.shared:
            return
        import asyncpg

        self._listener = await asyncpg.connect(
            normalise_url(self.kehu.config.kehu.database_url).replace("postgres://", "postgresql://", 1)
        )
        await self._listener.add_listener(CHANNEL, self._on_notify)

    async def stop(self) -> None:
        if self._listener is not None:
            try:
                await self._listener.close()
            finally:
                self._listener = None

    def _on_notify(self, connection, pid, channel, payload: str) -> None:
        try:
            self._deliver(Event.decode(payload))
        except Exception:  # a malformed notification must not kill the listener
            log.exception("dropping malformed event notification")

    async def publish(self, event: Event) -> None:
        if self.shared and self._listener is not None:
            from tortoise.connection import connections

            await connections.get("default").execute_query(
                "SELECT pg_notify($1, $2)", [CHANNEL, event.encode().decode()]
            )
        else:
            self._deliver(event)

    def _deliver(self, event: Event) -> None:
        for queue in list(self._subscribers):
            if queue.full():
                queue.get_nowait()  # a slow subscriber loses its oldest event, not the newest
            queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
