"""Biometric tables: one row per enrolled finger minutiae record, template and image encrypted at rest.

`template` holds the record exactly as received or extracted (ISO/IEC 19794-2:2005 or ANSI INCITS
378), `image` the source image only when images are kept (setting `PASSAGE_BIOMETRICS_KEEP_IMAGES`,
default: dropped after extraction). Both are AES-GCM envelope encrypted by the foundation
(`passage.security.crypto.EncryptedBytes`), bound to the column's context. Revocation deletes the
template and image bytes and keeps a tombstone row (ids, who, when) so the audit trail still resolves.
Quality and counts are kept in clear: they are not personal data and the gallery page needs them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from passage.core.models import Base, IdMixin, TimestampMixin, VersionedMixin
from passage.security.crypto import EncryptedBytes
from passage.security.scope import RecordScope


class BiometricTemplate(IdMixin, TimestampMixin, VersionedMixin, Base):
    """An enrolled finger minutiae record of one person (a tombstone once revoked)."""

    __tablename__ = "biometric_templates"
    __scope__ = RecordScope(owner_organisation="organisation_id", routed_organisation="routed_organisation_id",
                            addressed_country="addressed_country")

    record_ref: Mapped[str] = mapped_column(String(64), unique=True)
    """The enrolling party's id for this record (1-64 of `[A-Za-z0-9_.-]`); duplicates are refused."""
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    """The subject: an identity-engine person id or a case subject reference (an id, never a name)."""
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    routed_organisation_id: Mapped[str | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    addressed_country: Mapped[str | None] = mapped_column(String(2), index=True)
    """ISO 3166-1 alpha-2 code of the state the record is shared with (its central authority sees it)."""
    enrolled_by: Mapped[str | None] = mapped_column(String(32))
    """User id, or None when enrolled by the system (CLI, demo loader)."""

    record_format: Mapped[str] = mapped_column(String(10))
    """`iso2005`, `iso2011`, `ansi2004` or `ansi2007`."""
    finger_positions: Mapped[str] = mapped_column(String(60), default="")
    """Comma-separated ISO/IEC 19794-2 finger positions of the views (0 = unknown)."""
    view_count: Mapped[int] = mapped_column(Integer, default=0)
    minutiae_count: Mapped[int] = mapped_column(Integer, default=0)
    nfiq2: Mapped[int | None] = mapped_column(Integer)
    """NFIQ 2 (0-100) when extracted here; None for a template received from elsewhere."""
    low_quality: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(10))
    """`image` (extracted here) or `template` (uploaded record)."""
    image_format: Mapped[str | None] = mapped_column(String(10))

    template: Mapped[bytes | None] = mapped_column(EncryptedBytes("biometrics.biometric_templates.template"))
    image: Mapped[bytes | None] = mapped_column(EncryptedBytes("biometrics.biometric_templates.image"))

    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    revoked_by: Mapped[str | None] = mapped_column(String(32))
