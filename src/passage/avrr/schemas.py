"""Pydantic models for AVRR input and output: households, incentive-scheme rules data, calculator results.

The scheme models describe the JSON files in `passage/avrr/data/schemes/` (format documented in
`docs/avrr.md`). Structural checks live here; checks that need the whole file (age bands covering every
age, an amount for every band) live in `passage.avrr.schemes`, so that every refusal names a field path.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Relationship(enum.StrEnum):
    """Relationship of a household member to the head of household."""

    HEAD = "head"
    SPOUSE = "spouse"
    CHILD = "child"
    PARENT = "parent"
    SIBLING = "sibling"
    GRANDCHILD = "grandchild"
    OTHER_RELATIVE = "other_relative"
    OTHER = "other"


class LegalStatus(enum.StrEnum):
    """Residence status in the host country, as AVRR programmes distinguish it."""

    ASYLUM_SEEKER = "asylum_seeker"
    REJECTED_ASYLUM_SEEKER = "rejected_asylum_seeker"
    TOLERATED = "tolerated"
    RECOGNISED_REFUGEE = "recognised_refugee"
    SUBSIDIARY_PROTECTION = "subsidiary_protection"
    TRAFFICKING_VICTIM = "trafficking_victim"
    IRREGULAR_STAY = "irregular_stay"
    OTHER_RESIDENCE_PERMIT = "other_residence_permit"


class AsylumStage(enum.StrEnum):
    """Where the asylum procedure stands when return is chosen."""

    NONE = "none"
    """No asylum application was ever made."""
    PENDING = "pending"
    """Application lodged, no first-instance decision yet."""
    FIRST_NEGATIVE = "first_negative"
    """First-instance rejection; the appeal period or departure deadline may still be running."""
    APPEAL_PENDING = "appeal_pending"
    FINAL_NEGATIVE = "final_negative"
    POSITIVE = "positive"


class Member(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: str = Field(min_length=1, max_length=40)
    age: int = Field(ge=0, le=120)
    """Completed years at the calculation date."""
    relationship: Relationship
    sex: Literal["f", "m", "x"] | None = None


class Household(BaseModel):
    """A returning individual or family: the `household.json` the calculator and the CLI read."""

    model_config = ConfigDict(extra="forbid")

    nationality: str = Field(pattern=r"^[A-Z]{3}$")
    legal_status: LegalStatus
    asylum_stage: AsylumStage = AsylumStage.NONE
    departure_within_deadline: bool = True
    """False once the departure deadline set with a rejection has passed."""
    appeal_lodged: bool = False
    dublin_case: bool = False
    """A final decision under § 29(1) no. 1 AsylG (another EU state is responsible) when the AVRR
    application is made; REAG/GARP 2017 caps such a household's support (see the scheme's `household_caps`)."""
    planned_departure_date: dt.date | None = None
    travel_cost_estimate: Decimal | None = Field(default=None, ge=0)
    """Ticket and transport to the airport, if already quoted; travel costs are otherwise paid at actual cost."""
    members: list[Member] = Field(min_length=1, max_length=30)


# --- scheme rules data -------------------------------------------------------------------------


class Citation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    url: str | None = None
    accessed: dt.date | None = None
    note: str | None = None


class AgeBand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    label: str
    translations: dict[str, dict[str, str]] = Field(default_factory=dict)
    min_age: int = Field(ge=0)
    max_age: int | None = None
    """Inclusive; None means no upper limit."""


class Eligibility(BaseModel):
    """Who the scheme serves. An empty or absent list means no restriction on that criterion."""

    model_config = ConfigDict(extra="forbid")

    legal_statuses: list[LegalStatus] | None = None
    nationalities: list[str] | None = None
    excluded_nationalities: list[str] = Field(default_factory=list)
    asylum_stages: list[AsylumStage] | None = None


class Conditions(BaseModel):
    """Extra conditions for one rule; every condition given must hold for the rule to apply."""

    model_config = ConfigDict(extra="forbid")

    nationalities: list[str] | None = None
    excluded_nationalities: list[str] | None = None
    """The rule does not apply to these nationalities..."""
    exclusion_waived_for: list[LegalStatus] | None = None
    """...unless the household has one of these legal statuses (REAG/GARP 2017: victims of trafficking)."""
    asylum_stages: list[AsylumStage] | None = None
    departure_within_deadline: bool | None = None
    appeal_lodged: bool | None = None
    min_household_size: int | None = Field(default=None, ge=1)
    dublin_case: bool | None = None


class Instalment(BaseModel):
    """One payment of a rule's amount: a share, paid at an event plus a window of months."""

    model_config = ConfigDict(extra="forbid")

    share: Decimal = Field(gt=0, le=1)
    event: Literal["departure", "arrival"]
    offset_months_from: int = Field(default=0, ge=0)
    offset_months_to: int = Field(default=0, ge=0)
    place: str | None = None
    """Where it is paid, e.g. "host country" or "country of origin"."""


