"""The surveys plugin: building surveys, invitations, answering (GraphQL and the
public /s/{token} page), results against hand computation, scoping."""

import re

import pytest

from kehu import hookimpl
from kehu.plugins.surveys.models import Answer, Invitation, Response
from kehu.schema import to_global_id
from kehu.writes import emit, write_scope

SURVEY_FIELDS = "id title status version questions { id type text required choices { id label } }"
CREATE = f"""mutation($i: CreateSurveyInput!) {{ createSurvey(input: $i) {{
    survey {{ {SURVEY_FIELDS} }} userErrors {{ field code message }} }} }}"""
PUBLISH = "mutation($id: ID!) { publishSurvey(input: {id: $id}) { survey { status } userErrors { code } } }"
INVITE = """mutation($i: InviteToSurveyInput!) { inviteToSurvey(input: $i) {
    invitations { token link invitation { id expiresAt reason customer { name } } } userErrors { field code message } } }"""
SUBMIT = """mutation($i: SubmitSurveyResponseInput!) { submitSurveyResponse(input: $i) {
    ok userErrors { field code message } questionErrors { questionId position code message } } }"""
RESULTS = """query($id: ID!, $period: SurveyPeriodInput) { surveyResults(id: $id, period: $period) {
    responseCount invitedCount respondedCount responseRate nps csat csatMean
    npsBreakdown { score promoters passives detractors total }
    questions { question { text } answerCount mean nps csat
                distribution { value label count percent }
                textAnswers { totalCount edges { node { text customer { name } } } } } } }"""

QUESTIONS = [
    {"type": "NPS", "text": "How likely are you to recommend us?"},
    {"type": "CSAT", "text": "How satisfied are you with the service?"},
    {"type": "SINGLE_CHOICE", "text": "How did you contact us?", "choices": ["Phone", "E-mail"], "required": False},
    {
        "type": "MULTI_CHOICE",
        "text": "What went well?",
        "choices": ["Speed", "Friendliness", "Price"],
        "required": False,
    },
    {"type": "RATING", "text": "Rate the shop", "scaleMax": 3, "required": False},
    {"type": "TEXT", "text": "Anything else?", "required": False},
]


@pytest.fixture
def surveys(make_app):
    return make_app(enabled=("surveys",), settings={"surveys": {"public_base_url": "https://feedback.example.com"}})


def create_customer(app, name, owner="agent"):
    owner_id = to_global_id("AccountOwner", app.accounts[owner].id)
    data = app.data(
        "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { customer { id } userErrors { code } } }",
        {"i": {"name": name, "ownerId": owner_id}},
        as_="admin",
    )
    return data["createCustomer"]["customer"]["id"]


def create_survey(app, questions=QUESTIONS, title="Service survey", publish=True):
    data = app.data(CREATE, {"i": {"title": title, "questions": questions}}, as_="manager")
    assert data["createSurvey"]["userErrors"] == []
    survey = data["createSurvey"]["survey"]
    if publish:
        assert app.data(PUBLISH, {"id": survey["id"]}, as_="manager")["publishSurvey"]["userErrors"] == []
    return survey


def invite(app, survey_id, customer_ids, as_="manager", **extra):
    data = app.data(INVITE, {"i": {"surveyId": survey_id, "customerIds": customer_ids, **extra}}, as_=as_)
    assert data["inviteToSurvey"]["userErrors"] == []
    return data["inviteToSurvey"]["invitations"]


def answer(survey, nps=None, csat=None, single=None, multi=None, rating=None, text=None):
    """Answers by question position, choices by label."""
    q = survey["questions"]
    out = []

    def choice_ids(question, labels):
        return [c["id"] for c in question["choices"] if c["label"] in labels]

    if nps is not None:
        out.append({"questionId": q[0]["id"], "score": nps})
    if csat is not None:
        out.append({"questionId": q[1]["id"], "score": csat})
    if single is not None:
        out.append({"questionId": q[2]["id"], "choiceIds": choice_ids(q[2], [single])})
    if multi is not None:
        out.append({"questionId": q[3]["id"], "choiceIds": choice_ids(q[3], multi)})
    if rating is not None:
        out.append({"questionId": q[4]["id"], "score": rating})
    if text is not None:
        out.append({"questionId": q[5]["id"], "text": text})
    return out


def submit(app, token, answers, **extra):
    return app.data(SUBMIT, {"i": {"token": token, "answers": answers, **extra}})["submitSurveyResponse"]


def results(app, survey_id, as_="admin", period=None):
    return app.data(RESULTS, {"id": survey_id, "period": period}, as_=as_)["surveyResults"]


def count_rows(app):
    async def counts():
        return await Response.all().count(), await Answer.all().count()

    return app.run(counts)


# --------------------------------------------------------------------------- building surveys


