"""Biometric operations through the foundation: permission checks, record scope, encryption and audit.

Every template read, every download, every 1:1 match and every 1:N search needs
`Permission.BIOMETRICS_READ`; enrolment and revocation need `Permission.BIOMETRICS_ENROL`. Each is
audited in the caller's transaction with ids only (template ids, person ids, counts), never minutiae
or image bytes. A refused call is audited in a transaction of its own before `Forbidden` is raised,
so the refusal survives the rollback (the foundation's `security.operations.require_permission`). The CLI
and the demo loader act as the foundation's system actor (`system_actor("biometrics.cli")`: an operator on
the server, audited as `system` with the job's name).

The 1:N gallery index lives in memory per database (`SearchIndex`, MCC prefilter + Bozorth3). It is
brought up to date from the database before each search (templates enrolled by another process are
loaded, revoked ones removed), saved encrypted (`encrypt_bytes`, context `biometrics.index`) to
`<data_dir>/biometrics/index-<hash of the database URL>.bin` whenever it changed, and loaded from
there by a new process, so a restart re-reads only what changed; every search is restricted to the caller's visible template ids
(`scoped_select`), so the index can never return a record outside scope or a revoked one.

Public function for the identity and readmission engines: `fingerprint_evidence` (see
docs/biometrics.md).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from passage.biometrics import ansi_nist, iso39794
from passage.biometrics.codec import MinutiaeRecord, RecordFormat, convert, decode, encode
from passage.biometrics.extract import DEFAULT_MIN_NFIQ2, extract
from passage.biometrics.gallery import ID_PATTERN, Candidate, SearchIndex
from passage.biometrics.matching import (
    DEFAULT_CALIBRATION,
    Calibration,
    MatchResult,
    match_records,
    view_is_low_quality,
)
from passage.biometrics.models import BiometricTemplate
from passage.core.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    PassageError,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from passage.core.files import atomic_output
from passage.core.i18n import N_, T_
from passage.core.models import utcnow
from passage.core.settings import get_settings
from passage.security import audit
from passage.security.actors import Actor, is_system
from passage.security.crypto import decrypt_bytes, encrypt_bytes
from passage.security.models import Organisation
from passage.security.operations import require_permission
from passage.security.permissions import Permission
from passage.security.scope import get_visible, scoped_select

ENTITY = "biometric_template"
TEMPLATE_MAGIC = b"FMR\x00"
FORMATS: tuple[RecordFormat, ...] = ("iso2005", "iso2011", "ansi2004", "ansi2007")


class BiometricsSettings(BaseSettings):
    """`PASSAGE_BIOMETRICS_KEEP_IMAGES=true` keeps encrypted source images; the default drops them after extraction."""

    model_config = SettingsConfigDict(env_prefix="PASSAGE_BIOMETRICS_", env_file=".env", extra="ignore")

    keep_images: bool = False
    min_nfiq2: int = DEFAULT_MIN_NFIQ2


def biometrics_settings() -> BiometricsSettings:
    return BiometricsSettings()


def _require(session: Session, actor: Actor, permission: Permission, action: str) -> None:
    require_permission(session, actor=actor, permission=permission, entity_type=ENTITY, operation=action)


def _visible(session: Session, actor: Actor) -> Any:
    """`select(BiometricTemplate)` limited to what the actor may see, active (not revoked) records only."""
    return scoped_select(BiometricTemplate, actor).where(BiometricTemplate.revoked_at.is_(None))


def _load_visible(session: Session, actor: Actor, template_id: str) -> BiometricTemplate:
    row = get_visible(session, BiometricTemplate, template_id, actor)
    if row.revoked_at is not None or row.template is None:
        raise NotFound(T_("{ENTITY} {template_id} has been revoked", ENTITY=ENTITY, template_id=template_id))
    return row


# --- parsing inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedInput:
    """An uploaded fingerprint after checks: the record, and the image and NFIQ 2 when it was an image."""

    record: MinutiaeRecord
    source: str
    image: bytes | None = None
    image_format: str | None = None
    nfiq2: int | None = None
    low_quality: bool = False
    quality_reasons: tuple[str, ...] = ()


def parse_upload(data: bytes, *, finger_position: int = 0, ppi: float | None = None, field: str = "file") -> ParsedInput:
    """A minutiae record (ISO/ANSI, detected by its `FMR\\0` identifier), an ANSI/NIST-ITL transaction, an
    ISO/IEC 39794-4 finger image record or an image (PNG, TIFF, BMP, WSQ) to extract.

    Refusals: 413 above the upload limit, 415 for JPEG or any other image format, 422 for an
    empty file, an unreadable image, a wrong size or resolution, a malformed or wrong-version record
    (with the byte offset) and an empty template.
    """
    limit = get_settings().max_upload_bytes
    if len(data) > limit:
        raise PayloadTooLarge(T_("{field}: {count} bytes is more than the {limit}-byte upload limit", field=field, count=len(data), limit=limit))
    if not data:
        raise InvalidInput(T_("{field}: the file is empty (0 bytes)", field=field), fields=[FieldError(field, N_("empty file"))])
    if ansi_nist.is_transaction(data):
        return _parse_transaction_upload(data, finger_position=finger_position, ppi=ppi, field=field)
    if iso39794.is_finger_image_record(data):
        return _parse_iso39794_upload(data, finger_position=finger_position, ppi=ppi, field=field)
    if data[:4] == TEMPLATE_MAGIC:
        record = decode(data)
        if not record.views or record.minutiae_count() == 0:
            raise InvalidInput(T_("{field}: empty template (no minutiae)", field=field), fields=[FieldError(field, N_("empty template"))])
        low = [i for i, v in enumerate(record.views) if view_is_low_quality(v)]
        reasons = tuple(f"view {i}: quality below threshold or fewer than 12 minutiae" for i in low)
        return ParsedInput(record=record, source="template", low_quality=len(low) == len(record.views), quality_reasons=reasons)
    extraction = extract(data, ppi=ppi, finger_position=finger_position, min_nfiq2=biometrics_settings().min_nfiq2)
    image_format = _image_format(data)
    return ParsedInput(record=extraction.record, source="image", image=data, image_format=image_format, nfiq2=extraction.nfiq2,
                       low_quality=extraction.low_quality, quality_reasons=extraction.quality_reasons)


def _parse_iso39794_upload(data: bytes, *, finger_position: int, ppi: float | None, field: str) -> ParsedInput:
    """One representation of an ISO/IEC 39794-4 finger image record, extracted like any image at the
    record's own spatial sampling rate. `finger_position` picks the finger when there are several."""
    record = iso39794.decode(data)
    chosen = [r for r in record.representations if r.position == finger_position] if finger_position else list(record.representations)
    if len(chosen) > 1:
        found = sorted({r.position for r in record.representations})
        raise InvalidInput(T_("{field}: the record holds {count} finger images; choose one with finger_position", field=field, count=len(chosen)),
                           fields=[FieldError("finger_position", T_("one of {found}", found=found))])
    if not chosen:
        raise InvalidInput(T_("{field}: the record holds no image of this finger", field=field),
                           fields=[FieldError("finger_position", N_("no representation for it"))])
    representation = chosen[0]
    if representation.compression == "jpeg2000":
        raise UnsupportedMediaType(T_("{field}: the ISO/IEC 39794-4 image is JPEG 2000, which cannot be decoded here", field=field))
    pixels = _pgm_as_png(representation.image, field=field) if representation.compression == "pgm" else representation.image
    position = finger_position or representation.position
    extraction = extract(pixels, ppi=ppi or representation.ppi, finger_position=position if position <= 10 else 0,
                         min_nfiq2=biometrics_settings().min_nfiq2)
    return ParsedInput(record=extraction.record, source="iso39794", image=pixels, image_format=_image_format(pixels),
                       nfiq2=extraction.nfiq2, low_quality=extraction.low_quality, quality_reasons=extraction.quality_reasons)


