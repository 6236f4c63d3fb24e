"""The webhooks plugin's GraphQL surface (admins): endpoints, their delivery log,
registering, rotating secrets, replaying. Resolvers translate IDs and call
``service``. No ``from __future__ import annotations``: it breaks strawberry's
lazy types."""

import datetime as dt
from typing import Annotated, Optional

import strawberry
from strawberry.types import Info

from kehu.access import require_viewer
from kehu.schema import (
    Connection,
    ModelNode,
    Payload,
    describe_enum_values,
    global_id_field,
    paginate,
    pk_from_global_id,
)

from . import models, service

DeliveryStatusEnum = describe_enum_values(
    strawberry.enum(models.DeliveryStatus, name="WebhookDeliveryStatus", description="Where a delivery stands."),
    {
        "PENDING": "Not sent yet, or waiting for its next attempt.",
        "DELIVERED": "The receiver answered with a 2xx status.",
        "FAILED": "Every retry failed: replay it when the receiver is back.",
    },
)
_pk = pk_from_global_id
# The delivery log grows with every event: its lists page by keyset, newest first.
NEWEST_FIRST = ("-id",)
StatusArgument = Annotated[
    Optional[DeliveryStatusEnum], strawberry.argument(description="Only deliveries in this status.")
]


@strawberry.type(description="One HTTP request of a delivery.")
class WebhookAttempt:
    at: dt.datetime = strawberry.field(description="When the request was sent.")
    status_code: Optional[int] = strawberry.field(description="The receiver's HTTP status; null: no answer.")
    latency_ms: int = strawberry.field(description="How long the receiver took to answer, in milliseconds.")
    response_excerpt: str = strawberry.field(description="The start of the receiver's answer.")
    error: str = strawberry.field(description="Why there was no answer (timeout, refused address …).")
    replay: bool = strawberry.field(description="true: sent by replayWebhookDelivery, not by the retries.")


@strawberry.type(description="One event sent to one endpoint, attempted until delivered or its retries are spent.")
class WebhookDelivery(ModelNode, model=models.WebhookDelivery):
    topic: str = strawberry.field(description="The event's topic, e.g. complaint.filed.")
    status: DeliveryStatusEnum = strawberry.field(description="Waiting, delivered or failed.")
    attempts: int = strawberry.field(description="Requests sent so far.")
    last_status_code: Optional[int] = strawberry.field(
        description="The receiver's HTTP status on the last attempt; null: none yet, or no answer."
    )
    created_at: dt.datetime = strawberry.field(description="When the event was handed to this endpoint.")
    delivered_at: Optional[dt.datetime] = strawberry.field(
        description="When the receiver answered 2xx; null until then."
    )

    @strawberry.field(description="The webhook-id header: the same on every attempt and replay.")
    def message_id(self) -> str:
        return self.message_id

    @strawberry.field(
        description="The JSON body sent (the same on every attempt), the personal fields of its object"
        " shown as you may see them."
    )
    def body(self, info: Info) -> str:
        from .service.payloads import as_seen_by

        return as_seen_by(info.context.kehu, info.context.viewer, self.body)

    endpoint_id = global_id_field("WebhookEndpoint", "endpoint_id", description="The endpoint's global ID.")

    @strawberry.field(description="Every attempt, oldest first.")
    async def attempt_log(self) -> list[WebhookAttempt]:
        return await models.WebhookAttempt.filter(delivery_id=self.id).order_by("at", "id")


