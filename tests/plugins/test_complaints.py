"""The complaints plugin: workflow, SLA, escalation, follow-up, statistics, access.

End-to-end through GraphQL over HTTP with a frozen clock; the SLA check is called
the way the scheduler and `kehu complaints check-sla` call it.
"""

import argparse
import datetime as dt
import types

import pytest

from kehu import hookimpl
from kehu.config import parse_config
from kehu.errors import PluginError
from kehu.plugins.complaints import service
from kehu.plugins.complaints.models import ComplaintStatus as S
from kehu.schema import to_global_id
from kehu.server.runtime import Kehu
from kehu.testing import sdl_without_descriptions

T0 = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)
QUIET = {"scheduler_interval_minutes": 0}

FILE = """mutation($input: FileComplaintInput!) {
  fileComplaint(input: $input) { complaint { id status priority assignee { email } } userErrors { field code message } }
}"""
TRANSITION = """mutation($input: TransitionComplaintInput!) {
  transitionComplaint(input: $input) { complaint { id status } userErrors { field code message } }
}"""
NOTE = """mutation($input: AddComplaintNoteInput!) {
  addComplaintNote(input: $input) { entry { kind note internal interactionId } userErrors { field code message } }
}"""
ASSIGN = """mutation($input: AssignComplaintInput!) {
  assignComplaint(input: $input) { complaint { assignee { email } } userErrors { field code message } }
}"""
SHOW = """query($id: ID!) {
  complaint(id: $id) {
    id status updatedAt allowedTransitions overdue breached
    firstRespondedAt firstResponseDueAt firstResponseBreachedAt resolutionBreachedAt
    escalatedAt escalationReason followUpDueAt resolution rejectionReason reopenCount
    assignee { email }
    timeline { kind fromStatus toStatus note internal actor { email } interactionId }
  }
}"""
INTERACTIONS = """query($id: ID!) {
  customer(id: $id) { interactions { totalCount edges { node { kind direction subject notes nextFollowUpAt } } } }
}"""

# Notes for the transitions that need one.
NOTES = {
    "RESOLUTION_PROPOSED": "replace the unit",
    "REJECTED": "the damage was caused after delivery",
    "REOPENED": "the replacement is faulty too",
    "CLOSED": "customer satisfied on follow-up call",
}

# Reaching each status from RECEIVED.
PATH_TO = {
    "RECEIVED": [],
    "ACKNOWLEDGED": ["ACKNOWLEDGED"],
    "INVESTIGATING": ["ACKNOWLEDGED", "INVESTIGATING"],
    "RESOLUTION_PROPOSED": ["ACKNOWLEDGED", "INVESTIGATING", "RESOLUTION_PROPOSED"],
    "RESOLVED": ["ACKNOWLEDGED", "INVESTIGATING", "RESOLUTION_PROPOSED", "RESOLVED"],
    "CLOSED": ["ACKNOWLEDGED", "INVESTIGATING", "RESOLUTION_PROPOSED", "RESOLVED", "CLOSED"],
    "REJECTED": ["ACKNOWLEDGED", "INVESTIGATING", "REJECTED"],
    "REOPENED": ["ACKNOWLEDGED", "INVESTIGATING", "RESOLUTION_PROPOSED", "RESOLVED", "REOPENED"],
}


@pytest.fixture
def app(make_app):
    return make_app(enabled=("complaints",), settings={"complaints": QUIET})


def at(app, hours):
    app.clock.set(T0 + dt.timedelta(hours=hours))


def new_customer(app, as_="agent", name="Li Lei"):
    data = app.data(
        "mutation($n: String!) { createCustomer(input: {name: $n}) { customer { id } } }", {"n": name}, as_=as_
    )
    return data["createCustomer"]["customer"]["id"]


def file_complaint(app, customer, as_="agent", **fields):
    payload = app.data(
        FILE,
        {
            "input": {
                "customerId": customer,
                "channel": "HOTLINE",
                "category": "product",
                "description": "the kettle leaks",
                "keyPoints": "leak after 2 days",
                **fields,
            }
        },
        as_=as_,
    )["fileComplaint"]
    assert payload["userErrors"] == []
    return payload["complaint"]["id"]