def test_manager_builds_a_survey_with_ordered_questions_and_choices(surveys):
    survey = create_survey(surveys, publish=False)
    assert survey["status"] == "DRAFT"
    data = surveys.data(
        f"query($id: ID!) {{ survey(id: $id) {{ {SURVEY_FIELDS} }} }}", {"id": survey["id"]}, as_="agent"
    )
    questions = data["survey"]["questions"]
    assert [q["type"] for q in questions] == ["NPS", "CSAT", "SINGLE_CHOICE", "MULTI_CHOICE", "RATING", "TEXT"]
    assert [c["label"] for c in questions[3]["choices"]] == ["Speed", "Friendliness", "Price"]
    assert questions[0]["required"] is True and questions[5]["required"] is False
    listed = surveys.data("{ surveys { totalCount edges { node { title status } } } }", as_="analyst")
    assert listed["surveys"]["edges"][0]["node"] == {"title": "Service survey", "status": "DRAFT"}


def test_choice_question_without_choices_is_refused_with_the_field(surveys):
    data = surveys.data(
        CREATE, {"i": {"title": "x", "questions": [{"type": "SINGLE_CHOICE", "text": "Pick"}]}}, as_="manager"
    )
    assert data["createSurvey"]["survey"] is None
    assert data["createSurvey"]["userErrors"][0]["field"] == "questions[0].choices"


def test_agent_may_not_create_surveys(surveys):
    body = surveys.gql(CREATE, {"i": {"title": "x", "questions": [{"type": "NPS", "text": "?"}]}}, as_="agent")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_draft_survey_cannot_be_sent(surveys):
    survey = create_survey(surveys, publish=False)
    customer = create_customer(surveys, "Wang Fang")
    data = surveys.data(INVITE, {"i": {"surveyId": survey["id"], "customerIds": [customer]}}, as_="manager")
    assert data["inviteToSurvey"]["userErrors"][0]["code"] == "NOT_PUBLISHED"


# --------------------------------------------------------------------------- answering


def test_invitation_carries_a_public_link_and_a_submission_is_counted_at_once(surveys):
    survey = create_survey(surveys)
    customer = create_customer(surveys, "Li Lei")
    [inv] = invite(surveys, survey["id"], [customer], expiresInDays=3)
    assert inv["link"] == f"https://feedback.example.com/s/{inv['token']}"
    assert inv["invitation"]["expiresAt"].startswith("2026-01-04T09:00:00")
    assert inv["invitation"]["customer"]["name"] == "Li Lei"
    out = submit(
        surveys,
        inv["token"],
        answer(survey, nps=9, csat=4, single="Phone", multi=["Speed", "Price"], rating=3, text="Quick <b>help</b>"),
    )
    assert out == {"ok": True, "userErrors": [], "questionErrors": []}
    r = results(surveys, survey["id"])
    assert (r["responseCount"], r["nps"], r["csat"], r["responseRate"]) == (1, 100.0, 100.0, 100.0)
    multi = r["questions"][3]["distribution"]
    assert [(b["label"], b["count"]) for b in multi] == [("Speed", 1), ("Friendliness", 0), ("Price", 1)]
    assert r["questions"][5]["textAnswers"]["edges"][0]["node"] == {
        "text": "Quick <b>help</b>",
        "customer": {"name": "Li Lei"},
    }


def test_malformed_submission_stores_nothing_and_names_each_wrong_question(surveys):
    survey = create_survey(surveys)
    other = create_survey(surveys, title="Other")
    [inv] = invite(surveys, survey["id"], [create_customer(surveys, "Li Lei")])
    bad = answer(survey, nps=11, multi=["Speed"])  # CSAT (required) missing
    bad[1]["choiceIds"].append(other["questions"][3]["choices"][0]["id"])  # a choice of another survey
    out = submit(surveys, inv["token"], bad)
    assert out["ok"] is False
    problems = [(e["position"], e["code"]) for e in out["questionErrors"]]
    assert problems == [(1, "SCORE_OUT_OF_RANGE"), (2, "REQUIRED"), (4, "UNKNOWN_CHOICE")]
    assert out["questionErrors"][0]["questionId"] == survey["questions"][0]["id"]
    assert "between 0 and 10" in out["questionErrors"][0]["message"]
    assert {e["code"] for e in out["userErrors"]} == {"SCORE_OUT_OF_RANGE", "REQUIRED", "UNKNOWN_CHOICE"}
    assert count_rows(surveys) == (0, 0)
    # Nothing was used up: the same link still works.
    assert submit(surveys, inv["token"], answer(survey, nps=10, csat=5))["ok"] is True


