from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from passage.core.errors import InvalidInput
from passage.dialogue import schemas as s
from passage.dialogue.service import SYSTEM, add_follow_up, get_event, validate

EVENT = {"title_en": "W", "event_type": "workshop", "start_date": dt.date(2015, 11, 3), "end_date": dt.date(2015, 11, 4), "venue_en": "Beijing", "project_en": "P"}


def test_unknown_institution_type_is_refused_with_field_path() -> None:
    with pytest.raises(InvalidInput) as info:
        validate(s.InstitutionIn, {"name_en": "X", "institution_type": "ngo", "country": "CN"})
    assert info.value.fields[0].path == "institution_type"


def test_province_must_be_a_chinese_code() -> None:
    with pytest.raises(InvalidInput):
        validate(s.InstitutionIn, {"name_en": "X", "institution_type": "provincial_office", "country": "CN", "province": "Guangdong"})
    with pytest.raises(InvalidInput):
        validate(s.InstitutionIn, {"name_en": "X", "institution_type": "provincial_office", "country": "FR", "province": "CN-GD"})
    assert validate(s.InstitutionIn, {"name_en": "X", "institution_type": "eu_body", "country": "eu"}).country == "EU"
    with pytest.raises(InvalidInput) as info:
        validate(s.InstitutionIn, {"name_en": "X", "institution_type": "ministry"})
    assert info.value.fields[0].path == "country"
    assert validate(s.InstitutionIn, {"name_en": "IOM", "institution_type": "international_organisation"}).country is None


def test_consent_needs_a_date() -> None:
    with pytest.raises(InvalidInput) as info:
        validate(s.ContactIn, {"email": "a@example.org", "consent_given": True})
    assert info.value.fields[0].path == "consent_date"


def test_event_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        validate(s.EventIn, {**EVENT, "end_date": dt.date(2015, 11, 2)})
    assert [(f.path, f.message) for f in info.value.fields] == [("end_date", "the last day is before the first day")]


def test_follow_up_without_owner_or_due_before_event(seeded: Session) -> None:
    event = get_event(seeded, event_ref="2015-11-return-readmission-workshop")
    outcome = event.outcomes[3]
    owner = event.organisers[0].institution_id
    with pytest.raises(InvalidInput) as info:
        add_follow_up(seeded, actor=SYSTEM, outcome_id=outcome.id, data={"title": "ILO network", "due_date": dt.date(2016, 6, 30)})
    assert info.value.fields[0].path == "owner_institution_id"
    with pytest.raises(InvalidInput) as info:
        add_follow_up(seeded, actor=SYSTEM, outcome_id=outcome.id, data={"title": "ILO network", "owner_institution_id": owner, "due_date": dt.date(2015, 1, 1)})
    assert info.value.fields[0].path == "due_date" and "is before the start of the event" in info.value.fields[0].message
    with pytest.raises(InvalidInput) as info:
        add_follow_up(seeded, actor=SYSTEM, outcome_id=outcome.id, data={"title": "x", "owner_institution_id": owner, "due_date": dt.date(2016, 1, 1), "status": "done"})
    assert info.value.fields[0].path == "status"
    with pytest.raises(InvalidInput) as info:
        add_follow_up(seeded, actor=SYSTEM, outcome_id=outcome.id, data={"title": "x", "owner_institution_id": owner, "due_date": dt.date(2016, 1, 1), "linked_type": "avrr.pilot"})
    assert info.value.fields[0].path == "linked_id"
    ok = add_follow_up(seeded, actor=SYSTEM, outcome_id=outcome.id, data={"title": "ILO network", "owner_institution_id": owner, "due_date": dt.date(2016, 6, 30)})
    assert ok.status == "planned"
