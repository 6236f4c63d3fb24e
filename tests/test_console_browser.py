"""The console in a real browser: headless Chromium (Debian's package) driven by
Playwright, against `kehu serve` with the demo data set.

Skipped when Playwright or Chromium is missing; CI installs both. Screenshots go to
$KEHU_SCREENSHOTS when set (``KEHU_SCREENSHOTS=docs/screenshots`` refreshes the
README's), else to a temporary directory.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)

from serving import Server, kehu, write_config  # noqa: E402

from kehu.cli.demo import DEMO_ACCOUNTS  # noqa: E402
from kehu.testing import database_url  # noqa: E402

ALL = ("segmentation", "loyalty", "complaints", "surveys", "console")
CHARTS = ("tiers", "stages", "abc", "satisfaction", "complaints", "liability")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A demo database (SQLite, or PostgreSQL with KEHU_TEST_POSTGRES) and the
    plugins.toml serving it with every built-in plugin but masking."""
    directory = tmp_path_factory.mktemp("console")
    with database_url(directory) as url:
        config = write_config(directory, url, enabled=ALL)
        kehu(config, "demo", timeout=600)
        yield SimpleNamespace(config=config, url=url)


@pytest.fixture(scope="module")
def server(demo):
    with Server(demo.config) as running:
        yield running


