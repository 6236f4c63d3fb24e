"""Survey rules: building and versioning surveys, invitations, answering, results.

No GraphQL here. Staff operations take a ``Viewer``; answering takes only the
invitation token, because customers have no account. Writes run inside the
caller's ``kehu.writes.write_scope`` (a GraphQL mutation, the public page, or the
``kehu_survey_requested`` handler), so each is all or nothing with one audit entry.

Results are computed from ``GROUP BY`` counts — per question and score, per
question and choice, per week/month or owner — and only the arithmetic on those
few rows happens in Python. Every figure is scoped to the customers the viewer may
see (``kehu.access.visible_customers``): an agent's NPS is their customers' NPS.

The modules: ``definitions`` (surveys, versions, questions), ``invitations``,
``answering``, ``results``. Other modules of the plugin import from here.
"""

from .answering import (
    AnswerInput,
    AnswerProblem,
    SubmissionRejected,
    is_detractor,
    submit_response,
    validate_answers,
    week_start,
)
from .definitions import (
    CHOICE_TYPES,
    DEFAULT_RATING_MAX,
    MAX_CHOICES,
    MAX_TEXT_ANSWER,
    SCALES,
    SCORED,
    QuestionSpec,
    close_survey,
    create_survey,
    current_version,
    get_survey,
    list_surveys,
    publish_survey,
    questions_of,
    update_survey,
)
from .invitations import IssuedInvitation, TokenProblem, invite, open_invitation, request_survey
from .results import (
    CsatFigures,
    Figures,
    NpsFigures,
    ResultScope,
    SurveyResults,
    by_owner,
    by_segment,
    survey_results,
    text_answers,
    trend,
    visible_responses,
)

__all__ = [
    "AnswerInput",
    "AnswerProblem",
    "by_owner",
    "by_segment",
    "CHOICE_TYPES",
    "close_survey",
    "create_survey",
    "CsatFigures",
    "current_version",
    "DEFAULT_RATING_MAX",
    "Figures",
    "get_survey",
    "invite",
    "is_detractor",
    "IssuedInvitation",
    "list_surveys",
    "MAX_CHOICES",
    "MAX_TEXT_ANSWER",
    "NpsFigures",
    "open_invitation",
    "publish_survey",
    "questions_of",
    "QuestionSpec",
    "request_survey",
    "ResultScope",
    "SCALES",
    "SCORED",
    "SubmissionRejected",
    "submit_response",
    "survey_results",
    "SurveyResults",
    "text_answers",
    "TokenProblem",
    "trend",
    "update_survey",
    "validate_answers",
    "visible_responses",
    "week_start",
]
