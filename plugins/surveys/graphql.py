"""The surveys plugin's GraphQL types, queries and mutations.

Resolvers receive the Tortoise model as ``self``. Survey definitions are visible to
every signed-in staff member; responses and results only for the customers the
viewer may see. ``submitSurveyResponse`` is public: the invitation token is the
credential. No ``from __future__ import annotations``: it breaks strawberry's lazy
types.
"""

import datetime as dt
from enum import Enum
from typing import Annotated, Optional

import strawberry
from strawberry.types import Info

from kehu.access import of_visible_customers, require_viewer
from kehu.figures import percent
from kehu.schema import (
    Connection,
    Language,
    ModelNode,
    Payload,
    UserError,
    batch_field,
    describe_enum_values,
    max_items,
    nested_connections,
    paginate,
    pk_from_global_id,
    to_global_id,
)

from . import models, service

SurveyStatus = describe_enum_values(
    strawberry.enum(models.SurveyStatus, name="SurveyStatus", description="Whether a survey can be answered."),
    {
        "DRAFT": "Being written; not answerable yet.",
        "PUBLISHED": "Open for answers.",
        "CLOSED": "No longer accepts answers.",
    },
)
SurveyQuestionType = describe_enum_values(
    strawberry.enum(
        models.QuestionType, name="SurveyQuestionType", description="What kind of answer a question takes."
    ),
    {
        "NPS": "How likely to recommend us, 0–10 (Net Promoter Score).",
        "CSAT": "How satisfied, 1–5 (customer satisfaction).",
        "RATING": "A score from 1 to the question's scale.",
        "SINGLE_CHOICE": "One of the question's choices.",
        "MULTI_CHOICE": "Any of the question's choices.",
        "TEXT": "Free text.",
    },
)


@strawberry.enum(name="SurveyTrendInterval", description="The length of one point of a trend.")
class TrendInterval(Enum):
    WEEK = strawberry.enum_value("WEEK", description="An ISO week, from Monday (UTC).")
    MONTH = strawberry.enum_value("MONTH", description="A calendar month (UTC).")


def _now(info: Info) -> dt.datetime:
    return info.context.kehu.clock.now()


_pk = pk_from_global_id  # the one "global ID -> pk" helper (kehu.schema)


# --------------------------------------------------------------------------- surveys


@strawberry.type(name="SurveyChoice", description="One option of a choice question.")
class SurveyChoice(ModelNode, model=models.Choice):
    label: str = strawberry.field(description="The option as the customer reads it.")
    position: int = strawberry.field(description="1-based order within the question.")


@strawberry.type(name="SurveyQuestion", description="One question of one version of a survey.")
class SurveyQuestion(ModelNode, model=models.Question):
    type: SurveyQuestionType = strawberry.field(description="What kind of answer it takes.")
    text: str = strawberry.field(description="The question as the customer reads it.")
    required: bool = strawberry.field(description="Whether a response must answer it.")
    position: int = strawberry.field(description="1-based order within the survey.")

    @strawberry.field(
        description="Options of SINGLE_CHOICE and MULTI_CHOICE questions, in order.",
        metadata=max_items(service.MAX_CHOICES),
    )
    async def choices(self) -> list[SurveyChoice]:
        ordered = getattr(self, "ordered_choices", None)
        if ordered is None:
            ordered = await models.Choice.filter(question_id=self.id).order_by("position")
        return list(ordered)

    @strawberry.field(description="Lowest score of NPS (0), CSAT (1) and RATING (1) questions.")
    def min_score(self) -> Optional[int]:
        return _scale(self)[0]

    @strawberry.field(description="Highest score: NPS 10, CSAT 5, RATING its scale.")
    def max_score(self) -> Optional[int]:
        return _scale(self)[1]


def _scale(question: models.Question) -> tuple[Optional[int], Optional[int]]:
    if question.type not in service.SCORED:
        return None, None
    return service.SCALES.get(question.type, (1, question.scale_max or service.DEFAULT_RATING_MAX))