def _pgm_as_png(data: bytes, *, field: str) -> bytes:
    """ISO/IEC 39794-4 image data format 0 (PGM, Netpbm grey map) re-encoded as PNG for extraction."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.format != "PPM":
                raise UnidentifiedImageError("not a Netpbm image")
            buffer = io.BytesIO()
            opened.convert("L").save(buffer, format="PNG")
    except (UnidentifiedImageError, OSError, ValueError):
        raise InvalidInput(T_("{field}: the ISO/IEC 39794-4 image declared as PGM is unreadable", field=field),
                           fields=[FieldError(field, N_("unreadable image"))]) from None
    return buffer.getvalue()


def _parse_transaction_upload(data: bytes, *, finger_position: int, ppi: float | None, field: str) -> ParsedInput:
    """One finger of an ANSI/NIST-ITL transaction: its Type-4/Type-14 image (extracted like any image),
    or, without an image, its Type-9 minutiae. `finger_position` picks the finger when there are several."""
    transaction = ansi_nist.parse_transaction(data)
    images = [i for i in transaction.images if finger_position in i.finger_positions] if finger_position else list(transaction.images)
    if len(images) > 1:
        found = sorted({p for i in transaction.images for p in i.finger_positions})
        raise InvalidInput(T_("{field}: the transaction holds {count} finger images; choose one with finger_position", field=field, count=len(images)),
                           fields=[FieldError("finger_position", T_("one of {found}", found=found))])
    if images:
        image = images[0]
        if image.compression == "jpeg2000":
            raise UnsupportedMediaType(T_("{field}: Type-{record_type} image IDC {idc} is JPEG 2000, which cannot be decoded here", field=field, record_type=image.record_type, idc=image.idc))
        pixels = ansi_nist.raw_image_as_png(image) if image.compression == "none" else image.data
        position = finger_position or (image.finger_positions[0] if image.finger_positions else 0)
        extraction = extract(pixels, ppi=ppi or image.ppi, finger_position=position if position <= 10 else 0,
                             min_nfiq2=biometrics_settings().min_nfiq2)
        return ParsedInput(record=extraction.record, source="ansi_nist", image=pixels, image_format=_image_format(pixels),
                           nfiq2=extraction.nfiq2, low_quality=extraction.low_quality, quality_reasons=extraction.quality_reasons)
    sets = [m for m in transaction.minutiae if not finger_position or finger_position in m.finger_positions or not m.finger_positions]
    if not sets:
        raise InvalidInput(T_("{field}: the transaction holds no fingerprint image or minutiae for this finger", field=field),
                           fields=[FieldError("finger_position", N_("no Type-4, Type-14 or Type-9 record for it"))])
    if len(sets) > 1:
        raise InvalidInput(T_("{field}: the transaction holds {count} minutiae records; choose one with finger_position", field=field, count=len(sets)),
                           fields=[FieldError("finger_position", N_("ambiguous"))])
    ppmm = transaction.native_ppmm or 19.69
    chosen = sets[0]
    height_mm = max((m.y_mm for m in chosen.minutiae), default=0.0) + 1.0
    record = chosen.as_record(image_height_mm=height_mm, ppmm=ppmm)
    if record.minutiae_count() == 0:
        raise InvalidInput(T_("{field}: empty template (no minutiae)", field=field), fields=[FieldError(field, N_("empty template"))])
    return ParsedInput(record=record, source="ansi_nist", low_quality=view_is_low_quality(record.views[0]),
                       quality_reasons=("fewer than 12 minutiae",) if view_is_low_quality(record.views[0]) else ())


def _image_format(data: bytes) -> str:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:2] == b"\xff\xa0":
        return "wsq"
    if data[:2] == b"BM":
        return "bmp"
    return "tiff"


# --- enrolment ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrolmentRequest:
    record_ref: str
    person_id: str
    upload: ParsedInput
    addressed_country: str | None = None
    routed_organisation_id: str | None = None


def _check_request(number: int, item: EnrolmentRequest, prefix: str) -> list[FieldError]:
    problems = []
    if not ID_PATTERN.match(item.record_ref or ""):
        problems.append(FieldError(f"{prefix}record_ref", N_("must be 1-64 characters of letters, digits, '_', '-' or '.'")))
    if not ID_PATTERN.match(item.person_id or ""):
        problems.append(FieldError(f"{prefix}person_id", N_("must be 1-64 characters of letters, digits, '_', '-' or '.'")))
    if item.addressed_country is not None and not (len(item.addressed_country) == 2 and item.addressed_country.isalpha() and item.addressed_country.isupper()):
        problems.append(FieldError(f"{prefix}addressed_country", N_("must be an ISO 3166-1 alpha-2 code such as CN")))
    return problems


def enrol(session: Session, *, actor: Actor, items: Sequence[EnrolmentRequest], keep_images: bool | None = None) -> list[BiometricTemplate]:
    """Enrol a batch, all or nothing: a bad id, a duplicate record ref (in the batch or the gallery) changes nothing."""
    _require(session, actor, Permission.BIOMETRICS_ENROL, "enrol")
    if not items:
        raise InvalidInput(N_("nothing to enrol"))
    problems: list[FieldError] = []
    seen: dict[str, int] = {}
    for number, item in enumerate(items):
        prefix = f"items.{number}." if len(items) > 1 else ""
        problems.extend(_check_request(number, item, prefix))
        if item.record_ref in seen:
            problems.append(FieldError(f"{prefix}record_ref", T_("duplicate of item {value} in this batch", value=seen[item.record_ref])))
        seen.setdefault(item.record_ref, number)
        if item.routed_organisation_id is not None and session.get(Organisation, item.routed_organisation_id) is None:
            problems.append(FieldError(f"{prefix}routed_organisation_id", N_("no such organisation")))
    if problems:
        raise InvalidInput(N_("the enrolment was refused; nothing was enrolled"), fields=problems)
    existing = set(session.scalars(select(BiometricTemplate.record_ref).where(BiometricTemplate.record_ref.in_(list(seen)))))
    if existing:
        clashes = [FieldError(f"items.{seen[ref]}.record_ref" if len(items) > 1 else "record_ref", "already enrolled") for ref in sorted(existing)]
        raise Conflict(N_("a record ref is already in the gallery; nothing was enrolled"), fields=clashes)
    keep = biometrics_settings().keep_images if keep_images is None else keep_images
    rows = []
    for item in items:
        record = item.upload.record
        row = BiometricTemplate(
            record_ref=item.record_ref, person_id=item.person_id, organisation_id=actor.organisation_id,
            routed_organisation_id=item.routed_organisation_id, addressed_country=item.addressed_country,
            enrolled_by=None if is_system(actor) else actor.id, record_format=record.format,
            finger_positions=",".join(str(v.position) for v in record.views), view_count=len(record.views),
            minutiae_count=record.minutiae_count(), nfiq2=item.upload.nfiq2, low_quality=item.upload.low_quality,
            source=item.upload.source, image_format=item.upload.image_format if keep and item.upload.image else None,
            template=encode(record), image=item.upload.image if keep else None,
        )
        session.add(row)
        rows.append(row)
    session.flush()
    for row in rows:
        audit.record(session, actor=actor, entity_type=ENTITY, action="enrol", entity_id=row.id, details={"person_id": row.person_id, "record_ref": row.record_ref, "source": row.source,
                                                  "format": row.record_format, "image_kept": row.image is not None})
    _index_for(session).add_many((row.id, row.person_id, item.upload.record) for row, item in zip(rows, items, strict=True))
    return rows


def drop_images(session: Session, *, actor: Actor) -> int:
    """Delete every kept image the actor's organisation owns, keeping templates (for a change of policy)."""
    _require(session, actor, Permission.BIOMETRICS_ENROL, "drop_images")
    rows = session.scalars(_visible(session, actor).where(BiometricTemplate.image.is_not(None),
                                                          BiometricTemplate.organisation_id == actor.organisation_id)).all()
    for row in rows:
        row.image = None
        row.image_format = None
    session.flush()
    audit.record(session, actor=actor, entity_type=ENTITY, action="drop_images", entity_id=None, details={"template_ids": [r.id for r in rows]})
    return len(rows)


