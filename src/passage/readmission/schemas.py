"""Pydantic schemas for readmission agreements as versioned data.

Every number an agreement fixes (a time limit, a validity period) is a `Figure` that carries its own
`Citation`: the source, the article, and whether we checked the figure against the published text
(`verified`). The UI shows unverified figures as such.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from passage.core.api_schemas import RequestModel
from passage.core.i18n import P_, LocalisedValue, Published, Text, in_language


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Translated(Strict):
    """Published text with a value per language: the source text stays in its own field (English, as the agreement
    is published) and `translations` holds `{field: {locale: text}}` (e.g. `{"article": {"zh_Hans": "第8条第1款"}}`).
    Translations are presentation, not figures: they are left out of a version's checksum (see `store`)."""

    translations: dict[str, dict[str, str]] = Field(default_factory=dict)

    def shown(self, field: str) -> LocalisedValue:
        """The reader's text for `field`, marked as a fallback when the reader's language is missing."""
        return in_language(getattr(self, field), self.translations, field)

    def published(self, field: str) -> Published:
        """`field` as a message parameter (rendered in the reader's language wherever the message is shown)."""
        return Published(str(getattr(self, field)), field, self.translations)


class Citation(Translated):
    """Where a figure comes from. `verified` is true only if the figure was read in the text itself."""

    source: str = Field(min_length=1)
    article: str = Field(min_length=1)
    verified: bool
    note: str = ""


class DayUnit(StrEnum):
    calendar_days = "calendar_days"
    working_days = "working_days"
    months = "months"


class Figure(Strict):
    """A cited time span: `value` units (calendar days, working days of the requested state, or months)."""

    value: int = Field(ge=0, le=3660)
    unit: DayUnit
    citation: Citation

    def describe(self) -> Text:
        """"20 working days" as a message (rendered "20个工作日" on a Chinese page)."""
        return describe_span(self.value, self.unit.value)


def describe_span(value: int, unit: str) -> Text:
    """A count of days, working days, weeks or months, with the plural of its unit."""
    if unit == "working_days":
        return P_("{n} working day", "{n} working days", value)
    if unit == "calendar_days":
        return P_("{n} calendar day", "{n} calendar days", value)
    if unit == "months":
        return P_("{n} month", "{n} months", value)
    if unit == "weeks":
        return P_("{n} week", "{n} weeks", value)
    return P_("{n} day", "{n} days", value)


class CitedFlag(Strict):
    value: bool
    citation: Citation


class ClockStart(StrEnum):
    """The event that starts the reply clock."""

    confirmed_receipt = "confirmed_receipt"
    receipt = "receipt"
    submission = "submission"


class ExtensionMode(StrEnum):
    """`total`: the limit becomes `limit` (EU–Russia style, "extended up to 60 days");
    `additional`: `limit` is added to the ordinary limit (EU–Serbia style, "extended by up to 6 days")."""

    total = "total"
    additional = "additional"


class Extension(Strict):
    mode: ExtensionMode
    limit: Figure
    requires_reasoned_request: bool = True


class Accelerated(Translated):
    """Accelerated (border) procedure: a person apprehended in the border region after crossing directly."""

    reply_limit: Figure
    application_limit: Figure | None = None
    border_region_definition: str = Field(min_length=1)
    border_region_citation: Citation
    silence_means_acceptance: CitedFlag | None = None


class TravelDocument(Translated):
    validity: Figure | None
    """None when the validity could not be taken from the text; no expiry is then computed."""
    issue_limit: Figure | None = None
    issue_rule: str = Field(min_length=1, description="e.g. 'without delay'")
    issue_rule_citation: Citation
    reissue_normal_limit: Figure | None = None
    reissue_max_limit: Figure | None = None
    standard_document_deemed_accepted: Figure | None = None
    """If the requested state has not acknowledged the request for a travel document within this limit, it
    is deemed to accept the EU standard travel document for return (EU–Sri Lanka Art. 2(4), per European
    Parliament procedure 2003/0043(CNS)). The request is taken to be made on acceptance of the application."""


class EvidenceCategory(StrEnum):
    proof_of_nationality = "proof_of_nationality"
    prima_facie = "prima_facie"
    starts_identification = "starts_identification"


class EvidenceType(Translated):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(min_length=1)
    category: EvidenceCategory
    citation: Citation


class ReadmissionProcedure(Strict):
    clock_start: ClockStart
    clock_start_citation: Citation
    reply_limit: Figure | None
    """None when the figure could not be taken from the text; the version then computes no reply date."""
    extension: Extension | None = None
    silence_means_acceptance: CitedFlag
    accelerated: Accelerated | None = None
    transfer_limit: Figure | None
    transfer_clock_start: Literal["acceptance", "receipt_of_acceptance"] = "acceptance"

    @field_validator("reply_limit")
    @classmethod
    def _reply_not_months(cls, figure: Figure | None) -> Figure | None:
        if figure is not None and (figure.unit is DayUnit.months or figure.value < 1):
            raise ValueError("the reply limit is a positive number of calendar or working days")
        return figure


