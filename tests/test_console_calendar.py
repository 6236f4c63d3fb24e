"""The console's months are the business calendar's ([kehu] timezone), whatever
the browser's own time zone: the periods the dashboards ask for and the month
labels under the charts.

The console's i18n module runs in headless Chromium, served from the package
folder through Playwright's request routing (no kehu server needed); the
manifest that tells it the time zone is checked in test_console.py. Skipped
when Playwright or Chromium is missing, like test_console_browser.py.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)

STATIC = Path(__file__).resolve().parent.parent / "plugins" / "console" / "static"
ORIGIN = "http://console.test"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


@pytest.fixture(scope="module")
def page():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        # The browser sits in Los Angeles: nothing below may depend on that.
        context = browser.new_context(timezone_id="America/Los_Angeles", locale="en-US")
        page = context.new_page()

        def serve(route):
            name = route.request.url.removeprefix(ORIGIN + "/")
            if name == "":
                route.fulfill(body="<!doctype html><title>calendar</title>", content_type="text/html")
            else:
                route.fulfill(path=STATIC / name, content_type="text/javascript")

        page.route(ORIGIN + "/**", serve)
        page.goto(ORIGIN + "/")
        yield page
        browser.close()


def months(page, zone: str, now: str, count: int) -> list[dict[str, str]]:
    return page.evaluate(
        """async ([zone, now, count]) => {
            const i18n = await import("/i18n.js");
            i18n.setTimeZone(zone);
            return i18n.recentMonths(count, new Date(now));
        }""",
        [zone, now, count],
    )


def labels(page, zone: str, values: list[str]) -> list[str]:
    return page.evaluate(
        """async ([zone, values]) => {
            const i18n = await import("/i18n.js");
            i18n.setTimeZone(zone);
            return values.map(i18n.formatMonth);
        }""",
        [zone, values],
    )


def test_the_dashboards_months_begin_at_midnight_in_the_business_time_zone(page):
    # 00:30 on 1 March in Shanghai is still February in UTC and in the browser's zone.
    got = months(page, "Asia/Shanghai", "2026-02-28T16:30:00Z", 3)
    assert got == [
        {"start": "2025-12-31T16:00:00.000Z", "end": "2026-01-31T16:00:00.000Z"},
        {"start": "2026-01-31T16:00:00.000Z", "end": "2026-02-28T16:00:00.000Z"},
        {"start": "2026-02-28T16:00:00.000Z", "end": "2026-03-31T16:00:00.000Z"},
    ]
    # New York: months before and after the change to daylight saving time (8 March).
    got = months(page, "America/New_York", "2026-04-10T12:00:00Z", 3)
    assert [m["start"] for m in got] == [
        "2026-02-01T05:00:00.000Z",
        "2026-03-01T05:00:00.000Z",
        "2026-04-01T04:00:00.000Z",
    ]
    assert months(page, "UTC", "2026-01-15T00:00:00Z", 2)[0] == {
        "start": "2025-12-01T00:00:00.000Z",
        "end": "2026-01-01T00:00:00.000Z",
    }


def test_month_labels_name_the_business_calendars_month(page):
    # A period's start (an instant) is labelled with the month it begins on the
    # business calendar; a date (a survey trend's periodStart) as it is.
    got = labels(page, "Asia/Shanghai", ["2025-12-31T16:00:00Z", "2026-05-01"])
    assert got == ["Jan 26", "May 26"]
    assert labels(page, "America/New_York", ["2026-03-01T05:00:00Z", "2026-05-01"]) == ["Mar 26", "May 26"]
