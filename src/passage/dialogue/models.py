"""ORM tables of the Dialogue: events, institutions, people, attendance, sessions, outcomes, follow-up."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import ClassVar

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from passage.core import i18n
from passage.core.models import Base, IdMixin, TimestampMixin, VersionedMixin
from passage.security.crypto import EncryptedText


class Translatable:
    """Published free text per language (docs/I18N convention): the source text (English) stays in its own column
    and `translations` holds `{field: {locale: text}}`. `TRANSLATED` maps each field to its source column."""

    TRANSLATED: ClassVar[dict[str, str]] = {}
    translations: Mapped[dict[str, dict[str, str]]] = mapped_column(JSON, default=dict, server_default=sql_text("'{}'"))

    def source_text(self, field: str) -> str | None:
        value = getattr(self, self.TRANSLATED[field])
        return str(value) if value is not None else None

    def in_language(self, field: str, *, locale: str | None = None) -> i18n.LocalisedValue:
        """The reader's text for `field`, or the source text flagged as a fallback."""
        return i18n.in_language(self.source_text(field), self.translations, field, locale=locale)

    def translation(self, field: str, locale: str) -> str | None:
        return dict((self.translations or {}).get(field) or {}).get(locale) or None

    def missing_translations(self, *, locale: str) -> list[str]:
        """Fields with source text but no text in `locale`."""
        return i18n.missing_translations({f: self.source_text(f) for f in self.TRANSLATED}, self.translations, locale=locale)

    def set_translations(self, values: Mapping[str, Mapping[str, str | None]] | None) -> None:
        """Replace the translations (a new dict, so the change is seen and the version moves); blanks are dropped."""
        cleaned: dict[str, dict[str, str]] = {}
        for field, by_locale in dict(values or {}).items():
            kept = {locale: text.strip() for locale, text in dict(by_locale or {}).items() if text and text.strip()}
            if kept:
                cleaned[field] = kept
        self.translations = cleaned


