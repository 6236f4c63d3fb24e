"""Survey rules: building and versioning surveys, invitations, answering, results.

No GraphQL here. Staff operations take a ``Viewer``; answering takes only the
invitation token, because customers have no account. Writes run inside the
caller's ``kehu.writes.write_scope`` (a GraphQL mutation, the public page, or the
``kehu_survey_requested`` handler), so each is all or nothing with one audit entry.

Results are computed from ``GROUP BY`` counts — per question and score, per
question and choice, per week/month or owner — and only the arithmetic on those
few rows happens in Python. Every figure is scoped to the customers the viewer may
see (``kehu.access.visible_customers``): an agent's NPS is their customers' NPS.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from tortoise.expressions import Q, Subquery
from tortoise.functions import Count

from kehu import validation as v
from kehu.access import Viewer, visible_customers
from kehu.errors import NotFound, ValidationError
from kehu.ids import to_global_id
from kehu.models import Customer, Direction, Interaction, InteractionKind
from kehu.writes import emit, publish, record_change, write_scope

from .models import (
    Answer,
    Choice,
    Invitation,
    Question,
    QuestionType,
    Response,
    Survey,
    SurveyStatus,
    SurveyVersion,
)

if TYPE_CHECKING:
    from kehu import Kehu
    from kehu.models import AccountOwner

    from .settings import SurveySettings

log = logging.getLogger("kehu.plugins.surveys")

MAX_QUESTIONS = 100
MAX_CHOICES = 50
MAX_TEXT_ANSWER = 5_000
TOKEN_PREFIX = "sv_"
# Score ranges of the fixed scales; RATING runs 1..scale_max.
SCALES = {QuestionType.NPS: (0, 10), QuestionType.CSAT: (1, 5)}
SCORED = (QuestionType.NPS, QuestionType.CSAT, QuestionType.RATING)
CHOICE_TYPES = (QuestionType.SINGLE_CHOICE, QuestionType.MULTI_CHOICE)
DEFAULT_RATING_MAX = 5


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class AnswerProblem:
    question_id: int | None
    position: int | None  # 1-based, as the customer sees it
    code: str
    message: str


class SubmissionRejected(ValidationError):
    """A submission with one or more wrong answers; nothing was stored."""

    code = "INVALID_ANSWERS"

    def __init__(self, problems: list[AnswerProblem]):
        super().__init__("; ".join(p.message for p in problems), field="answers")
        self.problems = problems


# --------------------------------------------------------------------------- surveys


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


async def create_survey(viewer: Viewer, data: dict[str, Any], now: dt.datetime) -> Survey:
    viewer.require("surveys.manage")
    title = v.text(data.get("title"), "title", max_length=200, required=True)
    description = v.text(data.get("description"), "description", max_length=5_000, multiline=True) or ""
    specs = _clean_questions(list(data.get("questions") or []))
    if any(s.continues is not None for s in specs):
        raise ValidationError("a new survey has no questions to continue", field="questions")
    survey = await Survey.create(
        title=title, description=description, created_by_id=viewer.id, created_at=now, updated_at=now
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


# --------------------------------------------------------------------------- invitations


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    # 192 bits from the OS's CSPRNG, URL-safe: unguessable and fits in a link.
    return TOKEN_PREFIX + secrets.token_urlsafe(24)


@dataclass
class IssuedInvitation:
    invitation: Invitation
    token: str
    link: str


async def _issue(
    survey: Survey,
    customer: Customer,
    *,
    settings: SurveySettings,
    expires_in_days: int | None,
    now: dt.datetime,
    actor_id: int | None,
    reason: str,
    reference: str | None,
) -> IssuedInvitation:
    token = new_token()
    days = settings.invitation_expiry_days if expires_in_days is None else expires_in_days
    invitation = await Invitation.create(
        survey=survey,
        customer=customer,
        token_hash=token_digest(token),
        created_at=now,
        expires_at=now + dt.timedelta(days=days),
        created_by_id=actor_id,
        reason=reason,
        reference=reference,
    )
    link = settings.link(token)
    emit("kehu_survey_invitation_created", invitation=invitation, survey=survey, customer=customer, link=link)
    return IssuedInvitation(invitation, token, link)


async def invite(
    kehu: Kehu,
    viewer: Viewer,
    survey_id: int,
    *,
    customer_ids: list[int] | None,
    segment_key: str | None,
    expires_in_days: int | None,
    now: dt.datetime,
) -> list[IssuedInvitation]:
    """Invite explicit customers, or a segment's members (through the
    ``kehu_segment_members`` hook), to a published survey. Only customers the viewer
    may see can be invited; archived ones are skipped for a segment and refused by id."""
    viewer.require("surveys.invite")
    settings: SurveySettings = kehu.settings_for("surveys")
    survey = await get_survey(viewer, survey_id)
    if survey.status is not SurveyStatus.PUBLISHED:
        raise ValidationError("only a published survey can be sent", field="surveyId", code="NOT_PUBLISHED")
    if (customer_ids is None) == (segment_key is None):
        raise ValidationError("give either customerIds or segmentKey", field="customerIds", code="REQUIRED")
    if expires_in_days is not None and not 1 <= expires_in_days <= 365:
        raise ValidationError("must be between 1 and 365", field="expiresInDays")
    visible = visible_customers(viewer)
    if customer_ids is not None:
        if not customer_ids:
            raise ValidationError("name at least one customer", field="customerIds", code="REQUIRED")
        wanted = list(dict.fromkeys(customer_ids))
        found = {c.id: c for c in await visible.filter(id__in=wanted)}
        for i, cid in enumerate(wanted):
            if cid not in found:
                raise ValidationError("no such customer", field=f"customerIds[{i}]", code="NOT_FOUND")
            if found[cid].archived_at is not None:
                raise ValidationError(
                    "archived customers cannot be surveyed", field=f"customerIds[{i}]", code="ARCHIVED"
                )
        customers = [found[cid] for cid in wanted]
    else:
        key = v.text(segment_key, "segmentKey", max_length=100, required=True)
        members = await kehu.hooks.first("kehu_segment_members", segment_key=key, viewer=viewer)
        if members is None:
            hint = "" if kehu.is_enabled("segmentation") else " (the segmentation plugin is not enabled)"
            raise ValidationError(f"no such segment{hint}", field="segmentKey", code="UNKNOWN_SEGMENT")
        # Re-scope: a segment hook must not widen what the viewer may see.
        customers = await visible.filter(id__in=list(members), archived_at__isnull=True).order_by("id")
        if not customers:
            raise ValidationError(
                "the segment has no customers you may survey", field="segmentKey", code="EMPTY_SEGMENT"
            )
    if len(customers) > settings.max_invitations_per_request:
        raise ValidationError(
            f"{len(customers)} customers; at most {settings.max_invitations_per_request} per request",
            field="customerIds" if customer_ids is not None else "segmentKey",
            code="TOO_MANY",
        )
    issued = [
        await _issue(
            survey,
            customer,
            settings=settings,
            expires_in_days=expires_in_days,
            now=now,
            actor_id=viewer.id,
            reason="manual",
            reference=None,
        )
        for customer in customers
    ]
    record_change("Survey", survey.id, {"invitations": (None, [i.invitation.id for i in issued])})
    return issued


async def request_survey(
    kehu: Kehu, customer: Customer, reason: str, reference: str | None, actor: AccountOwner | None
) -> IssuedInvitation | None:
    """``kehu_survey_requested``: invite ``customer`` to the survey plugins.toml names
    for ``reason``. Runs after the requesting write committed, in its own write."""
    settings: SurveySettings = kehu.settings_for("surveys")
    survey_id = settings.survey_for(reason)
    if survey_id is None:
        log.info("no survey configured for reason %r (plugins.surveys.on_request); none sent", reason)
        return None
    survey = await Survey.get_or_none(id=survey_id)
    if survey is None or survey.status is not SurveyStatus.PUBLISHED:
        log.warning("survey %s for reason %r is missing or not published; none sent", survey_id, reason)
        return None
    customer = await Customer.get(id=customer.id)
    if customer.archived_at is not None:
        return None
    label = f"surveys on {reason}" + (f" by {actor.email}" if actor is not None else "")
    async with write_scope(kehu, None, "inviteToSurvey", actor_label=label):
        issued = await _issue(
            survey,
            customer,
            settings=settings,
            expires_in_days=None,
            now=kehu.clock.now(),
            actor_id=actor.id if actor is not None else None,
            reason=reason[:64],
            reference=reference[:200] if reference else None,
        )
        record_change(
            "SurveyInvitation", issued.invitation.id, {"customer_id": (None, customer.id), "reason": (None, reason)}
        )
    return issued


class TokenProblem(ValidationError):
    """The link cannot be used: unknown, expired, used, or its survey closed."""


async def open_invitation(token: str, now: dt.datetime) -> Invitation:
    """The invitation of a still-usable token, with ``survey`` loaded."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        raise TokenProblem("this survey link is not valid", field="token", code="INVALID_TOKEN")
    invitation = await Invitation.get_or_none(token_hash=token_digest(token)).select_related("survey")
    if invitation is None:
        raise TokenProblem("this survey link is not valid", field="token", code="INVALID_TOKEN")
    if invitation.used_at is not None:
        raise TokenProblem("this survey link has already been used", field="token", code="TOKEN_USED")
    if invitation.expires_at <= now:
        raise TokenProblem("this survey link has expired", field="token", code="TOKEN_EXPIRED")
    if invitation.survey.status is not SurveyStatus.PUBLISHED:
        raise TokenProblem("this survey is closed", field="token", code="SURVEY_CLOSED")
    return invitation


