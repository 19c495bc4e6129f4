"""AVRR domain operations: the case file from counselling to closure, consent, assistance, monitoring, reports.

Every operation takes the session first and the acting user (`actor`) keyword-only, loads cases through the
deny-by-default scope (`get_visible`, `scoped_select`: a case belongs to the organisation that opened it), checks
the pure rules of `stages.py` (IOM AVRR framework 2018; Reintegration Handbook 2019) and writes the change, the
case timeline event and the hash-chained audit entry in the caller's transaction. Reads of a case file are
audited too. Health and vulnerability fields need `Permission.HEALTH_READ` to read or write.

Monitoring surveys are stored through the forms engine (`passage.forms.service`, the XLSForm
`data/reintegration_survey.xlsx`) and scored with `sustainability.score_survey`; the answers are also kept
encrypted on the monitoring round, the scores in clear for reporting.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from passage.avrr.facts import facts_from_case
from passage.avrr.models import (
    AvrrAssistanceItem,
    AvrrCase,
    AvrrConsentRecord,
    AvrrCostRecord,
    AvrrForcedReturnCost,
    AvrrHouseholdMember,
    AvrrMonitoringRound,
    AvrrReadmissionLink,
    AvrrStageEvent,
    AvrrTranche,
)
from passage.avrr.payloads import (
    HEALTH_FIELDS,
    AssistanceIn,
    AssistanceOut,
    CaseCreate,
    CaseFactsIn,
    CaseOut,
    CaseSummary,
    ConsentIn,
    ConsentOut,
    CostIn,
    EventOut,
    ForcedCostIn,
    LinkOut,
    MemberOut,
    MonitoringIn,
    MonitoringOut,
    PaymentIn,
    TrancheOut,
    TransitionIn,
    WithdrawalIn,
)
from passage.avrr.rules import calculate_incentives, parse_household, result_as_json
from passage.avrr.schemes import SchemeRegistry, default_registry
from passage.avrr.stages import (
    PRE_DEPARTURE_STAGES,
    TRANSITIONS,
    AssistancePlanItem,
    CaseFacts,
    ConsentRecord,
    Disbursement,
    ProgrammeConfig,
    Stage,
    TrancheSpec,
    Withdrawal,
    assistance_item_problems,
    check_disbursement,
    check_transition,
    check_withdrawal,
    monitoring_schedule,
    plan_due_on,
    require_link_consent,
)
from passage.avrr.statistics import (
    AssistanceRecord,
    CaseRecord,
    ForcedReturnCost,
    application_to_departure,
    assistance_planned_vs_delivered,
    cost_per_returnee,
    returns_per_country_month,
)
from passage.avrr.sustainability import (
    DIMENSIONS,
    CohortKey,
    CohortReport,
    ScoredRound,
    cohort_reports,
    load_scoring_config,
    score_survey,
)
from passage.core.db import check_version
from passage.core.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from passage.core.i18n import T_
from passage.security import audit, disclosure
from passage.security.actors import Actor, may, system_actor
from passage.security.models import User
from passage.security.operations import refusals_audited, refuse, require_permission
from passage.security.permissions import Permission
from passage.security.scope import get_visible, scoped_select, visible_clause

PROGRAMMES_DIR = Path(__file__).parent / "data" / "programmes"
SURVEY_PATH = Path(__file__).parent / "data" / "reintegration_survey.xlsx"
SURVEY_FORM_ID = "avrr_reintegration_survey"
MIN_COHORT = 5
"""A score distribution over fewer surveys is not shown to anyone: it is not meaningful and points at people."""
POST_ARRIVAL_SURVEY_STAGES = (Stage.ARRIVAL, Stage.REINTEGRATION_PLAN, Stage.ASSISTANCE, Stage.MONITORING)
PAYMENT_STAGES = (Stage.ASSISTANCE, Stage.MONITORING)
ASSISTANCE_PLANNING_STAGES = (Stage.REINTEGRATION_PLAN, Stage.ASSISTANCE, Stage.MONITORING)
SortKey = Literal["reference", "-reference", "stage", "counselled_on", "-counselled_on", "plan_due_on", "updated", "-updated"]


def _has(user: Actor, permission: Permission) -> bool:
    return may(user, permission)


def _require(session: Session, actor: Actor, permission: Permission, operation: str, entity_type: str = "avrr_case", entity_id: str | None = None) -> None:
    """Each operation checks its permission itself (the foundation's refusal path), whoever calls it."""
    require_permission(session, actor=actor, permission=permission, entity_type=entity_type, entity_id=entity_id, operation=operation)


def _today(today: dt.date | None) -> dt.date:
    return today or dt.date.today()


# --- programmes and schemes ------------------------------------------------------------------------


@lru_cache(maxsize=1)
def programmes() -> dict[str, ProgrammeConfig]:
    """Programme settings (`data/programmes/*.json`): plan deadline, monitoring months, scoring configuration."""
    found = {}
    for path in sorted(PROGRAMMES_DIR.glob("*.json")):
        config = ProgrammeConfig.model_validate(json.loads(path.read_text(encoding="utf-8")))
        found[config.programme_id] = config
    return found


def programme_config(programme_id: str) -> ProgrammeConfig:
    config = programmes().get(programme_id)
    if config is None:
        raise InvalidInput(T_("unknown programme"), fields=[FieldError("programme_id", T_("not a configured programme"))])
    return config


@lru_cache(maxsize=1)
def scheme_registry() -> SchemeRegistry:
    return default_registry()


def calculate(*, scheme: str, household: Any, on: dt.date) -> dict[str, Any]:
    """The calculator's JSON (as `passage avrr incentives` prints it) for a household.json document."""
    version = scheme_registry().in_force(scheme, on)
    return result_as_json(calculate_incentives(version, parse_household(household), on=on))


def household_document(case: AvrrCase) -> dict[str, Any]:
    """The case's household in the calculator's format (no names)."""
    return {
        "nationality": case.nationality, "legal_status": case.legal_status, "asylum_stage": case.asylum_stage,
        "planned_departure_date": case.departed_on.isoformat() if case.departed_on else None,
        "members": [{"member_id": m.member_key, "age": m.age, "relationship": m.relationship_to_head, "sex": m.sex}
                    for m in sorted(case.members, key=lambda m: m.member_key)],
    }


def case_incentives(case: AvrrCase, *, on: dt.date) -> dict[str, Any] | None:
    """The incentives of the case's scheme for its household, or None without a scheme."""
    if not case.scheme_id:
        return None
    document = {k: v for k, v in household_document(case).items() if v is not None}
    return calculate(scheme=case.scheme_id, household=document, on=on)


# --- cases -----------------------------------------------------------------------------------------


def _event(session: Session, case: AvrrCase, *, actor: Actor, to_stage: str, on: dt.date, from_stage: str | None,
           details: dict[str, Any]) -> None:
    case.events.append(AvrrStageEvent(from_stage=from_stage, to_stage=to_stage, occurred_on=on, actor_id=actor.id,
                                      details=details))


def create_case(session: Session, *, actor: Actor, data: CaseCreate, today: dt.date | None = None) -> AvrrCase:
    """Open a case in counselling, with its household (checked as the calculator checks it)."""
    _require(session, actor, Permission.AVRR_MANAGE, "create_case", "avrr_case")
    today = _today(today)
    config = programme_config(data.programme_id)
    if data.scheme_id is not None and data.scheme_id not in scheme_registry().scheme_ids(include_templates=True):
        raise InvalidInput(T_("unknown scheme"), fields=[FieldError("scheme_id", T_("no such scheme"))])
    household = {"nationality": data.nationality, "legal_status": data.legal_status.value,
                 "asylum_stage": data.asylum_stage.value,
                 "members": [m.model_dump(exclude={"full_name"}, exclude_none=True) for m in data.members]}
    parse_household(household)
    counselling = data.counselling
    problems = []
    if counselling.held_on > today:
        problems.append(FieldError("counselling.held_on", T_("is in the future")))
    if counselling.decided_on is not None and counselling.decided_on < counselling.held_on:
        problems.append(FieldError("counselling.decided_on", T_("is before the counselling session")))
    if problems:
        raise InvalidInput(T_("the case cannot be opened"), fields=problems)
    case = AvrrCase(
        reference=data.reference or f"AVRR-{counselling.held_on.year}-{secrets.token_hex(3).upper()}",
        programme_id=config.programme_id, organisation_id=actor.organisation_id, stage=Stage.COUNSELLING.value,
        scheme_id=data.scheme_id, nationality=data.nationality, country_of_return=data.country_of_return,
        legal_status=data.legal_status.value, asylum_stage=data.asylum_stage.value,
        counselled_on=counselling.held_on, counsellor_id=actor.id, decision_informed=counselling.informed,
        decision_voluntary=counselling.voluntary, decision=counselling.decision, decided_on=counselling.decided_on,
    )
    case.members = [AvrrHouseholdMember(member_key=m.member_id, age=m.age, relationship_to_head=m.relationship.value,
                                        sex=m.sex, full_name=m.full_name) for m in data.members]
    session.add(case)
    session.flush()
    _event(session, case, actor=actor, to_stage=Stage.COUNSELLING.value, on=counselling.held_on, from_stage=None,
           details={"fields": ["counselling"], "members": len(data.members)})
    audit.record(session, actor=actor, action="create", entity_type="avrr_case", entity_id=case.id,
                 details={"programme_id": case.programme_id, "members": len(data.members),
                          "names_recorded": sum(1 for m in data.members if m.full_name)})
    return case


def load_case(session: Session, *, actor: Actor, case_id: str, for_update: bool = False) -> AvrrCase:
    """A case in the actor's scope (404 otherwise); not audited - callers audit what they do with it."""
    return get_visible(session, AvrrCase, case_id, actor, for_update=for_update)


def read_case(session: Session, *, actor: Actor, case_id: str) -> CaseOut:
    """The whole case file, audited as a read of personal data."""
    _require(session, actor, Permission.AVRR_READ, "read_case", "avrr_case", entity_id=case_id)
    case = load_case(session, actor=actor, case_id=case_id)
    health = _has(actor, Permission.HEALTH_READ)
    audit.record(session, actor=actor, action="read", entity_type="avrr_case", entity_id=case.id,
                 details={"health_fields": health})
    return case_out(session, case, health=health)


def _plan_overdue(case: AvrrCase, today: dt.date) -> bool:
    return case.plan_due_on is not None and case.plan_agreed_on is None and today > case.plan_due_on \
        and case.stage in (Stage.ARRIVAL.value, Stage.REINTEGRATION_PLAN.value)


def case_summary(case: AvrrCase, *, members: int, today: dt.date | None = None) -> CaseSummary:
    return CaseSummary(
        id=case.id, reference=case.reference, programme_id=case.programme_id, stage=case.stage,
        country_of_return=case.country_of_return, household_size=members, counsellor_id=case.counsellor_id,
        counselled_on=case.counselled_on, plan_due_on=case.plan_due_on,
        plan_overdue=_plan_overdue(case, _today(today)), version=case.version,
    )


def _tranche_out(t: AvrrTranche) -> TrancheOut:
    return TrancheOut(id=t.id, number=t.number, amount=t.amount, due_from=t.due_from, due_to=t.due_to,
                      paid_amount=t.paid_amount, paid_on=t.paid_on, proof_ref=t.proof_ref, version=t.version)


def assistance_out(item: AvrrAssistanceItem) -> AssistanceOut:
    disbursed = sum((t.paid_amount or Decimal(0) for t in item.tranches), Decimal(0))
    return AssistanceOut(id=item.id, kind=item.kind, description=item.description, budget=item.budget,
                         currency=item.currency, disbursed=disbursed, tranches=[_tranche_out(t) for t in item.tranches],
                         version=item.version)


def monitoring_out(r: AvrrMonitoringRound) -> MonitoringOut:
    return MonitoringOut(id=r.id, case_id=r.case_id, round_number=r.round_number, months_after_arrival=r.months_after_arrival,
                         due_on=r.due_on, completed_on=r.completed_on, submission_ref=r.submission_ref,
                         scoring_config=r.scoring_config, economic=r.economic, social=r.social,
                         psychosocial=r.psychosocial, composite=r.composite, version=r.version)


def case_out(session: Session, case: AvrrCase, *, health: bool, today: dt.date | None = None) -> CaseOut:
    stage = Stage(case.stage)
    links = session.scalars(select(AvrrReadmissionLink).where(AvrrReadmissionLink.case_id == case.id)).all()
    summary = case_summary(case, members=len(case.members), today=today)
    return CaseOut(
        **summary.model_dump(),
        scheme_id=case.scheme_id, scheme_version=case.scheme_version, nationality=case.nationality,
        legal_status=case.legal_status, asylum_stage=case.asylum_stage, decision_informed=case.decision_informed,
        decision_voluntary=case.decision_voluntary, decision=case.decision, decided_on=case.decided_on,
        applied_on=case.applied_on, eligible=case.eligible, eligibility_decided_on=case.eligibility_decided_on,
        eligibility_reason=case.eligibility_reason, travel_document=case.travel_document,
        vulnerability_screened=case.vulnerability_screened, escort_required=case.escort_required,
        escort_assigned=case.escort_assigned, itinerary_ref=case.itinerary_ref, allowances_paid_on=case.allowances_paid_on,
        departed_on=case.departed_on, arrived_on=case.arrived_on, received_by=case.received_by,
        plan_agreed_on=case.plan_agreed_on, closed_on=case.closed_on, closure_reason=case.closure_reason,
        withdrawn_on=case.withdrawn_on, withdrawal_by_person=case.withdrawal_by_person,
        health_redacted=not health,
        medical_fitness=case.medical_fitness if health else None,
        vulnerable=case.vulnerable if health else None,
        vulnerability_notes=case.vulnerability_notes if health else None,
        referral_made=case.referral_made if health else None,
        allowed_transitions=[s.value for s in TRANSITIONS[stage]],
        can_withdraw=stage in PRE_DEPARTURE_STAGES and case.departed_on is None,
        members=[MemberOut(member_id=m.member_key, age=m.age, relationship=m.relationship_to_head, sex=m.sex,
                           full_name=m.full_name) for m in sorted(case.members, key=lambda m: m.member_key)],
        events=[EventOut(from_stage=e.from_stage, to_stage=e.to_stage, occurred_on=e.occurred_on, actor_id=e.actor_id,
                         details=e.details or {}) for e in sorted(case.events, key=lambda e: e.occurred_on)],
        assistance=[assistance_out(i) for i in case.assistance],
        consents=[ConsentOut(id=c.id, purpose=c.purpose, given_on=c.given_on, withdrawn_on=c.withdrawn_on,
                             form_ref=c.form_ref, version=c.version) for c in case.consents],
        links=[LinkOut(id=link.id, readmission_case_id=link.readmission_case_id, consent_id=link.consent_id,
                       unlinked_on=link.unlinked_on) for link in links],
        monitoring=[monitoring_out(r) for r in case.monitoring],
    )


def _case_list_statement(actor: Actor, *, stage: str | None, counsellor_id: str | None, overdue_plan: bool,
                         country: str | None, q: str | None, today: dt.date) -> Select[Any]:
    statement = scoped_select(AvrrCase, actor)
    if stage:
        statement = statement.where(AvrrCase.stage == stage)
    if counsellor_id:
        statement = statement.where(AvrrCase.counsellor_id == counsellor_id)
    if country:
        statement = statement.where(AvrrCase.country_of_return == country)
    if overdue_plan:
        statement = statement.where(AvrrCase.plan_agreed_on.is_(None), AvrrCase.plan_due_on < today,
                                    AvrrCase.stage.in_([Stage.ARRIVAL.value, Stage.REINTEGRATION_PLAN.value]))
    if q:
        # Only the reference is searchable: names are encrypted and never compared in SQL.
        statement = statement.where(AvrrCase.reference.contains(q.strip().upper()))
    return statement


SORTS: dict[str, Any] = {
    "reference": AvrrCase.reference.asc(), "-reference": AvrrCase.reference.desc(), "stage": AvrrCase.stage.asc(),
    "counselled_on": AvrrCase.counselled_on.asc(), "-counselled_on": AvrrCase.counselled_on.desc(),
    "plan_due_on": AvrrCase.plan_due_on.asc(), "updated": AvrrCase.updated_at.asc(), "-updated": AvrrCase.updated_at.desc(),
}


def list_cases(session: Session, *, actor: Actor, stage: str | None = None, counsellor_id: str | None = None,
               overdue_plan: bool = False, country: str | None = None, q: str | None = None, sort: str = "reference",
               offset: int = 0, limit: int = 50, today: dt.date | None = None) -> tuple[list[CaseSummary], int]:
    """The counsellor inbox: cases in scope, filtered, sorted and paged (audited as a list)."""
    _require(session, actor, Permission.AVRR_READ, "list_cases", "avrr_case")
    today = _today(today)
    if stage and stage not in {s.value for s in Stage}:
        raise InvalidInput(T_("unknown stage"), fields=[FieldError("stage", T_("not a stage"))])
    if sort not in SORTS:
        raise InvalidInput(T_("unknown sort"), fields=[FieldError("sort", "one of " + ", ".join(SORTS))])
    statement = _case_list_statement(actor, stage=stage, counsellor_id=counsellor_id, overdue_plan=overdue_plan,
                                     country=country, q=q, today=today)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    cases = session.scalars(statement.order_by(SORTS[sort], AvrrCase.id).offset(offset).limit(limit)).all()
    sizes = dict(session.execute(
        select(AvrrHouseholdMember.case_id, func.count()).where(AvrrHouseholdMember.case_id.in_([c.id for c in cases]))
        .group_by(AvrrHouseholdMember.case_id)).tuples().all()) if cases else {}
    audit.record(session, actor=actor, action="list", entity_type="avrr_case",
                 details={"count": len(cases), "filters": sorted(k for k, v in {"stage": stage, "counsellor": counsellor_id,
                          "overdue_plan": overdue_plan, "country": country, "q": q}.items() if v)})
    return [case_summary(c, members=sizes.get(c.id, 0), today=today) for c in cases], total


def counsellors(session: Session, *, actor: Actor) -> list[tuple[str, str]]:
    """(user id, display name) of the counsellors of the cases in scope, for the inbox filter."""
    _require(session, actor, Permission.AVRR_READ, "counsellors", "avrr_case")
    ids = select(AvrrCase.counsellor_id).where(visible_clause(AvrrCase, actor)).distinct()
    rows = session.execute(select(User.id, User.display_name).where(User.id.in_(ids)).order_by(User.display_name)).tuples()
    return [(uid, name) for uid, name in rows]


# --- facts and transitions -------------------------------------------------------------------------


def _overlay(case: AvrrCase, data: CaseFactsIn, *, actor: Actor, on: dt.date) -> tuple[CaseFacts, dict[str, Any]]:
    """The case's facts with the given changes, and the column values to write if the change is accepted."""
    given = data.model_dump(exclude_none=True, include=set(CaseFactsIn.model_fields))
    if any(name in given for name in HEALTH_FIELDS) and not _has(actor, Permission.HEALTH_READ):
        raise Forbidden(T_("recording health or vulnerability facts requires the health permission"),
                        fields=[FieldError(name, T_("needs sensitive:health")) for name in HEALTH_FIELDS if name in given])
    columns: dict[str, Any] = {}
    facts = facts_from_case(case).model_dump()
    if data.counselling is not None:
        c = data.counselling
        columns.update(counselled_on=c.held_on, counsellor_id=actor.id, decision_informed=c.informed,
                       decision_voluntary=c.voluntary, decision=c.decision, decided_on=c.decided_on)
        facts["counselling"] = {"held_on": c.held_on, "counsellor_id": actor.id, "informed": c.informed,
                                "voluntary": c.voluntary, "decision": c.decision, "decided_on": c.decided_on}
    if data.eligibility is not None:
        e = data.eligibility
        columns.update(eligible=e.eligible, eligibility_reason=e.reason, eligibility_decided_on=on,
                       eligibility_decided_by=actor.id)
        facts["eligibility"] = {"decided_on": on, "eligible": e.eligible, "decided_by": actor.id,
                                "scheme_id": case.scheme_id, "reason": e.reason}
    for name, value in given.items():
        if name in ("counselling", "eligibility"):
            continue
        columns[name] = value
        if name in facts:
            facts[name] = value
    return CaseFacts.model_validate(facts), columns


def _date_problems(case: AvrrCase, columns: dict[str, Any], today: dt.date) -> list[FieldError]:
    problems = []
    for name, value in columns.items():
        if isinstance(value, dt.date) and value > today:
            problems.append(FieldError(name, T_("is in the future")))
        elif isinstance(value, dt.date) and case.counselled_on and value < case.counselled_on and name != "counselled_on":
            problems.append(FieldError(name, T_("is before the first counselling")))
    if case.departed_on is not None and "departed_on" in columns and columns["departed_on"] != case.departed_on:
        problems.append(FieldError("departed_on", T_("the departure is already recorded")))
    return problems


def _closed(case: AvrrCase) -> None:
    if case.stage in (Stage.CLOSED.value, Stage.WITHDRAWN.value):
        raise Conflict(T_("the case is {stage}; it can no longer change", stage=case.stage), extra={"allowed": []})


def record_facts(session: Session, *, actor: Actor, case_id: str, version: int, data: CaseFactsIn,
                 today: dt.date | None = None) -> AvrrCase:
    """Record facts gathered in the current stage (documents, screening, itinerary) without moving the case."""
    _require(session, actor, Permission.AVRR_MANAGE, "record_facts", "avrr_case", entity_id=case_id)
    today = _today(today)
    case = load_case(session, actor=actor, case_id=case_id, for_update=True)
    check_version(case, version)
    _closed(case)
    with refusals_audited(session, actor=actor, entity_type="avrr_case", entity_id=case.id, operation="record_facts", reason="health"):
        _, columns = _overlay(case, data, actor=actor, on=today)
    if not columns:
        raise InvalidInput(T_("nothing to record"), fields=[FieldError("(body)", T_("give at least one fact"))])
    problems = _date_problems(case, columns, today)
    if problems:
        raise InvalidInput(T_("the facts cannot be recorded"), fields=problems)
    for name, value in columns.items():
        setattr(case, name, value)
    _event(session, case, actor=actor, to_stage=case.stage, from_stage=case.stage, on=today,
           details={"event": "facts", "fields": sorted(columns)})
    audit.record(session, actor=actor, action="update", entity_type="avrr_case", entity_id=case.id,
                 details={"fields": sorted(columns)})
    session.flush()
    return case


def transition_case(session: Session, *, actor: Actor, case_id: str, data: TransitionIn,
                    today: dt.date | None = None) -> AvrrCase:
    """Move a case to its next stage with the facts that stage needs (`stages.check_transition`).

    Entering arrival sets the plan deadline and schedules the programme's monitoring rounds.
    """
    _require(session, actor, Permission.AVRR_MANAGE, "transition_case", "avrr_case", entity_id=case_id)
    today = _today(today)
    on = data.occurred_on or today
    case = load_case(session, actor=actor, case_id=case_id, for_update=True)
    check_version(case, data.version)
    current, target = Stage(case.stage), data.to_stage
    with refusals_audited(session, actor=actor, entity_type="avrr_case", entity_id=case.id, operation="transition", reason="health"):
        facts, columns = _overlay(case, data, actor=actor, on=on)
    check_transition(current, target, facts)
    problems = _date_problems(case, {**columns, "occurred_on": on}, today)
    if problems:
        raise InvalidInput(T_("the case cannot enter {target} yet", target=target.value), fields=problems)
    for name, value in columns.items():
        setattr(case, name, value)
    config = programme_config(case.programme_id)
    if target is Stage.PRE_DEPARTURE and case.scheme_id:
        case.scheme_version = scheme_registry().in_force(case.scheme_id, on).version
    if target is Stage.ARRIVAL and case.arrived_on is not None:
        # Rounds are scheduled on arrival, so closure can require every one of them.
        case.plan_due_on = plan_due_on(case.arrived_on, config)
        if not case.monitoring:
            for due in monitoring_schedule(case.arrived_on, config):
                case.monitoring.append(AvrrMonitoringRound(round_number=due.round_number, due_on=due.due_on,
                                                           months_after_arrival=due.months_after_arrival))
    if target is Stage.CLOSED:
        case.closed_on = on
        if case.closure_reason is None and case.eligible is False:
            case.closure_reason = "ineligible"
    case.stage = target.value
    _event(session, case, actor=actor, to_stage=target.value, from_stage=current.value, on=on,
           details={"fields": sorted(columns)})
    audit.record(session, actor=actor, action="transition", entity_type="avrr_case", entity_id=case.id,
                 details={"from": current.value, "to": target.value, "fields": sorted(columns)})
    session.flush()
    return case


def withdraw_case(session: Session, *, actor: Actor, case_id: str, data: WithdrawalIn,
                  today: dt.date | None = None) -> AvrrCase:
    """Record the person's choice to withdraw (only before departure); a stated reason is optional and encrypted."""
    _require(session, actor, Permission.AVRR_MANAGE, "withdraw_case", "avrr_case", entity_id=case_id)
    today = _today(today)
    case = load_case(session, actor=actor, case_id=case_id, for_update=True)
    check_version(case, data.version)
    if data.withdrawn_on > today:
        raise InvalidInput(T_("invalid withdrawal"), fields=[FieldError("withdrawn_on", T_("is in the future"))])
    withdrawal = Withdrawal(withdrawn_on=data.withdrawn_on, recorded_by=actor.id, stated_reason=data.stated_reason)
    current = Stage(case.stage)
    check_withdrawal(current, facts_from_case(case), withdrawal)
    case.stage = Stage.WITHDRAWN.value
    case.withdrawn_on = data.withdrawn_on
    case.withdrawal_recorded_by = actor.id
    case.withdrawal_by_person = True
    case.withdrawal_stated_reason = data.stated_reason
    _event(session, case, actor=actor, to_stage=Stage.WITHDRAWN.value, from_stage=current.value, on=data.withdrawn_on,
           details={"by_person": True, "reason_stated": data.stated_reason is not None})
    audit.record(session, actor=actor, action="withdraw", entity_type="avrr_case", entity_id=case.id,
                 details={"from": current.value, "by_person": True, "reason_stated": data.stated_reason is not None})
    session.flush()
    return case


# --- consent and the readmission link -------------------------------------------------------------


def record_consent(session: Session, *, actor: Actor, case_id: str, data: ConsentIn,
                   today: dt.date | None = None) -> AvrrConsentRecord:
    _require(session, actor, Permission.AVRR_MANAGE, "record_consent", "avrr_case", entity_id=case_id)
    today = _today(today)
    case = load_case(session, actor=actor, case_id=case_id)
    if data.given_on > today:
        raise InvalidInput(T_("invalid consent"), fields=[FieldError("given_on", T_("is in the future"))])
    consent = AvrrConsentRecord(case_id=case.id, purpose=data.purpose, given_on=data.given_on, recorded_by=actor.id,
                                form_ref=data.form_ref)
    session.add(consent)
    session.flush()
    _event(session, case, actor=actor, to_stage=case.stage, from_stage=case.stage, on=data.given_on,
           details={"event": "consent_given", "purpose": data.purpose, "consent_id": consent.id})
    audit.record(session, actor=actor, action="consent", entity_type="avrr_consent", entity_id=consent.id,
                 details={"case_id": case.id, "purpose": data.purpose})
    return consent


def withdraw_consent(session: Session, *, actor: Actor, case_id: str, consent_id: str, version: int,
                     withdrawn_on: dt.date, today: dt.date | None = None) -> AvrrConsentRecord:
    """Withdrawing consent also ends every readmission link that relied on it."""
    _require(session, actor, Permission.AVRR_MANAGE, "withdraw_consent", "avrr_case", entity_id=case_id)
    today = _today(today)
    case = load_case(session, actor=actor, case_id=case_id)
    consent = session.get(AvrrConsentRecord, consent_id)
    if consent is None or consent.case_id != case.id:
        raise NotFound(T_("consent {consent_id} not found", consent_id=consent_id))
    check_version(consent, version)
    if consent.withdrawn_on is not None:
        raise Conflict(T_("the consent is already withdrawn"))
    if withdrawn_on < consent.given_on or withdrawn_on > today:
        raise InvalidInput(T_("invalid withdrawal of consent"),
                           fields=[FieldError("withdrawn_on", T_("must be between the consent date and today"))])
    consent.withdrawn_on = withdrawn_on
    links = session.scalars(select(AvrrReadmissionLink).where(AvrrReadmissionLink.consent_id == consent.id,
                                                              AvrrReadmissionLink.unlinked_on.is_(None))).all()
    for link in links:
        link.unlinked_on = withdrawn_on
    _event(session, case, actor=actor, to_stage=case.stage, from_stage=case.stage, on=withdrawn_on,
           details={"event": "consent_withdrawn", "purpose": consent.purpose, "consent_id": consent.id,
                    "links_ended": len(links)})
    audit.record(session, actor=actor, action="consent_withdrawn", entity_type="avrr_consent", entity_id=consent.id,
                 details={"case_id": case.id, "links_ended": [link.id for link in links]})
    session.flush()
    return consent


def link_readmission_case(session: Session, *, actor: Actor, case_id: str, readmission_case_id: str,
                          on: dt.date | None = None) -> AvrrReadmissionLink:
    """Link to a readmission case, only under a consent to that purpose in force on the day (403 otherwise).

    The caller audits a refusal in a transaction of its own (`passage.security.deps.audit_refusal`), because
    the request's transaction is rolled back with the 403.
    """
    _require(session, actor, Permission.AVRR_MANAGE, "link_readmission_case", "avrr_case", entity_id=case_id)
    on = _today(on)
    case = load_case(session, actor=actor, case_id=case_id)
    records = list(case.consents)
    plain = [ConsentRecord(purpose=c.purpose, given_on=c.given_on, withdrawn_on=c.withdrawn_on,  # type: ignore[arg-type]
                           recorded_by=c.recorded_by, form_ref=c.form_ref) for c in records]
    with refusals_audited(session, actor=actor, entity_type="avrr_case", entity_id=case.id, operation="link", reason="no_link_consent"):
        chosen = require_link_consent(plain, on)
    from passage.readmission import service as readmission_service

    if not readmission_service.case_exists(session, case_id=readmission_case_id):
        raise InvalidInput(T_("no such readmission case"), fields=[FieldError("readmission_case_id", T_("no readmission case has this id"))])
    consent = records[plain.index(chosen)]
    existing = session.scalar(select(AvrrReadmissionLink).where(AvrrReadmissionLink.case_id == case.id,
                                                                AvrrReadmissionLink.readmission_case_id == readmission_case_id))
    if existing is not None:
        raise Conflict(T_("the case is already linked to this readmission case"))
    link = AvrrReadmissionLink(case_id=case.id, readmission_case_id=readmission_case_id, consent_id=consent.id,
                               linked_by=actor.id)
    session.add(link)
    session.flush()
    _event(session, case, actor=actor, to_stage=case.stage, from_stage=case.stage, on=on,
           details={"event": "readmission_link", "link_id": link.id, "consent_id": consent.id})
    audit.record(session, actor=actor, action="link", entity_type="avrr_readmission_link", entity_id=link.id,
                 details={"case_id": case.id, "readmission_case_id": readmission_case_id, "consent_id": consent.id})
    return link


# --- assistance, payments and costs ------------------------------------------------------------------


def _plan_item(item: AvrrAssistanceItem) -> tuple[AssistancePlanItem, list[Disbursement]]:
    plan = AssistancePlanItem(kind=item.kind, budget=item.budget, currency=item.currency,  # type: ignore[arg-type]
                              tranches=[TrancheSpec(number=t.number, amount=t.amount, due_from=t.due_from, due_to=t.due_to)
                                        for t in item.tranches])
    paid = [Disbursement(tranche_number=t.number, amount=t.paid_amount, paid_on=t.paid_on, proof_ref=t.proof_ref)
            for t in item.tranches if t.paid_on is not None and t.paid_amount is not None]
    return plan, paid


def add_assistance(session: Session, *, actor: Actor, case_id: str, data: AssistanceIn,
                   today: dt.date | None = None) -> AvrrAssistanceItem:
    """Plan one kind of assistance with its budget and tranche schedule (once the person has arrived)."""
    _require(session, actor, Permission.AVRR_MANAGE, "add_assistance", "avrr_case", entity_id=case_id)
    case = load_case(session, actor=actor, case_id=case_id, for_update=True)
    if Stage(case.stage) not in ASSISTANCE_PLANNING_STAGES:
        raise Conflict(T_("assistance is planned with the reintegration plan, after arrival"),
                       extra={"allowed": [s.value for s in TRANSITIONS[Stage(case.stage)]]})
    plan = AssistancePlanItem(kind=data.kind, budget=data.budget, currency=data.currency,
                              tranches=[TrancheSpec(**t.model_dump()) for t in data.tranches])
    problems = assistance_item_problems(plan)
    if case.arrived_on is not None:
        problems += [FieldError(f"tranches.{i}.due_to", T_("ends before arrival")) for i, t in enumerate(plan.tranches)
                     if t.due_to < case.arrived_on]
    if problems:
        raise InvalidInput(T_("the assistance plan is refused"), fields=problems)
    item = AvrrAssistanceItem(case_id=case.id, kind=data.kind.value, description=data.description, budget=data.budget,
                              currency=data.currency)
    item.tranches = [AvrrTranche(number=t.number, amount=t.amount, due_from=t.due_from, due_to=t.due_to) for t in data.tranches]
    case.assistance.append(item)
    session.flush()
    _event(session, case, actor=actor, to_stage=case.stage, from_stage=case.stage, on=case.plan_agreed_on or _today(today),
           details={"event": "assistance_planned", "item_id": item.id, "kind": item.kind})
    audit.record(session, actor=actor, action="create", entity_type="avrr_assistance", entity_id=item.id,
                 details={"case_id": case.id, "kind": item.kind, "tranches": len(item.tranches)})
    return item


def pay_tranche(session: Session, *, actor: Actor, case_id: str, tranche_id: str, data: PaymentIn,
                today: dt.date | None = None) -> AvrrTranche:
    """Pay one tranche: refused beyond the budget or the tranche, outside its window, twice, or without proof."""
    _require(session, actor, Permission.AVRR_MANAGE, "pay_tranche", "avrr_case", entity_id=case_id)
    today = _today(today)
    case = load_case(session, actor=actor, case_id=case_id, for_update=True)
    tranche = session.get(AvrrTranche, tranche_id)
    if tranche is None or tranche.item.case_id != case.id:
        raise NotFound(T_("tranche {tranche_id} not found", tranche_id=tranche_id))
    check_version(tranche, data.version)
    if Stage(case.stage) not in PAYMENT_STAGES:
        raise Conflict(T_("assistance is paid once the reintegration plan is agreed and before closure"),
                       extra={"allowed": [s.value for s in TRANSITIONS[Stage(case.stage)]]})
    if data.paid_on > today:
        raise InvalidInput(T_("payment refused"), fields=[FieldError("paid_on", T_("is in the future"))])
    plan, paid = _plan_item(tranche.item)
    check_disbursement(plan, paid, Disbursement(tranche_number=tranche.number, amount=data.amount, paid_on=data.paid_on,
                                                proof_ref=data.proof_ref))
    tranche.paid_amount = data.amount
    tranche.paid_on = data.paid_on
    tranche.proof_ref = data.proof_ref
    tranche.paid_by = actor.id
    session.add(AvrrCostRecord(case_id=case.id, category="assistance", amount=data.amount, currency=tranche.item.currency,
                               booked_on=data.paid_on))
    _event(session, case, actor=actor, to_stage=case.stage, from_stage=case.stage, on=data.paid_on,
           details={"event": "payment", "item_id": tranche.item_id, "tranche": tranche.number})
    audit.record(session, actor=actor, action="disburse", entity_type="avrr_tranche", entity_id=tranche.id,
                 details={"case_id": case.id, "item_id": tranche.item_id, "tranche": tranche.number,
                          "amount": str(data.amount), "currency": tranche.item.currency})
    session.flush()
    return tranche


def record_cost(session: Session, *, actor: Actor, case_id: str, data: CostIn, today: dt.date | None = None) -> AvrrCostRecord:
    _require(session, actor, Permission.AVRR_MANAGE, "record_cost", "avrr_case", entity_id=case_id)
    today = _today(today)
    case = load_case(session, actor=actor, case_id=case_id)
    if data.booked_on > today:
        raise InvalidInput(T_("invalid cost"), fields=[FieldError("booked_on", T_("is in the future"))])
    cost = AvrrCostRecord(case_id=case.id, category=data.category, amount=data.amount, currency=data.currency,
                          booked_on=data.booked_on)
    session.add(cost)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="avrr_cost", entity_id=cost.id,
                 details={"case_id": case.id, "category": data.category})
    return cost