@pytest.mark.parametrize(
    "answers, code",
    [
        (lambda s: [{"questionId": s["questions"][0]["id"], "score": -1}], "SCORE_OUT_OF_RANGE"),
        (lambda s: [{"questionId": s["questions"][4]["id"], "score": 4}], "SCORE_OUT_OF_RANGE"),  # rating 1–3
        (lambda s: [{"questionId": s["questions"][0]["id"], "text": "ten"}], "WRONG_ANSWER_KIND"),
        (
            lambda s: [
                {"questionId": s["questions"][2]["id"], "choiceIds": [c["id"] for c in s["questions"][2]["choices"]]}
            ],
            "TOO_MANY_CHOICES",
        ),
        (
            lambda s: [
                {"questionId": s["questions"][0]["id"], "score": 5},
                {"questionId": s["questions"][0]["id"], "score": 6},
            ],
            "DUPLICATE_ANSWER",
        ),
    ],
)
def test_each_answer_is_checked_against_its_question_type(surveys, answers, code):
    survey = create_survey(surveys)
    [inv] = invite(surveys, survey["id"], [create_customer(surveys, "Li Lei")])
    out = submit(surveys, inv["token"], answers(survey) + answer(survey, csat=3))
    assert code in [e["code"] for e in out["questionErrors"]]
    assert count_rows(surveys) == (0, 0)


def test_token_misuse_is_refused_with_the_reason(surveys):
    survey = create_survey(surveys)
    other = create_survey(surveys, title="Other")
    customer = create_customer(surveys, "Li Lei")
    first, second = invite(surveys, survey["id"], [customer]) + invite(
        surveys, survey["id"], [customer], expiresInDays=1
    )
    [foreign] = invite(surveys, other["id"], [customer])
    ok = answer(survey, nps=8, csat=4)

    def code(token, answers=ok, **extra):
        out = submit(surveys, token, answers, **extra)
        return out["userErrors"][0]["code"] if out["userErrors"] else "OK"

    assert code("sv_" + "A" * 32) == "INVALID_TOKEN"  # forged
    assert code("not-a-token") == "INVALID_TOKEN"
    assert code(foreign["token"], surveyId=survey["id"]) == "WRONG_SURVEY"
    # Another survey's link with this survey's questions: they are not its questions.
    misplaced = submit(surveys, foreign["token"], ok)["questionErrors"]
    assert [e["code"] for e in misplaced if e["questionId"] is None] == ["UNKNOWN_QUESTION", "UNKNOWN_QUESTION"]
    assert code(first["token"]) == "OK"
    assert code(first["token"]) == "TOKEN_USED"  # reused
    surveys.clock.advance(days=1, seconds=1)
    assert code(second["token"]) == "TOKEN_EXPIRED"
    surveys.data(
        "mutation($id: ID!) { closeSurvey(input: {id: $id}) { userErrors { code } } }",
        {"id": other["id"]},
        as_="manager",
    )
    assert code(foreign["token"], answer(other, nps=8, csat=4)) == "SURVEY_CLOSED"
    assert count_rows(surveys)[0] == 1


def test_public_mutation_is_the_only_anonymous_survey_field(surveys):
    body = surveys.gql("{ surveys { totalCount } }")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --------------------------------------------------------------------------- the public page


def _form_fields(page_html):
    return re.findall(r'name="(q\d+)" value="([^"]*)"', page_html)


def test_customer_answers_through_the_page_and_the_link_is_then_used(surveys):
    survey = create_survey(surveys, title='Our <script>alert("x")</script> survey')
    [inv] = invite(surveys, survey["id"], [create_customer(surveys, "Li Lei")])
    path = f"/s/{inv['token']}"
    page = surveys.client.get(path)
    assert page.status_code == 200
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text
    assert 'name="viewport"' in page.text and '<form method="post"' in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    for q in survey["questions"]:
        assert q["text"] in page.text
    version = re.search(r'name="v" value="(\d+)"', page.text).group(1)
    fields = dict.fromkeys(name for name, _ in _form_fields(page.text))
    nps_field, csat_field, single_field, multi_field, rating_field = list(fields)
    multi_values = [v for n, v in _form_fields(page.text) if n == multi_field]
    text_field = re.search(r'<textarea name="(q\d+)"', page.text).group(1)
    form = {
        "v": version,
        nps_field: "6",
        csat_field: "2",
        multi_field: [multi_values[0], multi_values[2]],
        rating_field: "",
        text_field: "Slow & <rude>",
    }
    done = surveys.client.post(path, data=form)
    assert done.status_code == 200 and "Thank you" in done.text
    r = results(surveys, survey["id"], as_="agent")
    assert (r["responseCount"], r["nps"], r["csat"]) == (1, -100.0, 0.0)
    assert [b["count"] for b in r["questions"][3]["distribution"]] == [1, 0, 1]
    assert r["questions"][5]["textAnswers"]["edges"][0]["node"]["text"] == "Slow & <rude>"
    again = surveys.client.get(path)
    assert again.status_code == 410 and "already been used" in again.text
    assert "already been used" in surveys.client.post(path, data=form).text