def transition(app, cid, to, as_="agent", **extra):
    note = extra.pop("note", NOTES.get(to))
    return app.data(TRANSITION, {"input": {"id": cid, "to": to, "note": note, **extra}}, as_=as_)["transitionComplaint"]


def drive(app, cid, path, as_="agent"):
    for to in path:
        payload = transition(app, cid, to, as_=as_)
        assert payload["userErrors"] == [], (to, payload)
        assert payload["complaint"]["status"] == to


def show(app, cid, as_="agent"):
    return app.data(SHOW, {"id": cid}, as_=as_)["complaint"]


def transitions_in(timeline):
    return [(e["fromStatus"], e["toStatus"]) for e in timeline if e["kind"] == "TRANSITION"]


def recording_app(make_app, settings=None):
    """An app with a plugin that records the complaint events (and survey requests)."""
    calls = []

    def recorder(name):
        return lambda **kwargs: calls.append((name, kwargs))

    plugin = types.SimpleNamespace(
        kehu_complaint_escalated=hookimpl(
            lambda complaint, reason: recorder("escalated")(complaint=complaint, reason=reason)
        ),
        kehu_complaint_resolved=hookimpl(
            lambda complaint, actor: recorder("resolved")(complaint=complaint, actor=actor)
        ),
        kehu_survey_requested=hookimpl(
            lambda customer, reason, reference: recorder("survey")(
                customer=customer, reason=reason, reference=reference
            )
        ),
    )
    app = make_app(
        enabled=("complaints", "recorder"),
        settings={"complaints": {**QUIET, **(settings or {})}},
        extra_plugins={"recorder": plugin},
    )
    return app, calls


# --------------------------------------------------------------------------- workflow


def test_the_transition_table_is_the_issue_workflow():
    edges = {(a, b) for a, tos in service.TRANSITIONS.items() for b in tos}
    assert edges == {
        (S.RECEIVED, S.ACKNOWLEDGED),
        (S.ACKNOWLEDGED, S.INVESTIGATING),
        (S.INVESTIGATING, S.RESOLUTION_PROPOSED),
        (S.INVESTIGATING, S.REJECTED),
        (S.RESOLUTION_PROPOSED, S.RESOLVED),
        (S.RESOLUTION_PROPOSED, S.INVESTIGATING),
        (S.RESOLVED, S.CLOSED),
        (S.RESOLVED, S.REOPENED),
        (S.CLOSED, S.REOPENED),
        (S.REOPENED, S.INVESTIGATING),
    }
    assert set(service.TRANSITIONS) == set(S)


def test_every_allowed_transition_works_and_appears_once_in_the_timeline(app):
    customer = new_customer(app)
    cid = file_complaint(app, customer)
    path = [
        "ACKNOWLEDGED",
        "INVESTIGATING",
        "RESOLUTION_PROPOSED",
        "INVESTIGATING",
        "RESOLUTION_PROPOSED",
        "RESOLVED",
        "REOPENED",
        "INVESTIGATING",
        "RESOLUTION_PROPOSED",
        "RESOLVED",
        "CLOSED",
        "REOPENED",
        "INVESTIGATING",
        "REJECTED",
    ]
    drive(app, cid, path)
    complaint = show(app, cid)
    expected = list(zip(["RECEIVED", *path], path))
    assert transitions_in(complaint["timeline"]) == expected
    # every edge of the table was taken
    assert {(S(a), S(b)) for a, b in expected} == {(a, b) for a, tos in service.TRANSITIONS.items() for b in tos}
    assert complaint["timeline"][0]["kind"] == "FILED"
    assert all(e["actor"]["email"] == "agent@example.com" for e in complaint["timeline"])
    assert complaint["status"] == "REJECTED" and complaint["allowedTransitions"] == []
    assert complaint["reopenCount"] == 2
    assert complaint["rejectionReason"] == NOTES["REJECTED"]