# --------------------------------------------------------------------------- answering


@dataclass
class AnswerInput:
    question_id: int
    score: int | None = None
    choice_ids: list[int] | None = None
    text: str | None = None


def _problem(question: Question | None, code: str, message: str) -> AnswerProblem:
    if question is None:
        return AnswerProblem(None, None, code, message)
    return AnswerProblem(
        question.id, question.position, code, f"question {question.position} ({question.text!r}): {message}"
    )


def _check_answer(question: Question, answer: AnswerInput) -> tuple[list[dict[str, Any]], AnswerProblem | None]:
    """The answer rows to store for one answer, or what is wrong with it."""
    qtype = question.type
    given = [answer.score is not None, bool(answer.choice_ids), answer.text is not None and answer.text.strip() != ""]
    if qtype in SCORED:
        if given[1] or given[2]:
            return [], _problem(question, "WRONG_ANSWER_KIND", "answer with a score")
        if answer.score is None:
            return [], None
        low, high = SCALES.get(qtype, (1, question.scale_max or DEFAULT_RATING_MAX))
        if not low <= answer.score <= high:
            return [], _problem(question, "SCORE_OUT_OF_RANGE", f"the score must be between {low} and {high}")
        return [{"score": answer.score}], None
    if qtype in CHOICE_TYPES:
        if given[0] or given[2]:
            return [], _problem(question, "WRONG_ANSWER_KIND", "answer by choosing")
        chosen = list(dict.fromkeys(answer.choice_ids or []))
        if not chosen:
            return [], None
        valid = {c.id for c in question.ordered_choices}
        if any(cid not in valid for cid in chosen):
            return [], _problem(question, "UNKNOWN_CHOICE", "that choice is not one of this question's")
        if qtype is QuestionType.SINGLE_CHOICE and len(chosen) > 1:
            return [], _problem(question, "TOO_MANY_CHOICES", "choose only one")
        return [{"choice_id": cid} for cid in chosen], None
    # TEXT
    if given[0] or given[1]:
        return [], _problem(question, "WRONG_ANSWER_KIND", "answer with text")
    text = (answer.text or "").strip()
    if not text:
        return [], None
    if len(text) > MAX_TEXT_ANSWER:
        return [], _problem(question, "TEXT_TOO_LONG", f"at most {MAX_TEXT_ANSWER} characters")
    if any(ord(ch) < 32 and ch not in "\n\r\t" for ch in text):
        return [], _problem(question, "INVALID_CHARACTERS", "contains a control character")
    return [{"text": text}], None


