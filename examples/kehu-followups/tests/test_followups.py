"""Follow-up plans, end to end through kehu's GraphQL API over HTTP, with the
clock under the test's control (kehu_clock starts at 2026-01-01 09:00 UTC)."""

import datetime as dt

import pytest

T0 = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)

CREATE = """mutation($name: String!) {
  createCustomer(input: {name: $name}) { customer { id } userErrors { code } }
}"""
SET_PLAN = """mutation($input: SetFollowUpPlanInput!) {
  setFollowUpPlan(input: $input) {
    plan { intervalDays nextDueAt lastContactAt status active } userErrors { field code }
  }
}"""
STOP_PLAN = """mutation($c: ID!) {
  stopFollowUpPlan(input: {customerId: $c}) { plan { active status } userErrors { field code } }
}"""
LOG = """mutation($input: LogInteractionInput!) {
  logInteraction(input: $input) { interaction { id } userErrors { field code } }
}"""
PLAN = (
    "query($c: ID!) { customer(id: $c) { followUpPlan { intervalDays nextDueAt lastContactAt status daysOverdue } } }"
)
DUE = """query($owner: ID, $within: Int) {
  followUpsDue(ownerId: $owner, withinDays: $within) {
    owner { email }
    overdue { customer { name } daysOverdue }
    due { customer { name } nextDueAt }
  }
}"""


def iso(when):
    return when.isoformat()


def customer(client, name="Ma Li"):
    return client.data(CREATE, {"name": name})["createCustomer"]["customer"]["id"]


def plan_of(client, cid):
    return client.data(PLAN, {"c": cid})["customer"]["followUpPlan"]


def set_plan(client, cid, **fields):
    return client.data(SET_PLAN, {"input": {"customerId": cid, **fields}})["setFollowUpPlan"]


def log(client, cid, kind="CALL", at=T0, **fields):
    body = client.data(LOG, {"input": {"customerId": cid, "kind": kind, "occurredAt": iso(at), **fields}})
    assert body["logInteraction"]["userErrors"] == []


def test_a_new_plan_falls_due_one_interval_from_now(kehu_client):
    agent = kehu_client("agent")
    cid = customer(agent)
    assert plan_of(agent, cid) is None
    result = set_plan(agent, cid, intervalDays=14)
    assert result["userErrors"] == []
    assert result["plan"]["nextDueAt"].startswith("2026-01-15T09:00")
    assert result["plan"]["status"] == "SCHEDULED"


def test_the_default_interval_comes_from_the_settings(kehu_client):
    agent = kehu_client("agent")
    cid = customer(agent)
    assert set_plan(agent, cid)["plan"]["intervalDays"] == 30


def test_a_logged_call_moves_the_next_due_date(kehu_client, kehu_clock):
    agent = kehu_client("agent")
    cid = customer(agent)
    set_plan(agent, cid, intervalDays=10)
    kehu_clock.advance(days=12)
    assert plan_of(agent, cid)["status"] == "OVERDUE"
    assert plan_of(agent, cid)["daysOverdue"] == 2
    log(agent, cid, "CALL", at=kehu_clock.now())
    plan = plan_of(agent, cid)
    assert plan["lastContactAt"].startswith("2026-01-13T09:00")
    assert plan["nextDueAt"].startswith("2026-01-23T09:00")
    assert plan["status"] == "SCHEDULED"


def test_an_agreed_next_follow_up_date_wins(kehu_client):
    agent = kehu_client("agent")
    cid = customer(agent)
    set_plan(agent, cid, intervalDays=30)
    agreed = T0 + dt.timedelta(days=3)
    log(agent, cid, "VISIT", at=T0, nextFollowUpAt=iso(agreed))
    assert plan_of(agent, cid)["nextDueAt"].startswith("2026-01-04T09:00")
    assert plan_of(agent, cid)["status"] == "DUE"