@pytest.mark.parametrize("status", list(PATH_TO))
def test_every_forbidden_transition_is_refused_and_changes_nothing(app, status):
    customer = new_customer(app)
    cid = file_complaint(app, customer)
    drive(app, cid, PATH_TO[status])
    app.clock.advance(minutes=5)
    before = show(app, cid)
    interactions_before = app.data(INTERACTIONS, {"id": customer}, as_="agent")["customer"]["interactions"][
        "totalCount"
    ]
    allowed = {s.value for s in service.TRANSITIONS[S(status)]}
    for to in [s.value for s in S if s.value not in allowed]:
        payload = transition(app, cid, to, note="trying anyway", internal=False)
        assert payload["complaint"] is None
        [error] = payload["userErrors"]
        assert error["code"] == "TRANSITION_NOT_ALLOWED" and error["field"] == "to"
        assert f"status {status} cannot move to {to}" in error["message"]
        for name in allowed:
            assert name in error["message"]
        if not allowed:
            assert "none" in error["message"]
    assert show(app, cid) == before
    assert (
        app.data(INTERACTIONS, {"id": customer}, as_="agent")["customer"]["interactions"]["totalCount"]
        == interactions_before
    )


def test_rejection_needs_a_reason_the_customer_can_be_told(app):
    cid = file_complaint(app, new_customer(app))
    drive(app, cid, ["ACKNOWLEDGED", "INVESTIGATING"])
    assert transition(app, cid, "REJECTED", note=None)["userErrors"][0] == {
        "field": "note",
        "code": "REQUIRED",
        "message": "moving to REJECTED needs a note: the reason the complaint is not valid, as the customer will be told",
    }
    assert transition(app, cid, "REJECTED", internal=True)["userErrors"][0]["field"] == "internal"
    assert show(app, cid)["status"] == "INVESTIGATING"
    drive(app, cid, ["REJECTED"])
    entry = show(app, cid)["timeline"][-1]
    assert entry["internal"] is False and entry["interactionId"] is not None


def test_reopening_is_refused_after_the_window(make_app):
    app = make_app(enabled=("complaints",), settings={"complaints": {**QUIET, "reopen_window_days": 7}})
    cid = file_complaint(app, new_customer(app))
    drive(app, cid, PATH_TO["CLOSED"])
    app.clock.advance(days=7, minutes=1)
    [error] = transition(app, cid, "REOPENED")["userErrors"]
    assert error["code"] == "REOPEN_WINDOW_CLOSED"
    assert show(app, cid)["status"] == "CLOSED"


def test_filing_defaults_and_validation(app):
    customer = new_customer(app)
    payload = app.data(
        FILE,
        {"input": {"customerId": customer, "channel": "EMAIL", "category": "Billing", "description": "charged twice"}},
        as_="agent",
    )["fileComplaint"]
    assert payload["complaint"]["priority"] == "NORMAL"
    assert payload["complaint"]["assignee"]["email"] == "agent@example.com"
    bad = app.data(
        FILE,
        {"input": {"customerId": customer, "channel": "EMAIL", "category": "weather", "description": "x"}},
        as_="agent",
    )["fileComplaint"]
    assert bad["userErrors"][0]["code"] == "UNKNOWN_CATEGORY" and bad["userErrors"][0]["field"] == "category"
    empty = app.data(
        FILE,
        {"input": {"customerId": customer, "channel": "EMAIL", "category": "billing", "description": "  "}},
        as_="agent",
    )["fileComplaint"]
    assert empty["userErrors"][0]["field"] == "description"
    total = app.data("{ complaints { totalCount } }", as_="agent")["complaints"]["totalCount"]
    assert total == 1


def test_the_categories_a_form_offers_are_the_configured_ones_in_order(make_app):
    app = make_app(enabled=("complaints",), settings={"complaints": {**QUIET, "categories": ["物流", "billing"]}})
    for role in ("agent", "analyst"):
        assert app.data("{ complaintCategories }", as_=role)["complaintCategories"] == ["物流", "billing"]
    assert app.post("{ complaintCategories }").json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --------------------------------------------------------------------------- contacts & follow-up


