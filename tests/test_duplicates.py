"""Duplicate customers over GraphQL: caught on create and update, flagged for
review without disclosure, listed for who may see both, dismissed for good, and
found by search as colleagues know them."""

from __future__ import annotations

from kehu.duplicates import scan
from kehu.models import Customer, DuplicatePair, DuplicateStatus

CREATE = """mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) {
    customer { id name }
    duplicates { id name }
    userErrors { field code message }
  }
}"""
UPDATE = """mutation($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) { customer { id email phone } duplicates { id } userErrors { field code } }
}"""
CANDIDATES = """query($filter: DuplicateCandidateFilterInput) {
  duplicateCandidates(filter: $filter) {
    totalCount
    edges { node { id score reasons status source customers { id name } decidedBy { email } note } }
  }
}"""
DISMISS = """mutation($id: ID!) {
  dismissDuplicateCandidate(input: {id: $id, note: "brothers"}) { candidate { status note } userErrors { code } }
}"""
SEARCH = "query($s: String!) { customers(filter: {search: $s}) { totalCount edges { node { name } } } }"


def create(app, as_="admin", **fields):
    values = {"name": "Li Lei", **fields}
    return app.data(CREATE, {"input": values}, as_=as_)["createCustomer"]


def candidates(app, as_, **filter_):
    return app.data(CANDIDATES, {"filter": filter_ or None}, as_=as_)["duplicateCandidates"]


# --------------------------------------------------------------------------- prevention


def test_a_visible_duplicate_is_refused_with_its_code_and_the_existing_customer(app):
    first = create(app, name="张伟", email="ZhangWei@qq.com", phone="138 1234 5678")["customer"]
    again = create(app, name="Zhang Wei", email="zhangwei@QQ.COM ", phone="+86 138-1234-5678")
    assert again["customer"] is None
    assert {(e["field"], e["code"]) for e in again["userErrors"]} == {
        ("email", "DUPLICATE_CUSTOMER"),
        ("phone", "DUPLICATE_CUSTOMER"),
    }
    assert first["id"] in again["userErrors"][0]["message"]
    assert again["duplicates"] == [first]
    assert app.run(lambda: Customer.all().count()) == 1  # nothing written


def test_a_landline_written_with_its_area_code_in_brackets_is_the_same_number(app):
    create(app, name="北京华信科技有限公司", kind="ORGANIZATION", phone="010-6552-9988")
    again = create(app, name="华信科技", kind="ORGANIZATION", phone="(010) 6552 9988")
    assert [(e["field"], e["code"]) for e in again["userErrors"]] == [("phone", "DUPLICATE_CUSTOMER")]


def test_allow_duplicate_creates_it_and_records_the_decision(app):
    first = create(app, email="li@example.com")["customer"]
    second = create(app, email="li@example.com", allowDuplicate=True)
    assert second["userErrors"] == [] and second["customer"]["id"] != first["id"]
    pair = app.run(lambda: DuplicatePair.first())
    assert pair.status is DuplicateStatus.DISMISSED and pair.note.startswith("created deliberately")
    assert candidates(app, "admin")["totalCount"] == 0  # decided: not proposed
    assert candidates(app, "admin", status=None)["totalCount"] == 1


def test_an_agent_learns_nothing_of_another_teams_customer_and_the_pair_waits_for_review(app):
    theirs = create(app, "agent_south", name="王芳", email="wangfang@163.com")["customer"]
    mine = create(app, "agent", name="王芳", email="WangFang@163.com")
    unrelated = create(app, "agent", name="Someone Else", email="someone@163.com")
    # The answer has the shape of any other create: no error, no hint.
    assert mine["userErrors"] == [] and mine["duplicates"] == []
    assert set(mine) == set(unrelated) and mine["customer"]["name"] == "王芳"
    for who in ("agent", "manager", "agent_south", "manager_south", "agent2"):
        assert candidates(app, who)["totalCount"] == 0, who  # each sees only one of the two
    found = candidates(app, "admin")["edges"]
    assert len(found) == 1
    node = found[0]["node"]
    assert {c["id"] for c in node["customers"]} == {theirs["id"], mine["customer"]["id"]}
    assert node["source"] == "ENTRY" and "SAME_EMAIL" in node["reasons"] and node["status"] == "OPEN"


def test_a_manager_of_both_sees_the_pair(app):
    create(app, "agent2", name="赵敏", phone="139 0000 1111")
    mine = create(app, "agent", name="Zhao Min", phone="13900001111")
    assert mine["userErrors"] == []  # agent2's customer is not the agent's to see
    assert candidates(app, "manager")["totalCount"] == 1  # same team: both visible
    assert candidates(app, "manager_south")["totalCount"] == 0


