"""Merging duplicate customers: one record remains (the survivor), the others
are archived as merged into it, and everything that was theirs becomes its —
in one transaction, with one audit entry.

``merge_customers`` (the ``mergeCustomers`` mutation):

1. Checks: permission ``customers.merge``; the viewer may see every record; the
   survivor is active, none of them was merged before; at most ``MAX_MERGED``.
2. **Fields.** Each field's value comes from the record the caller chose for it;
   by default the survivor's, and where the survivor's is empty, the first merged
   record's that is not. Tags are the union of all; attributes keep the
   survivor's keys and gain those only a merged record has. The survivor becomes a
   customer since the earliest ``created_at``. An external id taken from a merged
   record moves (it is unique); the others stay on their archived records, where
   they still lead to the survivor.
3. **Interactions** move to the survivor (an idempotency key that both records
   used is kept apart with a suffix, so no retry can collide).
4. **Plugins** move their own data: the hook ``kehu_customers_merged`` runs in the
   same transaction (see its docstring in ``kehu.hookspecs``). Then every foreign
   key to ``core.Customer`` of every enabled app is checked: a row still pointing
   at a merged customer undoes the whole merge (``MERGE_INCOMPLETE``) — nothing
   is left behind on an archived record.
5. **Merged records** are archived with ``merged_into`` set; earlier merges into
   them are re-pointed at the survivor, so every old id is one step from the
   customer it now is (``kehu.customers.resolve_customer_ids``): ``node(id)``,
   ``customer(id)`` and every service that takes a customer id follow it.
6. One audit entry (operation ``mergeCustomers``) holds the survivor's field
   changes, the merged customers, and what each part moved; after the commit
   ``kehu_customer_updated`` is delivered for the survivor, so plugins that derive
   data from a customer's history (scores) recompute it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tortoise.expressions import Q

from . import duplicates
from . import validation as v
from .access import Viewer, visible_customers
from .bulk import is_postgres
from .customers import EDITABLE
from .errors import KehuError, NotFound, PluginError, ValidationError
from .ids import to_global_id
from .models import Customer, CustomerTag, DuplicatePair, DuplicateStatus, Interaction
from .writes import emit, publish, record_change

if TYPE_CHECKING:
    from .server.runtime import Kehu

log = logging.getLogger(__name__)

MAX_MERGED = 20
# The fields a merge chooses a value for, in the order the API lists them.
MERGEABLE_FIELDS = (*EDITABLE, "owner_id")
HOOK = "kehu_customers_merged"


class MergeFailed(KehuError):
    """A part of the merge could not be done; nothing was merged."""

    code = "MERGE_FAILED"


@dataclass
class MergeResult:
    """What ``merge_customers`` did: the survivor as merged, the merged customers
    as they were, what each part moved, and the survivor's field changes."""

    survivor: Customer
    merged: list[Customer]
    # What each part moved: {"core": {"interactions": 12}, "loyalty": {"ledger_entries": 3}}.
    moved: dict[str, dict[str, int]] = field(default_factory=dict)
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def merged_values(survivor: Customer, others: list[Customer], choices: dict[str, int]) -> dict[str, Any]:
    """The survivor's field values after the merge (see the module docstring)."""
    by_id = {c.id: c for c in [survivor, *others]}
    out: dict[str, Any] = {}
    for name in MERGEABLE_FIELDS:
        if name in choices:
            out[name] = getattr(by_id[choices[name]], name)
        elif name == "tags":
            out[name] = sorted(set(survivor.tags or []).union(*(o.tags or [] for o in others)))
        elif name == "attributes":
            attributes = dict(survivor.attributes or {})
            for other in others:
                for key, value in (other.attributes or {}).items():
                    if _empty(attributes.get(key)):
                        attributes[key] = value
            out[name] = attributes
        else:
            value = getattr(survivor, name)
            if _empty(value):
                value = next((getattr(o, name) for o in others if not _empty(getattr(o, name))), value)
            out[name] = value
    return out


