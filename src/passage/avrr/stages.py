"""The AVRR case as pure rules: stages, transitions and what each needs, withdrawal, consent, assistance.

Stages follow IOM's AVRR sequence (IOM Reintegration Handbook 2019, module 1.3 and 2; IOM AVRR framework
2018): counselling with an informed and voluntary decision, application, eligibility, pre-departure
(travel documents, medical fitness, referral of vulnerable people), travel, arrival and reception, a
reintegration plan, assistance, monitoring and closure. Withdrawal is the person's right at any time
before departure. A link from a voluntary-return case to a forced-return (readmission) case needs the
person's explicit consent (data kept separate by purpose, GDPR art. 5(1)(b) and 6(1)(a)).

Nothing here touches the database: the service (wave 2) loads facts, calls these functions, and writes
the stage event and its audit entry in one transaction.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from passage.avrr.rules import add_months
from passage.core.errors import Conflict, FieldError, Forbidden, InvalidInput
from passage.core.i18n import T_


class Stage(enum.StrEnum):
    COUNSELLING = "counselling"
    APPLICATION = "application"
    ELIGIBILITY = "eligibility"
    PRE_DEPARTURE = "pre_departure"
    TRAVEL = "travel"
    ARRIVAL = "arrival"
    REINTEGRATION_PLAN = "reintegration_plan"
    ASSISTANCE = "assistance"
    MONITORING = "monitoring"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


TRANSITIONS: dict[Stage, tuple[Stage, ...]] = {
    Stage.COUNSELLING: (Stage.APPLICATION,),
    Stage.APPLICATION: (Stage.ELIGIBILITY,),
    Stage.ELIGIBILITY: (Stage.PRE_DEPARTURE, Stage.CLOSED),
    Stage.PRE_DEPARTURE: (Stage.TRAVEL,),
    Stage.TRAVEL: (Stage.ARRIVAL,),
    Stage.ARRIVAL: (Stage.REINTEGRATION_PLAN,),
    Stage.REINTEGRATION_PLAN: (Stage.ASSISTANCE,),
    Stage.ASSISTANCE: (Stage.MONITORING,),
    Stage.MONITORING: (Stage.CLOSED,),
    Stage.CLOSED: (),
    Stage.WITHDRAWN: (),
}
"""Forward moves; withdrawal is separate (see `check_withdrawal`)."""

STAGE_LABELS: dict[Stage, tuple[str, str]] = {
    Stage.COUNSELLING: ("Counselling", "咨询"),
    Stage.APPLICATION: ("Application", "申请"),
    Stage.ELIGIBILITY: ("Eligibility", "资格审查"),
    Stage.PRE_DEPARTURE: ("Pre-departure", "离境前准备"),
    Stage.TRAVEL: ("Travel", "旅行"),
    Stage.ARRIVAL: ("Arrival and reception", "抵达与接待"),
    Stage.REINTEGRATION_PLAN: ("Reintegration plan", "重返社会计划"),
    Stage.ASSISTANCE: ("Assistance", "援助"),
    Stage.MONITORING: ("Monitoring", "监测"),
    Stage.CLOSED: ("Closed", "已结案"),
    Stage.WITHDRAWN: ("Withdrawn (person's choice)", "已撤回（本人选择）"),
}
"""English and Simplified Chinese labels for pages and exports."""

PRE_DEPARTURE_STAGES = (Stage.COUNSELLING, Stage.APPLICATION, Stage.ELIGIBILITY, Stage.PRE_DEPARTURE, Stage.TRAVEL)


class ProgrammeConfig(BaseModel):
    """Per-programme settings: when the reintegration plan is due and when monitoring surveys are due."""

    model_config = ConfigDict(extra="forbid")

    programme_id: str
    name: str = ""
    """The programme's name as users know it (shown instead of the id)."""
    name_zh: str = ""
    plan_due_months: int = Field(default=1, ge=1, le=12)
    monitoring_months: list[int] = Field(default_factory=lambda: [3, 6, 12], min_length=1)
    scoring_config: str = "measure_2017_equal_v1"


