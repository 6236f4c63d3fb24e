"""Writes: one transaction, exactly one audit entry, events after commit.

Every write — a GraphQL mutation of the core or of a plugin, a CLI import batch —
runs inside ``write_scope``. Services record what they changed with
``record_change`` and what happened with ``emit``; the scope writes the audit
entry and the events (the outbox, ``kehu.server.outbox``) in the same transaction
as the change — no change without its entry and its events, none of them without
the change — and, only after the commit, hands the events to the plugins. A
handler that fails is logged with its plugin's name and retried later; the write
stands.

An event handler that writes passes the event's id: ``write_scope(kehu, None,
"loyalty.accruePurchase", event_id=event_id)`` commits at most once per event and
operation, however often the event is delivered; a repeated delivery is rolled
back and raises ``AlreadyHandled``, which kehu counts as done.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from .events import Event, core_event
from .models import AuditEntry

if TYPE_CHECKING:
    from .access import Viewer
    from .server.runtime import Kehu


log = logging.getLogger(__name__)


class Rollback(Exception):
    """Raised inside a scope to undo it without an error reaching the caller."""


class AlreadyHandled(Exception):
    """A ``write_scope(event_id=...)`` whose event was handled before by the same
    operation: nothing is written again. Event handlers let it pass; kehu's
    delivery counts it as success."""


def utcnow() -> dt.datetime:
    """Now, timezone-aware UTC, from the system clock (code with a ``kehu`` uses ``kehu.clock.now()``)."""
    return dt.datetime.now(dt.UTC)


def audit_value(value: Any) -> Any:
    """A JSON-safe form of a field value for the audit log."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [audit_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): audit_value(v) for k, v in value.items()}
    if hasattr(value, "pk"):
        return value.pk
    return value


@dataclass
class WriteScope:
    """The write in progress: what ``write_scope`` yields, and what ``record_change``,
    ``emit``, ``emit_later`` and ``publish`` add to."""

    kehu: Kehu | None
    viewer: Viewer | None
    operation: str
    request_id: str
    entity_type: str | None = None
    entity_id: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    live: list[Event] = field(default_factory=list)
    # Events for the background delivery only (``emit_later``).
    later: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # Account owners and tokens this write changed: their live sessions are read again.
    owners: set[int] = field(default_factory=set)
    tokens: set[int] = field(default_factory=set)

    def record_change(
        self, entity_type: str, entity_id: Any, changes: dict[str, tuple[Any, Any]] | None = None
    ) -> None:
        """Name what this write changed: ``{field: (before, after)}``.

        The first entity recorded is the one the audit entry is about; changes to
        other entities in the same write (a complaint that also logs an
        interaction) are kept under ``"<Type>:<id>"`` in the same entry.
        """
        if entity_type in SESSION_ENTITIES and entity_id is not None:
            getattr(self, SESSION_ENTITIES[entity_type]).add(int(entity_id))
        entity_id = None if entity_id is None else str(entity_id)
        if self.entity_type is None:
            self.entity_type, self.entity_id = entity_type, entity_id
        target = self.changes
        if (entity_type, entity_id) != (self.entity_type, self.entity_id):
            target = self.changes.setdefault(f"{entity_type}:{entity_id}", {})
        for name, (before, after) in (changes or {}).items():
            target[name] = {"before": audit_value(before), "after": audit_value(after)}

    def emit(self, hook: str, **kwargs: Any) -> None:
        """Queue an event hook call (``"kehu_customer_created"``) for after the commit.
        A hook with no spec raises here, so the write fails instead of the event
        going nowhere."""
        if self.kehu is not None:
            self.kehu.hooks.check(hook)
        self.events.append((hook, kwargs))

    def emit_later(self, hook: str, **kwargs: Any) -> None:
        """Queue an event hook call that the worker does not deliver before its
        response: the background delivery runs it (at once, in this worker, and
        within ``[events] poll_seconds`` anywhere). For handlers that wait on the
        network — sending a webhook, an e-mail."""
        self.later.append((hook, kwargs))

    def publish(self, event: Event) -> None:
        """Queue a live event for subscribers, sent after the commit."""
        self.live.append(event)