def revoke_person(session: Session, *, actor: Actor, person_id: str) -> list[str]:
    """Delete the template and image bytes of every visible record of one person; tombstones keep the ids."""
    _require(session, actor, Permission.BIOMETRICS_ENROL, "revoke")
    rows = session.scalars(_visible(session, actor).where(BiometricTemplate.person_id == person_id)).all()
    if not rows:
        raise NotFound(N_("no templates are enrolled for this person"))
    now = utcnow()
    for row in rows:
        row.template = None
        row.image = None
        row.image_format = None
        row.revoked_at = now
        row.revoked_by = actor.id
    session.flush()
    index = _index_for(session)
    for row in rows:
        audit.record(session, actor=actor, entity_type=ENTITY, action="revoke", entity_id=row.id, details={"person_id": person_id, "record_ref": row.record_ref})
        index.remove(row.id)
    # Rewrite the snapshot now, so the revoked templates do not linger in it on disk.
    _save_snapshot(_index_key(session), index)
    return [r.id for r in rows]


# --- reads ------------------------------------------------------------------------------------------------


def get_template(session: Session, *, actor: Actor, template_id: str, purpose: str = "read") -> tuple[BiometricTemplate, MinutiaeRecord]:
    """One visible record and its decoded template (audited as `purpose`: read, download, image, compare)."""
    _require(session, actor, Permission.BIOMETRICS_READ, purpose)
    row = _load_visible(session, actor, template_id)
    assert row.template is not None
    audit.record(session, actor=actor, entity_type=ENTITY, action=purpose, entity_id=row.id, details={"person_id": row.person_id})
    return row, decode(row.template)


