"""The complaints plugin's Tortoise models: the ``complaints`` Tortoise app.

Complaints are never deleted (they are the record of what went wrong and how it
was handled), so every foreign key is ``RESTRICT``. Times are timezone-aware UTC
and come from the injected clock, not from ``auto_now``: SLA deadlines are computed
from ``created_at``, and tests freeze time.
"""

from enum import Enum

from tortoise import fields
from tortoise.models import Model


class ComplaintStatus(str, Enum):
    RECEIVED = "RECEIVED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    INVESTIGATING = "INVESTIGATING"
    RESOLUTION_PROPOSED = "RESOLUTION_PROPOSED"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"
    REJECTED = "REJECTED"
    REOPENED = "REOPENED"


class ComplaintPriority(str, Enum):
    LOW = "LOW"
    NORMAL = "NORMAL"
    HIGH = "HIGH"
    URGENT = "URGENT"


class ComplaintChannel(str, Enum):
    HOTLINE = "HOTLINE"
    EMAIL = "EMAIL"
    WEB = "WEB"
    VISIT = "VISIT"
    SOCIAL = "SOCIAL"
    OTHER = "OTHER"


class TimelineKind(str, Enum):
    FILED = "FILED"
    TRANSITION = "TRANSITION"
    NOTE = "NOTE"
    ASSIGNED = "ASSIGNED"
    SLA_BREACHED = "SLA_BREACHED"
    ESCALATED = "ESCALATED"


class Complaint(Model):
    """One complaint case of a customer (客户投诉), with its SLA clock."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    customer = fields.ForeignKeyField("core.Customer", related_name="complaints", on_delete=fields.RESTRICT)
    assignee = fields.ForeignKeyField(
        "core.AccountOwner", related_name="assigned_complaints", null=True, on_delete=fields.RESTRICT
    )
    filed_by = fields.ForeignKeyField(
        "core.AccountOwner", related_name="filed_complaints", null=True, on_delete=fields.RESTRICT
    )
    channel = fields.CharEnumField(ComplaintChannel, max_length=16)
    category = fields.CharField(max_length=100)
    priority = fields.CharEnumField(ComplaintPriority, max_length=16, default=ComplaintPriority.NORMAL)
    status = fields.CharEnumField(ComplaintStatus, max_length=24, default=ComplaintStatus.RECEIVED)
    description = fields.TextField()
    key_points = fields.TextField(default="")
    resolution = fields.TextField(null=True)
    rejection_reason = fields.TextField(null=True)

    # SLA: the two deadlines, and the one currently running (NULL once none is),
    # kept as a column so `overdue` / `dueWithin` filters use an index.
    first_response_due_at = fields.DatetimeField()
    resolution_due_at = fields.DatetimeField()
    next_due_at = fields.DatetimeField(null=True)
    # When a deadline was missed (the deadline itself), recorded once.
    first_response_breached_at = fields.DatetimeField(null=True)
    resolution_breached_at = fields.DatetimeField(null=True)
    escalated_at = fields.DatetimeField(null=True)
    escalation_reason = fields.TextField(null=True)

    first_responded_at = fields.DatetimeField(null=True)
    resolved_at = fields.DatetimeField(null=True)
    rejected_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    reopened_at = fields.DatetimeField(null=True)
    reopen_count = fields.IntField(default=0)
    follow_up_due_at = fields.DatetimeField(null=True)
    follow_up_interaction = fields.ForeignKeyField(
        "core.Interaction", related_name="complaint_follow_ups", null=True, on_delete=fields.RESTRICT
    )

    created_at = fields.DatetimeField(db_index=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "complaints_complaint"
        indexes = (("customer_id", "created_at"), ("assignee_id", "status"), ("status", "next_due_at"))

    def __str__(self) -> str:
        return f"Complaint #{self.id}"


class ComplaintTimelineEntry(Model):
    """One line of a complaint's history: filing, a transition, a note, an
    assignment, an SLA breach or an escalation. Append-only."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    complaint = fields.ForeignKeyField("complaints.Complaint", related_name="timeline", on_delete=fields.RESTRICT)
    at = fields.DatetimeField()
    actor = fields.ForeignKeyField(
        "core.AccountOwner", related_name="complaint_timeline_entries", null=True, on_delete=fields.RESTRICT
    )
    kind = fields.CharEnumField(TimelineKind, max_length=16)
    from_status = fields.CharEnumField(ComplaintStatus, max_length=24, null=True)
    to_status = fields.CharEnumField(ComplaintStatus, max_length=24, null=True)
    note = fields.TextField(default="")
    # Internal notes are for staff; customer-facing ones were told to the customer.
    internal = fields.BooleanField(default=True)
    # The customer interaction this entry was also logged as (customer contacts).
    interaction = fields.ForeignKeyField(
        "core.Interaction", related_name="complaint_timeline_entries", null=True, on_delete=fields.RESTRICT
    )

    class Meta:
        table = "complaints_timeline_entry"
        indexes = (("complaint_id", "at"),)
