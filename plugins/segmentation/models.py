"""The segmentation plugin's tables (Tortoise app ``segmentation``).

``Classification`` holds one row per customer: the inputs (recency, frequency,
monetary, lifetime figures) next to the classes derived from them, so that an
explanation never has to recompute anything. Money is kept in integer cents
(exact on SQLite, where SUM over decimals would be float arithmetic). The
thresholds in force are those of the ``RecomputeRun`` the row was scored against;
``as_of`` is the date the row describes (days are counted up to its end).

``SegmentChange`` is append-only history: one row per change of value tier,
lifecycle stage or segment membership.
"""

from enum import Enum

from tortoise import fields
from tortoise.models import Model


class ValueTier(str, Enum):
    CORE = "CORE"
    POTENTIAL = "POTENTIAL"
    GENERAL = "GENERAL"


class LifecycleStage(str, Enum):
    PROSPECT = "PROSPECT"
    NEW = "NEW"
    ACTIVE = "ACTIVE"
    LOYAL = "LOYAL"
    AT_RISK = "AT_RISK"
    CHURNED = "CHURNED"


class AbcClass(str, Enum):
    A = "A"
    B = "B"
    C = "C"


class FrequencyClass(str, Enum):
    HIGH = "HIGH"
    LOW = "LOW"
    ZERO = "ZERO"


class SegmentKind(str, Enum):
    RULE = "RULE"  # membership follows a rule tree, re-evaluated on every recompute
    STATIC = "STATIC"  # a hand-picked list (分组)


class ChangeDimension(str, Enum):
    VALUE_TIER = "VALUE_TIER"
    LIFECYCLE_STAGE = "LIFECYCLE_STAGE"
    SEGMENT = "SEGMENT"


class RecomputeRun(Model):
    """One full recompute: when, over how many customers, and the score borders it
    found (``thresholds``), which incremental updates reuse until the next run; the
    date it describes (``as_of``) in which time zone, and the CLV model it fitted
    (``clv_model``: parameters, fit date, or why it fell back)."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    started_at = fields.DatetimeField()
    as_of = fields.DateField(null=True)
    timezone = fields.CharField(max_length=64, default="UTC")
    clv_model = fields.JSONField(default=dict)
    finished_at = fields.DatetimeField(null=True)
    population = fields.IntField(default=0)
    customers = fields.IntField(default=0)
    changes = fields.IntField(default=0)
    thresholds = fields.JSONField(default=dict)

    class Meta:
        table = "segmentation_run"


class Classification(Model):
    """A customer's current scores and classes, with the inputs that explain them."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    customer = fields.OneToOneField("core.Customer", related_name="segmentation", on_delete=fields.RESTRICT)
    archived = fields.BooleanField(default=False)
    # Inputs: purchases within the window, and over the whole relationship.
    recency_days = fields.IntField(null=True)
    tenure_days = fields.IntField(null=True)
    frequency = fields.IntField(default=0)
    monetary_cents = fields.BigIntField(default=0)
    lifetime_purchases = fields.IntField(default=0)
    lifetime_revenue_cents = fields.BigIntField(default=0)
    purchase_days = fields.IntField(default=0)  # calendar days with a purchase, ever
    # Derived.
    r = fields.SmallIntField(null=True)
    f = fields.SmallIntField(null=True)
    m = fields.SmallIntField(null=True)
    rfm_segment = fields.CharField(max_length=40, null=True)
    abc_class = fields.CharField(max_length=1, null=True)
    frequency_class = fields.CharField(max_length=8)
    value_tier = fields.CharField(max_length=16)
    lifecycle_stage = fields.CharField(max_length=16)
    # Which condition of settings.value_tiers placed the customer (its index in the
    # tier's list); null for GENERAL.
    tier_rule = fields.SmallIntField(null=True)
    clv_predicted_cents = fields.BigIntField(default=0)
    # The CLV model's figures over clv.horizon_days (null: no model figure).
    p_alive = fields.FloatField(null=True)
    expected_purchases = fields.FloatField(null=True)
    expected_revenue_cents = fields.BigIntField(default=0)
    as_of = fields.DateField(null=True)
    computed_at = fields.DatetimeField()
    run = fields.ForeignKeyField("segmentation.RecomputeRun", related_name=False, null=True, on_delete=fields.SET_NULL)

    class Meta:
        table = "segmentation_classification"
        indexes = (("value_tier",), ("lifecycle_stage",), ("abc_class",))