class Rule(BaseModel):
    """One incentive rule.

    kinds:
    - `per_person`: an amount for each member, by age band (`amounts_by_band`);
    - `per_household`: one fixed `amount` for the household;
    - `actual_cost`: paid at cost (travel tickets); the amount is the household's estimate if given;
    - `ceiling`: reimbursed on proof up to `amount` per household (medical support); not in the total.
    """

    model_config = ConfigDict(extra="forbid")

    rule_id: str = Field(pattern=r"^[a-z0-9_]+$")
    label: str
    translations: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Published text in other languages: {field: {locale: text}} (docs/avrr.md, "Languages")."""
    original_terms: list[str] = Field(default_factory=list)
    """Terms in the scheme's own language (a benefit's legal name, e.g. Reisebeihilfe) kept as they are in every
    language; pages mark them translate="no"."""
    kind: Literal["per_person", "per_household", "actual_cost", "ceiling"]
    amounts_by_band: dict[str, Decimal] | None = None
    amount: Decimal | None = None
    family_cap: Decimal | None = Field(default=None, gt=0)
    """Maximum of this rule for one household, applied before instalments."""
    coverage_months: int | None = Field(default=None, ge=1)
    """For a ceiling: how long after arrival costs are covered."""
    conditions: Conditions = Field(default_factory=Conditions)
    instalments: list[Instalment] = Field(default_factory=list)
    citation: str
    """Id of an entry in the scheme's `citations`."""


class HouseholdCap(BaseModel):
    """A maximum of several rules together for one household, e.g. REAG/GARP 2017's maximum support for a
    Dublin case (EUR 1,500 for country group 1, EUR 900 for group 2); applied after the rules' own caps."""

    model_config = ConfigDict(extra="forbid")

    cap_id: str = Field(pattern=r"^[a-z0-9_]+$")
    label: str
    translations: dict[str, dict[str, str]] = Field(default_factory=dict)
    amount: Decimal = Field(gt=0)
    applies_to: list[str] = Field(min_length=1)
    """Rule ids whose amounts count towards the cap."""
    conditions: Conditions = Field(default_factory=Conditions)
    citation: str


class SourceValue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str
    citation: str | None
    """Id of an entry in the scheme's `citations`, or None when the value was reported without a source found."""
    note: str | None = None


class FigureConflict(BaseModel):
    """Sources that disagree on one figure of the scheme: every value is shown with its source, and the
    figure the file applies is marked unverified until a primary text settles it."""

    model_config = ConfigDict(extra="forbid")

    rule_id: str
    field: str
    applied: str
    values: list[SourceValue] = Field(min_length=2)
    verified: bool = False


class SchemeVersion(BaseModel):
    """One version of an incentive scheme, valid from `effective_from` to `effective_to` (both inclusive)."""

    model_config = ConfigDict(extra="forbid")

    scheme_id: str = Field(pattern=r"^[a-z0-9_]+$")
    version: str
    title: str
    translations: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Published text in other languages: {field: {locale: text}} (docs/avrr.md, "Languages")."""
    original_terms: list[str] = Field(default_factory=list)
    """Terms in the scheme's own language (a benefit's legal name, e.g. Reisebeihilfe) kept as they are in every
    language; pages mark them translate="no"."""
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    original_language: str = "en"
    """The language the scheme's source texts (labels, titles) are written in; `original_terms` are in it."""
    effective_from: dt.date
    effective_to: dt.date | None = None
    template: bool = False
    """A template is a starting point for a new scheme; it is never used for calculations."""
    citations: list[Citation] = Field(min_length=1)
    age_bands: list[AgeBand] = Field(min_length=1)
    eligibility: Eligibility = Field(default_factory=Eligibility)
    rules: list[Rule] = Field(min_length=1)
    household_caps: list[HouseholdCap] = Field(default_factory=list)
    figure_conflicts: list[FigureConflict] = Field(default_factory=list)


# --- calculator output -----------------------------------------------------------------------


class IncentiveLine(BaseModel):
    line: int
    rule_id: str
    rule: str
    kind: str
    member_id: str | None
    basis: str
    """Why this amount: the age band, the cap, the condition that made the rule apply (in English)."""
    basis_message: dict[str, Any] | None = None
    """The same, language-neutral (`Text.as_stored()`) when Passage wrote it; None when it is the scheme's age band."""
    basis_translations: dict[str, str] = Field(default_factory=dict)
    """The age band's label in other languages ({locale: text}) when the basis is the scheme's age band."""
    rule_translations: dict[str, str] = Field(default_factory=dict)
    """The rule's label in other languages ({locale: text}), from the scheme file."""
    original_terms: list[str] = Field(default_factory=list)
    original_language: str = "en"
    amount: Decimal | None
    """None for an actual-cost line without an estimate."""
    counted_in_total: bool
    instalment: str | None
    """"1/2", "2/2", or None for a single payment."""
    payment_date: dt.date | None
    payment_date_latest: dt.date | None
    place: str | None
    citation: str


class NotApplied(BaseModel):
    rule_id: str
    reason: str
    reason_messages: list[dict[str, Any]] = Field(default_factory=list)
    """Each reason, language-neutral (`Text.as_stored()`)."""


class IncentiveResult(BaseModel):
    scheme_id: str
    scheme_version: str
    scheme_title: str
    scheme_title_translations: dict[str, str] = Field(default_factory=dict)
    currency: str
    calculation_date: dt.date
    departure_date: dt.date
    eligible: bool
    ineligibility_reasons: list[str]
    ineligibility_messages: list[dict[str, Any]] = Field(default_factory=list)
    """The reasons, language-neutral (`Text.as_stored()`), rendered in the reader's language on pages."""
    lines: list[IncentiveLine]
    not_applied: list[NotApplied]
    total: Decimal
    """Sum of lines counted in the total (fixed amounts and quoted actual costs)."""
    ceilings: Decimal
    """Sum of "up to" amounts reimbursed on proof (not in `total`)."""
    citations: list[Citation]
    unverified_figures: list[FigureConflict] = Field(default_factory=list)
    """Conflicting-source figures among the rules that produced lines; the UI and CLI show them as unverified."""