@strawberry.type(name="Survey", description="A satisfaction survey (NPS, CSAT, ratings, choices, free text).")
class SurveyNode(ModelNode, model=models.Survey):
    title: str = strawberry.field(description="The title the customer sees.")
    description: str = strawberry.field(description="The introduction the customer sees; may be empty.")
    status: SurveyStatus = strawberry.field(description="Whether it can be answered.")
    created_at: dt.datetime = strawberry.field(description="When it was created.")
    updated_at: dt.datetime = strawberry.field(description="When it last changed.")
    published_at: Optional[dt.datetime] = strawberry.field(description="When it was opened for answers.")
    closed_at: Optional[dt.datetime] = strawberry.field(description="When it stopped accepting answers.")
    language: Optional[Language] = strawberry.field(
        description="The language of the answering page; null: the respondent's browser's."
    )

    @strawberry.field(description="The current version's number (1 + edits made after responses arrived).")
    async def version(self) -> int:
        return (await service.current_version(self.id)).number

    @strawberry.field(description="The current version's questions, in order.")
    async def questions(self) -> list[SurveyQuestion]:
        return await service.questions_of((await service.current_version(self.id)).id)

    @strawberry.field(description="Responses from customers the viewer may see, newest first.")
    async def responses(
        self,
        info: Info,
        first: Optional[int] = None,
        after: Optional[str] = None,
        last: Optional[int] = None,
        before: Optional[str] = None,
    ) -> Connection["SurveyResponse"]:
        qs = service.visible_responses(info.context.viewer).filter(survey_id=self.id)
        return await paginate(qs, first, after, last=last, before=before, order_by=("-submitted_at", "-id"))


# --------------------------------------------------------------------------- invitations & responses


@strawberry.type(name="SurveyInvitation", description="A customer's single-use link to a survey.")
class SurveyInvitation(ModelNode, model=models.Invitation):
    created_at: dt.datetime = strawberry.field(description="When it was issued.")
    expires_at: dt.datetime = strawberry.field(description="When the link stops working.")
    used_at: Optional[dt.datetime] = strawberry.field(description="When it was answered; null until then.")
    reason: str = strawberry.field(description='Why it was sent: "manual", "complaint_resolved", …')
    reference: Optional[str] = strawberry.field(description="What it is about, e.g. the complaint's ID.")

    @strawberry.field(description="Who was invited (null if no longer visible to the viewer).")
    async def customer(self, info: Info) -> Optional["Customer"]:
        return await info.context.loaders.customer.load(self.customer_id)

    @strawberry.field(description="The survey it opens.")
    async def survey(self) -> SurveyNode:
        return await models.Survey.get(id=self.survey_id)


@strawberry.type(description="A new invitation with its secret token, shown this once only.")
class IssuedSurveyInvitation:
    invitation: SurveyInvitation = strawberry.field(description="The invitation's record.")
    token: str = strawberry.field(description="The secret in the link; kehu keeps only its hash.")
    link: str = strawberry.field(description="The public page to send the customer: <public_base_url>/s/<token>.")


@strawberry.type(name="SurveyAnswer", description="A customer's answer to one question.")
class SurveyAnswer:
    question: SurveyQuestion = strawberry.field(description="The question answered.")
    score: Optional[int] = strawberry.field(default=None, description="The score given (NPS, CSAT, RATING).")
    choices: list[SurveyChoice] = strawberry.field(
        default_factory=list,
        metadata=max_items(service.MAX_CHOICES),
        description="The options chosen (choice questions).",
    )
    text: Optional[str] = strawberry.field(default=None, description="The text written (TEXT questions).")


