"""AVRR API under `/api/v1/avrr`: cases, transitions, withdrawal, consent and the readmission link, assistance,
monitoring, the incentive calculator, cohort reports and programme statistics. Thin: the work is in `service.py`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from passage.avrr import service
from passage.avrr.payloads import (
    AssistanceIn,
    AssistanceOut,
    CaseCreate,
    CaseOut,
    CaseSummary,
    ConsentIn,
    ConsentOut,
    ConsentWithdrawIn,
    CostIn,
    FactsUpdate,
    ForcedCostIn,
    IncentivesIn,
    LinkIn,
    LinkOut,
    MonitoringIn,
    MonitoringOut,
    PaymentIn,
    TrancheOut,
    TransitionIn,
    WithdrawalIn,
)
from passage.avrr.sustainability import CohortKey
from passage.core.deps import DbSession
from passage.security.deps import require
from passage.security.models import User
from passage.security.permissions import Permission, permissions_for
from passage.security.schemas import Offset, Page

router = APIRouter(prefix="/avrr", tags=["avrr"])

Reader = Annotated[User, require(Permission.AVRR_READ)]
Manager = Annotated[User, require(Permission.AVRR_MANAGE)]
Statistician = Annotated[User, require(Permission.AVRR_STATS)]


def _case(db: Session, user: User, case_id: str) -> CaseOut:
    return service.case_out(db, service.load_case(db, actor=user, case_id=case_id),
                            health=Permission.HEALTH_READ in _granted(user))


def _granted(user: User) -> frozenset[Permission]:
    return permissions_for(user.role_set)


@router.get("/cases", response_model=Page[CaseSummary])
def list_cases(
    db: DbSession,
    user: Reader,
    stage: Annotated[str | None, Query(max_length=30)] = None,
    counsellor_id: Annotated[str | None, Query(max_length=32)] = None,
    overdue_plan: bool = False,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
    q: Annotated[str | None, Query(max_length=40)] = None,
    sort: Annotated[str, Query(max_length=20)] = "reference",
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[CaseSummary]:
    items, total = service.list_cases(db, actor=user, stage=stage, counsellor_id=counsellor_id, overdue_plan=overdue_plan,
                                      country=country, q=q, sort=sort, offset=offset, limit=limit)
    return Page[CaseSummary](items=items, total=total, offset=offset, limit=limit)


@router.post("/cases", response_model=CaseOut, status_code=201)
def create_case(body: CaseCreate, db: DbSession, user: Manager) -> CaseOut:
    case = service.create_case(db, actor=user, data=body)
    return _case(db, user, case.id)


@router.get("/cases/{case_id}", response_model=CaseOut)
def read_case(case_id: str, db: DbSession, user: Reader) -> CaseOut:
    return service.read_case(db, actor=user, case_id=case_id)


@router.patch("/cases/{case_id}/facts", response_model=CaseOut)
def record_facts(case_id: str, body: FactsUpdate, db: DbSession, user: Manager) -> CaseOut:
    service.record_facts(db, actor=user, case_id=case_id, version=body.version, data=body)
    return _case(db, user, case_id)


@router.post("/cases/{case_id}/transitions", response_model=CaseOut)
def transition(case_id: str, body: TransitionIn, db: DbSession, user: Manager) -> CaseOut:
    service.transition_case(db, actor=user, case_id=case_id, data=body)
    return _case(db, user, case_id)


@router.post("/cases/{case_id}/withdrawal", response_model=CaseOut)
def withdraw(case_id: str, body: WithdrawalIn, db: DbSession, user: Manager) -> CaseOut:
    service.withdraw_case(db, actor=user, case_id=case_id, data=body)
    return _case(db, user, case_id)


@router.post("/cases/{case_id}/consents", response_model=ConsentOut, status_code=201)
def record_consent(case_id: str, body: ConsentIn, db: DbSession, user: Manager) -> ConsentOut:
    consent = service.record_consent(db, actor=user, case_id=case_id, data=body)
    return ConsentOut(id=consent.id, purpose=consent.purpose, given_on=consent.given_on, withdrawn_on=consent.withdrawn_on,
                      form_ref=consent.form_ref, version=consent.version)


@router.post("/cases/{case_id}/consents/{consent_id}/withdrawal", response_model=ConsentOut)
def withdraw_consent(case_id: str, consent_id: str, body: ConsentWithdrawIn, db: DbSession, user: Manager) -> ConsentOut:
    consent = service.withdraw_consent(db, actor=user, case_id=case_id, consent_id=consent_id, version=body.version,
                                       withdrawn_on=body.withdrawn_on)
    return ConsentOut(id=consent.id, purpose=consent.purpose, given_on=consent.given_on, withdrawn_on=consent.withdrawn_on,
                      form_ref=consent.form_ref, version=consent.version)


@router.post("/cases/{case_id}/links", response_model=LinkOut, status_code=201)
def link_readmission_case(case_id: str, body: LinkIn, db: DbSession, user: Manager) -> LinkOut:
    """Link to a readmission case: 403 (audited) without the person's consent to this purpose in force."""
    link = service.link_readmission_case(db, actor=user, case_id=case_id, readmission_case_id=body.readmission_case_id,
                                         on=body.linked_on)
    return LinkOut(id=link.id, readmission_case_id=link.readmission_case_id, consent_id=link.consent_id,
                   unlinked_on=link.unlinked_on)


