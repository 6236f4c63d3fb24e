"""Interaction rules: logging a touch point and the interaction filter."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, RawSQL
from tortoise.transactions import in_transaction

from . import validation as v
from .access import Viewer, visible_interactions
from .customers import get_visible_customer, resolve_owner_for
from .errors import NotFound, ValidationError
from .models import AccountOwner, Customer, Direction, Interaction, InteractionKind
from .writes import emit, record_change


def _direction(value: Any) -> Direction:
    return v.choice(value or Direction.OUTBOUND, Direction, "direction")


def _text_or_empty(value: Any, field: str, max_length: int, multiline: bool = False) -> str:
    return v.text(value, field, max_length=max_length, multiline=multiline) or ""


@functools.lru_cache(maxsize=32)
def interaction_rules(zone: dt.tzinfo | None = None) -> dict[str, v.Rule]:
    """Each field's rule (``kehu.validation.Rule``) for ``clean_interaction_fields``,
    with times without an offset read in ``zone``."""
    return {
        "kind": functools.partial(v.choice, enum=InteractionKind, field="kind"),
        "direction": _direction,
        "occurred_at": functools.partial(v.moment, field="occurredAt", zone=zone),
        "amount": v.amount,
        "subject": functools.partial(_text_or_empty, field="subject", max_length=300),
        "notes": functools.partial(_text_or_empty, field="notes", max_length=20_000, multiline=True),
        "next_follow_up_at": functools.partial(v.moment, field="nextFollowUpAt", zone=zone),
        "external_id": v.external_id,
    }


def clean_interaction_fields(
    data: dict[str, Any],
    now: dt.datetime,
    *,
    zone: dt.tzinfo | None = None,
    rules: Mapping[str, v.Rule] | None = None,
) -> dict[str, Any]:
    """Check an interaction's own fields (not its customer or owner) by the rules
    every input path shares: the API, the bulk mutation and imports.

    PURCHASE needs an amount ≥ 0; other kinds may not carry one. ``occurred_at``
    defaults to ``now`` and may not lie more than a day after it; a time without
    an offset is read in ``zone`` (imports pass the business time zone).
    ``rules``: ``interaction_rules(zone)`` (the default), or the same rules
    remembered (imports).
    """
    rule = rules if rules is not None else interaction_rules(zone)
    kind = rule["kind"](data.get("kind"))
    direction = rule["direction"](data.get("direction"))
    occurred_at = rule["occurred_at"](data.get("occurred_at")) or now
    if occurred_at > now + dt.timedelta(days=1):
        raise ValidationError("must not be in the future", field="occurredAt", code="IN_FUTURE")
    amount = rule["amount"](data.get("amount"))
    if kind is InteractionKind.PURCHASE and amount is None:
        raise ValidationError("a purchase needs an amount", field="amount", code="REQUIRED")
    if kind is not InteractionKind.PURCHASE and amount is not None:
        raise ValidationError("only purchases carry an amount", field="amount")
    return {
        "kind": kind,
        "direction": direction,
        "occurred_at": occurred_at,
        "subject": rule["subject"](data.get("subject")),
        "notes": rule["notes"](data.get("notes")),
        "amount": amount,
        "next_follow_up_at": rule["next_follow_up_at"](data.get("next_follow_up_at")),
        "external_id": rule["external_id"](data.get("external_id")),
    }


async def log_interaction(
    viewer: Viewer, data: dict[str, Any], now: dt.datetime, *, require_permission: bool = True
) -> Interaction:
    """Log an interaction on a visible customer (rules: ``clean_interaction_fields``).

    With an ``idempotency_key`` or an ``external_id``, a retried request returns
    the interaction the first one logged and writes nothing new (no second
    purchase, no second event). Idempotency keys are scoped to the customer: the
    same key on another customer is another request, so a key reveals nothing
    about customers the caller may not see and cannot block their interactions. Plugins that log contacts as part of their own
    permitted operation (a complaint's follow-up) pass ``require_permission=False``;
    visibility still applies.
    """
    if require_permission:
        viewer.require("interactions.log")
    customer = await get_visible_customer(viewer, data["customer_id"], "customerId")
    key = v.text(data.get("idempotency_key"), "idempotencyKey", max_length=100)
    if key is not None:
        existing = await Interaction.filter(customer_id=customer.id, idempotency_key=key).first()
        if existing is not None:
            return _replay(existing, customer, data)
    external_id = v.external_id(data.get("external_id"))
    if external_id is not None:
        existing = await Interaction.filter(external_id=external_id).first()
        if existing is not None:
            return _replay(existing, customer, data, field="externalId")
    if customer.archived_at is not None:
        raise ValidationError("archived customers cannot get new interactions", field="customerId", code="ARCHIVED")
    values = clean_interaction_fields(data, now)
    owner: AccountOwner | None = viewer.owner
    if data.get("owner_id") is not None:
        owner = await resolve_owner_for(viewer, data["owner_id"], field="ownerId")
    values.update(customer=customer, owner=owner, idempotency_key=key)
    # A savepoint where a unique key can collide: a concurrent duplicate undoes only
    # this insert. Without a key or an external id nothing can (NULLs never collide),
    # and the two statements of a savepoint are saved.
    guard: contextlib.AbstractAsyncContextManager[Any] = (
        in_transaction() if key is not None or external_id is not None else contextlib.nullcontext()
    )
    try:
        async with guard:
            interaction = await Interaction.create(**values)
    except IntegrityError:
        existing = None
        if key:
            existing = await Interaction.filter(customer_id=customer.id, idempotency_key=key).first()
        if existing is None and external_id:
            existing = await Interaction.filter(external_id=external_id).first()
        if existing is None:
            raise
        return _replay(existing, customer, data)
    occurred_at = values["occurred_at"]
    # last_interaction_at only moves forward (a back-dated entry does not rewind it).
    # Moved: the value is ours (the row is locked until commit); not moved: another
    # write may have moved it since the customer was read, so read it back.
    if await Customer.filter(
        Q(id=customer.id) & (Q(last_interaction_at__isnull=True) | Q(last_interaction_at__lt=occurred_at))
    ).update(last_interaction_at=occurred_at):
        customer.last_interaction_at = occurred_at
    else:
        await customer.refresh_from_db(fields=["last_interaction_at"])
    interaction.customer = customer
    record_change(
        "Interaction",
        interaction.id,
        {
            "customer_id": (None, customer.id),
            "kind": (None, values["kind"]),
            "occurred_at": (None, occurred_at),
            "amount": (None, values["amount"]),
        },
    )
    emit("kehu_interaction_logged", interaction=interaction)
    return interaction


# Items per logInteractions call: one transaction holds them all, and SQLite has
# one writer; a nightly push of 10,000 orders is 10 calls.
MAX_BULK_ITEMS = 1000


@dataclass
class BulkItemResult:
    """One item of ``log_interactions``: the interaction (new or replayed), or why not."""

    index: int
    interaction: Interaction | None = None
    created: bool = False
    error: ValidationError | None = None


async def log_interactions(viewer: Viewer, items: list[dict[str, Any]], now: dt.datetime) -> list[BulkItemResult]:
    """Log many interactions in the caller's one transaction (``logInteractions``).

    Each item follows ``log_interaction``'s rules and fires its own
    ``kehu_interaction_logged`` after the commit (plugins see the same events as for
    single calls; a back-dated purchase accrues as of its date). An item that fails
    is reported with its index; the caller rolls the whole call back if any did,
    so a call is all or nothing and can simply be sent again once fixed (items
    with an ``external_id`` or ``idempotency_key`` are never logged twice).
    """
    viewer.require("interactions.log")
    if len(items) > MAX_BULK_ITEMS:
        raise ValidationError(f"at most {MAX_BULK_ITEMS} items per call", field="items", code="TOO_MANY")
    results = []
    for index, item in enumerate(items):
        result = BulkItemResult(index)
        try:
            before = await _existing_for(item)
            result.interaction = await log_interaction(viewer, item, now, require_permission=False)
            result.created = before is None
        except ValidationError as exc:
            result.error = exc
        except NotFound as exc:
            result.error = ValidationError(exc.message, field=exc.field, code=exc.code)
        results.append(result)
    return results


async def _existing_for(item: dict[str, Any]) -> Interaction | None:
    for column in ("idempotency_key", "external_id"):
        value = item.get(column)
        # A value longer than the column cannot be stored, so nothing has it; the
        # item's own checks (log_interaction) refuse it with a coded error.
        longest = getattr(Interaction._meta.fields_map[column], "max_length", 0)
        if isinstance(value, str) and 0 < len(value.strip()) <= longest:
            scope = {"customer_id": item.get("customer_id")} if column == "idempotency_key" else {}
            found = await Interaction.filter(**scope, **{column: value.strip()}).first()
            if found is not None:
                return found
    return None


def _replay(
    existing: Interaction, customer: Customer, data: dict[str, Any], field: str = "idempotencyKey"
) -> Interaction:
    if existing.customer_id != customer.id or existing.kind != v.choice(data.get("kind"), InteractionKind, "kind"):
        what = "idempotency key" if field == "idempotencyKey" else "external id"
        raise ValidationError(
            f"this {what} was already used for a different interaction",
            field=field,
            code="IDEMPOTENCY_KEY_REUSED" if field == "idempotencyKey" else "EXTERNAL_ID_REUSED",
        )
    existing.customer = customer
    record_change("Interaction", existing.id, {"replayed": (None, existing.idempotency_key or existing.external_id)})
    return existing


@dataclass
class InteractionFilter:
    """The filters of ``interactions(filter: …)`` in domain terms (``filter_interactions``)."""

    customer_ids: list[int] | None = None
    owner_ids: list[int] | None = None
    kinds: list[InteractionKind] | None = None
    occurred_after: dt.datetime | None = None
    occurred_before: dt.datetime | None = None
    next_follow_up_after: dt.datetime | None = None
    next_follow_up_before: dt.datetime | None = None
    # True: a follow-up is set and not yet answered — no contact with the customer
    # (a call, visit, e-mail, meeting or message) was logged after it; False: the others.
    follow_up_open: bool | None = None


class InteractionOrderField(Enum):
    OCCURRED_AT = "occurred_at"
    NEXT_FOLLOW_UP_AT = "next_follow_up_at"


def order_interactions(qs, field: InteractionOrderField = InteractionOrderField.OCCURRED_AT, descending: bool = True):
    """Order ``qs`` by ``field`` (then by id the same way, so pages are stable)."""
    return qs.order_by(*interaction_order(field, descending))


def interaction_order(
    field: InteractionOrderField = InteractionOrderField.OCCURRED_AT, descending: bool = True
) -> tuple[str, str]:
    """The columns of an ordering by ``field``: ties broken by id, in the same direction."""
    sign = "-" if descending else ""
    return f"{sign}{field.value}", f"{sign}id"


# Kinds that are a contact with the customer: the next one answers a follow-up.
# A purchase, a note or an internal entry does not.
CONTACT_KINDS = (
    InteractionKind.CALL,
    InteractionKind.VISIT,
    InteractionKind.EMAIL,
    InteractionKind.MEETING,
    InteractionKind.MESSAGE,
)


def _open_follow_up() -> Q:
    """Interactions with a follow-up that no later contact has answered yet.

    An id subquery (``NOT EXISTS`` over the same table, which the ORM cannot
    express): callers such as nested connections add joins of their own. It reads
    the (customer_id, occurred_at) index; only constants are spliced in."""
    table = Interaction._meta.db_table
    kinds = ", ".join(f"'{kind.value}'" for kind in CONTACT_KINDS)
    sql = (
        f"SELECT i.id FROM {table} i WHERE i.next_follow_up_at IS NOT NULL AND NOT EXISTS ("
        f"SELECT 1 FROM {table} j WHERE j.customer_id = i.customer_id AND j.occurred_at > i.occurred_at"
        f" AND j.kind IN ({kinds}) AND j.direction <> '{Direction.INTERNAL.value}')"
    )
    return Q(id__in=RawSQL(f"({sql})"))


def apply_interaction_filter(qs, f: InteractionFilter | None):
    """``qs`` narrowed by ``f`` (``None``: unchanged)."""
    if f is None:
        return qs
    if f.customer_ids is not None:
        qs = qs.filter(customer_id__in=f.customer_ids)
    if f.owner_ids is not None:
        qs = qs.filter(owner_id__in=f.owner_ids)
    if f.kinds is not None:
        qs = qs.filter(kind__in=[k.value if isinstance(k, Enum) else k for k in f.kinds])
    if f.occurred_after:
        qs = qs.filter(occurred_at__gte=f.occurred_after)
    if f.occurred_before:
        qs = qs.filter(occurred_at__lt=f.occurred_before)
    if f.next_follow_up_after:
        qs = qs.filter(next_follow_up_at__gte=f.next_follow_up_after)
    if f.next_follow_up_before:
        qs = qs.filter(next_follow_up_at__lt=f.next_follow_up_before)
    if f.follow_up_open is not None:
        qs = qs.filter(_open_follow_up()) if f.follow_up_open else qs.filter(~_open_follow_up())
    return qs


def filter_interactions(viewer: Viewer | None, f: InteractionFilter | None = None):
    """The interactions ``viewer`` may see, narrowed by ``f``."""
    return apply_interaction_filter(visible_interactions(viewer), f)