def record_forced_return_cost(session: Session, *, actor: Actor, data: ForcedCostIn) -> AvrrForcedReturnCost:
    """An aggregate forced-return cost (no case, no person) for the cost-per-returnee comparison."""
    _require(session, actor, Permission.AVRR_MANAGE, "record_forced_return_cost", "avrr_case")
    record = AvrrForcedReturnCost(organisation_id=actor.organisation_id, booked_on=data.booked_on, returnees=data.returnees,
                                  cost=data.cost, currency=data.currency, source=data.source, recorded_by=actor.id)
    session.add(record)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="avrr_forced_return_cost", entity_id=record.id,
                 details={"returnees": data.returnees})
    return record


# --- monitoring ------------------------------------------------------------------------------------


def survey_form_ref(session: Session, *, actor: Actor, config_id: str) -> str:
    """The stored survey form of the actor's organisation, loaded into the forms engine on first use and again when
    the config changes; loading it is the system's doing (`system_actor("avrr.survey")`), not the caseworker's."""
    from passage.forms import service as forms

    owner = actor.organisation_id
    loader = system_actor("avrr.survey", organisation_id=owner)
    try:
        form = forms.get_form(session, form_ref=SURVEY_FORM_ID, actor=loader, organisation_id=owner)
        version = forms.current_version(session, form=form)
        if version is not None and version.version_label == config_id:
            return form.id
    except NotFound:
        pass
    return forms.load_form(session, actor=loader, content=SURVEY_PATH.read_bytes(), filename=SURVEY_PATH.name, organisation_id=owner).form.id


