"""The web entry page in Chromium: an invalid value is refused beside its field, fixed, and the submission listed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from passage.core.db import unit_of_work
from passage.forms import service
from passage.security.models import User
from tests.conftest import browser_sign_in
from tests.forms.xlsform_factory import write_xlsform

pytestmark = pytest.mark.browser

SURVEY = [
    ["type", "name", "label::English (en)", "label::Chinese (zh)", "required", "constraint", "constraint_message::English (en)", "relevant"],
    ["text", "site_name", "Site name", "站点名称", "yes", "", "", ""],
    ["integer", "households", "Households", "户数", "yes", ". >= 0 and . <= 5000", "Between 0 and 5000 households", ""],
    ["text", "camp_manager", "Camp manager", "营地管理人", "", "", "", "${households} > 100"],
]
SETTINGS = [["form_title", "form_id", "version"], ["Quick site check", "quick_site", "1"]]


def test_entry_shows_the_error_then_saves(page: Any, demo_people: dict[str, str], tmp_path: Path) -> None:
    path = write_xlsform(tmp_path / "quick.xlsx", SURVEY, None, SETTINGS)
    with unit_of_work() as session:
        analyst = session.get(User, demo_people["analyst"])
        form_id = service.load_form(session, actor=analyst, content=path.read_bytes(), filename="quick.xlsx").form.id
    browser_sign_in(page, "analyst")
    page.goto(f"/forms/{form_id}/entry")
    page.get_by_label("Site name").fill("Camp North")
    page.get_by_label("Households").fill("9000")
    page.get_by_label("Households").blur()
    # Relevance: the manager question appears only for more than 100 households (htmx re-render).
    page.get_by_label("Camp manager").wait_for()
    page.get_by_role("button", name="Submit").click()
    error = page.locator("#f-households-error")
    assert error.inner_text() == "Between 0 and 5000 households"
    assert page.get_by_label("Households").get_attribute("aria-invalid") == "true"
    page.get_by_label("Households").fill("40")
    page.get_by_label("Households").blur()
    page.get_by_label("Camp manager").wait_for(state="detached")
    page.get_by_role("button", name="Submit").click()
    assert page.get_by_role("status").inner_text().startswith("The submission was saved.")
    page.get_by_role("status").get_by_role("link", name="Submissions").click()
    assert page.get_by_text("1 submissions").is_visible()
    page.get_by_text("2 answers").click()
    assert page.get_by_text("Camp North").is_visible()