@strawberry.type(name="SurveyResponse", description="A customer's submitted answers.")
class SurveyResponse(ModelNode, model=models.Response):
    submitted_at: dt.datetime = strawberry.field(description="When it was submitted.")

    @strawberry.field(description="The survey answered.")
    async def survey(self) -> SurveyNode:
        return await models.Survey.get(id=self.survey_id)

    @strawberry.field(description="The version of the survey that was answered.")
    async def version(self) -> int:
        return (await models.SurveyVersion.get(id=self.version_id)).number

    @strawberry.field(description="Who answered (null if no longer visible to the viewer).")
    async def customer(self, info: Info) -> Optional["Customer"]:
        return await info.context.loaders.customer.load(self.customer_id)

    @strawberry.field(description="Answers in question order; skipped optional questions are left out.")
    async def answers(self) -> list[SurveyAnswer]:
        rows = await models.Answer.filter(response_id=self.id).select_related("question", "choice").order_by("id")
        grouped: dict[int, SurveyAnswer] = {}
        for row in rows:
            answer = grouped.setdefault(row.question_id, SurveyAnswer(question=row.question))
            if row.score is not None:
                answer.score = row.score
            if row.choice is not None:
                answer.choices.append(row.choice)
            if row.text is not None:
                answer.text = row.text
        return sorted(grouped.values(), key=lambda a: a.question.position)


@strawberry.type
class CustomerSurveys:
    """Mixin for ``Customer``."""

    @batch_field(description="This customer's survey responses, newest first.")
    async def survey_responses(
        customers: list["Customer"], info: Info, first: Optional[int] = None, after: Optional[str] = None
    ) -> list[Connection[SurveyResponse]]:
        # The customers are ones the viewer may see; one query for the whole page.
        return await nested_connections(
            info,
            [c.id for c in customers],
            queryset=models.Response.all(),
            parent_column="customer_id",
            order=("-submitted_at", "-id"),
            first=first,
            after=after,
        )


# --------------------------------------------------------------------------- results


@strawberry.type(description="Net Promoter Score parts: promoters 9–10, passives 7–8, detractors 0–6.")
class NpsBreakdown:
    score: Optional[float] = strawberry.field(description="% promoters − % detractors, −100…100; null without answers.")
    promoters: int = strawberry.field(description="Answers of 9 or 10.")
    passives: int = strawberry.field(description="Answers of 7 or 8.")
    detractors: int = strawberry.field(description="Answers of 0 to 6.")
    total: int = strawberry.field(description="All answers.")
    promoter_percent: Optional[float] = strawberry.field(description="Promoters, in % of all answers.")
    detractor_percent: Optional[float] = strawberry.field(description="Detractors, in % of all answers.")


@strawberry.type(description="CSAT parts: answers of 4 or 5 on the 1–5 scale count as satisfied.")
class CsatBreakdown:
    percent_satisfied: Optional[float] = strawberry.field(
        description="Satisfied, in % of all answers; null without any."
    )
    mean: Optional[float] = strawberry.field(description="The mean answer; null without any.")
    satisfied: int = strawberry.field(description="Answers of 4 or 5.")
    total: int = strawberry.field(description="All answers.")


def _nps_breakdown(nps: service.NpsFigures) -> NpsBreakdown:
    return NpsBreakdown(
        score=nps.score,
        promoters=nps.promoters,
        passives=nps.passives,
        detractors=nps.detractors,
        total=nps.total,
        promoter_percent=percent(nps.promoters, nps.total),
        detractor_percent=percent(nps.detractors, nps.total),
    )


def _csat_breakdown(csat: service.CsatFigures) -> CsatBreakdown:
    return CsatBreakdown(
        percent_satisfied=csat.percent_satisfied, mean=csat.mean, satisfied=csat.satisfied, total=csat.total
    )


@strawberry.type(description="How often one score or choice was given.")
class SurveyBucket:
    value: int = strawberry.field(description="The score, or the choice's position.")
    label: Optional[str] = strawberry.field(description="The choice's label; null for scores.")
    choice_id: Optional[strawberry.ID] = strawberry.field(description="The choice's ID; null for scores.")
    count: int = strawberry.field(description="How many times it was given.")
    percent: Optional[float] = strawberry.field(description="Of the question's respondents.")