def submit_monitoring(session: Session, *, actor: Actor, case_id: str, round_number: int, data: MonitoringIn,
                      today: dt.date | None = None) -> AvrrMonitoringRound:
    """Store one monitoring survey through the forms engine, score it and complete the round."""
    _require(session, actor, Permission.AVRR_MANAGE, "submit_monitoring", "avrr_monitoring_round", entity_id=case_id)
    from passage.forms import service as forms

    today = _today(today)
    case = load_case(session, actor=actor, case_id=case_id, for_update=True)
    if Stage(case.stage) not in POST_ARRIVAL_SURVEY_STAGES:
        raise Conflict(T_("monitoring surveys are held after arrival and before closure"),
                       extra={"allowed": [s.value for s in TRANSITIONS[Stage(case.stage)]]})
    found = next((r for r in case.monitoring if r.round_number == round_number), None)
    if found is None:
        raise NotFound(T_("monitoring round {round_number} not found", round_number=round_number))
    check_version(found, data.version)
    if found.completed_on is not None:
        raise Conflict(T_("this monitoring round is already completed"))
    config = load_scoring_config(programme_config(case.programme_id).scoring_config)
    items = {item.name: item for item in config.items}
    problems = [FieldError(f"answers.{name}", T_("not a question of the survey")) for name in data.answers if name not in items]
    if data.interview_date > today:
        problems.append(FieldError("interview_date", T_("is in the future")))
    if case.arrived_on is not None and data.interview_date < case.arrived_on:
        problems.append(FieldError("interview_date", T_("is before arrival")))
    if data.consent == "no" and data.answers:
        problems.append(FieldError("answers", T_("no answers are recorded without the person's consent")))
    if problems:
        raise InvalidInput(T_("the survey is refused"), fields=problems)
    score = score_survey(data.answers, config) if data.consent == "yes" else None
    form_data: dict[str, Any] = {"case_reference": case.reference, "round_number": str(round_number),
                                 "interview_date": data.interview_date.isoformat(), "interview_mode": data.interview_mode,
                                 "consent": data.consent}
    for name, value in data.answers.items():
        form_data[f"{items[name].dimension}/{name}"] = value
    survey_form_ref(session, actor=actor, config_id=config.config_id)
    submission = forms.submit_entry(session, actor=actor, form_ref=SURVEY_FORM_ID, data=form_data, today=today)
    found.completed_on = data.interview_date
    found.submission_ref = submission.id
    found.answers = dict(data.answers) if data.consent == "yes" else None
    found.scoring_config = config.config_id if score else None
    if score is not None:
        found.economic = score.dimensions.get("economic")
        found.social = score.dimensions.get("social")
        found.psychosocial = score.dimensions.get("psychosocial")
        found.composite = score.composite
    _event(session, case, actor=actor, to_stage=case.stage, from_stage=case.stage, on=data.interview_date,
           details={"event": "monitoring", "round": round_number, "consent": data.consent})
    audit.record(session, actor=actor, action="submit", entity_type="avrr_monitoring_round", entity_id=found.id,
                 details={"case_id": case.id, "round": round_number, "submission_id": submission.id,
                          "consent": data.consent, "answered": score.answered if score else {}})
    session.flush()
    return found


