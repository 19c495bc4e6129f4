"""Consular service on the real migrations: districts and scope, encryption, duplicates through the identification
engine, CSV import with row errors, location history and its erasure, help requests, advice, crises, the outbox."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from passage.consular import service
from passage.consular.models import LocationFix, OutboxMessage, Registration
from passage.consular.schemas import (
    AdviceIn,
    AssignIn,
    CrisisIn,
    HelpRequestIn,
    LocationIn,
    RequestActionIn,
    TriageIn,
)
from passage.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from passage.security.actors import system_actor
from passage.security.models import AuditEntry
from tests.consular.conftest import SQUARE, TODAY, registration, user_named


def test_registration_goes_to_the_district_mission_and_is_encrypted_at_rest(session: Session) -> None:
    officer = user_named(session, "denpasar.officer")
    lombok = service.create_registration(session, actor=officer, data=registration(passport="E12345678"))
    centre = user_named(session, "consular.centre")
    jakarta = service.create_registration(session, actor=centre, data=registration("李", "娜", lat=-6.2, lon=106.8, city="Jakarta"))
    session.commit()
    assert lombok.mission_id == officer.organisation_id
    assert jakarta.mission_id == user_named(session, "jakarta.officer").organisation_id
    raw = session.execute(text("SELECT identity, contact, location FROM consular_registrations WHERE id = :id"), {"id": lombok.id}).one()
    for blob in raw:
        assert bytes(blob).startswith(b"P1") and "王".encode() not in bytes(blob) and b"Mataram" not in bytes(blob)
    assert session.scalars(select(AuditEntry).where(AuditEntry.entity_id == lombok.id, AuditEntry.action == "create")).one()


def test_a_mission_sees_its_district_and_the_centre_sees_all(session: Session) -> None:
    denpasar, jakarta, centre = (user_named(session, u) for u in ("denpasar.officer", "jakarta.officer", "consular.centre"))
    record = service.create_registration(session, actor=denpasar, data=registration())
    session.commit()
    with pytest.raises(NotFound):
        service.registration_view(session, actor=jakarta, registration_id=record.id)
    assert service.registration_view(session, actor=centre, registration_id=record.id)["identity"]["family_name"] == "王"
    assert service.list_registrations(session, actor=jakarta)[1] == 0
    with pytest.raises(InvalidInput) as caught:
        service.create_registration(session, actor=jakarta, data=registration())
    assert caught.value.fields[0].path == "destination_country"
    analyst = user_named(session, "analyst")
    with pytest.raises(Forbidden):  # the service itself refuses a role without consular:read, and audits it
        service.registration_view(session, actor=analyst, registration_id=record.id)
    assert session.scalars(select(AuditEntry).where(AuditEntry.action == "refused", AuditEntry.actor_user_id == analyst.id)).first()


def test_duplicates_across_scripts_are_flagged_by_the_identification_engine(session: Session) -> None:
    officer = user_named(session, "denpasar.officer")
    first = service.create_registration(session, actor=officer, data=registration("欧阳", "明华", passport="E55501234", birth=dt.date(1988, 3, 14)))
    namesake = service.create_registration(session, actor=officer, data=registration("欧阳", "明", birth=dt.date(1979, 1, 2)))
    again = service.create_registration(session, actor=officer, data=registration("OUYANG", "MINGHUA", passport="E 5550 1234", birth=dt.date(1988, 3, 14)))
    session.commit()
    assert namesake.duplicate_status == "none"
    assert again.duplicate_status == "possible" and again.duplicate_of_id == first.id and (again.duplicate_probability or 0) >= 0.5
    service.resolve_duplicate(session, actor=officer, registration_id=again.id, decision="confirmed", version=again.version)
    assert not again.active
    with pytest.raises(Conflict):
        service.resolve_duplicate(session, actor=officer, registration_id=again.id, decision="distinct")


CSV_HEADER = "family_name,given_name,sex,birth_date,passport_number,phone,email,language,destination_country,city,latitude,longitude,arrival_on,departure_on,vulnerabilities,household\n"


def test_csv_import_refuses_the_whole_file_with_each_row_and_column(session: Session, tmp_path: Path) -> None:
    officer = user_named(session, "denpasar.officer")
    arrival = TODAY.isoformat()
    bad = tmp_path / "mission.csv"
    bad.write_text(CSV_HEADER
                   + f"张,伟,M,1980-01-02,E1,+86 1390000,,zh,ID,Mataram,-8.58,116.11,{arrival},,child,\n"
                   + f",丽,F,1981-13-02,,,,zh,ID,Mataram,-8.58,116.11,{arrival},,,\n"
                   + f"陈,杰,M,,,+86 1380000,,zh,ID,,91,116.11,{arrival},,wizard,\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        service.import_registrations(session, actor=officer, path=bad)
    paths = {f.path for f in caught.value.fields}
    assert {"line 3, column family_name", "line 3, column birth_date", "line 3, column contact", "line 4, column latitude",
            "line 4, column vulnerabilities"} <= paths
    assert "nothing was imported" in caught.value.message
    assert session.scalar(select(Registration.id)) is None
    good = tmp_path / "good.csv"
    good.write_text(CSV_HEADER + f"张,伟,M,1980-01-02,E1,+86 1390000,,zh,ID,Mataram,-8.58,116.11,{arrival},,child,H1\n"
                    + f"张,小明,M,2018-05-02,E2,+86 1390000,,en,ID,Mataram,-8.58,116.11,{arrival},,,H1\n", encoding="utf-8")
    result = service.import_registrations(session, actor=officer, path=good)
    assert (result.rows, result.created) == (2, 2)
    assert sorted(r.priority_tier for r in session.scalars(select(Registration))) == [1, 2]


def test_location_history_is_encrypted_audited_and_erased_by_retention(session: Session) -> None:
    officer = user_named(session, "denpasar.officer")
    record = service.create_registration(session, actor=officer, data=registration())
    service.update_location(session, actor=officer, registration_id=record.id, location=LocationIn(latitude=-8.35, longitude=116.04, city="Gili"))
    session.commit()
    assert record.grid_cell is not None and record.location is not None and record.location["city"] == "Gili"
    fixes = service.location_history(session, actor=officer, registration_id=record.id)
    assert [f.position["city"] for f in fixes] == ["Gili", "Mataram"]
    assert session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "consular_location_history", AuditEntry.action == "read")).first()
    raw = session.execute(text("SELECT position FROM consular_location_history")).scalars().all()
    assert all(b"Gili" not in bytes(blob) for blob in raw)
    # The older entry is past retention 100 days later; the trip ended long before, so the current position goes too.
    session.execute(text("UPDATE consular_location_history SET recorded_at = :old"), {"old": dt.datetime.now(dt.UTC) - dt.timedelta(days=100)})
    erased = service.erase_location_history(session, actor=system_actor("consular.retention"), today=TODAY)
    assert erased == 2 and session.scalar(select(LocationFix.id)) is None
    assert record.location is not None  # trip still running: the current position is kept
    session.commit()


def test_help_request_workflow_timers_and_illegal_transitions(session: Session) -> None:
    gateway, officer, centre = (user_named(session, u) for u in ("consular.gateway", "denpasar.officer", "consular.centre"))
    received = dt.datetime.now(dt.UTC) - dt.timedelta(hours=5)
    request = service.create_help_request(session, actor=gateway, data=HelpRequestIn(
        channel="hotline", category="detention", urgency="critical", country="ID", summary="Detained at the airport", caller_name="Friend",
        caller_phone="+86 1", received_at=received))
    session.commit()
    assert request.mission_id == user_named(session, "jakarta.officer").organisation_id  # a country-level request: Jakarta
    first, resolution = service.timers(request)
    assert first.state == "breached" and resolution.state == "on_track"
    with pytest.raises(NotFound):
        service.read_help_request(session, actor=officer, request_id=request.id)
    service.triage(session, actor=centre, request_id=request.id, data=TriageIn(version=request.version, urgency="high", mission_id=officer.organisation_id))
    with pytest.raises(Conflict) as caught:
        service.act_on_request(session, actor=officer, request_id=request.id, data=RequestActionIn(version=request.version, kind="resolve", outcome="assisted"))
    assert caught.value.extra["allowed"] == ["assigned", "closed"]
    service.assign(session, actor=officer, request_id=request.id, data=AssignIn(version=request.version, officer_id=officer.id))
    service.act_on_request(session, actor=officer, request_id=request.id, data=RequestActionIn(version=request.version, kind="contact", note="called"))
    service.act_on_request(session, actor=officer, request_id=request.id, data=RequestActionIn(
        version=request.version, kind="follow_up", due_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)))
    service.act_on_request(session, actor=officer, request_id=request.id, data=RequestActionIn(version=request.version, kind="resolve", outcome="assisted"))
    session.commit()
    assert [t.state for t in service.timers(request)] == ["met_late", "met"]
    assert [e.to_status for e in request.events if e.kind == "status"] == ["received", "triaged", "assigned", "resolved"]
    with pytest.raises(Conflict):
        service.act_on_request(session, actor=officer, request_id=request.id, data=RequestActionIn(version=request.version - 1, kind="note"))


def test_advice_is_versioned_and_the_version_in_force_is_served(session: Session) -> None:
    centre = user_named(session, "consular.centre")
    base = {"country": "ID", "title_zh": "标题", "body_en": "Body", "body_zh": "正文"}
    service.publish_advice(session, actor=centre, data=AdviceIn(level=1, title_en="Old", effective_from=TODAY - dt.timedelta(days=10), **base))
    service.publish_advice(session, actor=centre, data=AdviceIn(level=4, title_en="New", effective_from=TODAY + dt.timedelta(days=1), **base))
    session.commit()
    assert service.current_advice(session, country="ID").title_en == "Old"  # type: ignore[union-attr]
    assert service.current_advice(session, country="ID", on=TODAY + dt.timedelta(days=1)).version == 2  # type: ignore[union-attr]
    assert [a.version for a in service.advice_history(session, country="ID")] == [2, 1]


def _crisis(session: Session, area: dict | None = None) -> str:
    centre = user_named(session, "consular.centre")
    crisis = service.create_crisis(session, actor=centre, data=CrisisIn(name_en="Quake", name_zh="地震", crisis_type="earthquake", country="ID",
                                                                       starts_on=TODAY - dt.timedelta(days=1), area=area or SQUARE))
    return crisis.id


def test_crisis_lists_who_is_inside_with_contact_status_and_writes_messages_per_language(session: Session) -> None:
    officer = user_named(session, "denpasar.officer")
    inside_zh = service.create_registration(session, actor=officer, data=registration())
    inside_en = service.create_registration(session, actor=officer, data=registration("Smith", "Ann", language="en", lat=-8.45, lon=116.2))
    service.create_registration(session, actor=officer, data=registration("赵", "强", lat=-8.72, lon=115.17, city="Kuta"))  # Bali: outside
    service.create_registration(session, actor=officer, data=registration("孙", "丽", lat=None, lon=None, city="Mataram"))  # no coordinates
    crisis_id = _crisis(session)
    session.commit()
    listed = service.affected_people(session, actor=officer, crisis_id=crisis_id)
    assert {i["registration_id"] for i in listed["items"]} == {inside_zh.id, inside_en.id}
    assert listed["by_status"]["not_contacted"] == 2 and listed["unlocated_in_country"] == 1
    service.set_contact_status(session, actor=officer, crisis_id=crisis_id, registration_id=inside_zh.id, status="needs_help")
    assert inside_zh.priority_tier == 0
    batch = service.generate_messages(session, actor=officer, crisis_id=crisis_id)
    session.commit()
    assert batch["by_language"] == {"zh": 1, "en": 1}
    bodies = {m.language: m.body for m in session.scalars(select(OutboxMessage))}
    assert "12308" in bodies["zh"] and "地震" in bodies["zh"] and bodies["en"].startswith("[Consular protection] Quake")
    gateway = user_named(session, "consular.gateway")
    first, cursor = service.pull_outbox(session, actor=gateway, limit=1)
    second, cursor2 = service.pull_outbox(session, actor=gateway, after=cursor)
    assert len(first) == 1 and len(second) == 1 and cursor2 > cursor
    assert service.report_outbox(session, actor=gateway, ids=[first[0].id, second[0].id], status="sent") == 2
    with pytest.raises(InvalidInput):
        service.report_outbox(session, actor=gateway, ids=[999_999], status="sent")


def test_crisis_by_admin_areas_needs_known_p_codes(session: Session) -> None:
    centre = user_named(session, "consular.centre")
    with pytest.raises(InvalidInput) as caught:
        service.create_crisis(session, actor=centre, data=CrisisIn(name_en="Flood", name_zh="洪水", crisis_type="flood", country="ID",
                                                                  starts_on=TODAY, admin_pcodes=["ID52"]))
    assert caught.value.fields[0].path == "admin_pcodes.0"


def test_statistics_suppress_small_cells(session: Session) -> None:
    gateway, centre = user_named(session, "consular.gateway"), user_named(session, "consular.centre")
    for index in range(20):
        request = service.create_help_request(session, actor=gateway, data=HelpRequestIn(
            channel="app", category="lost_documents" if index < 17 else "kidnapping", urgency="medium", country="ID", summary="x", caller_phone="+1"))
        service.triage(session, actor=centre, request_id=request.id, data=TriageIn(version=request.version, urgency="medium"))
        service.assign(session, actor=centre, request_id=request.id, data=AssignIn(version=request.version))
        service.act_on_request(session, actor=centre, request_id=request.id, data=RequestActionIn(version=request.version, kind="contact"))
    session.commit()
    result = service.statistics(session, actor=centre, by="category")
    rows = {r["category"]: r for r in result["rows"]}
    assert result["threshold"] == 15
    assert rows["lost_documents"]["requests"] == 17 and rows["lost_documents"]["median_hours_to_first_contact"] is not None
    assert rows["kidnapping"]["requests"] is None and rows["kidnapping"]["median_hours_to_first_contact"] is None
    assert result["suppressed_cells"] >= 3


def test_the_platform_retention_job_erases_expired_location_history(session: Session) -> None:
    from passage.security import retention

    officer = user_named(session, "denpasar.officer")
    record = service.create_registration(session, actor=officer, data=registration())
    service.update_location(session, actor=officer, registration_id=record.id, location=LocationIn(latitude=-8.35, longitude=116.04, city="Gili"))
    session.commit()
    policies = [p for p in retention.discover() if p.record_type == "consular_location_history"]
    assert len(policies) == 1  # the module contributes its policy to `passage retention run`
    assert record.id not in policies[0].find_expired(session, TODAY)  # nothing is old yet
    session.execute(text("UPDATE consular_location_history SET recorded_at = :old"), {"old": dt.datetime.now(dt.UTC) - dt.timedelta(days=100)})
    dry = retention.run(session, today=TODAY, dry_run=True, policies=policies)
    assert dry.runs[0].expired == [record.id] and session.scalar(select(func.count(LocationFix.id))) == 2
    retention.run(session, today=TODAY, policies=policies)
    assert session.scalar(select(func.count(LocationFix.id))) == 0
    entries = session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "consular_location_history",
                                                       AuditEntry.action == "retention_erase")).all()
    assert [e.entity_id for e in entries] == [record.id] and entries[0].details["entries_erased"] == 2
    assert policies[0].find_expired(session, TODAY) == []  # a second run has nothing left to do
    session.commit()
