"""Registering endpoints: where to send which topics, signed with which secret."""

from __future__ import annotations

import datetime as dt
import re
import secrets as _secrets
from typing import TYPE_CHECKING, Any

from kehu import validation as v
from kehu.access import Viewer
from kehu.errors import NotFound, ValidationError
from kehu.models import AccountOwner, Role
from kehu.writes import record_change

from ..models import WebhookEndpoint
from ..settings import WebhookSettings
from . import addresses, signing
from .payloads import ROLES

if TYPE_CHECKING:
    from kehu import Kehu

MANAGE = "webhooks.manage"
TOPIC_RE = re.compile(r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*)$")
MAX_TOPICS = 50


def settings_of(kehu: Kehu) -> WebhookSettings:
    return kehu.settings_for("webhooks", WebhookSettings)


def matches(topics: list[str], topic: str) -> bool:
    """``"*"`` takes everything, ``"complaint"`` every ``complaint.…`` topic."""
    return any(t == "*" or topic == t or topic.startswith(t + ".") for t in topics)


def _topics(value: Any) -> list[str]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ValidationError("name at least one topic (e.g. customer.created, complaint, *)", field="topics")
    topics = []
    for raw in value:
        topic = str(raw).strip().lower()
        if not TOPIC_RE.match(topic) or len(topic) > 100:
            raise ValidationError(f"'{raw}' is not a topic (e.g. customer.created, complaint, *)", field="topics")
        topics.append(topic)
    if len(topics) > MAX_TOPICS:
        raise ValidationError(f"at most {MAX_TOPICS} topics", field="topics")
    return sorted(set(topics))


def _role(value: Any) -> str | None:
    if value is None:
        return None
    role = v.choice(value, Role, "role")
    if role.value not in ROLES:
        raise ValidationError(
            f"an endpoint may be given the view of {' or '.join(ROLES)} (roles that see every customer)",
            field="role",
            code="ROLE_NOT_ALLOWED",
        )
    return role.value


async def _service_owner(endpoint_id: int, role: str | None, current: AccountOwner | None) -> AccountOwner | None:
    """The account an endpoint with a role reads as (it cannot sign in)."""
    if role is None:
        if current is not None:
            await AccountOwner.filter(id=current.id).update(active=False)
        return None
    if current is not None:
        await AccountOwner.filter(id=current.id).update(role=role, active=True)
        return await AccountOwner.get(id=current.id)
    return await AccountOwner.create(
        name=f"Webhook endpoint {endpoint_id}",
        email=f"webhook-{endpoint_id}-{_secrets.token_hex(4)}@service.kehu.invalid",
        role=role,
        is_service=True,
    )


async def create_endpoint(kehu: Kehu, viewer: Viewer | None, data: dict[str, Any]) -> WebhookEndpoint:
    """Register an endpoint (``viewer`` None: the CLI). Its secret is in ``.secret``."""
    if viewer is not None:
        viewer.require(MANAGE)
    settings = settings_of(kehu)
    url = v.text(data.get("url"), "url", max_length=2000, required=True)
    await addresses.check(url, settings)
    topics = _topics(data.get("topics"))
    role = _role(data.get("role"))
    now = kehu.clock.now()
    endpoint = await WebhookEndpoint.create(
        url=url,
        description=v.text(data.get("description"), "description", max_length=300) or "",
        topics=topics,
        secret=signing.new_secret(),
        active=bool(data.get("active", True)),
        role=role,
        created_at=now,
        updated_at=now,
    )
    if role is not None:
        endpoint.service_owner = await _service_owner(endpoint.id, role, None)
        await endpoint.save(update_fields=["service_owner_id"])
    record_change(
        "WebhookEndpoint",
        endpoint.id,
        {"url": (None, addresses.redacted(url)), "topics": (None, topics), "role": (None, role)},
    )
    return endpoint


async def get_endpoint(viewer: Viewer | None, endpoint_id: int) -> WebhookEndpoint:
    if viewer is not None:
        viewer.require(MANAGE)
    endpoint = await WebhookEndpoint.get_or_none(id=endpoint_id)
    if endpoint is None:
        raise NotFound("no such webhook endpoint", field="id")
    return endpoint


async def list_endpoints(viewer: Viewer | None) -> list[WebhookEndpoint]:
    if viewer is not None:
        viewer.require(MANAGE)
    return await WebhookEndpoint.all().order_by("id")


async def update_endpoint(kehu: Kehu, viewer: Viewer | None, endpoint_id: int, data: dict[str, Any]) -> WebhookEndpoint:
    """Change the fields given in ``data`` (url, topics, description, active, role)."""
    endpoint = await get_endpoint(viewer, endpoint_id)
    changes: dict[str, tuple[Any, Any]] = {}
    if "url" in data:
        url = v.text(data["url"], "url", max_length=2000, required=True)
        await addresses.check(url, settings_of(kehu))
        changes["url"] = (endpoint.url, url)
    if "topics" in data:
        changes["topics"] = (endpoint.topics, _topics(data["topics"]))
    if "description" in data:
        changes["description"] = (
            endpoint.description,
            v.text(data["description"], "description", max_length=300) or "",
        )
    if "active" in data:
        if data["active"] is None:
            raise ValidationError("must be true or false", field="active")
        changes["active"] = (endpoint.active, bool(data["active"]))
    if "role" in data:
        role = _role(data["role"])
        changes["role"] = (endpoint.role, role)
        current = await AccountOwner.get_or_none(id=endpoint.service_owner_id) if endpoint.service_owner_id else None
        owner = await _service_owner(endpoint.id, role, current)
        endpoint.service_owner_id = owner.id if owner is not None else endpoint.service_owner_id
    changes = {k: c for k, c in changes.items() if c[0] != c[1]}
    for name, (_, after) in changes.items():
        setattr(endpoint, name, after)
    endpoint.updated_at = kehu.clock.now()
    await endpoint.save()
    # (URLs as the audit log shows them: without the token a receiver's may carry)
    audited = {k: (addresses.redacted(c[0]), addresses.redacted(c[1])) if k == "url" else c for k, c in changes.items()}
    record_change("WebhookEndpoint", endpoint.id, audited)
    return endpoint


async def rotate_secret(kehu: Kehu, viewer: Viewer | None, endpoint_id: int, keep_hours: float) -> WebhookEndpoint:
    """A new secret; the old one keeps signing too for ``keep_hours`` (0: not at all),
    so receivers can switch without losing a message."""
    if not 0 <= keep_hours <= 24 * 30:
        raise ValidationError("must be between 0 and 720 hours", field="keepPreviousHours")
    endpoint = await get_endpoint(viewer, endpoint_id)
    now = kehu.clock.now()
    endpoint.previous_secret = endpoint.secret if keep_hours else None
    endpoint.previous_secret_expires_at = now + dt.timedelta(hours=keep_hours) if keep_hours else None
    endpoint.secret = signing.new_secret()
    endpoint.updated_at = now
    await endpoint.save()
    record_change(
        "WebhookEndpoint", endpoint.id, {"secret": ("(rotated)", "(new)"), "keepPreviousHours": (None, keep_hours)}
    )
    return endpoint


def signing_secrets(endpoint: WebhookEndpoint, now: dt.datetime) -> list[str]:
    valid = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now:
        valid.append(endpoint.previous_secret)
    return valid