@pytest.fixture(scope="module")
def browser(demo):
    # After the database (its set-up and tear-down use asyncio.run, which cannot run
    # inside Playwright's event loop).
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    target = Path(os.environ.get("KEHU_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    target.mkdir(parents=True, exist_ok=True)
    return target


def open_console(browser, server, role, path="#/customers"):
    """A new browser context signed in as the demo account of ``role``."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    page.goto(f"{server.url}/console/")
    email, password, *_ = DEMO_ACCOUNTS[role]
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("nav .who")
    if path != "#/customers":
        page.evaluate("path => { location.hash = path; }", path)
    return page


def total(page) -> int:
    return int(page.get_attribute(".pager .count", "data-total"))


def test_sign_in_search_and_open_a_customer(browser, server, shots):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{server.url}/console/")
    page.wait_for_selector("form.signin")
    page.screenshot(path=shots / "signin.png")
    page.fill("input[name=email]", "manager@demo.kehu")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    page.wait_for_selector("form.signin .error:not([hidden])")
    context.close()

    page = open_console(browser, server, "MANAGER")
    page.wait_for_selector("table.customers tbody tr")
    assert page.text_content("nav .who").endswith("manager")
    everyone = total(page)
    assert everyone > 20
    assert page.locator("table.customers tbody tr").count() == 20  # one page
    page.click("text=Next ›")
    page.wait_for_selector(".pager .count >> text=/^21–/")
    page.screenshot(path=shots / "customers.png")

    page.fill("input[name=search]", "wang")
    page.wait_for_function("n => Number(document.querySelector('.pager .count')?.dataset.total) < n", arg=everyone)
    found = total(page)
    assert 0 < found < everyone
    rows = page.locator("table.customers tbody tr").all_text_contents()
    assert rows and all("wang" in row.lower() for row in rows)  # in the name or the e-mail

    page.select_option("select[name=valueTier]", "CORE")
    page.wait_for_function("n => Number(document.querySelector('.pager .count')?.dataset.total) <= n", arg=found)

    page.fill("input[name=search]", "")
    page.select_option("select[name=valueTier]", "")
    page.wait_for_function("n => Number(document.querySelector('.pager .count')?.dataset.total) === n", arg=everyone)
    # A customer with purchases and a complaint shows every plugin's panel filled.
    page.select_option("select[name=valueTier]", "CORE")
    page.wait_for_function("n => Number(document.querySelector('.pager .count')?.dataset.total) < n", arg=everyone)
    name = page.locator("a.customer-link").first.text_content()
    page.locator("a.customer-link").first.click()
    page.wait_for_selector(f"h1 >> text={name}")
    page.wait_for_selector(".timeline li")
    for panel in ("segmentation", "loyalty", "complaints", "surveys"):
        page.wait_for_selector(f"[data-panel={panel}] h3")
    page.wait_for_selector("[data-panel=segmentation] .explanation")
    page.wait_for_selector("[data-panel=loyalty] .balance")
    assert "core" in page.text_content("[data-panel=segmentation] .explanation")
    page.screenshot(path=shots / "customer.png", full_page=True)
    assert page.errors == []


def test_panels_of_disabled_plugins_do_not_appear(browser, demo, tmp_path):
    # The same database, served with only complaints and the console enabled.
    config = write_config(tmp_path, demo.url, enabled=("complaints", "console"))
    with Server(config) as narrow:
        page = open_console(browser, narrow, "MANAGER")
        page.locator("a.customer-link").first.click()
        page.wait_for_selector("[data-panel=complaints] h3")
        assert page.locator("[data-panel]").count() == 1
        assert page.locator("select[name=valueTier]").count() == 0
        page.evaluate("() => { location.hash = '#/dashboards'; }")
        page.wait_for_selector("[data-chart=complaints] svg")
        assert page.locator("[data-chart]").count() == 1


def _move(page, complaint_id: str) -> str:
    """Move a complaint on ``page``'s board to its first allowed status; returns it."""
    card = page.locator(f".card[data-id='{complaint_id}']")
    target = card.locator("select").input_value()
    if card.locator("input.note").is_visible():
        card.locator("input.note").fill("Moved in the browser test")
    card.locator("button.move").click()
    return target


def _wait_in_column(page, complaint_id: str, status: str, timeout: float) -> None:
    page.wait_for_function(
        "([id, status]) => document.querySelector(`.column[data-status='${status}'] .card[data-id='${id}']`)"
        " || (!['RECEIVED','ACKNOWLEDGED','INVESTIGATING','RESOLUTION_PROPOSED','REOPENED','RESOLVED'].includes(status)"
        "     && !document.querySelector(`.card[data-id='${id}']`))",
        arg=[complaint_id, status],
        timeout=timeout,
    )


def test_complaint_moved_by_manager_appears_on_both_boards_and_agents_hear_only_of_their_customers(
    browser, server, shots
):
    manager = open_console(browser, server, "MANAGER", "#/complaints")
    agent = open_console(browser, server, "AGENT", "#/complaints")
    for page in (manager, agent):
        page.wait_for_selector(".card")
        page.wait_for_function("() => window.kehuConsole.live === 'live'")
    time.sleep(0.3)  # the server starts the subscription just after acknowledging it
    manager_cards = {
        c.get_attribute("data-id"): c.get_attribute("data-customer") for c in manager.locator(".card").all()
    }
    agent_cards = {c.get_attribute("data-id"): c.get_attribute("data-customer") for c in agent.locator(".card").all()}
    assert agent_cards and set(agent_cards) < set(manager_cards), "the agent sees a part of the manager's board"
    movable = [i for i in agent_cards if manager.locator(f".card[data-id='{i}'] button.move").count()]
    shared = movable[0]
    agent_customers = set(agent_cards.values())
    foreign = next(
        i
        for i, customer in manager_cards.items()
        if customer not in agent_customers and manager.locator(f".card[data-id='{i}'] button.move").count()
    )
    agent.screenshot(path=shots / "complaints-board-agent.png")

    # A complaint of the agent's customer: both boards show the move within a second.
    status = _move(manager, shared)
    moved_at = time.monotonic()
    _wait_in_column(manager, shared, status, timeout=1000)
    _wait_in_column(agent, shared, status, timeout=max(1, 1000 - (time.monotonic() - moved_at) * 1000))
    assert time.monotonic() - moved_at < 1.0
    manager.screenshot(path=shots / "complaints-board.png")

    # A complaint of another owner's customer: the manager hears of it, the agent never does.
    status = _move(manager, foreign)
    _wait_in_column(manager, foreign, status, timeout=2000)
    manager.wait_for_function("id => window.kehuConsole.events.some(e => e.nodeId === id)", arg=foreign, timeout=2000)
    time.sleep(0.5)  # give a wrongly delivered event time to arrive
    agent_events = agent.evaluate("() => window.kehuConsole.events")
    assert any(e["nodeId"] == shared for e in agent_events)
    assert agent_events and all(e["customerId"] in agent_customers for e in agent_events)
    assert not any(e["nodeId"] == foreign for e in agent_events)
    assert agent.locator(f".card[data-id='{foreign}']").count() == 0
    assert manager.errors == [] and agent.errors == []


def test_each_chart_renders_with_the_demo_data(browser, server, shots):
    page = open_console(browser, server, "ANALYST", "#/dashboards")
    for chart in CHARTS:
        page.wait_for_selector(f"[data-chart={chart}] svg")
    sizes = page.evaluate(
        """charts => Object.fromEntries(charts.map(name => {
        const marks = [...document.querySelectorAll(`[data-chart=${name}] svg .bar, [data-chart=${name}] svg .point`)];
        return [name, marks.map(m => { const b = m.getBBox(); return [b.width, b.height]; })
                            .filter(([w, h]) => w > 0 && h > 0).length];
    }))""",
        list(CHARTS),
    )
    assert all(count > 0 for count in sizes.values()), sizes
    assert page.locator(".chart .error").count() == 0
    page.screenshot(path=shots / "dashboards.png", full_page=True)
    assert page.errors == []
