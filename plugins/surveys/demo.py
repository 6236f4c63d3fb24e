"""A demo satisfaction survey for ``kehu demo`` (never for production).

One published survey (NPS, CSAT, a comment) sent to demo customers over the past
year, answered by most of them — loyal customers happier than drifting ones — so
that results, trends and the console's charts have something to show.
Deterministic for a given seed and day.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from typing import TYPE_CHECKING

from kehu.ids import digest
from kehu.models import Customer
from kehu.writes import record_change, write_scope

from .models import Answer, Invitation, Question, QuestionType, Response, Survey, SurveyStatus, SurveyVersion
from .service import week_start

if TYPE_CHECKING:
    from kehu import Kehu

COMMENTS = [
    "Quick and friendly service.",
    "Delivery could be faster.",
    "Great value for money.",
    "The app is confusing.",
    "My account manager is very helpful.",
    "Prices went up too much.",
]


async def seed_surveys(kehu: Kehu, customer_ids: list[int] | None, *, seed: int = 11) -> int:
    if await Survey.exists():
        return 0
    customers = (
        await Customer.filter(**({"id__in": customer_ids} if customer_ids else {}), archived_at__isnull=True)
        .order_by("id")
        .values_list("id", "owner_id", "last_interaction_at")
    )
    if not customers:
        return 0
    rnd = random.Random(seed)
    now = kehu.clock.now().replace(microsecond=0)
    start = now - dt.timedelta(days=365)
    async with write_scope(kehu, None, "surveys.seedDemo", actor_label="kehu demo"):
        survey = await Survey.create(
            title="Customer satisfaction",
            description="How likely are you to recommend us, and how satisfied are you?",
            status=SurveyStatus.PUBLISHED,
            created_at=start,
            updated_at=start,
            published_at=start,
        )
        version = await SurveyVersion.create(survey=survey, number=1, current=True, created_at=start)
        questions = []
        for position, (kind, text, required) in enumerate(
            [
                (QuestionType.NPS, "How likely are you to recommend us to a friend or colleague?", True),
                (QuestionType.CSAT, "How satisfied are you with our service?", True),
                (QuestionType.TEXT, "Anything we could do better?", False),
            ],
            start=1,
        ):
            question = await Question.create(
                version=version, position=position, type=kind, text=text, required=required
            )
            question.origin_id = question.id
            await question.save(update_fields=["origin_id"])
            questions.append(question)
        nps, csat, comment = questions
        invitations, plans = [], []
        for customer_id, owner_id, last in customers:
            if rnd.random() > 0.6:
                continue
            sent = start + dt.timedelta(days=rnd.uniform(0, 360))
            answered = rnd.random() < 0.7
            active = last is not None and (now - last).days < 120
            mood = rnd.gauss(8.2 if active else 6.0, 1.8)
            invitations.append(
                Invitation(
                    survey_id=survey.id,
                    customer_id=customer_id,
                    token_hash=digest(secrets.token_urlsafe(24)),
                    created_at=sent,
                    expires_at=sent + dt.timedelta(days=30),
                    reason="demo",
                    used_at=(sent + dt.timedelta(hours=rnd.uniform(1, 96))) if answered else None,
                )
            )
            plans.append((customer_id, owner_id, mood))
        await Invitation.bulk_create(invitations)
        stored = await Invitation.filter(survey_id=survey.id).order_by("id").values_list("id", flat=True)
        responses = []
        for invitation, pk, (customer_id, owner_id, mood) in zip(invitations, stored, plans):
            if invitation.used_at is None or invitation.used_at > now:
                continue
            day = kehu.calendar.date_of(invitation.used_at)
            responses.append(
                (
                    Response(
                        survey_id=survey.id,
                        version_id=version.id,
                        invitation_id=pk,
                        customer_id=customer_id,
                        owner_id=owner_id,
                        submitted_at=invitation.used_at,
                        submitted_week=week_start(day),
                        submitted_month=day.replace(day=1),
                    ),
                    mood,
                )
            )
        await Response.bulk_create([r for r, _ in responses])
        response_ids = await Response.filter(survey_id=survey.id).order_by("id").values_list("id", flat=True)
        answers = []
        for (_response, mood), pk in zip(responses, response_ids):
            score = max(0, min(10, round(mood)))
            answers.append(Answer(response_id=pk, question_id=nps.id, score=score))
            answers.append(
                Answer(
                    response_id=pk, question_id=csat.id, score=max(1, min(5, round(mood / 2 + rnd.uniform(-0.6, 0.6))))
                )
            )
            if rnd.random() < 0.3:
                answers.append(Answer(response_id=pk, question_id=comment.id, text=rnd.choice(COMMENTS)))
        await Answer.bulk_create(answers)
        record_change("Survey", survey.id, {"demo responses": (0, len(responses))})
    return len(responses)