def download_template(session: Session, *, actor: Actor, template_id: str, target: RecordFormat | None = None) -> bytes:
    """The stored record bytes, or converted to `target` (iso2005, iso2011, ansi2004, ansi2007); audited as a download."""
    if target is not None and target not in FORMATS:
        raise InvalidInput(N_("format must be iso2005, iso2011, ansi2004 or ansi2007"), fields=[FieldError("format", N_("unknown format"))])
    row, record = get_template(session, actor=actor, template_id=template_id, purpose="download")
    if target is None or target == record.format:
        assert row.template is not None
        return row.template
    return encode(convert(record, target))


def get_image(session: Session, *, actor: Actor, template_id: str) -> tuple[bytes, str]:
    """The kept source image and its format; 404 when images were dropped."""
    _require(session, actor, Permission.BIOMETRICS_READ, "image")
    row = _load_visible(session, actor, template_id)
    if row.image is None:
        raise NotFound(N_("no image is kept for this template (images are dropped after extraction)"))
    audit.record(session, actor=actor, entity_type=ENTITY, action="image", entity_id=row.id, details={"person_id": row.person_id})
    return row.image, row.image_format or "png"


@dataclass(frozen=True)
class GalleryStats:
    active: int
    revoked: int
    persons: int
    low_quality: int
    images_kept: int
    by_format: dict[str, int]


