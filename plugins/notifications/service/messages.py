"""Queueing and sending messages, through the outbox.

``queue`` runs inside a write: it renders a template for each recipient and
channel, writes one ``Message`` per (key, channel) — a repeated event or job run
finds its messages written and adds none — and emits ``kehu_notification_queued``
for the background delivery. ``send`` (that hook's handler) sends a queued
message once: a SENT one is never sent again, and a crash between the mail
server's "250 OK" and the commit of SENT — the one window no sender can close —
sends it again with the same Message-ID, by which mail systems recognise it.
Sending is rate-limited across all workers (``rate_per_minute``); a message over
the limit waits its turn without spending a try.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import zoneinfo
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from kehu.events import GiveUp, RetryLater
from kehu.writes import emit_later, record_change, write_scope

from ..models import Message, MessageStatus, SendWindow
from ..settings import NotificationSettings
from .channels import Recipient, channels
from .templates import template_for

if TYPE_CHECKING:
    from kehu import Kehu

log = logging.getLogger("kehu.plugins.notifications")

QUEUED = "kehu_notification_queued"

messages_total = Counter("kehu_notifications", "Notification messages, by channel and outcome", ["channel", "outcome"])


def settings_of(kehu: Kehu) -> NotificationSettings:
    return kehu.settings_for("notifications", NotificationSettings)


def zone_of(kehu: Kehu) -> zoneinfo.ZoneInfo:
    """The digest's and the messages' time zone: the plugin's, else [kehu] timezone."""
    name = settings_of(kehu).timezone
    return zoneinfo.ZoneInfo(name) if name else kehu.config.kehu.zone


def absolute(kehu: Kehu, link: str) -> str:
    """A link for a message: relative links get ``public_base_url`` in front."""
    if link.startswith(("http://", "https://")):
        return link
    base = settings_of(kehu).public_base_url
    if not base:
        raise ValueError("set [plugins.notifications] public_base_url: messages need absolute links")
    return base + ("" if link.startswith("/") else "/") + link