async def _answered_version(survey_id: int, answers: list[AnswerInput]) -> tuple[SurveyVersion, list[Question]]:
    """The version the answers are for: the one their questions belong to (a link
    opened before an edit still answers what the customer saw), else the current one."""
    ids = list({a.question_id for a in answers})
    version_ids = (
        set(await Question.filter(id__in=ids, version__survey_id=survey_id).values_list("version_id", flat=True))
        if ids
        else set()
    )
    if len(version_ids) == 1:
        version = await SurveyVersion.get(id=version_ids.pop())
    else:
        version = await current_version(survey_id)
    return version, await questions_of(version.id)


def validate_answers(questions: list[Question], answers: list[AnswerInput]) -> list[dict[str, Any]]:
    """Every answer checked against its question; raises ``SubmissionRejected``
    listing each wrong or missing answer."""
    by_id = {q.id: q for q in questions}
    problems: list[AnswerProblem] = []
    rows: list[dict[str, Any]] = []
    answered: set[int] = set()
    for answer in answers:
        question = by_id.get(answer.question_id)
        if question is None:
            problems.append(
                _problem(None, "UNKNOWN_QUESTION", f"question {answer.question_id} is not part of this survey")
            )
            continue
        if question.id in answered:
            problems.append(_problem(question, "DUPLICATE_ANSWER", "answered twice"))
            continue
        question_rows, problem = _check_answer(question, answer)
        if problem is not None:
            problems.append(problem)
            answered.add(question.id)
            continue
        if question_rows:
            answered.add(question.id)
            rows += [{"question_id": question.id, **row} for row in question_rows]
    for question in questions:
        if question.required and question.id not in answered:
            problems.append(_problem(question, "REQUIRED", "an answer is required"))
    if problems:
        problems.sort(key=lambda p: (p.position is None, p.position or 0))
        raise SubmissionRejected(problems)
    return rows


