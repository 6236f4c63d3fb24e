"""Answering: every answer checked against its question, all stored or none, and
an unhappy answer turned into a follow-up for the customer's owner.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kehu.access import Viewer
from kehu.errors import ValidationError
from kehu.ids import to_global_id
from kehu.interactions import log_interaction
from kehu.models import AccountOwner, Customer, Direction, InteractionKind
from kehu.writes import emit, publish, record_change

from ..models import Answer, Invitation, Question, QuestionType, Response, Survey, SurveyVersion
from ..settings import SurveySettings
from .definitions import (
    CHOICE_TYPES,
    DEFAULT_RATING_MAX,
    MAX_TEXT_ANSWER,
    SCALES,
    SCORED,
    current_version,
    questions_of,
)
from .invitations import TokenProblem, open_invitation

if TYPE_CHECKING:
    from kehu import Kehu

log = logging.getLogger(__name__)


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
    day = kehu.calendar.date_of(now)  # weeks and months of the business calendar
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
    settings = kehu.settings_for("surveys", SurveySettings)
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
    whose ``next_follow_up_at`` puts it on their follow-up list. It is logged through
    the core's ``log_interaction``, on the owner's behalf, like any interaction: its
    rules, its part of the submission's audit entry, its ``kehu_interaction_logged``
    event, the customer's ``lastInteractionAt``. A customer nobody looks after, or
    one archived since the invitation, gets no note: there is nobody to follow up."""
    if customer.archived_at is not None:
        return  # an archived customer gets no new interactions
    owner = await AccountOwner.get_or_none(id=customer.owner_id) if customer.owner_id else None
    if owner is None:
        log.info("customer %s has no owner: no follow-up note for the unhappy survey answer", customer.id)
        return
    await log_interaction(
        Viewer(owner=owner),
        {
            "customer_id": customer.id,
            "kind": InteractionKind.NOTE,
            "direction": Direction.INTERNAL,
            "occurred_at": now,
            "subject": f"Unhappy survey answer: {survey.title}"[:300],
            "notes": "The customer gave a low score in a satisfaction survey. Please get in touch.",
            "next_follow_up_at": now + dt.timedelta(days=days),
        },
        now,
        require_permission=False,
    )
