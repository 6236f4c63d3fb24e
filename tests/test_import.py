"""Bringing a customer base in: upserts by external id, history imports, files as
people have them (kehu.cli.transfer, kehu.cli.history, kehu.cli.sources), and the
logInteractions bulk mutation."""

import datetime as dt
import json
from decimal import Decimal

import pytest

from kehu import hookimpl
from kehu.cli.history import import_interactions
from kehu.cli.main import main as kehu_main
from kehu.cli.transfer import import_customers
from kehu.errors import ValidationError
from kehu.ids import to_global_id
from kehu.models import AuditEntry, Customer, Interaction, InteractionKind


def write(tmp_path, name, content, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(content.encode(encoding) if isinstance(content, str) else content)
    return path


def customers(app, tmp_path, content, name="customers.csv", **kwargs):
    path = content if hasattr(content, "suffix") else write(tmp_path, name, content)
    return app.run(lambda: import_customers(app.kehu, path, **kwargs))


def history(app, tmp_path, content, name="history.csv", **kwargs):
    path = content if hasattr(content, "suffix") else write(tmp_path, name, content)
    return app.run(lambda: import_interactions(app.kehu, path, **kwargs))


async def all_customers():
    return {c.external_id or c.name: c for c in await Customer.all()}


async def all_interactions():
    return list(await Interaction.all().order_by("id"))


class BulkRecorder:
    def __init__(self):
        self.loads = []
        self.logged = []

    @hookimpl
    def kehu_bulk_loaded(self, reason, customer_ids, interaction_ids, since):
        self.loads.append((reason, customer_ids, interaction_ids, since))

    @hookimpl
    def kehu_interaction_logged(self, interaction):
        self.logged.append(interaction.id)


# --------------------------------------------------------------------------- customers: upserts


CUSTOMERS = "external_id,name,email,region\nC-1,Li Lei,li@example.com,Shanghai\nC-2,王芳,wang@example.com,Beijing\n"


def test_import_run_twice_changes_nothing_the_second_time(app, tmp_path):
    first = customers(app, tmp_path, CUSTOMERS)
    assert (first.created, first.updated, first.unchanged, first.errors) == (2, 0, 0, [])
    audit_before = app.run(lambda: AuditEntry.all().count())

    second = customers(app, tmp_path, CUSTOMERS)
    assert (second.created, second.updated, second.unchanged, second.errors) == (0, 0, 2, [])
    assert app.run(lambda: Customer.all().count()) == 2
    stored = app.run(all_customers)
    assert stored["C-1"].updated_at == stored["C-1"].created_at or stored["C-1"].updated_at is not None
    assert app.run(lambda: AuditEntry.all().count()) == audit_before + 1  # the batch, with nothing in it


def test_on_conflict_decides_what_a_differing_row_does(app, tmp_path):
    customers(app, tmp_path, CUSTOMERS)
    changed = CUSTOMERS.replace("Shanghai", "Hangzhou")

    refused = customers(app, tmp_path, changed)
    assert [(e.line, e.field, e.code) for e in refused.errors] == [(2, "external_id", "DUPLICATE")]
    assert "region" in refused.errors[0].message and "--on-conflict" in refused.errors[0].message
    skipped = customers(app, tmp_path, changed, on_conflict="skip")
    assert (skipped.skipped, skipped.unchanged, skipped.errors) == (1, 1, [])
    assert app.run(all_customers)["C-1"].region == "Shanghai"

    updated = customers(app, tmp_path, changed, on_conflict="update")
    assert (updated.updated, updated.unchanged, updated.created) == (1, 1, 0)
    c1 = app.run(all_customers)["C-1"]
    assert (c1.region, c1.email, c1.name) == ("Hangzhou", "li@example.com", "Li Lei")


def test_update_sets_only_the_columns_the_file_has(app, tmp_path):
    customers(app, tmp_path, "external_id,name,email,tags\nC-1,Li Lei,li@example.com,vip;b2b\n")
    report = customers(app, tmp_path, "external_id,name,phone\nC-1,Li Lei,+86 138 0000 0001\n", on_conflict="update")
    assert report.updated == 1
    c1 = app.run(all_customers)["C-1"]
    assert (c1.email, c1.phone, c1.tags) == ("li@example.com", "+86 138 0000 0001", ["b2b", "vip"])


def test_tags_are_kept_in_step_on_update(app, tmp_path):
    customers(app, tmp_path, "external_id,name,tags\nC-1,Li Lei,vip;b2b\n")
    customers(app, tmp_path, "external_id,name,tags\nC-1,Li Lei,retail\n", on_conflict="update")
    data = app.data('{ customers(filter: {tags: ["retail"]}) { edges { node { externalId tags } } } }', as_="admin")
    assert data["customers"]["edges"] == [{"node": {"externalId": "C-1", "tags": ["retail"]}}]
    assert app.data('{ customers(filter: {tags: ["vip"]}) { totalCount } }', as_="admin")["customers"] == {
        "totalCount": 0
    }


def test_the_same_customer_twice_in_one_file_is_created_once_then_updated(app, tmp_path):
    content = "external_id,name\nC-1,First Name\nC-1,Second Name\n"
    report = customers(app, tmp_path, content, on_conflict="update")
    assert (report.created, report.updated) == (1, 1)
    assert app.run(all_customers)["C-1"].name == "Second Name"


def test_unknown_kehu_id_is_rejected_with_a_hint_about_external_ids(app, tmp_path):
    report = customers(app, tmp_path, "id,name\n999,Somebody\n")
    assert [(e.field, e.code) for e in report.errors] == [("id", "UNKNOWN_ID")]
    assert "external_id" in report.errors[0].message


def test_ids_report_names_the_kehu_id_of_each_external_id(app, tmp_path):
    report = customers(app, tmp_path, CUSTOMERS, ids=True)
    stored = app.run(all_customers)
    assert report.ids == [
        (2, "C-1", to_global_id("Customer", stored["C-1"].id), "created"),
        (3, "C-2", to_global_id("Customer", stored["C-2"].id), "created"),
    ]
    out = tmp_path / "ids.csv"
    report.write_ids(out)
    assert out.read_text().splitlines()[0] == "line,external_id,id,outcome"


def test_customer_since_comes_from_the_file_in_the_business_time_zone(make_app, tmp_path):
    app = make_app(config={"kehu": {"timezone": "Asia/Shanghai"}})
    customers(app, tmp_path, "external_id,name,created_at\nC-1,Li Lei,2016-03-01\nC-2,Wang,2017-05-02T10:00:00Z\n")
    stored = app.run(all_customers)
    assert stored["C-1"].created_at == dt.datetime(2016, 2, 29, 16, 0, tzinfo=dt.UTC)
    assert stored["C-2"].created_at == dt.datetime(2017, 5, 2, 10, 0, tzinfo=dt.UTC)


def test_external_id_through_the_api_is_unique_and_filterable(app):
    create = """mutation($i: CreateCustomerInput!) { createCustomer(input: $i) {
      customer { id externalId } userErrors { field code } } }"""
    first = app.data(create, {"i": {"name": "Li Lei", "externalId": "CRM-1"}}, as_="admin")["createCustomer"]
    assert first["customer"]["externalId"] == "CRM-1"
    again = app.data(create, {"i": {"name": "Other", "externalId": "CRM-1"}}, as_="admin")["createCustomer"]
    assert again == {"customer": None, "userErrors": [{"field": "externalId", "code": "DUPLICATE_EXTERNAL_ID"}]}
    found = app.data('{ customers(filter: {externalIds: ["CRM-1"]}) { edges { node { id } } } }', as_="admin")
    assert [e["node"]["id"] for e in found["customers"]["edges"]] == [first["customer"]["id"]]


# --------------------------------------------------------------------------- files as people have them


def test_gbk_file_from_excel_imports_cleanly(app, tmp_path):
    content = (
        "客户编号,姓名,地区,地址\nC-1,张伟,上海,上海市浦东新区世纪大道100号\nC-2,王芳,北京,北京市朝阳区建国路88号\n"
    )
    path = write(tmp_path, "客户.csv", content, encoding="gbk")
    report = customers(
        app, tmp_path, path, columns={"客户编号": "external_id", "姓名": "name", "地区": "region", "地址": "address"}
    )
    assert report.errors == []
    assert report.encoding == "gb18030"
    stored = app.run(all_customers)
    assert (stored["C-1"].name, stored["C-1"].region, stored["C-2"].address) == (
        "张伟",
        "上海",
        "北京市朝阳区建国路88号",
    )


def test_utf16_tab_separated_file_from_excel_imports_cleanly(app, tmp_path):
    content = "external_id\tname\tregion\r\nC-1\t张伟\t上海\r\nC-2\tLi, Lei\tBeijing\r\n"
    report = customers(app, tmp_path, write(tmp_path, "unicode.txt", content, encoding="utf-16"))
    assert report.errors == []
    stored = app.run(all_customers)
    assert (stored["C-1"].name, stored["C-2"].name) == ("张伟", "Li, Lei")


def test_utf8_with_bom_and_semicolons(app, tmp_path):
    content = "\ufeffexternal_id;name;region\nC-1;Zoë Müller;Berlin\n"
    assert customers(app, tmp_path, content).created == 1


def test_encoding_option_overrides_detection(app, tmp_path):
    path = write(tmp_path, "c.csv", "name\nCafé Zoë\n", encoding="latin-1")
    customers(app, tmp_path, path, encoding="latin-1")
    assert "Café Zoë" in app.run(all_customers)


def test_unknown_column_refuses_the_file_and_names_the_option(app, tmp_path):
    with pytest.raises(ValidationError) as exc:
        customers(app, tmp_path, "name,wechat\nLi Lei,lilei88\n")
    assert exc.value.code == "UNKNOWN_COLUMN"
    assert "'wechat'" in exc.value.message and "--extra-columns" in exc.value.message
    assert app.run(lambda: Customer.all().count()) == 0


def test_unknown_columns_land_in_attributes_when_asked(app, tmp_path):
    content = 'name,WeChat ID,Member Level,attributes\nLi Lei,lilei88,gold,"{""source"": ""fair""}"\nWang,,,\n'
    report = customers(app, tmp_path, content, extra_columns="attributes")
    assert report.errors == []
    stored = app.run(all_customers)
    assert stored["Li Lei"].attributes == {"source": "fair", "WeChat ID": "lilei88", "Member Level": "gold"}
    assert stored["Wang"].attributes == {}
    ignored = customers(app, tmp_path, "name,wechat\nZhao,x\n", extra_columns="ignore")
    assert ignored.created == 1 and app.run(all_customers)["Zhao"].attributes == {}


def test_malformed_csv_line_is_reported_and_parsing_resumes_at_the_next_record(app, tmp_path):
    content = (
        "name,email,region\n"
        "Good One,one@example.com,Shanghai\n"
        'Broken,"unclosed@example.com,Beijing\n'  # line 3: the quote never closes
        "Good Two,two@example.com,Hangzhou\n"
        'Good Three,three@example.com,"Suzhou, Jiangsu"\n'
        "Too,Many,Values,Here\n"  # line 6
        "Good Four,four@example.com,\n"
    )
    report = customers(app, tmp_path, content)
    assert [(e.line, e.code) for e in report.errors] == [(3, "INVALID_CSV"), (6, "WRONG_COLUMN_COUNT")]
    assert sorted(app.run(all_customers)) == ["Good Four", "Good One", "Good Three", "Good Two"]
    assert report.rows == 6


def test_xlsx_first_sheet_is_imported(app, tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append([None])  # an empty row above the header
    sheet.append(["External ID", "Name", "Created At", "Phone"])
    sheet.append([1001, "张伟", dt.datetime(2019, 4, 1, 9, 30), "+86 138 0000 0001"])
    sheet.append([1002, "Li Lei", None, None])
    book.create_sheet("Notes").append(["ignored"])
    path = tmp_path / "customers.xlsx"
    book.save(path)

    report = customers(app, tmp_path, path)
    assert report.errors == [] and report.created == 2
    stored = app.run(all_customers)
    assert stored["1001"].name == "张伟"
    assert stored["1001"].created_at == dt.datetime(2019, 4, 1, 9, 30, tzinfo=dt.UTC)
    assert stored["1002"].phone is None


# --------------------------------------------------------------------------- history


def seed_customers(app, tmp_path):
    customers(app, tmp_path, "external_id,name,email\nC-1,Li Lei,li@example.com\nC-2,Wang Fang,wang@example.com\n")
    return app.run(all_customers)


HISTORY = (
    "external_id,customer_external_id,kind,occurred_at,amount,subject,owner_email\n"
    "O-1,C-1,PURCHASE,2024-03-01 10:00,120.50,Order 1,agent@example.com\n"
    "O-2,C-1,purchase,2024-05-02,80,Order 2,\n"
    "N-1,C-2,CALL,2023-12-24T09:00:00+08:00,,Called,\n"
)


def test_history_imports_with_dates_and_writes_nothing_the_second_time(make_app, tmp_path):
    recorder = BulkRecorder()
    app = make_app(enabled=("recorder",), extra_plugins={"recorder": recorder})
    stored = seed_customers(app, tmp_path)
    assert recorder.loads[0][:3] == ("import", sorted(c.id for c in stored.values()), None)
    recorder.loads.clear()
    report = history(app, tmp_path, HISTORY, actor="migration")
    assert (report.created, report.errors) == (3, [])
    rows = app.run(all_interactions)
    assert [(r.external_id, r.customer_id, r.kind, r.amount) for r in rows] == [
        ("O-1", stored["C-1"].id, InteractionKind.PURCHASE, Decimal("120.50")),
        ("O-2", stored["C-1"].id, InteractionKind.PURCHASE, Decimal("80.00")),
        ("N-1", stored["C-2"].id, InteractionKind.CALL, None),
    ]
    assert rows[0].occurred_at == dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC)
    assert rows[0].owner_id == app.accounts["agent"].id
    assert rows[2].occurred_at == dt.datetime(2023, 12, 24, 1, 0, tzinfo=dt.UTC)
    c1 = app.run(all_customers)["C-1"]
    assert c1.last_interaction_at == dt.datetime(2024, 5, 2, tzinfo=dt.UTC)
    assert recorder.logged == []  # no event per row ...
    (reason, ids, interaction_ids, since), *more = recorder.loads  # ... but one for the load
    assert not more
    assert reason == "import" and ids == sorted([stored["C-1"].id, stored["C-2"].id])
    assert list(interaction_ids) == [r.id for r in rows]
    assert since == dt.datetime(2023, 12, 24, 1, 0, tzinfo=dt.UTC)

    again = history(app, tmp_path, HISTORY)
    assert (again.created, again.unchanged, again.errors) == (0, 3, [])
    assert len(app.run(all_interactions)) == 3


def test_history_names_customers_by_kehu_id_or_email(app, tmp_path):
    stored = seed_customers(app, tmp_path)
    content = (
        "customer_id,customer_email,kind,occurred_at,amount\n"
        f"{to_global_id('Customer', stored['C-1'].id)},,PURCHASE,2024-01-01,10\n"
        f"{stored['C-2'].id},,NOTE,2024-01-02,\n"
        ",WANG@EXAMPLE.COM,VISIT,2024-01-03,\n"
    )
    report = history(app, tmp_path, content)
    assert report.errors == []
    rows = app.run(all_interactions)
    assert [r.customer_id for r in rows] == [stored["C-1"].id, stored["C-2"].id, stored["C-2"].id]


def test_bad_history_rows_are_reported_by_line_and_code(app, tmp_path):
    seed_customers(app, tmp_path)
    content = (
        "external_id,customer_external_id,kind,occurred_at,amount\n"
        "A,C-1,PURCHASE,2024-01-01,\n"  # 2: a purchase needs an amount
        "B,C-9,CALL,2024-01-01,\n"  # 3: no such customer
        "C,C-1,CALL,next tuesday,\n"  # 4
        "D,C-1,DANCE,2024-01-01,\n"  # 5
        "E,C-1,CALL,2199-01-01,\n"  # 6: in the future
        "F,,CALL,2024-01-01,\n"  # 7: no customer named
        "G,C-1,CALL,2024-01-01,5\n"  # 8: only purchases carry an amount
        "H,C-2,购买,2024-01-01,99.90\n"  # 9: good (the Chinese name of PURCHASE)
    )
    report = history(app, tmp_path, content)
    assert sorted((e.line, e.field, e.code) for e in report.errors) == [
        (2, "amount", "REQUIRED"),
        (3, "customer_external_id", "UNKNOWN_CUSTOMER"),
        (4, "occurred_at", "INVALID"),
        (5, "kind", "INVALID"),
        (6, "occurred_at", "IN_FUTURE"),
        (7, "customer_external_id", "REQUIRED"),
        (8, "amount", "INVALID"),
    ]
    assert [r.external_id for r in app.run(all_interactions)] == ["H"]


def test_an_external_id_reused_for_something_else_is_rejected(app, tmp_path):
    seed_customers(app, tmp_path)
    history(app, tmp_path, HISTORY)
    changed = HISTORY.replace("120.50", "999.00")
    report = history(app, tmp_path, changed)
    assert [(e.line, e.code) for e in report.errors] == [(2, "EXTERNAL_ID_REUSED")]
    assert report.unchanged == 2


def test_history_header_must_name_a_customer_column(app, tmp_path):
    with pytest.raises(ValidationError, match="customer_external_id"):
        history(app, tmp_path, "kind,occurred_at\nCALL,2024-01-01\n")


def test_customers_with_their_interactions_in_one_jsonl_file(app, tmp_path):
    lines = [
        {
            "external_id": "C-1",
            "name": "Li Lei",
            "interactions": [
                {"external_id": "O-1", "kind": "PURCHASE", "occurred_at": "2024-01-05", "amount": 99.5},
                {"external_id": "O-2", "kind": "CALL", "occurred_at": "2024-02-01T08:00:00Z", "subject": "hello"},
                {"kind": "PURCHASE", "occurred_at": "2024-02-02"},  # no amount
            ],
        },
        {"external_id": "C-2", "name": "Wang Fang", "interactions": []},
    ]
    content = "\n".join(json.dumps(line) for line in lines) + "\n"
    report = customers(app, tmp_path, content, name="crm.jsonl")
    assert report.created == 2
    assert report.interactions.created == 2
    assert [(e.line, e.field, e.code) for e in report.errors] == [(1, "interactions.2.amount", "REQUIRED")]
    rows = app.run(all_interactions)
    assert [(r.external_id, r.amount) for r in rows] == [("O-1", Decimal("99.50")), ("O-2", None)]
    again = customers(app, tmp_path, content, name="crm.jsonl")
    assert (again.unchanged, again.interactions.unchanged, again.interactions.created) == (2, 2, 0)


# --------------------------------------------------------------------------- the command


def test_import_help_documents_columns_and_formats(capsys):
    with pytest.raises(SystemExit):
        kehu_main(["import", "interactions", "--help"])
    text = capsys.readouterr().out
    for word in ("customer_external_id", "occurred_at", "amount", ".xlsx", "GB18030", "UTF-16", "timezone"):
        assert word in text
    with pytest.raises(SystemExit):
        kehu_main(["import", "customers", "--help"])
    text = capsys.readouterr().out
    for word in ("--on-conflict", "external_id", "--extra-columns", "attributes", "created_at"):
        assert word in text


def test_import_commands_end_to_end(tmp_path, db_url, capsys, monkeypatch):
    config = tmp_path / "plugins.toml"
    config.write_text(f'[kehu]\ndatabase_url = "{db_url}"\n', encoding="utf-8")
    monkeypatch.setenv("KEHU_CONFIG", str(config))
    assert kehu_main(["migrate"]) == 0
    people = write(tmp_path, "people.csv", CUSTOMERS)
    assert kehu_main(["import", "customers", str(people), "--ids", str(tmp_path / "ids.csv")]) == 0
    assert "2 customer(s) created" in capsys.readouterr().out
    assert (tmp_path / "ids.csv").read_text().count("created") == 2
    bad = write(tmp_path, "history.csv", HISTORY.replace("O-2,C-1", "O-2,C-404").replace("agent@example.com", ""))
    assert kehu_main(["import", "interactions", str(bad)]) == 1
    out = capsys.readouterr()
    assert "2 interaction(s) created" in out.out and "1 rejected" in out.out
    assert "line 3: customer_external_id" in out.err
    assert "UNKNOWN_CUSTOMER" in (tmp_path / "history.csv.errors.csv").read_text()


# --------------------------------------------------------------------------- logInteractions

BULK = """mutation($i: LogInteractionsInput!) { logInteractions(input: $i) {
  results { index created interaction { externalId kind amount occurredAt } userErrors { field code } }
  userErrors { field code message } } }"""


def bulk_items(app):
    customer = to_global_id("Customer", app.run(all_customers)["C-1"].id)
    return [
        {
            "customerId": customer,
            "kind": "PURCHASE",
            "amount": "20.00",
            "externalId": "ERP-1",
            "occurredAt": "2024-06-01T00:00:00Z",
        },
        {"customerId": customer, "kind": "CALL", "externalId": "ERP-2"},
    ]


def test_log_interactions_logs_a_batch_and_replays_it(make_app, tmp_path):
    recorder = BulkRecorder()
    app = make_app(enabled=("recorder",), extra_plugins={"recorder": recorder})
    seed_customers(app, tmp_path)
    items = bulk_items(app)
    result = app.data(BULK, {"i": {"items": items}}, as_="admin")["logInteractions"]
    assert result["userErrors"] == []
    assert [(r["index"], r["created"], r["interaction"]["externalId"]) for r in result["results"]] == [
        (0, True, "ERP-1"),
        (1, True, "ERP-2"),
    ]
    assert len(recorder.logged) == 2  # each item fires its event, as logInteraction does
    again = app.data(BULK, {"i": {"items": items}}, as_="admin")["logInteractions"]
    assert [r["created"] for r in again["results"]] == [False, False]
    assert len(app.run(all_interactions)) == 2 and len(recorder.logged) == 2


def test_log_interactions_is_all_or_nothing_with_errors_per_item(app, tmp_path):
    seed_customers(app, tmp_path)
    items = bulk_items(app)
    items.append({"customerId": items[0]["customerId"], "kind": "PURCHASE"})  # no amount
    items.append({"customerId": to_global_id("Customer", 999999), "kind": "CALL"})
    result = app.data(BULK, {"i": {"items": items}}, as_="admin")["logInteractions"]
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [
        ("items.2.amount", "REQUIRED"),
        ("items.3.customerId", "NOT_FOUND"),
    ]
    assert result["results"][2]["userErrors"] == [{"field": "amount", "code": "REQUIRED"}]
    assert all(r["interaction"] is None for r in result["results"])
    assert app.run(all_interactions) == []


def test_log_interactions_refuses_keys_longer_than_their_columns_per_item(app, tmp_path):
    seed_customers(app, tmp_path)
    first, second = bulk_items(app)
    first["idempotencyKey"] = "k" * 5000
    second["externalId"] = "e" * 201
    result = app.data(BULK, {"i": {"items": [first, second]}}, as_="admin")["logInteractions"]
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [
        ("items.0.idempotencyKey", "TOO_LONG"),
        ("items.1.externalId", "TOO_LONG"),
    ]
    assert app.run(all_interactions) == []


def test_log_interactions_refuses_too_many_items(app, tmp_path):
    seed_customers(app, tmp_path)
    item = bulk_items(app)[1]
    item.pop("externalId")
    result = app.data(BULK, {"i": {"items": [item] * 1001}}, as_="admin")["logInteractions"]
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [("items", "TOO_MANY")]


def test_log_interactions_costs_each_item_against_the_rate_limit(make_app, tmp_path):
    app = make_app(config={"limits": {"rate_per_minute": 100, "mutation_cost": 5, "bulk_item_cost": 1}})
    seed_customers(app, tmp_path)
    item = bulk_items(app)[1]
    item.pop("externalId")
    response = app.post(BULK, {"i": {"items": [item] * 120}}, as_="admin")
    assert response.status_code == 429
    errors = response.json()["data"]["logInteractions"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [("items", "RATE_LIMITED")]
    assert app.run(all_interactions) == []


def test_progress_bar_on_a_terminal_and_silence_elsewhere():
    import io

    from kehu.cli.main import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    bar = Progress("importing customers", stream=screen)
    bar.last = -1.0
    bar(5000, 0.25)
    assert "25%" in screen.getvalue() and "5,000 rows" in screen.getvalue() and "left" in screen.getvalue()
    bar.close(20000)
    assert screen.getvalue().endswith("\n")

    pipe = io.StringIO()
    quiet = Progress("importing customers", stream=pipe)
    quiet(5000, 0.25)
    quiet.close(5000)
    assert pipe.getvalue() == ""


def test_a_bulk_lookup_by_a_mostly_empty_unique_column_reads_its_index_after_analyze(app, db_url):
    """SQLite's statistics count the NULLs of ``external_id`` as one key for every row
    once ``ANALYZE`` has run, and would plan an ``IN`` list on it as a scan of the
    table; ``kehu.bulk.select_in`` names the index instead."""
    from kehu import bulk

    if db_url.startswith("postgres"):
        pytest.skip("PostgreSQL's statistics keep the share of NULLs apart")
    customer = app.run(lambda: Customer.create(name="Wang"))
    at = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    columns = ("customer_id", "kind", "direction", "occurred_at", "created_at", "subject", "notes", "external_id")
    rows = [(customer.id, "NOTE", "OUTBOUND", at, at, "", "", key) for key in [None] * 300 + ["order-7"]]
    statements = []

    async def lookup():
        from tortoise import connections

        connection = connections.get("default")
        await bulk.insert_rows(Interaction, columns, rows)
        await connection.execute_script("ANALYZE")
        real = connection.execute_query_dict

        async def recording(sql, values=None):
            statements.append((sql, values))
            return await real(sql, values)

        connection.execute_query_dict = recording
        try:
            found = await bulk.select_in(Interaction, ("external_id", "customer_id"), "external_id", ["order-7", "x"])
        finally:
            del connection.execute_query_dict
        sql, values = statements[-1]
        return found, await real(f"EXPLAIN QUERY PLAN {sql}", values)

    found, plan = app.run(lookup)
    assert found == [{"external_id": "order-7", "customer_id": customer.id}]
    assert "SEARCH kehu_interaction USING" in plan[0]["detail"], plan
