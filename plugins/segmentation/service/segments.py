"""Rule and static segments: creating, changing, deleting them, and keeping a
rule segment's stored members in line with its rule.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from tortoise.connection import connections
from tortoise.expressions import Subquery

from kehu.access import Viewer, visible_customers
from kehu.errors import NotFound, ValidationError

from ..models import ChangeDimension, Segment, SegmentChange, SegmentKind, SegmentMembership
from .rules import compile_rule, rule_members
from .sql import CHANGE, MEMBERSHIP, Dialect, _exec, text_literal

if TYPE_CHECKING:
    from kehu import Kehu


KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _members_sql(kehu: Kehu, segment: Segment) -> tuple[str, list]:
    qs = rule_members(kehu, segment.rule).values("id")
    qs.sql()
    return qs.query.get_parameterized_sql()


async def refresh_rule_segment(conn, kehu: Kehu, segment: Segment, now: dt.datetime, cause: str) -> None:
    """Bring a rule segment's stored members in line with its rule, in four
    set-based statements, recording joins and leaves."""
    d = Dialect()
    sid, at, key = int(segment.id), d.ts(now), text_literal(segment.key)
    members, params = _members_sql(kehu, segment)
    current = f"SELECT customer_id FROM {MEMBERSHIP} WHERE segment_id = {sid}"
    await _exec(
        conn,
        f"""
INSERT INTO {CHANGE} (customer_id, dimension, segment_key, old_value, new_value, cause, changed_at)
SELECT m.id, 'SEGMENT', {key}, 'OUT', 'IN', {text_literal(cause)}, {at} FROM ({members}) m
WHERE m.id NOT IN ({current})""",
        params,
    )
    await _exec(
        conn,
        f"""
INSERT INTO {CHANGE} (customer_id, dimension, segment_key, old_value, new_value, cause, changed_at)
SELECT customer_id, 'SEGMENT', {key}, 'IN', 'OUT', {text_literal(cause)}, {at} FROM {MEMBERSHIP}
WHERE segment_id = {sid} AND customer_id NOT IN ({members})""",
        params,
    )
    await _exec(conn, f"DELETE FROM {MEMBERSHIP} WHERE segment_id = {sid} AND customer_id NOT IN ({members})", params)
    await _exec(
        conn,
        f"""
INSERT INTO {MEMBERSHIP} (segment_id, customer_id, since)
SELECT {sid}, m.id, {at} FROM ({members}) m WHERE m.id NOT IN ({current})""",
        params,
    )


async def refresh_memberships(conn, kehu: Kehu, segment: Segment, causes: dict[int, str], now: dt.datetime) -> None:
    """Bring rule segment ``segment``'s stored members in line with its rule for
    the customers of ``causes`` only (a re-score's), recording each join and leave
    with that customer's cause: two reads and at most four writes, however many."""
    ids = list(causes)
    matches = set(await rule_members(kehu, segment.rule).filter(id__in=ids).using_db(conn).values_list("id", flat=True))
    members = set(
        await SegmentMembership.filter(segment_id=segment.id, customer_id__in=ids)
        .using_db(conn)
        .values_list("customer_id", flat=True)
    )
    joining, leaving = sorted(matches - members), sorted(members - matches)
    if joining:
        await SegmentMembership.bulk_create(
            [SegmentMembership(segment_id=segment.id, customer_id=i, since=now) for i in joining], using_db=conn
        )
    if leaving:
        await SegmentMembership.filter(segment_id=segment.id, customer_id__in=leaving).using_db(conn).delete()
    changes = _changes(segment.key, joining, "OUT", "IN", causes, now) + _changes(
        segment.key, leaving, "IN", "OUT", causes, now
    )
    if changes:
        await SegmentChange.bulk_create(changes, using_db=conn)


def _changes(
    key: str, ids: list[int], old: str, new: str, cause: str | dict[int, str], now: dt.datetime
) -> list[SegmentChange]:
    """History rows of ``ids`` joining (``OUT`` → ``IN``) or leaving segment
    ``key``; ``cause``: one for all, or each customer's."""
    return [
        SegmentChange(
            customer_id=i,
            dimension=ChangeDimension.SEGMENT,
            segment_key=key,
            old_value=old,
            new_value=new,
            cause=cause if isinstance(cause, str) else cause[i],
            changed_at=now,
        )
        for i in ids
    ]


async def _visible_ids(viewer: Viewer, ids: list[int], field: str) -> list[int]:
    found = set(await visible_customers(viewer).filter(id__in=ids).values_list("id", flat=True))
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"no such customer: {missing[0]}", field=field)
    return list(dict.fromkeys(ids))


async def create_segment(
    kehu: Kehu, viewer: Viewer, key: str, name: str, description: str | None, rule: Any, customer_ids: list[int] | None
) -> Segment:
    """A rule segment when ``rule`` is given, else a static one with ``customer_ids``.
    Runs inside the caller's write scope."""
    from kehu.writes import record_change

    viewer.require("segmentation.manage")
    key = (key or "").strip()
    if not KEY_RE.match(key):
        raise ValidationError("use 1-64 lower-case letters, digits, '-' or '_'", field="key", code="INVALID_KEY")
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationError("a name of 1 to 200 characters is required", field="name", code="REQUIRED")
    if rule is not None and customer_ids:
        raise ValidationError("a segment has a rule or hand-picked customers, not both", field="customerIds")
    if rule is not None:
        compile_rule(kehu, rule)
    if await Segment.filter(key=key).exists():
        from kehu.errors import Conflict

        raise Conflict(f"a segment with key '{key}' exists", field="key", code="DUPLICATE")
    now = kehu.clock.now()
    segment = await Segment.create(
        key=key,
        name=name,
        description=(description or "")[:5000],
        kind=SegmentKind.RULE if rule is not None else SegmentKind.STATIC,
        rule=rule,
        created_by_id=viewer.id,
        created_at=now,
        updated_at=now,
    )
    if rule is not None:
        await refresh_rule_segment(connections.get("default"), kehu, segment, now, "SEGMENT_CREATED")
    elif customer_ids:
        await add_static_members(kehu, viewer, segment, customer_ids, now)
    record_change("Segment", segment.id, {"key": (None, key), "name": (None, name), "rule": (None, rule)})
    return segment


