"""Notifications rules: templates, channels, messages, what is sent when. No GraphQL here.

``templates`` (per key and language), ``channels`` (e-mail built in; recipients),
``messages`` (queueing and sending through the outbox, rate limit),
``triggers`` (survey invitations, complaint notices, requests from other plugins),
``digest`` (each agent's follow-ups, daily).
"""

from .channels import Channel, EmailChannel, Recipient, channels
from .digest import offset_seconds, send_digests
from .messages import QUEUED, absolute, prune, queue, queue_test, send, settings_of
from .templates import BUILTIN, Template, template_for, templates
from .triggers import complaint_escalated, event_published, requested, survey_invitation

__all__ = [
    "BUILTIN",
    "QUEUED",
    "Channel",
    "EmailChannel",
    "Recipient",
    "Template",
    "absolute",
    "channels",
    "complaint_escalated",
    "event_published",
    "offset_seconds",
    "prune",
    "queue",
    "queue_test",
    "requested",
    "send",
    "send_digests",
    "settings_of",
    "survey_invitation",
    "template_for",
    "templates",
]
