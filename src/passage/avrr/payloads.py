"""Input and output models of the AVRR service and API (the case file, transitions, payments, monitoring).

`schemas.py` holds the calculator's household and scheme formats; this file holds what the service takes
and what the API returns. Health and vulnerability fields are `None` in the output (with `health_redacted`)
for a reader without `sensitive:health`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from passage.avrr.schemas import AsylumStage, LegalStatus, Relationship
from passage.avrr.stages import AssistanceKind, Stage
from passage.core.api_schemas import RequestModel

ISO3 = r"^[A-Z]{3}$"


class MemberIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    member_id: str = Field(min_length=1, max_length=40)
    age: int = Field(ge=0, le=120)
    relationship: Relationship
    sex: Literal["f", "m", "x"] | None = None
    full_name: str | None = Field(default=None, max_length=200)
    """Stored encrypted; never used in the calculator or in any report."""


class CounsellingIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    held_on: dt.date
    informed: bool
    voluntary: bool
    decision: Literal["return", "undecided", "declined"]
    decided_on: dt.date | None = None


class CaseCreate(RequestModel):
    model_config = ConfigDict(extra="forbid")

    programme_id: str = Field(min_length=1, max_length=60)
    scheme_id: str | None = Field(default=None, max_length=60)
    nationality: str = Field(pattern=ISO3)
    country_of_return: str = Field(pattern=ISO3)
    legal_status: LegalStatus
    asylum_stage: AsylumStage = AsylumStage.NONE
    members: list[MemberIn] = Field(min_length=1, max_length=30)
    counselling: CounsellingIn
    reference: str | None = Field(default=None, max_length=40, pattern=r"^[A-Z0-9-]+$")


class EligibilityIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    eligible: bool
    reason: str | None = Field(default=None, max_length=200)


HEALTH_FIELDS = ("medical_fitness", "vulnerable", "vulnerability_notes", "referral_made")
"""Fields that need `sensitive:health` to read or write."""


class CaseFactsIn(RequestModel):
    """Facts recorded on the way through the stages; every field is optional, only the given ones change."""

    model_config = ConfigDict(extra="forbid")

    counselling: CounsellingIn | None = None
    applied_on: dt.date | None = None
    eligibility: EligibilityIn | None = None
    travel_document: Literal["valid_passport", "laissez_passer_issued", "pending", "none"] | None = None
    medical_fitness: Literal["fit", "fit_with_escort", "unfit", "not_assessed"] | None = None
    vulnerability_screened: bool | None = None
    vulnerable: bool | None = None
    vulnerability_notes: str | None = Field(default=None, max_length=2000)
    referral_made: bool | None = None
    itinerary_ref: str | None = Field(default=None, max_length=60)
    escort_required: bool | None = None
    escort_assigned: bool | None = None
    allowances_paid_on: dt.date | None = None
    departed_on: dt.date | None = None
    arrived_on: dt.date | None = None
    received_by: str | None = Field(default=None, max_length=120)
    plan_agreed_on: dt.date | None = None
    closure_reason: str | None = Field(default=None, max_length=200)


class FactsUpdate(CaseFactsIn):
    version: int


class TransitionIn(CaseFactsIn):
    to_stage: Stage
    version: int
    occurred_on: dt.date | None = None
    """Default: today."""


class WithdrawalIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    withdrawn_on: dt.date
    stated_reason: str | None = Field(default=None, max_length=1000)
    """In the person's own words, optional."""


class ConsentIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    purpose: Literal["link_readmission_case", "share_with_country_of_origin", "monitoring_contact"]
    given_on: dt.date
    form_ref: str = Field(min_length=1, max_length=80)


class ConsentWithdrawIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    withdrawn_on: dt.date


class LinkIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    readmission_case_id: str = Field(min_length=1, max_length=32)
    linked_on: dt.date | None = None


class TrancheIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    number: int = Field(ge=1)
    amount: Decimal = Field(gt=0, max_digits=12, decimal_places=2)
    due_from: dt.date
    due_to: dt.date


class AssistanceIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    kind: AssistanceKind
    description: str | None = Field(default=None, max_length=300)
    budget: Decimal = Field(gt=0, max_digits=12, decimal_places=2)
    currency: str = Field(default="EUR", pattern=ISO3)
    tranches: list[TrancheIn] = Field(min_length=1, max_length=24)


class PaymentIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    """Version of the tranche as read."""
    amount: Decimal = Field(gt=0, max_digits=12, decimal_places=2)
    paid_on: dt.date
    proof_ref: str | None = Field(default=None, max_length=80)


class CostIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    category: Literal["travel", "incentives", "assistance", "escort", "medical", "staff", "other"]
    amount: Decimal = Field(gt=0, max_digits=12, decimal_places=2)
    currency: str = Field(default="EUR", pattern=ISO3)
    booked_on: dt.date


class ForcedCostIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    booked_on: dt.date
    returnees: int = Field(ge=1, le=10000)
    cost: Decimal = Field(gt=0, max_digits=12, decimal_places=2)
    currency: str = Field(default="EUR", pattern=ISO3)
    source: str = Field(min_length=1, max_length=120)


class MonitoringIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    interview_date: dt.date
    interview_mode: Literal["in_person", "phone"]
    consent: Literal["yes", "no"]
    answers: dict[str, str] = Field(default_factory=dict, max_length=100)
    """`{item name: choice name}` with the names of the XLSForm (e.g. `econ_work: yes`)."""


class IncentivesIn(RequestModel):
    """The CLI's `--scheme`, `--household` and `--date` as one JSON body."""

    model_config = ConfigDict(extra="forbid")

    scheme: str = Field(min_length=1, max_length=60)
    household: dict[str, Any]
    date: dt.date | None = None


# --- output ----------------------------------------------------------------------------------------


class MemberOut(BaseModel):
    member_id: str
    age: int
    relationship: str
    sex: str | None
    full_name: str | None


class EventOut(BaseModel):
    from_stage: str | None
    to_stage: str
    occurred_on: dt.date
    actor_id: str
    details: dict[str, Any]


class TrancheOut(BaseModel):
    id: str
    number: int
    amount: Decimal
    due_from: dt.date
    due_to: dt.date
    paid_amount: Decimal | None
    paid_on: dt.date | None
    proof_ref: str | None
    version: int


class AssistanceOut(BaseModel):
    id: str
    kind: str
    description: str | None
    budget: Decimal
    currency: str
    disbursed: Decimal
    tranches: list[TrancheOut]
    version: int


class ConsentOut(BaseModel):
    id: str
    purpose: str
    given_on: dt.date
    withdrawn_on: dt.date | None
    form_ref: str
    version: int


class LinkOut(BaseModel):
    id: str
    readmission_case_id: str
    consent_id: str
    unlinked_on: dt.date | None


class MonitoringOut(BaseModel):
    id: str
    case_id: str
    round_number: int
    months_after_arrival: int
    due_on: dt.date
    completed_on: dt.date | None
    submission_ref: str | None
    scoring_config: str | None
    economic: float | None
    social: float | None
    psychosocial: float | None
    composite: float | None
    version: int


class CaseSummary(BaseModel):
    id: str
    reference: str
    programme_id: str
    stage: str
    country_of_return: str
    household_size: int
    counsellor_id: str | None
    counselled_on: dt.date | None
    plan_due_on: dt.date | None
    plan_overdue: bool
    version: int


class CaseOut(CaseSummary):
    scheme_id: str | None
    scheme_version: str | None
    nationality: str
    legal_status: str
    asylum_stage: str
    decision_informed: bool
    decision_voluntary: bool
    decision: str | None
    decided_on: dt.date | None
    applied_on: dt.date | None
    eligible: bool | None
    eligibility_decided_on: dt.date | None
    eligibility_reason: str | None
    travel_document: str | None
    vulnerability_screened: bool
    escort_required: bool
    escort_assigned: bool
    itinerary_ref: str | None
    allowances_paid_on: dt.date | None
    departed_on: dt.date | None
    arrived_on: dt.date | None
    received_by: str | None
    plan_agreed_on: dt.date | None
    closed_on: dt.date | None
    closure_reason: str | None
    withdrawn_on: dt.date | None
    withdrawal_by_person: bool | None
    health_redacted: bool
    medical_fitness: str | None
    vulnerable: bool | None
    vulnerability_notes: str | None
    referral_made: bool | None
    allowed_transitions: list[str]
    can_withdraw: bool
    members: list[MemberOut]
    events: list[EventOut]
    assistance: list[AssistanceOut]
    consents: list[ConsentOut]
    links: list[LinkOut]
    monitoring: list[MonitoringOut]
