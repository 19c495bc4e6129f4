"""The consular API through the real app: permissions per route, 422 with field paths, public advice, the gateway
pulling the outbox, the evacuation endpoints and statistics."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.conftest import api_headers
from tests.consular.conftest import SQUARE, TODAY, with_districts


@pytest.fixture
def client(app_client: Any) -> Any:
    with_districts()
    return app_client


def problem(response: Any) -> dict[str, Any]:
    """The error document of a 4xx answer (code, message, fields)."""
    data = response.json()
    return data.get("error", data)


def body(**extra: Any) -> dict[str, Any]:
    document = {
        "identity": {"family_name": "王", "given_name": "芳", "sex": "F", "birth_date": "1990-05-17", "passport_number": "E1"},
        "contact": {"phone": "+86 139"}, "destination_country": "ID", "arrival_on": (TODAY - dt.timedelta(days=1)).isoformat(),
        "location": {"latitude": -8.58, "longitude": 116.11, "city": "Mataram"}, "source": "app",
    }
    document.update(extra)
    return document


def test_registration_round_trip_scope_and_validation(client: Any) -> None:
    gateway = api_headers(client, "consular.gateway")
    created = client.post("/api/v1/consular/registrations", json=body(vulnerabilities=["medical"]), headers=gateway)
    assert created.status_code == 201, created.text
    registration_id = created.json()["id"]
    assert created.json()["priority_tier"] == 0
    assert client.get(f"/api/v1/consular/registrations/{registration_id}", headers=gateway).status_code == 403  # a gateway reads nothing
    denpasar = api_headers(client, "denpasar.officer")
    read = client.get(f"/api/v1/consular/registrations/{registration_id}", headers=denpasar).json()
    assert read["identity"]["family_name"] == "王" and read["vulnerabilities"] == ["medical"]
    assert client.get(f"/api/v1/consular/registrations/{registration_id}", headers=api_headers(client, "jakarta.officer")).status_code == 404
    bad = client.post("/api/v1/consular/registrations", json=body(location={"latitude": 95, "longitude": 116.11}, departure_on="2000-01-01",
                                                                  vulnerabilities=["wizard"]), headers=gateway)
    assert bad.status_code == 422
    paths = {f["path"] for f in problem(bad)["fields"]}
    assert any("location" in p and "latitude" in p for p in paths) and any("vulnerabilities" in p for p in paths)
    assert "王" not in bad.text
    unknown = client.post("/api/v1/consular/registrations", json=body(destination_country="FR"), headers=gateway)
    assert unknown.status_code == 422 and problem(unknown)["fields"][0]["path"] == "destination_country"


def test_advice_is_public_and_publishing_needs_the_centre(client: Any) -> None:
    advice = {"country": "ID", "level": 3, "title_en": "Reconsider travel", "title_zh": "谨慎前往", "body_en": "b", "body_zh": "正文",
              "effective_from": TODAY.isoformat()}
    assert client.post("/api/v1/consular/advice", json=advice, headers=api_headers(client, "denpasar.officer")).status_code == 403
    assert client.post("/api/v1/consular/advice", json=advice, headers=api_headers(client, "consular.centre")).status_code == 201
    public = client.get("/api/v1/consular/advice/ID")
    assert public.status_code == 200 and public.json()["title_zh"] == "谨慎前往" and public.json()["version"] == 1
    assert client.get("/api/v1/consular/advice/id").status_code == 422
    assert client.get("/api/v1/consular/advice/FR").status_code == 404


def test_crisis_messages_and_the_gateway_outbox(client: Any) -> None:
    gateway, centre = api_headers(client, "consular.gateway"), api_headers(client, "consular.centre")
    client.post("/api/v1/consular/registrations", json=body(language="en"), headers=gateway)
    unclosed = {"type": "Polygon", "coordinates": [SQUARE["coordinates"][0][:-1]]}
    crisis = {"name_en": "Quake", "name_zh": "地震", "crisis_type": "earthquake", "country": "ID", "starts_on": TODAY.isoformat()}
    refused = client.post("/api/v1/consular/crises", json={**crisis, "area": unclosed}, headers=centre)
    assert refused.status_code == 422 and problem(refused)["detail"] == "the polygon does not close"
    created = client.post("/api/v1/consular/crises", json={**crisis, "area": SQUARE}, headers=centre)
    assert created.status_code == 201
    crisis_id = created.json()["id"]
    people = client.get(f"/api/v1/consular/crises/{crisis_id}/people", headers=centre).json()
    assert people["total"] == 1 and people["by_status"]["not_contacted"] == 1
    batch = client.post(f"/api/v1/consular/crises/{crisis_id}/messages", json={"kind": "alert"}, headers=centre)
    assert batch.status_code == 201 and batch.json()["by_language"] == {"en": 1}
    assert client.get("/api/v1/consular/outbox", headers=centre).status_code == 403
    pulled = client.get("/api/v1/consular/outbox?after=0&limit=10", headers=gateway).json()
    assert len(pulled["items"]) == 1 and pulled["items"][0]["recipient"] == "+86 139"
    assert client.get(f"/api/v1/consular/outbox?after={pulled['next_cursor']}", headers=gateway).json()["items"] == []
    assert client.post("/api/v1/consular/outbox/report", json={"ids": [pulled["items"][0]["id"]], "status": "sent"}, headers=gateway).json() == {"updated": 1}


def test_evacuation_endpoints_and_bad_network_input(client: Any) -> None:
    centre = api_headers(client, "consular.centre")
    for _ in range(3):
        client.post("/api/v1/consular/registrations", json=body(), headers=api_headers(client, "consular.gateway"))
    crisis_id = client.post("/api/v1/consular/crises", json={"name_en": "Q", "name_zh": "震", "crisis_type": "earthquake", "country": "ID",
                                                             "starts_on": TODAY.isoformat(), "area": SQUARE}, headers=centre).json()["id"]
    negative = client.post(f"/api/v1/consular/crises/{crisis_id}/assembly-points", json={"code": "A", "name": "A", "latitude": -8.58, "longitude": 116.11, "capacity": -1}, headers=centre)
    assert negative.status_code == 422 and problem(negative)["fields"][0]["path"] == "capacity"
    assert client.post(f"/api/v1/consular/crises/{crisis_id}/assembly-points", json={"code": "A", "name": "A", "latitude": -8.58, "longitude": 116.11, "capacity": 50}, headers=centre).status_code == 201
    start = dt.datetime.combine(TODAY + dt.timedelta(days=1), dt.time(8), tzinfo=dt.UTC)
    leg = client.post(f"/api/v1/consular/crises/{crisis_id}/legs", json={"code": "B1", "mode": "bus", "origin_point": "A", "destination_name": "Port",
                                                                          "departs_at": start.isoformat(), "arrives_at": (start + dt.timedelta(hours=2)).isoformat(), "seats": 2}, headers=centre)
    assert leg.status_code == 201, leg.text
    plan = client.post(f"/api/v1/consular/crises/{crisis_id}/evacuation/plan", json={"nearest_points": 1}, headers=centre).json()
    assert plan["summary"]["placed"] == 2 and plan["summary"]["unplaced"] == 1
    assert client.post(f"/api/v1/consular/crises/{crisis_id}/evacuation/apply", json=plan, headers=centre).json() == {"seats_booked": 2}
    assert client.post(f"/api/v1/consular/crises/{crisis_id}/evacuation/apply", json=plan, headers=centre).status_code == 409
    board = client.get(f"/api/v1/consular/crises/{crisis_id}/dashboard", headers=centre).json()
    assert board["planned"] == 2 and board["legs"][0]["seats_taken"] == 2
    manifest = client.get(f"/api/v1/consular/crises/{crisis_id}/legs/{leg.json()['id']}/manifest", headers=centre).json()
    assert [p["seat"] for p in manifest["passengers"]] == [1, 2]
    assert client.get(f"/api/v1/consular/crises/{crisis_id}/dashboard", headers=api_headers(client, "analyst")).status_code == 403
    assert client.get("/api/v1/consular/statistics?by=crisis", headers=centre).status_code == 200