class Counselling(BaseModel):
    model_config = ConfigDict(extra="forbid")

    held_on: dt.date
    counsellor_id: str = Field(min_length=1)
    informed: bool
    """The person received information on the programme, the return and the alternatives."""
    voluntary: bool
    """The decision is free of coercion (IOM: "free and informed choice")."""
    decision: Literal["return", "undecided", "declined"]
    decided_on: dt.date | None = None
    interpreter_language: str | None = None


class EligibilityDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decided_on: dt.date
    eligible: bool
    decided_by: str
    scheme_id: str | None = None
    reason: str | None = None


class CaseFacts(BaseModel):
    """What the case file knows, gathered from its stage events; each transition checks some of it."""

    model_config = ConfigDict(extra="forbid")

    counselling: Counselling | None = None
    applied_on: dt.date | None = None
    eligibility: EligibilityDecision | None = None
    travel_document: Literal["valid_passport", "laissez_passer_issued", "pending", "none"] | None = None
    medical_fitness: Literal["fit", "fit_with_escort", "unfit", "not_assessed"] | None = None
    vulnerability_screened: bool = False
    vulnerable: bool = False
    referral_made: bool = False
    itinerary_ref: str | None = None
    escort_required: bool = False
    escort_assigned: bool = False
    departed_on: dt.date | None = None
    arrived_on: dt.date | None = None
    received_by: str | None = None
    plan_agreed_on: dt.date | None = None
    assistance_items: int = 0
    monitoring_rounds_completed: int = 0
    monitoring_rounds_due: int = 0
    closure_reason: str | None = None


def requirements_missing(facts: CaseFacts, target: Stage) -> list[FieldError]:
    """What `facts` lacks before the case may enter `target`; each item names the field."""
    missing: list[FieldError] = []
    if target is Stage.APPLICATION:
        c = facts.counselling
        if c is None:
            missing.append(FieldError("counselling", T_("no counselling session is recorded")))
        else:
            if not c.informed:
                missing.append(FieldError("counselling.informed", T_("the decision must be informed")))
            if not c.voluntary:
                missing.append(FieldError("counselling.voluntary", T_("the decision must be voluntary")))
            if c.decision != "return":
                missing.append(FieldError("counselling.decision", T_("the person has not decided to return")))
            if c.decided_on is None:
                missing.append(FieldError("counselling.decided_on", T_("the date of the decision is required")))
    elif target is Stage.ELIGIBILITY:
        if facts.applied_on is None:
            missing.append(FieldError("applied_on", T_("the application date is required")))
    elif target is Stage.PRE_DEPARTURE:
        if facts.eligibility is None or not facts.eligibility.eligible:
            missing.append(FieldError("eligibility.eligible", T_("the case must be found eligible")))
    elif target is Stage.CLOSED and facts.eligibility is not None and not facts.eligibility.eligible:
        if not facts.eligibility.reason:
            missing.append(FieldError("eligibility.reason", T_("a reason is required when closing an ineligible case")))
    elif target is Stage.TRAVEL:
        if facts.travel_document not in ("valid_passport", "laissez_passer_issued"):
            missing.append(FieldError("travel_document", T_("a valid travel document is required")))
        if facts.medical_fitness not in ("fit", "fit_with_escort"):
            missing.append(FieldError("medical_fitness", T_("the person must be assessed fit to travel")))
        if not facts.vulnerability_screened:
            missing.append(FieldError("vulnerability_screened", T_("vulnerability screening is required")))
        elif facts.vulnerable and not facts.referral_made:
            missing.append(FieldError("referral_made", T_("a vulnerable person must be referred before travel")))
        if facts.itinerary_ref is None:
            missing.append(FieldError("itinerary_ref", T_("an itinerary is required")))
        if (facts.escort_required or facts.medical_fitness == "fit_with_escort") and not facts.escort_assigned:
            missing.append(FieldError("escort_assigned", T_("an escort is required and not assigned")))
    elif target is Stage.ARRIVAL:
        if facts.departed_on is None:
            missing.append(FieldError("departed_on", T_("the departure date is required")))
        if facts.arrived_on is None:
            missing.append(FieldError("arrived_on", T_("the arrival date is required")))
        elif facts.departed_on is not None and facts.arrived_on < facts.departed_on:
            missing.append(FieldError("arrived_on", T_("is before the departure date")))
    elif target is Stage.REINTEGRATION_PLAN:
        if facts.received_by is None:
            missing.append(FieldError("received_by", T_("the receiving office or partner is required")))
    elif target is Stage.ASSISTANCE:
        if facts.plan_agreed_on is None:
            missing.append(FieldError("plan_agreed_on", T_("the reintegration plan must be agreed with the returnee")))
    elif target is Stage.MONITORING:
        if facts.assistance_items < 1:
            missing.append(FieldError("assistance_items", T_("at least one assistance item is required")))
    elif target is Stage.CLOSED:
        if facts.monitoring_rounds_completed < facts.monitoring_rounds_due:
            missing.append(FieldError("monitoring_rounds_completed", T_("scheduled monitoring rounds are still open")))
        if not facts.closure_reason:
            missing.append(FieldError("closure_reason", T_("a closure reason is required")))
    return missing


