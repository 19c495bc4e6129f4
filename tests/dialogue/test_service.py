from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from passage.core.db import unit_of_work
from passage.core.errors import Conflict, InvalidInput, NotFound
from passage.dialogue.service import (
    SYSTEM,
    add_focal_point,
    create_event,
    create_institution,
    directory,
    get_event,
    link_institution,
    list_events,
    load_seed_events,
    participants_for,
    record_session,
    register_participant,
    update_event,
)
from passage.security.models import AuditEntry, Organisation, User


def _event(session: Session) -> tuple[str, str]:
    org = create_institution(session, actor=SYSTEM, data={"name_en": "IOM China", "institution_type": "international_organisation"})
    event = create_event(session, actor=SYSTEM, data={
        "title_en": "Seminar", "event_type": "seminar", "start_date": dt.date(2024, 3, 1), "end_date": dt.date(2024, 3, 2),
        "venue_en": "Beijing", "project_en": "P", "organiser_institution_ids": [org.id],
    })
    return event.id, org.id


def test_seeds_load_once(seeded: Session) -> None:
    assert load_seed_events(seeded, actor=SYSTEM) == []
    assert [e.key for e in list_events(seeded)] == ["2015-11-return-readmission-workshop", "2018-02-mixed-migration-seminar"]
    assert [e.key for e in list_events(seeded, start=dt.date(2018, 1, 1))] == ["2018-02-mixed-migration-seminar"]
    workshop = get_event(seeded, event_ref="2015-11-return-readmission-workshop")
    assert [s.number for s in workshop.sessions] == list(range(1, 11))
    assert sum(len(s.observations) for s in workshop.sessions) == 46  # the "⇒" points of seed 000
    assert len([o for o in workshop.outcomes if o.kind == "recommendation"]) == 13
    assert len([o for o in workshop.outcomes if o.kind == "challenge"]) == 4
    seminar = get_event(seeded, event_ref="2018-02-mixed-migration-seminar")
    assert len(seminar.evaluations[0].responses) == 21 and len(seminar.evaluations[0].questions) == 12


def test_contact_visible_to_organisers_only_and_only_with_consent(demo_people: dict[str, str]) -> None:
    with unit_of_work() as session:
        iom = session.scalars(select(Organisation).where(Organisation.name == "IOM China")).one()
        nl = session.scalars(select(Organisation).where(Organisation.name.like("Repatriation%"))).one()
        event_id, org_id = _event(session)
        link_institution(session, actor=SYSTEM, institution_id=org_id, organisation_id=iom.id)
        other = create_institution(session, actor=SYSTEM, data={"name_en": "MFA", "institution_type": "ministry", "country": "CN"})
        a = register_participant(session, actor=SYSTEM, event_id=event_id, role="participant", data={
            "name": "A", "institution_id": other.id, "contact": {"email": "a@example.org", "consent_given": True, "consent_date": dt.date(2024, 2, 1)}})
        register_participant(session, actor=SYSTEM, event_id=event_id, role="participant", data={
            "name": "B", "institution_id": other.id, "contact": {"email": "b@example.org", "consent_given": False}})
    with unit_of_work() as session:
        caseworker = session.get(User, demo_people["iom.caseworker"])
        before = _audit_count(session, "dialogue_participant_contact")
        as_organiser = {p.name: p.contact for p in participants_for(
            session, actor=caseworker, event_id=event_id, viewer_organisation_id=iom.id, contacts_permitted=True)}
        assert as_organiser["A"] is not None and as_organiser["A"].email == "a@example.org"
        assert as_organiser["B"] is None
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.sequence.desc())).first()
        assert entry is not None and entry.action == "read" and entry.entity_type == "dialogue_participant_contact"
        assert entry.details["participant_ids"] == [a.id] and entry.actor_user_id == caseworker.id
        assert "a@example.org" not in str(entry.details)
        assert _audit_count(session, "dialogue_participant_contact") == before + 1
        # the organiser's organisation without the contacts permission, and a permitted user of another organisation
        assert all(p.contact is None for p in participants_for(session, actor=caseworker, event_id=event_id, viewer_organisation_id=iom.id, contacts_permitted=False))
        assert all(p.contact is None for p in participants_for(session, actor=caseworker, event_id=event_id, viewer_organisation_id=nl.id, contacts_permitted=True))
        assert _audit_count(session, "dialogue_participant_contact") == before + 1  # nothing shown, nothing to audit
        # encrypted at rest: the stored bytes do not contain the address
        raw = session.execute(text("SELECT email FROM dialogue_participant_contact")).scalars().all()
        assert raw and all(b"example.org" not in bytes(value) for value in raw if value is not None)


def _audit_count(session: Session, entity_type: str) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.entity_type == entity_type)) or 0


def test_session_registers_speakers_and_refuses_day_outside_event(session: Session) -> None:
    event_id, org_id = _event(session)
    speaker = register_participant(session, actor=SYSTEM, event_id=event_id, role="expert", data={"name": "S", "institution_id": org_id})
    with pytest.raises(InvalidInput):
        record_session(session, actor=SYSTEM, event_id=event_id, data={"number": 1, "day": 3, "title_en": "T", "kind": "presentation"})
    recorded = record_session(session, actor=SYSTEM, event_id=event_id, data={
        "number": 1, "day": 2, "title_en": "T", "kind": "presentation", "speaker_ids": [speaker.id], "observations_en": ["x", "y"]})
    assert [o.text_en for o in recorded.observations] == ["x", "y"]
    with pytest.raises(InvalidInput):
        record_session(session, actor=SYSTEM, event_id=event_id, data={"number": 1, "title_en": "T2", "kind": "group_discussion"})


def test_update_event_refuses_stale_version(session: Session) -> None:
    event_id, org_id = _event(session)
    event = get_event(session, event_ref=event_id)
    payload = {"title_en": "Renamed", "event_type": "seminar", "start_date": dt.date(2024, 3, 1), "end_date": dt.date(2024, 3, 2), "venue_en": "Beijing", "project_en": "P", "organiser_institution_ids": [org_id]}
    update_event(session, actor=SYSTEM, event_id=event_id, expected_version=event.version, data=payload)
    with pytest.raises(Conflict):
        update_event(session, actor=SYSTEM, event_id=event_id, expected_version=1, data=payload)
    with pytest.raises(NotFound):
        get_event(session, event_ref="missing")


def test_directory_lists_only_consenting_focal_points(session: Session) -> None:
    _event_id, org_id = _event(session)
    add_focal_point(session, actor=SYSTEM, data={"institution_id": org_id, "name": "Listed", "function": "immigration_liaison_officer", "consent_to_list": True, "consent_date": dt.date(2024, 1, 1)})
    add_focal_point(session, actor=SYSTEM, data={"institution_id": org_id, "name": "Unlisted", "function": "focal_point", "consent_to_list": False})
    assert [f.name for f in directory(session, actor=SYSTEM)] == ["Listed"]
    entry = session.scalars(select(AuditEntry).order_by(AuditEntry.sequence.desc())).first()
    assert entry is not None and entry.action == "read" and entry.entity_type == "dialogue_focal_point"