@strawberry.type(description="A receiver of signed webhooks. Its secret is shown only when created or rotated.")
class WebhookEndpoint(ModelNode, model=models.WebhookEndpoint):
    url: str = strawberry.field(description="Where deliveries are POSTed (https, a public address).")
    description: str = strawberry.field(description="What the endpoint is for; may be empty.")
    topics: list[str] = strawberry.field(description='Topics sent: exact ("complaint.filed"), a prefix, or "*".')
    active: bool = strawberry.field(description="false: no new deliveries are made to it.")
    role: Optional[str] = strawberry.field(description="Whose view payloads carry (null: ids and facts only).")
    previous_secret_expires_at: Optional[dt.datetime] = strawberry.field(
        description="Until when the secret before the last rotation still signs."
    )
    created_at: dt.datetime = strawberry.field(description="When it was registered.")
    updated_at: dt.datetime = strawberry.field(description="When it last changed.")

    @strawberry.field(description="Its delivery log, newest first.")
    async def deliveries(
        self,
        info: Info,
        status: StatusArgument = None,
        first: Optional[int] = None,
        after: Optional[str] = None,
        last: Optional[int] = None,
        before: Optional[str] = None,
    ) -> Connection[WebhookDelivery]:
        log = service.delivery_log(require_viewer(info.context.viewer), self.id, status)
        return await paginate(log, first, after, last=last, before=before, order_by=NEWEST_FIRST)


@strawberry.type
class WebhookQuery:
    @strawberry.field(description="Registered webhook endpoints (admins).")
    async def webhook_endpoints(self, info: Info) -> list[WebhookEndpoint]:
        return await service.list_endpoints(require_viewer(info.context.viewer))

    @strawberry.field(description="Deliveries of every endpoint, newest first (admins); FAILED: those to replay.")
    async def webhook_deliveries(
        self,
        info: Info,
        status: StatusArgument = None,
        first: Optional[int] = None,
        after: Optional[str] = None,
        last: Optional[int] = None,
        before: Optional[str] = None,
    ) -> Connection[WebhookDelivery]:
        log = service.delivery_log(require_viewer(info.context.viewer), None, status)
        return await paginate(log, first, after, last=last, before=before, order_by=NEWEST_FIRST)


@strawberry.input(description="A new webhook endpoint.")
class CreateWebhookEndpointInput:
    url: str = strawberry.field(description="Where to POST deliveries: https, on an address the settings allow.")
    topics: list[str] = strawberry.field(
        description='Topics to send: exact ("complaint.filed"), a prefix ("complaint."), or "*" for all.'
    )
    description: str = strawberry.field(default="", description="What the endpoint is for.")
    active: bool = strawberry.field(default=True, description="false: registered, but sent nothing yet.")
    role: Optional[str] = strawberry.field(
        default=None, description="ADMIN or ANALYST: payloads then carry that role's view of the object."
    )


@strawberry.input(description="Only the fields sent change.")
class UpdateWebhookEndpointInput:
    id: strawberry.ID = strawberry.field(description="The endpoint's global ID.")
    url: Optional[str] = strawberry.field(default=strawberry.UNSET, description="A new URL.")
    topics: Optional[list[str]] = strawberry.field(
        default=strawberry.UNSET, description="All the topics to send (replaces them)."
    )
    description: Optional[str] = strawberry.field(default=strawberry.UNSET, description="What it is for.")
    active: Optional[bool] = strawberry.field(default=strawberry.UNSET, description="false: switch it off.")
    role: Optional[str] = strawberry.field(
        default=strawberry.UNSET, description="ADMIN or ANALYST (payloads carry that role's view); null: none."
    )


@strawberry.input(description="The endpoint whose signing secret to replace.")
class RotateWebhookSecretInput:
    id: strawberry.ID = strawberry.field(description="The endpoint's global ID.")
    keep_previous_hours: float = strawberry.field(
        default=24, description="How long the old secret keeps signing too (0: not at all)."
    )


@strawberry.input(description="The delivery to send again.")
class ReplayWebhookDeliveryInput:
    id: strawberry.ID = strawberry.field(description="The delivery's global ID (a finished one).")


@strawberry.type(description="The endpoint as written, or why nothing was.")
class WebhookEndpointPayload(Payload):
    webhook_endpoint: Optional[WebhookEndpoint] = strawberry.field(
        default=None, description="null when there are userErrors."
    )
    secret: Optional[str] = strawberry.field(
        default=None, description="The signing secret (whsec_…): shown here, when created or rotated, only."
    )


@strawberry.type(description="The delivery, queued to be sent again, or why not.")
class WebhookDeliveryPayload(Payload):
    webhook_delivery: Optional[WebhookDelivery] = strawberry.field(
        default=None, description="null when there are userErrors."
    )


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
