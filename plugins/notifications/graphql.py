"""The notifications plugin's GraphQL surface (admins): the message log and a test
message. No ``from __future__ import annotations``: it breaks strawberry's lazy types."""

import datetime as dt
from typing import Optional

import strawberry
from strawberry.types import Info

from kehu.access import require_viewer
from kehu.errors import ValidationError
from kehu.schema import Payload, global_id_field

from . import models, service

MessageStatusEnum = strawberry.enum(models.MessageStatus, name="NotificationStatus")


@strawberry.type(description="One message to one recipient on one channel (the log; bodies are not kept once sent).")
class NotificationMessage:
    channel: str
    template: str
    language: str
    address: str
    subject: str
    status: MessageStatusEnum
    attempts: int
    error: str
    created_at: dt.datetime
    sent_at: Optional[dt.datetime]

    id = global_id_field("NotificationMessage")
    owner_id = global_id_field("AccountOwner", "owner_id", optional=True, description="The recipient, when staff.")
    customer_id = global_id_field(
        "Customer", "customer_id", optional=True, description="The recipient, when a customer."
    )


@strawberry.type
class NotificationQuery:
    @strawberry.field(description="Messages, newest first (admins).")
    async def notification_messages(
        self, info: Info, status: Optional[MessageStatusEnum] = None, first: int = 20
    ) -> list[NotificationMessage]:
        require_viewer(info.context.viewer).require("notifications.read")
        query = models.Message.all()
        if status is not None:
            query = query.filter(status=status)
        return await query.order_by("-id").limit(max(1, min(first, 100)))


@strawberry.input
class SendTestNotificationInput:
    email: str
    language: str = "zh-CN"


@strawberry.type
class SendTestNotificationPayload(Payload):
    message: Optional[NotificationMessage] = None


@strawberry.type
class NotificationMutation:
    @strawberry.mutation(description="Send a test e-mail, to check the mail settings (admins).")
    async def send_test_notification(self, info: Info, input: SendTestNotificationInput) -> SendTestNotificationPayload:
        viewer = require_viewer(info.context.viewer)
        viewer.require("notifications.test")
        if input.language not in ("zh-CN", "en"):
            raise ValidationError("zh-CN or en", field="language")
        message = await service.queue_test(info.context.kehu, input.email, input.language)
        return SendTestNotificationPayload(message=message)


def register(graphql) -> None:
    graphql.query(NotificationQuery)
    graphql.mutation(NotificationMutation)
