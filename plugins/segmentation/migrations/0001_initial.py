from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from kehu.plugins.segmentation.models import ChangeDimension, SegmentKind


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    initial = True

    operations = [
        ops.CreateModel(
            name="RecomputeRun",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("started_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("finished_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("population", fields.IntField(default=0)),
                ("customers", fields.IntField(default=0)),
                ("changes", fields.IntField(default=0)),
                ("thresholds", fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={
                "table": "segmentation_run",
                "app": "segmentation",
                "pk_attr": "id",
                "table_description": "One full recompute: when, over how many customers, and the score borders it",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Classification",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "customer",
                    fields.OneToOneField(
                        "core.Customer",
                        source_field="customer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="segmentation",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("archived", fields.BooleanField(default=False)),
                ("recency_days", fields.IntField(null=True)),
                ("tenure_days", fields.IntField(null=True)),
                ("frequency", fields.IntField(default=0)),
                ("monetary_cents", fields.BigIntField(default=0)),
                ("lifetime_purchases", fields.IntField(default=0)),
                ("lifetime_revenue_cents", fields.BigIntField(default=0)),
                ("r", fields.SmallIntField(null=True)),
                ("f", fields.SmallIntField(null=True)),
                ("m", fields.SmallIntField(null=True)),
                ("rfm_segment", fields.CharField(null=True, max_length=40)),
                ("abc_class", fields.CharField(null=True, max_length=1)),
                ("frequency_class", fields.CharField(max_length=8)),
                ("value_tier", fields.CharField(max_length=16)),
                ("lifecycle_stage", fields.CharField(max_length=16)),
                ("clv_predicted_cents", fields.BigIntField(default=0)),
                ("computed_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "run",
                    fields.ForeignKeyField(
                        "segmentation.RecomputeRun",
                        source_field="run_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
            ],
            options={
                "table": "segmentation_classification",
                "app": "segmentation",
                "indexes": [
                    Index(fields=["value_tier"]),
                    Index(fields=["lifecycle_stage"]),
                    Index(fields=["abc_class"]),
                ],
                "pk_attr": "id",
                "table_description": "A customer's current scores and classes, with the inputs that explain them.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Segment",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("key", fields.CharField(unique=True, max_length=64)),
                ("name", fields.CharField(max_length=200)),
                ("description", fields.TextField(default="", unique=False)),
                (
                    "kind",
                    fields.CharEnumField(description="RULE: RULE\nSTATIC: STATIC", enum_type=SegmentKind, max_length=8),
                ),
                ("rule", fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                (
                    "created_by",
                    fields.ForeignKeyField(
                        "core.AccountOwner",
                        source_field="created_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "segmentation_segment",
                "app": "segmentation",
                "pk_attr": "id",
                "table_description": "A user-defined segment: a rule tree (``RULE``) or a hand-picked list (``STATIC``).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="SegmentChange",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "customer",
                    fields.ForeignKeyField(
                        "core.Customer",
                        source_field="customer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "dimension",
                    fields.CharEnumField(
                        description="VALUE_TIER: VALUE_TIER\nLIFECYCLE_STAGE: LIFECYCLE_STAGE\nSEGMENT: SEGMENT",
                        enum_type=ChangeDimension,
                        max_length=16,
                    ),
                ),
                ("segment_key", fields.CharField(null=True, max_length=64)),
                ("old_value", fields.CharField(null=True, max_length=40)),
                ("new_value", fields.CharField(null=True, max_length=40)),
                ("cause", fields.CharField(max_length=40)),
                ("changed_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "segmentation_change",
                "app": "segmentation",
                "indexes": [Index(fields=["customer_id", "changed_at"])],
                "pk_attr": "id",
                "table_description": "History: a change of value tier, lifecycle stage or segment membership.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="SegmentMembership",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "segment",
                    fields.ForeignKeyField(
                        "segmentation.Segment",
                        source_field="segment_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="memberships",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "customer",
                    fields.ForeignKeyField(
                        "core.Customer",
                        source_field="customer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("since", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "segmentation_membership",
                "app": "segmentation",
                "unique_together": (("segment_id", "customer_id"),),
                "indexes": [Index(fields=["customer_id"])],
                "pk_attr": "id",
                "table_description": "Current members of a segment (rule segments: as of the last evaluation).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Staging",
            fields=[
                ("customer_id", fields.IntField(primary_key=True, unique=True, db_index=True)),
                ("archived", fields.BooleanField(default=False)),
                ("recency_days", fields.IntField(null=True)),
                ("tenure_days", fields.IntField(null=True)),
                ("frequency", fields.IntField(default=0)),
                ("monetary_cents", fields.BigIntField(default=0)),
                ("lifetime_purchases", fields.IntField(default=0)),
                ("lifetime_revenue_cents", fields.BigIntField(default=0)),
                ("r", fields.SmallIntField(null=True)),
                ("f", fields.SmallIntField(null=True)),
                ("m", fields.SmallIntField(null=True)),
                ("rfm_segment", fields.CharField(null=True, max_length=40)),
                ("abc_class", fields.CharField(null=True, max_length=1)),
                ("frequency_class", fields.CharField(null=True, max_length=8)),
                ("value_tier", fields.CharField(null=True, max_length=16)),
                ("lifecycle_stage", fields.CharField(null=True, max_length=16)),
                ("clv_predicted_cents", fields.BigIntField(default=0)),
            ],
            options={
                "table": "segmentation_staging",
                "app": "segmentation",
                "pk_attr": "customer_id",
                "table_description": "Scratch space of a recompute: rows are written, scored and diffed here in SQL,",
            },
            bases=["Model"],
        ),
    ]
