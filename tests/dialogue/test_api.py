"""The Dialogue API end to end on the migrated store: seeds through the API, contacts, bad input, concurrency, reports."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from passage.core.db import unit_of_work
from passage.security.models import AuditEntry
from tests.conftest import api_headers
from tests.dialogue.test_demo import load_demo

API = "/api/v1/dialogue"
W2015 = "2015-11-return-readmission-workshop"
S2018 = "2018-02-mixed-migration-seminar"


@pytest.fixture()
def seeded_client(app_client: Any) -> Any:
    load_demo()
    return app_client


def _event_id(client: Any, headers: dict[str, str], key: str) -> str:
    page = client.get(f"{API}/events", headers=headers, params={"limit": 200}).json()
    return next(e["id"] for e in page["items"] if e["key"] == key)


def test_calendar_window_and_seed_counts_through_the_api(seeded_client: Any) -> None:
    headers = api_headers(seeded_client, "analyst")
    window = seeded_client.get(f"{API}/events", headers=headers, params={"start": "2018-02-01", "end": "2018-02-28"}).json()
    assert [e["key"] for e in window["items"]] == [S2018] and window["total"] == 1
    detail = seeded_client.get(f"{API}/events/{_event_id(seeded_client, headers, W2015)}", headers=headers).json()
    attendance = detail["attendance"]
    assert attendance["total"] == 55
    assert len(attendance["provinces"]) == 14 and len(attendance["member_states"]) == 2 and len(attendance["embassies"]) == 7
    assert detail["flags"] == []
    assert sum(len(x["observations"]) for x in detail["sessions"]) == 46


def test_the_three_contradictions_of_seed_004_through_the_api(seeded_client: Any) -> None:
    headers = api_headers(seeded_client, "analyst")
    flags = seeded_client.get(f"{API}/events/{_event_id(seeded_client, headers, S2018)}/checks", headers=headers).json()
    assert sorted((f["code"], f["stated"], f["found"]) for f in flags) == [
        ("evaluation_outside_event", "2018-02-08", "2018-02-06/2018-02-07"),
        ("stated_count_vs_named", 6, 5),
        ("stated_total_vs_parts", 26, 27),
    ]


def test_annex_i_tables_from_raw_responses_through_the_api(seeded_client: Any) -> None:
    headers = api_headers(seeded_client, "iom.caseworker")
    seminar = seeded_client.get(f"{API}/events/{_event_id(seeded_client, headers, S2018)}", headers=headers).json()
    annex = seeded_client.get(f"{API}/evaluations/{seminar['evaluation_ids'][0]}", headers=headers).json()["annex"]
    assert annex["sample_size"] == 21
    first = annex["questions"][0]
    assert [(r["value"], r["count"], r["percent"]) for r in first["rows"]] == [(3, 1, "4.8"), (4, 6, "28.6"), (5, 14, "66.7")]
    assert [q["average"] for q in annex["questions"]] == ["4.6", "4.4", "4.7", "4.8", "4.7", "4.7", "4.7", "4.5", "4.7", "4.5", "4.4", "4.0"]
    # and a new questionnaire posted as raw responses answers with its own tables
    raw = [{"q1": 5}] * 14 + [{"q1": 4}] * 6 + [{"q1": 3}]
    posted = seeded_client.post(f"{API}/events/{seminar['event']['id']}/evaluations", headers=headers, json={
        "activity_en": "Seminar", "dated": "2018-02-07", "questions": [{"key": "q1", "text_en": "Useful"}], "responses": raw})
    assert posted.status_code == 201, posted.text
    assert posted.json()["annex"]["questions"][0]["average"] == "4.6"


def _new_event(client: Any, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    body = {"title_en": "Study visit on readmission", "event_type": "study_visit", "start_date": "2026-05-04", "end_date": "2026-05-06",
            "venue_en": "The Hague", "project_en": "EU-China Dialogue", **extra}
    response = client.post(f"{API}/events", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_bad_input_is_422_with_field_paths(seeded_client: Any) -> None:
    headers = api_headers(seeded_client, "iom.caseworker")
    bad_type = seeded_client.post(f"{API}/institutions", headers=headers, json={"name_en": "X", "institution_type": "ngo", "country": "CN"})
    assert bad_type.status_code == 422 and [f["path"] for f in bad_type.json()["fields"]] == ["institution_type"]
    backwards = seeded_client.post(f"{API}/events", headers=headers, json={
        "title_en": "T", "event_type": "seminar", "start_date": "2026-05-06", "end_date": "2026-05-04", "venue_en": "V", "project_en": "P"})
    assert backwards.status_code == 422 and [f["path"] for f in backwards.json()["fields"]] == ["end_date"]
    event = _new_event(seeded_client, headers)
    rec = seeded_client.post(f"{API}/events/{event['id']}/outcomes", headers=headers, json={"kind": "recommendation", "text_en": "Establish a network of ILOs"}).json()
    no_owner = seeded_client.post(f"{API}/outcomes/{rec['id']}/follow-ups", headers=headers, json={"title": "ILO network", "due_date": "2027-01-01"})
    assert no_owner.status_code == 422 and [f["path"] for f in no_owner.json()["fields"]] == ["owner_institution_id"]
    owner = seeded_client.get(f"{API}/institutions", headers=headers, params={"q": "IOM Liaison Office in China"}).json()["items"][0]["id"]
    early = seeded_client.post(f"{API}/outcomes/{rec['id']}/follow-ups", headers=headers, json={"title": "ILO network", "owner_institution_id": owner, "due_date": "2026-05-01"})
    assert early.status_code == 422 and [f["path"] for f in early.json()["fields"]] == ["due_date"]
    ok = seeded_client.post(f"{API}/outcomes/{rec['id']}/follow-ups", headers=headers, json={"title": "ILO network", "owner_institution_id": owner, "due_date": "2026-12-31"})
    assert ok.status_code == 201, ok.text


def test_stale_event_update_is_409_and_managers_only(seeded_client: Any) -> None:
    headers = api_headers(seeded_client, "iom.caseworker")
    event = _new_event(seeded_client, headers)
    body = {k: event[k] for k in ("title_en", "event_type", "start_date", "end_date", "venue_en", "project_en")}
    first = seeded_client.put(f"{API}/events/{event['id']}", headers=headers, json={**body, "title_en": "Renamed", "version": event["version"]})
    assert first.status_code == 200 and first.json()["version"] == event["version"] + 1
    stale = seeded_client.put(f"{API}/events/{event['id']}", headers=headers, json={**body, "title_en": "Lost update", "version": event["version"]})
    assert stale.status_code == 409
    reader = api_headers(seeded_client, "nl.officer")
    assert seeded_client.post(f"{API}/events", headers=reader, json=body).status_code == 403
    assert seeded_client.get(f"{API}/events/{event['id']}", headers=reader).json()["event"]["title_en"] == "Renamed"


def test_contacts_only_for_organisers_with_consent_and_audited(seeded_client: Any) -> None:
    caseworker = api_headers(seeded_client, "iom.caseworker")
    institutions = {i["name_en"]: i["id"] for i in seeded_client.get(f"{API}/institutions", headers=caseworker, params={"limit": 500}).json()["items"]}
    iom = next(v for k, v in institutions.items() if k.startswith("IOM") and "China" in k)
    mps = next(v for k, v in institutions.items() if k.startswith("Bureau of Exit and Entry"))
    ours = _new_event(seeded_client, caseworker, organiser_institution_ids=[iom])
    theirs = _new_event(seeded_client, caseworker, organiser_institution_ids=[mps])
    person = {"name": "Test Person", "institution_id": mps, "contact": {"email": "person@example.org", "consent_given": True, "consent_date": "2026-04-01"}}
    shy = {"name": "Shy Person", "institution_id": mps, "contact": {"email": "shy@example.org", "consent_given": False}}
    for event in (ours, theirs):
        for body in (person, shy):
            created = seeded_client.post(f"{API}/events/{event['id']}/participants", headers=caseworker, json=body)
            assert created.status_code == 201 and "contact" not in created.text.replace('"contact":null', "")
    listed = {p["name"]: p["contact"] for p in seeded_client.get(f"{API}/events/{ours['id']}/participants", headers=caseworker).json()}
    assert listed == {"Shy Person": None, "Test Person": {"email": "person@example.org", "phone": None}}
    with unit_of_work() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "dialogue_participant_contact")).one()
        assert entry.action == "read" and entry.entity_id == ours["id"] and "person@example.org" not in str(entry.details)
    # not an organiser of the other event: no contact data, and nothing audited as disclosed
    assert all(p["contact"] is None for p in seeded_client.get(f"{API}/events/{theirs['id']}/participants", headers=caseworker).json())
    # a reader without the contacts permission sees names only
    reader = api_headers(seeded_client, "mps.central")
    assert all(p["contact"] is None for p in seeded_client.get(f"{API}/events/{ours['id']}/participants", headers=reader).json())
    with unit_of_work() as session:
        assert len(session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "dialogue_participant_contact")).all()) == 1


def test_directory_lists_consenting_entries_only(seeded_client: Any) -> None:
    entries = seeded_client.get(f"{API}/focal-points", headers=api_headers(seeded_client, "fj.officer")).json()
    assert sorted(e["name"] for e in entries) == ["Demo Focal Point (IOM China)", "Demo Liaison Officer (MPS)"]


def test_tracker_links_the_2015_follow_up_to_the_2018_seminar(seeded_client: Any) -> None:
    headers = api_headers(seeded_client, "analyst")
    groups = seeded_client.get(f"{API}/tracker", headers=headers, params={"as_of": "2026-01-01"}).json()
    acted = [g for g in groups if g["status"] == "acted_on"]
    assert len(acted) == 1
    seminar = _event_id(seeded_client, headers, S2018)
    assert acted[0]["links"][0]["linked_type"] == "dialogue.event" and acted[0]["links"][0]["href"] == f"/dialogue/events/{seminar}"


def test_report_html_in_chinese_and_refusals(seeded_client: Any) -> None:
    headers = api_headers(seeded_client, "analyst")
    event_id = _event_id(seeded_client, headers, W2015)
    html = seeded_client.get(f"{API}/events/{event_id}/report", headers=headers, params={"lang": "zh", "format": "html"})
    assert html.status_code == 200 and "共有55名与会者" in html.text
    assert seeded_client.get(f"{API}/events/{event_id}/report", headers=headers, params={"lang": "fr"}).status_code == 422
    assert seeded_client.get(f"{API}/events/missing/report", headers=headers).status_code == 404
    assert seeded_client.get(f"{API}/events").status_code == 401


@pytest.mark.slow
def test_report_pdf(seeded_client: Any) -> None:
    headers = api_headers(seeded_client, "analyst")
    pdf = seeded_client.get(f"{API}/events/{_event_id(seeded_client, headers, S2018)}/report", headers=headers, params={"lang": "en", "format": "pdf"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")


def test_published_text_in_both_languages_through_the_api(seeded_client: Any) -> None:
    headers = api_headers(seeded_client, "iom.caseworker")
    body = {"title_en": "Study visit on identification", "event_type": "study_visit", "start_date": "2026-09-14", "end_date": "2026-09-16",
            "venue_en": "Madrid", "project_en": "EU-China Dialogue on Migration and Mobility Support Project",
            "translations": {"title": {"zh_Hans": "身份识别考察访问"}, "venue": {"zh_Hans": "马德里"}}}
    created = seeded_client.post(f"{API}/events", headers=headers, json=body)
    assert created.status_code == 201, created.text
    event = created.json()
    assert event["title_en"] == "Study visit on identification" and event["translations"]["title"] == {"zh_Hans": "身份识别考察访问"}
    # a field that is not published text, or a language that is not an interface language, is refused at its path
    wrong = seeded_client.post(f"{API}/events", headers=headers, json={**body, "translations": {"headcount": {"zh_Hans": "十"}}})
    assert wrong.status_code == 422 and wrong.json()["fields"][0]["path"] == "translations"
    german = seeded_client.post(f"{API}/events", headers=headers, json={**body, "translations": {"title": {"de": "Studienreise"}}})
    assert german.status_code == 422
    # the refusal reads in the request's language
    chinese = seeded_client.post(f"{API}/events", headers={**headers, "accept-language": "zh-CN"}, json={**body, "end_date": "2026-09-01"})
    assert chinese.status_code == 422
    assert [(f["path"], f["message"]) for f in chinese.json()["fields"]] == [("end_date", "结束日期早于开始日期")]
    session = seeded_client.post(f"{API}/events/{event['id']}/sessions", headers=headers, json={
        "number": 1, "title_en": "Procedures", "kind": "presentation", "translations": {"title": {"zh_Hans": "程序"}},
        "observations_en": ["Identification takes long", "Liaison officers help"], "observations_zh": ["身份识别耗时较长", None]})
    assert session.status_code == 201, session.text
    observations = session.json()["observations"]
    assert observations[0]["translations"] == {"text": {"zh_Hans": "身份识别耗时较长"}} and observations[1]["translations"] == {}
    # the report follows the request's language when none is asked for
    report = seeded_client.get(f"{API}/events/{event['id']}/report", headers={**headers, "accept-language": "zh-CN"}, params={"format": "html"})
    assert '<html lang="zh-Hans">' in report.text and "身份识别考察访问" in report.text
    assert "<li>第1场，要点2：正文</li>" in report.text  # the observation without Chinese is listed at the end