def test_update_checks_a_new_email_and_phone_but_not_the_customer_itself(app):
    a = create(app, email="a@example.com", phone="13800000001")["customer"]
    b = create(app, name="B", email="b@example.com")["customer"]
    same = app.data(UPDATE, {"input": {"id": a["id"], "phone": "+86 138 0000 0001"}}, as_="admin")["updateCustomer"]
    assert same["userErrors"] == []  # its own number, written another way
    taken = app.data(UPDATE, {"input": {"id": b["id"], "email": "A@Example.com"}}, as_="admin")["updateCustomer"]
    assert [(e["field"], e["code"]) for e in taken["userErrors"]] == [("email", "DUPLICATE_CUSTOMER")]
    assert taken["duplicates"] == [{"id": a["id"]}]
    forced = app.data(
        UPDATE, {"input": {"id": b["id"], "email": "A@Example.com", "allowDuplicate": True}}, as_="admin"
    )["updateCustomer"]
    assert forced["userErrors"] == [] and forced["customer"]["email"] == "A@example.com"


def test_likely_duplicates_are_listed_when_a_customer_is_created(app):
    create(app, name="欧阳娜娜", phone="13912345678", region="上海")
    create(app, name="Ouyang Nana", phone="13912345687", region="Shanghai")  # one digit swapped: not exact
    found = candidates(app, "admin")["edges"]
    assert len(found) == 1
    assert set(found[0]["node"]["reasons"]) >= {"SAME_NAME_PINYIN", "SIMILAR_PHONE", "SAME_REGION"}


# --------------------------------------------------------------------------- review


def test_dismissed_pairs_stay_dismissed_across_scans(app):
    create(app, name="Jonathan Whitfield", email="jw@example.com", region="London")
    create(app, name="Jonathon Whitfield", email="jw@example.com", region="London", allowDuplicate=True)
    app.run(lambda: DuplicatePair.all().delete())  # as if the pair had never been seen
    report = app.run(lambda: scan(app.kehu))
    assert report.found == 1 and report.new == 1
    pair = candidates(app, "admin")["edges"][0]["node"]
    assert pair["score"] >= 90
    dismissed = app.data(DISMISS, {"id": pair["id"]}, as_="manager")["dismissDuplicateCandidate"]
    assert dismissed["userErrors"] == [{"code": "NOT_FOUND"}]  # not the manager's customers
    dismissed = app.data(DISMISS, {"id": pair["id"]}, as_="admin")["dismissDuplicateCandidate"]
    assert dismissed["candidate"] == {"status": "DISMISSED", "note": "brothers"}
    report = app.run(lambda: scan(app.kehu))
    assert (report.found, report.new, report.still_dismissed) == (1, 0, 1)
    assert candidates(app, "admin")["totalCount"] == 0
    node = candidates(app, "admin", status="DISMISSED")["edges"][0]["node"]
    assert node["decidedBy"] == {"email": "admin@example.com"} and node["note"] == "brothers"


def test_dismissing_needs_the_merge_permission(app):
    create(app, "agent", name="A", email="same@example.com")
    create(app, "agent", name="A", email="same@example.com", allowDuplicate=True)
    app.run(lambda: DuplicatePair.all().update(status=DuplicateStatus.OPEN))
    pair = candidates(app, "agent")["edges"][0]["node"]  # an agent may see the pair of their own two
    body = app.gql(DISMISS, {"id": pair["id"]}, as_="agent")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# --------------------------------------------------------------------------- search


def test_search_finds_people_by_pinyin_initials_and_any_phone_format(app):
    create(app, name="张伟", phone="138 1234 5678", email="zw@example.com")
    create(app, name="Wang Fang", phone="+86 139-8765-4321")

    def names(term):
        return sorted(e["node"]["name"] for e in app.data(SEARCH, {"s": term}, as_="admin")["customers"]["edges"])

    assert names("zhangwei") == names("Zhang Wei") == names("zw") == ["张伟"]
    assert names("+86 138-1234-5678") == names("13812345678") == names("0086 13812345678") == ["张伟"]
    assert names("1381234") == ["张伟"]  # digits typed find the numbers holding them
    assert names("13987654321") == ["Wang Fang"]
    assert names("ZW@EXAMPLE.COM") == ["张伟"]


def test_analysts_who_see_names_masked_cannot_search_them_by_pinyin(make_app):
    app = make_app(enabled=("masking",))
    create(app, name="张伟", phone="13812345678")
    assert app.data(SEARCH, {"s": "zhangwei"}, as_="admin")["customers"]["totalCount"] == 1
    for term in ("zhangwei", "zw", "张伟", "13812345678"):
        assert app.data(SEARCH, {"s": term}, as_="analyst")["customers"]["totalCount"] == 0, term


