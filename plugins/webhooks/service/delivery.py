"""Sending: one delivery per event and endpoint, attempts until it is delivered.

1. ``fan_out`` (the ``kehu_event_published`` handler) writes a delivery for every
   active endpoint that takes the event's topic — once per event
   (``write_scope(event_id=...)``) — with its body and its ``webhook-id``, and
   emits ``kehu_webhook_delivery_due`` for each, to the background delivery (a
   request never waits for a receiver).
2. ``attempt`` (that hook's handler) checks the address again, POSTs the signed
   body, logs the attempt (status, latency, the start of the answer) and either
   marks the delivery DELIVERED or asks to be called again after the next pause of
   ``retry_seconds``; when those are spent the delivery is FAILED, and so is its
   outbox event.
3. ``replay`` sends a delivery again on an admin's word, with the same
   ``webhook-id``: receivers deduplicate by it, as the specification asks.

A worker killed after the receiver said 200 and before the attempt was logged
sends the delivery again after a restart — with the same ``webhook-id``. That is
the at-least-once promise every webhook sender makes.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
from prometheus_client import Counter, Histogram

from kehu.access import Viewer
from kehu.errors import Conflict, NotFound, ValidationError
from kehu.events import GiveUp, RetryLater
from kehu.writes import emit_later, record_change, write_scope

from ..models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from . import addresses, payloads, signing
from .endpoints import MANAGE, matches, settings_of, signing_secrets

if TYPE_CHECKING:
    from kehu import Kehu
    from kehu.events import Event

log = logging.getLogger("kehu.plugins.webhooks")

DUE = "kehu_webhook_delivery_due"

attempts_total = Counter("kehu_webhook_attempts", "Webhook requests sent, by outcome", ["outcome"])
attempt_seconds = Histogram(
    "kehu_webhook_attempt_seconds", "Time a receiver took to answer", buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
)
deliveries_total = Counter("kehu_webhook_deliveries", "Webhook deliveries finished, by outcome", ["outcome"])


async def fan_out(kehu: Kehu, event: Event, event_id: int) -> int:
    """A delivery per active endpoint taking ``event.topic``; returns how many."""
    endpoints = [e for e in await WebhookEndpoint.filter(active=True).order_by("id") if matches(e.topics, event.topic)]
    if not endpoints:
        return 0
    now = kehu.clock.now()
    async with write_scope(kehu, None, "webhooks.fanOut", actor_label="webhooks", event_id=event_id):
        for endpoint in endpoints:
            delivery = await WebhookDelivery.create(
                endpoint=endpoint,
                event_id=event_id,
                message_id=signing.new_message_id(),
                topic=event.topic,
                body=await payloads.body(kehu, endpoint, event),
                created_at=now,
            )
            record_change("WebhookDelivery", delivery.id, {"status": (None, DeliveryStatus.PENDING)})
            emit_later(DUE, delivery=delivery, replay=False)
    return len(endpoints)


@dataclass
class Outcome:
    status_code: int | None
    seconds: float
    excerpt: str
    error: str

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def post(kehu: Kehu, endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> Outcome:
    """One signed POST to the endpoint's checked address; never raises."""
    settings = settings_of(kehu)
    started = time.perf_counter()
    try:
        target = await addresses.check(endpoint.url, settings)  # again: the DNS answer may have changed
    except ValidationError as exc:
        return Outcome(None, 0.0, "", exc.message[:500])
    body = delivery.body.encode()
    # webhook-timestamp is when the request leaves, read from the wall clock:
    # receivers compare it with theirs to refuse replayed requests.
    sent_at = int(time.time())
    headers = {
        "host": target.host_header,
        "content-type": "application/json",
        "user-agent": "kehu-webhooks",
        **signing.headers(signing_secrets(endpoint, kehu.clock.now()), delivery.message_id, sent_at, body),
    }
    extensions = {"sni_hostname": target.url.host} if target.url.scheme == "https" else {}
    try:
        # No proxies from the environment (they would resolve the name themselves),
        # no redirects (a 3xx could point anywhere): a 3xx is a failed attempt.
        async with httpx.AsyncClient(timeout=settings.timeout_seconds, trust_env=False, follow_redirects=False) as http:
            response = await http.post(target.pinned, content=body, headers=headers, extensions=extensions)
        text = response.text[: settings.response_excerpt_chars]
        return Outcome(response.status_code, time.perf_counter() - started, text, "")
    except httpx.TimeoutException:
        return Outcome(None, time.perf_counter() - started, "", f"no answer within {settings.timeout_seconds:g}s")
    except httpx.HTTPError as exc:
        return Outcome(None, time.perf_counter() - started, "", f"{type(exc).__name__}: {exc}"[:500])


