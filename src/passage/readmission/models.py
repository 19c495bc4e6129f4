"""ORM tables of the readmission module.

PERSONAL / SENSITIVE COLUMNS, stored with `passage.security.crypto` types (AES-GCM, context = table.column):
- ReadmissionCase: surname, given_names, name_in_characters, passport_number, id_number, date_of_birth, place_of_birth, father_name, mother_name,
  languages, civil_status, last_addresses, physical_description, photo, special_needs,
  security_measures, travel_document_number, transfer_flight, transfer_escorts   -> EncryptedText / EncryptedJSON / EncryptedBytes (photo)
- CaseAlias: alias                                                                -> EncryptedText
- EvidenceDocument: content (the file), original_filename                          -> EncryptedBytes / EncryptedText
- TransferHold: reason, lift_reason                                               -> EncryptedText (asylum, appeal and medical details)
- CaseFlag: note                                                                  -> EncryptedText (vulnerability, non-refoulement)
- VerificationRecord: notes, candidates                                           -> EncryptedText / EncryptedJSON
- TimelineEvent: details holds ids and field names only (never values)
- CaseSearchToken: keyed HMAC tokens only (the blind index; docs/security.md says what they reveal)
Columns marked `# PERSONAL` below are the list above; `sex`, `nationality` and dates are kept
in clear for statistics and survive erasure.

Organisation and user ids are foreign keys to the foundation's `organisations` and `users` tables.
Cases are scoped (`__scope__`): the requesting organisation owns a case, the province it was routed
to sees it, and the requested state's national central authority sees every case addressed to it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from passage.core.models import Base, IdMixin, TimestampMixin, VersionedMixin
from passage.security.crypto import EncryptedBytes, EncryptedJSON, EncryptedText
from passage.security.scope import RecordScope

_ORG = "organisations.id"
_USER = "users.id"


class AgreementRecord(IdMixin, TimestampMixin, VersionedMixin, Base):
    """An agreement loaded by an administrator (the shipped presets live in `data/agreements/`)."""

    __tablename__ = "readmission_agreement"

    slug: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    name_zh: Mapped[str] = mapped_column(String(300), default="", nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    editable: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    versions: Mapped[list[AgreementVersionRecord]] = relationship(back_populates="agreement", cascade="all, delete-orphan", order_by="AgreementVersionRecord.number")


class AgreementVersionRecord(IdMixin, TimestampMixin, Base):
    """One immutable version; `document` is the validated `AgreementVersion` JSON, `checksum` its SHA-256."""

    __tablename__ = "readmission_agreement_version"
    __table_args__ = (UniqueConstraint("agreement_id", "number", name="agreement_number"),)

    agreement_id: Mapped[str] = mapped_column(ForeignKey("readmission_agreement.id", ondelete="CASCADE"), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    effective_from: Mapped[dt.date] = mapped_column(Date, nullable=False)
    effective_to: Mapped[dt.date | None] = mapped_column(Date)
    document: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    checksum: Mapped[str] = mapped_column(String(64), nullable=False)
    loaded_by: Mapped[str | None] = mapped_column(ForeignKey(_USER))
    agreement: Mapped[AgreementRecord] = relationship(back_populates="versions")


class CalendarNoticeRecord(IdMixin, TimestampMixin, Base):
    """An official annual holiday notice loaded with `passage calendars load` (shipped ones live in
    `data/calendars/`). Immutable: a correction is a new `version` of the same country and year;
    `document` is the validated `CalendarNotice` JSON, `checksum` its SHA-256."""

    __tablename__ = "readmission_calendar_notice"
    __table_args__ = (UniqueConstraint("country", "year", "version", name="country_year_version"),)

    country: Mapped[str] = mapped_column(String(2), nullable=False)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    document: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    checksum: Mapped[str] = mapped_column(String(64), nullable=False)
    loaded_by: Mapped[str | None] = mapped_column(ForeignKey(_USER))


class ReadmissionCase(IdMixin, TimestampMixin, VersionedMixin, Base):
    """A readmission or transit case; `state` follows `workflow.State`."""

    __tablename__ = "readmission_case"
    __table_args__ = (
        Index("ix_readmission_case_requesting_state", "requesting_org_id", "state"),
        Index("ix_readmission_case_province_state", "routed_province_org_id", "state"),
        Index("ix_readmission_case_country_state", "requested_state", "state"),
        # the inbox's default sort (recently changed) and its next-deadline sort and flags, per scope column
        Index("ix_readmission_case_country_updated", "requested_state", "updated_at"),
        Index("ix_readmission_case_country_next_due", "requested_state", "next_due_on"),
        Index("ix_readmission_case_requesting_next_due", "requesting_org_id", "next_due_on"),
        Index("ix_readmission_case_province_next_due", "routed_province_org_id", "next_due_on"),
        # the default sort (recently changed, ties by id in the same direction) walked in index order whatever the
        # scope: a central officer's scope is an OR of organisation and country columns, which no per-column index
        # above can deliver in order, so without this the whole scope (~9,000 rows at 10,000 cases) was sorted
        Index("ix_readmission_case_updated_id", "updated_at", "id"),
    )
    __scope__ = RecordScope(owner_organisation="requesting_org_id", routed_organisation="routed_province_org_id", addressed_country="requested_state")

    reference: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    procedure: Mapped[str] = mapped_column(String(20), nullable=False, default="readmission")
    state: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    agreement_slug: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    agreement_version: Mapped[int] = mapped_column(Integer, nullable=False)
    accelerated: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)

    requesting_state: Mapped[str] = mapped_column(String(2), nullable=False)
    requested_state: Mapped[str] = mapped_column(String(2), nullable=False)
    """ISO 3166-1 alpha-2 code of the requested state (the agreement version's `requested_state`)."""
    requesting_org_id: Mapped[str] = mapped_column(ForeignKey(_ORG), nullable=False)
    requested_central_org_id: Mapped[str] = mapped_column(ForeignKey(_ORG), nullable=False)
    routed_province_org_id: Mapped[str | None] = mapped_column(ForeignKey(_ORG))
    created_by: Mapped[str | None] = mapped_column(ForeignKey(_USER))
    province_code: Mapped[str | None] = mapped_column(String(20))

    # person (PERSONAL unless noted)
    surname: Mapped[str | None] = mapped_column(EncryptedText("readmission.case.surname"))  # PERSONAL
    given_names: Mapped[str | None] = mapped_column(EncryptedText("readmission.case.given_names"))  # PERSONAL
    date_of_birth: Mapped[str | None] = mapped_column(EncryptedText("readmission.case.date_of_birth"))  # PERSONAL (ISO date or partial, as text for encryption)
    place_of_birth: Mapped[str | None] = mapped_column(EncryptedText("readmission.case.place_of_birth"))  # PERSONAL
    name_in_characters: Mapped[str | None] = mapped_column(EncryptedText("readmission.case.name_in_characters"))  # PERSONAL (the name in Chinese characters, surname first)
    passport_number: Mapped[str | None] = mapped_column(EncryptedText("readmission.case.passport_number"))  # PERSONAL
    id_number: Mapped[str | None] = mapped_column(EncryptedText("readmission.case.id_number"))  # PERSONAL (resident ID number, GB 11643-1999)
    sex: Mapped[str | None] = mapped_column(String(1))  # kept for statistics
    nationality: Mapped[str | None] = mapped_column(String(3))  # kept for statistics
    father_name: Mapped[str | None] = mapped_column(EncryptedText("readmission.case.father_name"))  # PERSONAL
    mother_name: Mapped[str | None] = mapped_column(EncryptedText("readmission.case.mother_name"))  # PERSONAL
    languages: Mapped[list[str] | None] = mapped_column(EncryptedJSON("readmission.case.languages"))  # PERSONAL
    civil_status: Mapped[str | None] = mapped_column(EncryptedText("readmission.case.civil_status"))  # PERSONAL
    last_addresses: Mapped[list[str] | None] = mapped_column(EncryptedJSON("readmission.case.last_addresses"))  # PERSONAL
    physical_description: Mapped[str | None] = mapped_column(EncryptedText("readmission.case.physical_description"))  # PERSONAL
    photo: Mapped[bytes | None] = mapped_column(EncryptedBytes("readmission.case.photo"))  # PERSONAL (biometric)
    special_needs: Mapped[str | None] = mapped_column(EncryptedText("readmission.case.special_needs"))  # PERSONAL (health)
    security_measures: Mapped[str | None] = mapped_column(EncryptedText("readmission.case.security_measures"))  # PERSONAL
    aliases_confirmed_none: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    """The officer stated that the person has no aliases (the completeness check needs aliases or this)."""

    # dates that drive the deadlines (rules.CaseDates)
    submitted_on: Mapped[dt.date | None] = mapped_column(Date)
    acknowledged_on: Mapped[dt.date | None] = mapped_column(Date)
    extension_requested_on: Mapped[dt.date | None] = mapped_column(Date)
    replied_on: Mapped[dt.date | None] = mapped_column(Date)
    accepted_on: Mapped[dt.date | None] = mapped_column(Date)
    refusal_reason: Mapped[str | None] = mapped_column(String(80))
    travel_document_number: Mapped[str | None] = mapped_column(EncryptedText("readmission.case.travel_document_number"))  # PERSONAL
    travel_document_issued_on: Mapped[dt.date | None] = mapped_column(Date)
    travel_document_reissue_requested_on: Mapped[dt.date | None] = mapped_column(Date)
    transfer_date: Mapped[dt.date | None] = mapped_column(Date)
    transfer_place_kind: Mapped[str | None] = mapped_column(String(30))
    transfer_place_code: Mapped[str | None] = mapped_column(String(40))
    transfer_flight: Mapped[str | None] = mapped_column(EncryptedText("readmission.case.transfer_flight"))  # PERSONAL (identifies the person's travel)
    transfer_escorts: Mapped[list[dict[str, Any]] | None] = mapped_column(EncryptedJSON("readmission.case.transfer_escorts"))  # PERSONAL (officers' names)
    transferred_on: Mapped[dt.date | None] = mapped_column(Date)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    erased_on: Mapped[dt.date | None] = mapped_column(Date)

    # denormalised from the `CaseDeadline` rows by `service.recompute_deadlines` (same transaction, only writer)
    next_due_on: Mapped[dt.date | None] = mapped_column(Date)
    """The earliest current deadline (min of `deadlines.due`), None without one; overdue is `next_due_on < today`."""
    next_due_kind: Mapped[str | None] = mapped_column(String(40))
    """The kind of that deadline (the first by kind on a tie)."""

    aliases: Mapped[list[CaseAlias]] = relationship(cascade="all, delete-orphan")
    documents: Mapped[list[EvidenceDocument]] = relationship(cascade="all, delete-orphan")
    holds: Mapped[list[TransferHold]] = relationship(cascade="all, delete-orphan")
    flags: Mapped[list[CaseFlag]] = relationship(cascade="all, delete-orphan")
    verifications: Mapped[list[VerificationRecord]] = relationship(cascade="all, delete-orphan")
    events: Mapped[list[TimelineEvent]] = relationship(cascade="all, delete-orphan", order_by="TimelineEvent.occurred_at")
    deadlines: Mapped[list[CaseDeadline]] = relationship(cascade="all, delete-orphan")
    routings: Mapped[list[CaseRouting]] = relationship(cascade="all, delete-orphan", order_by="CaseRouting.routed_at")
    share_log: Mapped[list[ShareLogEntry]] = relationship(cascade="all, delete-orphan", order_by="ShareLogEntry.occurred_at")
    notices: Mapped[list[CorrectionNotice]] = relationship(cascade="all, delete-orphan", order_by="CorrectionNotice.issued_on")
    search_tokens: Mapped[list[CaseSearchToken]] = relationship(cascade="all, delete-orphan")


class _CaseChild(IdMixin, TimestampMixin):
    case_id: Mapped[str] = mapped_column(ForeignKey("readmission_case.id", ondelete="CASCADE"), nullable=False, index=True)


class CaseAlias(_CaseChild, Base):
    __tablename__ = "readmission_case_alias"

    alias: Mapped[str] = mapped_column(EncryptedText("readmission.case_alias.alias"), nullable=False)  # PERSONAL
    kind: Mapped[str] = mapped_column(String(30), default="alias", nullable=False)  # maiden name, nickname, earlier name


class EvidenceDocument(_CaseChild, Base):
    """An uploaded document, classified into the agreement's evidence types (`evidence.classify`)."""

    __tablename__ = "readmission_evidence_document"

    evidence_type: Mapped[str] = mapped_column(String(60), nullable=False)
    category: Mapped[str] = mapped_column(String(30), nullable=False)
    media_type: Mapped[str] = mapped_column(String(60), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    original_filename: Mapped[str | None] = mapped_column(EncryptedText("readmission.evidence_document.original_filename"))  # PERSONAL (file names carry names)
    content: Mapped[bytes | None] = mapped_column(EncryptedBytes("readmission.evidence_document.content"))  # PERSONAL -> EncryptedBytes
    uploaded_by: Mapped[str] = mapped_column(ForeignKey(_USER), nullable=False)


class TransferHold(_CaseChild, VersionedMixin, Base):
    """A hold that blocks scheduling: pending appeal, pending asylum claim, legal stay, medical."""

    __tablename__ = "readmission_transfer_hold"

    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    reason: Mapped[str] = mapped_column(EncryptedText("readmission.transfer_hold.reason"), nullable=False)  # PERSONAL (asylum/medical details)
    evidence_document_ids: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    placed_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    placed_by: Mapped[str] = mapped_column(ForeignKey(_USER), nullable=False)
    lifted_on: Mapped[dt.date | None] = mapped_column(Date)
    lifted_by: Mapped[str | None] = mapped_column(ForeignKey(_USER))
    lift_reason: Mapped[str | None] = mapped_column(EncryptedText("readmission.transfer_hold.lift_reason"))  # PERSONAL


class CaseFlag(_CaseChild, Base):
    """Vulnerability and non-refoulement flags, shown to everyone on the case."""

    __tablename__ = "readmission_case_flag"

    kind: Mapped[str] = mapped_column(String(40), nullable=False)  # unaccompanied_minor, medical, trafficking_victim, non_refoulement, ...
    note: Mapped[str | None] = mapped_column(EncryptedText("readmission.case_flag.note"))  # PERSONAL
    raised_by: Mapped[str] = mapped_column(ForeignKey(_USER), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)


class CaseRouting(_CaseChild, Base):
    __tablename__ = "readmission_case_routing"

    province_org_id: Mapped[str] = mapped_column(ForeignKey(_ORG), nullable=False)
    province_code: Mapped[str] = mapped_column(String(20), nullable=False)
    routed_by: Mapped[str] = mapped_column(ForeignKey(_USER), nullable=False)
    routed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class VerificationRecord(_CaseChild, Base):
    """A province's verification step; `candidates` holds the identity engine's ranked list."""

    __tablename__ = "readmission_verification"

    method: Mapped[str] = mapped_column(String(30), nullable=False)  # interview, family_contact, registry_match, fingerprint
    outcome: Mapped[str] = mapped_column(String(20), nullable=False)  # verified, not_verified, inconclusive
    notes: Mapped[str | None] = mapped_column(EncryptedText("readmission.verification.notes"))  # PERSONAL
    candidates: Mapped[list[dict[str, Any]] | None] = mapped_column(EncryptedJSON("readmission.verification.candidates"))  # PERSONAL: [{registry_id, score, rank, features}]
    recorded_by: Mapped[str] = mapped_column(ForeignKey(_USER), nullable=False)


class TimelineEvent(_CaseChild, Base):
    """One step on the case page's timeline (the audit log keeps the tamper-evident copy)."""

    __tablename__ = "readmission_timeline_event"

    action: Mapped[str] = mapped_column(String(40), nullable=False)
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    actor_id: Mapped[str] = mapped_column(String(32), nullable=False)
    actor_role: Mapped[str] = mapped_column(String(30), nullable=False)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)  # ids and field names only


class CaseDeadline(_CaseChild, Base):
    """The current deadlines (recomputed after each transition) so inboxes can filter and sort in SQL."""

    __tablename__ = "readmission_case_deadline"
    __table_args__ = (UniqueConstraint("case_id", "kind", name="case_kind"), Index("ix_readmission_case_deadline_due", "due"))

    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    due: Mapped[dt.date] = mapped_column(Date, nullable=False)
    rule: Mapped[str] = mapped_column(Text, nullable=False)
    verified: Mapped[bool] = mapped_column(Boolean, nullable=False)


class ShareLogEntry(_CaseChild, Base):
    """Every send to and receipt from the other state: which fields (never values), and the digest sent."""

    __tablename__ = "readmission_share_log"

    direction: Mapped[str] = mapped_column(String(10), nullable=False)  # sent, received
    counterpart_org_id: Mapped[str] = mapped_column(ForeignKey(_ORG), nullable=False)
    fields: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    withheld_fields: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    payload_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    actor_id: Mapped[str] = mapped_column(ForeignKey(_USER), nullable=False)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class CorrectionNotice(_CaseChild, Base):
    """A correction or erasure notified to the other side; `acknowledged_at` when it confirmed."""

    __tablename__ = "readmission_correction_notice"

    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # correction, erasure
    fields: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    counterpart_org_id: Mapped[str] = mapped_column(ForeignKey(_ORG), nullable=False)
    issued_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class CaseSearchToken(Base):
    """A blind-index token of the case's person (`passage.security.blind_index`): an HMAC of one normalised
    name reading, date of birth or document number. Holds no value; `kind` is surname, given, birth or document."""

    __tablename__ = "readmission_case_search_token"
    __table_args__ = (Index("ix_readmission_case_search_token_token", "token", "case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("readmission_case.id", ondelete="CASCADE"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    token: Mapped[str] = mapped_column(String(32), nullable=False)
    key_id: Mapped[str] = mapped_column(String(16), nullable=False)


PERSONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "readmission_case": (
        "surname", "given_names", "name_in_characters", "passport_number", "id_number", "date_of_birth", "place_of_birth", "father_name", "mother_name", "languages",
        "civil_status", "last_addresses", "physical_description", "photo", "special_needs", "security_measures",
        "travel_document_number", "transfer_flight", "transfer_escorts",
    ),
    "readmission_case_alias": ("alias",),
    "readmission_evidence_document": ("original_filename", "content"),
    "readmission_transfer_hold": ("reason", "lift_reason"),
    "readmission_case_flag": ("note",),
    "readmission_verification": ("notes", "candidates"),
}
"""Machine-readable form of the module docstring's list, checked by the tests against the tables."""
