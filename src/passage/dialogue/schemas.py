"""Pydantic schemas of the Dialogue, in and out."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, ClassVar

import pycountry
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from passage.core import i18n
from passage.core.api_schemas import RequestModel
from passage.core.i18n import T_

Translations = dict[str, dict[str, str]]
"""Published text in other languages: `{field: {locale: text}}`, e.g. `{"title": {"zh_Hans": "…"}}` (the English
source text has its own field). Blank texts are dropped."""

TRANSLATION_LOCALES = tuple(locale for locale in i18n.LOCALES if locale != "en")


def check_translations(value: Translations | None, fields: tuple[str, ...]) -> Translations:
    """Only this record's translatable fields and the interface's other languages; blanks dropped."""
    cleaned: Translations = {}
    for field, by_locale in dict(value or {}).items():
        if field not in fields:
            raise ValueError(T_("{field} is not a translatable field here (one of: {fields})", field=field, fields=", ".join(fields)))
        for locale in by_locale:
            if locale not in TRANSLATION_LOCALES:
                raise ValueError(T_("{locale} is not a translation language (one of: {locales})", locale=locale, locales=", ".join(TRANSLATION_LOCALES)))
        kept = {locale: text.strip() for locale, text in by_locale.items() if text and text.strip()}
        if kept:
            cleaned[field] = kept
    return cleaned


class _Translated(RequestModel):
    """Input with a `translations` field; `TRANSLATED` names the fields that may have one."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    TRANSLATED: ClassVar[tuple[str, ...]] = ()
    translations: Translations = Field(default_factory=dict, description="{field: {locale: text}}, e.g. {\"title\": {\"zh_Hans\": \"…\"}}")

    @field_validator("translations")
    @classmethod
    def _known_fields(cls, value: Translations) -> Translations:
        return check_translations(value, cls.TRANSLATED)


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