# A change to one of these ends or alters the sessions of an owner / of one token.
SESSION_ENTITIES = {"AccountOwner": "owners", "AccessToken": "tokens"}

_current: ContextVar[WriteScope | None] = ContextVar("kehu_write_scope", default=None)


def current_scope() -> WriteScope:
    """The write scope this code runs in; ``RuntimeError`` outside any."""
    scope = _current.get()
    if scope is None:
        raise RuntimeError("a write must run inside kehu.writes.write_scope()")
    return scope


def record_change(entity_type: str, entity_id: Any, changes: dict[str, tuple[Any, Any]] | None = None) -> None:
    """Say what the current write changed: ``{field: (before, after)}`` of
    ``entity_type`` ``entity_id`` (see ``WriteScope.record_change``)."""
    current_scope().record_change(entity_type, entity_id, changes)


def emit(hook: str, **kwargs: Any) -> None:
    """Queue event hook ``hook`` (``"kehu_customer_created"``, a plugin's own) with
    ``kwargs`` for delivery right after the current write commits, before the
    response; nothing is sent if the write rolls back."""
    current_scope().emit(hook, **kwargs)


def emit_later(hook: str, **kwargs: Any) -> None:
    """``emit``, but delivered in the background, not before the response."""
    current_scope().emit_later(hook, **kwargs)


def publish(topic: str, *, customer_id: int | None, node_id: str | None = None, **data: Any) -> None:
    """Tell subscribers, after the commit, that something happened:
    ``publish("complaint.status_changed", customer_id=c.id, node_id=gid, status="RESOLVED")``.
    ``customer_id`` decides who may receive it (None: every signed-in user);
    ``data`` must hold no personal data."""
    current_scope().publish(Event(topic, customer_id, node_id, data))


@asynccontextmanager
async def write_scope(
    kehu: Kehu | None,
    viewer: Viewer | None,
    operation: str,
    *,
    request_id: str | None = None,
    actor_label: str | None = None,
    event_id: int | None = None,
) -> AsyncIterator[WriteScope]:
    """Run a write: transaction + one audit entry + events (in the outbox) + their
    delivery after the commit.

    Raise ``Rollback`` (or any exception) inside to undo everything, audit entry
    and events included. ``event_id``: the event whose handler makes this write;
    the write then happens at most once per event and ``operation``: a repeat is
    rolled back at the commit, on the audit entry's unique (event, operation), and
    raises ``AlreadyHandled`` (nothing is checked first: repeats are rare, and
    every delivery would pay for the check).
    """
    scope = WriteScope(kehu, viewer, operation, request_id or uuid.uuid4().hex)
    token = _current.set(scope)
    live: list[Event] = []
    recorded: list[Any] = []
    try:
        async with in_transaction():
            yield scope
            await AuditEntry.create(
                at=kehu.clock.now() if kehu is not None else utcnow(),
                actor_id=viewer.id if viewer else None,
                actor_label=actor_label or (viewer.label if viewer else "system"),
                operation=operation,
                entity_type=scope.entity_type,
                entity_id=scope.entity_id,
                changes=scope.changes,
                request_id=scope.request_id,
                event_id=event_id,
            )
            if kehu is not None:
                live = [e for e in (core_event(hook, kwargs) for hook, kwargs in scope.events) if e] + scope.live
                recorded = await kehu.outbox.record(scope, live, actor=viewer.owner if viewer else None)
                if scope.owners or scope.tokens:
                    await kehu.events.sessions_changed(scope.tokens, scope.owners)
    except IntegrityError:
        # This event's entry is committed already (an earlier or a racing delivery).
        if event_id is not None and await AuditEntry.exists(event_id=event_id, operation=operation):
            raise AlreadyHandled(f"event {event_id}: {operation} was done before") from None
        raise
    finally:
        _current.reset(token)
    if kehu is None:
        return
    if scope.owners or scope.tokens:
        kehu.events.sessions_committed(scope.tokens, scope.owners)
    await kehu.outbox.deliver_recorded(recorded)
    for event in live:
        try:
            await kehu.events.publish(event)
        except Exception:  # subscribers are best effort; the write stands
            log.exception("could not publish event %s", event.topic)
