"""Duplicate customers in the console, in a real browser (see test_console_browser.py
for the set-up): the form that finds the existing record and still creates a
namesake on purpose, the review list, the merge screen, "not a duplicate" — in
English and Chinese, on a desk and a phone."""

# The browser module's fixtures are imported by name, and tests take them as arguments.
# ruff: noqa: F811

from __future__ import annotations

import itertools

import pytest
from test_console_browser import (  # noqa: F401  (fixtures used by name)
    LOCALES,
    MATRIX,
    WIDTHS,
    Console,
    axe,
    browser,
    demo,
    open_console,
    permissions,
    server,
)

from kehu.cli.demo import DEMO_ACCOUNTS

CREATE = """mutation($i: CreateCustomerInput!) {
  createCustomer(input: $i) { customer { id name } userErrors { code message } } }"""
LOG = """mutation($id: ID!) {
  logInteraction(input: {customerId: $id, kind: PURCHASE, amount: "88.00"}) { userErrors { code } } }"""
AWARD = """mutation($id: ID!, $k: String!) {
  awardPoints(input: {customerId: $id, points: 120, reason: "welcome", idempotencyKey: $k}) { userErrors { code } } }"""
counter = itertools.count(1)


def api(server, token, query, variables):
    status, body, _ = server.gql(query, variables, token=token)
    assert status == 200 and not body.get("errors"), body
    (payload,) = body["data"].values()
    assert not payload.get("userErrors"), payload
    return payload


@pytest.fixture(scope="module")
def admin(server):
    return server.login(*DEMO_ACCOUNTS["ADMIN"][:2])


def likely_pair(server, admin):
    """Two records of one person, as two channels typed them: the pair is a candidate
    (same name across hanzi and pinyin, one digit of the phone number wrong)."""
    n = next(counter)
    region = f"测试镇{n}"
    first = api(server, admin, CREATE, {"i": {"name": "欧阳娜娜", "phone": f"139{n:04d}5678", "region": region}})
    second = api(
        server,
        admin,
        CREATE,
        {"i": {"name": "Ouyang Nana", "phone": f"139{n:04d}5687", "email": f"nana{n}@example.com", "region": region}},
    )
    return first["customer"]["id"], second["customer"]["id"], region


@pytest.mark.parametrize("language, width", MATRIX, ids=[f"{lang}-{w}" for lang, w in MATRIX])
def test_the_form_shows_the_existing_customer_and_creates_a_namesake_on_purpose(
    browser, server, permissions, admin, axe, language, width
):
    n = next(counter)
    email = f"lina{n}@example.cn"
    existing = api(server, admin, CREATE, {"i": {"name": "李娜", "email": email}})["customer"]
    console = Console(browser, server, language=language, width=WIDTHS[width], axe=axe, path="#/customers/new")
    page = console.page
    console.sign_in("ADMIN")
    page.fill("input[name=name]", "Li Na")
    page.fill("input[name=email]", email.upper())
    page.click("main form button[type=submit]")
    page.wait_for_selector(".duplicate:not([hidden]) li")
    assert page.get_attribute(".duplicate li", "data-id") == existing["id"]
    assert page.locator(".field[data-field=email] .field-error:not([hidden])").count() == 1
    console.check(permissions["ADMIN"], "the form with a duplicate")
    page.click(".duplicate button[data-permission='customers.create']")
    page.wait_for_selector("main h1 >> text=Li Na")
    assert page.evaluate("() => location.hash") != f"#/customers/{existing['id']}"
    assert console.errors == []
    console.close()


