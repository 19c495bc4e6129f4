"""The AVRR tables: relationships, uniqueness, versioning, and the consent-only bridge to readmission."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from passage.avrr.models import (
    AvrrAssistanceItem,
    AvrrCase,
    AvrrConsentRecord,
    AvrrHouseholdMember,
    AvrrMonitoringRound,
    AvrrReadmissionLink,
    AvrrStageEvent,
    AvrrTranche,
)
from passage.core.models import Base
from tests.avrr.conftest import user_named


def make_case(session: Session, reference: str = "AVRR-1", username: str = "iom.caseworker") -> AvrrCase:
    case = AvrrCase(reference=reference, programme_id="reag_garp_de", organisation_id=user_named(session, username).organisation_id, nationality="NGA",
                    country_of_return="NGA", legal_status="rejected_asylum_seeker", counselled_on=dt.date(2024, 1, 5))
    case.members = [AvrrHouseholdMember(member_key="m1", age=34, relationship_to_head="head"),
                    AvrrHouseholdMember(member_key="m2", age=6, relationship_to_head="child")]
    session.add(case)
    session.flush()
    return case


def test_case_with_household_timeline_assistance_and_monitoring(session: Session) -> None:
    case = make_case(session)
    session.add(AvrrStageEvent(case_id=case.id, from_stage=None, to_stage="counselling", occurred_on=dt.date(2024, 1, 5),
                               actor_id="u1", details={"fields": ["decision"]}))
    item = AvrrAssistanceItem(case_id=case.id, kind="business_start_up", budget=Decimal("1500.00"), currency="EUR")
    item.tranches = [AvrrTranche(number=1, amount=Decimal("1000.00"), due_from=dt.date(2024, 4, 1), due_to=dt.date(2024, 4, 30)),
                     AvrrTranche(number=2, amount=Decimal("500.00"), due_from=dt.date(2024, 7, 1), due_to=dt.date(2024, 8, 31))]
    session.add(item)
    session.add(AvrrMonitoringRound(case_id=case.id, round_number=1, months_after_arrival=3, due_on=dt.date(2024, 6, 1)))
    session.commit()
    loaded = session.scalars(select(AvrrCase).where(AvrrCase.reference == "AVRR-1")).one()
    assert [m.member_key for m in loaded.members] == ["m1", "m2"]
    assert loaded.stage == "counselling" and loaded.version == 1
    assert [t.amount for t in loaded.assistance[0].tranches] == [Decimal("1000.00"), Decimal("500.00")]
    assert loaded.events[0].details == {"fields": ["decision"]}
    assert loaded.monitoring[0].due_on == dt.date(2024, 6, 1)


def test_duplicate_round_tranche_and_member_are_refused(session: Session) -> None:
    case = make_case(session)
    session.add_all([AvrrMonitoringRound(case_id=case.id, round_number=1, months_after_arrival=3, due_on=dt.date(2024, 6, 1)),
                     AvrrMonitoringRound(case_id=case.id, round_number=1, months_after_arrival=6, due_on=dt.date(2024, 9, 1))])
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
    case = make_case(session, "AVRR-2")
    session.add(AvrrHouseholdMember(case_id=case.id, member_key="m1", age=3, relationship_to_head="child"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_readmission_link_cannot_exist_without_consent(session: Session) -> None:
    case = make_case(session)
    session.add(AvrrReadmissionLink(case_id=case.id, readmission_case_id="r" * 32, consent_id=None, linked_by="u1"))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
    case = make_case(session, "AVRR-3")
    consent = AvrrConsentRecord(case_id=case.id, purpose="link_readmission_case", given_on=dt.date(2024, 1, 9),
                                recorded_by="u1", form_ref="DOC-77")
    session.add(consent)
    session.flush()
    session.add(AvrrReadmissionLink(case_id=case.id, readmission_case_id="r" * 32, consent_id=consent.id, linked_by="u1"))
    session.commit()
    with pytest.raises(IntegrityError):
        session.add(AvrrReadmissionLink(case_id=case.id, readmission_case_id="r" * 32, consent_id="nonexistent", linked_by="u1"))
        session.commit()


def test_avrr_tables_are_separate_from_forced_return_tables() -> None:
    avrr = [t for t in Base.metadata.sorted_tables if t.name.startswith("avrr_")]
    assert len(avrr) == 10
    for table in avrr:
        for fk in table.foreign_keys:
            target = fk.column.table.name
            assert target.startswith("avrr_") or target in ("organisations", "users"), f"{table.name} references {target}"


def test_stale_write_is_refused(engine: object, session: Session) -> None:
    from passage.core.db import session_factory

    case = make_case(session)
    session.commit()
    with session_factory(engine)() as other:  # type: ignore[arg-type]
        twin = other.get(AvrrCase, case.id)
        assert twin is not None
        twin.stage = "application"
        other.commit()
    case.stage = "withdrawn"
    with pytest.raises(StaleDataError):
        session.commit()



def test_cases_are_scoped_to_their_owning_organisation(session: Session) -> None:
    from passage.security.scope import scoped_select

    make_case(session, "OWN")  # the IOM office's case
    make_case(session, "OTHER", username="nl.officer")
    session.commit()

    seen = session.scalars(scoped_select(AvrrCase, user_named(session, "iom.caseworker"))).all()
    assert [c.reference for c in seen] == ["OWN"]
    assert session.scalars(scoped_select(AvrrCase, user_named(session, "mps.central"))).all() == []
