"""Channels a message goes out through: e-mail built in, others from plugins
(``kehu_notification_channels``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import TYPE_CHECKING, Protocol

from kehu.errors import PluginError
from kehu.models import AccountOwner, Customer

from ..settings import LANGUAGES, NotificationSettings

if TYPE_CHECKING:
    from kehu import Kehu

    from ..models import Message


@dataclass(frozen=True)
class Recipient:
    """Who a message is for: a staff member or a customer, and in which language."""

    owner: AccountOwner | None = None
    customer: Customer | None = None
    language: str = "zh-CN"

    @property
    def name(self) -> str:
        return (self.owner or self.customer).name


def language_of(customer: Customer, settings: NotificationSettings) -> str:
    wanted = (customer.attributes or {}).get("language") if isinstance(customer.attributes, dict) else None
    return wanted if wanted in LANGUAGES else settings.default_language


class Channel(Protocol):
    name: str

    def address_for(self, recipient: Recipient) -> str | None: ...

    async def send(self, message: Message) -> None: ...


class EmailChannel:
    """E-mail through the SMTP server of ``[plugins.notifications.smtp]`` (aiosmtplib)."""

    name = "email"

    def __init__(self, settings: NotificationSettings):
        self.settings = settings

    def address_for(self, recipient: Recipient) -> str | None:
        person = recipient.owner or recipient.customer
        address = getattr(person, "email", None)
        if not address or (recipient.owner is not None and recipient.owner.is_service):
            return None
        return address

    def compose(self, message: Message) -> EmailMessage:
        smtp = self.settings.smtp
        mail = EmailMessage()
        mail["From"] = formataddr((smtp.from_name, smtp.from_address))
        mail["To"] = message.address
        mail["Subject"] = message.subject
        mail["Message-ID"] = message.message_id
        mail["Date"] = format_datetime(message.created_at)
        mail.set_content(message.body, charset="utf-8")
        mail["Content-Language"] = message.language  # after set_content, which drops Content-* headers
        return mail

    async def send(self, message: Message) -> None:
        import aiosmtplib

        smtp = self.settings.smtp
        password = os.environ.get(smtp.password_env) if smtp.username else None
        await aiosmtplib.send(
            self.compose(message),
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username or None,
            password=password,
            start_tls=smtp.starttls,
            use_tls=smtp.use_tls,
            timeout=smtp.timeout_seconds,
        )


_channels: dict[int, dict[str, Channel]] = {}


def channels(kehu: Kehu, settings: NotificationSettings) -> dict[str, Channel]:
    """The channels in use (``settings.channels``), by name; built once per app."""
    found = _channels.get(id(kehu))
    if found is None:
        available: dict[str, Channel] = {"email": EmailChannel(settings)}
        for plugin, contributed in kehu.plugins.each("kehu_notification_channels"):
            for channel in contributed or ():
                if channel.name in available:
                    raise PluginError(f"plugin '{plugin}': notification channel '{channel.name}' exists already")
                available[channel.name] = channel
        unknown = [name for name in settings.channels if name not in available]
        if unknown:
            raise PluginError(
                f"plugins.notifications.channels: unknown channel '{unknown[0]}' (available: {', '.join(available)})"
            )
        found = {name: available[name] for name in settings.channels}
        _channels[id(kehu)] = found
    return found