def week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())  # ISO weeks start on Monday


def is_detractor(question_type: QuestionType, score: int | None) -> bool:
    if score is None:
        return False
    return (question_type is QuestionType.NPS and score <= 6) or (question_type is QuestionType.CSAT and score <= 2)


async def submit_response(
    kehu: Kehu, token: str, answers: list[AnswerInput], now: dt.datetime, *, survey_id: int | None = None
) -> Response:
    """Store a customer's answers for the invitation ``token``: all valid, or
    nothing stored. ``survey_id``, when given, must be the token's survey."""
    invitation = await open_invitation(token, now)
    survey = invitation.survey
    if survey_id is not None and survey_id != survey.id:
        raise TokenProblem("this survey link belongs to another survey", field="token", code="WRONG_SURVEY")
    version, questions = await _answered_version(survey.id, answers)
    rows = validate_answers(questions, answers)
    # Single use, race-free: only one request can flip used_at from NULL.
    claimed = await Invitation.filter(id=invitation.id, used_at__isnull=True).update(used_at=now)
    if not claimed:
        raise TokenProblem("this survey link has already been used", field="token", code="TOKEN_USED")
    customer = await Customer.get(id=invitation.customer_id)
    day = now.astimezone(dt.UTC).date()
    response = await Response.create(
        survey=survey,
        version=version,
        invitation=invitation,
        customer=customer,
        owner_id=customer.owner_id,
        submitted_at=now,
        submitted_week=week_start(day),
        submitted_month=day.replace(day=1),
    )
    await Answer.bulk_create([Answer(response_id=response.id, **row) for row in rows])
    types = {q.id: q.type for q in questions}
    detractor = any(is_detractor(types[row["question_id"]], row.get("score")) for row in rows)
    record_change(
        "SurveyResponse",
        response.id,
        {"survey_id": (None, survey.id), "customer_id": (None, customer.id), "answers": (None, len(rows))},
    )
    settings: SurveySettings = kehu.settings_for("surveys")
    if detractor and settings.detractor_follow_up_days:
        await _follow_up(customer, survey, now, settings.detractor_follow_up_days)
    emit("kehu_survey_response_received", response=response, survey=survey, customer=customer, detractor=detractor)
    publish(
        "survey.response_received",
        customer_id=customer.id,
        node_id=to_global_id("SurveyResponse", response.id),
        detractor=detractor,
    )
    return response