async def _lock(ids: list[int]) -> None:
    """PostgreSQL: lock the rows, so two merges of the same records take turns
    (SQLite runs one write transaction at a time)."""
    if is_postgres(Customer):
        await Customer.filter(id__in=ids).select_for_update().values_list("id", flat=True)


async def merge_customers(
    viewer: Viewer,
    survivor_id: int,
    merged_ids: list[int],
    choices: dict[str, int] | None = None,
    *,
    kehu: Kehu | None = None,
) -> MergeResult:
    """Merge ``merged_ids`` into ``survivor_id`` (see the module docstring).

    :param choices: ``{field: customer id}`` — whose value of ``field`` the
        survivor keeps (``MERGEABLE_FIELDS``; the id must be one of the merge).
    :raises PermissionDenied: without ``customers.merge``.
    :raises NotFound: a record the viewer may not see (as if it did not exist).
    :raises ValidationError: bad ids or choices (field, code).
    :raises MergeFailed: a plugin could not move its data, or left rows behind.
    """
    viewer.require("customers.merge")
    kehu = duplicates.current_kehu(kehu)
    choices = dict(choices or {})
    merged_ids = list(merged_ids)
    if not merged_ids:
        raise ValidationError("name at least one customer to merge", field="mergedIds", code="REQUIRED")
    if len(merged_ids) > MAX_MERGED:
        raise ValidationError(f"at most {MAX_MERGED} customers per merge", field="mergedIds", code="TOO_MANY")
    if len(set(merged_ids)) != len(merged_ids):
        raise ValidationError("a customer is named twice", field="mergedIds", code="DUPLICATE_ID")
    if survivor_id in merged_ids:
        raise ValidationError("the survivor cannot be merged into itself", field="mergedIds", code="SELF_MERGE")
    all_ids = [survivor_id, *merged_ids]
    for name, source in choices.items():
        if name not in MERGEABLE_FIELDS:
            raise ValidationError(f"'{name}' cannot be chosen", field="fields", code="UNKNOWN_FIELD")
        if source not in all_ids:
            raise ValidationError(
                "must be the survivor or one of the merged customers",
                field=f"fields.{_camel(name)}",
                code="NOT_IN_MERGE",
            )
    await _lock(all_ids)
    found = {c.id: c for c in await visible_customers(viewer).filter(id__in=all_ids)}
    if survivor_id not in found:
        raise NotFound("no such customer", field="survivorId")
    for index, pk in enumerate(merged_ids):
        if pk not in found:
            raise NotFound("no such customer", field=f"mergedIds.{index}")
    survivor = found[survivor_id]
    merged = [found[pk] for pk in merged_ids]
    if survivor.archived_at is not None:
        raise ValidationError("the survivor must not be archived", field="survivorId", code="ARCHIVED")
    for field_name, customer in [("survivorId", survivor), *((f"mergedIds.{i}", c) for i, c in enumerate(merged))]:
        if customer.merged_into_id is not None:
            raise ValidationError(
                f"customer {to_global_id('Customer', customer.id)} was merged already",
                field=field_name,
                code="ALREADY_MERGED",
            )

    now = kehu.clock.now() if kehu is not None else dt.datetime.now(dt.UTC)
    record_change("Customer", survivor.id)  # the audit entry is the survivor's; the others' changes nest in it
    result = MergeResult(survivor, merged)
    result.changes = await _apply_fields(kehu, survivor, merged, choices)
    core = await _move_core(survivor, merged)
    result.moved["core"] = core
    await _call_plugins(kehu, viewer, survivor, merged, result)
    for customer in merged:
        before = customer.archived_at
        customer.archived_at = customer.archived_at or now
        customer.merged_into_id = survivor.id
        await Customer.filter(id=customer.id).update(archived_at=customer.archived_at, merged_into_id=survivor.id)
        record_change(
            "Customer",
            customer.id,
            {
                "archived_at": (before, customer.archived_at),
                "merged_into": (None, to_global_id("Customer", survivor.id)),
            },
        )
    earlier = await Customer.filter(merged_into_id__in=merged_ids).update(merged_into_id=survivor.id)
    if earlier:
        core["earlier_merges"] = earlier
    await _check_nothing_left(kehu, survivor, merged_ids)
    record_change(
        "Customer",
        survivor.id,
        {
            **result.changes,
            "merged": (None, [to_global_id("Customer", pk) for pk in merged_ids]),
            "moved": (None, result.moved),
        },
    )
    emit("kehu_customer_updated", customer=survivor, changes=result.changes)
    publish(
        "customer.merged",
        customer_id=survivor.id,
        node_id=to_global_id("Customer", survivor.id),
        mergedIds=[to_global_id("Customer", pk) for pk in merged_ids],
    )
    return result


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