class TransitProcedure(Strict):
    reply_limit: Figure
    transit_limit: Figure
    silence_means_consent: CitedFlag


class HolidayEntry(Strict):
    date: dt.date
    name: str = Field(min_length=1)


class CalendarNotice(Strict):
    """One year's official holiday arrangement of a state, e.g. China's State Council General Office notice
    (国务院办公厅关于2026年部分节假日安排的通知, 4 November 2025): the days off (including the weekend days
    merged into a holiday) and the weekend days declared working days (调休上班).

    Notices are versioned: a corrected notice for the same year gets the next `version`, and the highest
    version of a year is the one deadlines use. Format documented in `docs/readmission.md`.
    """

    country: str = Field(pattern=r"^[A-Z]{2}$")
    year: int = Field(ge=1990, le=2200)
    version: int = Field(default=1, ge=1)
    title: str = Field(min_length=1)
    issued_on: dt.date
    source: str = Field(min_length=1, description="issuing body and publication, e.g. 'State Council General Office; Xinhua'")
    url: str | None = None
    holidays: tuple[HolidayEntry, ...] = Field(min_length=1)
    workdays: tuple[HolidayEntry, ...] = ()

    @model_validator(mode="after")
    def _within_year(self) -> CalendarNotice:
        problems = [f"{h.date} is not in {self.year}" for h in (*self.holidays, *self.workdays) if h.date.year != self.year]
        if problems:
            raise ValueError("; ".join(problems[:5]))
        both = {h.date for h in self.holidays} & {w.date for w in self.workdays}
        if both:
            raise ValueError(f"dates listed both as holiday and as working day: {sorted(both)}")
        dates = [h.date for h in self.holidays] + [w.date for w in self.workdays]
        if len(dates) != len(set(dates)):
            raise ValueError("a date is listed twice")
        return self

    @property
    def key(self) -> str:
        return f"{self.country}-{self.year} v{self.version}"


class HolidayTable(Strict):
    """The requested state's working-day calendar.

    `country` names a `holidays` package country (e.g. "CN", whose data include the make-up working
    weekends, 调休). `extra_holidays`/`extra_workdays` override it and are versioned with the agreement,
    e.g. for a year the package does not know yet. `notices` are the official annual notices attached by
    the catalogue (shipped in `data/calendars/` and loaded with `passage calendars load`); a year that
    has one is computed from it alone, and for a state that publishes such notices a year without one is
    *provisional* (the package's guess), which every deadline touching it says.
    """

    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    extra_holidays: tuple[HolidayEntry, ...] = ()
    extra_workdays: tuple[HolidayEntry, ...] = ()
    weekend: tuple[int, ...] = (5, 6)
    source: str = ""
    notices: tuple[CalendarNotice, ...] = ()

    @model_validator(mode="after")
    def _disjoint(self) -> HolidayTable:
        both = {h.date for h in self.extra_holidays} & {w.date for w in self.extra_workdays}
        if both:
            raise ValueError(f"dates listed both as holiday and as working day: {sorted(both)}")
        if any(d < 0 or d > 6 for d in self.weekend):
            raise ValueError("weekend days are 0 (Monday) to 6 (Sunday)")
        return self


class DataProtection(Strict):
    shared_fields: tuple[str, ...] = Field(min_length=1)
    shared_fields_citation: Citation
    retention_after_closure: Figure
    notify_corrections: bool = True


class Parties(Strict):
    requesting: tuple[str, ...] = Field(min_length=1)
    requested: tuple[str, ...] = Field(min_length=1)


class AgreementVersion(Translated):
    version: int = Field(ge=1)
    label: str = Field(min_length=1)
    parties: Parties
    requested_state: str = Field(pattern=r"^[A-Z]{2}$")
    effective_from: dt.date
    effective_to: dt.date | None = None
    effective_citation: Citation
    calendar: HolidayTable
    readmission: ReadmissionProcedure | None = None
    transit: TransitProcedure | None = None
    travel_document: TravelDocument | None = None
    evidence_types: tuple[EvidenceType, ...] = ()
    required_application_data: tuple[str, ...] = ()
    required_application_data_citation: Citation | None = None
    data_protection: DataProtection

    @model_validator(mode="after")
    def _consistent(self) -> AgreementVersion:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        if self.readmission is None and self.transit is None:
            raise ValueError("a version needs a readmission or a transit procedure (or both)")
        if self.readmission is not None and self.travel_document is None:
            raise ValueError("a readmission procedure needs travel_document rules")
        if self.required_application_data and self.required_application_data_citation is None:
            raise ValueError("required_application_data needs required_application_data_citation")
        unknown = [f for f in self.required_application_data if f not in APPLICATION_FIELDS]
        if unknown:
            raise ValueError(f"unknown application fields {unknown}; known: {sorted(APPLICATION_FIELDS)}")
        unshareable = [f for f in self.data_protection.shared_fields if f not in SHAREABLE_FIELDS]
        if unshareable:
            raise ValueError(f"unknown shared fields {unshareable}; known: {sorted(SHAREABLE_FIELDS)}")
        codes = [e.code for e in self.evidence_types]
        if len(codes) != len(set(codes)):
            raise ValueError("evidence type codes must be unique")
        return self

    def is_effective_on(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)