async def _follow_up(customer: Customer, survey: Survey, now: dt.datetime, days: int) -> None:
    """An unhappy answer becomes a to-do for the customer's owner: an internal note
    whose ``next_follow_up_at`` puts it on their follow-up list."""
    interaction = await Interaction.create(
        customer=customer,
        owner_id=customer.owner_id,
        kind=InteractionKind.NOTE,
        direction=Direction.INTERNAL,
        occurred_at=now,
        subject=f"Unhappy survey answer: {survey.title}"[:300],
        notes="The customer gave a low score in a satisfaction survey. Please get in touch.",
        next_follow_up_at=now + dt.timedelta(days=days),
    )
    await Customer.filter(
        Q(id=customer.id) & (Q(last_interaction_at__isnull=True) | Q(last_interaction_at__lt=now))
    ).update(last_interaction_at=now)
    interaction.customer = customer
    emit("kehu_interaction_logged", interaction=interaction)


# --------------------------------------------------------------------------- reading responses


def visible_responses(viewer: Viewer | None):
    """Responses of customers the viewer may see."""
    return Response.filter(customer_id__in=Subquery(visible_customers(viewer).values("id")))


# --------------------------------------------------------------------------- results


def _percent(part: int, whole: int) -> float | None:
    if not whole:
        return None
    return float((Decimal(100 * part) / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP))


def _mean(total: int, count: int) -> float | None:
    if not count:
        return None
    return float((Decimal(total) / Decimal(count)).quantize(Decimal("0.01"), ROUND_HALF_UP))


@dataclass
class NpsFigures:
    """Net Promoter Score: % promoters (9–10) − % detractors (0–6), −100…100
    (Reichheld, "The One Number You Need to Grow", HBR 2003)."""

    promoters: int = 0
    passives: int = 0
    detractors: int = 0

    def add(self, score: int, n: int) -> None:
        if score >= 9:
            self.promoters += n
        elif score >= 7:
            self.passives += n
        else:
            self.detractors += n

    @property
    def total(self) -> int:
        return self.promoters + self.passives + self.detractors

    @property
    def score(self) -> float | None:
        if not self.total:
            return None
        return float(
            (Decimal(100 * (self.promoters - self.detractors)) / Decimal(self.total)).quantize(
                Decimal("0.1"), ROUND_HALF_UP
            )
        )


@dataclass
class CsatFigures:
    """Customer satisfaction: share of 4–5 answers on the 1–5 scale, and the mean."""

    satisfied: int = 0
    total: int = 0
    sum: int = 0

    def add(self, score: int, n: int) -> None:
        self.total += n
        self.sum += score * n
        if score >= 4:
            self.satisfied += n

    @property
    def percent_satisfied(self) -> float | None:
        return _percent(self.satisfied, self.total)

    @property
    def mean(self) -> float | None:
        return _mean(self.sum, self.total)


@dataclass
class Bucket:
    value: int
    count: int
    percent: float | None
    label: str | None = None
    choice_id: int | None = None


@dataclass
class QuestionResults:
    question: Question
    answer_count: int
    distribution: list[Bucket]
    mean: float | None = None
    nps: NpsFigures | None = None
    csat: CsatFigures | None = None


@dataclass
class Figures:
    """NPS and CSAT over a set of responses (a period, a week, an owner, a segment)."""

    response_count: int = 0
    nps: NpsFigures = field(default_factory=NpsFigures)
    csat: CsatFigures = field(default_factory=CsatFigures)


