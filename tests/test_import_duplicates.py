"""Duplicates in imports and the whole-base scan: each row that has an existing
customer's e-mail or phone is reported by line and follows --on-conflict; rows the
importing account may not be told of are created and flagged; `kehu dedupe scan`
stores candidates and keeps dismissed pairs dismissed."""

from kehu.cli.main import main as kehu_main
from kehu.cli.transfer import import_customers
from kehu.ids import to_global_id
from kehu.models import AccountOwner, Customer, DuplicatePair, DuplicateSource, DuplicateStatus


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def run_import(app, tmp_path, content, **kwargs):
    return app.run(lambda: import_customers(app.kehu, write(tmp_path, "people.csv", content), **kwargs))


BASE = "name,email,phone\n张伟,ZhangWei@qq.com,138 1234 5678\n"
# Line 2: the same e-mail in another case; line 3: the same number written another way;
# line 4: nobody's; line 5: line 4 again, exactly.
ROWS = (
    "name,email,phone,region\n"
    "Zhang Wei,zhangwei@QQ.com,,上海\n"
    "张 伟,,+86 138-1234-5678,\n"
    "Li Lei,lilei@example.com,,\n"
    "Li Lei,lilei@example.com,,\n"
)


def test_rows_with_an_existing_customers_email_or_phone_are_rejected_by_line(app, tmp_path):
    run_import(app, tmp_path, BASE)
    existing = to_global_id("Customer", app.run(lambda: Customer.get(name="张伟")).id)
    report = run_import(app, tmp_path, ROWS)
    assert report.created == 1  # Li Lei, once: the second row is checked against the first
    assert [(e.line, e.field, e.code) for e in report.errors] == [
        (2, "email", "DUPLICATE_CUSTOMER"),
        (3, "phone", "DUPLICATE_CUSTOMER"),
        (5, "email", "DUPLICATE_CUSTOMER"),
    ]
    assert existing in report.errors[0].message
    assert app.run(lambda: Customer.all().count()) == 2


def test_on_conflict_skip_and_update_treat_them_like_a_key_match(app, tmp_path):
    run_import(app, tmp_path, BASE)
    skipped = run_import(app, tmp_path, ROWS, on_conflict="skip")
    assert (skipped.created, skipped.skipped) == (1, 3)
    assert [(d.line, d.code) for d in skipped.duplicates] == [
        (2, "DUPLICATE_CUSTOMER"),
        (3, "DUPLICATE_CUSTOMER"),
        (5, "DUPLICATE_CUSTOMER"),
    ]
    updated = run_import(app, tmp_path, "name,email,region\nZhang Wei,ZHANGWEI@qq.com,上海\n", on_conflict="update")
    assert (updated.created, updated.updated) == (0, 1)
    customer = app.run(lambda: Customer.get(email_key="zhangwei@qq.com"))
    assert (customer.name, customer.region, customer.name_pinyin) == ("Zhang Wei", "上海", "zhangwei")


def test_allow_duplicates_creates_them_and_flags_each_pair_for_review(app, tmp_path):
    run_import(app, tmp_path, BASE)
    report = run_import(app, tmp_path, ROWS, allow_duplicates=True)
    assert report.created == 4 and report.errors == []
    assert [d.line for d in report.duplicates] == [2, 3, 5]
    pairs = app.run(lambda: DuplicatePair.filter(source=DuplicateSource.IMPORT).values_list("status", "reasons"))
    assert len(pairs) == 3 and all(status == DuplicateStatus.OPEN for status, _ in pairs)
    assert sorted(reasons[0] for _, reasons in pairs) == ["SAME_EMAIL", "SAME_EMAIL", "SAME_PHONE"]


def test_an_importer_who_may_not_see_the_existing_customer_is_told_nothing(app, tmp_path):
    run_import(app, tmp_path, "name,email,owner_email\n王芳,wf@163.com,agent_south@example.com\n")
    agent = app.run(lambda: AccountOwner.get(email="agent@example.com"))
    report = run_import(app, tmp_path, "name,email\nWang Fang,WF@163.com\n", actor=agent)
    assert (report.created, report.errors, report.duplicates) == (1, [], [])
    pair = app.run(lambda: DuplicatePair.get())
    assert pair.source == DuplicateSource.IMPORT and pair.status == DuplicateStatus.OPEN


def test_dedupe_scan_command_stores_pairs_and_writes_them_as_csv(tmp_path, db_url, capsys, monkeypatch):
    config = tmp_path / "plugins.toml"
    config.write_text(f'[kehu]\ndatabase_url = "{db_url}"\n', encoding="utf-8")
    monkeypatch.setenv("KEHU_CONFIG", str(config))
    assert kehu_main(["migrate"]) == 0
    people = write(
        tmp_path,
        "people.csv",
        "name,email,phone,region\n"
        "欧阳娜娜,nana@example.com,13912345678,上海\n"
        "Ouyang Nana,,139 1234 5678,Shanghai\n"
        "Qiu Zhenyuan,qzy@example.com,,北京\n",
    )
    assert kehu_main(["import", "customers", str(people), "--allow-duplicates"]) == 0
    capsys.readouterr()
    assert kehu_main(["dedupe", "scan", "--dry-run"]) == 0
    assert "dry run: 3 customers" in capsys.readouterr().out
    out_csv = tmp_path / "pairs.csv"
    assert kehu_main(["dedupe", "scan", "-o", str(out_csv)]) == 0
    out = capsys.readouterr().out
    assert "3 customers" in out and "1 candidates (0 new, 1 still open" in out  # the import flagged it
    lines = out_csv.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "customer_a,customer_b,score,reasons"
    assert len(lines) == 2 and "SAME_PHONE" in lines[1] and "SAME_NAME_PINYIN" in lines[1]
    assert kehu_main(["dedupe", "scan", "--min-score", "0"]) == 2
    assert "--min-score" in capsys.readouterr().err