def test_page_reshows_the_form_with_a_message_at_the_wrong_question(surveys):
    survey = create_survey(surveys)
    [inv] = invite(surveys, survey["id"], [create_customer(surveys, "Li Lei")])
    path = f"/s/{inv['token']}"
    nps_field = _form_fields(surveys.client.get(path).text)[0][0]
    text_field = re.search(r'<textarea name="(q\d+)"', surveys.client.get(path).text).group(1)
    page = surveys.client.post(path, data={nps_field: "9", text_field: "kept <text>"})
    assert page.status_code == 422
    assert "An answer is required." in page.text  # the CSAT question
    assert f'name="{nps_field}" value="9" checked' in page.text
    assert "kept &lt;text&gt;</textarea>" in page.text
    assert count_rows(surveys) == (0, 0)


def test_page_refuses_oversized_bodies_and_unknown_links(surveys):
    survey = create_survey(surveys)
    [inv] = invite(surveys, survey["id"], [create_customer(surveys, "Li Lei")])
    big = surveys.client.post(f"/s/{inv['token']}", data={"x": "a" * 70_000})
    assert big.status_code == 413
    assert surveys.client.get("/s/sv_forged").status_code == 404
    assert count_rows(surveys) == (0, 0)


def test_page_speaks_the_surveys_language_whatever_the_browser_asks(surveys):
    data = surveys.data(
        CREATE, {"i": {"title": "满意度调查", "questions": QUESTIONS[:2], "language": "ZH_CN"}}, as_="manager"
    )["createSurvey"]
    survey = data["survey"]
    surveys.data(PUBLISH, {"id": survey["id"]}, as_="manager")
    assert surveys.data("query($id: ID!) { survey(id: $id) { language } }", {"id": survey["id"]}, as_="agent") == {
        "survey": {"language": "ZH_CN"}
    }
    [inv] = invite(surveys, survey["id"], [create_customer(surveys, "李雷")])
    path = f"/s/{inv['token']}"
    page = surveys.client.get(path, headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="zh-CN">' in page.text
    assert "提交回答" in page.text and "0 = 完全不可能" in page.text and "Send answers" not in page.text
    nps_field = _form_fields(page.text)[0][0]
    wrong = surveys.client.post(path, data={nps_field: "9"})
    assert wrong.status_code == 422 and "此题必须作答。" in wrong.text and "有些回答需要您再看一下。" in wrong.text
    csat_field = _form_fields(page.text)[11][0]
    done = surveys.client.post(path, data={nps_field: "9", csat_field: "5"})
    assert done.status_code == 200 and "谢谢！" in done.text
    assert "此问卷链接已使用过" in surveys.client.get(path).text


def test_page_of_a_survey_without_a_language_follows_the_browser(surveys):
    survey = create_survey(surveys, QUESTIONS[:1])
    [inv] = invite(surveys, survey["id"], [create_customer(surveys, "Li Lei")])
    path = f"/s/{inv['token']}"
    chinese = surveys.client.get(path, headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert '<html lang="zh-CN">' in chinese.text and "提交回答" in chinese.text
    english = surveys.client.get(path, headers={"Accept-Language": "fr-FR,en;q=0.5"})
    assert '<html lang="en">' in english.text and "Send answers" in english.text
    unknown = surveys.client.get("/s/sv_forged", headers={"Accept-Language": "zh"})
    assert unknown.status_code == 404 and "链接无效" in unknown.text


def test_survey_language_can_be_changed_and_cleared(surveys):
    survey = create_survey(surveys, QUESTIONS[:1], publish=False)
    update = "mutation($i: UpdateSurveyInput!) { updateSurvey(input: $i) { survey { language } userErrors { code } } }"
    changed = surveys.data(update, {"i": {"id": survey["id"], "language": "EN"}}, as_="manager")["updateSurvey"]
    assert changed == {"survey": {"language": "EN"}, "userErrors": []}
    cleared = surveys.data(update, {"i": {"id": survey["id"], "language": None}}, as_="manager")["updateSurvey"]
    assert cleared["survey"] == {"language": None}


# --------------------------------------------------------------------------- results


def _respond(app, survey, answers_list, owner="agent"):
    customers = [create_customer(app, f"Customer {i}", owner) for i in range(len(answers_list))]
    invitations = invite(app, survey["id"], customers, as_="admin")
    for inv, answers in zip(invitations, answers_list):
        assert submit(app, inv["token"], answers)["ok"] is True


def test_results_without_responses_are_empty_not_zero(surveys):
    survey = create_survey(surveys)
    r = results(surveys, survey["id"])
    assert (r["responseCount"], r["responseRate"], r["nps"], r["csat"], r["csatMean"]) == (0, None, None, None, None)
    nps_question = r["questions"][0]
    assert nps_question["answerCount"] == 0 and nps_question["nps"] is None
    assert [b["value"] for b in nps_question["distribution"]] == list(range(11))
    assert all(b["count"] == 0 and b["percent"] is None for b in nps_question["distribution"])


def test_nps_and_csat_match_a_hand_computation(surveys):
    survey = create_survey(surveys)
    # NPS 10,10,9 promoters; 8 passive; 6,2 detractors -> (3 - 2) / 6 = 16.7
    # CSAT 5,4,3,2,5,4 -> 4 of 6 satisfied = 66.7 %, mean 23 / 6 = 3.83
    scores = [(10, 5), (10, 4), (9, 3), (8, 2), (6, 5), (2, 4)]
    _respond(surveys, survey, [answer(survey, nps=n, csat=c) for n, c in scores])
    invite(surveys, survey["id"], [create_customer(surveys, "Silent")])  # 7 sent, 6 answered
    r = results(surveys, survey["id"])
    assert r["responseCount"] == 6
    assert r["nps"] == 16.7
    assert r["npsBreakdown"] == {"score": 16.7, "promoters": 3, "passives": 1, "detractors": 2, "total": 6}
    assert (r["csat"], r["csatMean"]) == (66.7, 3.83)
    assert (r["invitedCount"], r["respondedCount"], r["responseRate"]) == (7, 6, 85.7)
    nps_q, csat_q = r["questions"][0], r["questions"][1]
    assert nps_q["mean"] == 7.5  # 45 / 6
    assert {b["value"]: b["count"] for b in nps_q["distribution"] if b["count"]} == {10: 2, 9: 1, 8: 1, 6: 1, 2: 1}
    assert [b["count"] for b in csat_q["distribution"]] == [0, 1, 1, 2, 2]
    assert [b["percent"] for b in csat_q["distribution"]] == [0.0, 16.7, 16.7, 33.3, 33.3]
    assert csat_q["csat"] == 66.7


def test_all_detractors_give_minus_100_and_a_tie_gives_zero(make_app):
    app = make_app(enabled=("surveys",))
    survey = create_survey(app, questions=[{"type": "NPS", "text": "Recommend?"}])
    _respond(app, survey, [[{"questionId": survey["questions"][0]["id"], "score": s}] for s in (0, 3, 6)])
    assert results(app, survey["id"])["nps"] == -100.0
    # Two more promoters and a passive: 2 promoters, 1 passive, 3 detractors... add one
    # more promoter for a tie: 3 promoters, 1 passive, 3 detractors -> 0.
    _respond(app, survey, [[{"questionId": survey["questions"][0]["id"], "score": s}] for s in (9, 10, 10, 7)])
    r = results(app, survey["id"])
    assert r["npsBreakdown"] == {"score": 0.0, "promoters": 3, "passives": 1, "detractors": 3, "total": 7}


def test_trend_per_week_and_month_and_period_bounds(surveys):
    survey = create_survey(surveys, questions=[{"type": "NPS", "text": "Recommend?"}])
    q = survey["questions"][0]["id"]
    # Thu 2026-01-01: a promoter; Mon 2026-01-05: a detractor; 2026-02-02: a promoter.
    _respond(surveys, survey, [[{"questionId": q, "score": 10}]])
    surveys.clock.advance(days=4)
    _respond(surveys, survey, [[{"questionId": q, "score": 0}]])
    surveys.clock.advance(days=28)
    _respond(surveys, survey, [[{"questionId": q, "score": 9}]])
    query = """query($id: ID!, $i: SurveyTrendInterval!) { surveyResults(id: $id) {
        trend(interval: $i) { periodStart responseCount nps } } }"""
    weeks = surveys.data(query, {"id": survey["id"], "i": "WEEK"}, as_="admin")["surveyResults"]["trend"]
    assert weeks == [
        {"periodStart": "2025-12-29", "responseCount": 1, "nps": 100.0},
        {"periodStart": "2026-01-05", "responseCount": 1, "nps": -100.0},
        {"periodStart": "2026-02-02", "responseCount": 1, "nps": 100.0},
    ]
    months = surveys.data(query, {"id": survey["id"], "i": "MONTH"}, as_="admin")["surveyResults"]["trend"]
    assert months == [
        {"periodStart": "2026-01-01", "responseCount": 2, "nps": 0.0},
        {"periodStart": "2026-02-01", "responseCount": 1, "nps": 100.0},
    ]
    january = results(surveys, survey["id"], period={"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"})
    assert (january["responseCount"], january["nps"]) == (2, 0.0)


def test_agent_sees_results_and_responses_of_own_customers_only(surveys):
    survey = create_survey(surveys, questions=[{"type": "NPS", "text": "Recommend?"}])
    q = survey["questions"][0]["id"]
    _respond(surveys, survey, [[{"questionId": q, "score": 10}]], owner="agent")
    _respond(surveys, survey, [[{"questionId": q, "score": 0}], [{"questionId": q, "score": 1}]], owner="agent2")
    _respond(surveys, survey, [[{"questionId": q, "score": 2}]], owner="agent_south")
    assert (
        results(surveys, survey["id"], as_="agent")["responseCount"],
        results(surveys, survey["id"], as_="agent")["nps"],
    ) == (1, 100.0)
    assert results(surveys, survey["id"], as_="agent2")["nps"] == -100.0
    assert results(surveys, survey["id"], as_="manager")["responseCount"] == 3  # team north
    assert results(surveys, survey["id"], as_="analyst")["responseCount"] == 4
    assert results(surveys, survey["id"], as_="agent")["respondedCount"] == 1
    listed = surveys.data(
        "query($id: ID!) { survey(id: $id) { responses { totalCount edges { node { id customer { name } answers { score } } } } } }",
        {"id": survey["id"]},
        as_="agent",
    )["survey"]["responses"]
    assert listed["totalCount"] == 1 and listed["edges"][0]["node"]["answers"] == [{"score": 10}]
    foreign = surveys.data(
        "query($id: ID!) { survey(id: $id) { responses { edges { node { id } } } } }",
        {"id": survey["id"]},
        as_="agent2",
    )["survey"]["responses"]["edges"][0]["node"]["id"]
    assert surveys.data("query($id: ID!) { node(id: $id) { id } }", {"id": foreign}, as_="agent")["node"] is None
    by_owner = surveys.data(
        "query($id: ID!) { surveyResults(id: $id) { byOwner { owner { email } responseCount nps } } }",
        {"id": survey["id"]},
        as_="manager",
    )["surveyResults"]["byOwner"]
    assert by_owner == [
        {"owner": {"email": "agent@example.com"}, "responseCount": 1, "nps": 100.0},
        {"owner": {"email": "agent2@example.com"}, "responseCount": 2, "nps": -100.0},
    ]


def test_customer_survey_responses_field(surveys):
    survey = create_survey(surveys)
    customer = create_customer(surveys, "Li Lei")
    [inv] = invite(surveys, survey["id"], [customer])
    submit(surveys, inv["token"], answer(survey, nps=7, csat=3, multi=["Speed", "Price"]))
    # A response may hold 100 answers of up to 50 choices each: the size estimate
    # allows a few responses per page with all of that selected, not the default 20.
    query = """query($id: ID!) { customer(id: $id) { surveyResponses(first: 1) { totalCount edges { node {
        survey { title } version answers { question { text } score choices { label } text } } } } } }"""
    node = surveys.data(query, {"id": customer}, as_="agent")["customer"]["surveyResponses"]["edges"][0]["node"]
    assert node["survey"]["title"] == "Service survey" and node["version"] == 1
    assert [(a["score"], [c["label"] for c in a["choices"]]) for a in node["answers"]] == [
        (7, []),
        (3, []),
        (None, ["Speed", "Price"]),
    ]
    assert surveys.data(query, {"id": customer}, as_="agent_south")["customer"] is None


# --------------------------------------------------------------------------- versions


def test_editing_an_answered_survey_makes_a_new_version_and_keeps_old_answers(surveys):
    survey = create_survey(
        surveys,
        questions=[{"type": "NPS", "text": "Recommend us?"}, {"type": "TEXT", "text": "Why?", "required": False}],
    )
    old_nps = survey["questions"][0]["id"]
    customer = create_customer(surveys, "Li Lei")
    [first, second] = invite(surveys, survey["id"], [customer]) + invite(surveys, survey["id"], [customer])
    submit(surveys, first["token"], [{"questionId": old_nps, "score": 10}])
    update = """mutation($i: UpdateSurveyInput!) { updateSurvey(input: $i) { survey { version questions { id text } } userErrors { field code } } }"""
    data = surveys.data(
        update,
        {
            "i": {
                "id": survey["id"],
                "questions": [
                    {"id": old_nps, "type": "NPS", "text": "Would you recommend us to a friend?"},
                    {"type": "CSAT", "text": "Satisfied?", "required": False},
                ],
            }
        },
        as_="manager",
    )["updateSurvey"]
    assert data["userErrors"] == [] and data["survey"]["version"] == 2
    new_nps = data["survey"]["questions"][0]["id"]
    assert new_nps != old_nps
    assert submit(surveys, second["token"], [{"questionId": new_nps, "score": 0}])["ok"] is True
    answers = surveys.data(
        "query($id: ID!) { customer(id: $id) { surveyResponses { edges { node { version answers { question { text } score } } } } } }",
        {"id": customer},
        as_="admin",
    )["customer"]["surveyResponses"]["edges"]
    assert sorted((e["node"]["version"], e["node"]["answers"][0]["question"]["text"]) for e in answers) == [
        (1, "Recommend us?"),
        (2, "Would you recommend us to a friend?"),
    ]
    r = results(surveys, survey["id"])
    # The continued question's results span both versions.
    assert (r["questions"][0]["answerCount"], r["questions"][0]["nps"], r["nps"]) == (2, 0.0, 0.0)


def test_editing_without_responses_changes_the_version_in_place(surveys):
    survey = create_survey(surveys)
    data = surveys.data(
        "mutation($i: UpdateSurveyInput!) { updateSurvey(input: $i) { survey { title version questions { text } } userErrors { code } } }",
        {"i": {"id": survey["id"], "title": "Renamed", "questions": [{"type": "NPS", "text": "Only this"}]}},
        as_="manager",
    )["updateSurvey"]["survey"]
    assert data == {"title": "Renamed", "version": 1, "questions": [{"text": "Only this"}]}


# --------------------------------------------------------------------------- hooks


class Recorder:
    def __init__(self, segments=None):
        self.invitations = []
        self.responses = []
        self.segments = segments or {}

    @hookimpl
    def kehu_survey_invitation_created(self, invitation, link):
        self.invitations.append((invitation.reason, invitation.reference, link))

    @hookimpl
    def kehu_survey_response_received(self, customer, detractor):
        self.responses.append((customer.name, detractor))

    @hookimpl
    def kehu_segment_members(self, segment_key, viewer):
        if segment_key not in self.segments:
            return None
        return [c.id for c in self.segments[segment_key]]


def test_survey_requested_by_another_plugin_creates_an_invitation(make_app):
    recorder = Recorder()
    app = make_app(
        enabled=("surveys", "recorder"),
        extra_plugins={"recorder": recorder},
        settings={"surveys": {"on_request": {"complaint_resolved": 1}, "invitation_expiry_days": 7}},
    )
    survey = create_survey(app)
    assert survey["id"] == to_global_id("Survey", 1)
    create_customer(app, "Li Lei")

    async def request(reason):
        from kehu.models import Customer

        customer = await Customer.get(name="Li Lei")
        async with write_scope(app.kehu, None, "test.requestSurvey"):  # as the complaints plugin does
            emit("kehu_survey_requested", customer=customer, reason=reason, reference="Complaint:9")
        return await Invitation.filter(customer_id=customer.id).values("reason", "reference", "expires_at", "used_at")

    [row] = app.run(request, "complaint_resolved")
    assert (row["reason"], row["reference"], row["used_at"]) == ("complaint_resolved", "Complaint:9", None)
    assert row["expires_at"].isoformat().startswith("2026-01-08T09:00:00")
    assert recorder.invitations[0][0:2] == ("complaint_resolved", "Complaint:9")
    link = recorder.invitations[0][2]
    assert link.startswith("/s/sv_")
    # The link the event carried is a working one.
    assert app.client.get(link).status_code == 200
    assert len(app.run(request, "unconfigured_reason")) == 1  # no survey for that reason: nothing sent


def test_segment_invitation_goes_through_the_hook_and_respects_visibility(make_app):
    recorder = Recorder()
    app = make_app(enabled=("surveys", "recorder"), extra_plugins={"recorder": recorder})
    survey = create_survey(app, questions=[{"type": "NPS", "text": "Recommend?"}])
    mine = create_customer(app, "Mine", "agent")
    create_customer(app, "Foreign", "agent_south")

    async def segment():
        from kehu.models import Customer

        return await Customer.all()

    recorder.segments["vip"] = app.run(segment)
    data = app.data(INVITE, {"i": {"surveyId": survey["id"], "segmentKey": "vip"}}, as_="agent")["inviteToSurvey"]
    assert [i["invitation"]["customer"]["name"] for i in data["invitations"]] == ["Mine"]
    unknown = app.data(INVITE, {"i": {"surveyId": survey["id"], "segmentKey": "nope"}}, as_="agent")["inviteToSurvey"]
    assert unknown["userErrors"][0]["code"] == "UNKNOWN_SEGMENT"
    submit(app, data["invitations"][0]["token"], [{"questionId": survey["questions"][0]["id"], "score": 9}])
    seg = app.data(
        'query($id: ID!) { surveyResults(id: $id) { bySegment(segmentKeys: ["vip", "nope"]) { segmentKey known responseCount nps } } }',
        {"id": survey["id"]},
        as_="admin",
    )["surveyResults"]["bySegment"]
    assert seg == [
        {"segmentKey": "vip", "known": True, "responseCount": 1, "nps": 100.0},
        {"segmentKey": "nope", "known": False, "responseCount": 0, "nps": None},
    ]
    assert mine


def test_detractor_becomes_a_follow_up_for_the_owner(make_app):
    recorder = Recorder()
    app = make_app(
        enabled=("surveys", "recorder"),
        extra_plugins={"recorder": recorder},
        settings={"surveys": {"detractor_follow_up_days": 2}},
    )
    survey = create_survey(app, questions=[{"type": "NPS", "text": "Recommend?"}])
    customer = create_customer(app, "Li Lei")
    [a, b] = invite(app, survey["id"], [customer]) + invite(app, survey["id"], [customer])
    submit(app, a["token"], [{"questionId": survey["questions"][0]["id"], "score": 9}])
    submit(app, b["token"], [{"questionId": survey["questions"][0]["id"], "score": 3}])
    assert recorder.responses == [("Li Lei", False), ("Li Lei", True)]
    items = app.data(
        "query($id: ID!) { customer(id: $id) { interactions { edges { node { kind subject nextFollowUpAt owner { email } } } } } }",
        {"id": customer},
        as_="agent",
    )["customer"]["interactions"]["edges"]
    assert [e["node"] for e in items] == [
        {
            "kind": "NOTE",
            "subject": "Unhappy survey answer: Service survey",
            "nextFollowUpAt": "2026-01-03T09:00:00+00:00",
            "owner": {"email": "agent@example.com"},
        }
    ]


class InteractionLog:
    def __init__(self):
        self.logged = []

    @hookimpl
    def kehu_interaction_logged(self, interaction):
        self.logged.append((interaction.kind.value, interaction.subject, interaction.owner_id))


def test_the_follow_up_note_is_logged_through_the_core_with_its_audit_record_and_event(make_app):
    interactions = InteractionLog()
    app = make_app(
        enabled=("surveys", "log"),
        extra_plugins={"log": interactions},
        settings={"surveys": {"detractor_follow_up_days": 2}},
    )
    survey = create_survey(app, questions=[{"type": "NPS", "text": "Recommend?"}])
    customer = create_customer(app, "Li Lei")
    [invitation] = invite(app, survey["id"], [customer])
    submit(app, invitation["token"], [{"questionId": survey["questions"][0]["id"], "score": 2}])
    assert interactions.logged == [("NOTE", "Unhappy survey answer: Service survey", app.accounts["agent"].id)]
    [entry] = [
        e["node"]
        for e in app.data("{ auditLog(first: 5) { edges { node { operation entityType changes } } } }", as_="admin")[
            "auditLog"
        ]["edges"]
        if e["node"]["operation"] == "submitSurveyResponse"
    ]
    assert entry["entityType"] == "SurveyResponse"
    [note] = [change for key, change in entry["changes"].items() if key.startswith("Interaction:")]
    assert note["kind"] == {"before": None, "after": "NOTE"}
    seen = app.data("query($id: ID!) { customer(id: $id) { lastInteractionAt } }", {"id": customer}, as_="agent")
    assert seen["customer"]["lastInteractionAt"] == "2026-01-01T09:00:00+00:00"


def test_every_survey_write_is_audited_and_the_respondent_is_named(surveys):
    survey = create_survey(surveys)
    [inv] = invite(surveys, survey["id"], [create_customer(surveys, "Li Lei")])
    nps_field = _form_fields(surveys.client.get(f"/s/{inv['token']}").text)[0][0]
    csat_field = _form_fields(surveys.client.get(f"/s/{inv['token']}").text)[11][0]
    assert surveys.client.post(f"/s/{inv['token']}", data={nps_field: "9", csat_field: "5"}).status_code == 200
    log = surveys.data("{ auditLog(first: 10) { edges { node { operation actorLabel entityType } } } }", as_="admin")
    entries = [e["node"] for e in log["auditLog"]["edges"]]
    assert entries[0] == {
        "operation": "submitSurveyResponse",
        "actorLabel": "survey respondent",
        "entityType": "SurveyResponse",
    }
    assert {"createSurvey", "publishSurvey", "inviteToSurvey"} <= {e["operation"] for e in entries}


def test_a_custom_answering_page_reads_the_questions_by_token_without_signing_in(surveys):
    survey = create_survey(surveys)
    [inv] = invite(surveys, survey["id"], [create_customer(surveys, "Li Lei")])
    query = "query($t: String!) { surveyByToken(token: $t) { title questions { id type } responses { totalCount } } }"
    data = surveys.data(query, {"t": inv["token"]})["surveyByToken"]
    assert data["title"] == "Service survey"
    assert [q["id"] for q in data["questions"]] == [q["id"] for q in survey["questions"]]
    assert data["responses"]["totalCount"] == 0  # nothing of other customers leaks to the public
    body = surveys.gql(query, {"t": "sv_forged"})
    assert body["errors"][0]["extensions"]["code"] == "INVALID_TOKEN"
