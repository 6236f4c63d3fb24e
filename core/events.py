"""Events: the record of *that* something happened to which object.

An ``Event`` names a topic, the customer it concerns (for visibility), the
object's global ID and a few non-personal facts (a status, a kind). It never
carries personal data: a client that wants details queries them, and the query
goes through access rules and masking like any other. Plugins publish their own
with ``kehu.writes.publish``; the core's come from its event hooks
(``core_event``). Delivery to subscribers is the server's event bus
(``kehu.server.eventbus``).

The same events reach plugins through the outbox, durably: a plugin implementing
``kehu_event_published(event, event_id)`` gets every one of them after its write
committed, at least once (the webhooks plugin forwards them). ``RetryLater`` is
what a handler raises to be called again later without counting as a failure,
``GiveUp`` what it raises to stop the retries at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from .ids import to_global_id

# Core topics, published after each core write.
CORE_TOPICS = {
    "kehu_customer_created": "customer.created",
    "kehu_customer_updated": "customer.updated",
    "kehu_customer_archived": "customer.archived",
    "kehu_owner_assigned": "customer.owner_assigned",
    "kehu_interaction_logged": "interaction.logged",
}


# The hook that delivers every ``Event`` to plugins (through the outbox).
PUBLISHED_HOOK = "kehu_event_published"


class RetryLater(Exception):
    """Raised by an event handler that cannot act *now* (a rate limit, a receiver
    asking to wait): kehu calls it again after ``seconds``, and the attempt is not
    counted as a failure."""

    def __init__(self, seconds: float, reason: str = ""):
        super().__init__(reason or f"retry in {seconds:g}s")
        self.seconds = max(float(seconds), 0.0)
        self.reason = reason


class GiveUp(Exception):
    """Raised by an event handler that keeps its own retry schedule (the webhooks
    plugin does) once it is spent: the event is FAILED at once — listed by ``kehu
    events failed``, and ``kehu events retry`` calls the handler again."""


@dataclass(frozen=True)
class Secret:
    """An event argument that must not outlive its delivery — a survey link with its
    token, say: ``emit("kehu_x", link=Secret(link))``. Handlers receive the plain
    value; the outbox keeps it only until every handler has succeeded."""

    value: Any

    def __repr__(self) -> str:
        return "Secret(…)"


@dataclass(frozen=True)
class Event:
    """A live event, as the ``events`` subscription delivers it: ``topic``
    (``customer.created``), the customer it concerns (who may hear of it), the
    object's global id and non-personal ``data``. Plugins make them with
    ``kehu.writes.publish``."""

    topic: str
    customer_id: int | None = None
    node_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())

    def encode(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def decode(cls, raw: str | bytes) -> "Event":
        return cls(**orjson.loads(raw))


def core_event(hook: str, kwargs: dict[str, Any]) -> Event | None:
    """The live event for a core event hook call, or None."""
    topic = CORE_TOPICS.get(hook)
    if topic is None:
        return None
    if hook == "kehu_interaction_logged":
        interaction = kwargs["interaction"]
        return Event(
            topic,
            interaction.customer_id,
            to_global_id("Interaction", interaction.id),
            {"kind": getattr(interaction.kind, "value", interaction.kind)},
        )
    customer = kwargs["customer"]
    data: dict[str, Any] = {}
    if hook == "kehu_customer_updated":
        data["fields"] = sorted(kwargs.get("changes", {}))
    return Event(topic, customer.id, to_global_id("Customer", customer.id), data)
