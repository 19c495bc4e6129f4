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
    assert page.get_by_text("1 submission", exact=True).is_visible()
    page.get_by_text("2 answers").click()
    assert page.get_by_text("Camp North").is_visible()


RACE_SURVEY = [
    ["type", "name", "label::English (en)", "required", "relevant", "choice_filter"],
    ["text", "site_name", "Site name", "yes", "", ""],
    ["select_one province", "province", "Province", "yes", "", ""],
    ["select_one district", "district", "District", "yes", "", "province=${province}"],
    ["select_multiple needs", "needs", "Needs", "yes", "", ""],
    ["text", "needs_other", "Other need", "yes", "selected(${needs}, 'other')", ""],
    ["begin_repeat", "members", "Members", "", "", ""],
    ["text", "member_name", "Member name", "", "", ""],
    ["end_repeat", "", "", "", "", ""],
]
RACE_CHOICES = [
    ["list_name", "name", "label::English (en)", "province"],
    ["province", "north", "North", ""], ["province", "south", "South", ""],
    ["district", "n1", "North One", "north"], ["district", "s1", "South One", "south"],
    ["needs", "food", "Food", ""], ["needs", "water", "Water", ""], ["needs", "other", "Other", ""],
]


def test_quick_entry_never_loses_an_answer(page: Any, demo_people: dict[str, str], tmp_path: Path) -> None:
    """Type, then click radios and checkboxes in quick succession while every re-render reply is slow
    (delayed 400 ms, so replies arrive after the next clicks): no typed or picked value may be reset."""
    path = write_xlsform(tmp_path / "race.xlsx", RACE_SURVEY, RACE_CHOICES, [["form_title", "form_id", "version"], ["Race check", "race", "1"]])
    with unit_of_work() as session:
        analyst = session.get(User, demo_people["analyst"])
        form_id = service.load_form(session, actor=analyst, content=path.read_bytes(), filename="race.xlsx").form.id
    browser_sign_in(page, "analyst")

    def slow(route: Any) -> None:
        page.wait_for_timeout(400)
        route.continue_()

    page.route("**/entry/fields", slow)
    page.goto(f"/forms/{form_id}/entry")
    page.get_by_label("Site name").fill("Camp North")
    page.get_by_label("North", exact=True).check()  # blur of Site name and the pick both send a re-render
    page.get_by_label("Food").check()
    page.get_by_label("Other", exact=True).check()
    page.get_by_label("Member name").fill("Ana")
    page.get_by_label("Water").check()
    page.get_by_label("North One").check()  # appears once the province's re-render is applied
    page.get_by_label("Other need").fill("blankets")  # relevant once "Other" is applied
    page.get_by_label("Member name").click()
    page.wait_for_timeout(1200)  # every slow reply has arrived by now
    assert page.get_by_label("Site name").input_value() == "Camp North"
    assert page.get_by_label("North", exact=True).is_checked() and page.get_by_label("North One").is_checked()
    assert page.get_by_label("Food").is_checked() and page.get_by_label("Water").is_checked() and page.get_by_label("Other", exact=True).is_checked()
    assert page.get_by_label("Other need").input_value() == "blankets"
    assert page.get_by_label("Member name").input_value() == "Ana"
    page.get_by_role("button", name="Submit").click()
    assert page.get_by_role("status").inner_text().startswith("The submission was saved.")
    with unit_of_work() as session:
        stored = next(service.iter_submissions(session, form_ref=form_id, actor=session.get(User, demo_people["analyst"])))
        assert stored.data["site_name"] == "Camp North" and stored.data["province"] == "north" and stored.data["district"] == "n1"
        assert stored.data["needs"] == ["food", "water", "other"] and stored.data["needs_other"] == "blankets"
        assert stored.data["members"] == [{"members/member_name": "Ana"}]


def test_form_page_names_the_checks_not_evaluated_in_chinese(page: Any, demo_people: dict[str, str], tmp_path: Path) -> None:
    survey = [["type", "name", "label::English (en)", "label::Chinese (zh)", "calculation"],
              ["integer", "age", "Age", "年龄", ""], ["calculate", "odd", "", "", "frobnicate(${age})"]]
    path = write_xlsform(tmp_path / "odd.xlsx", survey, None, [["form_title", "form_id", "version"], ["Odd form", "odd", "1"]])
    with unit_of_work() as session:
        analyst = session.get(User, demo_people["analyst"])
        form_id = service.load_form(session, actor=analyst, content=path.read_bytes(), filename="odd.xlsx").form.id
    browser_sign_in(page, "analyst")
    page.context.add_cookies([{"name": "passage_lang", "value": "zh_Hans", "url": page.url}])
    page.goto(f"/forms/{form_id}")
    section = page.get_by_role("region", name="未评估的检查")
    assert section.is_visible()
    row = section.locator("tbody tr").first
    assert [cell.inner_text() for cell in row.locator("td").all()][:4] == ["survey", "3", "calculation", "odd"]
    assert "frobnicate" in row.inner_text()