def gallery_stats(session: Session, *, actor: Actor) -> GalleryStats:
    """Counts over the records the actor may see (no personal values; not audited as a personal read)."""
    _require(session, actor, Permission.BIOMETRICS_READ, "stats")
    base = scoped_select(BiometricTemplate, actor)
    visible = base.subquery()

    def count(*conditions: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(visible).where(*conditions)) or 0)

    active = visible.c.revoked_at.is_(None)
    by_format = {str(fmt): int(n) for fmt, n in session.execute(
        select(visible.c.record_format, func.count()).where(active).group_by(visible.c.record_format))}
    persons = int(session.scalar(select(func.count(func.distinct(visible.c.person_id))).where(active)) or 0)
    return GalleryStats(active=count(active), revoked=count(visible.c.revoked_at.is_not(None)), persons=persons,
                        low_quality=count(active, visible.c.low_quality.is_(True)), images_kept=count(active, visible.c.image.is_not(None)),
                        by_format=by_format)


SORTS = {
    "enrolled": BiometricTemplate.created_at.desc(),
    "person": BiometricTemplate.person_id,
    "record": BiometricTemplate.record_ref,
    "quality": BiometricTemplate.nfiq2.desc(),
    "minutiae": BiometricTemplate.minutiae_count.desc(),
}