class _In(RequestModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _country(value: str | None) -> str | None:
    if value is None:
        return None
    code = value.upper()
    if code != "EU" and pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(T_("must be an ISO 3166-1 alpha-2 country code"))
    return code


class InstitutionIn(_In):
    name_en: str = Field(min_length=1, max_length=300)
    name_zh: str | None = Field(default=None, max_length=300)
    acronym: str | None = Field(default=None, max_length=40)
    institution_type: InstitutionType
    country: str | None = Field(default=None, validate_default=True)
    province: str | None = Field(default=None, validate_default=True)
    key: str | None = Field(default=None, max_length=80)

    @field_validator("country")
    @classmethod
    def _check_country(cls, value: str | None, info: ValidationInfo) -> str | None:
        code = _country(value)
        if code is None and info.data.get("institution_type") not in (None, InstitutionType.international_organisation):
            raise ValueError(T_("country is required (EU for EU bodies); only an international organisation has none"))
        return code

    @field_validator("province")
    @classmethod
    def _province(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from passage.dialogue.rules import PROVINCES

        if value not in PROVINCES:
            raise ValueError(T_("must be an ISO 3166-2:CN provincial-level code such as CN-GD"))
        return value

    @field_validator("province")
    @classmethod
    def _province_only_in_china(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and "country" in info.data and info.data["country"] != "CN":
            raise ValueError(T_("province is only recorded for Chinese institutions"))
        return value


class EventIn(_Translated):
    TRANSLATED: ClassVar[tuple[str, ...]] = ("title", "venue", "project", "funder", "objectives", "introduction", "conclusion")
    key: str | None = Field(default=None, max_length=80)
    title_en: str = Field(min_length=1, max_length=400)
    event_type: EventType
    start_date: dt.date
    end_date: dt.date
    venue_en: str = Field(min_length=1, max_length=300)
    project_en: str = Field(min_length=1, max_length=300)
    funder_en: str | None = None
    objectives_en: str | None = None
    introduction_en: str | None = None
    conclusion_en: str | None = None
    headcount: int | None = Field(default=None, ge=0)
    organiser_institution_ids: list[str] = Field(default_factory=list)

    @field_validator("end_date")
    @classmethod
    def _end_not_before_start(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        start = info.data.get("start_date")
        if start is not None and value < start:
            raise ValueError(T_("the last day is before the first day"))
        return value


class ContactIn(_In):
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, max_length=60)
    consent_given: bool
    consent_date: dt.date | None = Field(default=None, validate_default=True)

    @field_validator("consent_date")
    @classmethod
    def _consent_has_date(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        if info.data.get("consent_given") and value is None:
            raise ValueError(T_("the date of consent is required when consent is given"))
        return value


class ParticipantIn(_Translated):
    TRANSLATED: ClassVar[tuple[str, ...]] = ("position",)
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


class AttendanceStatementIn(_Translated):
    TRANSLATED: ClassVar[tuple[str, ...]] = ("text",)
    text: str = Field(min_length=1)
    stated_total: int = Field(ge=0)
    parts: list[StatementPart] = Field(default_factory=list)
    named_role: ParticipantRole | None = None


class SessionIn(_Translated):
    TRANSLATED: ClassVar[tuple[str, ...]] = ("title", "abstract")
    number: int = Field(ge=1)
    day: int | None = Field(default=None, ge=1)
    title_en: str = Field(min_length=1, max_length=500)
    kind: SessionKind
    abstract_en: str | None = None
    chair_id: str | None = None
    speaker_ids: list[str] = Field(default_factory=list)
    observations_en: list[str] = Field(default_factory=list)
    observations_zh: list[str | None] = Field(default_factory=list, validate_default=True)
    """The observations in Chinese, one (or null) per English observation, in the same order."""

    # field validators (not a model validator), so that each refusal carries the path of its field
    @field_validator("speaker_ids")
    @classmethod
    def _speakers_once(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(T_("a speaker is listed twice"))
        return value

    @field_validator("observations_zh")
    @classmethod
    def _observation_languages_align(cls, value: list[str | None], info: ValidationInfo) -> list[str | None]:
        english = info.data.get("observations_en")
        if value and english is not None and len(value) != len(english):
            raise ValueError(T_("give one Chinese line per English observation, in the same order, or none"))
        return value


class OpeningRemarkIn(_Translated):
    TRANSLATED: ClassVar[tuple[str, ...]] = ("text",)
    speaker_id: str | None = None
    text_en: str = Field(min_length=1)


class OutcomeIn(_Translated):
    TRANSLATED: ClassVar[tuple[str, ...]] = ("text",)
    kind: OutcomeKind
    text_en: str = Field(min_length=1)


class FollowUpIn(_Translated):
    """A follow-up action; validate with `context={"event_start": date}` to refuse one due before its event."""

    TRANSLATED: ClassVar[tuple[str, ...]] = ("title", "evidence")

    title: str = Field(min_length=1, max_length=500)
    owner_institution_id: str = Field(min_length=1)
    due_date: dt.date
    evidence: str | None = None
    linked_type: str | None = Field(default=None, pattern=r"^[a-z_]+\.[a-z_]+$")
    linked_id: str | None = Field(default=None, max_length=64, validate_default=True)
    status: FollowUpStatus = Field(default=FollowUpStatus.planned, validate_default=True)

    # Field validators (not a model validator) so that each refusal carries the path of its field.
    @field_validator("due_date")
    @classmethod
    def _due_not_before_event(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        context: dict[str, Any] = info.context or {}
        event_start = context.get("event_start")
        if event_start is not None and value < event_start:
            raise ValueError(T_("the due date is before the start of the event the recommendation comes from"))
        return value

    @field_validator("linked_id")
    @classmethod
    def _link_pairs(cls, value: str | None, info: ValidationInfo) -> str | None:
        if "linked_type" in info.data and (info.data["linked_type"] is None) != (value is None):
            raise ValueError(T_("a linked record needs both its type and its id"))
        return value

    @field_validator("status")
    @classmethod
    def _done_has_evidence(cls, value: FollowUpStatus, info: ValidationInfo) -> FollowUpStatus:
        if value == FollowUpStatus.done and not info.data.get("evidence") and info.data.get("linked_id") is None:
            raise ValueError(T_("a follow-up marked done needs evidence or a linked record"))
        return value


class FocalPointIn(_Translated):
    TRANSLATED: ClassVar[tuple[str, ...]] = ("topic",)
    institution_id: str = Field(min_length=1)
    name: str = Field(min_length=1, max_length=200)
    function: FocalPointFunction
    topic: str | None = None
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, max_length=60)
    consent_to_list: bool
    consent_date: dt.date | None = Field(default=None, validate_default=True)

    @field_validator("consent_date")
    @classmethod
    def _consent_has_date(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        if info.data.get("consent_to_list") and value is None:
            raise ValueError(T_("the date of consent is required when consent is given"))
        return value


class EvaluationQuestionIn(_Translated):
    TRANSLATED: ClassVar[tuple[str, ...]] = ("text",)
    key: str = Field(min_length=1, max_length=40)
    text_en: str = Field(min_length=1)


class EvaluationIn(_Translated):
    TRANSLATED: ClassVar[tuple[str, ...]] = ("activity",)
    activity_en: str = Field(min_length=1)
    dated: dt.date | None = None
    stated_sample_size: int | None = Field(default=None, ge=0)
    questions: list[EvaluationQuestionIn] = Field(min_length=1)
    responses: list[dict[str, int | None]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _responses_match_questions(self) -> EvaluationIn:
        keys = {q.key for q in self.questions}
        if len(keys) != len(self.questions):
            raise ValueError(T_("question keys must be unique"))
        for number, response in enumerate(self.responses, start=1):
            for key, score in response.items():
                if key not in keys:
                    raise ValueError(T_("response {number}: {key} is not a question of this questionnaire", number=number, key=key))
                if score is not None and not 1 <= score <= 5:
                    raise ValueError(T_("response {number}: {key} must be a score from 1 to 5", number=number, key=key))
        return self


class EventTypeFilter(_In):
    event_type: EventType


class EventUpdateIn(EventIn):
    """An event's new fields with the version the client read (409 when someone changed it since)."""

    version: int = Field(ge=1)


class RegistrationIn(ParticipantIn):
    """A new participant registered at an event with a role."""

    role: ParticipantRole = ParticipantRole.participant


class FollowUpUpdateIn(FollowUpIn):
    version: int = Field(ge=1)


class InstitutionLinkIn(_In):
    organisation_id: str | None = None



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
    translations: Translations = {}
    institution: InstitutionOut
    role: ParticipantRole | None = None
    contact: ContactOut | None = None
    """Present only for an organiser of the event and only with the participant's consent."""


class EventSummaryOut(_Out):
    id: str
    key: str | None
    title_en: str
    event_type: EventType
    start_date: dt.date
    end_date: dt.date
    venue_en: str
    translations: Translations = {}
    """The published text in other languages, side by side with the English fields: {field: {locale: text}}."""
    version: int


class ConsistencyFlagOut(BaseModel):
    code: str
    message: str
    path: str
    stated: int | str | None = None
    found: int | str | None = None


class EventOut(EventSummaryOut):
    project_en: str
    funder_en: str | None
    objectives_en: str | None
    introduction_en: str | None
    conclusion_en: str | None
    headcount: int | None
    organiser_institution_ids: list[str] = []


class AttendanceOut(BaseModel):
    total: int | None
    total_is_complete: bool
    by_type: dict[str, int]
    by_institution: list[dict[str, Any]]
    provinces: list[str]
    province_headcounts: dict[str, int | None]
    member_states: list[str]
    embassies: list[str]


class ObservationOut(_Out):
    text_en: str
    translations: Translations = {}


class SessionOut(_Out):
    id: str
    number: int
    day: int | None
    title_en: str
    kind: SessionKind
    abstract_en: str | None
    translations: Translations = {}
    chair_id: str | None
    speaker_ids: list[str]
    observations: list[ObservationOut]


class OpeningRemarkOut(_Out):
    id: str
    speaker_id: str | None
    text_en: str
    translations: Translations = {}


class FollowUpOut(_Out):
    id: str
    outcome_id: str
    title: str
    owner_institution_id: str
    due_date: dt.date
    status: FollowUpStatus
    evidence: str | None
    linked_type: str | None
    linked_id: str | None
    translations: Translations = {}
    version: int


class OutcomeOut(_Out):
    id: str
    kind: OutcomeKind
    text_en: str
    translations: Translations = {}
    follow_ups: list[FollowUpOut]


class FocalPointOut(_Out):
    id: str
    institution: InstitutionOut
    name: str
    function: FocalPointFunction
    topic: str | None
    translations: Translations = {}
    email: str | None
    phone: str | None


class EventDetailOut(BaseModel):
    event: EventOut
    attendance: AttendanceOut
    sessions: list[SessionOut]
    opening_remarks: list[OpeningRemarkOut]
    outcomes: list[OutcomeOut]
    flags: list[ConsistencyFlagOut]
    evaluation_ids: list[str]


class EvaluationOut(BaseModel):
    id: str
    event_id: str
    annex: dict[str, Any]
    """Annex I computed from the raw responses (`passage.forms.evaluation.annex_as_dict`)."""


class TrackedRecommendationOut(BaseModel):
    outcome_id: str
    event_id: str
    event_title: str
    event_start: dt.date
    text: str
    follow_up_statuses: list[str]


class RecommendationGroupOut(BaseModel):
    label: str
    status: str
    recurs: bool
    events: list[str]
    members: list[TrackedRecommendationOut]
    links: list[dict[str, str]] = []
    """Records in other modules that follow-ups of this group point to: {linked_type, linked_id, follow_up_id}."""