@strawberry.type(description="A free-text answer.")
class SurveyTextAnswer:
    text: str = strawberry.field(description="What the customer wrote (hidden from some roles).")

    @strawberry.field(description="When the response was submitted.")
    def submitted_at(self) -> dt.datetime:
        return self.response.submitted_at

    @strawberry.field(description="Who wrote it (null if no longer visible to the viewer).")
    async def customer(self, info: Info) -> Optional["Customer"]:
        return await info.context.loaders.customer.load(self.response.customer_id)


@strawberry.type(description="The answers to one question.")
class SurveyQuestionResults:
    question: SurveyQuestion = strawberry.field(description="The question.")
    answer_count: int = strawberry.field(description="Respondents who answered it.")
    mean: Optional[float] = strawberry.field(description="Mean score (scored questions).")
    nps: Optional[float] = strawberry.field(description="NPS questions: their Net Promoter Score.")
    csat: Optional[float] = strawberry.field(description="CSAT questions: % satisfied (4–5).")
    nps_breakdown: Optional[NpsBreakdown] = strawberry.field(description="NPS questions: the parts of the score.")
    csat_breakdown: Optional[CsatBreakdown] = strawberry.field(description="CSAT questions: the parts of the figure.")
    distribution: list[SurveyBucket] = strawberry.field(
        description="Every score of the scale (or every choice), zero counts included.",
        metadata=max_items(max(service.MAX_CHOICES, 11)),  # choices, or NPS's 0..10 (the widest scale)
    )
    _scope: strawberry.Private[service.ResultScope]

    @strawberry.field(description="TEXT questions: the answers, newest first.")
    async def text_answers(
        self, first: Optional[int] = None, after: Optional[str] = None
    ) -> Connection[SurveyTextAnswer]:
        qs = service.text_answers(self._scope, self.question).select_related("response")
        return await paginate(qs, first, after)


@strawberry.type(description="NPS and CSAT over a group of responses.")
class SurveyFigures:
    response_count: int = strawberry.field(description="Responses in the group.")
    nps: Optional[float] = strawberry.field(description="Net Promoter Score of their NPS answers; null without any.")
    csat: Optional[float] = strawberry.field(description="% of CSAT answers that were 4–5.")
    csat_mean: Optional[float] = strawberry.field(description="The mean CSAT answer; null without any.")


def _figures(f: service.Figures) -> dict:
    return {
        "response_count": f.response_count,
        "nps": f.nps.score,
        "csat": f.csat.percent_satisfied,
        "csat_mean": f.csat.mean,
    }


@strawberry.type(description="NPS and CSAT over one week or month.")
class SurveyTrendPoint(SurveyFigures):
    period_start: dt.date = strawberry.field(
        description="Monday of the ISO week, or the 1st of the month, on the business calendar ([kehu] timezone)."
    )


@strawberry.type(description="NPS and CSAT over the responses of one account owner's customers.")
class SurveyOwnerFigures(SurveyFigures):
    _owner_id: strawberry.Private[Optional[int]]

    @strawberry.field(description="The customer's account owner when the response arrived; null: none.")
    async def owner(self, info: Info) -> Optional["AccountOwner"]:
        if self._owner_id is None:
            return None
        return await info.context.loaders.owner.load(self._owner_id)


@strawberry.type(description="NPS and CSAT over the responses of one segment's customers.")
class SurveySegmentFigures(SurveyFigures):
    segment_key: str = strawberry.field(description="The segment.")
    known: bool = strawberry.field(description="false: no plugin knows this segment (figures are empty).")


