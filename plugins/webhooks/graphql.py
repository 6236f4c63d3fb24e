"""The webhooks plugin's GraphQL surface (admins): endpoints, their delivery log,
registering, rotating secrets, replaying. Resolvers translate IDs and call
``service``. No ``from __future__ import annotations``: it breaks strawberry's
lazy types."""

import datetime as dt
from typing import Optional

import strawberry
from strawberry.types import Info

from kehu.access import require_viewer
from kehu.schema import ModelNode, Payload, global_id_field, pk_from_global_id

from . import models, service

DeliveryStatusEnum = strawberry.enum(
    models.DeliveryStatus, name="WebhookDeliveryStatus", description="Where a delivery stands."
)
_pk = pk_from_global_id


@strawberry.type(description="One HTTP request of a delivery.")
class WebhookAttempt:
    at: dt.datetime
    status_code: Optional[int] = strawberry.field(description="The receiver's HTTP status; null: no answer.")
    latency_ms: int
    response_excerpt: str = strawberry.field(description="The start of the receiver's answer.")
    error: str = strawberry.field(description="Why there was no answer (timeout, refused address …).")
    replay: bool


@strawberry.type(description="One event sent to one endpoint, attempted until delivered or its retries are spent.")
class WebhookDelivery(ModelNode, model=models.WebhookDelivery):
    topic: str
    status: DeliveryStatusEnum
    attempts: int
    last_status_code: Optional[int]
    created_at: dt.datetime
    delivered_at: Optional[dt.datetime]

    @strawberry.field(description="The webhook-id header: the same on every attempt and replay.")
    def message_id(self) -> str:
        return self.message_id

    @strawberry.field(description="The JSON body sent (the same on every attempt).")
    def body(self) -> str:
        return self.body

    endpoint_id = global_id_field("WebhookEndpoint", "endpoint_id", description="The endpoint's global ID.")

    @strawberry.field(description="Every attempt, oldest first.")
    async def attempt_log(self) -> list[WebhookAttempt]:
        return await models.WebhookAttempt.filter(delivery_id=self.id).order_by("at", "id")


@strawberry.type(description="A receiver of signed webhooks. Its secret is shown only when created or rotated.")
class WebhookEndpoint(ModelNode, model=models.WebhookEndpoint):
    url: str
    description: str
    topics: list[str] = strawberry.field(description='Topics sent: exact ("complaint.filed"), a prefix, or "*".')
    active: bool
    role: Optional[str] = strawberry.field(description="Whose view payloads carry (null: ids and facts only).")
    previous_secret_expires_at: Optional[dt.datetime] = strawberry.field(
        description="Until when the secret before the last rotation still signs."
    )
    created_at: dt.datetime
    updated_at: dt.datetime

    @strawberry.field(description="The delivery log, newest first.")
    async def deliveries(
        self, info: Info, status: Optional[DeliveryStatusEnum] = None, first: int = 20
    ) -> list[WebhookDelivery]:
        viewer = require_viewer(info.context.viewer)
        return await service.deliveries(viewer, self.id, status, limit=max(1, min(first, 100)))


@strawberry.type
class WebhookQuery:
    @strawberry.field(description="Registered webhook endpoints (admins).")
    async def webhook_endpoints(self, info: Info) -> list[WebhookEndpoint]:
        return await service.list_endpoints(require_viewer(info.context.viewer))

    @strawberry.field(description="Deliveries of every endpoint, newest first (admins); FAILED: those to replay.")
    async def webhook_deliveries(
        self, info: Info, status: Optional[DeliveryStatusEnum] = None, first: int = 20
    ) -> list[WebhookDelivery]:
        viewer = require_viewer(info.context.viewer)
        return await service.deliveries(viewer, None, status, limit=max(1, min(first, 100)))


@strawberry.input
class CreateWebhookEndpointInput:
    url: str
    topics: list[str]
    description: str = ""
    active: bool = True
    role: Optional[str] = strawberry.field(
        default=None, description="ADMIN or ANALYST: payloads then carry that role's view of the object."
    )


