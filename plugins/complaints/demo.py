"""Demo complaints for ``kehu demo`` (never for production).

Six months of cases: older ones resolved, closed or rejected (some after missing a
deadline, so the SLA figures have something to show), recent ones open at every
step of the workflow with deadlines running, a few of them overdue. Deterministic
for a given seed and day, like the core's demo data.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import TYPE_CHECKING

from kehu.models import Customer
from kehu.writes import record_change, write_scope

from .models import Complaint, ComplaintChannel, ComplaintPriority, ComplaintTimelineEntry, TimelineKind
from .models import ComplaintStatus as S
from .service import running_deadline, sla_deadlines
from .settings import ComplaintsSettings

if TYPE_CHECKING:
    from kehu import Kehu

WHAT = {
    "product": [
        "The blender stopped working after two weeks",
        "Screen has a dead pixel line",
        "Zip broke on first use",
    ],
    "service": ["Nobody called back as promised", "Staff were rude at the counter", "Waited 40 minutes on the hotline"],
    "billing": ["Charged twice for the same order", "Discount was not applied", "Invoice shows the wrong address"],
    "delivery": ["Parcel arrived damaged", "Delivery is a week late", "Wrong item delivered"],
    "other": ["Cannot change my account e-mail", "Newsletter keeps coming after unsubscribing"],
}
# The path a case took to its status (after RECEIVED).
PATHS = {
    S.RECEIVED: [],
    S.ACKNOWLEDGED: [S.ACKNOWLEDGED],
    S.INVESTIGATING: [S.ACKNOWLEDGED, S.INVESTIGATING],
    S.RESOLUTION_PROPOSED: [S.ACKNOWLEDGED, S.INVESTIGATING, S.RESOLUTION_PROPOSED],
    S.RESOLVED: [S.ACKNOWLEDGED, S.INVESTIGATING, S.RESOLUTION_PROPOSED, S.RESOLVED],
    S.CLOSED: [S.ACKNOWLEDGED, S.INVESTIGATING, S.RESOLUTION_PROPOSED, S.RESOLVED, S.CLOSED],
    S.REJECTED: [S.ACKNOWLEDGED, S.INVESTIGATING, S.REJECTED],
}
OPEN = [S.RECEIVED, S.ACKNOWLEDGED, S.INVESTIGATING, S.RESOLUTION_PROPOSED]


async def seed_complaints(kehu: Kehu, customer_ids: list[int] | None, *, seed: int = 7) -> int:
    settings = kehu.settings_for("complaints", ComplaintsSettings)
    if await Complaint.exists():
        return 0
    customers = (
        await Customer.filter(
            **({"id__in": customer_ids} if customer_ids else {}), owner_id__isnull=False, archived_at__isnull=True
        )
        .order_by("id")
        .values_list("id", "owner_id")
    )
    if not customers:
        return 0
    rnd = random.Random(seed)
    now = kehu.clock.now().replace(microsecond=0)
    rows: list[tuple[Complaint, list[tuple[dt.datetime, S, S]]]] = []
    for index in range(90):
        customer_id, owner_id = (
            customers[rnd.randrange(len(customers))] if index >= 12 else customers[index * 7 % len(customers)]
        )
        recent = index < 24
        priority = rnd.choices(list(ComplaintPriority), weights=[2, 6, 3, 1])[0]
        if recent:
            created = now - dt.timedelta(hours=rnd.uniform(0.2, 96))
            status = OPEN[index % len(OPEN)]
        else:
            created = now - dt.timedelta(days=rnd.uniform(4, 180))
            status = rnd.choices([S.CLOSED, S.RESOLVED, S.REJECTED], weights=[6, 2, 1])[0]
        first_due, resolution_due = sla_deadlines(priority, created, settings)
        first_window = first_due - created
        resolution_window = resolution_due - created
        late = rnd.random() < 0.18  # some cases miss a deadline
        at = created
        history = []
        fields: dict = {}
        for step in PATHS[status]:
            if step is S.ACKNOWLEDGED:
                at = created + first_window * (rnd.uniform(1.1, 2.0) if late else rnd.uniform(0.1, 0.8))
                fields["first_responded_at"] = at
            else:
                at = at + (resolution_window * (rnd.uniform(0.15, 0.5) if late else rnd.uniform(0.05, 0.25)))
            at = min(at, now - dt.timedelta(minutes=5))
            history.append((at, history[-1][2] if history else S.RECEIVED, step))
            if step is S.RESOLVED:
                fields["resolved_at"] = at
                fields["follow_up_due_at"] = at + dt.timedelta(hours=settings.follow_up_delay_hours)
            elif step is S.CLOSED:
                fields["closed_at"] = at
            elif step is S.REJECTED:
                fields["rejected_at"] = at
                fields["rejection_reason"] = "The product was used outside its warranty terms."
            elif step is S.RESOLUTION_PROPOSED:
                fields["resolution"] = "Replacement and a voucher for the inconvenience."
        responded = fields.get("first_responded_at")
        if responded and responded > first_due:
            fields["first_response_breached_at"] = first_due
        elif not responded and first_due < now:
            fields["first_response_breached_at"] = first_due
        finished = fields.get("resolved_at") or fields.get("rejected_at")
        if (finished and finished > resolution_due) or (not finished and resolution_due < now):
            fields["resolution_breached_at"] = resolution_due
        category = rnd.choice([c for c in settings.categories if c in WHAT] or settings.categories)
        complaint = Complaint(
            customer_id=customer_id,
            assignee_id=owner_id,
            filed_by_id=owner_id,
            channel=rnd.choice(list(ComplaintChannel)),
            category=category,
            priority=priority,
            status=status,
            description=rnd.choice(WHAT.get(category, WHAT["other"])),
            key_points="",
            first_response_due_at=first_due,
            resolution_due_at=resolution_due,
            created_at=created,
            updated_at=history[-1][0] if history else created,
            **fields,
        )
        complaint.next_due_at = running_deadline(complaint)
        rows.append((complaint, history))
    async with write_scope(kehu, None, "complaints.seedDemo", actor_label="kehu demo"):
        await Complaint.bulk_create([c for c, _ in rows])
        created_rows = await Complaint.all().order_by("id").values_list("id", flat=True)
        entries = []
        for (complaint, history), pk in zip(rows, created_rows):
            complaint.id = pk
            entries.append(
                ComplaintTimelineEntry(
                    complaint_id=pk,
                    at=complaint.created_at,
                    actor_id=complaint.filed_by_id,
                    kind=TimelineKind.FILED,
                    to_status=S.RECEIVED,
                    internal=False,
                )
            )
            for at, before, after in history:
                entries.append(
                    ComplaintTimelineEntry(
                        complaint_id=pk,
                        at=at,
                        actor_id=complaint.assignee_id,
                        kind=TimelineKind.TRANSITION,
                        from_status=before,
                        to_status=after,
                        note=complaint.resolution or "" if after is S.RESOLUTION_PROPOSED else "",
                    )
                )
        await ComplaintTimelineEntry.bulk_create(entries)
        record_change("Complaint", None, {"demo complaints": (0, len(rows))})
    return len(rows)
