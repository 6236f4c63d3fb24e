"""The public answering page, ``/s/{token}``: server-rendered HTML, no JavaScript.

GET shows the survey's questions as an ordinary HTML form; POST (to the same
path) validates and stores the answers, then thanks the customer. A wrong answer
re-shows the form with a message at each wrong question and the customer's
entries kept. The token is the only credential: it is single-use, so no CSRF
token is needed (a forged cross-site post would need the secret link itself).

Every piece of text that comes from staff or customers goes through
``html.escape``. Bodies larger than ``max_body_bytes`` are refused before they are
read in full. The page sends no referrer (the token is in its URL) and may not be
framed or cached.

Its texts are in ``messages/<language>.json``; the page speaks the survey's
language, or — for a survey without one and for links that open no survey — the
language the respondent's browser asks for.
"""

from __future__ import annotations

import functools
import html
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from kehu.i18n import Messages, best_language, read_catalogues
from kehu.ids import digest
from kehu.writes import write_scope

from . import service
from .models import Invitation, QuestionType, Survey, SurveyVersion
from .settings import SurveySettings

if TYPE_CHECKING:
    from kehu import Kehu

    from .models import Question

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex",
}
# HTTP status of the page shown for each token problem.
TOKEN_STATUS = {
    "INVALID_TOKEN": 404,
    "TOKEN_USED": 410,
    "TOKEN_EXPIRED": 410,
    "SURVEY_CLOSED": 410,
    "WRONG_SURVEY": 404,
}
MESSAGES = Path(__file__).parent / "messages"


@functools.cache
def catalogues() -> dict[str, dict[str, str]]:
    return read_catalogues(MESSAGES)


