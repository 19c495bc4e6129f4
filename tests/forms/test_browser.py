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
    # the slow route may still hold a re-render request; a reply landing after this test closed its page would
    # fail the next browser test's set-up in this worker
    page.unroute_all(behavior="ignoreErrors")
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


UCL_FORM = Path(__file__).parent / "corpus" / "XLSForm__pyxform__tests__bug_example_xls__UCL_Biomass_Plot_Form.xlsx"
"""A real field form (UCL biomass plot survey, kept from pyxform's bug examples, BSD-2; see corpus/MANIFEST.csv):
cascading choice filters over CSV attachments, relevance, a repeat holding a repeat sized by `repeat_count`,
calculations and a regex constraint."""
UCL_MEDIA = {
    "UCL_regions.csv": "name,label\nr1,Arusha\nr2,Manyara\n",
    "UCL_districts.csv": "name,label,region_id\nd1,Monduli,r1\nd2,Babati,r2\n",
    "UCL_villages.csv": "name,label,district_id\nv1,Mto wa Mbu,d1\nv2,Magugu,d2\n",
    "ULC_Biomass_Plots.csv": "name,label,village,plant_phase\np1,Plot 1,v1,2024\np2,Plot 2,v2,2024\np3,Plot 3,v1,2023\n",
    "species_names.csv": "name,label\nacacia,Acacia tortilis\nother,Other species\n",
}


def test_real_field_form_entry_never_loses_an_answer(page: Any, demo_people: dict[str, str]) -> None:
    """The UCL form entered quickly while every re-render reply is delayed: picks that narrow the next list
    (region -> district -> village -> plot), a relevance that opens the trees repeat, answers inside it and
    in its nested stems repeat; every value survives and the submission saves with all of them."""
    with unit_of_work() as session:
        analyst = session.get(User, demo_people["analyst"])
        loaded = service.load_form(session, actor=analyst, content=UCL_FORM.read_bytes(), filename=UCL_FORM.name,
                                   attachments={name: text.encode() for name, text in UCL_MEDIA.items()})
        form_id = loaded.form.id
        enumerator = loaded.definition.choices["enumerator"][0]
    browser_sign_in(page, "analyst")

    def slow(route: Any) -> None:
        page.wait_for_timeout(400)
        route.continue_()

    def group(name: str) -> Any:
        return page.get_by_role("group", name=name)

    page.route("**/entry/fields", slow)
    page.goto(f"/forms/{form_id}/entry")
    group("Your Name").get_by_label(enumerator.labels.get("English (en)") or enumerator.name, exact=True).check()
    page.get_by_label("Your Phone Number").fill("712-345-6789")
    group("Region").get_by_label("Arusha").check()
    group("District").get_by_label("Monduli").check()  # listed once the region's re-render arrives
    group("Village").get_by_label("Mto wa Mbu").check()
    group("In which planting area phase was the activity done?").get_by_label("2024").check()
    page.get_by_label("Percent Canopy Cover").fill("40")
    page.keyboard.press("Tab")  # leaving a text field sends its change (a reply that lands while typing is dropped)
    group("Plot ID").get_by_label("Plot 1").check()  # village and phase both filter this list
    page.get_by_label("Latitude").fill("-3.37")
    page.get_by_label("Longitude").fill("35.8")
    group("Was the Plot Center Monumented with Rebar?").get_by_label("Yes", exact=True).check()
    page.get_by_label("Slope (percent)").fill("10")
    group("Are there any trees to measure in the plot?").get_by_label("Yes", exact=True).check()
    trees = page.locator("fieldset.form-repeat", has=page.get_by_text("Tree Tag Number"))
    trees.get_by_label("Tree Tag Number").fill("7")  # inside the repeat the relevance just opened
    trees.get_by_role("group", name="Latin Tree Name").get_by_label("Acacia tortilis").check()
    trees.get_by_label("What is the bearing of the tree from plot center?").fill("90")
    trees.get_by_label("What is the distance from the centre in meters?").fill("3")
    trees.get_by_label("How many measurable stems does the tree have?").fill("1")
    page.keyboard.press("Tab")
    trees.get_by_label("Circumference at 1.3 m (cm)").fill("20")  # the nested stems repeat
    trees.get_by_role("group", name="Stem Health").get_by_label("Alive").check()
    group("Are there stumps less than 4 meters").get_by_label("No", exact=True).check()
    group("Is there regeneration in subplot 1?").get_by_label("No", exact=True).check()
    group("Is there regeneration in subplot 2?").get_by_label("No", exact=True).check()
    group("Disturbance signs in main plot").get_by_label("Livestock Grazing").check()
    page.get_by_label("Remarks about Plot").fill("dry season")
    page.wait_for_timeout(2000)  # every slow reply has arrived by now
    assert page.get_by_label("Your Phone Number").input_value() == "712-345-6789"
    assert group("Region").get_by_label("Arusha").is_checked() and group("District").get_by_label("Monduli").is_checked()
    assert group("Village").get_by_label("Mto wa Mbu").is_checked() and group("Plot ID").get_by_label("Plot 1").is_checked()
    assert trees.get_by_label("Tree Tag Number").input_value() == "7"
    assert trees.get_by_label("Circumference at 1.3 m (cm)").input_value() == "20"
    assert group("Disturbance signs in main plot").get_by_label("Livestock Grazing").is_checked()
    page.get_by_role("button", name="Submit").click()
    # the slow route may still hold a re-render request; a reply landing after this test closed its page would
    # fail the next browser test's set-up in this worker
    page.unroute_all(behavior="ignoreErrors")
    status = page.get_by_role("status")
    assert status.inner_text().startswith("The submission was saved."), page.locator("main").inner_text()[:3000]
    with unit_of_work() as session:
        stored = next(service.iter_submissions(session, form_ref=form_id, actor=session.get(User, demo_people["analyst"])))
        data = stored.data
    assert (data["location/region_id"], data["location/district_id"], data["location/village"], data["location/plot_id"]) == ("r1", "d1", "v1", "p1")
    assert data["info/leader_number"] == "712-345-6789" and data["remarks"] == "dry season" and data["disturbance"] == ["grazing"]
    tree = data["trees"][0]
    assert tree["trees/tag"] == 7 and tree["trees/latin_name_id"] == "acacia" and tree["trees/tree_distance"] == 3.0
    assert tree["trees/stems"][0]["trees/stems/cbh"] == 20 and tree["trees/stems"][0]["trees/stems/health_id"] == "alive"
