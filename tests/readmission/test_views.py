"""The readmission pages through the real app: inbox, new-case form with inline validation, case page
actions, statistics page and agreements; a province never opens another province's case."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from passage.core.db import unit_of_work
from passage.readmission.models import ReadmissionCase
from tests.security.test_views import HTML, sign_in


def _csrf(text: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert match
    return match.group(1)


def test_new_case_form_validates_inline_then_creates(app_client: Any) -> None:
    sign_in(app_client, "nl.officer")
    page = app_client.get("/readmission/new", headers=HTML)
    assert page.status_code == 200 and 'for="n-surname"' in page.text
    bad = app_client.post("/readmission/new", data={"csrf_token": _csrf(page.text), "agreement_id": "eu-china-draft", "surname": "WU", "date_of_birth": "1990-13-01"}, headers=HTML)
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text and 'id="e-date_of_birth"' in bad.text
    good = app_client.post("/readmission/new", data={"csrf_token": _csrf(page.text), "agreement_id": "eu-china-draft", "surname": "WU", "date_of_birth": "1990-12-01", "languages": "zh\nwuu"}, headers=HTML, follow_redirects=False)
    assert good.status_code == 303
    case_page = app_client.get(good.headers["location"], headers=HTML)
    assert case_page.status_code == 200 and "WU" in case_page.text and "Submit the application" in case_page.text
    assert "Still missing before the application can be submitted" in case_page.text
    # submitting the incomplete draft re-renders the page with the missing fields, nothing changes
    case_id = good.headers["location"].rsplit("/", 1)[1]
    version = re.search(r'name="version" value="(\d+)"', case_page.text)
    assert version
    refused = app_client.post(f"/readmission/cases/{case_id}/action", data={"csrf_token": _csrf(case_page.text), "action": "submit", "version": version.group(1)}, headers=HTML)
    assert refused.status_code == 422 and 'role="alert"' in refused.text and "Evidence documents" in refused.text
    inbox = app_client.get("/readmission?state=draft&sort=reference", headers=HTML)
    assert inbox.status_code == 200 and case_id in inbox.text
    # a superscript digit in a number field is refused like any bad value, never a 500 ('²'.isdigit() is true)
    odd = app_client.post(f"/readmission/cases/{case_id}/action", data={"csrf_token": _csrf(case_page.text), "action": "submit",
                                                                      "version": version.group(1), "escorts": "²"}, headers=HTML)
    assert odd.status_code == 422 and 'role="alert"' in odd.text
    # the shared whole-number parser (core.inputs): the field's label and the reason, before the transition is tried
    negative = app_client.post(f"/readmission/cases/{case_id}/action", data={"csrf_token": _csrf(case_page.text), "action": "submit",
                                                                          "version": version.group(1), "escorts": "-2"}, headers=HTML)
    assert negative.status_code == 422 and "Number of escorts: must not be negative" in negative.text


def test_province_sees_only_its_own_cases_and_pages_render(demo_client: Any) -> None:
    app_client = demo_client
    with unit_of_work() as s:
        fujian = s.scalars(select(ReadmissionCase).where(ReadmissionCase.province_code == "CN-FJ")).first()
        assert fujian is not None
        fujian_id = fujian.id
    sign_in(app_client, "zj.officer")
    assert app_client.get(f"/readmission/cases/{fujian_id}", headers=HTML).status_code == 404
    inbox = app_client.get("/readmission", headers=HTML)
    assert inbox.status_code == 200 and fujian_id not in inbox.text
    home = app_client.get("/", headers=HTML)
    assert "Readmission cases needing your action" in home.text
    assert app_client.get("/readmission/statistics", headers=HTML).status_code == 403  # provinces have no statistics permission
    agreements = app_client.get("/readmission/agreements", headers=HTML)
    assert agreements.status_code == 200 and "/readmission/agreements/eu-china-draft" in agreements.text
    detail = app_client.get("/readmission/agreements/eu-china-draft", headers=HTML)
    assert detail.status_code == 200 and "unverified" in detail.text
    sign_in(app_client, "mps.central")
    stats = app_client.get("/readmission/statistics?group_by=province&granularity=year", headers=HTML)
    assert stats.status_code == 200 and 'id="readmission-chart-data"' in stats.text and "Fujian" in stats.text and ">CN-FJ<" not in stats.text  # provinces in words
    central_case = app_client.get(f"/readmission/cases/{fujian_id}", headers=HTML)
    assert central_case.status_code == 200 and "Deadlines" in central_case.text
