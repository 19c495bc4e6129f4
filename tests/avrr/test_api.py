"""The AVRR API end to end on the real migrations: stages, permissions, consent, payments, monitoring, reports."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, text

from passage.core.db import unit_of_work
from passage.security.actors import system_actor
from passage.security.models import AuditEntry
from tests.conftest import api_headers

SYSTEM = system_actor("avrr.test")

TODAY = dt.date.today()
BASE = "/api/v1/avrr"


def day(offset: int) -> str:
    return (TODAY + dt.timedelta(days=offset)).isoformat()


def new_case(client: Any, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    body = {
        "programme_id": "de_reag_garp", "scheme_id": "reag_garp", "nationality": "IRQ", "country_of_return": "IRQ",
        "legal_status": "rejected_asylum_seeker", "asylum_stage": "final_negative",
        "members": [{"member_id": "m1", "age": 38, "relationship": "head", "full_name": "Test Person One"},
                    {"member_id": "m2", "age": 9, "relationship": "child"}],
        "counselling": {"held_on": day(-200), "informed": True, "voluntary": True, "decision": "return", "decided_on": day(-195)},
    } | overrides
    response = client.post(f"{BASE}/cases", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def move(client: Any, headers: dict[str, str], case: dict[str, Any], to: str, expect: int = 200, **facts: Any) -> dict[str, Any]:
    response = client.post(f"{BASE}/cases/{case['id']}/transitions", headers=headers,
                           json={"to_stage": to, "version": case["version"], **facts})
    assert response.status_code == expect, response.text
    if expect == 200:
        return response.json()  # type: ignore[no-any-return]
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json") and problem["status"] == expect
    return case | {"error": problem, "fields": problem.get("fields", [])}


def to_assistance(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    case = new_case(client, headers)
    case = move(client, headers, case, "application", applied_on=day(-190), occurred_on=day(-190))
    case = move(client, headers, case, "eligibility", occurred_on=day(-189))
    case = move(client, headers, case, "pre_departure", eligibility={"eligible": True}, occurred_on=day(-180))
    case = move(client, headers, case, "travel", travel_document="valid_passport", medical_fitness="fit",
                vulnerability_screened=True, itinerary_ref="ITN-1", occurred_on=day(-160))
    case = move(client, headers, case, "arrival", departed_on=day(-150), arrived_on=day(-149), occurred_on=day(-149))
    case = move(client, headers, case, "reintegration_plan", received_by="IOM Erbil", occurred_on=day(-146))
    item = client.post(f"{BASE}/cases/{case['id']}/assistance", headers=headers, json={
        "kind": "business_start_up", "budget": "1500.00", "tranches": [
            {"number": 1, "amount": "1000.00", "due_from": day(-130), "due_to": day(-100)},
            {"number": 2, "amount": "500.00", "due_from": day(-30), "due_to": day(30)}]})
    assert item.status_code == 201, item.text
    case = client.get(f"{BASE}/cases/{case['id']}", headers=headers).json()
    return move(client, headers, case, "assistance", plan_agreed_on=day(-135), occurred_on=day(-135))


def audit_rows(action: str | None = None, outcome: str | None = None) -> list[AuditEntry]:
    with unit_of_work() as s:
        statement = select(AuditEntry)
        if action:
            statement = statement.where(AuditEntry.action == action)
        if outcome:
            statement = statement.where(AuditEntry.outcome == outcome)
        return list(s.scalars(statement.order_by(AuditEntry.sequence)))


def test_stage_path_schedules_monitoring_and_refuses_skips(app_client: Any) -> None:
    headers = api_headers(app_client, "iom.caseworker")
    case = new_case(app_client, headers)
    assert case["stage"] == "counselling" and case["allowed_transitions"] == ["application"]
    skipped = move(app_client, headers, case, "travel", expect=409)
    assert skipped["error"].get("allowed") == ["application"], skipped["error"]
    undecided = new_case(app_client, headers, counselling={"held_on": day(-3), "informed": True, "voluntary": False,
                                                            "decision": "undecided"})
    missing = move(app_client, headers, undecided, "application", expect=422)
    assert {f["path"] for f in missing["fields"]} == {"counselling.voluntary", "counselling.decision", "counselling.decided_on"}
    assert move(app_client, headers, case, "eligibility", expect=409)["error"]["allowed"] == ["application"]
    case = move(app_client, headers, case, "application", applied_on=day(-190))
    case = move(app_client, headers, case, "eligibility")
    case = move(app_client, headers, case, "pre_departure", eligibility={"eligible": True})
    assert case["scheme_version"] == "2022"  # the version in force today (REAG/GARP 2019 closed, issue 20)
    refused = move(app_client, headers, case, "travel", expect=422, travel_document="pending", vulnerability_screened=True,
                   vulnerable=True, itinerary_ref="ITN-9", medical_fitness="fit")
    paths = {f["path"] for f in refused["fields"]}
    assert paths == {"travel_document", "referral_made"}
    case = move(app_client, headers, case, "travel", travel_document="valid_passport", medical_fitness="fit_with_escort",
                vulnerability_screened=True, itinerary_ref="ITN-9", escort_assigned=True)
    early = move(app_client, headers, case, "arrival", expect=422, departed_on=day(-5), arrived_on=day(-6))
    assert [f["path"] for f in early["fields"]] == ["arrived_on"]
    case = move(app_client, headers, case, "arrival", departed_on=day(-100), arrived_on=day(-99))
    assert [(r["round_number"], r["months_after_arrival"]) for r in case["monitoring"]] == [(1, 3), (2, 6), (3, 12)]
    assert case["plan_due_on"] is not None and case["plan_overdue"] is True
    overdue = app_client.get(f"{BASE}/cases", params={"overdue_plan": "true"}, headers=headers).json()
    assert [c["id"] for c in overdue["items"]] == [case["id"]]
    stale = app_client.post(f"{BASE}/cases/{case['id']}/transitions", headers=headers,
                            json={"to_stage": "reintegration_plan", "version": case["version"] - 1, "received_by": "x"})
    assert stale.status_code == 409
    timeline = [(e["from_stage"], e["to_stage"]) for e in case["events"]]
    assert timeline[0] == (None, "counselling") and timeline[-1] == ("travel", "arrival")
    transitions = [e for e in audit_rows("transition")]
    assert len(transitions) == 5 and all("Test Person" not in str(e.details) for e in transitions)


def test_permissions_scope_and_audited_reads(app_client: Any) -> None:
    caseworker = api_headers(app_client, "iom.caseworker")
    case = new_case(app_client, caseworker)
    officer = api_headers(app_client, "nl.officer")
    assert app_client.get(f"{BASE}/cases", headers=officer).status_code == 403
    assert app_client.post(f"{BASE}/cases/{case['id']}/transitions", headers=officer,
                           json={"to_stage": "application", "version": 1}).status_code == 403
    analyst = api_headers(app_client, "analyst")
    assert app_client.get(f"{BASE}/cases/{case['id']}", headers=analyst).status_code == 403
    assert app_client.get(f"{BASE}/statistics", headers=analyst).status_code == 200
    assert app_client.get(f"{BASE}/cases/{'0' * 32}", headers=caseworker).status_code == 404
    read = app_client.get(f"{BASE}/cases/{case['id']}", headers=caseworker).json()
    assert read["members"][0]["full_name"] == "Test Person One" and read["health_redacted"] is False
    reads = [e for e in audit_rows("read") if e.entity_type == "avrr_case"]
    assert reads and reads[-1].entity_id == case["id"]
    with unit_of_work() as s:
        stored = s.execute(text("SELECT full_name FROM avrr_household_members WHERE member_key = 'm1'")).scalar_one()
    assert b"Test Person" not in bytes(stored)


def test_bad_household_is_refused_with_field_paths(app_client: Any) -> None:
    headers = api_headers(app_client, "iom.caseworker")
    response = app_client.post(f"{BASE}/cases", headers=headers, json={
        "programme_id": "de_reag_garp", "nationality": "IRQ", "country_of_return": "IRQ", "legal_status": "tolerated",
        "members": [{"member_id": "m1", "age": 30, "relationship": "head", "full_name": "Secret Name"},
                    {"member_id": "m2", "age": 25, "relationship": "child"}],
        "counselling": {"held_on": day(-3), "informed": True, "voluntary": True, "decision": "undecided"}})
    assert response.status_code == 422
    assert "members.1.age" in {f["path"] for f in response.json()["fields"]}
    assert "Secret Name" not in response.text
    unknown = app_client.post(f"{BASE}/cases", headers=headers, json={
        "programme_id": "nowhere", "nationality": "IRQ", "country_of_return": "IRQ", "legal_status": "tolerated",
        "members": [{"member_id": "m1", "age": 30, "relationship": "head"}],
        "counselling": {"held_on": day(-3), "informed": True, "voluntary": True, "decision": "undecided"}})
    assert unknown.status_code == 422 and unknown.json()["fields"][0]["path"] == "programme_id"


def test_withdrawal_is_the_persons_choice_and_only_before_departure(app_client: Any) -> None:
    headers = api_headers(app_client, "iom.caseworker")
    case = new_case(app_client, headers)
    case = move(app_client, headers, case, "application", applied_on=day(-190))
    response = app_client.post(f"{BASE}/cases/{case['id']}/withdrawal", headers=headers,
                               json={"version": case["version"], "withdrawn_on": day(-1), "stated_reason": "family reasons"})
    assert response.status_code == 200
    withdrawn = response.json()
    assert withdrawn["stage"] == "withdrawn" and withdrawn["withdrawal_by_person"] is True
    assert withdrawn["allowed_transitions"] == []
    assert move(app_client, headers, withdrawn, "eligibility", expect=409)["error"]["code"] == "conflict"
    departed = to_assistance(app_client, headers)
    late = app_client.post(f"{BASE}/cases/{departed['id']}/withdrawal", headers=headers,
                           json={"version": departed["version"], "withdrawn_on": day(0)})
    assert late.status_code == 409


def _readmission_case(client: Any) -> str:
    from tests.readmission.test_api import new_case as new_readmission_case

    return str(new_readmission_case(client, api_headers(client, "nl.officer"))["id"])


def test_link_without_consent_is_403_and_the_refusal_is_audited(app_client: Any) -> None:
    headers = api_headers(app_client, "iom.caseworker")
    case = new_case(app_client, headers)
    refused = app_client.post(f"{BASE}/cases/{case['id']}/links", headers=headers, json={"readmission_case_id": "r" * 32})
    assert refused.status_code == 403
    assert refused.json()["fields"][0]["path"] == "consent"
    refusals = audit_rows(outcome="refused")
    assert refusals and refusals[-1].details["reason"] == "no_link_consent"
    # audited by the service (the foundation's refusal path), so a CLI or another module is audited the same way
    assert (refusals[-1].entity_type, refusals[-1].entity_id, refusals[-1].details["operation"]) == ("avrr_case", case["id"], "link")
    # A consent to another purpose does not allow the link.
    other = app_client.post(f"{BASE}/cases/{case['id']}/consents", headers=headers,
                            json={"purpose": "monitoring_contact", "given_on": day(-10), "form_ref": "MON-1"})
    assert other.status_code == 201
    assert app_client.post(f"{BASE}/cases/{case['id']}/links", headers=headers,
                           json={"readmission_case_id": "r" * 32}).status_code == 403
    consent = app_client.post(f"{BASE}/cases/{case['id']}/consents", headers=headers,
                              json={"purpose": "link_readmission_case", "given_on": day(-5), "form_ref": "CONSENT-1"}).json()
    missing = app_client.post(f"{BASE}/cases/{case['id']}/links", headers=headers, json={"readmission_case_id": "r" * 32})
    assert missing.status_code == 422 and missing.json()["fields"][0]["path"] == "readmission_case_id"
    readmission_case = _readmission_case(app_client)
    linked = app_client.post(f"{BASE}/cases/{case['id']}/links", headers=headers, json={"readmission_case_id": readmission_case})
    assert linked.status_code == 201 and linked.json()["consent_id"] == consent["id"]
    assert [e.entity_id for e in audit_rows("link")] == [linked.json()["id"]]
    ended = app_client.post(f"{BASE}/cases/{case['id']}/consents/{consent['id']}/withdrawal", headers=headers,
                            json={"version": consent["version"], "withdrawn_on": day(0)})
    assert ended.status_code == 200
    links = app_client.get(f"{BASE}/cases/{case['id']}", headers=headers).json()["links"]
    assert links[0]["unlinked_on"] == day(0)
    assert app_client.post(f"{BASE}/cases/{case['id']}/links", headers=headers,
                           json={"readmission_case_id": "s" * 32}).status_code == 403


def test_payments_beyond_budget_or_outside_schedule_are_refused(app_client: Any) -> None:
    headers = api_headers(app_client, "iom.caseworker")
    case = to_assistance(app_client, headers)
    first, second = case["assistance"][0]["tranches"]
    url = f"{BASE}/cases/{case['id']}/tranches/{first['id']}/payment"

    def pay(tranche: dict[str, Any], **body: Any) -> Any:
        return app_client.post(f"{BASE}/cases/{case['id']}/tranches/{tranche['id']}/payment", headers=headers,
                               json={"version": tranche["version"]} | body)

    outside = pay(first, amount="1000.00", paid_on=day(-90), proof_ref="R-1")
    assert outside.status_code == 422 and [f["path"] for f in outside.json()["fields"]] == ["paid_on"]
    too_much = pay(first, amount="1200.00", paid_on=day(-110), proof_ref="R-1")
    assert too_much.status_code == 422 and "amount" in {f["path"] for f in too_much.json()["fields"]}
    no_proof = pay(first, amount="1000.00", paid_on=day(-110))
    assert no_proof.status_code == 422 and [f["path"] for f in no_proof.json()["fields"]] == ["proof_ref"]
    ok = app_client.post(url, headers=headers, json={"version": first["version"], "amount": "1000.00", "paid_on": day(-110), "proof_ref": "R-1"})
    assert ok.status_code == 200 and ok.json()["paid_amount"] == "1000.00"
    again = app_client.post(url, headers=headers, json={"version": ok.json()["version"], "amount": "1.00", "paid_on": day(-105), "proof_ref": "R-2"})
    assert again.status_code == 409
    assert pay(second, amount="500.00", paid_on=day(0), proof_ref="R-3").status_code == 200
    stats = app_client.get(f"{BASE}/statistics", headers=headers).json()
    assert stats["planned_vs_delivered"][0]["delivered"] == "1500.00"
    assert [e.details["tranche"] for e in audit_rows("disburse")] == [1, 2]


def test_budget_overrun_in_the_schedule_is_refused(app_client: Any) -> None:
    headers = api_headers(app_client, "iom.caseworker")
    case = to_assistance(app_client, headers)
    response = app_client.post(f"{BASE}/cases/{case['id']}/assistance", headers=headers, json={
        "kind": "cash", "budget": "500.00", "tranches": [{"number": 1, "amount": "600.00", "due_from": day(-10), "due_to": day(10)}]})
    assert response.status_code == 422 and response.json()["fields"][0]["path"] == "tranches"
    early = new_case(app_client, headers)
    refused = app_client.post(f"{BASE}/cases/{early['id']}/assistance", headers=headers, json={
        "kind": "cash", "budget": "500.00", "tranches": [{"number": 1, "amount": "100.00", "due_from": day(-10), "due_to": day(10)}]})
    assert refused.status_code == 409


HAND_ANSWERS = {
    "econ_satisfaction": "agree", "econ_borrowing": "never", "econ_food": "often", "econ_work": "no", "econ_debt": "yes",
    "soc_housing": "good", "soc_education": "not_applicable", "soc_health": "poor", "soc_documents": "yes", "soc_services": "good",
    "psy_participation": "neutral", "psy_support": "agree", "psy_discrimination": "sometimes", "psy_safety": "strongly_agree",
    "psy_distress": "rarely", "psy_remigrate": "no",
}


def test_monitoring_survey_is_stored_in_the_forms_engine_and_scored(app_client: Any) -> None:
    from passage.avrr.sustainability import load_scoring_config

    config = load_scoring_config()
    scales = {item.name: config.choices_for(item) for item in config.items}
    for name, choice in HAND_ANSWERS.items():
        assert choice in scales[name], name
    headers = api_headers(app_client, "iom.caseworker")
    case = to_assistance(app_client, headers)
    case = move(app_client, headers, case, "monitoring")
    round_one = case["monitoring"][0]
    bad = app_client.post(f"{BASE}/cases/{case['id']}/monitoring/1", headers=headers, json={
        "version": round_one["version"], "interview_date": day(-1), "interview_mode": "phone", "consent": "yes",
        "answers": {"econ_work": "maybe"}})
    assert bad.status_code == 422 and bad.json()["fields"][0]["path"] == "answers.econ_work"
    response = app_client.post(f"{BASE}/cases/{case['id']}/monitoring/1", headers=headers, json={
        "version": round_one["version"], "interview_date": day(-1), "interview_mode": "phone", "consent": "yes",
        "answers": HAND_ANSWERS})
    assert response.status_code == 200, response.text
    scored = response.json()
    # By hand: economic (0.75 + 1 + 0 + 0 + 0) / 5 = 0.35; social, "not applicable" left out:
    # (0.67 + 0.33 + 1 + 0.67) / 4 = 0.6675; psychosocial (0.5 + 0.75 + 0.33 + 1 + 0.67 + 1) / 6 = 0.7083;
    # composite (0.35 + 0.6675 + 0.7083) / 3 = 0.5753 (equal weights, provisional).
    assert (scored["economic"], scored["social"], scored["psychosocial"]) == (0.35, 0.6675, 0.7083)
    assert scored["composite"] == 0.5753
    assert scored["scoring_config"] == "measure_2017_equal_v1" and scored["completed_on"] == day(-1)
    with unit_of_work() as s:
        from passage.forms import service as forms

        stored = next(sub.data for sub in forms.iter_submissions(s, form_ref="avrr_reintegration_survey", actor=SYSTEM)
                      if sub.id == scored["submission_ref"])
        raw = s.execute(text("SELECT answers FROM avrr_monitoring_rounds WHERE id = :id"), {"id": scored["id"]}).scalar_one()
    assert stored["economic/econ_food"] == "often" and stored["round_number"] == 1 and stored["consent"] == "yes"
    assert b"often" not in bytes(raw)
    answers = app_client.get(f"{BASE}/cases/{case['id']}/monitoring/1/answers", headers=headers)
    assert answers.json() == HAND_ANSWERS
    twice = app_client.post(f"{BASE}/cases/{case['id']}/monitoring/1", headers=headers, json={
        "version": scored["version"], "interview_date": day(-1), "interview_mode": "phone", "consent": "no"})
    assert twice.status_code == 409
    closing = move(app_client, headers, app_client.get(f"{BASE}/cases/{case['id']}", headers=headers).json(), "closed",
                   expect=422, closure_reason="done")
    assert closing["fields"][0]["path"] == "monitoring_rounds_completed"


def test_incentives_endpoint_matches_the_cli_contract(app_client: Any) -> None:
    headers = api_headers(app_client, "iom.caseworker")
    household = {"nationality": "AFG", "legal_status": "asylum_seeker", "asylum_stage": "pending",
                 "members": [{"member_id": "m1", "age": 40, "relationship": "head"}, {"member_id": "m2", "age": 38, "relationship": "spouse"},
                             {"member_id": "m3", "age": 15, "relationship": "child"}, {"member_id": "m4", "age": 10, "relationship": "child"},
                             {"member_id": "m5", "age": 5, "relationship": "child"}]}
    response = app_client.post(f"{BASE}/incentives", headers=headers,
                               json={"scheme": "starthilfeplus", "household": household, "date": "2017-05-02"})
    assert response.status_code == 200
    result = response.json()
    # 3 x 1,200 + 2 x 600 (under 12) + 500 family supplement
    assert result["total"] == "5300.00" and result["eligible"] is True
    bad = app_client.post(f"{BASE}/incentives", headers=headers,
                          json={"scheme": "starthilfeplus", "household": household | {"members": []}, "date": "2017-05-02"})
    assert bad.status_code == 422


def test_reports_suppress_small_cohorts_for_readers_without_case_access(app_client: Any) -> None:
    headers = api_headers(app_client, "iom.caseworker")
    case = to_assistance(app_client, headers)
    case = move(app_client, headers, case, "monitoring")
    app_client.post(f"{BASE}/cases/{case['id']}/monitoring/1", headers=headers, json={
        "version": case["monitoring"][0]["version"], "interview_date": day(-1), "interview_mode": "phone", "consent": "yes",
        "answers": HAND_ANSWERS})
    caseworker_view = app_client.get(f"{BASE}/reports/cohorts", headers=headers).json()
    assert caseworker_view["provisional"] is True
    assert caseworker_view["reports"][0]["rounds"][0]["n"] == 1
    assert caseworker_view["reports"][0]["rounds"][0]["distributions"] == {}  # fewer than 5 surveys: never shown
    analyst = api_headers(app_client, "analyst")
    stats = app_client.get(f"{BASE}/statistics", headers=analyst).json()
    # the one small cohort is withheld, and so are the cells from which it could be recovered (secondary suppression)
    assert stats["returns_per_country_month"] == [] and stats["suppressed"]["cells"] >= 1
    assert stats["application_to_departure"]["median_days"] is None
    own = app_client.get(f"{BASE}/statistics", headers=headers).json()
    assert own["returns_per_country_month"] == [{"country": "IRQ", "month": day(-150)[:7], "returnees": 2}]
    assert own["application_to_departure"]["median_days"] == 40.0