def list_templates(session: Session, *, actor: Actor, q: str | None = None, status: str = "active", record_format: str | None = None,
                   low_quality: bool | None = None, sort: str = "enrolled", offset: int = 0, limit: int = 50) -> tuple[list[BiometricTemplate], int]:
    """Visible records (metadata only, no template bytes), filtered, sorted and paged; the listing is audited."""
    _require(session, actor, Permission.BIOMETRICS_READ, "list")
    if sort not in SORTS:
        raise InvalidInput(N_("unknown sort"), fields=[FieldError("sort", T_("one of {items}", items=', '.join(SORTS)))])
    if status not in ("active", "revoked", "all"):
        raise InvalidInput(N_("unknown status"), fields=[FieldError("status", N_("one of active, revoked, all"))])
    statement = scoped_select(BiometricTemplate, actor)
    if status == "active":
        statement = statement.where(BiometricTemplate.revoked_at.is_(None))
    elif status == "revoked":
        statement = statement.where(BiometricTemplate.revoked_at.is_not(None))
    if q:
        statement = statement.where((BiometricTemplate.person_id == q) | (BiometricTemplate.record_ref == q) | (BiometricTemplate.id == q))
    if record_format:
        statement = statement.where(BiometricTemplate.record_format == record_format)
    if low_quality is not None:
        statement = statement.where(BiometricTemplate.low_quality.is_(low_quality))
    total = int(session.scalar(select(func.count()).select_from(statement.subquery())) or 0)
    # Only metadata columns are loaded: listing never decrypts a template.
    rows = list(session.scalars(statement.order_by(SORTS[sort], BiometricTemplate.id).offset(offset).limit(limit)
                                .options(*_defer_secrets())))
    audit.record(session, actor=actor, entity_type=ENTITY, action="list", entity_id=None, details={"count": len(rows), "template_ids": [r.id for r in rows]})
    return rows, total


def _defer_secrets() -> Any:
    from sqlalchemy.orm import defer

    return defer(BiometricTemplate.template), defer(BiometricTemplate.image)  # type: ignore[return-value]


# --- matching -----------------------------------------------------------------------------------------------


def match(session: Session, *, actor: Actor, probe: MinutiaeRecord, reference: MinutiaeRecord,
          calibration: Calibration = DEFAULT_CALIBRATION, probe_id: str | None = None, reference_id: str | None = None) -> MatchResult:
    """1:1 Bozorth3 with calibrated log2 LR; audited (template ids when the records are enrolled ones)."""
    _require(session, actor, Permission.BIOMETRICS_READ, "match")
    result = match_records(probe, reference, calibration=calibration)
    audit.record(session, actor=actor, entity_type=ENTITY, action="match", entity_id=reference_id, details={"probe_id": probe_id, "reference_id": reference_id, "usable": result.usable})
    return result


@dataclass(frozen=True)
class SearchHit:
    person_id: str
    template_ids: tuple[str, ...]
    result: MatchResult
    prefilter_score: float

    @property
    def log2_lr(self) -> float:
        return self.result.log2_lr


def search(session: Session, *, actor: Actor, probe: MinutiaeRecord, top: int = 10, shortlist: int | None = None,
           calibration: Calibration = DEFAULT_CALIBRATION, probe_id: str | None = None, min_log2_lr: float | None = None) -> list[SearchHit]:
    """1:N over the records the actor may see: MCC shortlist, Bozorth3 re-rank, fused per person; audited with ids."""
    _require(session, actor, Permission.BIOMETRICS_READ, "search")
    if not 1 <= top <= 1000:
        raise InvalidInput(N_("top must be 1-1000"), fields=[FieldError("top", N_("1-1000"))])
    if shortlist is not None and not 1 <= shortlist <= 5000:
        raise InvalidInput(N_("shortlist must be 1-5000"), fields=[FieldError("shortlist", N_("1-5000"))])
    index = _synchronised_index(session)
    visible = set(session.scalars(_visible(session, actor).with_only_columns(BiometricTemplate.id)))
    exclude = {probe_id} if probe_id else set()
    candidates: list[Candidate] = index.search(probe, top=top, shortlist=shortlist, calibration=calibration, visible=visible, exclude=exclude)
    if min_log2_lr is not None:
        candidates = [c for c in candidates if c.log2_lr >= min_log2_lr]
    hits = [SearchHit(c.person_id, c.record_ids, c.result, c.prefilter_score) for c in candidates]
    audit.record(session, actor=actor, entity_type=ENTITY, action="search", entity_id=probe_id, details={"probe_id": probe_id, "gallery_size": len(visible), "top": top,
                                                "candidate_person_ids": [h.person_id for h in hits],
                                                "candidate_template_ids": [t for h in hits for t in h.template_ids]})
    return hits