@strawberry.input(description="Responses submitted from `from` (inclusive) to `to` (exclusive); open ends allowed.")
class SurveyPeriodInput:
    from_: Optional[dt.datetime] = strawberry.field(default=None, name="from", description="From this instant.")
    to: Optional[dt.datetime] = strawberry.field(default=None, description="Until before this instant.")


@strawberry.type(description="A survey's results over the customers the viewer may see.")
class SurveyResults:
    survey: SurveyNode = strawberry.field(description="The survey.")
    response_count: int = strawberry.field(description="Responses in the period.")
    invited_count: int = strawberry.field(description="Invitations sent in the period.")
    responded_count: int = strawberry.field(description="Of those, how many have been answered.")
    response_rate: Optional[float] = strawberry.field(description="responded / invited, in %; null if none sent.")
    nps: Optional[float] = strawberry.field(description="Net Promoter Score over all NPS answers; null without any.")
    csat: Optional[float] = strawberry.field(description="% of CSAT answers that were 4 or 5.")
    csat_mean: Optional[float] = strawberry.field(description="The mean CSAT answer; null without any.")
    nps_breakdown: NpsBreakdown = strawberry.field(description="The parts of the NPS.")
    csat_breakdown: CsatBreakdown = strawberry.field(description="The parts of the CSAT figure.")
    questions: list[SurveyQuestionResults] = strawberry.field(description="Question by question.")
    _scope: strawberry.Private[service.ResultScope]

    @strawberry.field(description="Figures per ISO week or calendar month, oldest first.")
    async def trend(
        self,
        interval: Annotated[TrendInterval, strawberry.argument(description="Weeks or months.")] = TrendInterval.MONTH,
    ) -> list[SurveyTrendPoint]:
        return [
            SurveyTrendPoint(period_start=start, **_figures(f))
            for start, f in await service.trend(self._scope, interval.value)
        ]

    @strawberry.field(description="Figures per account owner.")
    async def by_owner(self) -> list[SurveyOwnerFigures]:
        return [
            SurveyOwnerFigures(_owner_id=owner_id, **_figures(f)) for owner_id, f in await service.by_owner(self._scope)
        ]

    @strawberry.field(description="Figures per customer segment (needs a segmentation plugin).", metadata=max_items(20))
    async def by_segment(
        self, info: Info, segment_keys: Annotated[list[str], strawberry.argument(description="The segments' keys.")]
    ) -> list[SurveySegmentFigures]:
        out = []
        for key, f in await service.by_segment(info.context.kehu, self._scope, segment_keys):
            out.append(SurveySegmentFigures(segment_key=key, known=f is not None, **_figures(f or service.Figures())))
        return out


def _results(r: service.SurveyResults) -> SurveyResults:
    questions = []
    for q in r.questions:
        questions.append(
            SurveyQuestionResults(
                question=q.question,
                answer_count=q.answer_count,
                mean=q.mean,
                nps=q.nps.score if q.nps else None,
                csat=q.csat.percent_satisfied if q.csat else None,
                nps_breakdown=_nps_breakdown(q.nps) if q.nps else None,
                csat_breakdown=_csat_breakdown(q.csat) if q.csat else None,
                distribution=[
                    SurveyBucket(
                        value=b.value,
                        label=b.label,
                        choice_id=strawberry.ID(to_global_id("SurveyChoice", b.choice_id)) if b.choice_id else None,
                        count=b.count,
                        percent=b.percent,
                    )
                    for b in q.distribution
                ],
                _scope=r.scope,
            )
        )
    return SurveyResults(
        survey=r.scope.survey,
        response_count=r.response_count,
        invited_count=r.invited_count,
        responded_count=r.responded_count,
        response_rate=r.response_rate,
        nps=r.nps.score,
        csat=r.csat.percent_satisfied,
        csat_mean=r.csat.mean,
        nps_breakdown=_nps_breakdown(r.nps),
        csat_breakdown=_csat_breakdown(r.csat),
        questions=questions,
        _scope=r.scope,
    )


# --------------------------------------------------------------------------- inputs & payloads