def check_transition(current: Stage, target: Stage, facts: CaseFacts) -> None:
    """Refuse an illegal move (`Conflict`, with the allowed moves) or a move with missing facts (`InvalidInput`)."""
    allowed = TRANSITIONS[current]
    if target is Stage.WITHDRAWN:
        raise Conflict(T_("use withdrawal to record the person's choice to withdraw"),
                       extra={"allowed": [s.value for s in allowed]})
    if target not in allowed:
        raise Conflict(T_("a case in stage {current} cannot move to {target}", current=current.value, target=target.value),
                       extra={"allowed": [s.value for s in allowed]})
    missing = requirements_missing(facts, target)
    if current is Stage.ELIGIBILITY and target is Stage.CLOSED and (facts.eligibility is None or facts.eligibility.eligible):
        missing.append(FieldError("eligibility.eligible", "only an ineligible case is closed at eligibility; "
                                  "an eligible person who stops withdraws"))
    if missing:
        raise InvalidInput(T_("the case cannot enter {target} yet", target=target.value), fields=missing)


class Withdrawal(BaseModel):
    """Recorded as the person's own choice: who recorded it and when, never a reason imposed on them."""

    model_config = ConfigDict(extra="forbid")

    withdrawn_on: dt.date
    recorded_by: str = Field(min_length=1)
    by_person: Literal[True] = True
    stated_reason: str | None = None
    """In the person's words, optional; the person owes no reason."""


def check_withdrawal(current: Stage, facts: CaseFacts, withdrawal: Withdrawal) -> None:
    """Withdrawal is allowed in any stage before departure (including travel until the person has left)."""
    if current not in PRE_DEPARTURE_STAGES or facts.departed_on is not None:
        raise Conflict(T_("withdrawal is possible only before departure"),
                       extra={"allowed": [s.value for s in TRANSITIONS[current]]})
    if facts.counselling is not None and withdrawal.withdrawn_on < facts.counselling.held_on:
        raise InvalidInput(T_("invalid withdrawal"), fields=[FieldError("withdrawn_on", T_("is before the first counselling"))])


# --- plan and monitoring dates ----------------------------------------------------------------


def plan_due_on(arrived_on: dt.date, config: ProgrammeConfig) -> dt.date:
    """The reintegration plan is due `plan_due_months` after arrival (1 month by default)."""
    return add_months(arrived_on, config.plan_due_months)


def plan_overdue(facts: CaseFacts, config: ProgrammeConfig, today: dt.date) -> bool:
    return facts.arrived_on is not None and facts.plan_agreed_on is None and today > plan_due_on(facts.arrived_on, config)


class MonitoringDue(BaseModel):
    round_number: int
    months_after_arrival: int
    due_on: dt.date


def monitoring_schedule(arrived_on: dt.date, config: ProgrammeConfig) -> list[MonitoringDue]:
    """Monitoring surveys at the programme's months after arrival (3, 6 and 12 by default)."""
    months = sorted(set(config.monitoring_months))
    return [MonitoringDue(round_number=i, months_after_arrival=m, due_on=add_months(arrived_on, m))
            for i, m in enumerate(months, start=1)]


# --- consent for a link to a readmission case --------------------------------------------------


class ConsentRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: Literal["link_readmission_case", "share_with_country_of_origin", "monitoring_contact"]
    given_on: dt.date
    withdrawn_on: dt.date | None = None
    recorded_by: str
    form_ref: str = Field(min_length=1)
    """The signed consent form (document id), so the consent can be shown, not just asserted."""


