"""One case from draft to transferred in Chromium across three users (NL officer, MPS central, Fujian
bureau), and a Zhejiang officer who cannot open the Fujian case."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from passage.readmission import rules
from passage.readmission.demo import _DEMO_PDF, _DEMO_PNG
from passage.readmission.store import all_agreements
from tests.conftest import browser_sign_in

pytestmark = pytest.mark.browser


def switch_user(page: Any, username: str) -> None:
    page.goto("/")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    browser_sign_in(page, username)


def act(page: Any, case_url: str, action: str, **fields: str) -> None:
    page.goto(case_url)
    page.locator("summary", has_text=action).click()
    form = page.locator("details[open] form")
    for label, value in fields.items():
        control = form.get_by_label(label)
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(label=value)
        else:
            control.fill(value)
    form.get_by_role("button", name=action).click()
    page.wait_for_load_state()


def test_case_from_draft_to_transferred_across_three_users(page: Any, tmp_path: Path) -> None:
    browser_sign_in(page, "nl.officer")
    page.get_by_role("link", name="Readmission", exact=True).click()
    page.get_by_role("link", name="New case").click()
    for label, value in {
        "Surname": "ZHENG", "Given names": "Mingming", "Date of birth": "1988-06-14", "Place of birth": "Changle",
        "Father's name": "Zheng Guoqiang", "Mother's name": "Lin Fang", "Languages": "zh-min-nan\nzh", "Civil status": "married",
        "Last addresses in the requested state": "Changle, Fujian", "Physical description": "height 1.70 m", "Special needs": "none",
    }.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_label("Sex").select_option("M")
    page.get_by_label("Nationality").select_option("CHN")
    page.get_by_label("The person has no known aliases").check()
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url("**/readmission/cases/*")
    case_url = page.url
    assert page.locator("#case-state").inner_text() == "Draft"

    pdf, png = tmp_path / "passport.pdf", tmp_path / "photo.png"
    pdf.write_bytes(_DEMO_PDF)
    png.write_bytes(_DEMO_PNG)
    for kind, path in (("Evidence document", pdf), ("Photo of the person", png)):
        page.locator("summary", has_text="Upload a document or the photo").click()
        page.get_by_label("What").select_option(label=kind)
        page.get_by_label("File", exact=True).set_input_files(str(path))
        page.get_by_role("button", name="Upload", exact=True).click()
        page.wait_for_url(case_url)
    assert "Still missing" not in page.content()
    act(page, case_url, "Submit the application")
    assert page.locator("#case-state").inner_text() == "Submitted"

    switch_user(page, "mps.central")
    act(page, case_url, "Confirm receipt")
    assert "Reply due" in page.content()
    # issue 20: a working-day deadline that runs into a year without an official holiday notice says so, in both languages
    expected = rules.reply_deadline(all_agreements(None)["eu-china-draft"].versions[-1], dt.date.today()).provisional
    deadlines = page.locator("section[aria-labelledby=h-deadlines]")
    assert (deadlines.locator(".flag-soon", has_text="provisional calendar").count() > 0) == expected
    if expected:
        page.context.add_cookies([{"name": "passage_lang", "value": "zh_Hans", "url": case_url}])
        page.goto(case_url)
        assert "临时日历" in deadlines.inner_text()
        page.context.add_cookies([{"name": "passage_lang", "value": "en", "url": case_url}])
    act(page, case_url, "Route to a provincial bureau", **{"Provincial bureau": "Fujian Exit and Entry Administration Bureau — suggested"})  # born in Changle
    assert page.locator("#case-state").inner_text() == "Routed to province"

    switch_user(page, "zj.officer")
    response = page.goto(case_url)
    assert response.status == 404

    switch_user(page, "fj.officer")
    act(page, case_url, "Record identity verified", **{"Verification method": "Interview"})
    assert page.locator("#case-state").inner_text() == "Identity verified"

    switch_user(page, "mps.central")
    act(page, case_url, "Accept readmission")
    act(page, case_url, "Issue the travel document", **{"Travel document number": "LXZ778899"})
    assert page.locator("#case-state").inner_text() == "Travel document issued"

    switch_user(page, "nl.officer")
    act(page, case_url, "Schedule the transfer", **{"Transfer date": (dt.date.today() + dt.timedelta(days=10)).isoformat(), "Place of transfer": "Airport", "Airport or crossing-point code": "FOC", "Flight": "MU772"})
    assert page.locator("#case-state").inner_text() == "Transfer scheduled"
    act(page, case_url, "Confirm the transfer took place")
    assert page.locator("#case-state").inner_text() == "Transferred"
    timeline = page.locator("#h-timeline + ol").inner_text()
    for step in ("Submit the application", "Confirm receipt", "Record identity verified", "Issue the travel document", "Confirm the transfer took place"):
        assert step in timeline