def test_customer_contacts_on_a_case_appear_as_interactions_and_resolving_schedules_a_follow_up(app):
    customer = new_customer(app)
    cid = file_complaint(app, customer)
    drive(app, cid, ["ACKNOWLEDGED", "INVESTIGATING"])
    internal = app.data(NOTE, {"input": {"id": cid, "note": "checked the batch"}}, as_="agent")["addComplaintNote"]
    assert internal["entry"] == {"kind": "NOTE", "note": "checked the batch", "internal": True, "interactionId": None}
    told = app.data(NOTE, {"input": {"id": cid, "note": "called: parts ordered", "internal": False}}, as_="agent")[
        "addComplaintNote"
    ]
    assert told["entry"]["interactionId"] is not None
    drive(app, cid, ["RESOLUTION_PROPOSED"])
    at(app, 5)
    drive(app, cid, ["RESOLVED"])
    complaint = show(app, cid)
    assert complaint["followUpDueAt"] == "2026-01-04T14:00:00+00:00"  # 72 h later
    edges = app.data(INTERACTIONS, {"id": customer}, as_="agent")["customer"]["interactions"]["edges"]
    subjects = [e["node"]["subject"] for e in edges]
    n = int(to_id(cid))
    assert subjects == [
        f"Complaint #{n} resolved: follow up with the customer",
        f"Complaint #{n}: resolution proposed",
        f"Complaint #{n}: note",
        f"Complaint #{n} (product)",
    ]
    follow_up = edges[0]["node"]
    assert follow_up["nextFollowUpAt"] == "2026-01-04T14:00:00+00:00"
    assert edges[-1]["node"]["direction"] == "INBOUND" and edges[-1]["node"]["kind"] == "CALL"
    drive(app, cid, ["CLOSED"])
    edges = app.data(INTERACTIONS, {"id": customer}, as_="agent")["customer"]["interactions"]["edges"]
    assert edges[0]["node"]["subject"] == f"Complaint #{n}: follow-up done"
    assert edges[0]["node"]["notes"] == NOTES["CLOSED"]


def to_id(global_id):
    import base64

    return base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode().split(":")[1]


def test_resolving_emits_resolved_and_asks_for_a_satisfaction_survey(make_app):
    app, calls = recording_app(make_app)
    customer = new_customer(app)
    cid = file_complaint(app, customer)
    drive(app, cid, PATH_TO["RESOLVED"])
    assert [name for name, _ in calls] == ["resolved", "survey"]
    assert calls[0][1]["actor"].email == "agent@example.com"
    survey = calls[1][1]
    assert survey["reason"] == "complaint_resolved" and survey["reference"] == cid
    assert survey["customer"].id == int(to_id(customer))
    drive(app, cid, ["CLOSED"])
    assert len(calls) == 2


# --------------------------------------------------------------------------- SLA


def test_high_priority_case_not_acknowledged_in_time_is_breached_and_escalated_once(make_app):
    app, calls = recording_app(make_app)
    customer = new_customer(app)
    cid = file_complaint(app, customer, priority="HIGH")  # first response due T0+4h
    overdue = "{ complaints(filter: {overdue: true}) { totalCount } }"
    due_soon = "{ complaints(filter: {dueWithin: 2}) { totalCount } }"

    at(app, 3)
    assert app.run(service.check_sla, app.kehu).escalated == []
    assert app.data(overdue, as_="agent")["complaints"]["totalCount"] == 0
    assert app.data(due_soon, as_="agent")["complaints"]["totalCount"] == 1

    at(app, 5)
    first = app.run(service.check_sla, app.kehu)
    assert first.breaches == [(int(to_id(cid)), "first_response")]
    assert first.escalated == [int(to_id(cid))]
    for _ in range(3):
        app.clock.advance(minutes=10)
        again = app.run(service.check_sla, app.kehu)
        assert again.breaches == [] and again.escalated == []
    assert app.data(overdue, as_="agent")["complaints"]["totalCount"] == 1
    assert app.data(due_soon, as_="agent")["complaints"]["totalCount"] == 0

    complaint = show(app, cid)
    assert complaint["firstResponseBreachedAt"] == "2026-01-01T13:00:00+00:00"
    assert complaint["escalatedAt"] == "2026-01-01T14:00:00+00:00"
    assert complaint["breached"] is True and complaint["overdue"] is True
    kinds = [e["kind"] for e in complaint["timeline"]]
    assert kinds.count("SLA_BREACHED") == 1 and kinds.count("ESCALATED") == 1
    assert [name for name, _ in calls] == ["escalated"]
    assert "first response overdue since 2026-01-01 13:00 UTC" in calls[0][1]["reason"]

    # Acknowledging late neither re-records the breach nor escalates again.
    drive(app, cid, ["ACKNOWLEDGED"])
    complaint = show(app, cid)
    assert [e["kind"] for e in complaint["timeline"]].count("SLA_BREACHED") == 1
    assert complaint["overdue"] is False and complaint["breached"] is True