async def attempt(kehu: Kehu, delivery: WebhookDelivery, replay: bool) -> None:
    """The ``kehu_webhook_delivery_due`` handler: send, log, decide what next."""
    delivery = await WebhookDelivery.get_or_none(id=delivery.id).select_related("endpoint")
    if delivery is None or (delivery.status is DeliveryStatus.DELIVERED and not replay):
        return  # delivered before this event came again
    endpoint = delivery.endpoint
    if not endpoint.active and not replay:
        outcome = Outcome(None, 0.0, "", "the endpoint is disabled")
    else:
        outcome = await post(kehu, endpoint, delivery)
    attempts_total.labels("ok" if outcome.ok else "failed").inc()
    attempt_seconds.observe(outcome.seconds)
    settings = settings_of(kehu)
    now = kehu.clock.now()
    spent = replay or not endpoint.active or delivery.attempts + 1 > len(settings.retry_seconds)
    if outcome.ok:
        status = DeliveryStatus.DELIVERED
    else:
        status = DeliveryStatus.FAILED if spent else DeliveryStatus.PENDING
        if replay and delivery.status is DeliveryStatus.DELIVERED:
            status = DeliveryStatus.DELIVERED  # a failed replay does not undo the first delivery
    async with write_scope(kehu, None, "webhooks.attempt", actor_label="webhooks"):
        await WebhookAttempt.create(
            delivery=delivery,
            at=now,
            status_code=outcome.status_code,
            latency_ms=round(outcome.seconds * 1000),
            response_excerpt=outcome.excerpt,
            error=outcome.error,
            replay=replay,
        )
        values = {"attempts": delivery.attempts + 1, "last_status_code": outcome.status_code, "status": status}
        if outcome.ok and delivery.delivered_at is None:
            values["delivered_at"] = now
        await WebhookDelivery.filter(id=delivery.id).update(**values)
        record_change("WebhookDelivery", delivery.id, {"status": (delivery.status, status)})
    if outcome.ok:
        deliveries_total.labels("delivered").inc()
        return
    what = outcome.error or f"HTTP {outcome.status_code}"
    if status is not DeliveryStatus.PENDING:
        if status is DeliveryStatus.FAILED:
            deliveries_total.labels("failed").inc()
        raise GiveUp(
            f"endpoint {endpoint.id} ({addresses.redacted(endpoint.url)}): {what} (attempt {delivery.attempts + 1})"
        )
    raise RetryLater(
        settings.retry_seconds[delivery.attempts],
        f"endpoint {endpoint.id} ({addresses.redacted(endpoint.url)}): {what}",
    )


async def replay(kehu: Kehu, viewer: Viewer | None, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again (same body, same ``webhook-id``), in the background."""
    if viewer is not None:
        viewer.require(MANAGE)
    delivery = await WebhookDelivery.get_or_none(id=delivery_id).select_related("endpoint")
    if delivery is None:
        raise NotFound("no such webhook delivery", field="id")
    if delivery.status is DeliveryStatus.PENDING:
        raise Conflict("this delivery is still being retried", field="id", code="STILL_PENDING")
    emit_later(DUE, delivery=delivery, replay=True)
    record_change("WebhookDelivery", delivery.id, {"replayed": (None, True)})
    return delivery


def delivery_log(viewer: Viewer | None, endpoint_id: int | None, status: DeliveryStatus | None):
    """The deliveries (of one endpoint, in one status), unordered: the GraphQL
    lists page through it by keyset, the CLI takes the newest."""
    if viewer is not None:
        viewer.require(MANAGE)
    query = WebhookDelivery.all()
    if endpoint_id is not None:
        query = query.filter(endpoint_id=endpoint_id)
    if status is not None:
        query = query.filter(status=status)
    return query


async def deliveries(
    viewer: Viewer | None, endpoint_id: int | None, status: DeliveryStatus | None, limit: int = 50
) -> list[WebhookDelivery]:
    return await delivery_log(viewer, endpoint_id, status).order_by("-id").limit(limit)


async def prune(kehu: Kehu) -> int:
    """Forget deliveries (and their attempts) older than ``log_days``."""
    cutoff = kehu.clock.now() - dt.timedelta(days=settings_of(kehu).log_days)
    return await WebhookDelivery.filter(created_at__lt=cutoff).exclude(status=DeliveryStatus.PENDING).delete()