@dataclass
class ResultScope:
    """Which responses results are computed over: one survey, the customers the
    viewer may see, submitted in ``[start, end)``."""

    viewer: Viewer
    survey: Survey
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def responses(self):
        qs = visible_responses(self.viewer).filter(survey_id=self.survey.id)
        if self.start is not None:
            qs = qs.filter(submitted_at__gte=self.start)
        if self.end is not None:
            qs = qs.filter(submitted_at__lt=self.end)
        return qs

    def answers(self):
        return Answer.filter(response_id__in=Subquery(self.responses().values("id")))

    def invitations(self):
        qs = Invitation.filter(
            survey_id=self.survey.id, customer_id__in=Subquery(visible_customers(self.viewer).values("id"))
        )
        if self.start is not None:
            qs = qs.filter(created_at__gte=self.start)
        if self.end is not None:
            qs = qs.filter(created_at__lt=self.end)
        return qs


async def _question_types(survey_id: int) -> dict[int, Question]:
    return {q.id: q for q in await Question.filter(version__survey_id=survey_id)}


def _figures_from(rows: Iterable[dict[str, Any]], questions: dict[int, Question]) -> tuple[NpsFigures, CsatFigures]:
    nps, csat = NpsFigures(), CsatFigures()
    for row in rows:
        question = questions.get(row["question_id"])
        if question is None or row["score"] is None:
            continue
        if question.type is QuestionType.NPS:
            nps.add(row["score"], row["n"])
        elif question.type is QuestionType.CSAT:
            csat.add(row["score"], row["n"])
    return nps, csat


@dataclass
class SurveyResults:
    scope: ResultScope
    response_count: int
    invited_count: int
    responded_count: int
    nps: NpsFigures
    csat: CsatFigures
    questions: list[QuestionResults]

    @property
    def response_rate(self) -> float | None:
        """Share of the invitations sent in the period that have been answered."""
        return _percent(self.responded_count, self.invited_count)


