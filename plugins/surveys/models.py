"""The surveys plugin's Tortoise models: the ``surveys`` Tortoise app.

A survey's questions live in versions. Editing a published survey that already
has responses freezes the current version and starts a new one, so every answer
stays tied to the exact wording it answered. ``Question.origin_id`` links a
question to the one it continues in earlier versions, which lets results follow
"the same" question across versions.

Invitation tokens are stored only as their SHA-256 (like the core's access
tokens): a leaked database does not leak working survey links.

Times come from the injected clock, not ``auto_now``: expiry and trends depend
on them and tests freeze time. Responses carry their ISO week and month start so
trends are a plain ``GROUP BY`` on both databases.
"""

from enum import Enum

from tortoise import fields
from tortoise.models import Model


class SurveyStatus(str, Enum):
    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"
    CLOSED = "CLOSED"


class QuestionType(str, Enum):
    NPS = "NPS"
    CSAT = "CSAT"
    RATING = "RATING"
    SINGLE_CHOICE = "SINGLE_CHOICE"
    MULTI_CHOICE = "MULTI_CHOICE"
    TEXT = "TEXT"


class Survey(Model):
    """A questionnaire: draft, then published (answerable), then closed."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    # The language of the answering page (kehu.i18n.Language); null: the respondent's browser's.
    language = fields.CharField(max_length=16, null=True)
    status = fields.CharEnumField(SurveyStatus, max_length=16, default=SurveyStatus.DRAFT, db_index=True)
    created_by = fields.ForeignKeyField(
        "core.AccountOwner", related_name="surveys_created", null=True, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    published_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "surveys_survey"


class SurveyVersion(Model):
    """One frozen-once-answered set of questions of a survey."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    survey = fields.ForeignKeyField("surveys.Survey", related_name="versions", on_delete=fields.RESTRICT)
    number = fields.IntField()
    current = fields.BooleanField(default=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "surveys_version"
        unique_together = (("survey_id", "number"),)


class Question(Model):
    _no_comments = True

    id = fields.IntField(primary_key=True)
    version = fields.ForeignKeyField("surveys.SurveyVersion", related_name="questions", on_delete=fields.RESTRICT)
    # The first question of this lineage (itself for a new question).
    origin_id = fields.IntField(null=True, db_index=True)
    position = fields.IntField()
    type = fields.CharEnumField(QuestionType, max_length=16)
    text = fields.CharField(max_length=500)
    required = fields.BooleanField(default=True)
    # RATING questions: the top of the 1..scale_max scale.
    scale_max = fields.IntField(null=True)

    class Meta:
        table = "surveys_question"
        unique_together = (("version_id", "position"),)


class Choice(Model):
    _no_comments = True

    id = fields.IntField(primary_key=True)
    question = fields.ForeignKeyField("surveys.Question", related_name="choices", on_delete=fields.RESTRICT)
    position = fields.IntField()
    label = fields.CharField(max_length=200)

    class Meta:
        table = "surveys_choice"
        unique_together = (("question_id", "position"),)


class Invitation(Model):
    """One customer's single-use, expiring link to answer one survey."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    survey = fields.ForeignKeyField("surveys.Survey", related_name="invitations", on_delete=fields.RESTRICT)
    customer = fields.ForeignKeyField("core.Customer", related_name="survey_invitations", on_delete=fields.RESTRICT)
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    created_by = fields.ForeignKeyField(
        "core.AccountOwner", related_name="survey_invitations_sent", null=True, on_delete=fields.RESTRICT
    )
    # Why it was sent ("manual", "complaint_resolved", …) and what about.
    reason = fields.CharField(max_length=64, default="manual")
    reference = fields.CharField(max_length=200, null=True)

    class Meta:
        table = "surveys_invitation"
        indexes = (("survey_id", "created_at"), ("customer_id", "survey_id"))


class Response(Model):
    """A customer's submitted answers to one version of a survey."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    survey = fields.ForeignKeyField("surveys.Survey", related_name="responses", on_delete=fields.RESTRICT)
    version = fields.ForeignKeyField("surveys.SurveyVersion", related_name="responses", on_delete=fields.RESTRICT)
    invitation = fields.OneToOneField(
        "surveys.Invitation", related_name="response", null=True, on_delete=fields.RESTRICT
    )
    customer = fields.ForeignKeyField("core.Customer", related_name="survey_responses", on_delete=fields.RESTRICT)
    # The customer's account owner when the response arrived (breakdown by owner).
    owner_id = fields.IntField(null=True, db_index=True)
    submitted_at = fields.DatetimeField()
    submitted_week = fields.DateField()
    submitted_month = fields.DateField()

    class Meta:
        table = "surveys_response"
        indexes = (("survey_id", "submitted_at"), ("customer_id", "submitted_at"))


class Answer(Model):
    """One answer. A multiple-choice answer is one row per chosen option, so
    distributions are a ``GROUP BY`` on ``choice_id``."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    response = fields.ForeignKeyField("surveys.Response", related_name="answers", on_delete=fields.RESTRICT)
    question = fields.ForeignKeyField("surveys.Question", related_name="answers", on_delete=fields.RESTRICT)
    score = fields.IntField(null=True)
    choice = fields.ForeignKeyField("surveys.Choice", related_name="answers", null=True, on_delete=fields.RESTRICT)
    text = fields.TextField(null=True)

    class Meta:
        table = "surveys_answer"
        indexes = (("question_id", "score"),)