def messages_for(request: Request, survey: Survey | None = None) -> Messages:
    """The survey's language, else the one the respondent's browser prefers."""
    language = (survey.language if survey is not None else None) or best_language(
        request.headers.get("accept-language")
    )
    return Messages(catalogues(), language)


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f5f6f8;color:#1d2330;line-height:1.45}
main{max-width:40rem;margin:0 auto;padding:1rem}
h1{font-size:1.4rem;margin:.5rem 0 1rem}
fieldset{background:#fff;border:1px solid #d9dde4;border-radius:.5rem;margin:0 0 1rem;padding:1rem}
fieldset.wrong{border-color:#c62828}
legend{font-weight:600;padding:0 .25rem}
.req{color:#c62828}
.scale{display:flex;flex-wrap:wrap;gap:.35rem;margin:.5rem 0}
.scale label{display:flex;flex-direction:column;align-items:center;min-width:2.6rem;padding:.35rem;border:1px solid #c5cad3;border-radius:.4rem;background:#fafbfc}
.hint{font-size:.85rem;color:#5a6272}
.option{display:block;padding:.3rem 0}
textarea{width:100%;box-sizing:border-box;min-height:6rem;font:inherit}
.error{color:#c62828;font-weight:600;margin:.25rem 0}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
button{font:inherit;font-size:1.05rem;padding:.7rem 1.4rem;border:0;border-radius:.4rem;background:#1f5fbf;color:#fff}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _page(t: Messages, title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        f'<!doctype html><html lang="{t.language}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=HEADERS)


def _message_page(t: Messages, name: str, status: int) -> HTMLResponse:
    title = t(f"surveys.page.{name}.title")
    return _page(t, title, f"<h1>{_e(title)}</h1><p>{_e(t(f'surveys.page.{name}.message'))}</p>", status)


async def _token_problem_page(request: Request, token: str, problem: service.TokenProblem) -> HTMLResponse:
    """A used, expired or closed link still names its survey: answer in its language."""
    invitation = await Invitation.filter(token_hash=digest(token)).select_related("survey").first()
    return _token_page(messages_for(request, invitation.survey if invitation else None), problem)


def _token_page(t: Messages, problem: service.TokenProblem) -> HTMLResponse:
    if problem.code not in TOKEN_STATUS:
        title = t("surveys.page.token.other.title")
        return _page(t, title, f"<h1>{_e(title)}</h1><p>{_e(problem.message)}</p>", 400)
    return _message_page(t, f"token.{problem.code}", TOKEN_STATUS[problem.code])


def _checked(values: list[str], value: Any) -> str:
    return " checked" if str(value) in values else ""


def _question_html(t: Messages, question: Question, values: list[str], error: str | None) -> str:
    name = f"q{question.id}"
    required = (
        f' <span class="req" aria-hidden="true">*</span><span class="sr">({_e(t("surveys.page.required"))})</span>'
        if question.required
        else ""
    )
    parts = [
        f'<fieldset{" class=wrong" if error else ""} id="{name}">',
        f"<legend>{question.position}. {_e(question.text)}{required}</legend>",
    ]
    if error:
        parts.append(f'<p class="error" role="alert">{_e(error)}</p>')
    qtype = question.type
    if qtype in service.SCORED:
        low, high = service.SCALES.get(qtype, (1, question.scale_max or service.DEFAULT_RATING_MAX))
        parts.append('<div class="scale">')
        for score in range(low, high + 1):
            title = f' title="{_e(t(f"surveys.page.csat.{score}"))}"' if qtype is QuestionType.CSAT else ""
            parts.append(
                f'<label{title}><input type="radio" name="{name}" value="{score}"{_checked(values, score)}>{score}</label>'
            )
        parts.append("</div>")
        if qtype is QuestionType.NPS:
            hint = f"{t('surveys.page.nps.low')}, {t('surveys.page.nps.high')}"
        elif qtype is QuestionType.CSAT:
            hint = t("surveys.page.csat.hint", low=t("surveys.page.csat.1"), high=t("surveys.page.csat.5"))
        else:
            hint = t("surveys.page.rating.hint", high=high)
        parts.append(f'<p class="hint">{_e(hint)}</p>')
    elif qtype in service.CHOICE_TYPES:
        kind = "radio" if qtype is QuestionType.SINGLE_CHOICE else "checkbox"
        for choice in question.ordered_choices:
            parts.append(
                f'<label class="option"><input type="{kind}" name="{name}" value="{choice.id}"'
                f"{_checked(values, choice.id)}> {_e(choice.label)}</label>"
            )
    else:
        text = values[0] if values else ""
        parts.append(
            f'<textarea name="{name}" maxlength="{service.MAX_TEXT_ANSWER}" aria-label="{_e(question.text)}">{_e(text)}</textarea>'
        )
    parts.append("</fieldset>")
    return "".join(parts)


def _form_page(
    t: Messages,
    survey: Survey,
    version: SurveyVersion,
    questions: list[Question],
    form: dict[str, list[str]] | None = None,
    errors: dict[int, str] | None = None,
    general: list[str] | None = None,
) -> HTMLResponse:
    form, errors = form or {}, errors or {}
    parts = [f"<h1>{_e(survey.title)}</h1>"]
    if survey.description:
        parts.append("".join(f"<p>{_e(line)}</p>" for line in survey.description.splitlines() if line.strip()))
    if errors or general:
        parts.append(f'<p class="error" role="alert">{_e(t("surveys.page.attention"))}</p>')
    for message in general or ():
        parts.append(f'<p class="error">{_e(message)}</p>')
    parts.append('<form method="post" accept-charset="utf-8">')
    parts.append(f'<input type="hidden" name="v" value="{version.id}">')
    for question in questions:
        parts.append(_question_html(t, question, form.get(f"q{question.id}", []), errors.get(question.id)))
    parts.append(
        f'<p class="hint"><span class="req" aria-hidden="true">*</span> {_e(t("surveys.page.required.legend"))}</p>'
        f'<button type="submit">{_e(t("surveys.page.submit"))}</button></form>'
    )
    return _page(t, survey.title, "".join(parts), 422 if (errors or general) else 200)


def _answer_error(t: Messages, problem: service.AnswerProblem, question: Question) -> str:
    """What the respondent reads at a wrong answer, in the page's language."""
    low, high = service.SCALES.get(question.type, (1, question.scale_max or service.DEFAULT_RATING_MAX))
    key = f"surveys.page.error.{problem.code}"
    text = t(key, low=low, high=high, max=service.MAX_TEXT_ANSWER)
    return t("surveys.page.error.other") if text == key else text


async def _version_for(survey: Survey, form: dict[str, list[str]]) -> SurveyVersion:
    """The version the form showed (hidden field ``v``), if it is this survey's."""
    raw = (form.get("v") or [""])[0]
    if raw.isdigit():
        version = await SurveyVersion.get_or_none(id=int(raw), survey_id=survey.id)
        if version is not None:
            return version
    return await service.current_version(survey.id)


def _answers_from(questions: list[Question], form: dict[str, list[str]]) -> list[service.AnswerInput]:
    answers = []
    for question in questions:
        values = [v for v in form.get(f"q{question.id}", []) if v.strip()]
        if not values:
            continue
        if question.type in service.SCORED:
            # A value that is not a number can only come from a hand-made post;
            # -1 is out of every scale, so it is refused with the range message.
            raw = values[0].strip()
            answers.append(service.AnswerInput(question.id, score=int(raw) if raw.isdigit() and len(raw) < 4 else -1))
        elif question.type in service.CHOICE_TYPES:
            ids = [int(v) if v.strip().isdigit() and len(v) < 13 else 0 for v in values]
            answers.append(service.AnswerInput(question.id, choice_ids=ids))
        else:
            answers.append(service.AnswerInput(question.id, text=values[0]))
    return answers


class BodyTooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)


def survey_routes(kehu: Kehu) -> list[Route]:
    async def show(request: Request) -> HTMLResponse:
        token = request.path_params["token"]
        try:
            invitation = await service.open_invitation(token, kehu.clock.now())
        except service.TokenProblem as problem:
            return await _token_problem_page(request, token, problem)
        version = await service.current_version(invitation.survey_id)
        t = messages_for(request, invitation.survey)
        return _form_page(t, invitation.survey, version, await service.questions_of(version.id))

    async def submit(request: Request) -> HTMLResponse:
        token = request.path_params["token"]
        settings = kehu.settings_for("surveys", SurveySettings)
        t = messages_for(request)
        try:
            body = await _read_body(request, settings.max_body_bytes)
        except BodyTooLarge:
            return _message_page(t, "too_large", 413)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return _message_page(t, "unsupported", 415)
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=2_000)
        except (UnicodeDecodeError, ValueError):
            return _message_page(t, "unreadable", 400)
        now = kehu.clock.now()
        try:
            invitation = await service.open_invitation(token, now)
        except service.TokenProblem as problem:
            return await _token_problem_page(request, token, problem)
        survey = invitation.survey
        t = messages_for(request, survey)
        version = await _version_for(survey, form)
        questions = await service.questions_of(version.id)
        try:
            async with write_scope(kehu, None, "submitSurveyResponse", actor_label="survey respondent"):
                await service.submit_response(kehu, token, _answers_from(questions, form), now)
        except service.SubmissionRejected as rejected:
            errors: dict[int, str] = {}
            general = []
            by_id = {q.id: q for q in questions}
            for problem in rejected.problems:
                if problem.question_id in by_id:
                    errors.setdefault(problem.question_id, _answer_error(t, problem, by_id[problem.question_id]))
                else:
                    general.append(t("surveys.page.error.other"))
            return _form_page(t, survey, version, questions, form, errors, general)
        except service.TokenProblem as problem:
            return await _token_problem_page(request, token, problem)
        return _message_page(t, "thanks", 200)

    async def survey_page(request: Request) -> HTMLResponse:
        return await (submit(request) if request.method == "POST" else show(request))

    # One route per path: the app refuses two plugins' routes on the same path.
    return [Route("/s/{token}", survey_page, methods=["GET", "POST"], name="survey_page")]