@strawberry.input
class UpdateWebhookEndpointInput:
    id: strawberry.ID
    url: Optional[str] = strawberry.UNSET
    topics: Optional[list[str]] = strawberry.UNSET
    description: Optional[str] = strawberry.UNSET
    active: Optional[bool] = strawberry.UNSET
    role: Optional[str] = strawberry.UNSET


@strawberry.input
class RotateWebhookSecretInput:
    id: strawberry.ID
    keep_previous_hours: float = strawberry.field(
        default=24, description="How long the old secret keeps signing too (0: not at all)."
    )


@strawberry.input
class ReplayWebhookDeliveryInput:
    id: strawberry.ID


@strawberry.type
class WebhookEndpointPayload(Payload):
    webhook_endpoint: Optional[WebhookEndpoint] = None
    secret: Optional[str] = strawberry.field(
        default=None, description="The signing secret (whsec_…): shown here, when created or rotated, only."
    )


@strawberry.type
class WebhookDeliveryPayload(Payload):
    webhook_delivery: Optional[WebhookDelivery] = None


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(description="Register a webhook endpoint (admins). The payload shows its secret once.")
    async def create_webhook_endpoint(self, info: Info, input: CreateWebhookEndpointInput) -> WebhookEndpointPayload:
        viewer = require_viewer(info.context.viewer)
        data = {"url": input.url, "topics": input.topics, "description": input.description, "active": input.active}
        data["role"] = input.role
        endpoint = await service.create_endpoint(info.context.kehu, viewer, data)
        return WebhookEndpointPayload(webhook_endpoint=endpoint, secret=endpoint.secret)

    @strawberry.mutation(description="Change an endpoint's URL, topics, description, role, or switch it off (admins).")
    async def update_webhook_endpoint(self, info: Info, input: UpdateWebhookEndpointInput) -> WebhookEndpointPayload:
        viewer = require_viewer(info.context.viewer)
        data = {
            name: getattr(input, name)
            for name in ("url", "topics", "description", "active", "role")
            if getattr(input, name) is not strawberry.UNSET
        }
        endpoint = await service.update_endpoint(info.context.kehu, viewer, _pk(input.id, "WebhookEndpoint"), data)
        return WebhookEndpointPayload(webhook_endpoint=endpoint)

    @strawberry.mutation(description="A new signing secret; the old one keeps signing for a while (admins).")
    async def rotate_webhook_secret(self, info: Info, input: RotateWebhookSecretInput) -> WebhookEndpointPayload:
        viewer = require_viewer(info.context.viewer)
        endpoint = await service.rotate_secret(
            info.context.kehu, viewer, _pk(input.id, "WebhookEndpoint"), input.keep_previous_hours
        )
        return WebhookEndpointPayload(webhook_endpoint=endpoint, secret=endpoint.secret)

    @strawberry.mutation(description="Send a finished delivery again, with the same webhook-id (admins).")
    async def replay_webhook_delivery(self, info: Info, input: ReplayWebhookDeliveryInput) -> WebhookDeliveryPayload:
        viewer = require_viewer(info.context.viewer)
        delivery = await service.replay(info.context.kehu, viewer, _pk(input.id, "WebhookDelivery"))
        return WebhookDeliveryPayload(webhook_delivery=delivery)


async def _endpoint_node(info: Info, pk: int):
    viewer = info.context.viewer
    if viewer is None or not viewer.can(service.MANAGE):
        return None
    return await models.WebhookEndpoint.get_or_none(id=pk)


async def _delivery_node(info: Info, pk: int):
    viewer = info.context.viewer
    if viewer is None or not viewer.can(service.MANAGE):
        return None
    return await models.WebhookDelivery.get_or_none(id=pk)


def register(graphql) -> None:
    graphql.query(WebhookQuery)
    graphql.mutation(WebhookMutation)
    graphql.types(WebhookEndpoint, WebhookDelivery)
    graphql.node("WebhookEndpoint", _endpoint_node)
    graphql.node("WebhookDelivery", _delivery_node)
