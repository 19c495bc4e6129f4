"""A household from the first counselling to the first monitoring survey, in Debian's Chromium, as iom.caseworker."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.conftest import browser_sign_in

pytestmark = pytest.mark.browser


def day(offset: int) -> str:
    return (dt.date.today() + dt.timedelta(days=offset)).isoformat()


def move(page: Any, stage_label: str) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=f"Move to {stage_label}").click()


def test_household_from_counselling_to_first_monitoring_survey(page: Any) -> None:
    browser_sign_in(page, "iom.caseworker")
    page.get_by_role("link", name="AVRR cases").click()
    page.get_by_role("link", name="Open a new case").click()
    page.get_by_label("Nationality (ISO 3166-1 alpha-3)").fill("IRQ")
    page.get_by_label("Country of return (ISO 3166-1 alpha-3)").fill("IRQ")
    page.get_by_label("Legal status").select_option("rejected_asylum_seeker")
    page.get_by_label("Name of member 1").fill("Browser Test Person")
    page.get_by_label("Age of member 1").fill("41")
    page.get_by_label("Age of member 2").fill("36")
    page.get_by_label("Relationship of member 2").select_option("spouse")
    page.get_by_label("Age of member 3").fill("40")  # a child older than the head: refused inline
    page.get_by_label("Date of counselling").fill(day(-150))
    page.get_by_label("The person was informed of the programme, the return and the alternatives").check()
    page.get_by_label("The decision is free of coercion").check()
    page.get_by_label("Decision", exact=True).select_option("return")
    page.get_by_label("Date of the decision").fill(day(-148))
    page.get_by_role("button", name="Open the case").click()
    assert page.get_by_role("alert").is_visible()
    assert page.locator("#err-members-2-age").is_visible()
    assert page.get_by_label("Age of member 3").get_attribute("aria-invalid") == "true"
    page.get_by_label("Age of member 3").fill("7")
    page.get_by_label("Date of counselling").fill(day(-150))
    page.get_by_label("The person was informed of the programme, the return and the alternatives").check()
    page.get_by_label("The decision is free of coercion").check()
    page.get_by_label("Decision", exact=True).select_option("return")
    page.get_by_label("Date of the decision").fill(day(-148))
    with page.expect_navigation():
        page.get_by_role("button", name="Open the case").click()
    assert page.get_by_role("heading", name="Household").is_visible()
    assert page.get_by_role("cell", name="Browser Test Person").is_visible()

    page.get_by_label("Application date").fill(day(-140))
    move(page, "Application")
    move(page, "Eligibility")
    move(page, "Pre-departure")
    page.get_by_label("Travel document").select_option("valid_passport")
    page.get_by_label("Medical fitness to travel").select_option("fit")
    page.get_by_label("Vulnerability screening done").check()
    page.get_by_label("Itinerary reference").fill("ITN-BROWSER")
    move(page, "Travel")
    # Inline validation: an arrival before the departure is refused next to the field.
    page.get_by_label("Departure date").fill(day(-100))
    page.get_by_label("Arrival date").fill(day(-101))
    move(page, "Arrival and reception")
    assert page.locator("#err-arrived_on").inner_text() == "is before the departure date"
    page.get_by_label("Arrival date").fill(day(-99))
    move(page, "Arrival and reception")
    page.get_by_label("Received by (office or partner)").fill("IOM Erbil reception")
    move(page, "Reintegration plan")
    page.get_by_label("Kind of assistance").select_option("business_start_up")
    page.get_by_label("Budget (EUR)").fill("1500")
    page.locator("#a-t0-amount").fill("1000")
    page.locator("#a-t0-from").fill(day(-80))
    page.locator("#a-t0-to").fill(day(-50))
    page.locator("#a-t1-amount").fill("500")
    page.locator("#a-t1-from").fill(day(-20))
    page.locator("#a-t1-to").fill(day(40))
    with page.expect_navigation():
        page.get_by_role("button", name="Add assistance").click()
    assert page.get_by_role("heading", name="Business start-up: €0.00 / €1,500.00").is_visible()
    page.get_by_label("Reintegration plan agreed on").fill(day(-85))
    move(page, "Assistance")
    first_tranche = page.locator("form[action*='/tranches/']").first
    first_tranche.get_by_label("Payment date").fill(day(-60))
    first_tranche.get_by_label("Proof reference").fill("RCPT-1")
    with page.expect_navigation():
        first_tranche.get_by_role("button", name="Pay").click()
    assert page.get_by_role("heading", name="Business start-up: €1,000.00 / €1,500.00").is_visible()
    move(page, "Monitoring")

    with page.expect_navigation():
        page.get_by_role("link", name="Record survey round 1").click()
    assert page.get_by_text("Provisional weights").is_visible()
    page.get_by_label("Date of interview").fill(day(-5))
    questions = page.locator("select[name^='answers.']")
    for index in range(questions.count()):
        questions.nth(index).select_option(index=1)  # the first choice of every scale is the best-scored one
    with page.expect_navigation():
        page.get_by_role("button", name="Save the survey").click()
    row = page.locator("#monitoring tbody tr").first
    cells = row.locator("td")
    assert cells.nth(3).inner_text() == day(-5)
    assert cells.nth(7).inner_text() == "1.0"
    assert page.get_by_role("link", name="Record survey round 2").is_visible()


def test_dashboard_draws_its_charts_under_the_content_security_policy(page: Any) -> None:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" and "404" not in message.text else None)
    missing: list[str] = []
    page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)
    browser_sign_in(page, "iom.caseworker")
    page.get_by_role("link", name="AVRR dashboard").click()
    assert page.get_by_text("Provisional weights").first.is_visible()
    page.wait_for_function("() => window.Chart && window.Chart.getChart(document.getElementById('avrr-returns-chart'))")
    drawn = page.evaluate("['avrr-returns-chart', 'avrr-planned-chart', 'avrr-trend-chart', 'avrr-share-chart']"
                          ".every(id => window.Chart.getChart(document.getElementById(id)) !== undefined)")
    assert drawn is True
    assert errors == []
    assert [url for url in missing if not url.endswith("/favicon.ico")] == []