def read_monitoring_answers(session: Session, *, actor: Actor, case_id: str, round_number: int) -> dict[str, str]:
    """A round's answers (health and psychosocial data): needs the health permission; audited."""
    _require(session, actor, Permission.AVRR_READ, "read_monitoring_answers", "avrr_monitoring_round", entity_id=case_id)
    if not _has(actor, Permission.HEALTH_READ):
        raise refuse(session, actor=actor, entity_type="avrr_monitoring_round", entity_id=case_id, operation="read_answers", reason="health",
                     message="survey answers require the health permission")
    case = load_case(session, actor=actor, case_id=case_id)
    found = next((r for r in case.monitoring if r.round_number == round_number), None)
    if found is None or found.answers is None:
        raise NotFound(T_("answers of monitoring round {round_number} not found", round_number=round_number))
    audit.record(session, actor=actor, action="read", entity_type="avrr_monitoring_round", entity_id=found.id,
                 details={"case_id": case.id, "fields": ["answers"]})
    return dict(found.answers)


class CalendarEntry(BaseModel):
    case_id: str
    reference: str
    country_of_return: str
    round_number: int
    months_after_arrival: int
    due_on: dt.date
    completed_on: dt.date | None
    overdue: bool
    round_version: int


def monitoring_calendar(session: Session, *, actor: Actor, start: dt.date, end: dt.date, open_only: bool = False,
                        today: dt.date | None = None) -> list[CalendarEntry]:
    """Monitoring rounds due between `start` and `end` (inclusive) on open cases in scope, overdue flagged."""
    _require(session, actor, Permission.AVRR_READ, "monitoring_calendar", "avrr_monitoring_round")
    today = _today(today)
    if end < start:
        raise InvalidInput(T_("invalid period"), fields=[FieldError("end", T_("is before start"))])
    if (end - start).days > 400:
        raise InvalidInput(T_("invalid period"), fields=[FieldError("end", T_("the period is longer than 400 days"))])
    statement = (select(AvrrMonitoringRound, AvrrCase.reference, AvrrCase.country_of_return)
                 .join(AvrrCase, AvrrCase.id == AvrrMonitoringRound.case_id)
                 .where(visible_clause(AvrrCase, actor), AvrrMonitoringRound.due_on >= start, AvrrMonitoringRound.due_on <= end,
                        AvrrCase.stage != Stage.WITHDRAWN.value)
                 .order_by(AvrrMonitoringRound.due_on, AvrrCase.reference))
    if open_only:
        statement = statement.where(AvrrMonitoringRound.completed_on.is_(None))
    rows = session.execute(statement).tuples().all()
    audit.record(session, actor=actor, action="list", entity_type="avrr_monitoring_round", details={"count": len(rows)})
    return [CalendarEntry(case_id=r.case_id, reference=ref, country_of_return=country, round_number=r.round_number,
                          months_after_arrival=r.months_after_arrival, due_on=r.due_on, completed_on=r.completed_on,
                          overdue=r.completed_on is None and r.due_on < today, round_version=r.version)
            for r, ref, country in rows]


