"""Reveals: one clear value for a reason, rate-limited, with its disclosure record."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from kehu.access import Viewer
from kehu.errors import ValidationError

from .guard import Masking, masking_of

if TYPE_CHECKING:
    from kehu import Kehu


REVEALABLE_COLUMNS = ("name", "email", "phone", "address")


def revealable_key(masking: Masking, field: str) -> tuple[str, str | None]:
    """``(policy key, attribute)`` for a reveal request's ``field``: a Customer field
    (``phone``) or a personal attribute (``attributes.id_number``)."""
    name = field.strip()
    if name.startswith("Customer."):
        name = name[len("Customer.") :]
    if name.startswith("attributes."):
        attribute = name.split(".", 1)[1]
        if attribute in masking.settings.personal_attributes and "Customer.attributes" in masking.policies:
            return "Customer.attributes", attribute
    elif name in REVEALABLE_COLUMNS and f"Customer.{name}" in masking.policies:
        return f"Customer.{name}", None
    known = [c for c in REVEALABLE_COLUMNS if f"Customer.{c}" in masking.policies]
    known += [f"attributes.{a}" for a in masking.settings.personal_attributes]
    raise ValidationError(
        f"not a personal field of Customer (one of: {', '.join(known)})", field="field", code="UNKNOWN_FIELD"
    )


async def reveal_field(
    kehu: Kehu, viewer: Viewer, customer_id: int, field: str, reason: str | None, *, request_id: str | None
) -> tuple[Any, Any]:
    """Return ``(clear value, disclosure)``; the disclosure is written in the
    caller's write scope, so a reveal and its record commit together."""
    from kehu.customers import get_visible_customer
    from kehu.writes import record_change

    from ..models import Disclosure

    viewer.require("masking.reveal")
    masking = masking_of(kehu)
    settings = masking.settings
    reason = (reason or "").strip()
    if len(reason) < settings.reason_min_length:
        raise ValidationError(
            f"give a reason of at least {settings.reason_min_length} characters", field="reason", code="REQUIRED"
        )
    if len(reason) > 1000:
        raise ValidationError("must be at most 1000 characters", field="reason", code="TOO_LONG")
    key, attribute = revealable_key(masking, field)
    customer = await get_visible_customer(viewer, customer_id)
    now = kehu.clock.now()
    since = now - dt.timedelta(minutes=settings.reveal_window_minutes)
    recent = await Disclosure.filter(actor_id=viewer.id, at__gte=since).count()
    if recent >= settings.reveal_limit:
        raise ValidationError(
            f"at most {settings.reveal_limit} reveals per {settings.reveal_window_minutes} minutes",
            field="field",
            code="RATE_LIMITED",
        )
    if attribute is None:
        value = getattr(customer, key.split(".", 1)[1])
    else:
        value = (customer.attributes or {}).get(attribute)
    label = key if attribute is None else f"{key}.{attribute}"
    disclosure = await Disclosure.create(
        at=now,
        actor_id=viewer.id,
        actor_label=viewer.label,
        customer_id=customer.id,
        field=label,
        reason=reason,
        request_id=request_id,
    )
    record_change("Disclosure", disclosure.id, {"customer_id": (None, customer.id), "field": (None, label)})
    return value, disclosure
