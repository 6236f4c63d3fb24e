"""The followups plugin's table (Tortoise app ``followups``)."""

from tortoise import fields
from tortoise.models import Model


class FollowUpPlan(Model):
    """A customer's follow-up plan: contact them every ``interval_days`` days.

    ``next_due_at`` moves forward whenever a counting interaction is logged (or to
    the date agreed in the interaction's ``next_follow_up_at``). A stopped plan is
    kept (``active`` false) so its history is not lost.
    """

    id = fields.IntField(primary_key=True)
    customer = fields.OneToOneField("core.Customer", related_name="followups_plan", on_delete=fields.RESTRICT)
    interval_days = fields.IntField()
    next_due_at = fields.DatetimeField()
    last_contact_at = fields.DatetimeField(null=True)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "followups_plan"
        indexes = (("active", "next_due_at"),)