def test_a_late_transition_records_the_breach_without_any_check(app):
    cid = file_complaint(app, new_customer(app), priority="URGENT")  # due T0+1h
    at(app, 2)
    drive(app, cid, ["ACKNOWLEDGED"])
    complaint = show(app, cid)
    assert complaint["firstResponseBreachedAt"] == "2026-01-01T10:00:00+00:00"
    assert [e["kind"] for e in complaint["timeline"]] == ["FILED", "SLA_BREACHED", "TRANSITION"]


def test_nearly_breached_case_is_reassigned_to_the_team_manager(make_app):
    rule = {"priorities": ["high"], "before_breach_minutes": 30, "action": "reassign", "reassign_to": "team_manager"}
    app = make_app(enabled=("complaints",), settings={"complaints": {**QUIET, "escalation": [rule]}})
    high = file_complaint(app, new_customer(app), priority="HIGH")
    normal = file_complaint(app, new_customer(app, name="Han Meimei"), priority="NORMAL")
    at(app, 3.4)  # 36 minutes before the deadline
    assert app.run(service.check_sla, app.kehu).escalated == []
    at(app, 3.6)  # 24 minutes before
    result = app.run(service.check_sla, app.kehu)
    assert result.escalated == result.reassigned == [int(to_id(high))]
    assert result.breaches == []
    complaint = show(app, high, as_="manager")
    assert complaint["assignee"]["email"] == "manager@example.com"
    assert "reassigned to Manager" in complaint["timeline"][-1]["note"]
    at(app, 30)  # the NORMAL case breaches, but no rule names NORMAL
    result = app.run(service.check_sla, app.kehu)
    assert result.breaches == [(int(to_id(high)), "first_response"), (int(to_id(normal)), "first_response")]
    assert result.escalated == []


def test_check_sla_command(app, capsys):
    file_complaint(app, new_customer(app), priority="URGENT")
    parser = argparse.ArgumentParser(prog="kehu")
    sub = parser.add_subparsers()
    app.kehu.plugins.each("kehu_commands", subparsers=sub)
    args = parser.parse_args(["complaints", "check-sla"])
    at(app, 2)
    assert app.run(args.handler, app.kehu, args) == 0
    assert "1 deadline(s) newly missed, 1 case(s) escalated" in capsys.readouterr().out


# --------------------------------------------------------------------------- statistics


STATS = """query($p: ComplaintTimeRange) { complaintStats(period: $p) {
  total byCategory { category count } byStatus { status count }
  medianFirstResponseHours medianResolutionHours slaCompliancePercent reopenRatePercent rejectionRatePercent
} }"""