def test_a_note_or_an_old_interaction_moves_nothing(kehu_client, kehu_clock):
    agent = kehu_client("agent")
    cid = customer(agent)
    log(agent, cid, "CALL", at=T0)
    kehu_clock.advance(days=5)
    set_plan(agent, cid, intervalDays=10)  # based on the last contact: due on the 11th
    before = plan_of(agent, cid)
    assert before["nextDueAt"].startswith("2026-01-11T09:00")
    log(agent, cid, "NOTE", at=kehu_clock.now())
    log(agent, cid, "CALL", at=T0 - dt.timedelta(days=40))  # history logged late
    assert plan_of(agent, cid) == before


def test_due_and_overdue_follow_ups_are_listed_per_owner(kehu_client, kehu_clock):
    agent, agent2, manager = kehu_client("agent"), kehu_client("agent2"), kehu_client("manager")
    overdue = customer(agent, "Overdue Ltd")
    soon = customer(agent, "Soon Ltd")
    later = customer(agent, "Later Ltd")
    other = customer(agent2, "Other Ltd")
    set_plan(agent, overdue, intervalDays=1)
    set_plan(agent, soon, intervalDays=6)
    set_plan(agent, later, intervalDays=60)
    set_plan(agent2, other, intervalDays=3)
    kehu_clock.advance(days=4)

    mine = agent.data(DUE)["followUpsDue"]
    assert [g["owner"]["email"] for g in mine] == ["agent@example.com"]
    assert mine[0]["overdue"] == [{"customer": {"name": "Overdue Ltd"}, "daysOverdue": 3}]
    assert [d["customer"]["name"] for d in mine[0]["due"]] == ["Soon Ltd"]

    team = manager.data(DUE)["followUpsDue"]
    assert {g["owner"]["email"]: [p["customer"]["name"] for p in g["overdue"]] for g in team} == {
        "agent@example.com": ["Overdue Ltd"],
        "agent2@example.com": ["Other Ltd"],
    }
    agent2_id = agent2.data("{ me { id } }")["me"]["id"]
    only = manager.data(DUE, {"owner": agent2_id})["followUpsDue"]
    assert [g["owner"]["email"] for g in only] == ["agent2@example.com"]
    wide = agent.data(DUE, {"within": 90})["followUpsDue"][0]
    assert [d["customer"]["name"] for d in wide["due"]] == ["Soon Ltd", "Later Ltd"]


def test_another_team_neither_sees_nor_plans_the_customer(kehu_client):
    cid = customer(kehu_client("agent"))
    set_plan(kehu_client("agent"), cid, intervalDays=1)
    south = kehu_client("agent_south")
    assert set_plan(south, cid)["userErrors"] == [{"field": "customerId", "code": "NOT_FOUND"}]
    assert south.data(DUE, {"within": 365})["followUpsDue"] == []


def test_bad_input_is_a_user_error_and_changes_nothing(kehu_client):
    agent = kehu_client("agent")
    cid = customer(agent)
    refused = set_plan(agent, cid, intervalDays=0)
    assert refused == {"plan": None, "userErrors": [{"field": "intervalDays", "code": "OUT_OF_RANGE"}]}
    assert plan_of(agent, cid) is None
    stopped = agent.data(STOP_PLAN, {"c": cid})["stopFollowUpPlan"]
    assert stopped["userErrors"] == [{"field": "customerId", "code": "NO_PLAN"}]


def test_a_stopped_plan_is_kept_but_not_listed(kehu_client, kehu_clock):
    agent = kehu_client("agent")
    cid = customer(agent)
    set_plan(agent, cid, intervalDays=1)
    assert agent.data(STOP_PLAN, {"c": cid})["stopFollowUpPlan"]["plan"] == {"active": False, "status": "STOPPED"}
    kehu_clock.advance(days=5)
    assert agent.data(DUE)["followUpsDue"] == []
    assert set_plan(agent, cid)["plan"]["active"] is True