async def add_static_members(kehu: Kehu, viewer: Viewer, segment: Segment, ids: list[int], now: dt.datetime) -> None:
    ids = await _visible_ids(viewer, ids, "addCustomerIds")
    present = set(
        await SegmentMembership.filter(segment_id=segment.id, customer_id__in=ids).values_list("customer_id", flat=True)
    )
    new = [i for i in ids if i not in present]
    await SegmentMembership.bulk_create(
        [SegmentMembership(segment_id=segment.id, customer_id=i, since=now) for i in new]
    )
    await SegmentChange.bulk_create(_changes(segment.key, new, "OUT", "IN", "MANUAL", now))


async def remove_static_members(kehu: Kehu, viewer: Viewer, segment: Segment, ids: list[int], now: dt.datetime) -> None:
    ids = await _visible_ids(viewer, ids, "removeCustomerIds")
    present = list(
        await SegmentMembership.filter(segment_id=segment.id, customer_id__in=ids).values_list("customer_id", flat=True)
    )
    await SegmentMembership.filter(segment_id=segment.id, customer_id__in=present).delete()
    await SegmentChange.bulk_create(_changes(segment.key, present, "IN", "OUT", "MANUAL", now))


async def get_segment(key: str) -> Segment:
    segment = await Segment.get_or_none(key=key)
    if segment is None:
        raise NotFound(f"no segment with key '{key}'", field="key")
    return segment


async def update_segment(kehu: Kehu, viewer: Viewer, key: str, changes: dict[str, Any]) -> Segment:
    from kehu.writes import record_change

    viewer.require("segmentation.manage")
    segment = await get_segment(key)
    now = kehu.clock.now()
    audit: dict[str, tuple[Any, Any]] = {}
    if "name" in changes:
        name = (changes["name"] or "").strip()
        if not name or len(name) > 200:
            raise ValidationError("a name of 1 to 200 characters is required", field="name", code="REQUIRED")
        audit["name"] = (segment.name, name)
        segment.name = name
    if "description" in changes:
        audit["description"] = (segment.description, changes["description"] or "")
        segment.description = (changes["description"] or "")[:5000]
    rule_changed = False
    if "rule" in changes:
        if segment.kind is not SegmentKind.RULE:
            raise ValidationError("a static segment has no rule", field="rule")
        if changes["rule"] is None:
            raise ValidationError("a rule segment needs a rule", field="rule", code="REQUIRED")
        compile_rule(kehu, changes["rule"])
        audit["rule"] = (segment.rule, changes["rule"])
        segment.rule = changes["rule"]
        rule_changed = True
    if (changes.get("add") or changes.get("remove")) and segment.kind is not SegmentKind.STATIC:
        raise ValidationError("members of a rule segment follow its rule", field="addCustomerIds")
    segment.updated_at = now
    await segment.save()
    if rule_changed:
        await refresh_rule_segment(connections.get("default"), kehu, segment, now, "SEGMENT_UPDATED")
    if changes.get("add"):
        await add_static_members(kehu, viewer, segment, changes["add"], now)
    if changes.get("remove"):
        await remove_static_members(kehu, viewer, segment, changes["remove"], now)
    record_change("Segment", segment.id, audit)
    return segment


async def delete_segment(kehu: Kehu, viewer: Viewer, key: str) -> Segment:
    """Delete a segment; every member's leaving is recorded (history stays)."""
    from kehu.writes import record_change

    viewer.require("segmentation.manage")
    segment = await get_segment(key)
    now = kehu.clock.now()
    d = Dialect()
    await _exec(
        connections.get("default"),
        f"""
INSERT INTO {CHANGE} (customer_id, dimension, segment_key, old_value, new_value, cause, changed_at)
SELECT customer_id, 'SEGMENT', {text_literal(segment.key)}, 'IN', 'OUT', 'SEGMENT_DELETED', {d.ts(now)}
FROM {MEMBERSHIP} WHERE segment_id = {int(segment.id)}""",
    )
    await SegmentMembership.filter(segment_id=segment.id).delete()
    await segment.delete()
    record_change("Segment", segment.id, {"key": (segment.key, None)})
    return segment


def visible_members(viewer: Viewer | None, segment: Segment):
    return visible_customers(viewer).filter(
        archived_at__isnull=True,
        id__in=Subquery(SegmentMembership.filter(segment_id=segment.id).values("customer_id")),
    )


async def segment_member_ids(segment_key: str, viewer: Viewer | None) -> list[int] | None:
    segment = await Segment.get_or_none(key=segment_key)
    if segment is None:
        return None
    return list(await visible_members(viewer, segment).order_by("id").values_list("id", flat=True))
