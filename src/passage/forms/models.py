"""Forms tables: forms, their stored versions, import batches, accepted submissions and the quarantine."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, DateTime, Enum, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from passage.core.models import Base, IdMixin, TimestampMixin, VersionedMixin, utcnow
from passage.security.crypto import EncryptedJSON
from passage.security.scope import RecordScope

OWNED = RecordScope(owner_organisation="organisation_id")
"""Forms, batches, submissions and quarantine rows are visible to the organisation that owns the form."""


class Form(IdMixin, TimestampMixin, VersionedMixin, Base):
    """A questionnaire, identified by its XLSForm `form_id` (settings sheet); it owns every version loaded."""

    __tablename__ = "forms_forms"
    __table_args__ = (UniqueConstraint("organisation_id", "form_key", name="form_key_per_organisation"),)
    __scope__ = OWNED

    organisation_id: Mapped[str | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    """The owning organisation; `None` only for forms loaded by the CLI into a store without organisations."""
    form_key: Mapped[str] = mapped_column(String(200), index=True)
    """The XLSForm settings `form_id` (pyxform's id_string)."""
    title: Mapped[str] = mapped_column(String(500))
    current_version_id: Mapped[str | None] = mapped_column(String(32))
    """The newest loaded version; imports without a version column are validated against it."""

    versions: Mapped[list[FormVersion]] = relationship(back_populates="form", order_by="FormVersion.number")


class FormVersion(IdMixin, TimestampMixin, Base):
    """One immutable version of a form: the original .xlsx bytes and the parsed `FormDefinition` as JSON."""

    __tablename__ = "forms_form_versions"
    __table_args__ = (
        UniqueConstraint("form_id", "version_label", name="form_version_label"),
        UniqueConstraint("form_id", "number", name="form_version_number"),
    )

    form_id: Mapped[str] = mapped_column(ForeignKey("forms_forms.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    """1, 2, 3… in loading order."""
    version_label: Mapped[str] = mapped_column(String(100))
    """The XLSForm settings `version` (Kobo's `__version__` in exports); the sha256 prefix when the form has none."""
    filename: Mapped[str] = mapped_column(String(300))
    xlsx: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    loaded_by: Mapped[str | None] = mapped_column(String(32))

    form: Mapped[Form] = relationship(back_populates="versions")


class ImportBatch(IdMixin, TimestampMixin, Base):
    """One bulk import of an export file, with its outcome counts; committed together with its rows."""

    __tablename__ = "forms_import_batches"
    __scope__ = OWNED

    organisation_id: Mapped[str | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    form_id: Mapped[str] = mapped_column(ForeignKey("forms_forms.id"), index=True)
    form_version_id: Mapped[str] = mapped_column(ForeignKey("forms_form_versions.id"))
    filename: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    imported_by: Mapped[str | None] = mapped_column(String(32))


class Submission(IdMixin, TimestampMixin, Base):
    """An accepted submission; `data` maps field paths to values, repeats to lists of instance dicts."""

    __tablename__ = "forms_submissions"
    __table_args__ = (UniqueConstraint("form_id", "uuid", name="form_uuid"),)
    __scope__ = OWNED

    organisation_id: Mapped[str | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    form_id: Mapped[str] = mapped_column(ForeignKey("forms_forms.id"), index=True)
    form_version_id: Mapped[str] = mapped_column(ForeignKey("forms_form_versions.id"), index=True)
    uuid: Mapped[str] = mapped_column(String(100))
    """The submission's `_uuid` (Kobo) or `meta/instanceID` without the `uuid:` prefix."""
    submission_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    data: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON("forms.submissions.data"))
    data_digest: Mapped[str | None] = mapped_column(String(80))
    """`<data key id>:<keyed BLAKE2b of the canonical JSON of data without calculations>` (see
    `passage.forms.service.data_digest`): re-imports compare it instead of decrypting every stored row.
    Keyed with a key derived from the data-encryption key, so it reveals nothing without that key."""
    source: Mapped[str] = mapped_column(String(20), default="import")
    """`import`, `web` or `quarantine` (accepted after a fix)."""
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("forms_import_batches.id"), index=True)
    source_row: Mapped[int | None] = mapped_column(Integer)


class QuarantineStatus(enum.StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    """Fixed and re-validated; the submission now exists."""
    DUPLICATE = "duplicate"
    """After a fix, the uuid turned out to be already stored with the same data."""
    SUPERSEDED = "superseded"
    """A later import brought a changed row with the same uuid; that row replaced this entry."""


class QuarantineEntry(IdMixin, TimestampMixin, VersionedMixin, Base):
    """A row that failed validation: kept whole with its row number, first failing field and reason, and all errors.

    `errors` is a list of {"field", "reason", "message"}; `reason` is one of the codes in
    `passage.forms.validation.REASONS`. Messages name fields and rules, never the values.
    """

    __tablename__ = "forms_quarantine_entries"
    __scope__ = OWNED

    organisation_id: Mapped[str | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    form_id: Mapped[str] = mapped_column(ForeignKey("forms_forms.id"), index=True)
    form_version_id: Mapped[str] = mapped_column(ForeignKey("forms_form_versions.id"), index=True)
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("forms_import_batches.id"), index=True)
    row_number: Mapped[int] = mapped_column(Integer)
    """The row in the source file (header = row 1), on the main sheet."""
    sheet: Mapped[str | None] = mapped_column(String(100))
    uuid: Mapped[str | None] = mapped_column(String(100), index=True)
    submission_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    field: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(String(40), index=True)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    data: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON("forms.quarantine_entries.data"))
    """The row as read (field path -> raw text; repeats as lists), updated by fixes."""
    status: Mapped[QuarantineStatus] = mapped_column(
        Enum(QuarantineStatus, native_enum=False, length=20), default=QuarantineStatus.OPEN, index=True
    )
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(32))
    submission_id: Mapped[str | None] = mapped_column(ForeignKey("forms_submissions.id"))
    note: Mapped[str | None] = mapped_column(Text)

    def resolve(self, *, status: QuarantineStatus, actor_id: str | None, submission_id: str | None) -> None:
        self.status = status
        self.resolved_at = utcnow()
        self.resolved_by = actor_id
        self.submission_id = submission_id