async def _apply_fields(
    kehu: Kehu | None, survivor: Customer, merged: list[Customer], choices: dict[str, int]
) -> dict[str, tuple[Any, Any]]:
    values = merged_values(survivor, merged, choices)
    try:
        values["tags"] = v.tags(values["tags"], "fields.tags")
        values["attributes"] = v.attributes(values["attributes"], "fields.attributes")
    except ValidationError as exc:
        raise ValidationError(
            f"{exc.message} once merged: choose one record's {(exc.field or '').split('.')[-1]} in fields",
            field=exc.field,
            code=exc.code,
        ) from None
    changes = {
        name: (getattr(survivor, name), value) for name, value in values.items() if getattr(survivor, name) != value
    }
    since = min([survivor.created_at, *(c.created_at for c in merged)])
    if since != survivor.created_at:
        changes["created_at"] = (survivor.created_at, since)
    latest = max(
        [t for t in [survivor.last_interaction_at, *(c.last_interaction_at for c in merged)] if t], default=None
    )
    if latest != survivor.last_interaction_at:
        changes["last_interaction_at"] = (survivor.last_interaction_at, latest)
    if "external_id" in changes:
        # Unique: the record it comes from lets go of it first.
        holder = next(c for c in merged if c.external_id == changes["external_id"][1])
        await Customer.filter(id=holder.id).update(external_id=None)
        record_change("Customer", holder.id, {"external_id": (holder.external_id, None)})
        holder.external_id = None
    if not changes:
        return {}
    for name, (_, value) in changes.items():
        setattr(survivor, name, value)
    keyed = duplicates.apply_keys(kehu, survivor)
    await survivor.save(update_fields=[*changes, *keyed, "updated_at"])
    if "tags" in changes:
        await CustomerTag.filter(customer_id=survivor.id).delete()
        await CustomerTag.bulk_create([CustomerTag(customer_id=survivor.id, tag=t) for t in survivor.tags])
    return changes


async def _move_core(survivor: Customer, merged: list[Customer]) -> dict[str, int]:
    """Interactions, duplicate candidates and tag rows."""
    merged_ids = [c.id for c in merged]
    moved: dict[str, int] = {}
    # Idempotency keys: a key both records used would make a retry ambiguous once
    # they are one customer; the moved one gets a suffix.
    seen = set(
        await Interaction.filter(customer_id=survivor.id, idempotency_key__isnull=False).values_list(
            "idempotency_key", flat=True
        )
    )
    for customer in merged:
        rows = await Interaction.filter(customer_id=customer.id, idempotency_key__isnull=False).values_list(
            "id", "idempotency_key"
        )
        for pk, key in rows:
            if key in seen:
                key = f"{key[: 100 - 12]}~m{customer.id}"[:100]
                await Interaction.filter(id=pk).update(idempotency_key=key)
            seen.add(key)
    moved["interactions"] = await Interaction.filter(customer_id__in=merged_ids).update(customer_id=survivor.id)
    moved["duplicate_candidates"] = await _rehome_pairs(survivor.id, merged_ids)
    # The merged records keep their tags as fields; the rows that index them go.
    await CustomerTag.filter(customer_id__in=merged_ids).delete()
    return {k: n for k, n in moved.items() if n}