# --- reports ---------------------------------------------------------------------------------------


def _suppression_threshold(actor: Actor) -> int:
    """Cells at or below this count are suppressed: the platform's disclosure threshold for readers without
    case access (`passage.security.disclosure`), else the minimum cohort for a meaningful distribution."""
    if _has(actor, Permission.AVRR_READ):
        return MIN_COHORT - 1
    return max(disclosure.threshold_setting(), MIN_COHORT - 1)


def _protected_counts(*, by_stage: dict[str, int], returns: dict[tuple[str, str], int], departed_cases: dict[tuple[str, str], int],
                      duration_n: int, threshold: int) -> tuple[disclosure.Table, disclosure.Protection]:
    """The programme's counts as one disclosure table: cases = the sum of cases by stage; returnees per
    country and month, sensitive by the number of households (cases) behind them (the threshold rule for
    magnitude cells, Hundepool et al. 2012 ch. 4); the duration figures depend on their number of cases."""
    table = disclosure.Table()
    table.count("cases", sum(by_stage.values()))
    for stage, count in by_stage.items():
        table.count(("stage", stage), count)
    table.total("cases", [("stage", stage) for stage in by_stage])
    for key, people in returns.items():
        table.count(("returns", *key), people, contributors=departed_cases.get(key, 0))
    table.count("duration_n", duration_n)
    table.depends("duration", ["duration_n"])
    return table, disclosure.protect(table, threshold=threshold)