def test_complaint_stats_match_a_hand_computation(app):
    mine = new_customer(app)
    south = new_customer(app, as_="agent_south", name="Wang Fang")
    at(app, -48)
    file_complaint(app, mine)  # before the period
    at(app, 0)
    c1 = file_complaint(app, mine)
    c5 = file_complaint(app, mine)
    at(app, 1)
    c2 = file_complaint(app, mine, priority="HIGH", category="service")
    c3 = file_complaint(app, mine, priority="LOW", category="billing")
    file_complaint(app, mine, priority="URGENT")  # c4: never answered
    file_complaint(app, south, as_="agent_south")  # not the agent's
    at(app, 2)
    drive(app, c1, ["ACKNOWLEDGED"])
    drive(app, c3, ["ACKNOWLEDGED"])
    drive(app, c5, ["ACKNOWLEDGED"])
    at(app, 3)
    drive(app, c1, ["INVESTIGATING", "RESOLUTION_PROPOSED"])
    drive(app, c3, ["INVESTIGATING", "REJECTED"])
    drive(app, c5, ["INVESTIGATING", "RESOLUTION_PROPOSED", "RESOLVED"])
    at(app, 6)
    drive(app, c2, ["ACKNOWLEDGED"])  # due at 5h: breached
    at(app, 10)
    drive(app, c1, ["RESOLVED"])
    at(app, 12)
    drive(app, c5, ["REOPENED"])
    at(app, 20)
    period = {"start": T0.isoformat(), "end": (T0 + dt.timedelta(days=1)).isoformat()}
    stats = app.data(STATS, {"p": period}, as_="agent")["complaintStats"]
    # By hand: c1 FR 2h, resolved at 10h, met; c2 FR 5h (late); c3 FR 1h, rejected, met;
    # c4 URGENT unanswered, overdue since 2h; c5 FR 2h, resolved at 3h then reopened (open, on time).
    assert stats["total"] == 5
    assert stats["byCategory"] == [
        {"category": "billing", "count": 1},
        {"category": "product", "count": 3},
        {"category": "service", "count": 1},
    ]
    assert stats["byStatus"] == [
        {"status": "RECEIVED", "count": 1},
        {"status": "ACKNOWLEDGED", "count": 1},
        {"status": "RESOLVED", "count": 1},
        {"status": "REJECTED", "count": 1},
        {"status": "REOPENED", "count": 1},
    ]
    assert stats["medianFirstResponseHours"] == pytest.approx(2.0)  # median of 1, 2, 2, 5
    assert stats["medianResolutionHours"] == pytest.approx(10.0)  # c1 only: c5's resolution was reopened
    assert stats["slaCompliancePercent"] == pytest.approx(50.0)  # settled c1 c2 c3 c4; met c1 c3
    assert stats["reopenRatePercent"] == pytest.approx(50.0)  # resolved once c1 c5; reopened c5
    assert stats["rejectionRatePercent"] == pytest.approx(20.0)  # c3 of 5
    assert app.data(STATS, {"p": period}, as_="admin")["complaintStats"]["total"] == 6
    default = app.data(STATS, {"p": None}, as_="agent")["complaintStats"]  # last 30 days up to now
    assert default["total"] == 6


# --------------------------------------------------------------------------- access


def test_agent_sees_only_complaints_of_their_own_customers(app):
    mine = file_complaint(app, new_customer(app))
    colleague = file_complaint(app, new_customer(app, as_="agent2", name="Zhang Wei"), as_="agent2")
    foreign = file_complaint(app, new_customer(app, as_="agent_south", name="Wang Fang"), as_="agent_south")
    missing = to_global_id("Complaint", 99999)

    def ids(who):
        return {
            e["node"]["id"]
            for e in app.data("{ complaints { edges { node { id } } } }", as_=who)["complaints"]["edges"]
        }

    assert ids("agent") == {mine}
    assert ids("manager") == {mine, colleague}
    assert ids("admin") == ids("analyst") == {mine, colleague, foreign}

    for cid in (foreign, missing):
        assert app.data(SHOW, {"id": cid}, as_="agent")["complaint"] is None
        assert app.data("query($id: ID!) { node(id: $id) { id } }", {"id": cid}, as_="agent")["node"] is None
        errors = [
            transition(app, cid, "ACKNOWLEDGED")["userErrors"],
            app.data(NOTE, {"input": {"id": cid, "note": "x"}}, as_="agent")["addComplaintNote"]["userErrors"],
        ]
        assert errors == [[{"field": "id", "code": "NOT_FOUND", "message": "no such complaint"}]] * 2
    assert app.data("query($id: ID!) { node(id: $id) { ... on Complaint { status } } }", {"id": mine}, as_="agent")[
        "node"
    ] == {"status": "RECEIVED"}
    assert show(app, foreign, as_="agent_south")["status"] == "RECEIVED"