async def survey_results(
    viewer: Viewer, survey_id: int, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> SurveyResults:
    """Results over the viewer's visible customers. Survey-wide NPS and CSAT pool
    every NPS (CSAT) answer; per-question figures follow a question across versions
    (``origin_id``) and are listed for the current version's questions."""
    if start is not None and end is not None and end <= start:
        raise ValidationError("'to' must be after 'from'", field="period.to")
    survey = await get_survey(viewer, survey_id)
    scope = ResultScope(viewer, survey, start, end)
    all_questions = await _question_types(survey.id)
    score_rows = await (
        scope.answers()
        .filter(score__isnull=False)
        .annotate(n=Count("id"))
        .group_by("question_id", "score")
        .values("question_id", "score", "n")
    )
    choice_rows = await (
        scope.answers()
        .filter(choice_id__isnull=False)
        .annotate(n=Count("id"))
        .group_by("question_id", "choice_id")
        .values("question_id", "choice_id", "n")
    )
    # Respondents per question (a multiple-choice answer spans several rows).
    answered_rows = await (
        scope.answers()
        .annotate(n=Count("response_id", distinct=True))
        .group_by("question_id")
        .values("question_id", "n")
    )
    response_count = await scope.responses().count()
    invitations = scope.invitations()
    invited = await invitations.count()
    responded = await invitations.filter(used_at__isnull=False).count()
    nps, csat = _figures_from(score_rows, all_questions)

    def origin(question_id: int) -> int:
        q = all_questions[question_id]
        return q.origin_id or q.id

    scores: dict[int, dict[int, int]] = {}
    for row in score_rows:
        per = scores.setdefault(origin(row["question_id"]), {})
        per[row["score"]] = per.get(row["score"], 0) + row["n"]
    # Choices are matched across versions by label: the label is what the
    # customer picked.
    labels = {c.id: c.label.casefold() for c in await Choice.filter(question__version__survey_id=survey.id)}
    chosen: dict[int, dict[str, int]] = {}
    for row in choice_rows:
        label = labels[row["choice_id"]]
        per = chosen.setdefault(origin(row["question_id"]), {})
        per[label] = per.get(label, 0) + row["n"]
    answered: dict[int, int] = {}
    for row in answered_rows:
        answered[origin(row["question_id"])] = answered.get(origin(row["question_id"]), 0) + row["n"]

    version = await current_version(survey.id)
    questions = []
    for question in await questions_of(version.id):
        key = question.origin_id or question.id
        count = answered.get(key, 0)
        result = QuestionResults(question, count, [])
        if question.type in SCORED:
            low, high = SCALES.get(question.type, (1, question.scale_max or DEFAULT_RATING_MAX))
            per = scores.get(key, {})
            result.distribution = [
                Bucket(s, per.get(s, 0), _percent(per.get(s, 0), count)) for s in range(low, high + 1)
            ]
            result.mean = _mean(sum(s * n for s, n in per.items()), sum(per.values()))
            if question.type is QuestionType.NPS:
                result.nps = NpsFigures()
                for s, n in per.items():
                    result.nps.add(s, n)
            if question.type is QuestionType.CSAT:
                result.csat = CsatFigures()
                for s, n in per.items():
                    result.csat.add(s, n)
        elif question.type in CHOICE_TYPES:
            per = chosen.get(key, {})
            result.distribution = [
                Bucket(
                    c.position,
                    per.get(c.label.casefold(), 0),
                    _percent(per.get(c.label.casefold(), 0), count),
                    c.label,
                    c.id,
                )
                for c in question.ordered_choices
            ]
        questions.append(result)
    return SurveyResults(scope, response_count, invited, responded, nps, csat, questions)


async def _grouped_figures(scope: ResultScope, responses_qs, group: str) -> dict[Any, Figures]:
    """NPS/CSAT and response counts per value of a response column (week, owner…)."""
    questions = await _question_types(scope.survey.id)
    out: dict[Any, Figures] = {}
    for row in await responses_qs.annotate(n=Count("id")).group_by(group).values(group, "n"):
        out.setdefault(row[group], Figures()).response_count = row["n"]
    scored_ids = [qid for qid, q in questions.items() if q.type in (QuestionType.NPS, QuestionType.CSAT)]
    if scored_ids:
        rows = await (
            Answer.filter(response_id__in=Subquery(responses_qs.values("id")), question_id__in=scored_ids)
            .annotate(n=Count("id"))
            .group_by(f"response__{group}", "question_id", "score")
            .values(f"response__{group}", "question_id", "score", "n")
        )
        for row in rows:
            figures = out.setdefault(row[f"response__{group}"], Figures())
            question = questions[row["question_id"]]
            (figures.nps if question.type is QuestionType.NPS else figures.csat).add(row["score"], row["n"])
    return out


async def trend(scope: ResultScope, interval: str) -> list[tuple[dt.date, Figures]]:
    """Figures per ISO week (``"WEEK"``) or calendar month (``"MONTH"``), oldest
    first; periods without responses are left out."""
    column = {"WEEK": "submitted_week", "MONTH": "submitted_month"}[interval]
    grouped = await _grouped_figures(scope, scope.responses(), column)
    return sorted(((_as_date(k), f) for k, f in grouped.items()), key=lambda kv: kv[0])


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    return value


async def by_owner(scope: ResultScope) -> list[tuple[int | None, Figures]]:
    """Figures per account owner the customer had when answering; ``None``: no owner."""
    grouped = await _grouped_figures(scope, scope.responses(), "owner_id")
    return sorted(grouped.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))


async def by_segment(kehu: Kehu, scope: ResultScope, keys: list[str]) -> list[tuple[str, Figures | None]]:
    """Figures per customer segment; ``None`` for a key no plugin knows."""
    if len(keys) > 20:
        raise ValidationError("at most 20 segments at once", field="segmentKeys", code="TOO_MANY")
    out = []
    for key in keys:
        members = await kehu.hooks.first("kehu_segment_members", segment_key=key, viewer=scope.viewer)
        if members is None:
            out.append((key, None))
            continue
        responses = scope.responses().filter(customer_id__in=list(members))
        grouped = await _grouped_figures(scope, responses.filter(survey_id=scope.survey.id), "survey_id")
        out.append((key, grouped.get(scope.survey.id, Figures())))
    return out


def text_answers(scope: ResultScope, question: Question):
    """Free-text answers to a question (and its earlier versions), newest first."""
    return (
        scope.answers()
        .filter(question__origin_id=question.origin_id or question.id, text__isnull=False)
        .order_by("-response__submitted_at", "-id")
    )
