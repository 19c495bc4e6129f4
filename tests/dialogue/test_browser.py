"""In Chromium: create an event, record a session and a recommendation, download the PDF report."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import browser_sign_in
from tests.dialogue.test_demo import load_demo

pytestmark = pytest.mark.browser


def test_create_event_session_recommendation_and_pdf(page: Any) -> None:
    load_demo()
    browser_sign_in(page, "iom.caseworker")
    page.get_by_role("link", name="Dialogue").first.click()
    page.get_by_role("link", name="New event").click()
    page.get_by_label("Title (English)").fill("Browser study visit")
    page.get_by_label("Type").select_option("study_visit")
    page.get_by_label("First day").fill("2026-09-14")
    page.get_by_label("Last day").fill("2026-09-10")
    page.get_by_label("Venue (English)").fill("Madrid")
    page.get_by_role("button", name="Create event").click()
    # the server refuses the backwards dates beside the field, keeping what was typed
    assert page.locator("#end_date-error").is_visible()
    assert page.get_by_label("Title (English)").input_value() == "Browser study visit"
    page.get_by_label("Last day").fill("2026-09-16")
    page.get_by_role("button", name="Create event").click()
    page.wait_for_url("**/dialogue/events/*")
    assert page.get_by_role("heading", name="Browser study visit").is_visible()
    page.get_by_label("Session title (English)").fill("Readmission procedures in practice")
    page.get_by_label("Key observations (⇒), one per line").fill("Identification takes too long\nLiaison officers help")
    page.get_by_role("button", name="Record session").click()
    page.wait_for_load_state()
    assert page.get_by_text("⇒ Identification takes too long").is_visible()
    page.get_by_label("Text (English)").fill("Establish a network of Immigration Liaison Officers")
    page.get_by_role("button", name="Record outcome").click()
    page.wait_for_load_state()
    assert page.locator("#outcomes").get_by_text("Establish a network of Immigration Liaison Officers").is_visible()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="PDF (English)").click()
    path = download_info.value.path()
    with open(path, "rb") as handle:
        assert handle.read(5) == b"%PDF-"