def _message_id(key: str, channel: str, settings: NotificationSettings) -> str:
    domain = settings.smtp.from_address.rpartition("@")[2] or "kehu.invalid"
    digest = hashlib.sha256(f"{key}/{channel}".encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


async def queue(
    kehu: Kehu, template: str, recipients: list[Recipient], context: dict[str, Any], key: str
) -> list[Message]:
    """Write the messages of ``template`` for ``recipients`` (inside a write scope).
    ``key`` names the occasion (``"event:812"``, ``"digest:2026-01-01"``); with the
    recipient and channel it makes each message's unique key."""
    settings = settings_of(kehu)
    now = kehu.clock.now()
    queued = []
    for recipient in recipients:
        who = f"owner:{recipient.owner.id}" if recipient.owner is not None else f"customer:{recipient.customer.id}"
        for channel in channels(kehu, settings).values():
            message_key = f"{template}/{key}/{who}/{channel.name}"[:200]
            if await Message.exists(key=message_key):
                continue
            address = channel.address_for(recipient)
            found = template_for(kehu, template, recipient.language)
            status, error, subject, body = MessageStatus.QUEUED, "", "", ""
            if found is None:
                status, error = MessageStatus.SKIPPED, f"no template {template}"
            elif not address:
                status, error = MessageStatus.SKIPPED, f"no {channel.name} address"
            else:
                try:
                    subject, body = found.render({"recipient": recipient.name, **context})
                except (KeyError, ValueError) as exc:
                    status, error = MessageStatus.SKIPPED, f"template {template}: missing {exc}"
            message = await Message.create(
                key=message_key,
                channel=channel.name,
                template=template,
                language=found.language if found else recipient.language,
                owner=recipient.owner,
                customer=recipient.customer,
                address=address or "",
                subject=subject,
                body=body,
                message_id=_message_id(message_key, channel.name, settings),
                status=status,
                error=error[:500],
                created_at=now,
            )
            record_change("NotificationMessage", message.id, {"status": (None, status)})
            if status is MessageStatus.QUEUED:
                emit_later(QUEUED, message=message)
            else:
                messages_total.labels(channel.name, "skipped").inc()
                log.info("message %s skipped: %s", message_key, error)
            queued.append(message)
    return queued


async def queue_test(kehu: Kehu, address: str, language: str) -> Message:
    """A test e-mail to ``address`` (inside a write scope)."""
    import secrets

    from kehu import validation as v

    address = v.email(address, "email", required=True)
    settings = settings_of(kehu)
    subject, body = template_for(kehu, "notifications.test", language).render({})
    key = f"notifications.test/{secrets.token_hex(8)}"
    message = await Message.create(
        key=key,
        channel="email",
        template="notifications.test",
        language=language,
        address=address,
        subject=subject,
        body=body,
        message_id=_message_id(key, "email", settings),
        created_at=kehu.clock.now(),
    )
    record_change("NotificationMessage", message.id, {"address": (None, address)})
    emit_later(QUEUED, message=message)
    return message


async def _take_a_place(kehu: Kehu, settings: NotificationSettings) -> float:
    """Take one of this minute's ``rate_per_minute`` places (0: taken, go), or the
    seconds until the next minute's. Counted in the database, for every worker."""
    now = kehu.clock.now().timestamp()
    minute = int(now // 60)
    try:
        await SendWindow.create(minute=minute, used=0)
    except IntegrityError:  # another message (or worker) opened this minute
        pass
    taken = await SendWindow.filter(minute=minute, used__lt=settings.rate_per_minute).update(used=F("used") + 1)
    return 0.0 if taken else max((minute + 1) * 60 - now, 1.0)


async def send(kehu: Kehu, message: Message) -> None:
    """The ``kehu_notification_queued`` handler: send a queued message once."""
    message = await Message.get_or_none(id=message.id)
    if message is None or message.status is not MessageStatus.QUEUED:
        return  # sent, skipped or given up before this delivery
    settings = settings_of(kehu)
    wait = await _take_a_place(kehu, settings)
    if wait:
        raise RetryLater(wait, f"over {settings.rate_per_minute} messages a minute")
    channel = channels(kehu, settings).get(message.channel)
    error = ""
    try:
        if channel is None:
            raise LookupError(f"channel {message.channel} is not in use any more")
        await channel.send(message)
    except RetryLater:
        raise
    except Exception as exc:  # the mail server said no, or is away: try again later
        error = f"{type(exc).__name__}: {exc}"[:500]
    now = kehu.clock.now()
    attempts = message.attempts + 1
    spent = attempts > len(settings.retry_seconds)
    if not error:
        values: dict[str, Any] = {"status": MessageStatus.SENT, "sent_at": now, "body": "", "error": ""}
    else:
        values = {"status": MessageStatus.FAILED if spent else MessageStatus.QUEUED, "error": error}
    async with write_scope(kehu, None, "notifications.send", actor_label="notifications"):
        await Message.filter(id=message.id).update(attempts=attempts, **values)
        record_change("NotificationMessage", message.id, {"status": (message.status, values["status"])})
    if not error:
        messages_total.labels(message.channel, "sent").inc()
        return
    if spent:
        messages_total.labels(message.channel, "failed").inc()
        raise GiveUp(f"{message.channel} to {message.address}: {error} (try {attempts})")
    raise RetryLater(settings.retry_seconds[attempts - 1], f"{message.channel} to {message.address}: {error}")


async def prune(kehu: Kehu) -> int:
    cutoff = kehu.clock.now() - dt.timedelta(days=settings_of(kehu).log_days)
    await SendWindow.filter(minute__lt=int(kehu.clock.now().timestamp() // 60) - 60).delete()
    return await Message.filter(created_at__lt=cutoff).exclude(status=MessageStatus.QUEUED).delete()
