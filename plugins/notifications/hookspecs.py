"""Hooks the notifications plugin defines. Same rules as ``kehu.hookspecs``.

Other plugins contribute templates (``kehu_notification_templates``) and channels
(``kehu_notification_channels``), and ask for a message by emitting
``kehu_notification_requested`` from a write — with the notifications plugin
disabled, nobody answers and nothing is sent.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from kehu.hookspecs import hookspec

if TYPE_CHECKING:
    from kehu import Kehu

    from .models import Message
    from .service import Channel, Template


@hookspec
def kehu_notification_templates() -> list[Template]:
    """Contribute message templates: ``[{"key": "loyalty.tier_up", "language":
    "zh-CN", "subject": "…", "text": "…"}, {… "language": "en" …}]`` (dicts, so a
    plugin need not import this one; ``kehu.plugins.notifications.service.Template``
    objects work too).

    ``subject`` and ``text`` are ``string.Template`` texts: ``$name`` or ``${name}``
    take the message's context values (``$$`` is a dollar sign). Give each key a
    ``zh-CN`` and an ``en`` version; a recipient whose language a key lacks gets
    the other. Keys are ``<plugin>.<what>``; two plugins giving the same key and
    language stop start-up. Called once, on first use.
    """


@hookspec
def kehu_notification_channels() -> list[Channel]:
    """Contribute channels other than e-mail (SMS, WeChat, a chat tool …).

    A channel is an object with ``name`` (``"sms"``), ``address_for(recipient)``
    (the recipient's address on this channel, or ``None``: a
    ``kehu.plugins.notifications.service.Recipient`` with ``owner`` or ``customer``
    and ``language``) and ``async send(message)`` (deliver a
    ``kehu.plugins.notifications.models.Message``: ``address``, ``subject``,
    ``body``, ``message_id``; raise on failure — it is retried; raise
    ``kehu.events.RetryLater`` to be asked again later). plugins.toml's
    ``[plugins.notifications] channels`` lists the channels in use.
    """


@hookspec
def kehu_notification_requested(
    template: str,
    owner_ids: list[int],
    customer_ids: list[int],
    context: dict[str, Any],
    event_id: int,
    kehu: Kehu,
) -> Awaitable[None] | None:
    """Ask for a message: emit it from a write with ``kehu.writes.emit(
    "kehu_notification_requested", template="loyalty.tier_up", owner_ids=[…],
    customer_ids=[…], context={…})``. The notifications plugin sends one message
    per recipient and channel, once per event — the context must hold no
    secret the log should not keep until sent.
    """


@hookspec
def kehu_notification_queued(message: Message, event_id: int, kehu: Kehu) -> Awaitable[None] | None:
    """A message is waiting to be sent: the notifications plugin sends it (through
    the outbox, so a crash neither loses nor repeats it). Other plugins may watch;
    they must not send it."""
