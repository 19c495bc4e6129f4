"""The consular pages through the real app, in English and Chinese: forms with inline errors, the crisis page,
plan preview and booking, check-in, statistics, and the home panel."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from passage.consular import service
from passage.core.db import unit_of_work
from tests.consular.conftest import SQUARE, TODAY, registration, user_named, web_sign_in, with_districts


@pytest.fixture
def officer_client(app_client: Any) -> tuple[Any, str]:
    with_districts()
    with unit_of_work() as s:
        officer = user_named(s, "denpasar.officer")
        for i in range(3):
            service.create_registration(s, actor=officer, data=registration("王", f"{i}", vulnerabilities=["child"] if i == 0 else []))
    return app_client, web_sign_in(app_client, "denpasar.officer")


def test_every_page_renders_in_english_and_chinese(officer_client: tuple[Any, str]) -> None:
    client, csrf = officer_client
    response = client.post("/consular/crises", data={"csrf_token": csrf, "name_en": "Quake", "name_zh": "地震", "crisis_type": "earthquake", "country": "ID",
                                                     "starts_on": TODAY.isoformat(), "area": __import__("json").dumps(SQUARE)}, follow_redirects=False)
    assert response.status_code == 303
    crisis_path = response.headers["location"]
    for locale, marker in (("en", "Consular protection"), ("zh_Hans", "领事保护")):
        client.cookies.set("passage_lang", locale)
        for path in ("/consular", "/consular/registrations", "/consular/requests", "/consular/crises", "/consular/advice", "/consular/statistics", crisis_path):
            page = client.get(path)
            assert page.status_code == 200, (path, locale)
            assert marker in page.text
    client.cookies.set("passage_lang", "en")
    crisis = client.get(crisis_path).text
    assert "Evacuation dashboard" in crisis and "consular-crisis-map" in crisis and crisis.count("/consular/registrations/") == 3


def test_registration_form_shows_errors_inline_and_registers(officer_client: tuple[Any, str]) -> None:
    client, csrf = officer_client
    bad = client.post("/consular/registrations", data={"csrf_token": csrf, "family_name": "", "destination_country": "ID", "arrival_on": "2026-13-01", "phone": ""})
    assert bad.status_code == 422
    assert 'aria-invalid="true"' in bad.text and "Please correct the following" in bad.text
    good = client.post("/consular/registrations", data={"csrf_token": csrf, "family_name": "林", "given_name": "慧", "destination_country": "ID", "arrival_on": TODAY.isoformat(),
                                                         "phone": "+86 138", "latitude": "-8.6", "longitude": "116.1", "city": "Mataram", "language": "zh",
                                                         "vulnerabilities": "pregnant"}, follow_redirects=True)
    assert good.status_code == 200 and "林 慧" in good.text and "Pregnant" in good.text
    history = client.get(str(good.url) + "?history=true")
    assert "Mataram" in history.text and "Location history" in history.text


def test_csv_upload_lists_row_errors_and_imports_nothing(officer_client: tuple[Any, str]) -> None:
    client, csrf = officer_client
    content = ("family_name,destination_country,arrival_on,phone,latitude,longitude\n"
               f"张,ID,{TODAY.isoformat()},+86 1,-8.6,116.1\n"
               f",ID,{TODAY.isoformat()},+86 1,-8.6,116.1\n").encode()
    response = client.post("/consular/registrations/import", data={"csrf_token": csrf}, files={"file": ("m.csv", content, "text/csv")})
    assert response.status_code == 422 and "line 3, column family_name" in response.text and "Nothing was imported" in response.text
    assert "Registrations: 3" in client.get("/consular/registrations").text


def test_help_request_form_and_actions(officer_client: tuple[Any, str]) -> None:
    client, csrf = officer_client
    created = client.post("/consular/requests", data={"csrf_token": csrf, "channel": "walk_in", "category": "lost_documents", "urgency": "high",
                                                      "country": "ID", "summary": "Passport stolen", "caller_name": "Tourist"}, follow_redirects=True)
    assert created.status_code == 200 and "Passport stolen" in created.text
    request_path = str(created.url).removeprefix("http://testserver")
    version = re.search(r'name="version" value="(\d+)"', created.text).group(1)  # type: ignore[union-attr]
    wrong = client.post(f"{request_path}/action", data={"csrf_token": csrf, "action": "resolve", "version": version, "outcome": "assisted"})
    assert wrong.status_code == 409 and "cannot go from received to resolved" in wrong.text
    ok = client.post(f"{request_path}/action", data={"csrf_token": csrf, "action": "triage", "version": version, "urgency": "critical"}, follow_redirects=True)
    assert "Triaged" in ok.text


def test_plan_preview_booking_and_check_in_through_the_pages(officer_client: tuple[Any, str]) -> None:
    client, csrf = officer_client
    with unit_of_work() as s:
        from passage.consular.schemas import AssemblyPointIn, CrisisIn, LegIn

        officer = user_named(s, "denpasar.officer")
        crisis = service.create_crisis(s, actor=officer, data=CrisisIn(name_en="Quake", name_zh="地震", crisis_type="earthquake", country="ID", starts_on=TODAY, area=SQUARE))
        service.add_assembly_point(s, actor=officer, crisis_id=crisis.id, data=AssemblyPointIn(code="A", name="Hall", latitude=-8.58, longitude=116.11, capacity=10))
        start = dt.datetime.combine(TODAY + dt.timedelta(days=1), dt.time(8), tzinfo=dt.UTC)
        leg = service.add_leg(s, actor=officer, crisis_id=crisis.id, data=LegIn(code="BUS1", mode="bus", origin_point="A", destination_name="Port",
                                                                                 departs_at=start, arrives_at=start + dt.timedelta(hours=1), seats=2))
        crisis_id, leg_id = crisis.id, leg.id
    preview = client.post(f"/consular/crises/{crisis_id}/plan", data={"csrf_token": csrf, "apply": "no"})
    assert "Plan preview (nothing booked): 2 of 3 people placed;" in preview.text
    booked = client.post(f"/consular/crises/{crisis_id}/plan", data={"csrf_token": csrf, "apply": "yes"})
    assert "2 seats booked." in booked.text
    manifest = client.get(f"/consular/crises/{crisis_id}/legs/{leg_id}")
    assert manifest.status_code == 200 and "王" in manifest.text and "priority" in manifest.text
    person = re.search(r'name="registration_id" value="([0-9a-f]+)"', manifest.text).group(1)  # type: ignore[union-attr]
    client.post(f"/consular/crises/{crisis_id}/legs/{leg_id}/check-in", data={"csrf_token": csrf, "registration_id": person, "event": "checked_in"})
    again = client.post(f"/consular/crises/{crisis_id}/legs/{leg_id}/check-in", data={"csrf_token": csrf, "registration_id": person, "event": "checked_in"})
    assert again.status_code == 409 and "already Checked in" in again.text  # the status's word, not its code
    assert 'data-metric="checked_in"><h3>Checked in</h3><p><strong>1<' in client.get(f"/consular/crises/{crisis_id}").text


def test_home_panel_and_navigation_for_consular_officers_only(officer_client: tuple[Any, str]) -> None:
    client, _csrf = officer_client
    home = client.get("/")
    assert "Consular protection" in home.text and "Open help requests" in home.text


def test_officer_builds_the_network_in_the_browser_forms(officer_client: tuple[Any, str]) -> None:
    client, csrf = officer_client
    with unit_of_work() as s:
        from passage.consular.schemas import CrisisIn

        crisis = service.create_crisis(s, actor=user_named(s, "denpasar.officer"), data=CrisisIn(
            name_en="Quake", name_zh="地震", crisis_type="earthquake", country="ID", starts_on=TODAY, area=SQUARE))
        crisis_id = crisis.id
    negative = client.post(f"/consular/crises/{crisis_id}/assembly-points", data={"csrf_token": csrf, "code": "A", "name": "Hall", "latitude": "-8.58",
                                                                                   "longitude": "116.11", "capacity": "-5"})
    assert negative.status_code == 422 and "capacity" in negative.text and "must not be negative" in negative.text
    client.post(f"/consular/crises/{crisis_id}/assembly-points", data={"csrf_token": csrf, "code": "A", "name": "Hall", "latitude": "-8.58",
                                                                       "longitude": "116.11", "capacity": "40"})
    backwards = client.post(f"/consular/crises/{crisis_id}/legs", data={"csrf_token": csrf, "code": "B1", "mode": "bus", "origin_point": "A", "destination_point": "",
                                                                        "destination_name": "Port", "departs_at": "2026-12-09T10:00", "arrives_at": "2026-12-09T08:00", "seats": "30"})
    assert backwards.status_code == 422 and "must be after departs_at" in backwards.text
    client.post(f"/consular/crises/{crisis_id}/legs", data={"csrf_token": csrf, "code": "B1", "mode": "bus", "origin_point": "A", "destination_point": "",
                                                            "destination_name": "Port", "departs_at": "2026-12-09T08:00", "arrives_at": "2026-12-09T10:00", "seats": "30"})
    page = client.get(f"/consular/crises/{crisis_id}").text
    shown = re.sub(r"<[^>]+>", "", page)  # numbers sit in nowrap spans
    assert "B1" in page and "0 / 30" in shown and "Hall" in page


def test_dashboard_fragment_is_polled_and_counts_follow(officer_client: tuple[Any, str]) -> None:
    client, _csrf = officer_client
    with unit_of_work() as s:
        from passage.consular.schemas import CrisisIn

        crisis = service.create_crisis(s, actor=user_named(s, "denpasar.officer"), data=CrisisIn(
            name_en="Quake", name_zh="地震", crisis_type="earthquake", country="ID", starts_on=TODAY, area=SQUARE))
        crisis_id = crisis.id
    page = client.get(f"/consular/crises/{crisis_id}").text
    assert f'hx-get="/consular/crises/{crisis_id}/dashboard"' in page
    fragment = client.get(f"/consular/crises/{crisis_id}/dashboard", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert 'data-metric="in_area"><h3>In the area</h3><p><strong>3<' in fragment.text
