"""Customer rules: create, update, archive, assign, and the customer filter.

No GraphQL here: the same functions serve the API, the CLI import and plugins.
Every function takes the ``viewer`` and reads through ``visible_customers`` — a
customer the viewer may not see is reported as not found.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from . import duplicates, matching, search
from . import validation as v
from .access import Viewer, visible_customers, visible_owners
from .errors import NotFound, PermissionDenied, ValidationError
from .models import AccountOwner, Customer, CustomerKind, CustomerTag, Role
from .policies import FieldGuard, Strategy
from .writes import emit, record_change

if TYPE_CHECKING:
    from .server.runtime import Kehu

EDITABLE = (
    "name",
    "kind",
    "email",
    "phone",
    "address",
    "region",
    "industry",
    "tags",
    "attributes",
    "external_id",
)


# Each editable field's rule (``kehu.validation.Rule``), checked in this order.
CUSTOMER_RULES: dict[str, v.Rule] = {
    "name": functools.partial(v.text, field="name", max_length=200, required=True),
    "kind": functools.partial(v.choice, enum=CustomerKind, field="kind"),
    "email": v.email,
    "phone": v.phone,
    "address": functools.partial(v.text, field="address", max_length=1000, multiline=True),
    "region": functools.partial(v.text, field="region", max_length=100),
    "industry": functools.partial(v.text, field="industry", max_length=100),
    "tags": v.tags,
    "attributes": v.attributes,
    "external_id": v.external_id,
}


def clean_customer_fields(
    data: dict[str, Any], *, creating: bool, rules: Mapping[str, v.Rule] | None = None
) -> dict[str, Any]:
    """Validate the editable fields present in ``data``; returns cleaned values.
    ``rules``: ``CUSTOMER_RULES`` (the default), or the same rules remembered (imports)."""
    if rules is None:
        rules = CUSTOMER_RULES
    out: dict[str, Any] = {}
    if creating or "name" in data:
        out["name"] = rules["name"](data.get("name"))
    if "kind" in data and data["kind"] is not None:
        out["kind"] = rules["kind"](data["kind"])
    for name in EDITABLE[2:]:
        if name in data:
            out[name] = rules[name](data[name])
    return out


async def check_external_id_free(external_id: str | None, *, other_than: int | None = None) -> None:
    """Refuse an external id another customer already has (DUPLICATE_EXTERNAL_ID)."""
    if external_id is None:
        return
    taken = Customer.filter(external_id=external_id)
    if other_than is not None:
        taken = taken.exclude(id=other_than)
    if await taken.exists():
        raise ValidationError(
            "another customer already has this external id", field="externalId", code="DUPLICATE_EXTERNAL_ID"
        )


async def get_visible_customer(viewer: Viewer | None, customer_id: int, field: str = "id") -> Customer:
    """The customer, if the viewer may see it (archived ones too); ``NotFound`` on ``field`` otherwise.
    A customer merged into another stands for that one: an old id still works."""
    customer = await visible_customers(viewer).filter(id=customer_id).first()
    if customer is None or customer.merged_into_id is not None:
        survivor = (await resolve_customer_ids([customer_id])).get(customer_id, customer_id)
        if survivor != customer_id:
            customer = await visible_customers(viewer).filter(id=survivor).first()
    if customer is None:
        raise NotFound("no such customer", field=field)
    return customer


async def resolve_customer_ids(ids: Iterable[int]) -> dict[int, int]:
    """``{id: the id it stands for now}`` for each of ``ids``: a customer merged
    into another stands for that one (``Customer.merged_into``, kept one step
    long: a merge re-points earlier merges at the new survivor); any other id
    for itself. One query; says nothing about visibility."""
    ids = list(dict.fromkeys(i for i in ids if i is not None))
    resolved = {i: i for i in ids}
    if ids:
        for pk, target in await Customer.filter(id__in=ids, merged_into_id__isnull=False).values_list(
            "id", "merged_into_id"
        ):
            resolved[pk] = target
    return resolved


async def resolve_owner_for(viewer: Viewer, owner_id: int | None, *, field: str) -> AccountOwner | None:
    """The owner a viewer may assign: any active human owner for ADMIN, one of their
    team for MANAGER, only themselves for AGENT."""
    if owner_id is None:
        return None
    owner = await visible_owners(viewer).filter(id=owner_id, active=True).first()
    if owner is None:
        raise ValidationError("no such active account owner", field=field, code="UNKNOWN_OWNER")
    if viewer.role is Role.MANAGER and owner.team != viewer.team and owner.id != viewer.id:
        raise ValidationError("managers assign customers within their team only", field=field, code="OUTSIDE_TEAM")
    if viewer.role is Role.AGENT and owner.id != viewer.id:
        raise PermissionDenied("agents may not assign customers to others")
    return owner


async def _sync_tags(customer: Customer, tags: list[str]) -> None:
    await CustomerTag.filter(customer_id=customer.id).delete()
    if tags:
        await CustomerTag.bulk_create([CustomerTag(customer_id=customer.id, tag=t) for t in tags])


async def create_customer(viewer: Viewer, data: dict[str, Any], *, allow_duplicate: bool = False) -> Customer:
    """Create a customer from ``data`` (the GraphQL input's fields, snake_case).
    Needs ``customers.create``; agents and managers own what they create unless
    ``owner_id`` names someone they may assign. Emits ``kehu_customer_created``.

    An e-mail or phone number another customer the viewer may see already has is
    refused (``kehu.duplicates.DuplicateCustomer``, code ``DUPLICATE_CUSTOMER``)
    unless ``allow_duplicate``; one the viewer may not see is flagged for review
    without a word to the viewer (kehu.duplicates)."""
    viewer.require("customers.create")
    values = clean_customer_fields(data, creating=True)
    if data.get("owner_id") is not None:
        owner = await resolve_owner_for(viewer, data["owner_id"], field="ownerId")
    elif viewer.role in (Role.AGENT, Role.MANAGER):
        owner = viewer.owner  # otherwise the creator could not see what they made
    else:
        owner = None
    await check_external_id_free(values.get("external_id"))
    kehu = duplicates.current_kehu()
    check = await duplicates.check_new_values(
        viewer, email=values.get("email"), phone=values.get("phone"), allow=allow_duplicate, kehu=kehu
    )
    keys = duplicates.stored_keys(kehu, values["name"], values.get("email"), values.get("phone"))
    try:
        async with in_transaction():  # a savepoint: a concurrent duplicate undoes only this
            customer = await Customer.create(**{**values, **keys}, owner=owner)
    except IntegrityError:
        if values.get("external_id") is None:
            raise
        raise ValidationError(
            "another customer already has this external id", field="externalId", code="DUPLICATE_EXTERNAL_ID"
        ) from None
    await _sync_tags(customer, values.get("tags", []))
    await duplicates.note_entry(kehu, viewer, customer, check)
    record_change("Customer", customer.id, {k: (None, getattr(customer, k)) for k in (*values, "owner_id")})
    emit("kehu_customer_created", customer=customer)
    return customer


async def update_customer(
    viewer: Viewer, customer_id: int, data: dict[str, Any], *, allow_duplicate: bool = False
) -> Customer:
    """Change the fields present in ``data``; an archived customer cannot be
    edited. Needs ``customers.update``. Emits ``kehu_customer_updated`` with the
    changes, when there are any. A new e-mail or phone number is checked for
    duplicates as in ``create_customer``."""
    viewer.require("customers.update")
    customer = await get_visible_customer(viewer, customer_id)
    if customer.archived_at is not None:
        raise ValidationError("archived customers cannot be edited", field="id", code="ARCHIVED")
    values = clean_customer_fields(data, creating=False)
    if "external_id" in values:
        await check_external_id_free(values["external_id"], other_than=customer.id)
    changes = {k: (getattr(customer, k), new) for k, new in values.items() if getattr(customer, k) != new}
    check = None
    if "email" in changes or "phone" in changes:
        check = await duplicates.check_new_values(
            viewer,
            email=values["email"] if "email" in changes else None,
            phone=values["phone"] if "phone" in changes else None,
            customer_id=customer.id,
            allow=allow_duplicate,
        )
    if changes:
        for name, (_, new) in changes.items():
            setattr(customer, name, new)
        keyed = duplicates.apply_keys(None, customer) if set(changes) & set(duplicates.KEYED_FIELDS) else []
        await customer.save(update_fields=[*changes, *keyed, "updated_at"])
        if keyed:
            await duplicates.note_entry(None, viewer, customer, check or duplicates.EntryCheck())
        if "tags" in changes:
            await _sync_tags(customer, customer.tags)
        emit("kehu_customer_updated", customer=customer, changes=changes)
    record_change("Customer", customer.id, changes)
    return customer


async def archive_customer(viewer: Viewer, customer_id: int, now: dt.datetime) -> Customer:
    """Archive a visible customer as of ``now``. Needs ``customers.archive``. Emits ``kehu_customer_archived``."""
    viewer.require("customers.archive")
    customer = await get_visible_customer(viewer, customer_id)
    if customer.archived_at is not None:
        raise ValidationError("customer is already archived", field="id", code="ARCHIVED")
    customer.archived_at = now
    await customer.save(update_fields=["archived_at", "updated_at"])
    record_change("Customer", customer.id, {"archived_at": (None, now)})
    emit("kehu_customer_archived", customer=customer)
    return customer


async def assign_owner(viewer: Viewer, customer_id: int, owner_id: int | None) -> Customer:
    """Give a visible customer to ``owner_id`` (``None``: nobody; managers must
    name someone of their team). Needs ``customers.assign``. Emits
    ``kehu_owner_assigned`` when the owner changes."""
    viewer.require("customers.assign")
    customer = await get_visible_customer(viewer, customer_id)
    owner = await resolve_owner_for(viewer, owner_id, field="ownerId")
    if viewer.role is Role.MANAGER and owner is None:
        raise ValidationError("managers must assign an owner of their team", field="ownerId", code="REQUIRED")
    previous_id = customer.owner_id
    if previous_id != (owner.id if owner else None):
        previous = await AccountOwner.get_or_none(id=previous_id) if previous_id else None
        customer.owner = owner
        await customer.save(update_fields=["owner_id", "updated_at"])
        emit("kehu_owner_assigned", customer=customer, previous_owner=previous, owner=owner)
    record_change("Customer", customer.id, {"owner_id": (previous_id, owner.id if owner else None)})
    return customer


# --------------------------------------------------------------------------- filtering


class CustomerOrderField(Enum):
    NAME = "name"
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    LAST_INTERACTION_AT = "last_interaction_at"


@dataclass
class CustomerFilter:
    """The filters of ``customers(filter: …)`` in domain terms (``filter_customers``).
    ``archived``: ``False`` (the default) leaves archived customers out, ``True``
    keeps only them, ``None`` takes both."""

    owner_ids: list[int] | None = None
    unassigned: bool | None = None
    tags: list[str] = field(default_factory=list)
    regions: list[str] | None = None
    kinds: list[CustomerKind] | None = None
    search: str | None = None
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
    last_interaction_after: dt.datetime | None = None
    last_interaction_before: dt.datetime | None = None
    archived: bool | None = False
    external_ids: list[str] | None = None


# Personal fields the search looks in: (column, policy key).
SEARCHED_FIELDS = (("name", "Customer.name"), ("email", "Customer.email"), ("phone", "Customer.phone"))


_PHONE_LIKE = re.compile(r"^\+?[0-9][0-9 ()\-./]*$")


def search_conditions(viewer: Viewer | None, term: str, *, kehu: Kehu | None = None) -> list[Any]:
    """What the customer search matches ``term`` against, as the colleagues who
    type it know people: name, e-mail and phone as written; the name in pinyin,
    written together or as initials (``zhangwei``, ``zhang wei``, ``zw`` find
    张伟); an e-mail whatever its letter case; a phone number in any format
    (``+86 138-1234-5678`` finds ``13812345678``; digits typed find the numbers
    holding them). A field the viewer sees masked is not searched in any of these
    ways (``FieldGuard.search_condition`` returns ``None`` for it); an encrypted
    one only by its whole value."""
    guard = kehu.field_guard if kehu is not None else FieldGuard()
    region = duplicates.phone_region(kehu)
    out = []
    for column, key in SEARCHED_FIELDS:
        condition = guard.search_condition(viewer, key, column, term)
        if condition is None:
            continue  # masked for this viewer: nothing of the field is searched
        out.append(condition)
        if column == "name" and not matching.has_han(term):
            compact = matching.search_term_pinyin(term)
            if compact:
                # icontains: the form kehu.search's PostgreSQL index serves (pinyin is lower case)
                out.append(Q(name_pinyin__icontains=compact))
                if compact.isalpha() and " " not in term.strip() and 2 <= len(compact) <= 6:
                    out.append(Q(name_initials__startswith=compact))
        elif column == "email" and "@" in term and (email := matching.email_key(term)):
            out.append(guard.key_condition("email", email))
        elif column == "phone" and _PHONE_LIKE.match(term):
            digits = "".join(ch for ch in term if ch.isdigit())
            phone = matching.phone_key(term, region)
            if len(digits) >= 5 and phone:
                out.append(guard.key_condition("phone", phone))
                partial = guard.key_condition("phone", digits, contains=True)
                if partial is not None:
                    out.append(partial)
    return out


def filter_customers(viewer: Viewer | None, f: CustomerFilter | None = None, *, kehu: Kehu | None = None):
    """The viewer's visible customers narrowed by ``f``. Filters run on the visible
    set only, so counts and orderings never include what the viewer cannot see.

    ``search`` looks only in the fields ``kehu.field_guard`` lets the viewer search
    (a field the viewer sees masked is left out, so a count cannot tell whether a
    value exists); without ``kehu``, in all of them.
    """
    qs = visible_customers(viewer)
    f = f or CustomerFilter()
    if f.archived is True:
        qs = qs.filter(archived_at__isnull=False)
    elif f.archived is False:
        qs = qs.filter(archived_at__isnull=True)
    if f.owner_ids is not None:
        qs = qs.filter(owner_id__in=f.owner_ids)
    if f.unassigned is True:
        qs = qs.filter(owner_id__isnull=True)
    elif f.unassigned is False:
        qs = qs.filter(owner_id__isnull=False)
    for tag in v.tags(f.tags, "filter.tags"):
        qs = qs.filter(id__in=Subquery(CustomerTag.filter(tag=tag).values("customer_id")))
    if f.regions is not None:
        qs = qs.filter(region__in=f.regions)
    if f.external_ids is not None:
        qs = qs.filter(external_id__in=[str(x).strip() for x in f.external_ids])
    if f.kinds is not None:
        qs = qs.filter(kind__in=[k.value if isinstance(k, Enum) else k for k in f.kinds])
    if f.search:
        term = v.text(f.search, "filter.search", max_length=200)
        if term:
            conditions = search_conditions(viewer, term, kehu=kehu)
            if not conditions:
                qs = qs.filter(id__lt=0)
            else:  # through the search index where one serves the term; the plain OR otherwise
                indexed = search.indexed_condition(kehu.search_index if kehu is not None else None, conditions)
                qs = qs.filter(indexed if indexed is not None else Q(*conditions, join_type=Q.OR))
    if f.created_after:
        qs = qs.filter(created_at__gte=f.created_after)
    if f.created_before:
        qs = qs.filter(created_at__lt=f.created_before)
    if f.last_interaction_after:
        qs = qs.filter(last_interaction_at__gte=f.last_interaction_after)
    if f.last_interaction_before:
        qs = qs.filter(last_interaction_at__lt=f.last_interaction_before)
    return qs


def order_customers(
    qs,
    field: CustomerOrderField = CustomerOrderField.CREATED_AT,
    descending: bool = False,
    *,
    viewer: Viewer | None = None,
    kehu: Kehu | None = None,
):
    """Order ``qs`` by ``field``. A viewer who sees the field masked may not order
    by it: the order would tell the clear values apart."""
    if kehu is not None and field is CustomerOrderField.NAME:
        if kehu.field_guard.strategy(viewer, "Customer.name") is not Strategy.CLEAR:
            raise ValidationError(
                "your role sees customer names masked and cannot order by them",
                field="orderBy.field",
                code="MASKED_FIELD",
            )
    return qs.order_by(*customer_order(field, descending))


def customer_order(
    field: CustomerOrderField = CustomerOrderField.CREATED_AT, descending: bool = False
) -> tuple[str, str]:
    """The columns of an ordering by ``field``: ties broken by id, in the same direction."""
    sign = "-" if descending else ""
    return f"{sign}{field.value}", f"{sign}id"