class Institution(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "dialogue_institution"

    name_en: Mapped[str] = mapped_column(String(300))
    name_zh: Mapped[str | None] = mapped_column(String(300))
    acronym: Mapped[str | None] = mapped_column(String(40))
    institution_type: Mapped[str] = mapped_column(String(40))
    """One of `schemas.InstitutionType`."""
    country: Mapped[str | None] = mapped_column(String(2))
    """ISO 3166-1 alpha-2 of the state the institution represents (an embassy: the sending state);
    `EU` (ISO's exceptional reservation) for EU bodies; None for an international organisation."""
    province: Mapped[str | None] = mapped_column(String(8))
    """ISO 3166-2:CN code (`CN-GD`) for a Chinese provincial-level office; None at national level."""
    key: Mapped[str | None] = mapped_column(String(80), unique=True)
    """Stable key for shipped demo data (`mps-beea`); None for records entered by users."""
    organisation_id: Mapped[str | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    """The platform organisation that acts for this institution, if it uses Passage. Users of that
    organisation count as the institution: organisers of an event see its participants' contact data."""


class Event(Translatable, IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "dialogue_event"
    TRANSLATED: ClassVar[dict[str, str]] = {
        "title": "title_en", "venue": "venue_en", "project": "project_en", "funder": "funder_en",
        "objectives": "objectives_en", "introduction": "introduction_en", "conclusion": "conclusion_en",
    }

    key: Mapped[str | None] = mapped_column(String(80), unique=True)
    title_en: Mapped[str] = mapped_column(String(400))
    event_type: Mapped[str] = mapped_column(String(20))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    venue_en: Mapped[str] = mapped_column(String(300))
    project_en: Mapped[str] = mapped_column(String(300))
    funder_en: Mapped[str | None] = mapped_column(String(300))
    objectives_en: Mapped[str | None] = mapped_column(Text)
    introduction_en: Mapped[str | None] = mapped_column(Text)
    conclusion_en: Mapped[str | None] = mapped_column(Text)
    headcount: Mapped[int | None] = mapped_column(Integer)
    """Total attendance as counted at registration ("Attended by 55 participants")."""

    organisers: Mapped[list[EventOrganiser]] = relationship(cascade="all, delete-orphan", order_by="EventOrganiser.position")
    institutions: Mapped[list[InstitutionAttendance]] = relationship(cascade="all, delete-orphan")
    participations: Mapped[list[Participation]] = relationship(cascade="all, delete-orphan")
    sessions: Mapped[list[EventSession]] = relationship(cascade="all, delete-orphan", order_by="EventSession.number")
    opening_remarks: Mapped[list[OpeningRemark]] = relationship(cascade="all, delete-orphan", order_by="OpeningRemark.position")
    outcomes: Mapped[list[Outcome]] = relationship(cascade="all, delete-orphan", order_by="Outcome.position")
    statements: Mapped[list[AttendanceStatement]] = relationship(cascade="all, delete-orphan", order_by="AttendanceStatement.position")
    evaluations: Mapped[list[Evaluation]] = relationship(cascade="all, delete-orphan")


class EventOrganiser(IdMixin, Base):
    __tablename__ = "dialogue_event_organiser"
    __table_args__ = (UniqueConstraint("event_id", "institution_id"),)

    event_id: Mapped[str] = mapped_column(ForeignKey("dialogue_event.id", ondelete="CASCADE"), index=True)
    institution_id: Mapped[str] = mapped_column(ForeignKey("dialogue_institution.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    institution: Mapped[Institution] = relationship()


class InstitutionAttendance(IdMixin, Base):
    """An institution present at an event, with its headcount when the record gives one."""

    __tablename__ = "dialogue_institution_attendance"
    __table_args__ = (UniqueConstraint("event_id", "institution_id"),)

    event_id: Mapped[str] = mapped_column(ForeignKey("dialogue_event.id", ondelete="CASCADE"), index=True)
    institution_id: Mapped[str] = mapped_column(ForeignKey("dialogue_institution.id"))
    headcount: Mapped[int | None] = mapped_column(Integer)
    institution: Mapped[Institution] = relationship()


class Participant(Translatable, IdMixin, TimestampMixin, VersionedMixin, Base):
    """A named person. Contact data lives in `ParticipantContact`, shown only to organisers."""

    __tablename__ = "dialogue_participant"
    TRANSLATED: ClassVar[dict[str, str]] = {"position": "position_en"}

    key: Mapped[str | None] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str | None] = mapped_column(String(200))
    honorific: Mapped[str | None] = mapped_column(String(20))
    position_en: Mapped[str | None] = mapped_column(String(400))
    institution_id: Mapped[str] = mapped_column(ForeignKey("dialogue_institution.id"), index=True)
    institution: Mapped[Institution] = relationship()
    contact: Mapped[ParticipantContact | None] = relationship(cascade="all, delete-orphan", uselist=False)


class ParticipantContact(IdMixin, TimestampMixin, Base):
    """Personal contact data, encrypted at rest; shown only to the event's organisers, with consent."""

    __tablename__ = "dialogue_participant_contact"

    participant_id: Mapped[str] = mapped_column(ForeignKey("dialogue_participant.id", ondelete="CASCADE"), unique=True)
    email: Mapped[str | None] = mapped_column(EncryptedText("dialogue_participant_contact.email"))
    phone: Mapped[str | None] = mapped_column(EncryptedText("dialogue_participant_contact.phone"))
    consent_given: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_date: Mapped[dt.date | None] = mapped_column(Date)


class Participation(IdMixin, Base):
    __tablename__ = "dialogue_participation"
    __table_args__ = (UniqueConstraint("event_id", "participant_id"),)

    event_id: Mapped[str] = mapped_column(ForeignKey("dialogue_event.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[str] = mapped_column(ForeignKey("dialogue_participant.id"))
    role: Mapped[str] = mapped_column(String(20))
    """One of `schemas.ParticipantRole`."""
    participant: Mapped[Participant] = relationship()


class AttendanceStatement(Translatable, IdMixin, Base):
    """A count the report states ("26 Chinese officials"), with the breakdown it gives, kept verbatim.

    Statements are data, not derived numbers, so that the consistency checks can compare what a
    document says with its own parts and with the people it names.
    """

    __tablename__ = "dialogue_attendance_statement"
    TRANSLATED: ClassVar[dict[str, str]] = {"text": "text"}

    event_id: Mapped[str] = mapped_column(ForeignKey("dialogue_event.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text)
    stated_total: Mapped[int] = mapped_column(Integer)
    parts: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    """[{"label": "MFA", "count": 4}, ...]; a part without a count names an item only."""
    named_role: Mapped[str | None] = mapped_column(String(20))
    """If set, the statement counts the people of this role the event names (stated vs named)."""


class EventSession(Translatable, IdMixin, Base):
    __tablename__ = "dialogue_session"
    TRANSLATED: ClassVar[dict[str, str]] = {"title": "title_en", "abstract": "abstract_en"}
    __table_args__ = (UniqueConstraint("event_id", "number"),)

    event_id: Mapped[str] = mapped_column(ForeignKey("dialogue_event.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    day: Mapped[int | None] = mapped_column(Integer)
    """Day of the event (1-based) when the agenda records it."""
    title_en: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(20))
    abstract_en: Mapped[str | None] = mapped_column(Text)
    chair_id: Mapped[str | None] = mapped_column(ForeignKey("dialogue_participant.id"))
    chair: Mapped[Participant | None] = relationship()
    speakers: Mapped[list[SessionSpeaker]] = relationship(cascade="all, delete-orphan", order_by="SessionSpeaker.position")
    observations: Mapped[list[KeyObservation]] = relationship(cascade="all, delete-orphan", order_by="KeyObservation.position")


class SessionSpeaker(IdMixin, Base):
    __tablename__ = "dialogue_session_speaker"
    __table_args__ = (UniqueConstraint("session_id", "participant_id"),)

    session_id: Mapped[str] = mapped_column(ForeignKey("dialogue_session.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[str] = mapped_column(ForeignKey("dialogue_participant.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    participant: Mapped[Participant] = relationship()


class KeyObservation(Translatable, IdMixin, Base):
    """One "⇒" point of a session."""

    __tablename__ = "dialogue_key_observation"
    TRANSLATED: ClassVar[dict[str, str]] = {"text": "text_en"}

    session_id: Mapped[str] = mapped_column(ForeignKey("dialogue_session.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    text_en: Mapped[str] = mapped_column(Text)


class OpeningRemark(Translatable, IdMixin, Base):
    __tablename__ = "dialogue_opening_remark"
    TRANSLATED: ClassVar[dict[str, str]] = {"text": "text_en"}

    event_id: Mapped[str] = mapped_column(ForeignKey("dialogue_event.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    speaker_id: Mapped[str | None] = mapped_column(ForeignKey("dialogue_participant.id"))
    text_en: Mapped[str] = mapped_column(Text)
    speaker: Mapped[Participant | None] = relationship()


class Outcome(Translatable, IdMixin, TimestampMixin, VersionedMixin, Base):
    """A final finding/recommendation or a challenge of an event."""

    __tablename__ = "dialogue_outcome"
    TRANSLATED: ClassVar[dict[str, str]] = {"text": "text_en"}

    event_id: Mapped[str] = mapped_column(ForeignKey("dialogue_event.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    """`recommendation` or `challenge`."""
    position: Mapped[int] = mapped_column(Integer, default=0)
    text_en: Mapped[str] = mapped_column(Text)
    follow_ups: Mapped[list[FollowUpAction]] = relationship(cascade="all, delete-orphan", order_by="FollowUpAction.due_date")


class FollowUpAction(Translatable, IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "dialogue_follow_up"
    TRANSLATED: ClassVar[dict[str, str]] = {"title": "title", "evidence": "evidence"}

    outcome_id: Mapped[str] = mapped_column(ForeignKey("dialogue_outcome.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(500))
    owner_institution_id: Mapped[str] = mapped_column(ForeignKey("dialogue_institution.id"))
    due_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="planned")
    evidence: Mapped[str | None] = mapped_column(Text)
    linked_type: Mapped[str | None] = mapped_column(String(80))
    """Record type in another module, `module.entity` (`readmission.agreement`, `avrr.pilot`, `dialogue.event`)."""
    linked_id: Mapped[str | None] = mapped_column(String(64))
    owner: Mapped[Institution] = relationship()


class FocalPoint(Translatable, IdMixin, TimestampMixin, VersionedMixin, Base):
    """A liaison officer or focal point of an institution; listed only with consent."""

    __tablename__ = "dialogue_focal_point"
    TRANSLATED: ClassVar[dict[str, str]] = {"topic": "topic"}

    institution_id: Mapped[str] = mapped_column(ForeignKey("dialogue_institution.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    function: Mapped[str] = mapped_column(String(40))
    """`immigration_liaison_officer` or `focal_point`."""
    topic: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(EncryptedText("dialogue_focal_point.email"))
    phone: Mapped[str | None] = mapped_column(EncryptedText("dialogue_focal_point.phone"))
    consent_to_list: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_date: Mapped[dt.date | None] = mapped_column(Date)
    institution: Mapped[Institution] = relationship()


class Evaluation(Translatable, IdMixin, TimestampMixin, Base):
    """An evaluation questionnaire of an event and the date its responses were collected."""

    __tablename__ = "dialogue_evaluation"
    TRANSLATED: ClassVar[dict[str, str]] = {"activity": "activity_en"}

    event_id: Mapped[str] = mapped_column(ForeignKey("dialogue_event.id", ondelete="CASCADE"), index=True)
    activity_en: Mapped[str] = mapped_column(String(400))
    dated: Mapped[dt.date | None] = mapped_column(Date)
    stated_sample_size: Mapped[int | None] = mapped_column(Integer)
    questions: Mapped[list[EvaluationQuestion]] = relationship(cascade="all, delete-orphan", order_by="EvaluationQuestion.position")
    responses: Mapped[list[EvaluationResponse]] = relationship(cascade="all, delete-orphan", order_by="EvaluationResponse.respondent")


class EvaluationQuestion(Translatable, IdMixin, Base):
    __tablename__ = "dialogue_evaluation_question"
    TRANSLATED: ClassVar[dict[str, str]] = {"text": "text_en"}
    __table_args__ = (UniqueConstraint("evaluation_id", "key"),)

    evaluation_id: Mapped[str] = mapped_column(ForeignKey("dialogue_evaluation.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(Integer, default=0)
    text_en: Mapped[str] = mapped_column(Text)


class EvaluationResponse(IdMixin, Base):
    """One returned questionnaire: {question key: score 1..5 or null}."""

    __tablename__ = "dialogue_evaluation_response"
    __table_args__ = (UniqueConstraint("evaluation_id", "respondent"),)

    evaluation_id: Mapped[str] = mapped_column(ForeignKey("dialogue_evaluation.id", ondelete="CASCADE"), index=True)
    respondent: Mapped[int] = mapped_column(Integer)
    answers: Mapped[dict[str, int | None]] = mapped_column(JSON, default=dict)
