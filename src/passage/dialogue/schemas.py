"""Pydantic schemas of the Dialogue, in and out."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import pycountry
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator


class InstitutionType(enum.StrEnum):
    ministry = "ministry"
    bureau = "bureau"
    provincial_office = "provincial_office"
    embassy = "embassy"
    eu_body = "eu_body"
    international_organisation = "international_organisation"
    academia = "academia"


class EventType(enum.StrEnum):
    workshop = "workshop"
    seminar = "seminar"
    study_visit = "study_visit"


class ParticipantRole(enum.StrEnum):
    participant = "participant"
    expert = "expert"
    chair = "chair"
    speaker = "speaker"


class SessionKind(enum.StrEnum):
    presentation = "presentation"
    group_discussion = "group_discussion"


class OutcomeKind(enum.StrEnum):
    recommendation = "recommendation"
    challenge = "challenge"


class FollowUpStatus(enum.StrEnum):
    planned = "planned"
    in_progress = "in_progress"
    done = "done"
    dropped = "dropped"


class FocalPointFunction(enum.StrEnum):
    immigration_liaison_officer = "immigration_liaison_officer"
    focal_point = "focal_point"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _country(value: str | None) -> str | None:
    if value is None:
        return None
    code = value.upper()
    if code != "EU" and pycountry.countries.get(alpha_2=code) is None:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code")
    return code


class InstitutionIn(_In):
    name_en: str = Field(min_length=1, max_length=300)
    name_zh: str | None = Field(default=None, max_length=300)
    acronym: str | None = Field(default=None, max_length=40)
    institution_type: InstitutionType
    country: str | None = None
    province: str | None = None
    key: str | None = Field(default=None, max_length=80)

    _check_country = field_validator("country")(_country)

    @field_validator("province")
    @classmethod
    def _province(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from passage.dialogue.rules import PROVINCES

        if value not in PROVINCES:
            raise ValueError("must be an ISO 3166-2:CN provincial-level code such as CN-GD")
        return value

    @model_validator(mode="after")
    def _province_only_in_china(self) -> InstitutionIn:
        if self.country is None and self.institution_type != InstitutionType.international_organisation:
            raise ValueError("country is required (EU for EU bodies); only an international organisation has none")
        if self.province is not None and self.country != "CN":
            raise ValueError("province is only recorded for Chinese institutions")
        return self


class EventIn(_In):
    key: str | None = Field(default=None, max_length=80)
    title_en: str = Field(min_length=1, max_length=400)
    title_zh: str | None = Field(default=None, max_length=400)
    event_type: EventType
    start_date: dt.date
    end_date: dt.date
    venue_en: str = Field(min_length=1, max_length=300)
    venue_zh: str | None = None
    project_en: str = Field(min_length=1, max_length=300)
    project_zh: str | None = None
    funder_en: str | None = None
    funder_zh: str | None = None
    objectives_en: str | None = None
    objectives_zh: str | None = None
    introduction_en: str | None = None
    introduction_zh: str | None = None
    conclusion_en: str | None = None
    conclusion_zh: str | None = None
    headcount: int | None = Field(default=None, ge=0)
    organiser_institution_ids: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _end_not_before_start(self) -> EventIn:
        if self.end_date < self.start_date:
            raise ValueError("end_date precedes start_date")
        return self


class ContactIn(_In):
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, max_length=60)
    consent_given: bool
    consent_date: dt.date | None = None

    @model_validator(mode="after")
    def _consent_has_date(self) -> ContactIn:
        if self.consent_given and self.consent_date is None:
            raise ValueError("consent_date is required when consent is given")
        return self


class ParticipantIn(_In):
    key: str | None = Field(default=None, max_length=80)
    name: str = Field(min_length=1, max_length=200)
    name_zh: str | None = None
    honorific: str | None = Field(default=None, max_length=20)
    position_en: str | None = Field(default=None, max_length=400)
    institution_id: str = Field(min_length=1)
    contact: ContactIn | None = None


class ParticipationIn(_In):
    participant_id: str = Field(min_length=1)
    role: ParticipantRole


class InstitutionAttendanceIn(_In):
    institution_id: str = Field(min_length=1)
    headcount: int | None = Field(default=None, ge=0)


class StatementPart(_In):
    label: str = Field(min_length=1)
    count: int | None = Field(default=None, ge=0)


class AttendanceStatementIn(_In):
    text: str = Field(min_length=1)
    stated_total: int = Field(ge=0)
    parts: list[StatementPart] = Field(default_factory=list)
    named_role: ParticipantRole | None = None


class SessionIn(_In):
    number: int = Field(ge=1)
    day: int | None = Field(default=None, ge=1)
    title_en: str = Field(min_length=1, max_length=500)
    title_zh: str | None = None
    kind: SessionKind
    abstract_en: str | None = None
    abstract_zh: str | None = None
    chair_id: str | None = None
    speaker_ids: list[str] = Field(default_factory=list)
    observations_en: list[str] = Field(default_factory=list)
    observations_zh: list[str | None] = Field(default_factory=list)

    @model_validator(mode="after")
    def _observation_languages_align(self) -> SessionIn:
        if self.observations_zh and len(self.observations_zh) != len(self.observations_en):
            raise ValueError("observations_zh must have one entry (or null) per English observation")
        if len(set(self.speaker_ids)) != len(self.speaker_ids):
            raise ValueError("a speaker is listed twice")
        return self


class OpeningRemarkIn(_In):
    speaker_id: str | None = None
    text_en: str = Field(min_length=1)
    text_zh: str | None = None


class OutcomeIn(_In):
    kind: OutcomeKind
    text_en: str = Field(min_length=1)
    text_zh: str | None = None


class FollowUpIn(_In):
    """A follow-up action; validate with `context={"event_start": date}` to refuse one due before its event."""

    title: str = Field(min_length=1, max_length=500)
    owner_institution_id: str = Field(min_length=1)
    due_date: dt.date
    status: FollowUpStatus = FollowUpStatus.planned
    evidence: str | None = None
    linked_type: str | None = Field(default=None, pattern=r"^[a-z_]+\.[a-z_]+$")
    linked_id: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _checks(self, info: ValidationInfo) -> FollowUpIn:
        context: dict[str, Any] = info.context or {}
        event_start = context.get("event_start")
        if event_start is not None and self.due_date < event_start:
            raise ValueError("due_date precedes the start of the event the recommendation comes from")
        if (self.linked_type is None) != (self.linked_id is None):
            raise ValueError("linked_type and linked_id go together")
        if self.status == FollowUpStatus.done and not self.evidence and self.linked_id is None:
            raise ValueError("a follow-up marked done needs evidence or a linked record")
        return self


class FocalPointIn(_In):
    institution_id: str = Field(min_length=1)
    name: str = Field(min_length=1, max_length=200)
    function: FocalPointFunction
    topic: str | None = None
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, max_length=60)
    consent_to_list: bool
    consent_date: dt.date | None = None

    @model_validator(mode="after")
    def _consent_has_date(self) -> FocalPointIn:
        if self.consent_to_list and self.consent_date is None:
            raise ValueError("consent_date is required when consent is given")
        return self


class EvaluationQuestionIn(_In):
    key: str = Field(min_length=1, max_length=40)
    text_en: str = Field(min_length=1)
    text_zh: str | None = None


class EvaluationIn(_In):
    activity_en: str = Field(min_length=1)
    dated: dt.date | None = None
    stated_sample_size: int | None = Field(default=None, ge=0)
    questions: list[EvaluationQuestionIn] = Field(min_length=1)
    responses: list[dict[str, int | None]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _responses_match_questions(self) -> EvaluationIn:
        keys = {q.key for q in self.questions}
        if len(keys) != len(self.questions):
            raise ValueError("question keys must be unique")
        for number, response in enumerate(self.responses, start=1):
            for key, score in response.items():
                if key not in keys:
                    raise ValueError(f"response {number}: {key} is not a question of this questionnaire")
                if score is not None and not 1 <= score <= 5:
                    raise ValueError(f"response {number}: {key} must be a score from 1 to 5")
        return self


# ---- out ------------------------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class InstitutionOut(_Out):
    id: str
    name_en: str
    name_zh: str | None
    acronym: str | None
    institution_type: InstitutionType
    country: str | None
    province: str | None


class ContactOut(_Out):
    email: str | None
    phone: str | None


class ParticipantOut(_Out):
    id: str
    name: str
    name_zh: str | None
    honorific: str | None
    position_en: str | None
    institution: InstitutionOut
    role: ParticipantRole | None = None
    contact: ContactOut | None = None
    """Present only for an organiser of the event and only with the participant's consent."""


class EventSummaryOut(_Out):
    id: str
    key: str | None
    title_en: str
    title_zh: str | None
    event_type: EventType
    start_date: dt.date
    end_date: dt.date
    venue_en: str
    version: int


class ConsistencyFlagOut(BaseModel):
    code: str
    message: str
    path: str
    stated: int | str | None = None
    found: int | str | None = None