def consent_in_force(consents: list[ConsentRecord], purpose: str, on: dt.date) -> ConsentRecord | None:
    for consent in consents:
        if consent.purpose == purpose and consent.given_on <= on and (consent.withdrawn_on is None or on < consent.withdrawn_on):
            return consent
    return None


def require_link_consent(consents: list[ConsentRecord], on: dt.date) -> ConsentRecord:
    """The consent that allows linking this AVRR case to a readmission case, or `Forbidden` (403).

    The service must audit the refusal as well as the link.
    """
    consent = consent_in_force(consents, "link_readmission_case", on)
    if consent is None:
        raise Forbidden(T_("linking a voluntary-return case to a readmission case requires the person's explicit consent"),
                        fields=[FieldError("consent", T_("no consent to link_readmission_case in force"))])
    return consent


# --- assistance, budgets and tranches -------------------------------------------------------


class AssistanceKind(enum.StrEnum):
    CASH = "cash"
    IN_KIND = "in_kind"
    BUSINESS_START_UP = "business_start_up"
    HOUSING = "housing"
    MEDICAL = "medical"
    EDUCATION = "education"


ASSISTANCE_LABELS: dict[AssistanceKind, tuple[str, str]] = {
    AssistanceKind.CASH: ("Cash", "现金"),
    AssistanceKind.IN_KIND: ("In kind", "实物"),
    AssistanceKind.BUSINESS_START_UP: ("Business start-up", "创业"),
    AssistanceKind.HOUSING: ("Housing", "住房"),
    AssistanceKind.MEDICAL: ("Medical", "医疗"),
    AssistanceKind.EDUCATION: ("Education", "教育"),
}


class TrancheSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: int = Field(ge=1)
    amount: Decimal = Field(gt=0)
    due_from: dt.date
    due_to: dt.date


class AssistancePlanItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: AssistanceKind
    budget: Decimal = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    tranches: list[TrancheSpec] = Field(min_length=1)


class Disbursement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tranche_number: int
    amount: Decimal = Field(gt=0)
    paid_on: dt.date
    proof_ref: str | None = None
    """Receipt, invoice or photo of goods delivered: a document id."""


def assistance_item_problems(item: AssistancePlanItem) -> list[FieldError]:
    """A schedule must fit the budget, number tranches 1..n in date order, and give each a valid window."""
    problems = []
    numbers = [t.number for t in item.tranches]
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append(FieldError("tranches", T_("tranches must be numbered 1, 2, 3... in order")))
    for i, t in enumerate(item.tranches):
        if t.due_to < t.due_from:
            problems.append(FieldError(f"tranches.{i}.due_to", T_("is before due_from")))
        if i and t.due_from < item.tranches[i - 1].due_from:
            problems.append(FieldError(f"tranches.{i}.due_from", T_("is before the previous tranche")))
    total = sum((t.amount for t in item.tranches), Decimal(0))
    if total > item.budget:
        problems.append(FieldError("tranches", T_("the tranches add up to more than the budget")))
    return problems


def check_disbursement(item: AssistancePlanItem, paid: list[Disbursement], new: Disbursement) -> None:
    """Refuse a payment beyond the budget or the tranche, outside its schedule, a second time, or without proof."""
    tranche = next((t for t in item.tranches if t.number == new.tranche_number), None)
    if tranche is None:
        raise InvalidInput(T_("payment refused"), fields=[FieldError("tranche_number", T_("no such tranche in the schedule"))])
    if any(p.tranche_number == new.tranche_number for p in paid):
        raise Conflict(T_("payment refused: this tranche has already been paid"))
    problems = []
    if not (tranche.due_from <= new.paid_on <= tranche.due_to):
        problems.append(FieldError("paid_on", T_("outside the tranche's scheduled window")))
    if new.amount > tranche.amount:
        problems.append(FieldError("amount", T_("more than the tranche's scheduled amount")))
    if sum((p.amount for p in paid), Decimal(0)) + new.amount > item.budget:
        problems.append(FieldError("amount", T_("beyond the assistance budget")))
    if not new.proof_ref:
        problems.append(FieldError("proof_ref", T_("proof of payment or delivery is required")))
    if problems:
        raise InvalidInput(T_("payment refused"), fields=problems)