class Suppressed(BaseModel):
    threshold: int
    """Cells with this many or fewer cases or surveys are not shown."""
    cells: int


class ProgrammeStatistics(BaseModel):
    programme_id: str | None
    cases: int | None
    """None when withheld by disclosure control (readers without case access)."""
    cases_by_stage: dict[str, int | None]
    returns_per_country_month: list[dict[str, Any]]
    application_to_departure: dict[str, Any]
    planned_vs_delivered: list[dict[str, Any]]
    cost_per_returnee: dict[str, Any]
    suppressed: Suppressed


def programme_statistics(session: Session, *, actor: Actor, programme_id: str | None = None,
                         country: str | None = None) -> ProgrammeStatistics:
    """Returns per country and month, application to departure, assistance planned vs delivered, cost per returnee."""
    _require(session, actor, Permission.AVRR_STATS, "programme_statistics", "avrr_statistics")
    threshold = _suppression_threshold(actor)
    statement = scoped_select(AvrrCase, actor)
    if programme_id:
        statement = statement.where(AvrrCase.programme_id == programme_id)
    if country:
        statement = statement.where(AvrrCase.country_of_return == country)
    cases = session.scalars(statement).all()
    ids = [c.id for c in cases]
    members: dict[str, int] = {}
    costs: dict[str, Decimal] = {}
    items: list[AvrrAssistanceItem] = []
    if ids:
        members = dict(session.execute(select(AvrrHouseholdMember.case_id, func.count()).where(
            AvrrHouseholdMember.case_id.in_(ids)).group_by(AvrrHouseholdMember.case_id)).tuples().all())
        costs = {k: Decimal(v) for k, v in session.execute(select(AvrrCostRecord.case_id, func.sum(AvrrCostRecord.amount)).where(
            AvrrCostRecord.case_id.in_(ids), AvrrCostRecord.currency == "EUR").group_by(AvrrCostRecord.case_id)).tuples().all()}
        items = list(session.scalars(select(AvrrAssistanceItem).where(AvrrAssistanceItem.case_id.in_(ids))))
    records = [CaseRecord(case_id=c.id, country_of_return=c.country_of_return, programme_id=c.programme_id,
                          applied_on=c.applied_on, departed_on=c.departed_on, cost=costs.get(c.id), currency="EUR",
                          returnees=members.get(c.id, 1)) for c in cases]
    by_stage: dict[str, int] = {}
    for c in cases:
        by_stage[c.stage] = by_stage.get(c.stage, 0) + 1
    departed_cases: dict[tuple[str, str], int] = {}
    for c in cases:
        if c.departed_on is not None:
            key = (c.country_of_return, c.departed_on.strftime("%Y-%m"))
            departed_cases[key] = departed_cases.get(key, 0) + 1
    returns_by_key = returns_per_country_month(records)
    duration = application_to_departure(records)
    if _has(actor, Permission.AVRR_READ):
        # every case counted is one the reader may open: nothing to withhold from them
        table, protection = None, None
    else:
        table, protection = _protected_counts(by_stage=by_stage, returns=returns_by_key, departed_cases=departed_cases,
                                              duration_n=duration.n, threshold=threshold)
    suppressed_cells = len(protection.withheld) if protection else 0
    returns = [{"country": country_code, "month": month, "returnees": people}
               for (country_code, month), people in returns_by_key.items()
               if protection is None or not protection.hidden(("returns", country_code, month))]
    duration_out: dict[str, Any] = duration.model_dump()
    if protection is not None and protection.hidden("duration"):
        duration_out = {"n": protection.value(table, "duration_n"), "median_days": None, "p90_days": None, "suppressed": True}  # type: ignore[arg-type]
    cases_total: int | None = len(cases)
    stage_counts: dict[str, int | None] = dict(sorted(by_stage.items()))
    if protection is not None and table is not None:
        cases_total = protection.value(table, "cases")
        stage_counts = {stage: protection.value(table, ("stage", stage)) for stage in sorted(by_stage)}
    planned = assistance_planned_vs_delivered(
        AssistanceRecord(kind=i.kind, budget=i.budget, currency=i.currency,
                         disbursed=sum((t.paid_amount or Decimal(0) for t in i.tranches), Decimal(0))) for i in items)
    forced_rows = session.scalars(scoped_select(AvrrForcedReturnCost, actor)).all()
    forced = [ForcedReturnCost(returnees=f.returnees, cost=f.cost, currency=f.currency) for f in forced_rows]
    comparison = cost_per_returnee(records, forced)
    audit.record(session, actor=actor, action="read", entity_type="avrr_statistics",
                 details={"programme_id": programme_id, "country": country, "cases": len(cases)})
    return ProgrammeStatistics(
        programme_id=programme_id, cases=cases_total, cases_by_stage=stage_counts,
        returns_per_country_month=returns, application_to_departure=duration_out,
        planned_vs_delivered=[p.model_dump(mode="json") for p in planned],
        cost_per_returnee=comparison.model_dump(mode="json"),
        suppressed=Suppressed(threshold=threshold, cells=suppressed_cells),
    )