@router.post("/cases/{case_id}/assistance", response_model=AssistanceOut, status_code=201)
def add_assistance(case_id: str, body: AssistanceIn, db: DbSession, user: Manager) -> AssistanceOut:
    return service.assistance_out(service.add_assistance(db, actor=user, case_id=case_id, data=body))


@router.post("/cases/{case_id}/tranches/{tranche_id}/payment", response_model=TrancheOut)
def pay_tranche(case_id: str, tranche_id: str, body: PaymentIn, db: DbSession, user: Manager) -> TrancheOut:
    tranche = service.pay_tranche(db, actor=user, case_id=case_id, tranche_id=tranche_id, data=body)
    return TrancheOut(id=tranche.id, number=tranche.number, amount=tranche.amount, due_from=tranche.due_from,
                      due_to=tranche.due_to, paid_amount=tranche.paid_amount, paid_on=tranche.paid_on,
                      proof_ref=tranche.proof_ref, version=tranche.version)


@router.post("/cases/{case_id}/costs", status_code=201)
def record_cost(case_id: str, body: CostIn, db: DbSession, user: Manager) -> dict[str, str]:
    return {"id": service.record_cost(db, actor=user, case_id=case_id, data=body).id}


@router.get("/cases/{case_id}/incentives")
def case_incentives(case_id: str, db: DbSession, user: Reader, date: dt.date | None = None) -> dict[str, Any]:
    """The case's household under its scheme, line by line (no names: the calculator never sees them)."""
    case = service.load_case(db, actor=user, case_id=case_id)
    return service.case_incentives(case, on=date or case.decided_on or dt.date.today()) or {"scheme_id": None, "lines": []}


@router.post("/cases/{case_id}/monitoring/{round_number}", response_model=MonitoringOut)
def submit_monitoring(case_id: str, round_number: int, body: MonitoringIn, db: DbSession, user: Manager) -> MonitoringOut:
    return service.monitoring_out(service.submit_monitoring(db, actor=user, case_id=case_id, round_number=round_number, data=body))


@router.get("/cases/{case_id}/monitoring/{round_number}/answers")
def monitoring_answers(case_id: str, round_number: int, db: DbSession,
                       user: Annotated[User, require(Permission.AVRR_READ, Permission.HEALTH_READ)]) -> dict[str, str]:
    return service.read_monitoring_answers(db, actor=user, case_id=case_id, round_number=round_number)


@router.get("/monitoring", response_model=Page[service.CalendarEntry])
def monitoring_calendar(
    db: DbSession,
    user: Reader,
    start: dt.date,
    end: dt.date,
    open_only: bool = False,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> Page[service.CalendarEntry]:
    entries = service.monitoring_calendar(db, actor=user, start=start, end=end, open_only=open_only)
    return Page[service.CalendarEntry](items=entries[offset:offset + limit], total=len(entries), offset=offset, limit=limit)


@router.post("/incentives")
def incentives(body: IncentivesIn, user: Reader) -> dict[str, Any]:
    """The calculator: same input and JSON output as `passage avrr incentives --scheme --household [--date]`."""
    return service.calculate(scheme=body.scheme, household=body.household, on=body.date or dt.date.today())


@router.get("/schemes")
def schemes(user: Reader) -> list[dict[str, Any]]:
    registry = service.scheme_registry()
    return [{"scheme_id": v.scheme_id, "version": v.version, "title": v.title, "translations": v.translations,
             "template": v.template, "effective_from": v.effective_from,
             "effective_to": v.effective_to} for sid in registry.scheme_ids(include_templates=True)
            for v in registry.versions(sid)]


@router.post("/forced-return-costs", status_code=201)
def record_forced_cost(body: ForcedCostIn, db: DbSession, user: Manager) -> dict[str, str]:
    return {"id": service.record_forced_return_cost(db, actor=user, data=body).id}


@router.get("/statistics", response_model=service.ProgrammeStatistics)
def statistics(db: DbSession, user: Statistician,
               programme_id: Annotated[str | None, Query(max_length=60)] = None,
               country: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None) -> service.ProgrammeStatistics:
    return service.programme_statistics(db, actor=user, programme_id=programme_id, country=country)


@router.get("/reports/cohorts", response_model=service.CohortReportOut)
def cohorts(db: DbSession, user: Statistician,
            by: Annotated[list[CohortKey] | None, Query()] = None,
            programme_id: Annotated[str | None, Query(max_length=60)] = None) -> service.CohortReportOut:
    return service.cohort_report(db, actor=user, by=by or ["country_of_return"], programme_id=programme_id)
