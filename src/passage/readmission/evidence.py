"""Evidence documents: upload checks (type by content, size), checksums, and classification into
the agreement's evidence categories (e.g. EU–Pakistan Annex 1 "evidence of nationality" and
Annex 2 "shall initiate the process for establishing nationality")."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from passage.core.errors import FieldError, InvalidInput, PayloadTooLarge, UnsupportedMediaType
from passage.core.i18n import N_, T_
from passage.readmission.schemas import AgreementVersion, EvidenceCategory, EvidenceType

ALLOWED_MEDIA_TYPES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/tiff": (b"II*\x00", b"MM\x00*"),
}
"""Accepted types and their magic numbers: the type is decided from the bytes, not the file name."""

DEFAULT_MAX_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class CheckedUpload:
    media_type: str
    size: int
    sha256: str


def sniff_media_type(data: bytes) -> str | None:
    for media_type, signatures in ALLOWED_MEDIA_TYPES.items():
        if any(data.startswith(sig) for sig in signatures):
            return media_type
    return None


def check_upload(data: bytes, *, declared_media_type: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> CheckedUpload:
    """Refuse an empty, oversized (413) or unknown-type (415) upload; return its type, size and SHA-256.

    A declared type that disagrees with the content is refused as well (415): a renamed executable
    must not pass as a PDF.
    """
    size = len(data)
    if size == 0:
        raise InvalidInput(N_("the file is empty"), fields=[FieldError("file", N_("empty"))])
    if size > max_bytes:
        raise PayloadTooLarge(T_("the file is larger than {max_bytes} bytes", max_bytes=max_bytes), extra={"max_bytes": max_bytes, "size": size})
    sniffed = sniff_media_type(data)
    if sniffed is None:
        raise UnsupportedMediaType(N_("unsupported file type"), extra={"allowed": sorted(ALLOWED_MEDIA_TYPES)})
    if declared_media_type and declared_media_type.split(";")[0].strip().lower() != sniffed:
        raise UnsupportedMediaType(N_("the declared file type does not match the content"), extra={"declared": declared_media_type, "detected": sniffed})
    return CheckedUpload(media_type=sniffed, size=size, sha256=hashlib.sha256(data).hexdigest())


def verify_checksum(data: bytes, expected_sha256: str) -> bool:
    """True if stored bytes still match the checksum recorded at upload (run after decryption)."""
    return hashlib.sha256(data).hexdigest() == expected_sha256.lower()


def classify(version: AgreementVersion, evidence_type: str) -> EvidenceType:
    """The agreement's evidence type for a code, with its category and citation; unknown codes are refused."""
    for candidate in version.evidence_types:
        if candidate.code == evidence_type:
            return candidate
    raise InvalidInput(
        N_("unknown evidence type for this agreement"),
        fields=[FieldError("evidence_type", T_("must be one of {value}", value=[e.code for e in version.evidence_types]))],
    )


def strongest_category(version: AgreementVersion, evidence_types: list[str]) -> EvidenceCategory | None:
    """The strongest category among a case's documents: proof > prima facie > starts identification."""
    order = [EvidenceCategory.proof_of_nationality, EvidenceCategory.prima_facie, EvidenceCategory.starts_identification]
    categories = {classify(version, code).category for code in evidence_types}
    for category in order:
        if category in categories:
            return category
    return None