@strawberry.input(description="One question of a survey being written.")
class SurveyQuestionInput:
    type: SurveyQuestionType = strawberry.field(description="What kind of answer it takes.")
    text: str = strawberry.field(description="The question as the customer reads it.")
    required: bool = strawberry.field(default=True, description="Whether a response must answer it.")
    choices: Optional[list[str]] = strawberry.field(
        default=None, description="Choice questions: the options, in order."
    )
    scale_max: Optional[int] = strawberry.field(
        default=None, description="RATING: top of the 1…N scale (2–10, default 5)."
    )
    id: Optional[strawberry.ID] = strawberry.field(
        default=None, description="updateSurvey: the current question this one continues, so results stay joined up."
    )


def _question_specs(questions: list[SurveyQuestionInput]) -> list[service.QuestionSpec]:
    return [
        service.QuestionSpec(
            type=q.type,
            text=q.text,
            required=q.required,
            choices=list(q.choices or []),
            scale_max=q.scale_max,
            continues=_pk(q.id, "SurveyQuestion", f"questions[{i}].id") if q.id else None,
        )
        for i, q in enumerate(questions)
    ]


@strawberry.input(description="A new draft survey.")
class CreateSurveyInput:
    title: str = strawberry.field(description="The title the customer sees.")
    description: Optional[str] = strawberry.field(default=None, description="The introduction the customer sees.")
    questions: list[SurveyQuestionInput] = strawberry.field(description="The questions, in order.")
    language: Optional[Language] = strawberry.field(
        default=None, description="The answering page's language; null: the respondent's browser's."
    )


@strawberry.input(description="Only the fields sent change; `questions` replaces the whole list.")
class UpdateSurveyInput:
    id: strawberry.ID = strawberry.field(description="The survey to change.")
    title: Optional[str] = strawberry.field(default=strawberry.UNSET, description="The title.")
    description: Optional[str] = strawberry.field(default=strawberry.UNSET, description="The introduction.")
    questions: Optional[list[SurveyQuestionInput]] = strawberry.field(
        default=strawberry.UNSET, description="All the questions, in order."
    )
    language: Optional[Language] = strawberry.field(
        default=strawberry.UNSET, description="The answering page's language; null: the respondent's browser's."
    )


@strawberry.input(description="The survey to act on.")
class SurveyIdInput:
    id: strawberry.ID = strawberry.field(description="The survey's global ID.")


@strawberry.type(description="The survey as written, or why nothing was.")
class SurveyPayload(Payload):
    survey: Optional[SurveyNode] = strawberry.field(default=None, description="null when there are userErrors.")


@strawberry.input(description="Who should be invited to answer a survey.")
class InviteToSurveyInput:
    survey_id: strawberry.ID = strawberry.field(description="The survey (published).")
    customer_ids: Optional[list[strawberry.ID]] = strawberry.field(default=None, description="Either these customers…")
    segment_key: Optional[str] = strawberry.field(default=None, description="…or every member of this segment.")
    expires_in_days: Optional[int] = strawberry.field(default=None, description="1–365; default from plugins.toml.")


@strawberry.type(description="The invitations issued, with their links (shown this once), or why none were.")
class InviteToSurveyPayload(Payload):
    invitations: list[IssuedSurveyInvitation] = strawberry.field(
        default_factory=list, description="One per customer invited."
    )


@strawberry.input(description="One answer: `score` (NPS, CSAT, RATING), `choiceIds` (choice questions) or `text`.")
class SurveyAnswerInput:
    question_id: strawberry.ID = strawberry.field(description="The question answered.")
    score: Optional[int] = strawberry.field(default=None, description="NPS, CSAT and RATING questions: the score.")
    choice_ids: Optional[list[strawberry.ID]] = strawberry.field(
        default=None, description="Choice questions: the options chosen."
    )
    text: Optional[str] = strawberry.field(default=None, description="TEXT questions: the text.")


