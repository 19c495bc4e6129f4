"""The readmission API end to end on the real migrations: the whole flow, the permission matrix,
concurrent officers, uploads, statistics and agreements."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from passage.core.db import unit_of_work
from passage.readmission.demo import _DEMO_PDF, _DEMO_PNG
from passage.security.models import AuditEntry, Organisation
from tests.conftest import api_headers

USERS = ("nl.officer", "fr.officer", "mps.central", "fj.officer", "zj.officer", "gd.officer", "iom.caseworker", "analyst", "admin")
APPLICATION = {
    "surname": "LIN", "given_names": "Xiaoling", "date_of_birth": "1990-04-02", "place_of_birth": "Fuqing", "sex": "F", "nationality": "CHN",
    "father_name": "Lin Guoqiang", "mother_name": "Chen Fang", "languages": ["zh-min-nan", "zh"], "civil_status": "single",
    "last_addresses_in_requested_state": ["Fuqing, Fujian"], "physical_description": "height 1.60 m", "special_needs": "none",
}


class _Headers(dict[str, dict[str, str]]):
    """Bearer headers signed in on first use (each sign-in costs an Argon2 hash)."""

    def __init__(self, client: Any) -> None:
        super().__init__()
        self.client = client

    def __missing__(self, username: str) -> dict[str, str]:
        self[username] = api_headers(self.client, username)
        return self[username]


@pytest.fixture
def headers(app_client: Any) -> dict[str, dict[str, str]]:
    return _Headers(app_client)


def org_id(name_part: str) -> str:
    with unit_of_work() as s:
        return next(o.id for o in s.scalars(select(Organisation)) if name_part in o.name)


def new_case(client: Any, h: dict[str, str], **extra: Any) -> dict[str, Any]:
    response = client.post("/api/v1/readmission/cases", json={"agreement_id": "eu-china-draft", "application": APPLICATION, "aliases_none": True, **extra}, headers=h)
    assert response.status_code == 201, response.text
    return response.json()


def complete_case(client: Any, h: dict[str, str], **extra: Any) -> dict[str, Any]:
    case = new_case(client, h, **extra)
    upload = client.post(f"/api/v1/readmission/cases/{case['id']}/evidence", data={"evidence_type": "passport", "version": case["version"]}, files={"file": ("p.pdf", _DEMO_PDF, "application/pdf")}, headers=h)
    assert upload.status_code == 201, upload.text
    photo = client.post(f"/api/v1/readmission/cases/{case['id']}/photo", data={"version": case["version"] + 1}, files={"file": ("p.png", _DEMO_PNG, "image/png")}, headers=h)
    assert photo.status_code == 200, photo.text
    return client.get(f"/api/v1/readmission/cases/{case['id']}", headers=h).json()


def act(client: Any, h: dict[str, str], case: dict[str, Any], action: str, **payload: Any) -> Any:
    return client.post(f"/api/v1/readmission/cases/{case['id']}/transitions", json={"action": action, "version": case["version"], "payload": payload}, headers=h)


def step(client: Any, h: dict[str, str], case: dict[str, Any], action: str, **payload: Any) -> dict[str, Any]:
    response = act(client, h, case, action, **payload)
    assert response.status_code == 200, (action, response.text)
    return response.json()


def test_case_from_draft_to_transferred_with_audit_and_deadlines(app_client: Any, headers: dict[str, dict[str, str]]) -> None:
    c, nl, mps, fj = app_client, headers["nl.officer"], headers["mps.central"], headers["fj.officer"]
    case = complete_case(c, nl)
    assert case["missing_application_data"] == []
    case = step(c, nl, case, "submit")
    assert case["share_log"][0]["direction"] == "sent" and "surname" in case["share_log"][0]["fields"]
    case = step(c, mps, case, "acknowledge")
    reply = next(d for d in case["deadlines"] if d["kind"] == "reply_due")
    assert reply["verified"] is False and reply["days_left"] > 0  # the draft arrangement's figures are unverified
    case = step(c, mps, case, "route", province_org_id=org_id("Fujian"))
    assert case["province"] == "CN-FJ"
    assert c.get(f"/api/v1/readmission/cases/{case['id']}", headers=headers["zj.officer"]).status_code == 404
    case = step(c, fj, case, "verify_identity", method="interview")
    case = step(c, mps, case, "accept")
    assert [d["kind"] for d in case["deadlines"]] and all(d["kind"] != "reply_due" for d in case["deadlines"])
    case = step(c, mps, case, "issue_travel_document", document_number="LXZ123456")
    case = step(c, nl, case, "schedule_transfer", transfer_date=(dt.date.today() + dt.timedelta(days=10)).isoformat(), place_kind="airport", place_code="FOC", flight="MU772")
    case = step(c, nl, case, "confirm_transfer")
    assert case["state"] == "transferred" and case["deadlines"] == [] and case["dates"]["closed_on"]
    with unit_of_work() as s:
        actions = [e.action for e in s.scalars(select(AuditEntry).where(AuditEntry.entity_id == case["id"]).order_by(AuditEntry.sequence))]
    for expected in ("readmission.create", "readmission.upload_evidence", "readmission.submit", "readmission.route", "readmission.verify_identity", "readmission.confirm_transfer", "read"):
        assert expected in actions


def test_incomplete_submission_lists_missing_fields(app_client: Any, headers: dict[str, dict[str, str]]) -> None:
    case = new_case(app_client, headers["nl.officer"])
    response = act(app_client, headers["nl.officer"], case, "submit")
    assert response.status_code == 422
    paths = {f["path"] for f in response.json()["fields"]}
    assert paths == {"evidence", "photo"}
    assert "LIN" not in response.text  # errors never carry personal values


def test_illegal_transition_is_409_with_allowed_list_and_wrong_role_403_audited(app_client: Any, headers: dict[str, dict[str, str]]) -> None:
    case = step(app_client, headers["nl.officer"], complete_case(app_client, headers["nl.officer"]), "submit")
    illegal = act(app_client, headers["mps.central"], case, "accept")
    assert illegal.status_code == 409 and set(illegal.json()["allowed_transitions"]) == {"acknowledge", "withdraw"}
    wrong = act(app_client, headers["nl.officer"], case, "acknowledge")
    assert wrong.status_code == 403
    with unit_of_work() as s:
        refused = s.scalars(select(AuditEntry).where(AuditEntry.outcome == "refused", AuditEntry.entity_id == case["id"])).all()
    assert [r.details["operation"] for r in refused] == ["acknowledge"]


def test_two_officers_at_once_one_gets_409_and_nothing_is_lost(app_client: Any, headers: dict[str, dict[str, str]]) -> None:
    case = new_case(app_client, headers["nl.officer"])
    first = app_client.patch(f"/api/v1/readmission/cases/{case['id']}", json={"version": case["version"], "application": {"civil_status": "married"}}, headers=headers["nl.officer"])
    second = app_client.patch(f"/api/v1/readmission/cases/{case['id']}", json={"version": case["version"], "application": {"place_of_birth": "Changle"}}, headers=headers["nl.officer"])
    assert (first.status_code, second.status_code) == (200, 409)
    assert second.json()["current_version"] == case["version"] + 1
    final = app_client.get(f"/api/v1/readmission/cases/{case['id']}", headers=headers["nl.officer"]).json()
    assert final["application"]["civil_status"] == "married" and final["application"]["place_of_birth"] == "Fuqing"
    retry = app_client.patch(f"/api/v1/readmission/cases/{case['id']}", json={"version": final["version"], "application": {"place_of_birth": "Changle"}}, headers=headers["nl.officer"])
    assert retry.status_code == 200 and retry.json()["application"]["civil_status"] == "married"


def test_uploads_413_415_and_download_round_trip(app_client: Any, headers: dict[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    nl = headers["nl.officer"]
    case = new_case(app_client, nl)
    url = f"/api/v1/readmission/cases/{case['id']}/evidence"
    exe = app_client.post(url, data={"evidence_type": "passport", "version": case["version"]}, files={"file": ("p.pdf", b"MZ\x90\x00binary", "application/pdf")}, headers=nl)
    assert exe.status_code == 415
    lying = app_client.post(url, data={"evidence_type": "passport", "version": case["version"]}, files={"file": ("p.pdf", _DEMO_PNG, "application/pdf")}, headers=nl)
    assert lying.status_code == 415
    monkeypatch.setenv("PASSAGE_MAX_UPLOAD_BYTES", "64")
    from passage.core.settings import reset_settings_cache

    reset_settings_cache()
    big = app_client.post(url, data={"evidence_type": "passport", "version": case["version"]}, files={"file": ("p.pdf", _DEMO_PDF + b"x" * 100, "application/pdf")}, headers=nl)
    assert big.status_code == 413
    monkeypatch.delenv("PASSAGE_MAX_UPLOAD_BYTES")
    reset_settings_cache()
    unknown = app_client.post(url, data={"evidence_type": "horoscope", "version": case["version"]}, files={"file": ("p.pdf", _DEMO_PDF, "application/pdf")}, headers=nl)
    assert unknown.status_code == 422 and unknown.json()["fields"][0]["path"] == "evidence_type"
    ok = app_client.post(url, data={"evidence_type": "hukou_extract", "version": case["version"]}, files={"file": ("p.pdf", _DEMO_PDF, "application/pdf")}, headers=nl)
    assert ok.status_code == 201 and ok.json()["category"]
    download = app_client.get(f"{url}/{ok.json()['id']}", headers=nl)
    assert download.status_code == 200 and download.content == _DEMO_PDF
    assert app_client.get(f"{url}/{ok.json()['id']}", headers=headers["fr.officer"]).status_code == 404


def test_hold_blocks_scheduling_until_lifted(app_client: Any, headers: dict[str, dict[str, str]]) -> None:
    c, nl, mps, fj = app_client, headers["nl.officer"], headers["mps.central"], headers["fj.officer"]
    case = step(c, nl, complete_case(c, nl), "submit")
    case = step(c, mps, case, "acknowledge")
    case = step(c, mps, case, "route", province_org_id=org_id("Fujian"))
    case = step(c, fj, case, "verify_identity", method="registry_match")
    case = step(c, mps, case, "accept")
    case = step(c, mps, case, "issue_travel_document", document_number="LXZ654321")
    hold = c.post(f"/api/v1/readmission/cases/{case['id']}/holds", json={"version": case["version"], "kind": "pending_asylum_claim", "reason": "claim lodged"}, headers=nl)
    assert hold.status_code == 201
    case = c.get(f"/api/v1/readmission/cases/{case['id']}", headers=nl).json()
    when = (dt.date.today() + dt.timedelta(days=5)).isoformat()
    blocked = act(c, nl, case, "schedule_transfer", transfer_date=when, place_kind="airport", place_code="FOC", flight="MU1")
    assert blocked.status_code == 409 and blocked.json()["active_holds"] == ["pending_asylum_claim"]
    seen_by_central = c.get(f"/api/v1/readmission/cases/{case['id']}", headers=mps).json()
    assert seen_by_central["holds"][0]["reason"] == "withheld"  # asylum details need the asylum permission
    lift = c.post(f"/api/v1/readmission/cases/{case['id']}/holds/{hold.json()['id']}/lift", json={"version": case["version"], "reason": "claim rejected, appeal period over"}, headers=nl)
    assert lift.status_code == 200
    case = c.get(f"/api/v1/readmission/cases/{case['id']}", headers=nl).json()
    case = step(c, nl, case, "schedule_transfer", transfer_date=when, place_kind="airport", place_code="FOC", flight="MU1", escorts=2)
    assert case["state"] == "transfer_scheduled" and case["transfer"]["escorts"] == [{"count": 2}]
    # the API's escort count follows the form's rule (core.inputs.whole_number, at most MAX_ESCORTS): refused by
    # field, nothing changed; before, a value that was not an int was dropped without a word
    for bad in ("two", 21, -1, True, 2.5):
        refused = act(c, nl, case, "reschedule_transfer", transfer_date=when, place_kind="airport", place_code="FOC", flight="MU1", escorts=bad)
        assert refused.status_code == 422 and [f["path"] for f in refused.json()["fields"]] == ["escorts"], (bad, refused.text)
    assert c.get(f"/api/v1/readmission/cases/{case['id']}", headers=nl).json()["version"] == case["version"]


def test_inbox_filters_search_sort_and_flags(app_client: Any, headers: dict[str, dict[str, str]]) -> None:
    nl, mps = headers["nl.officer"], headers["mps.central"]
    draft = new_case(app_client, nl)
    submitted = step(app_client, nl, complete_case(app_client, nl, confirm_not_duplicate=True), "submit")  # the same person on purpose
    step(app_client, mps, submitted, "acknowledge")
    fr_case = new_case(app_client, headers["fr.officer"])
    mine = app_client.get("/api/v1/readmission/cases", headers=nl).json()
    assert mine["total"] == 2 and fr_case["id"] not in {i["id"] for i in mine["items"]}
    central = app_client.get("/api/v1/readmission/cases", headers=mps).json()
    assert [i["id"] for i in central["items"]] == [submitted["id"]]  # drafts stay with the requesting state
    assert central["items"][0]["next_due_kind"] == "reply_due" and central["items"][0]["overdue"] is False
    found = app_client.get("/api/v1/readmission/cases", params={"q": draft["reference"][-6:].lower()}, headers=nl).json()
    assert [i["id"] for i in found["items"]] == [draft["id"]]
    by_state = app_client.get("/api/v1/readmission/cases", params={"state": "draft"}, headers=nl).json()
    assert by_state["total"] == 1
    ordered = app_client.get("/api/v1/readmission/cases", params={"sort": "reference", "limit": 1}, headers=nl).json()
    assert ordered["total"] == 2 and ordered["items"][0]["reference"] == min(draft["reference"], submitted["reference"])
    assert app_client.get("/api/v1/readmission/cases", params={"sort": "surname"}, headers=nl).status_code == 422
    assert app_client.get("/api/v1/readmission/cases", params={"due": "soon"}, headers=mps).json()["total"] == 0


def test_statistics_json_and_csv_with_redaction_for_analysts(app_client: Any, headers: dict[str, dict[str, str]]) -> None:
    nl, mps = headers["nl.officer"], headers["mps.central"]
    case = step(app_client, nl, complete_case(app_client, nl), "submit")
    case = step(app_client, mps, case, "acknowledge")
    step(app_client, mps, case, "refuse", reason="not_a_national")
    body = app_client.get("/api/v1/readmission/statistics", params={"group_by": ["requesting_state"], "granularity": "year"}, headers=nl).json()
    [row, total] = body["rows"]
    assert total["total"] is True and total["group"] == {"requesting_state": "(all)"} and total["applications"] == 1
    assert row["scope"] == "own" and row["withheld"] == [] and row["total"] is False
    assert row["group"] == {"requesting_state": "NL"} and row["refusals_by_reason"] == {"not_a_national": 1} and row["applications"] == 1
    csv_text = app_client.get("/api/v1/readmission/statistics", params={"group_by": ["requesting_state"], "format": "csv"}, headers=nl).text
    # the CSV is for people: headers and codes in words, in the request's language
    assert csv_text.splitlines()[0].startswith("Scope,Requesting state,Applications") and "cases you can open,NL,1" in csv_text
    assert "Not a national=1" in csv_text and "not_a_national" not in csv_text
    chinese_csv = app_client.get("/api/v1/readmission/statistics", params={"group_by": ["requesting_state"], "format": "csv"},
                                 headers={**nl, "accept-language": "zh-CN"}).text
    assert chinese_csv.splitlines()[0].startswith("范围,请求国,申请数") and "您可查看的案件,NL,1" in chinese_csv
    # the analyst opens no case: the one case is someone else's, a count of 1 is withheld, and so is every figure that would reveal it
    analyst = app_client.get("/api/v1/readmission/statistics", params={"group_by": ["requesting_state"]}, headers=headers["analyst"]).json()
    [other, other_total] = analyst["rows"]
    assert other_total["total"] is True and other_total["applications"] is None  # a total of 1 is withheld too
    assert other["scope"] == "others" and other["redacted"] is True and other["applications"] is None
    assert other["refusals_by_reason"] == {"not_a_national": None} and other["outcomes"] == {"refused": None}
    analyst_csv = app_client.get("/api/v1/readmission/statistics", params={"group_by": ["requesting_state"], "format": "csv"}, headers=headers["analyst"]).text
    assert analyst_csv.splitlines()[1].startswith("other cases (disclosure-controlled),NL,,") and "Not a national=," in analyst_csv and ",1," not in analyst_csv


def test_agreements_list_show_create_and_version(app_client: Any, headers: dict[str, dict[str, str]]) -> None:
    listed = app_client.get("/api/v1/readmission/agreements", headers=headers["analyst"]).json()
    assert {"russia-style", "eu-china-draft", "transit-template"} <= {a["id"] for a in listed}
    shown = app_client.get("/api/v1/readmission/agreements/eu-china-draft", headers=headers["nl.officer"]).json()
    assert shown["unverified_figures"]
    from passage.readmission.agreements import get_preset

    data = get_preset("eu-pakistan").model_dump(mode="json")
    data["id"], data["editable"] = "nl-cn-bilateral", True
    assert app_client.post("/api/v1/readmission/agreements", json=data, headers=headers["nl.officer"]).status_code == 403
    created = app_client.post("/api/v1/readmission/agreements", json=data, headers=headers["admin"])
    assert created.status_code == 201, created.text
    v2 = dict(data["versions"][0], version=2, effective_from="2026-01-01")
    added = app_client.post("/api/v1/readmission/agreements/nl-cn-bilateral/versions", json=v2, headers=headers["admin"])
    assert added.status_code == 201 and added.json()["added_versions"] == [2]
    changed = dict(v2, label="changed")
    assert app_client.post("/api/v1/readmission/agreements/nl-cn-bilateral/versions", json=changed, headers=headers["admin"]).status_code == 409
    bad = app_client.post("/api/v1/readmission/agreements", json={"id": "x"}, headers=headers["admin"])
    assert bad.status_code == 422 and bad.json()["fields"]


def test_the_api_warns_of_a_possible_duplicate_and_creates_only_when_confirmed(app_client: Any, headers: dict[str, dict[str, str]]) -> None:
    nl = headers["nl.officer"]
    first = new_case(app_client, nl)
    # the same person, typed in another romanisation: the same check as the web intake form (`service.open_case`)
    again = {**APPLICATION, "surname": APPLICATION["surname"].upper()}
    body = {"agreement_id": "eu-china-draft", "application": again, "aliases_none": True}
    warned = app_client.post("/api/v1/readmission/cases", json=body, headers=nl)
    assert warned.status_code == 409 and warned.headers["content-type"].startswith("application/problem+json")
    problem = warned.json()
    assert problem["code"] == "possible_duplicate"
    assert [d["case_id"] for d in problem["possible_duplicates"]] == [first["id"]]
    assert problem["possible_duplicates"][0]["reference"] == first["reference"] and "name" in problem["possible_duplicates"][0]["agreeing"]
    listed = app_client.get("/api/v1/readmission/cases", headers=nl).json()
    assert listed["total"] == 1  # nothing was created
    with unit_of_work() as s:
        refusal = s.scalars(select(AuditEntry).where(AuditEntry.entity_type == "readmission_case", AuditEntry.outcome == "refused").order_by(AuditEntry.sequence.desc())).first()
        assert refusal is not None and refusal.details["reason"] == "possible_duplicate" and refusal.details["cases"] == [first["id"]]
    created = app_client.post("/api/v1/readmission/cases", json={**body, "confirm_not_duplicate": True}, headers=nl)
    assert created.status_code == 201, created.text
    with unit_of_work() as s:
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "readmission.duplicate_overridden", AuditEntry.entity_id == created.json()["id"])).first() is not None
    # another state's officer sees no case of the Netherlands: no warning, no reference disclosed
    assert app_client.post("/api/v1/readmission/cases", json=body, headers=headers["fr.officer"]).status_code == 201
