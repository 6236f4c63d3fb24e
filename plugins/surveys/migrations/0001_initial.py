from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from kehu.plugins.surveys.models import QuestionType, SurveyStatus


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    initial = True

    operations = [
        ops.CreateModel(
            name="Survey",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("title", fields.CharField(max_length=200)),
                ("description", fields.TextField(default="", unique=False)),
                (
                    "status",
                    fields.CharEnumField(
                        default=SurveyStatus.DRAFT,
                        db_index=True,
                        description="DRAFT: DRAFT\nPUBLISHED: PUBLISHED\nCLOSED: CLOSED",
                        enum_type=SurveyStatus,
                        max_length=16,
                    ),
                ),
                (
                    "created_by",
                    fields.ForeignKeyField(
                        "core.AccountOwner",
                        source_field="created_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="surveys_created",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("published_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("closed_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "surveys_survey",
                "app": "surveys",
                "pk_attr": "id",
                "table_description": "A questionnaire: draft, then published (answerable), then closed.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Invitation",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "survey",
                    fields.ForeignKeyField(
                        "surveys.Survey",
                        source_field="survey_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="invitations",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "customer",
                    fields.ForeignKeyField(
                        "core.Customer",
                        source_field="customer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="survey_invitations",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("token_hash", fields.CharField(unique=True, max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("expires_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("used_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "created_by",
                    fields.ForeignKeyField(
                        "core.AccountOwner",
                        source_field="created_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="survey_invitations_sent",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("reason", fields.CharField(default="manual", max_length=64)),
                ("reference", fields.CharField(null=True, max_length=200)),
            ],
            options={
                "table": "surveys_invitation",
                "app": "surveys",
                "indexes": [Index(fields=["survey_id", "created_at"]), Index(fields=["customer_id", "survey_id"])],
                "pk_attr": "id",
                "table_description": "One customer's single-use, expiring link to answer one survey.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="SurveyVersion",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "survey",
                    fields.ForeignKeyField(
                        "surveys.Survey",
                        source_field="survey_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="versions",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("number", fields.IntField()),
                ("current", fields.BooleanField(default=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "surveys_version",
                "app": "surveys",
                "unique_together": (("survey_id", "number"),),
                "pk_attr": "id",
                "table_description": "One frozen-once-answered set of questions of a survey.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Question",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "version",
                    fields.ForeignKeyField(
                        "surveys.SurveyVersion",
                        source_field="version_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="questions",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("origin_id", fields.IntField(null=True, db_index=True)),
                ("position", fields.IntField()),
                (
                    "type",
                    fields.CharEnumField(
                        description="NPS: NPS\nCSAT: CSAT\nRATING: RATING\nSINGLE_CHOICE: SINGLE_CHOICE\nMULTI_CHOICE: MULTI_CHOICE\nTEXT: TEXT",
                        enum_type=QuestionType,
                        max_length=16,
                    ),
                ),
                ("text", fields.CharField(max_length=500)),
                ("required", fields.BooleanField(default=True)),
                ("scale_max", fields.IntField(null=True)),
            ],
            options={
                "table": "surveys_question",
                "app": "surveys",
                "unique_together": (("version_id", "position"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Choice",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "question",
                    fields.ForeignKeyField(
                        "surveys.Question",
                        source_field="question_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="choices",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("position", fields.IntField()),
                ("label", fields.CharField(max_length=200)),
            ],
            options={
                "table": "surveys_choice",
                "app": "surveys",
                "unique_together": (("question_id", "position"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Response",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "survey",
                    fields.ForeignKeyField(
                        "surveys.Survey",
                        source_field="survey_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="responses",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "version",
                    fields.ForeignKeyField(
                        "surveys.SurveyVersion",
                        source_field="version_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="responses",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "invitation",
                    fields.OneToOneField(
                        "surveys.Invitation",
                        source_field="invitation_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="response",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "customer",
                    fields.ForeignKeyField(
                        "core.Customer",
                        source_field="customer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="survey_responses",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("owner_id", fields.IntField(null=True, db_index=True)),
                ("submitted_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("submitted_week", fields.DateField()),
                ("submitted_month", fields.DateField()),
            ],
            options={
                "table": "surveys_response",
                "app": "surveys",
                "indexes": [Index(fields=["survey_id", "submitted_at"]), Index(fields=["customer_id", "submitted_at"])],
                "pk_attr": "id",
                "table_description": "A customer's submitted answers to one version of a survey.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Answer",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "response",
                    fields.ForeignKeyField(
                        "surveys.Response",
                        source_field="response_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="answers",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "question",
                    fields.ForeignKeyField(
                        "surveys.Question",
                        source_field="question_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="answers",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("score", fields.IntField(null=True)),
                (
                    "choice",
                    fields.ForeignKeyField(
                        "surveys.Choice",
                        source_field="choice_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="answers",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("text", fields.TextField(null=True, unique=False)),
            ],
            options={
                "table": "surveys_answer",
                "app": "surveys",
                "indexes": [Index(fields=["question_id", "score"])],
                "pk_attr": "id",
                "table_description": "One answer. A multiple-choice answer is one row per chosen option, so",
            },
            bases=["Model"],
        ),
    ]