class CohortReportOut(BaseModel):
    config_id: str
    provisional: bool
    provisional_note: str | None
    threshold: float
    by: list[str]
    reports: list[CohortReport]
    suppressed: Suppressed


def cohort_report(session: Session, *, actor: Actor, by: Sequence[CohortKey] = ("country_of_return",),
                  programme_id: str | None = None, config_id: str = "measure_2017_equal_v1") -> CohortReportOut:
    """Sustainability by cohort: score distributions, share above the threshold, trend over rounds.

    A round of a cohort with too few surveys (see `_suppression_threshold`) keeps its count but loses its
    distributions and share, so no single returnee's scores can be read off a chart.
    """
    _require(session, actor, Permission.AVRR_STATS, "cohort_report", "avrr_cohort_report")
    config = load_scoring_config(config_id)
    threshold = _suppression_threshold(actor)
    statement = (select(AvrrMonitoringRound, AvrrCase).join(AvrrCase, AvrrCase.id == AvrrMonitoringRound.case_id)
                 .where(visible_clause(AvrrCase, actor), AvrrMonitoringRound.completed_on.is_not(None),
                        AvrrMonitoringRound.scoring_config == config.config_id))
    if programme_id:
        statement = statement.where(AvrrCase.programme_id == programme_id)
    pairs = session.execute(statement).tuples().all()
    kinds: dict[str, list[str]] = {}
    case_ids = {case.id for _, case in pairs}
    if case_ids:
        for case_id, kind in session.execute(select(AvrrAssistanceItem.case_id, AvrrAssistanceItem.kind).where(
                AvrrAssistanceItem.case_id.in_(case_ids))).tuples():
            kinds.setdefault(case_id, []).append(kind)
    rows = [ScoredRound(case_id=case.id, country_of_return=case.country_of_return,
                        year=(case.departed_on or r.due_on).year, programme_id=case.programme_id,
                        assistance_kinds=sorted(set(kinds.get(case.id, []))), round_number=r.round_number,
                        economic=r.economic, social=r.social, psychosocial=r.psychosocial, composite=r.composite)
            for r, case in pairs]
    reports = cohort_reports(rows, by=list(by), threshold=config.threshold)
    suppressed_cells = 0
    for report in reports:
        for summary in report.rounds:
            if disclosure.is_small(summary.n, threshold):
                suppressed_cells += 1
                summary.distributions = {}
                summary.share_above_threshold = None
        report.composite_median_trend = [(n, median if next(s for s in report.rounds if s.round_number == n).distributions else None)
                                         for n, median in report.composite_median_trend]
        shown = [m for _, m in report.composite_median_trend if m is not None]
        report.change_first_to_last = round(shown[-1] - shown[0], 4) if len(shown) >= 2 else None
    audit.record(session, actor=actor, action="read", entity_type="avrr_cohort_report",
                 details={"by": list(by), "programme_id": programme_id, "surveys": len(rows)})
    return CohortReportOut(config_id=config.config_id, provisional=config.provisional, provisional_note=config.provisional_note,
                           threshold=config.threshold, by=list(by), reports=reports,
                           suppressed=Suppressed(threshold=threshold, cells=suppressed_cells))


def dimensions() -> tuple[str, ...]:
    return DIMENSIONS
