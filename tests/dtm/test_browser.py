"""In Chromium: the analyst fills a site assessment in the forms engine's web entry page, processes it, sees the site on the map."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from passage.core.db import unit_of_work
from passage.dtm import service, vocab
from passage.dtm.demo import boundaries
from passage.dtm.geography import parse_cod_ab
from passage.dtm.xlsforms import DATA_DIR
from passage.forms import service as forms_service
from passage.security.models import User
from tests.conftest import browser_sign_in

pytestmark = pytest.mark.browser


def prepare() -> None:
    with unit_of_work() as session:
        analyst = session.scalar(select(User).where(User.username == "analyst"))
        service.load_areas(session, actor=analyst, areas=parse_cod_ab(boundaries()), source="browser test")
        forms_service.load_form(session, actor=analyst, content=(DATA_DIR / "dtm_site_assessment.xlsx").read_bytes(), filename="dtm_site_assessment.xlsx")
        service.create_round(session, actor=analyst, operation="Browser", number=1, reporting_date=dt.date(2025, 3, 31), period_start=dt.date(2025, 3, 1), period_end=dt.date(2025, 3, 31))


def answer(page: Any, path: str, value: str) -> None:
    """Answer one field the way a person would, and wait for the page's htmx refresh of the fields."""
    target = page.locator(f'[name="{path}"]')
    kind = target.first.evaluate("e => e.tagName.toLowerCase() + ':' + (e.type || '')")
    with page.expect_response(lambda r: r.url.endswith("/entry/fields")):
        if kind.endswith(":radio") or kind.endswith(":checkbox"):
            for choice in value.split():
                page.locator(f'[name="{path}"][value="{choice}"]').check()
        elif kind.startswith("select"):
            target.select_option(value)
        else:
            target.fill(value)
            target.press("Tab")
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')")


def test_site_assessment_from_web_entry_to_the_map(page: Any) -> None:
    prepare()
    browser_sign_in(page, "analyst")
    page.goto("/forms/dtm_site_assessment/entry")
    answers = [
        ("assessment_date", "2025-03-12"), ("site_id", "NG-BOR-S777"), ("site_name", "Muna Garage"),
        ("location/admin1_pcode", "NG008"), ("location/admin1_name", "Borno"), ("location/admin2_pcode", "NG008021"), ("location/admin2_name", "Maiduguri"),
        ("site_profile/site_type", "informal_settlement"), ("site_profile/site_classification", "spontaneous"), ("site_profile/site_management", "yes"),
        ("site_profile/management_agency", "ngo"), ("population/idp_households", "60"), ("population/idp_individuals", "300"), ("population/avg_household_size", "5"),
    ]
    answers += [(f"site_demography/{name}", "30") for name in vocab.BREAKDOWN_FIELDS]
    answers += [("needs/priority_needs", "health shelter_nfi")]
    answers += [(f"services/service_{sector.name}", "partial") for sector in vocab.MCOF_SECTORS]
    answers += [("access/site_access", "partial"), ("access/access_constraints", "flooding")]
    answers += [("gps__lat", "12.71"), ("gps__lon", "13.21")]
    for path, value in answers:
        answer(page, path, value)
    page.get_by_role("button", name="Submit").click()
    alert = page.locator("[role=alert]")
    assert alert.count() == 0, alert.inner_text()
    assert page.get_by_role("status").inner_text().startswith("The submission was saved.")

    page.get_by_role("link", name="Displacement").click()
    page.get_by_role("link", name="Round 1").click()
    page.get_by_label("Component").last.select_option("site")
    page.get_by_role("button", name="Process").click()
    assert "Processed: 1 recorded" in page.get_by_role("status").inner_text()

    page.get_by_role("link", name="Map of this round").click()
    page.wait_for_selector("#dtm-map[data-ready=true]")
    assert page.locator("path.dtm-site").count() == 1
    assert page.get_by_role("cell", name="Muna Garage").is_visible()
    assert page.locator("#dtm-map path.leaflet-interactive").count() == 16 + 1  # the admin 2 areas and the site
    assert page.get_by_role("heading", name="Legend: IDP individuals").is_visible()
    row = page.locator('#dtm-area-table tr[data-pcode="NG008021"]')
    assert "300" in row.inner_text()