@strawberry.input(description="A customer's answers, with the token of their invitation.")
class SubmitSurveyResponseInput:
    token: str = strawberry.field(description="The secret from the invitation's link.")
    answers: list[SurveyAnswerInput] = strawberry.field(description="The answers, any order.")
    survey_id: Optional[strawberry.ID] = strawberry.field(
        default=None, description="If given, the token must belong to this survey."
    )


@strawberry.type(description="What is wrong with the answer to one question.")
class SurveyQuestionError:
    question_id: Optional[strawberry.ID] = strawberry.field(description="The question; null for the whole response.")
    position: Optional[int] = strawberry.field(description="The question's number as the customer sees it.")
    code: str = strawberry.field(description="Stable machine-readable code, e.g. REQUIRED, OUT_OF_RANGE.")
    message: str = strawberry.field(description="What is wrong, for the customer to read.")


@strawberry.type(description="Whether the answers were recorded, or what is wrong with them.")
class SubmitSurveyResponsePayload(Payload):
    ok: bool = strawberry.field(default=False, description="true: recorded; the link is used up.")
    question_errors: list[SurveyQuestionError] = strawberry.field(
        default_factory=list, description="The problems, question by question."
    )


# --------------------------------------------------------------------------- root fields


@strawberry.type
class SurveyQuery:
    @strawberry.field(description="Surveys, newest first.")
    async def surveys(
        self,
        info: Info,
        first: Optional[int] = None,
        after: Optional[str] = None,
        status: Annotated[
            Optional[SurveyStatus], strawberry.argument(description="Only surveys in this status.")
        ] = None,
    ) -> Connection[SurveyNode]:
        qs = service.list_surveys(require_viewer(info.context.viewer), status)
        return await paginate(qs, first, after)

    @strawberry.field(description="A survey by global ID; null if there is none.")
    async def survey(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The survey's global ID.")]
    ) -> Optional[SurveyNode]:
        return await models.Survey.get_or_none(id=_pk(id, "Survey"))

    @strawberry.field(description="The survey an invitation token opens (public: for custom answering pages).")
    async def survey_by_token(
        self, info: Info, token: Annotated[str, strawberry.argument(description="The secret from the link.")]
    ) -> SurveyNode:
        invitation = await service.open_invitation(token, _now(info))
        return invitation.survey

    @strawberry.field(description="Results over the customers you may see; `period` bounds submission times.")
    async def survey_results(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The survey's global ID.")],
        period: Annotated[
            Optional[SurveyPeriodInput], strawberry.argument(description="Responses submitted in it; default: all.")
        ] = None,
    ) -> SurveyResults:
        viewer = require_viewer(info.context.viewer)
        results = await service.survey_results(
            viewer, _pk(id, "Survey"), period.from_ if period else None, period.to if period else None
        )
        return _results(results)


def _user_errors(exc: service.SubmissionRejected) -> SubmitSurveyResponsePayload:
    return SubmitSurveyResponsePayload(
        user_errors=[UserError(field="answers", code=p.code, message=p.message) for p in exc.problems],
        question_errors=[
            SurveyQuestionError(
                question_id=strawberry.ID(to_global_id("SurveyQuestion", p.question_id)) if p.question_id else None,
                position=p.position,
                code=p.code,
                message=p.message,
            )
            for p in exc.problems
        ],
    )


