"""The hook the webhooks plugin defines. Same rules as ``kehu.hookspecs``."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

from kehu.hookspecs import hookspec

if TYPE_CHECKING:
    from kehu import Kehu

    from .models import WebhookDelivery


@hookspec
def kehu_webhook_delivery_due(
    delivery: WebhookDelivery, replay: bool, event_id: int, kehu: Kehu
) -> Awaitable[None] | None:
    """One delivery of an event to one endpoint is due: the webhooks plugin sends it
    (it emits this through the outbox, so a crash neither loses nor repeats a
    delivery's bookkeeping, and each delivery keeps its own retry schedule).

    :param delivery: the delivery (``endpoint`` loaded): its ``message_id`` is the
        ``webhook-id`` header, the same on every attempt and replay.
    :param replay: an admin asked for it again (``replayWebhookDelivery``).
    :param event_id: this outbox event's id.

    Other plugins may implement it to watch deliveries; they must not send them.
    """
