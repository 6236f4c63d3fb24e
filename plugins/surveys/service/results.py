"""Results: NPS, CSAT and distributions from ``GROUP BY`` counts, over the
responses of the customers the viewer may see; trends, per owner, per segment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tortoise.expressions import Subquery
from tortoise.functions import Count

from kehu.access import Viewer, of_visible_customers
from kehu.errors import ValidationError
from kehu.figures import percent, round_half_up

from ..models import Answer, Choice, Invitation, Question, QuestionType, Response, Survey
from .definitions import CHOICE_TYPES, DEFAULT_RATING_MAX, SCALES, SCORED, current_version, get_survey, questions_of

if TYPE_CHECKING:
    from kehu import Kehu


def visible_responses(viewer: Viewer | None):
    """Responses of customers the viewer may see."""
    return of_visible_customers(Response, viewer)


def _mean(total: int, count: int) -> float | None:
    if not count:
        return None
    return float(round_half_up(Decimal(total) / Decimal(count), 2))


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
        return percent(self.promoters - self.detractors, self.total)


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
        return percent(self.satisfied, self.total)

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
        qs = of_visible_customers(Invitation, self.viewer).filter(survey_id=self.survey.id)
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
        return percent(self.responded_count, self.invited_count)


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
                Bucket(s, per.get(s, 0), percent(per.get(s, 0), count)) for s in range(low, high + 1)
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
                    percent(per.get(c.label.casefold(), 0), count),
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