class Agreement(Translated):
    id: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,63}$")
    name: str = Field(min_length=1)
    name_zh: str = ""
    kind: Literal["agreement", "template", "arrangement"]
    editable: bool = False
    description: str = ""
    versions: tuple[AgreementVersion, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _versions_ordered(self) -> Agreement:
        numbers = [v.version for v in self.versions]
        if numbers != sorted(set(numbers)):
            raise ValueError("version numbers must be unique and ascending")
        for earlier, later in zip(self.versions, self.versions[1:], strict=False):
            if earlier.effective_to is None or earlier.effective_to >= later.effective_from:
                raise ValueError(f"version {earlier.version} overlaps version {later.version}; close it with effective_to")
        return self

    def shown(self, field: str) -> LocalisedValue:
        """As `Translated.shown`; the name's Chinese also comes from `name_zh` (the older bilingual field)."""
        if field == "name" and self.name_zh:
            return in_language(self.name, {**self.translations, "name": {"zh_Hans": self.name_zh, **self.translations.get("name", {})}}, "name")
        return super().shown(field)

    def published(self, field: str) -> Published:
        if field == "name" and self.name_zh:
            return Published(self.name, "name", {**self.translations, "name": {"zh_Hans": self.name_zh, **self.translations.get("name", {})}})
        return super().published(field)

    def version_on(self, day: dt.date) -> AgreementVersion | None:
        for version in self.versions:
            if version.is_effective_on(day):
                return version
        return None

    def latest(self) -> AgreementVersion:
        return self.versions[-1]


APPLICATION_FIELDS: frozenset[str] = frozenset(
    {
        "surname",
        "given_names",
        "aliases",
        "date_of_birth",
        "place_of_birth",
        "sex",
        "nationality",
        "father_name",
        "mother_name",
        "languages",
        "civil_status",
        "last_addresses_in_requested_state",
        "physical_description",
        "photo",
        "evidence",
        "special_needs",
        "security_measures",
        "travel_document_number",
    }
)
"""Field codes an agreement may require in an application (the EU agreements' "readmission application" article)."""

SHAREABLE_FIELDS: frozenset[str] = APPLICATION_FIELDS | frozenset(
    {
        "case_reference",
        "agreement_id",
        "procedure",
        "accelerated",
        "submitted_on",
        "vulnerability_flags",
        "transfer_date",
        "transfer_place",
        "escorts",
        "flight",
        "verification_outcome",
        "refusal_reason",
        "health_information",
        "criminal_record",
    }
)
"""Everything a case may hold that could ever cross the border; an agreement whitelists a subset."""


# --- API input and output (wave 2) ------------------------------------------------------------------------


class CaseCreateIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    agreement_id: str = Field(max_length=64)
    procedure: Literal["readmission", "transit"] = "readmission"
    accelerated: bool = False
    application: dict[str, Any] = Field(default_factory=dict)
    aliases_none: bool = False
    confirm_not_duplicate: bool = False
    """True after a 409 `possible_duplicate`: the officer confirms that this is a different person."""


class CaseEditIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    application: dict[str, Any] = Field(default_factory=dict)
    aliases_none: bool | None = None


class TransitionIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    action: str = Field(max_length=40)
    version: int
    payload: dict[str, Any] = Field(default_factory=dict)


class AliasIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    alias: str = Field(max_length=300)
    kind: str = "alias"


class HoldIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    kind: str = Field(max_length=30)
    reason: str = Field(max_length=2000)
    evidence_document_ids: list[str] = Field(default_factory=list, max_length=20)


class LiftIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    reason: str = Field(max_length=2000)


class FlagIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    kind: str = Field(max_length=40)
    note: str | None = Field(default=None, max_length=2000)
    active: bool = True


class VersionIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    version: int


class CandidatesIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    source: str = Field(max_length=200)
    candidates: list[dict[str, Any]] = Field(max_length=50)


class CandidateDecisionIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    verification_id: str
    registry_id: str
    decision: Literal["confirmed", "rejected"]


class CaseSummaryOut(BaseModel):
    id: str
    reference: str
    procedure: str
    state: str
    agreement_id: str
    agreement_version: int
    requesting_state: str
    province: str | None
    submitted_on: dt.date | None
    updated_at: dt.datetime
    next_due: dt.date | None
    next_due_kind: str | None
    overdue: bool
    due_soon: bool
    version: int