@dataclass(frozen=True)
class FingerprintEvidence:
    """Evidence for one candidate person: a log2 LR term for the fused identity score and its explanation."""

    person_id: str
    log2_lr: float
    usable: bool
    explanation: str
    template_ids: tuple[str, ...]
    best_score: int


def fingerprint_evidence(session: Session, *, actor: Actor, probe: MinutiaeRecord | bytes, person_ids: Sequence[str],
                         calibration: Calibration = DEFAULT_CALIBRATION) -> dict[str, FingerprintEvidence]:
    """Fingerprint evidence of each candidate person for the identity engine's fused score.

    `probe` is a record or its ISO/ANSI bytes. Each person's visible, unrevoked records are compared
    with Bozorth3 (`matching.match_records`: per finger, calibrated log2 LR, fingers summed); the
    person's best record counts. A person with no visible template gets `usable=False, log2_lr=0`
    ("no fingerprint on file"), so absence is never evidence against identity. Needs
    BIOMETRICS_READ; audited once with the person and template ids.
    """
    _require(session, actor, Permission.BIOMETRICS_READ, "evidence")
    record = decode(probe) if isinstance(probe, bytes | bytearray) else probe
    if not record.views or record.minutiae_count() == 0:
        raise InvalidInput(N_("the probe template is empty (no minutiae)"), fields=[FieldError("probe", N_("empty template"))])
    wanted = list(dict.fromkeys(person_ids))
    rows = session.scalars(_visible(session, actor).where(BiometricTemplate.person_id.in_(wanted))).all() if wanted else []
    by_person: dict[str, list[BiometricTemplate]] = {}
    for row in rows:
        by_person.setdefault(row.person_id, []).append(row)
    evidence: dict[str, FingerprintEvidence] = {}
    for person_id in wanted:
        best: tuple[MatchResult, BiometricTemplate] | None = None
        for row in by_person.get(person_id, []):
            assert row.template is not None
            result = match_records(record, decode(row.template), calibration=calibration)
            if best is None or result.log2_lr > best[0].log2_lr:
                best = (result, row)
        if best is None:
            evidence[person_id] = FingerprintEvidence(person_id, 0.0, False, T_("No fingerprint on file for this person: no evidence either way."), (), 0)
        else:
            result, row = best
            evidence[person_id] = FingerprintEvidence(person_id, result.log2_lr, result.usable, result.explanation,
                                                      tuple(r.id for r in by_person[person_id]), result.best_score)
    audit.record(session, actor=actor, entity_type=ENTITY, action="evidence", entity_id=None, details={"person_ids": wanted, "template_ids": [r.id for r in rows]})
    return evidence


# --- the in-memory index ------------------------------------------------------------------------------------

_indexes: dict[str, SearchIndex] = {}
_saved_changes: dict[str, int] = {}
_indexes_lock = threading.Lock()
_save_locks: dict[str, threading.Lock] = {}
INDEX_CONTEXT = "biometrics.index"
SAVE_IN_BACKGROUND_ABOVE = 5000
logger = logging.getLogger(__name__)


def _index_key(session: Session) -> str:
    return str(session.get_bind().engine.url)


