"""Service rules the API tests do not reach: health fields need the health permission, and the demo loads cleanly."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from passage.avrr import service
from passage.avrr.models import AvrrCase, AvrrMonitoringRound
from passage.avrr.payloads import CaseCreate, CaseFactsIn
from passage.core.errors import Forbidden
from passage.security.audit import verify_chain
from tests.avrr.conftest import user_named

TODAY = dt.date.today()


def open_case(session: Session, held_on: dt.date = TODAY) -> AvrrCase:
    caseworker = user_named(session, "iom.caseworker")
    return service.create_case(session, actor=caseworker, data=CaseCreate.model_validate({
        "programme_id": "cn_avrr_pilot", "nationality": "VNM", "country_of_return": "VNM", "legal_status": "irregular_stay",
        "members": [{"member_id": "m1", "age": 29, "relationship": "head"}],
        "counselling": {"held_on": held_on.isoformat(), "informed": True, "voluntary": True, "decision": "return",
                        "decided_on": held_on.isoformat()}}))


def test_health_fields_are_hidden_and_refused_without_the_health_permission(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    from passage.security.models import Role
    from passage.security.permissions import ROLE_PERMISSIONS, Permission

    case = open_case(session)
    caseworker = user_named(session, "iom.caseworker")
    service.record_facts(session, actor=caseworker, case_id=case.id, version=case.version,
                         data=CaseFactsIn(medical_fitness="fit_with_escort", vulnerable=True, vulnerability_notes="note"))
    assert service.read_case(session, actor=caseworker, case_id=case.id).medical_fitness == "fit_with_escort"
    # a caseworker role without sensitive:health sees the case with the health facts withheld, and may not write them
    monkeypatch.setitem(ROLE_PERMISSIONS, Role.IOM_CASEWORKER, ROLE_PERMISSIONS[Role.IOM_CASEWORKER] - {Permission.HEALTH_READ})
    seen = service.read_case(session, actor=caseworker, case_id=case.id)
    assert seen.health_redacted is True and seen.medical_fitness is None and seen.vulnerability_notes is None
    with pytest.raises(Forbidden) as refused:
        service.record_facts(session, actor=caseworker, case_id=case.id, version=case.version, data=CaseFactsIn(vulnerable=False))
    assert [f.path for f in refused.value.fields] == ["vulnerable"]
    # the analyst (same organisation, no avrr:read) is refused by the service itself, as by the route
    with pytest.raises(Forbidden):
        service.read_case(session, actor=user_named(session, "analyst"), case_id=case.id)


def test_pilot_programme_schedules_its_own_monitoring_months(session: Session) -> None:
    from passage.avrr.payloads import TransitionIn

    case = open_case(session)
    actor = user_named(session, "iom.caseworker")
    steps = [("application", {"applied_on": TODAY}), ("eligibility", {}), ("pre_departure", {"eligibility": {"eligible": True}}),
             ("travel", {"travel_document": "laissez_passer_issued", "medical_fitness": "fit", "vulnerability_screened": True,
                         "itinerary_ref": "ITN-P"}),
             ("arrival", {"departed_on": TODAY, "arrived_on": TODAY})]
    for stage, facts in steps:
        service.transition_case(session, actor=actor, case_id=case.id,
                                data=TransitionIn.model_validate({"to_stage": stage, "version": case.version, **facts}))
    months = session.scalars(select(AvrrMonitoringRound.months_after_arrival).where(AvrrMonitoringRound.case_id == case.id)
                             .order_by(AvrrMonitoringRound.round_number)).all()
    assert list(months) == [3, 6, 12, 18]
    assert case.plan_due_on is not None and (case.plan_due_on - TODAY).days in range(59, 63)  # 2 months in the pilot


def test_demo_loads_through_the_service_with_an_intact_audit_chain(session: Session) -> None:
    from passage.avrr.demo import load_demo_records
    from passage.security.demo import DemoContext

    caseworker = user_named(session, "iom.caseworker")
    load_demo_records(session, context=DemoContext(organisations={"iom": caseworker.organisation}, users={"iom_caseworker": caseworker}))
    session.commit()
    stages = dict(session.execute(select(AvrrCase.stage, func.count()).group_by(AvrrCase.stage)).tuples().all())
    assert sum(stages.values()) == 40 and len(stages) == 11
    scored = session.scalar(select(func.count()).select_from(AvrrMonitoringRound).where(AvrrMonitoringRound.composite.is_not(None)))
    assert scored and scored > 10
    assert {c for (c,) in session.execute(select(AvrrCase.country_of_return).distinct())} == {"NGA", "IRQ", "VNM"}
    assert verify_chain(session).ok


def test_case_to_scored_survey_and_reports_on_sqlite_and_postgresql(any_store_people: dict[str, str]) -> None:
    from decimal import Decimal

    from passage.avrr.payloads import AssistanceIn, MonitoringIn, PaymentIn, TransitionIn
    from passage.core.db import unit_of_work

    with unit_of_work() as session:
        case = open_case(session, held_on=TODAY - dt.timedelta(days=210))
        actor = user_named(session, "iom.caseworker")
        steps = [("application", {"applied_on": TODAY - dt.timedelta(days=200)}), ("eligibility", {}),
                 ("pre_departure", {"eligibility": {"eligible": True}}),
                 ("travel", {"travel_document": "valid_passport", "medical_fitness": "fit", "vulnerability_screened": True,
                             "itinerary_ref": "ITN-PG"}),
                 ("arrival", {"departed_on": TODAY - dt.timedelta(days=120), "arrived_on": TODAY - dt.timedelta(days=120)}),
                 ("reintegration_plan", {"received_by": "IOM Hanoi"})]
        for stage, facts in steps:
            service.transition_case(session, actor=actor, case_id=case.id,
                                    data=TransitionIn.model_validate({"to_stage": stage, "version": case.version, **facts}))
        item = service.add_assistance(session, actor=actor, case_id=case.id, data=AssistanceIn.model_validate({
            "kind": "housing", "budget": "800.00", "tranches": [
                {"number": 1, "amount": "800.00", "due_from": (TODAY - dt.timedelta(days=100)).isoformat(),
                 "due_to": (TODAY - dt.timedelta(days=80)).isoformat()}]}))
        for stage, facts in [("assistance", {"plan_agreed_on": TODAY - dt.timedelta(days=110)}), ("monitoring", {})]:
            service.transition_case(session, actor=actor, case_id=case.id,
                                    data=TransitionIn.model_validate({"to_stage": stage, "version": case.version, **facts}))
        tranche = item.tranches[0]
        service.pay_tranche(session, actor=actor, case_id=case.id, tranche_id=tranche.id, data=PaymentIn(
            version=tranche.version, amount=Decimal("800.00"), paid_on=TODAY - dt.timedelta(days=90), proof_ref="R-PG"))
        first = case.monitoring[0]
        service.submit_monitoring(session, actor=actor, case_id=case.id, round_number=1, data=MonitoringIn(
            version=first.version, interview_date=TODAY - dt.timedelta(days=5), interview_mode="phone", consent="yes",
            answers={"econ_work": "yes", "econ_debt": "yes", "econ_food": "rarely", "econ_borrowing": "never",
                     "econ_satisfaction": "agree", "soc_housing": "good", "soc_education": "good", "soc_health": "good",
                     "soc_documents": "yes", "soc_services": "poor", "psy_participation": "agree", "psy_support": "agree",
                     "psy_discrimination": "never", "psy_safety": "agree", "psy_distress": "rarely", "psy_remigrate": "no"}))
        case_id = case.id
    with unit_of_work() as session:
        actor = user_named(session, "iom.caseworker")
        stored = service.read_case(session, actor=actor, case_id=case_id)
        # economic (1 + 0 + 0.67 + 1 + 0.75) / 5 = 0.684; social (0.67 * 3 + 1 + 0.33) / 5 = 0.668;
        # psychosocial (0.75 * 3 + 1 + 0.67 + 1) / 6 = 0.82; composite 0.724
        round_one = stored.monitoring[0]
        assert (round_one.economic, round_one.social, round_one.psychosocial, round_one.composite) == (0.684, 0.668, 0.82, 0.724)
        stats = service.programme_statistics(session, actor=actor)
        assert stats.planned_vs_delivered[0]["delivered"] == "800.00"
        assert stats.application_to_departure["median_days"] == 80.0
        report = service.cohort_report(session, actor=actor)
        assert report.reports[0].rounds[0].n == 1 and report.reports[0].rounds[0].distributions == {}
        assert verify_chain(session).ok