def test_assignment_rules(app):
    cid = file_complaint(app, new_customer(app))
    # agents may not assign
    body = app.gql(ASSIGN, {"input": {"id": cid, "assigneeId": to_global_id("AccountOwner", 1)}}, as_="agent")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    owners = {
        o["node"]["email"]: o["node"]["id"]
        for o in app.data("{ accountOwners(first: 20) { edges { node { id email } } } }", as_="admin")["accountOwners"][
            "edges"
        ]
    }
    # agent2 cannot see agent's customer, so cannot handle the case
    [error] = app.data(ASSIGN, {"input": {"id": cid, "assigneeId": owners["agent2@example.com"]}}, as_="manager")[
        "assignComplaint"
    ]["userErrors"]
    assert error["code"] == "ASSIGNEE_CANNOT_SEE_CUSTOMER"
    payload = app.data(
        ASSIGN, {"input": {"id": cid, "assigneeId": owners["manager@example.com"], "note": "VIP"}}, as_="manager"
    )["assignComplaint"]
    assert payload == {"complaint": {"assignee": {"email": "manager@example.com"}}, "userErrors": []}
    entry = show(app, cid, as_="manager")["timeline"][-1]
    assert entry["kind"] == "ASSIGNED" and entry["note"] == "assigned to Manager (was Agent): VIP"


def test_analyst_cannot_file_complaints(app):
    customer = new_customer(app)
    body = app.gql(
        FILE,
        {"input": {"customerId": customer, "channel": "WEB", "category": "product", "description": "x"}},
        as_="analyst",
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# --------------------------------------------------------------------------- settings & schema


def test_settings_are_validated_with_one_line():
    def start(section):
        return Kehu(parse_config({"plugins": {"enabled": ["complaints"], "complaints": section}}))

    with pytest.raises(PluginError, match=r"^plugins\.complaints\.colour: unknown setting$"):
        start({"colour": "red"})
    with pytest.raises(PluginError, match=r"plugins\.complaints\.first_response_hours\.high"):
        start({"first_response_hours": {"low": 1, "normal": 1, "high": -1, "urgent": 1}})
    with pytest.raises(PluginError, match="resolution_hours.urgent must not be shorter"):
        start({"resolution_hours": {"low": 240, "normal": 120, "high": 48, "urgent": 0.5}})


def test_schema_names_match_the_issue():
    sdl = sdl_without_descriptions(Kehu(parse_config({"plugins": {"enabled": ["complaints"]}})))
    for text in (
        "fileComplaint(input: FileComplaintInput!): ComplaintPayload!",
        "transitionComplaint(input: TransitionComplaintInput!): ComplaintPayload!",
        "assignComplaint(input: AssignComplaintInput!): ComplaintPayload!",
        "addComplaintNote(input: AddComplaintNoteInput!): ComplaintNotePayload!",
        "complaint(id: ID!): Complaint",
        "complaintStats(period: ComplaintTimeRange = null): ComplaintStats!",
        "type Complaint implements Node",
    ):
        assert text in sdl, text
    for enum, values in {
        "ComplaintStatus": "RECEIVED ACKNOWLEDGED INVESTIGATING RESOLUTION_PROPOSED RESOLVED CLOSED REJECTED REOPENED",
        "ComplaintPriority": "LOW NORMAL HIGH URGENT",
        "ComplaintChannel": "HOTLINE EMAIL WEB VISIT SOCIAL OTHER",
    }.items():
        block = sdl.split(f"enum {enum} {{")[1].split("}")[0]
        assert block.split() == values.split()
    assert "complaint" not in Kehu(parse_config({"plugins": {"enabled": []}})).schema.as_str().lower()


def test_no_scheduler_when_the_interval_is_zero(app):
    from kehu import jobs

    assert service.SLA_JOB not in jobs._jobs.get(app.kehu, {})


def test_scheduler_runs_as_a_one_worker_job_and_stops_with_the_app(make_app):
    from kehu import jobs

    app = make_app(enabled=("complaints",), settings={"complaints": {"scheduler_interval_minutes": 5}})
    job = jobs._jobs[app.kehu][service.SLA_JOB]
    assert job.seconds == 300 and job.task is not None and not job.task.done()
    app.__exit__(None, None, None)
    assert service.SLA_JOB not in jobs._jobs.get(app.kehu, {}) and job.task is None