class Staging(Model):
    """Scratch space of a recompute: rows are written, scored and diffed here in SQL,
    then copied over ``Classification``. No foreign keys, for speed."""

    _no_comments = True

    customer_id = fields.IntField(primary_key=True, generated=False)
    archived = fields.BooleanField(default=False)
    recency_days = fields.IntField(null=True)
    tenure_days = fields.IntField(null=True)
    frequency = fields.IntField(default=0)
    monetary_cents = fields.BigIntField(default=0)
    lifetime_purchases = fields.IntField(default=0)
    lifetime_revenue_cents = fields.BigIntField(default=0)
    purchase_days = fields.IntField(default=0)
    r = fields.SmallIntField(null=True)
    f = fields.SmallIntField(null=True)
    m = fields.SmallIntField(null=True)
    rfm_segment = fields.CharField(max_length=40, null=True)
    abc_class = fields.CharField(max_length=1, null=True)
    frequency_class = fields.CharField(max_length=8, null=True)
    value_tier = fields.CharField(max_length=16, null=True)
    lifecycle_stage = fields.CharField(max_length=16, null=True)
    tier_rule = fields.SmallIntField(null=True)
    clv_predicted_cents = fields.BigIntField(default=0)
    p_alive = fields.FloatField(null=True)
    expected_purchases = fields.FloatField(null=True)
    expected_revenue_cents = fields.BigIntField(default=0)
    as_of = fields.DateField(null=True)

    class Meta:
        table = "segmentation_staging"


class ClvCell(Model):
    """The CLV model's predictions for one purchase history shape — ``x`` repeat
    purchase days, the last ``t_x`` days after the first, ``age`` days since the
    first — under the latest run's parameters: customers of the same shape share
    them, so each shape is computed once. Rebuilt by every full recompute."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    x = fields.IntField()
    t_x = fields.IntField()
    age = fields.IntField()
    p_alive = fields.FloatField()
    purchases = fields.FloatField()  # expected over the horizon
    discounted = fields.FloatField()  # the same, each month discounted

    class Meta:
        table = "segmentation_clv_cell"
        unique_together = (("x", "t_x", "age"),)


class Segment(Model):
    """A user-defined segment: a rule tree (``RULE``) or a hand-picked list (``STATIC``)."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=64, unique=True)
    name = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    kind = fields.CharEnumField(SegmentKind, max_length=8)
    rule = fields.JSONField(null=True)
    created_by = fields.ForeignKeyField("core.AccountOwner", related_name=False, null=True, on_delete=fields.RESTRICT)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "segmentation_segment"


class SegmentMembership(Model):
    """Current members of a segment (rule segments: as of the last evaluation)."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    segment = fields.ForeignKeyField("segmentation.Segment", related_name="memberships", on_delete=fields.CASCADE)
    customer = fields.ForeignKeyField("core.Customer", related_name=False, on_delete=fields.RESTRICT)
    since = fields.DatetimeField()

    class Meta:
        table = "segmentation_membership"
        unique_together = (("segment_id", "customer_id"),)
        indexes = (("customer_id",),)


class SegmentChange(Model):
    """History: a change of value tier, lifecycle stage or segment membership.

    For ``SEGMENT`` changes ``segment_key`` names the segment and the values are
    ``IN``/``OUT``. The key is kept as text so history survives a deleted segment.
    """

    _no_comments = True

    id = fields.BigIntField(primary_key=True)
    customer = fields.ForeignKeyField("core.Customer", related_name=False, on_delete=fields.RESTRICT)
    dimension = fields.CharEnumField(ChangeDimension, max_length=16)
    segment_key = fields.CharField(max_length=64, null=True)
    old_value = fields.CharField(max_length=40, null=True)
    new_value = fields.CharField(max_length=40, null=True)
    cause = fields.CharField(max_length=40)
    changed_at = fields.DatetimeField()

    class Meta:
        table = "segmentation_change"
        indexes = (("customer_id", "changed_at"),)