def index_snapshot_path(key: str) -> Path:
    """Where the encrypted index snapshot of one database lives: `<data_dir>/biometrics/index-<hash>.bin`."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return get_settings().data_dir / "biometrics" / f"index-{digest}.bin"


def _load_snapshot(key: str) -> SearchIndex | None:
    """The index saved by an earlier process, or None; a snapshot that fails to decrypt or parse is ignored."""
    path = index_snapshot_path(key)
    if not path.exists():
        return None
    try:
        index = SearchIndex.from_bytes(decrypt_bytes(path.read_bytes(), context=INDEX_CONTEXT))
    except (OSError, ValueError, PassageError) as exc:
        # The snapshot is only a cache of the database: any failure means rebuilding from the templates.
        logger.warning("biometric index snapshot ignored (%s); rebuilding from the database", type(exc).__name__)
        return None
    _saved_changes[key] = index.changes
    return index


def _write_snapshot(key: str, index: SearchIndex) -> None:
    lock = _save_locks.setdefault(key, threading.Lock())
    with lock:
        changes = index.changes
        data = index.to_bytes()
        path = index_snapshot_path(key)
        with atomic_output(path, mode="wb") as handle:
            handle.write(encrypt_bytes(data, context=INDEX_CONTEXT))
        _saved_changes[key] = changes


def _save_snapshot(key: str, index: SearchIndex) -> None:
    """Write the encrypted snapshot if the index changed since the last one (background thread for large galleries)."""
    if _saved_changes.get(key) == index.changes:
        return
    if len(index) <= SAVE_IN_BACKGROUND_ABOVE:
        _write_snapshot(key, index)
        return

    def write() -> None:
        try:
            _write_snapshot(key, index)
        except (OSError, PassageError) as exc:
            logger.warning("biometric index snapshot not written (%s)", type(exc).__name__)

    threading.Thread(target=write, name="biometric-index-snapshot", daemon=True).start()


def _index_for(session: Session) -> SearchIndex:
    key = _index_key(session)
    with _indexes_lock:
        index = _indexes.get(key)
        if index is None:
            index = _indexes[key] = _load_snapshot(key) or SearchIndex()
        return index


def reset_indexes() -> None:
    """Forget every in-memory index (tests; a fresh process). The next search loads the snapshot, then the database."""
    with _indexes_lock:
        _indexes.clear()
        _saved_changes.clear()


def _synchronised_index(session: Session) -> SearchIndex:
    """Bring the index in line with the database: load records it lacks, drop revoked ones, then save the snapshot."""
    index = _index_for(session)
    active = set(session.scalars(select(BiometricTemplate.id).where(BiometricTemplate.revoked_at.is_(None))))
    for stale in index.ids() - active:
        index.remove(stale)
    missing = sorted(active - index.ids())
    for start in range(0, len(missing), 500):
        chunk = missing[start:start + 500]
        index.add_many((row.id, row.person_id, decode(row.template)) for row in session.execute(
            select(BiometricTemplate.id, BiometricTemplate.person_id, BiometricTemplate.template)
            .where(BiometricTemplate.id.in_(chunk))) if row.template is not None)
    index.freeze()
    _save_snapshot(_index_key(session), index)
    return index


def rebuild_index(session: Session, *, actor: Actor) -> int:
    """Drop and rebuild this database's index (and its snapshot) from the stored templates; returns its size."""
    _require(session, actor, Permission.BIOMETRICS_ENROL, "rebuild_index")
    key = _index_key(session)
    with _indexes_lock:
        _indexes.pop(key, None)
        _saved_changes.pop(key, None)
        index_snapshot_path(key).unlink(missing_ok=True)
    size = len(_synchronised_index(session))
    audit.record(session, actor=actor, entity_type=ENTITY, action="rebuild_index", entity_id=None, details={"size": size})
    return size


def person_ids_with_templates(session: Session, *, actor: Actor, person_ids: Sequence[str]) -> set[str]:
    """Which of these persons have a visible, unrevoked template (ids only; for the identity engine's UI)."""
    _require(session, actor, Permission.BIOMETRICS_READ, "lookup")
    if not person_ids:
        return set()
    return set(session.scalars(_visible(session, actor).with_only_columns(BiometricTemplate.person_id)
                               .where(BiometricTemplate.person_id.in_(list(person_ids)))))
