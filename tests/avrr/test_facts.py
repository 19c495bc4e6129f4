"""Facts read from a stored case drive the same transition checks as plain facts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from passage.avrr.facts import facts_from_case
from passage.avrr.models import AvrrAssistanceItem, AvrrCase, AvrrMonitoringRound
from passage.avrr.stages import Stage, check_transition
from passage.core.errors import InvalidInput
from tests.avrr.conftest import user_named


def stored_case(session: Session) -> AvrrCase:
    counsellor = user_named(session, "iom.caseworker")
    case = AvrrCase(reference="F-1", programme_id="p", organisation_id=counsellor.organisation_id, nationality="IRQ",
                    country_of_return="IRQ", legal_status="tolerated", counselled_on=dt.date(2024, 1, 5), counsellor_id=counsellor.id, decision_informed=True,
                    decision_voluntary=True, decision="return", decided_on=dt.date(2024, 1, 12))
    session.add(case)
    session.commit()
    return case


def test_counselled_case_may_apply_and_not_skip(session: Session) -> None:
    case = stored_case(session)
    facts = facts_from_case(case)
    assert facts.counselling is not None and facts.counselling.counsellor_id == case.counsellor_id
    check_transition(Stage.COUNSELLING, Stage.APPLICATION, facts)
    case.decision_voluntary = False
    with pytest.raises(InvalidInput) as info:
        check_transition(Stage.COUNSELLING, Stage.APPLICATION, facts_from_case(case))
    assert [f.path for f in info.value.fields] == ["counselling.voluntary"]


def test_monitoring_rounds_and_assistance_are_counted(session: Session) -> None:
    case = stored_case(session)
    session.add(AvrrAssistanceItem(case_id=case.id, kind="cash", budget=Decimal("500"), currency="EUR"))
    for n, done in ((1, dt.date(2024, 7, 1)), (2, None)):
        session.add(AvrrMonitoringRound(case_id=case.id, round_number=n, months_after_arrival=3 * n,
                                        due_on=dt.date(2024, 6, 1), completed_on=done))
    case.closure_reason = "monitoring complete"
    session.commit()
    session.refresh(case)
    facts = facts_from_case(case)
    assert (facts.assistance_items, facts.monitoring_rounds_due, facts.monitoring_rounds_completed) == (1, 2, 1)
    check_transition(Stage.ASSISTANCE, Stage.MONITORING, facts)
    with pytest.raises(InvalidInput, match="closed"):
        check_transition(Stage.MONITORING, Stage.CLOSED, facts)


def test_vulnerable_person_needs_referral_before_travel(session: Session) -> None:
    case = stored_case(session)
    case.eligibility_decided_on, case.eligible, case.eligibility_decided_by = dt.date(2024, 2, 1), True, "u2"
    case.travel_document, case.vulnerability_screened, case.vulnerable, case.itinerary_ref = "valid_passport", True, True, "IT"
    facts = facts_from_case(case).model_copy(update={"medical_fitness": "fit"})
    assert facts.eligibility is not None and facts.eligibility.decided_by == "u2"
    with pytest.raises(InvalidInput) as info:
        check_transition(Stage.PRE_DEPARTURE, Stage.TRAVEL, facts)
    assert [f.path for f in info.value.fields] == ["referral_made"]
    case.referral_made = True
    check_transition(Stage.PRE_DEPARTURE, Stage.TRAVEL, facts_from_case(case).model_copy(update={"medical_fitness": "fit"}))
