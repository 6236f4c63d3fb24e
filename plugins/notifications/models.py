"""The notifications plugin's table: every message, the log admins read."""

from enum import Enum

from tortoise import fields
from tortoise.models import Model


class MessageStatus(str, Enum):
    QUEUED = "QUEUED"  # waiting to be sent, or for its next try
    SENT = "SENT"
    FAILED = "FAILED"  # every retry failed
    SKIPPED = "SKIPPED"  # nothing to send it to (no address), or not configured


class Message(Model):
    """One message to one recipient on one channel."""

    _no_comments = True

    id = fields.BigIntField(primary_key=True)
    # What makes it this message: a repeated event or job run finds it and sends nothing.
    key = fields.CharField(max_length=200, unique=True)
    channel = fields.CharField(max_length=32)
    template = fields.CharField(max_length=100)
    language = fields.CharField(max_length=8)
    owner = fields.ForeignKeyField("core.AccountOwner", related_name=False, null=True, on_delete=fields.RESTRICT)
    customer = fields.ForeignKeyField("core.Customer", related_name=False, null=True, on_delete=fields.RESTRICT)
    address = fields.CharField(max_length=320, default="")
    subject = fields.CharField(max_length=300, default="")
    # Erased once sent: bodies may carry links with tokens.
    body = fields.TextField(default="")
    # The Message-ID header: the same on every try, so a mail system that sees a
    # message twice (a crash right after the server took it) can tell.
    message_id = fields.CharField(max_length=200)
    status = fields.CharEnumField(MessageStatus, max_length=8, default=MessageStatus.QUEUED)
    attempts = fields.IntField(default=0)
    error = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True, db_index=True)

    class Meta:
        table = "notifications_message"
        indexes = (("status", "created_at"),)


class SendWindow(Model):
    """Messages sent in one minute, across all workers: the rate limit's counter
    (a conditional increment, so two workers never both take the last place)."""

    _no_comments = True

    minute = fields.BigIntField(primary_key=True)  # minutes since the Unix epoch
    used = fields.IntField(default=0)

    class Meta:
        table = "notifications_send_window"