@pytest.mark.parametrize("language, width", MATRIX, ids=[f"{lang}-{w}" for lang, w in MATRIX])
def test_an_admin_merges_a_pair_choosing_the_values_and_sees_what_moved(
    browser, server, permissions, admin, axe, language, width
):
    older, newer, region = likely_pair(server, admin)
    api(server, admin, LOG, {"id": newer})
    api(server, admin, AWARD, {"id": newer, "k": f"welcome-{older}"})
    console = open_console(browser, server, "ADMIN", "#/duplicates", language=language, width=WIDTHS[width], axe=axe)
    page = console.page
    pair = page.locator(f".pair:has(a[href='#/customers/{older}'])")
    pair.wait_for()
    assert set(pair.locator(".chip").evaluate_all("els => els.map(e => e.dataset.reason)")) >= {
        "SAME_NAME_PINYIN",
        "SIMILAR_PHONE",
        "SAME_REGION",
    }
    console.check(permissions["ADMIN"], "review list")

    # The customer's page names the candidate too.
    console.go(f"#/customers/{older}")
    page.wait_for_selector("[data-panel=duplicates] li")
    console.go("#/duplicates")
    page.locator(f".pair:has(a[href='#/customers/{older}']) a.button").click()
    page.wait_for_selector("table.merge")
    console.settle()
    console.check(permissions["ADMIN"], "merge screen")
    # The older record remains by default; the phone number comes from the newer one.
    assert page.is_checked(f"input[name=survivor][value='{older}']")
    page.check(f"input[name=field-phone][value='{newer}']")
    assert page.is_checked(f"input[name=field-email][value='{newer}']")  # the survivor had none
    page.click("main form.merge-form button[type=submit]")
    dialog = page.locator("dialog[open]")
    dialog.wait_for()
    console.check(permissions["ADMIN"], "merge confirmation")
    dialog.locator("button[type=submit]").click()
    page.wait_for_selector("ul.moved")
    moved = page.locator("ul.moved li").evaluate_all("els => els.map(e => `${e.dataset.part}.${e.dataset.item}`)")
    assert {"core.interactions", "loyalty.ledger_entries"} <= set(moved)
    console.check(permissions["ADMIN"], "merge result")

    # An old link to the merged record opens the survivor, with the values chosen.
    console.go(f"#/customers/{newer}")
    page.wait_for_selector("main h1 >> text=欧阳娜娜")
    details = page.text_content("dl.details")
    assert "nana" in details and "5687" in details
    assert console.errors == []
    console.close()


def test_a_pair_dismissed_as_not_a_duplicate_leaves_the_list_and_can_be_reopened(browser, server, admin, axe):
    older, newer, _ = likely_pair(server, admin)
    for language in LOCALES:
        console = open_console(browser, server, "ADMIN", "#/duplicates", language=language, axe=axe)
        page = console.page
        pair = page.locator(f".pair:has(a[href='#/customers/{older}'])")
        pair.wait_for()
        pair.locator("button[data-permission='customers.merge']").click()
        dialog = page.locator("dialog[open]")
        dialog.locator("textarea[name=note]").fill("两个人：母女")
        dialog.locator("button[type=submit]").click()
        page.wait_for_selector("dialog", state="detached")
        page.wait_for_selector(".status-line:not(:empty)")
        console.settle()
        assert page.locator(f".pair:has(a[href='#/customers/{older}'])").count() == 0
        page.select_option("select[name=status]", "DISMISSED")
        dismissed = page.locator(f".pair:has(a[href='#/customers/{older}'])")
        dismissed.wait_for()
        assert "两个人：母女" in dismissed.text_content()
        dismissed.locator("button[data-permission='customers.merge']").click()  # reopen
        page.wait_for_selector(f".pair[data-status=DISMISSED]:has(a[href='#/customers/{older}'])", state="detached")
        page.select_option("select[name=status]", "OPEN")
        page.locator(f".pair:has(a[href='#/customers/{older}'])").wait_for()
        assert console.errors == []
        console.close()


def test_roles_without_the_merge_permission_have_no_duplicates_screen(browser, server):
    for role in ("AGENT", "ANALYST"):
        console = open_console(browser, server, role, "#/customers")
        assert console.page.locator("header nav a[href='#/duplicates']").count() == 0
        console.go("#/duplicates")
        assert console.view == "not-found"
        console.close()