async def _rehome_pairs(survivor_id: int, merged_ids: list[int]) -> int:
    """Candidate pairs of the merged customers become the survivor's; pairs
    between records of the merge are settled by it and go. Where the survivor
    already has a pair with the same customer, the survivor's is kept."""
    ids = [survivor_id, *merged_ids]
    target = {pk: survivor_id for pk in merged_ids}
    pairs = await DuplicatePair.filter(Q(customer_a_id__in=ids) | Q(customer_b_id__in=ids)).order_by("id")
    kept: dict[tuple[int, int], DuplicatePair] = {}
    drop: list[int] = []
    move: list[DuplicatePair] = []
    # The survivor's own pairs first: where both it and a merged record had a pair
    # with the same customer, the survivor's is the one kept.
    for pair in sorted(pairs, key=lambda p: (survivor_id not in (p.customer_a_id, p.customer_b_id), p.id)):
        a, b = target.get(pair.customer_a_id, pair.customer_a_id), target.get(pair.customer_b_id, pair.customer_b_id)
        if a == b:
            drop.append(pair.id)
            continue
        key = (min(a, b), max(a, b))
        if key in kept:
            # Keep a decision: a dismissal stays.
            if pair.status is DuplicateStatus.DISMISSED and kept[key].status is not DuplicateStatus.DISMISSED:
                drop.append(kept[key].id)
                if kept[key] in move:
                    move.remove(kept[key])
                kept[key] = pair
                move.append(pair)
            else:
                drop.append(pair.id)
            continue
        kept[key] = pair
        if key != (pair.customer_a_id, pair.customer_b_id):
            move.append(pair)
    if drop:
        await DuplicatePair.filter(id__in=drop).delete()
    for pair in move:
        a, b = target.get(pair.customer_a_id, pair.customer_a_id), target.get(pair.customer_b_id, pair.customer_b_id)
        await DuplicatePair.filter(id=pair.id).update(customer_a_id=min(a, b), customer_b_id=max(a, b))
    return len(drop) + len(move)


async def _call_plugins(
    kehu: Kehu | None, viewer: Viewer, survivor: Customer, merged: list[Customer], result: MergeResult
) -> None:
    if kehu is None:
        return
    try:
        answers = await kehu.hooks.within(HOOK, survivor=survivor, merged=merged, actor=viewer.owner)
    except PluginError as exc:
        raise MergeFailed(f"{exc.message}; nothing was merged") from exc
    for plugin, moved in answers:
        counts = _counts(moved)
        if counts is None:
            # What was moved is checked below, table by table; a return value the
            # audit entry cannot show is no reason to refuse the merge.
            log.warning("plugin '%s': %s returned %r, not a dict of counts; not shown", plugin, HOOK, moved)
        elif counts:
            result.moved[plugin] = counts


def _counts(moved: Any) -> dict[str, int] | None:
    """A hook's answer as ``{item: count}``: a dict of counts, one number (its
    rows), or nothing; ``None`` for anything else."""
    if moved is None or moved is True or moved is False:
        return {}
    if isinstance(moved, int):
        return {"rows": moved} if moved else {}
    if not isinstance(moved, dict):
        return None
    try:
        return {str(k): int(n) for k, n in moved.items() if n}
    except (TypeError, ValueError):
        return None


async def _check_nothing_left(kehu: Kehu | None, survivor: Customer, merged_ids: list[int]) -> None:
    """Every foreign key to ``core.Customer`` in every enabled app: no row may
    still point at a merged customer (``Customer.merged_into`` aside)."""
    ctx = getattr(kehu, "ctx", None)
    if kehu is None or ctx is None:
        return
    for app in kehu.apps:
        for model in ctx.apps[app].values():
            meta = model._meta
            for name in (*meta.fk_fields, *meta.o2o_fields):
                field_object = meta.fields_map[name]
                if field_object.related_model is not Customer or (model is Customer and name == "merged_into"):
                    continue
                column = field_object.source_field or f"{name}_id"
                left = await model.filter(**{f"{column}__in": merged_ids}).count()
                if left:
                    owner = "kehu" if app == "core" else f"plugin '{app}'"
                    raise MergeFailed(
                        f"{owner} keeps {left} row(s) of {meta.db_table} for the merged customers and did not move "
                        f"them to the survivor ({HOOK} not implemented?); nothing was merged",
                        code="MERGE_INCOMPLETE",
                    )