def test_analysts_may_read_but_not_plan(kehu_client):
    cid = customer(kehu_client("admin"))
    analyst = kehu_client("ANALYST")
    assert analyst.gql(SET_PLAN, {"input": {"customerId": cid}})["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert analyst.data(DUE)["followUpsDue"] == []


def test_the_plan_reacts_to_the_interaction_event(kehu_client, kehu_events):
    agent = kehu_client("agent")
    cid = customer(agent)
    set_plan(agent, cid, intervalDays=7)
    kehu_events.clear()
    log(agent, cid, "MEETING", at=T0 + dt.timedelta(hours=1))
    event = kehu_events.last("interaction_logged")
    assert event["interaction"].kind == "MEETING"
    assert event["actor"].email == "agent@example.com"
    assert kehu_events.names == ["interaction_logged"]


def test_new_customers_get_a_plan_when_configured(kehu_make_app):
    app = kehu_make_app(
        plugins=["followups"], settings={"followups": {"plan_new_customers": True, "default_interval_days": 5}}
    )
    cid = app.data(CREATE, {"name": "Auto Ltd"}, as_="agent")["createCustomer"]["customer"]["id"]
    assert app.data(PLAN, {"c": cid}, as_="agent")["customer"]["followUpPlan"]["nextDueAt"].startswith(
        "2026-01-06T09:00"
    )


def test_a_misspelled_setting_stops_start_up(kehu_make_app):
    with pytest.raises(Exception, match=r"plugins\.followups\.interval: unknown setting"):
        kehu_make_app(plugins=["followups"], settings={"followups": {"interval": 3}})
    with pytest.raises(Exception, match=r"plugins\.followups\.counting_kinds"):
        kehu_make_app(plugins=["followups"], settings={"followups": {"counting_kinds": ["PHONE"]}})


def test_disabling_the_plugin_keeps_the_plans(kehu_make_app):
    app = kehu_make_app(plugins=["followups"])
    cid = app.data(CREATE, {"name": "Kept Ltd"}, as_="agent")["createCustomer"]["customer"]["id"]
    app.data(SET_PLAN, {"input": {"customerId": cid, "intervalDays": 9}}, as_="agent")
    kehu_make_app.close(app)
    without = kehu_make_app(plugins=[])
    assert "followUpPlan" not in without.kehu.schema.as_str()
    kehu_make_app.close(without)
    again = kehu_make_app(plugins=["followups"])
    assert again.data(PLAN, {"c": cid}, as_="agent")["customer"]["followUpPlan"]["intervalDays"] == 9


MERGE = """mutation($s: ID!, $m: [ID!]!) {
  mergeCustomers(input: {survivorId: $s, mergedIds: $m}) { moved { part item count } userErrors { code message } }
}"""


def test_merging_two_records_of_a_customer_leaves_one_plan_with_the_earliest_follow_up(kehu_client, kehu_clock):
    agent, manager = kehu_client("agent"), kehu_client("manager")
    kept = customer(agent, "Ma Li")
    other = customer(agent, "马丽")
    set_plan(agent, kept, intervalDays=30)
    set_plan(agent, other, intervalDays=7)
    result = manager.data(MERGE, {"s": kept, "m": [other]})["mergeCustomers"]
    assert result["userErrors"] == []
    assert {"part": "followups", "item": "plans_combined", "count": 1} in result["moved"]
    plan = plan_of(agent, kept)
    assert plan["intervalDays"] == 7 and plan["nextDueAt"].startswith("2026-01-08T09:00")
    assert plan_of(agent, other) == plan  # the merged record's id now stands for the survivor


def test_a_merged_records_plan_moves_to_a_survivor_without_one(kehu_client):
    agent, manager = kehu_client("agent"), kehu_client("manager")
    kept, other = customer(agent, "Ma Li"), customer(agent, "Ma Li (shop)")
    set_plan(agent, other, intervalDays=14)
    result = manager.data(MERGE, {"s": kept, "m": [other]})["mergeCustomers"]
    assert {"part": "followups", "item": "plans_moved", "count": 1} in result["moved"]
    assert plan_of(agent, kept)["intervalDays"] == 14
