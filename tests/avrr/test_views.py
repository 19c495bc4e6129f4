"""The AVRR pages through the real app: inbox filters, case file actions with inline errors, calculator, calendar,
dashboard, home panel, Chinese."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from passage.core.db import unit_of_work
from passage.security.demo import DemoContext
from passage.security.models import Organisation, User
from tests.conftest import demo_secret, totp_now


def web_sign_in(client: Any, username: str) -> str:
    """Sign in through the pages; returns the CSRF token of the session."""
    page = client.get("/login")
    login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = client.post("/login", data={"username": username, "password": "passage-demo-2026", "login_csrf": login_csrf,
                                           "next": "/"}, follow_redirects=True)
    if "second-factor" in str(response.url):
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', response.text).group(1)  # type: ignore[union-attr]
        response = client.post("/login/second-factor", data={"code": totp_now(demo_secret(username)), "csrf_token": csrf,
                                                              "next": "/"}, follow_redirects=True)
    assert response.status_code == 200
    return re.search(r'name="csrf_token" value="([^"]+)"', response.text).group(1)  # type: ignore[union-attr]


@pytest.fixture
def demo_cases(app_client: Any) -> Any:
    from sqlalchemy import select

    from passage.avrr.demo import load_demo_records

    with unit_of_work() as s:
        users = {"iom_caseworker": s.scalars(select(User).where(User.username == "iom.caseworker")).one()}
        organisations = {"iom": s.scalars(select(Organisation).where(Organisation.id == users["iom_caseworker"].organisation_id)).one()}
        summary = load_demo_records(s, context=DemoContext(organisations=organisations, users=users))
    assert summary == ["avrr: loaded 40 cases and 25 forced-return cost figures"]
    return app_client


def test_inbox_filters_case_file_and_inline_validation(demo_cases: Any) -> None:
    client = demo_cases
    csrf = web_sign_in(client, "iom.caseworker")
    home = client.get("/")
    assert "Voluntary return and reintegration" in home.text and "Reintegration plans overdue" in home.text
    inbox = client.get("/avrr/cases")
    assert inbox.status_code == 200 and "40 cases" in inbox.text
    monitoring = client.get("/avrr/cases", params={"stage": "monitoring"})
    assert "6 cases" in monitoring.text
    assert ">1 case<" in client.get("/avrr/cases", params={"q": "-0007"}).text
    case_id = re.search(r'href="/avrr/cases/([0-9a-f]{32})"', monitoring.text).group(1)  # type: ignore[union-attr]
    page = client.get(f"/avrr/cases/{case_id}")
    assert page.status_code == 200 and "Timeline" in page.text and "Assistance and payments" in page.text
    # Linking without consent from the page: 422-style inline error, and the refusal is audited.
    refused = client.post(f"/avrr/cases/{case_id}/link", data={"csrf_token": csrf, "readmission_case_id": "abc"})
    assert refused.status_code == 422 and "no consent to link_readmission_case in force" in refused.text
    # An arrival case with a wrong arrival date gets the error next to the field.
    arrival = client.get("/avrr/cases", params={"stage": "travel"})
    travel_id = re.search(r'href="/avrr/cases/([0-9a-f]{32})"', arrival.text).group(1)  # type: ignore[union-attr]
    travel_page = client.get(f"/avrr/cases/{travel_id}")
    version = re.search(r'name="version" value="(\d+)"', travel_page.text).group(1)  # type: ignore[union-attr]
    today = dt.date.today()
    bad = client.post(f"/avrr/cases/{travel_id}/transition", data={
        "csrf_token": csrf, "version": version, "to_stage": "arrival", "departed_on": today.isoformat(),
        "arrived_on": (today - dt.timedelta(days=2)).isoformat(), "occurred_on": today.isoformat()})
    assert bad.status_code == 422 and 'id="err-arrived_on"' in bad.text and 'aria-invalid="true"' in bad.text


def test_calculator_calendar_and_dashboard(demo_cases: Any) -> None:
    client = demo_cases
    csrf = web_sign_in(client, "iom.caseworker")
    result = client.post("/avrr/calculator", data={
        "csrf_token": csrf, "scheme": "starthilfeplus", "date": "2017-05-02", "nationality": "afg",
        "legal_status": "asylum_seeker", "asylum_stage": "pending", "departure_within_deadline": "on",
        "members.0.age": "40", "members.0.relationship": "head", "members.1.age": "38", "members.1.relationship": "spouse",
        "members.2.age": "15", "members.2.relationship": "child", "members.3.age": "10", "members.3.relationship": "child",
        "members.4.age": "5", "members.4.relationship": "child"})
    assert result.status_code == 200 and "€5,300.00" in result.text and "Every amount, line by line" in result.text
    wrong = client.post("/avrr/calculator", data={"csrf_token": csrf, "scheme": "starthilfeplus", "date": "2017-05-02",
                                                  "nationality": "AFG", "legal_status": "asylum_seeker",
                                                  "members.0.age": "30", "members.0.relationship": "head",
                                                  "members.3.age": "29", "members.3.relationship": "child"})
    assert wrong.status_code == 422 and 'id="err-members-3-age"' in wrong.text
    calendar = client.get("/avrr/calendar")
    assert calendar.status_code == 200 and "Monitoring calendar" in calendar.text
    dashboard = client.get("/avrr/dashboard")
    assert dashboard.status_code == 200 and "Provisional weights" in dashboard.text
    assert 'id="avrr-dashboard-data"' in dashboard.text and "/static/js/avrr.js" in dashboard.text
    chinese = client.get("/avrr/dashboard", cookies={"passage_lang": "zh_Hans"}, headers={"accept-language": "zh-CN"})
    assert "临时权重" in chinese.text


def test_analyst_sees_the_dashboard_but_not_cases(demo_cases: Any) -> None:
    client = demo_cases
    web_sign_in(client, "analyst")
    assert client.get("/avrr/cases").status_code == 403
    dashboard = client.get("/avrr/dashboard")
    assert dashboard.status_code == 200 and "suppressed" in dashboard.text
