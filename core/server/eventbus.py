"""The live event bus: ``kehu.events.Event``s to subscribers (GraphQL subscriptions).

Events are published after the write commits (``kehu.writes.publish`` queues
them in the write scope). With PostgreSQL they travel through
``NOTIFY kehu_events`` so subscribers on every worker receive them (no new
infrastructure); with SQLite (one process) they stay in memory.

One dispatcher per process hands each event to its subscribers, in order. Who
may hear of it is decided for all of them at once: one query reads the
customer's owner and team, and each subscriber's scope (``kehu.access.
customer_scope`` of its *current* viewer — a live session is checked before every
event, see ``kehu.server.sessions``) is compared with that row in memory. 100
subscriptions cost one query per event, not 100.

The bus also carries session invalidations (``kehu_sessions``): written in the
transaction that changed an account owner or a token, so every worker hears of
them before any event published after that change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import orjson

from ..events import Event
from .db import is_sqlite, normalise_url

if TYPE_CHECKING:
    from ..access import Viewer
    from .runtime import Kehu

log = logging.getLogger(__name__)

CHANNEL = "kehu_events"
SESSIONS_CHANNEL = "kehu_sessions"
QUEUE_SIZE = 256
INBOX_SIZE = 10_000
RECONNECT_SECONDS = (0.5, 1, 2, 5, 10)


class Subscriber:
    """One subscription: the topics it wants and how to learn its viewer now."""

    __slots__ = ("queue", "topics", "viewer")

    def __init__(self, topics: Iterable[str] | None, viewer: Callable[[], Awaitable[Viewer | None]]):
        self.queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self.topics = tuple(topics or ())
        self.viewer = viewer

    def wants(self, topic: str) -> bool:
        return not self.topics or any(topic == t or topic.startswith(t + ".") for t in self.topics)

    def put(self, event: Event) -> None:
        if self.queue.full():
            self.queue.get_nowait()  # a slow subscriber loses its oldest event, not the newest
        self.queue.put_nowait(event)


class EventBus:
    def __init__(self, kehu: Kehu):
        self.kehu = kehu
        self.shared = not is_sqlite(kehu.config.kehu.database_url)
        self._subscribers: set[Subscriber] = set()
        self._listener: Any = None  # an asyncpg connection (untyped)
        self._inbox: asyncio.Queue[Event] | None = None
        self._dispatcher: asyncio.Task | None = None
        self._reconnecting: asyncio.Task | None = None
        self._stopped = False
        #: Visibility queries run by the dispatcher (one per event with a customer).
        self.visibility_queries = 0

    async def start(self) -> None:
        self._stopped = False
        if self.shared:
            await self._listen()

    async def _listen(self) -> None:
        import asyncpg

        self._listener = await asyncpg.connect(
            normalise_url(self.kehu.config.kehu.database_url).replace("postgres://", "postgresql://", 1)
        )
        await self._listener.add_listener(CHANNEL, self._on_notify)
        await self._listener.add_listener(SESSIONS_CHANNEL, self._on_notify)
        self._listener.add_termination_listener(self._on_terminated)

    def _on_terminated(self, connection) -> None:
        """The listening connection is gone (a database restart): notifications may
        have been lost, so every live session is read again, and we listen anew."""
        self._listener = None
        if self._stopped:
            return
        log.warning("lost the event listener connection; reconnecting")
        self.kehu.sessions.invalidate(everything=True)
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.ensure_future(self._reconnect())

    async def _reconnect(self) -> None:
        for attempt in range(10_000):
            await asyncio.sleep(RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)])
            try:
                await self._listen()
            except Exception as exc:
                log.warning("event listener: cannot reconnect yet: %s", exc)
                continue
            self.kehu.sessions.invalidate(everything=True)  # what changed while deaf
            log.info("event listener reconnected")
            return

    async def stop(self) -> None:
        self._stopped = True
        for task in (self._dispatcher, self._reconnecting):
            if task is not None:
                task.cancel()
        self._dispatcher = self._reconnecting = None
        if self._listener is not None:
            try:
                await self._listener.close()
            finally:
                self._listener = None

    def _on_notify(self, connection, pid, channel, payload: str) -> None:
        try:
            if channel == SESSIONS_CHANNEL:
                # At once, not through the dispatcher: events queued behind this
                # will find the sessions already invalidated.
                change = orjson.loads(payload)
                self.kehu.sessions.invalidate(change.get("tokens", ()), change.get("owners", ()))
            else:
                self._enqueue(Event.decode(payload))
        except Exception:  # a malformed notification must not kill the listener
            log.exception("dropping malformed %s notification", channel)

    # -- sessions ------------------------------------------------------------------

    async def sessions_changed(self, token_ids: Iterable[int], owner_ids: Iterable[int]) -> None:
        """Called inside the transaction that changed these tokens or owners. On
        PostgreSQL the notification is part of it: delivered at commit, to every
        worker, before anything published later."""
        if self.shared:
            from tortoise.connection import connections

            payload = orjson.dumps({"tokens": sorted(token_ids), "owners": sorted(owner_ids)}).decode()
            await connections.get("default").execute_query("SELECT pg_notify($1, $2)", [SESSIONS_CHANNEL, payload])

    def sessions_committed(self, token_ids: Iterable[int], owner_ids: Iterable[int]) -> None:
        """Called after that transaction committed: the one process of SQLite
        invalidates its sessions here (PostgreSQL's did on the notification)."""
        if not self.shared:
            self.kehu.sessions.invalidate(token_ids, owner_ids)

    # -- events ----------------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        if self.shared and self._listener is not None:
            from tortoise.connection import connections

            await connections.get("default").execute_query(
                "SELECT pg_notify($1, $2)", [CHANNEL, event.encode().decode()]
            )
        else:
            self._enqueue(event)

    def _enqueue(self, event: Event) -> None:
        if not self._subscribers:
            return
        if self._inbox is None:
            self._inbox = asyncio.Queue(INBOX_SIZE)
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.ensure_future(self._dispatch())
        if self._inbox.full():
            log.warning("event dispatcher is behind: dropping the oldest event")
            self._inbox.get_nowait()
        self._inbox.put_nowait(event)

    async def _dispatch(self) -> None:
        assert self._inbox is not None
        while True:
            event = await self._inbox.get()
            try:
                await self.fan_out(event)
            except Exception:  # one event that fails must not stop the others
                log.exception("could not deliver event %s", event.topic)

    async def fan_out(self, event: Event) -> None:
        """Hand ``event`` to every subscriber that wants its topic and may see its
        customer, deciding visibility for all of them with one query."""
        from ..access import customer_scope
        from ..models import Customer
        from .sessions import SessionEnded

        targets = []
        for subscriber in [s for s in self._subscribers if s.wants(event.topic)]:
            try:
                viewer = await subscriber.viewer()
            except SessionEnded:
                continue
            if viewer is not None:
                targets.append((subscriber, viewer))
        if not targets:
            return
        if event.customer_id is None:
            row = None
        else:
            self.visibility_queries += 1
            rows = await Customer.filter(id=event.customer_id).limit(1).values_list("owner_id", "owner__team")
            if not rows:
                return  # no such customer: as if it never happened
            row = rows[0]
        for subscriber, viewer in targets:
            if row is None or customer_scope(viewer).admits(*row):
                subscriber.put(event)

    @asynccontextmanager
    async def subscribe(
        self, topics: Iterable[str] | None, viewer: Callable[[], Awaitable[Viewer | None]]
    ) -> AsyncIterator[asyncio.Queue[Event]]:
        """Events of ``topics`` (all when empty; ``"customer"`` matches
        ``customer.created`` …) about customers ``viewer()`` may see when each
        event is dispatched."""
        subscriber = Subscriber(topics, viewer)
        self._subscribers.add(subscriber)
        try:
            yield subscriber.queue
        finally:
            self._subscribers.discard(subscriber)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
