"""The notifications plugin's GraphQL surface (admins): the message log and a test
message. No ``from __future__ import annotations``: it breaks strawberry's lazy types."""

import datetime as dt
from typing import Annotated, Optional

import strawberry
from strawberry.types import Info

from kehu.access import require_viewer
from kehu.errors import ValidationError
from kehu.schema import Connection, ModelNode, Payload, describe_enum_values, global_id_field, paginate

from . import models, service

READ = "notifications.read"

MessageStatusEnum = describe_enum_values(
    strawberry.enum(models.MessageStatus, name="NotificationStatus", description="Where a message stands."),
    {
        "QUEUED": "Waiting to be sent, or for its next try.",
        "SENT": "Handed to the mail server.",
        "FAILED": "Every retry failed.",
        "SKIPPED": "Not sent: the recipient has no address, or mail is not configured.",
    },
)


@strawberry.type(description="One message to one recipient on one channel (the log; bodies are not kept once sent).")
class NotificationMessage(ModelNode, model=models.Message):
    channel: str = strawberry.field(description="How it is sent: email.")
    template: str = strawberry.field(description="The template it was written from, e.g. complaints.escalated.")
    language: str = strawberry.field(description="The language it was written in (zh-CN, en).")
    address: str = strawberry.field(description="Where it was sent; empty when there was no address.")
    subject: str = strawberry.field(description="Its subject line.")
    status: MessageStatusEnum = strawberry.field(description="Queued, sent, failed or skipped.")
    attempts: int = strawberry.field(description="Tries so far.")
    error: str = strawberry.field(description="Why the last try failed, or why it was skipped; empty otherwise.")
    created_at: dt.datetime = strawberry.field(description="When it was queued.")
    sent_at: Optional[dt.datetime] = strawberry.field(description="When the mail server took it; null until then.")

    owner_id = global_id_field("AccountOwner", "owner_id", optional=True, description="The recipient, when staff.")
    customer_id = global_id_field(
        "Customer", "customer_id", optional=True, description="The recipient, when a customer."
    )


@strawberry.type
class NotificationQuery:
    @strawberry.field(description="Messages, newest first (admins).")
    async def notification_messages(
        self,
        info: Info,
        status: Annotated[
            Optional[MessageStatusEnum], strawberry.argument(description="Only messages in this status.")
        ] = None,
        first: Optional[int] = None,
        after: Optional[str] = None,
        last: Optional[int] = None,
        before: Optional[str] = None,
    ) -> Connection[NotificationMessage]:
        require_viewer(info.context.viewer).require(READ)
        query = models.Message.all()
        if status is not None:
            query = query.filter(status=status)
        # The log grows with every message: it pages by keyset, newest first.
        return await paginate(query, first, after, last=last, before=before, order_by=("-id",))


@strawberry.input(description="Where to send a test e-mail.")
class SendTestNotificationInput:
    email: str = strawberry.field(description="The address to send it to.")
    language: str = strawberry.field(default="zh-CN", description="The language to write it in: zh-CN or en.")


@strawberry.type(description="The test message, queued, or why not.")
class SendTestNotificationPayload(Payload):
    message: Optional[NotificationMessage] = strawberry.field(
        default=None, description="The message in the log; null when there are userErrors."
    )


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


async def _message_node(info: Info, pk: int):
    viewer = info.context.viewer
    if viewer is None or not viewer.can(READ):
        return None
    return await models.Message.get_or_none(id=pk)


def register(graphql) -> None:
    graphql.query(NotificationQuery)
    graphql.mutation(NotificationMutation)
    graphql.node("NotificationMessage", _message_node)