@strawberry.type
class SurveyMutation:
    @strawberry.mutation(description="Create a draft survey.")
    async def create_survey(self, info: Info, input: CreateSurveyInput) -> SurveyPayload:
        survey = await service.create_survey(
            require_viewer(info.context.viewer),
            {
                "title": input.title,
                "description": input.description,
                "language": input.language,
                "questions": _question_specs(input.questions),
            },
            _now(info),
        )
        return SurveyPayload(survey=survey)

    @strawberry.mutation(description="Edit a survey; once it has responses, question edits make a new version.")
    async def update_survey(self, info: Info, input: UpdateSurveyInput) -> SurveyPayload:
        data = {}
        for name in ("title", "description", "language"):
            if getattr(input, name) is not strawberry.UNSET:
                data[name] = getattr(input, name)
        if input.questions not in (strawberry.UNSET, None):
            data["questions"] = _question_specs(input.questions)
        survey = await service.update_survey(
            require_viewer(info.context.viewer), _pk(input.id, "Survey"), data, _now(info)
        )
        return SurveyPayload(survey=survey)

    @strawberry.mutation(description="Open a survey for answers.")
    async def publish_survey(self, info: Info, input: SurveyIdInput) -> SurveyPayload:
        survey = await service.publish_survey(require_viewer(info.context.viewer), _pk(input.id, "Survey"), _now(info))
        return SurveyPayload(survey=survey)

    @strawberry.mutation(description="Stop accepting answers.")
    async def close_survey(self, info: Info, input: SurveyIdInput) -> SurveyPayload:
        survey = await service.close_survey(require_viewer(info.context.viewer), _pk(input.id, "Survey"), _now(info))
        return SurveyPayload(survey=survey)

    @strawberry.mutation(description="Create single-use links for customers or a segment; returns them once.")
    async def invite_to_survey(self, info: Info, input: InviteToSurveyInput) -> InviteToSurveyPayload:
        customer_ids = None
        if input.customer_ids is not None:
            customer_ids = [_pk(c, "Customer", f"customerIds[{i}]") for i, c in enumerate(input.customer_ids)]
        issued = await service.invite(
            info.context.kehu,
            require_viewer(info.context.viewer),
            _pk(input.survey_id, "Survey", "surveyId"),
            customer_ids=customer_ids,
            segment_key=input.segment_key,
            expires_in_days=input.expires_in_days,
            now=_now(info),
        )
        return InviteToSurveyPayload(
            invitations=[IssuedSurveyInvitation(invitation=i.invitation, token=i.token, link=i.link) for i in issued]
        )

    @strawberry.mutation(description="Answer a survey with an invitation's token (no sign-in needed).")
    async def submit_survey_response(self, info: Info, input: SubmitSurveyResponseInput) -> SubmitSurveyResponsePayload:
        answers = []
        for i, a in enumerate(input.answers):
            answers.append(
                service.AnswerInput(
                    question_id=_pk(a.question_id, "SurveyQuestion", f"answers[{i}].questionId"),
                    score=a.score,
                    choice_ids=[_pk(c, "SurveyChoice", f"answers[{i}].choiceIds") for c in a.choice_ids]
                    if a.choice_ids
                    else None,
                    text=a.text,
                )
            )
        survey_id = _pk(input.survey_id, "Survey", "surveyId") if input.survey_id else None
        try:
            await service.submit_response(info.context.kehu, input.token, answers, _now(info), survey_id=survey_id)
        except service.SubmissionRejected as exc:
            return _user_errors(exc)
        return SubmitSurveyResponsePayload(ok=True)


REBOUND_TYPES = (SurveyInvitation, SurveyResponse, SurveyTextAnswer, SurveyOwnerFigures)


async def resolve_survey_node(info: Info, pk: int):
    return await models.Survey.get_or_none(id=pk)


async def resolve_response_node(info: Info, pk: int):
    return await service.visible_responses(info.context.viewer).filter(id=pk).first()


# Questions and choices are part of a survey's definition, which every signed-in
# staff member sees; an invitation, like a response, only with its customer.


async def resolve_question_node(info: Info, pk: int):
    return await models.Question.get_or_none(id=pk)


async def resolve_choice_node(info: Info, pk: int):
    return await models.Choice.get_or_none(id=pk)


async def resolve_invitation_node(info: Info, pk: int):
    return await of_visible_customers(models.Invitation, info.context.viewer).filter(id=pk).first()
