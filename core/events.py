"""Live events: the record of *that* something happened to which object.

An ``Event`` names a topic, the customer it concerns (for visibility), the
object's global ID and a few non-personal facts (a status, a kind). It never
carries personal data: a client that wants details queries them, and the query
goes through access rules and masking like any other. Plugins publish their own
with ``kehu.writes.publish``; the core's come from its event hooks
(``core_event``). Delivery to subscribers is the server's event bus
(``kehu.server.eventbus``).
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


@dataclass(frozen=True)
class Event:
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