# --------------------------------------------------------------------------- masking


NODE = "query($id: ID!) { node(id: $id) { id ... on DuplicateCandidate { reasons } } }"


def test_a_role_that_sees_contact_details_masked_is_shown_no_candidates(make_app):
    app = make_app(enabled=("masking",))
    create(app, name="王芳", phone="139 1111 2222")
    create(app, name="Wang Fang", phone="+86 13911112222", allowDuplicate=True)
    app.run(lambda: DuplicatePair.all().update(status=DuplicateStatus.OPEN))
    pair = candidates(app, "admin")["edges"][0]["node"]
    assert "SAME_PHONE" in pair["reasons"]
    # Analysts read every customer, but see phone numbers partly hidden: a pair
    # "same phone" would tell them what the masking hides.
    assert candidates(app, "analyst") == {"totalCount": 0, "edges": []}
    assert app.data(NODE, {"id": pair["id"]}, as_="analyst")["node"] is None


def test_a_writer_who_sees_the_matched_field_masked_is_told_nothing(make_app):
    masked = {"masking": {"fields": {"Customer.email": {"AGENT": "PARTIAL"}}}}
    app = make_app(enabled=("masking",), settings=masked)
    mine = create(app, "agent", name="Li Na", email="lina@example.com")["customer"]
    # The agent's own customer: visible, but its e-mail is shown to them as l***@example.com.
    again = create(app, "agent", name="Li Na", email="LiNa@example.com")
    assert again["userErrors"] == [] and again["duplicates"] == []
    assert candidates(app, "agent")["totalCount"] == 0
    found = candidates(app, "admin")["edges"]
    assert {c["id"] for c in found[0]["node"]["customers"]} == {mine["id"], again["customer"]["id"]}
    assert found[0]["node"]["status"] == "OPEN"  # not a deliberate duplicate: waits for review


def test_an_owner_who_sees_their_own_customers_in_clear_sees_their_pairs_only(make_app):
    settings = {"masking": {"owner_sees_clear": True, "fields": {"Customer.phone": {"AGENT": "PARTIAL"}}}}
    app = make_app(enabled=("masking",), settings=settings)
    create(app, "agent", name="赵敏", phone="13700001111")
    refused = create(app, "agent", name="Zhao Min", phone="137 0000 1111")
    assert [e["code"] for e in refused["userErrors"]] == ["DUPLICATE_CUSTOMER"]  # their own: shown in clear
    create(app, "agent", name="Zhao Min", phone="137 0000 1111", allowDuplicate=True)
    app.run(lambda: DuplicatePair.all().update(status=DuplicateStatus.OPEN))
    assert candidates(app, "agent")["totalCount"] == 1
    create(app, "agent2", name="Zhou Li", phone="13600002222")
    create(app, "agent2", name="Zhou Li", phone="13600002222", allowDuplicate=True)
    app.run(lambda: DuplicatePair.all().update(status=DuplicateStatus.OPEN))
    assert candidates(app, "agent2")["totalCount"] == 1
    assert candidates(app, "manager")["totalCount"] == 2  # managers see phones in clear


def test_a_scan_keeps_the_pairs_flagged_on_entry_and_removes_its_own_stale_ones(app):
    archive = "mutation($id: ID!) { archiveCustomer(input: {id: $id}) { customer { id } } }"
    theirs = create(app, "agent_south", name="Chen Jie", email="cj@example.com")["customer"]
    create(app, "agent", name="陈杰", email="cj@example.com")  # flagged: the agent could not see theirs
    app.data(archive, {"id": theirs["id"]}, as_="admin")  # archived customers are not scanned
    ada = create(app, name="Ada Lovelace", email="ada@example.com")["customer"]
    create(app, name="Ada Lovelace", email="ada@example.com", allowDuplicate=True)
    app.run(lambda: DuplicatePair.filter(source="ENTRY", status="DISMISSED").delete())
    app.run(lambda: scan(app.kehu))
    assert sorted(e["node"]["source"] for e in candidates(app, "admin")["edges"]) == ["ENTRY", "SCAN"]
    app.data(UPDATE, {"input": {"id": ada["id"], "email": None}}, as_="admin")  # two namesakes now
    report = app.run(lambda: scan(app.kehu))
    assert report.removed == 1
    assert [e["node"]["source"] for e in candidates(app, "admin")["edges"]] == ["ENTRY"]
