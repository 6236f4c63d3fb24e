from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from kehu.plugins.complaints.models import ComplaintChannel, ComplaintPriority, ComplaintStatus, TimelineKind


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    initial = True

    operations = [
        ops.CreateModel(
            name="Complaint",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "customer",
                    fields.ForeignKeyField(
                        "core.Customer",
                        source_field="customer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="complaints",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "assignee",
                    fields.ForeignKeyField(
                        "core.AccountOwner",
                        source_field="assignee_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="assigned_complaints",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "filed_by",
                    fields.ForeignKeyField(
                        "core.AccountOwner",
                        source_field="filed_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="filed_complaints",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "channel",
                    fields.CharEnumField(
                        description="HOTLINE: HOTLINE\nEMAIL: EMAIL\nWEB: WEB\nVISIT: VISIT\nSOCIAL: SOCIAL\nOTHER: OTHER",
                        enum_type=ComplaintChannel,
                        max_length=16,
                    ),
                ),
                ("category", fields.CharField(max_length=100)),
                (
                    "priority",
                    fields.CharEnumField(
                        default=ComplaintPriority.NORMAL,
                        description="LOW: LOW\nNORMAL: NORMAL\nHIGH: HIGH\nURGENT: URGENT",
                        enum_type=ComplaintPriority,
                        max_length=16,
                    ),
                ),
                (
                    "status",
                    fields.CharEnumField(
                        default=ComplaintStatus.RECEIVED,
                        description="RECEIVED: RECEIVED\nACKNOWLEDGED: ACKNOWLEDGED\nINVESTIGATING: INVESTIGATING\nRESOLUTION_PROPOSED: RESOLUTION_PROPOSED\nRESOLVED: RESOLVED\nCLOSED: CLOSED\nREJECTED: REJECTED\nREOPENED: REOPENED",
                        enum_type=ComplaintStatus,
                        max_length=24,
                    ),
                ),
                ("description", fields.TextField(unique=False)),
                ("key_points", fields.TextField(default="", unique=False)),
                ("resolution", fields.TextField(null=True, unique=False)),
                ("rejection_reason", fields.TextField(null=True, unique=False)),
                ("first_response_due_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("resolution_due_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("next_due_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("first_response_breached_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("resolution_breached_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("escalated_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("escalation_reason", fields.TextField(null=True, unique=False)),
                ("first_responded_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("resolved_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("rejected_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("closed_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("reopened_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("reopen_count", fields.IntField(default=0)),
                ("follow_up_due_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "follow_up_interaction",
                    fields.ForeignKeyField(
                        "core.Interaction",
                        source_field="follow_up_interaction_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="complaint_follow_ups",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("created_at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "complaints_complaint",
                "app": "complaints",
                "indexes": [
                    Index(fields=["customer_id", "created_at"]),
                    Index(fields=["assignee_id", "status"]),
                    Index(fields=["status", "next_due_at"]),
                ],
                "pk_attr": "id",
                "table_description": "One complaint case of a customer (客户投诉), with its SLA clock.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ComplaintTimelineEntry",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "complaint",
                    fields.ForeignKeyField(
                        "complaints.Complaint",
                        source_field="complaint_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="timeline",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "actor",
                    fields.ForeignKeyField(
                        "core.AccountOwner",
                        source_field="actor_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="complaint_timeline_entries",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "kind",
                    fields.CharEnumField(
                        description="FILED: FILED\nTRANSITION: TRANSITION\nNOTE: NOTE\nASSIGNED: ASSIGNED\nSLA_BREACHED: SLA_BREACHED\nESCALATED: ESCALATED",
                        enum_type=TimelineKind,
                        max_length=16,
                    ),
                ),
                (
                    "from_status",
                    fields.CharEnumField(
                        null=True,
                        description="RECEIVED: RECEIVED\nACKNOWLEDGED: ACKNOWLEDGED\nINVESTIGATING: INVESTIGATING\nRESOLUTION_PROPOSED: RESOLUTION_PROPOSED\nRESOLVED: RESOLVED\nCLOSED: CLOSED\nREJECTED: REJECTED\nREOPENED: REOPENED",
                        enum_type=ComplaintStatus,
                        max_length=24,
                    ),
                ),
                (
                    "to_status",
                    fields.CharEnumField(
                        null=True,
                        description="RECEIVED: RECEIVED\nACKNOWLEDGED: ACKNOWLEDGED\nINVESTIGATING: INVESTIGATING\nRESOLUTION_PROPOSED: RESOLUTION_PROPOSED\nRESOLVED: RESOLVED\nCLOSED: CLOSED\nREJECTED: REJECTED\nREOPENED: REOPENED",
                        enum_type=ComplaintStatus,
                        max_length=24,
                    ),
                ),
                ("note", fields.TextField(default="", unique=False)),
                ("internal", fields.BooleanField(default=True)),
                (
                    "interaction",
                    fields.ForeignKeyField(
                        "core.Interaction",
                        source_field="interaction_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="complaint_timeline_entries",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
            ],
            options={
                "table": "complaints_timeline_entry",
                "app": "complaints",
                "indexes": [Index(fields=["complaint_id", "at"])],
                "pk_attr": "id",
                "table_description": "One line of a complaint's history: filing, a transition, a note, an",
            },
            bases=["Model"],
        ),
    ]
