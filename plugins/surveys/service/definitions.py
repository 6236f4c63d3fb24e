"""Surveys and their versions: the questions staff write, the scales they use,
creating, editing (a new version once answered), publishing and closing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from kehu import validation as v
from kehu.access import Viewer
from kehu.errors import NotFound, ValidationError
from kehu.i18n import LANGUAGES, Language
from kehu.writes import record_change

from ..models import Choice, Question, QuestionType, Response, Survey, SurveyStatus, SurveyVersion

MAX_QUESTIONS = 100
MAX_CHOICES = 50
MAX_TEXT_ANSWER = 5_000
# Score ranges of the fixed scales; RATING runs 1..scale_max.
SCALES = {QuestionType.NPS: (0, 10), QuestionType.CSAT: (1, 5)}
SCORED = (QuestionType.NPS, QuestionType.CSAT, QuestionType.RATING)
CHOICE_TYPES = (QuestionType.SINGLE_CHOICE, QuestionType.MULTI_CHOICE)
DEFAULT_RATING_MAX = 5


@dataclass
class QuestionSpec:
    """One question as staff describe it. ``continues`` is the id of a question of
    the current version that this one carries on (its results stay joined up)."""

    type: QuestionType
    text: str
    required: bool = True
    choices: list[str] = field(default_factory=list)
    scale_max: int | None = None
    continues: int | None = None


def _clean_questions(specs: list[QuestionSpec]) -> list[QuestionSpec]:
    if not specs:
        raise ValidationError("a survey needs at least one question", field="questions", code="REQUIRED")
    if len(specs) > MAX_QUESTIONS:
        raise ValidationError(f"at most {MAX_QUESTIONS} questions", field="questions", code="TOO_MANY")
    cleaned = []
    for i, spec in enumerate(specs):
        where = f"questions[{i}]"
        qtype = v.choice(spec.type, QuestionType, f"{where}.type")
        text = v.text(spec.text, f"{where}.text", max_length=500, required=True)
        choices = [v.text(c, f"{where}.choices", max_length=200, required=True) for c in (spec.choices or [])]
        if qtype in CHOICE_TYPES:
            if len(choices) < 2:
                raise ValidationError(
                    "a choice question needs at least two choices", field=f"{where}.choices", code="REQUIRED"
                )
            if len(choices) > MAX_CHOICES:
                raise ValidationError(f"at most {MAX_CHOICES} choices", field=f"{where}.choices", code="TOO_MANY")
            if len({c.casefold() for c in choices}) != len(choices):
                raise ValidationError("choices must be different", field=f"{where}.choices", code="DUPLICATE")
        elif choices:
            raise ValidationError(f"{qtype.value} questions take no choices", field=f"{where}.choices")
        scale_max = spec.scale_max
        if qtype is QuestionType.RATING:
            scale_max = DEFAULT_RATING_MAX if scale_max is None else scale_max
            if not 2 <= scale_max <= 10:
                raise ValidationError("a rating scale runs from 1 to 2…10", field=f"{where}.scaleMax")
        elif scale_max is not None:
            raise ValidationError("only RATING questions take scaleMax", field=f"{where}.scaleMax")
        cleaned.append(QuestionSpec(qtype, text, bool(spec.required), choices, scale_max, spec.continues))
    continued = [s.continues for s in cleaned if s.continues is not None]
    if len(set(continued)) != len(continued):
        raise ValidationError("two questions continue the same question", field="questions", code="DUPLICATE")
    return cleaned


async def _create_questions(version: SurveyVersion, specs: list[QuestionSpec], origins: dict[int, int]) -> None:
    for position, spec in enumerate(specs, start=1):
        question = await Question.create(
            version=version,
            position=position,
            type=spec.type,
            text=spec.text,
            required=spec.required,
            scale_max=spec.scale_max,
            origin_id=origins.get(spec.continues) if spec.continues is not None else None,
        )
        if question.origin_id is None:  # a new lineage starts with itself
            question.origin_id = question.id
            await question.save(update_fields=["origin_id"])
        for choice_position, label in enumerate(spec.choices, start=1):
            await Choice.create(question=question, position=choice_position, label=label)


async def current_version(survey_id: int) -> SurveyVersion:
    return await SurveyVersion.get(survey_id=survey_id, current=True)


async def questions_of(version_id: int) -> list[Question]:
    """A version's questions in order, each with ``choices`` loaded in order."""
    questions = await Question.filter(version_id=version_id).order_by("position").prefetch_related("choices")
    for question in questions:
        question.ordered_choices = sorted(question.choices, key=lambda c: c.position)
    return list(questions)


def list_surveys(viewer: Viewer, status: SurveyStatus | None = None):
    """Every signed-in staff member sees the survey definitions; responses are
    what is scoped."""
    qs = Survey.all()
    if status is not None:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


async def get_survey(viewer: Viewer | None, survey_id: int) -> Survey:
    survey = await Survey.get_or_none(id=survey_id) if viewer is not None else None
    if survey is None:
        raise NotFound("no such survey", field="id")
    return survey


