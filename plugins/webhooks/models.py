"""The webhooks plugin's tables: endpoints, one delivery per event and endpoint,
and every attempt of it (the delivery log)."""

from enum import Enum

from tortoise import fields
from tortoise.models import Model


class DeliveryStatus(str, Enum):
    PENDING = "PENDING"  # not sent yet, or waiting for its next attempt
    DELIVERED = "DELIVERED"  # the receiver answered 2xx
    FAILED = "FAILED"  # every retry failed: replay it by hand


class WebhookEndpoint(Model):
    """A receiver registered by an admin: where to send which topics, signed with which secret."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    url = fields.CharField(max_length=2000)
    description = fields.CharField(max_length=300, default="")
    # Topics sent: exact ("complaint.filed"), a prefix ("complaint") or "*".
    topics = fields.JSONField(default=list)
    # "whsec_" + base64: the Standard Webhooks form. Kept until rotated away.
    secret = fields.CharField(max_length=200)
    # After a rotation the old secret signs too, until previous_secret_expires_at.
    previous_secret = fields.CharField(max_length=200, null=True)
    previous_secret_expires_at = fields.DatetimeField(null=True)
    active = fields.BooleanField(default=True)
    # With a role, payloads carry that role's view of the object (masked as the
    # masking plugin says), read as this service account; without, ids and facts.
    role = fields.CharField(max_length=16, null=True)
    service_owner = fields.ForeignKeyField(
        "core.AccountOwner", related_name=False, null=True, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "webhooks_endpoint"


class WebhookDelivery(Model):
    """One event for one endpoint, sent until it is delivered or its retries are spent."""

    _no_comments = True

    id = fields.BigIntField(primary_key=True)
    endpoint = fields.ForeignKeyField("webhooks.WebhookEndpoint", related_name="deliveries", on_delete=fields.CASCADE)
    # The outbox event (kehu_event_published) this delivery forwards.
    event_id = fields.BigIntField()
    # The webhook-id header: the same on every attempt and replay.
    message_id = fields.CharField(max_length=64, unique=True)
    topic = fields.CharField(max_length=100)
    # The JSON body, built once: every attempt sends the same bytes.
    body = fields.TextField()
    status = fields.CharEnumField(DeliveryStatus, max_length=16, default=DeliveryStatus.PENDING)
    attempts = fields.IntField(default=0)
    last_status_code = fields.IntField(null=True)
    created_at = fields.DatetimeField()
    delivered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhooks_delivery"
        unique_together = (("endpoint_id", "event_id"),)
        indexes = (("endpoint_id", "created_at"), ("status", "created_at"))


class WebhookAttempt(Model):
    """One HTTP request of a delivery: what came back and how long it took."""

    _no_comments = True

    id = fields.BigIntField(primary_key=True)
    delivery = fields.ForeignKeyField("webhooks.WebhookDelivery", related_name="attempt_log", on_delete=fields.CASCADE)
    at = fields.DatetimeField()
    status_code = fields.IntField(null=True)
    latency_ms = fields.IntField(default=0)
    response_excerpt = fields.TextField(default="")
    error = fields.CharField(max_length=500, default="")
    replay = fields.BooleanField(default=False)

    class Meta:
        table = "webhooks_attempt"
        indexes = (("delivery_id", "at"),)
