"""Webhooks rules: endpoints, signed deliveries, their log. No GraphQL here.

``endpoints`` (registering, secrets and their rotation), ``addresses`` (which
hosts a webhook may reach), ``signing`` (Standard Webhooks signatures),
``payloads`` (what a body says), ``delivery`` (fan-out, attempts, replays).
"""

from .addresses import AddressRefused, check
from .delivery import DUE, attempt, deliveries, delivery_log, fan_out, post, prune, replay
from .endpoints import (
    MANAGE,
    create_endpoint,
    get_endpoint,
    list_endpoints,
    matches,
    rotate_secret,
    settings_of,
    signing_secrets,
    update_endpoint,
)
from .signing import new_secret, signature

__all__ = [
    "DUE",
    "MANAGE",
    "AddressRefused",
    "attempt",
    "check",
    "create_endpoint",
    "deliveries",
    "delivery_log",
    "fan_out",
    "get_endpoint",
    "list_endpoints",
    "matches",
    "new_secret",
    "post",
    "prune",
    "replay",
    "rotate_secret",
    "settings_of",
    "signature",
    "signing_secrets",
    "update_endpoint",
]