def _language(value: Any) -> str | None:
    """The answering page's language (a ``kehu.i18n.Language``), or None: the respondent's browser's."""
    if value is None:
        return None
    try:
        return Language(value).value
    except ValueError:
        raise ValidationError(f"'{value}' is not one of {', '.join(LANGUAGES)}", field="language") from None


async def create_survey(viewer: Viewer, data: dict[str, Any], now: dt.datetime) -> Survey:
    viewer.require("surveys.manage")
    title = v.text(data.get("title"), "title", max_length=200, required=True)
    description = v.text(data.get("description"), "description", max_length=5_000, multiline=True) or ""
    language = _language(data.get("language"))
    specs = _clean_questions(list(data.get("questions") or []))
    if any(s.continues is not None for s in specs):
        raise ValidationError("a new survey has no questions to continue", field="questions")
    survey = await Survey.create(
        title=title,
        description=description,
        language=language,
        created_by_id=viewer.id,
        created_at=now,
        updated_at=now,
    )
    version = await SurveyVersion.create(survey=survey, number=1, current=True, created_at=now)
    await _create_questions(version, specs, {})
    record_change("Survey", survey.id, {"title": (None, title), "questions": (None, len(specs))})
    return survey


async def update_survey(viewer: Viewer, survey_id: int, data: dict[str, Any], now: dt.datetime) -> Survey:
    """Change title, description or questions (the full new list).

    Questions of a version that has responses are never changed: the edit becomes
    a new version and old answers keep pointing at the wording they answered.
    Otherwise the current version is edited in place.
    """
    viewer.require("surveys.manage")
    survey = await get_survey(viewer, survey_id)
    if survey.status is SurveyStatus.CLOSED:
        raise ValidationError("a closed survey cannot be edited", field="id", code="SURVEY_CLOSED")
    changes: dict[str, tuple[Any, Any]] = {}
    if "title" in data:
        title = v.text(data["title"], "title", max_length=200, required=True)
        changes["title"] = (survey.title, title)
        survey.title = title
    if "description" in data:
        description = v.text(data["description"], "description", max_length=5_000, multiline=True) or ""
        changes["description"] = (survey.description, description)
        survey.description = description
    if "language" in data:
        language = _language(data["language"])
        changes["language"] = (survey.language, language)
        survey.language = language
    if data.get("questions") is not None:
        specs = _clean_questions(list(data["questions"]))
        version = await current_version(survey.id)
        old = {q.id: q for q in await Question.filter(version_id=version.id)}
        for i, spec in enumerate(specs):
            if spec.continues is not None and spec.continues not in old:
                raise ValidationError(
                    "not a question of this survey's current version",
                    field=f"questions[{i}].id",
                    code="UNKNOWN_QUESTION",
                )
            if spec.continues is not None and old[spec.continues].type is not spec.type:
                raise ValidationError(
                    "a continued question keeps its type (add a new question instead)",
                    field=f"questions[{i}].type",
                    code="TYPE_CHANGED",
                )
        origins = {qid: q.origin_id or q.id for qid, q in old.items()}
        if await Response.filter(version_id=version.id).exists():
            await SurveyVersion.filter(id=version.id).update(current=False)
            version = await SurveyVersion.create(survey=survey, number=version.number + 1, current=True, created_at=now)
            changes["version"] = (version.number - 1, version.number)
        else:
            await Choice.filter(question_id__in=list(old)).delete()
            await Question.filter(version_id=version.id).delete()
        await _create_questions(version, specs, origins)
        changes["questions"] = (len(old), len(specs))
    survey.updated_at = now
    await survey.save()
    record_change("Survey", survey.id, changes)
    return survey


async def publish_survey(viewer: Viewer, survey_id: int, now: dt.datetime) -> Survey:
    """Draft → published (answerable). A closed survey may be published again."""
    viewer.require("surveys.manage")
    survey = await get_survey(viewer, survey_id)
    if survey.status is SurveyStatus.PUBLISHED:
        raise ValidationError("the survey is already published", field="id", code="ALREADY_PUBLISHED")
    before = survey.status
    survey.status = SurveyStatus.PUBLISHED
    survey.published_at = survey.published_at or now
    survey.closed_at = None
    survey.updated_at = now
    await survey.save()
    record_change("Survey", survey.id, {"status": (before, survey.status)})
    return survey


async def close_survey(viewer: Viewer, survey_id: int, now: dt.datetime) -> Survey:
    """Published → closed: open links stop accepting answers."""
    viewer.require("surveys.manage")
    survey = await get_survey(viewer, survey_id)
    if survey.status is not SurveyStatus.PUBLISHED:
        raise ValidationError("only a published survey can be closed", field="id", code="NOT_PUBLISHED")
    survey.status = SurveyStatus.CLOSED
    survey.closed_at = now
    survey.updated_at = now
    await survey.save()
    record_change("Survey", survey.id, {"status": (SurveyStatus.PUBLISHED, SurveyStatus.CLOSED)})
    return survey
