"""Biometrics API under /api/v1/biometrics: enrol, 1:1 match, 1:N search, revoke, template download.

Uploads are multipart: a PNG/TIFF/BMP/WSQ image (minutiae are extracted here), an ISO/IEC 19794-2 /
ANSI INCITS 378 minutiae record, an ANSI/NIST-ITL transaction or an ISO/IEC 39794-4 finger image record.
413 above the upload limit, 415 for JPEG, JPEG 2000 or other formats, 422 with the
field path (and byte offset for a malformed record) otherwise. Every route declares its permission.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel

from passage.biometrics import service
from passage.biometrics.codec import MinutiaeRecord, RecordFormat
from passage.biometrics.matching import MatchResult
from passage.biometrics.models import BiometricTemplate
from passage.core.deps import DbSession
from passage.core.errors import FieldError, InvalidInput, PayloadTooLarge
from passage.core.i18n import N_, T_, localise
from passage.core.settings import get_settings
from passage.security.deps import require
from passage.security.models import User
from passage.security.permissions import Permission
from passage.security.schemas import Offset, Page

router = APIRouter(prefix="/biometrics", tags=["biometrics"])


class TemplateOut(BaseModel):
    id: str
    record_ref: str
    person_id: str
    organisation_id: str
    record_format: str
    finger_positions: list[int]
    view_count: int
    minutiae_count: int
    nfiq2: int | None
    low_quality: bool
    source: str
    image_kept: bool
    revoked: bool
    version: int


class FingerOut(BaseModel):
    finger_position: int
    score: int
    log2_lr: float


class MatchOut(BaseModel):
    usable: bool
    log2_lr: float
    best_score: int
    fingers: list[FingerOut]
    explanation: str


class CandidateOut(BaseModel):
    rank: int
    person_id: str
    template_ids: list[str]
    log2_lr: float
    bozorth3: int
    usable: bool
    explanation: str


class RevokeOut(BaseModel):
    person_id: str
    revoked_template_ids: list[str]


class StatsOut(BaseModel):
    active: int
    revoked: int
    persons: int
    low_quality: int
    images_kept: int
    by_format: dict[str, int]


def template_out(row: BiometricTemplate) -> TemplateOut:
    return TemplateOut(
        id=row.id, record_ref=row.record_ref, person_id=row.person_id, organisation_id=row.organisation_id,
        record_format=row.record_format, finger_positions=[int(p) for p in row.finger_positions.split(",") if p],
        view_count=row.view_count, minutiae_count=row.minutiae_count, nfiq2=row.nfiq2, low_quality=row.low_quality,
        source=row.source, image_kept=row.image_format is not None, revoked=row.revoked_at is not None, version=row.version,
    )


def match_out(result: MatchResult) -> MatchOut:
    return MatchOut(usable=result.usable, log2_lr=round(result.log2_lr, 3), best_score=result.best_score,
                    fingers=[FingerOut(finger_position=f.finger_position, score=f.score, log2_lr=round(f.log2_lr, 3)) for f in result.fingers],
                    explanation=localise(result.explanation))


async def read_upload(upload: UploadFile, field: str) -> bytes:
    """Read at most the upload limit plus one byte, so an oversized file is refused without holding it all."""
    limit = get_settings().max_upload_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(T_("{field}: larger than the {limit}-byte upload limit", field=field, limit=limit))
    return data


async def _probe(db: DbSession, user: User, upload: UploadFile | None, template_id: str | None, field: str,
                 finger: int, ppi: float | None) -> tuple[MinutiaeRecord, str | None]:
    if (upload is None) == (template_id is None):
        raise InvalidInput(T_("give exactly one of {field} (a file) or {field}_template_id", field=field),
                           fields=[FieldError(field, N_("exactly one of a file or an enrolled template id"))])
    if template_id is not None:
        _row, record = service.get_template(db, actor=user, template_id=template_id, purpose="compare")
        return record, template_id
    assert upload is not None
    parsed = service.parse_upload(await read_upload(upload, field), finger_position=finger, ppi=ppi, field=field)
    return parsed.record, None


@router.post("/templates", response_model=TemplateOut, status_code=201)
async def enrol_template(
    db: DbSession,
    user: Annotated[User, require(Permission.BIOMETRICS_ENROL)],
    file: Annotated[UploadFile, File(description="PNG, TIFF or BMP image at 500 ppi, or an ISO/ANSI minutiae record")],
    record_ref: Annotated[str, Form(max_length=64)],
    person_id: Annotated[str, Form(max_length=64)],
    finger: Annotated[int, Form(ge=0, le=10)] = 0,
    ppi: Annotated[float | None, Form(gt=0)] = None,
    addressed_country: Annotated[str | None, Form(max_length=2)] = None,
    routed_organisation_id: Annotated[str | None, Form(max_length=32)] = None,
) -> TemplateOut:
    """Enrol one finger record for a person; the image is dropped after extraction unless the deployment keeps images."""
    parsed = service.parse_upload(await read_upload(file, "file"), finger_position=finger, ppi=ppi)
    rows = service.enrol(db, actor=user, items=[service.EnrolmentRequest(record_ref, person_id, parsed, addressed_country or None,
                                                                            routed_organisation_id or None)])
    return template_out(rows[0])


@router.get("/templates", response_model=Page[TemplateOut])
def list_templates(
    db: DbSession,
    user: Annotated[User, require(Permission.BIOMETRICS_READ)],
    q: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str, Query(pattern="^(active|revoked|all)$")] = "active",
    record_format: Annotated[str | None, Query(pattern="^(iso2005|iso2011|ansi2004|ansi2007)$")] = None,
    low_quality: bool | None = None,
    sort: Annotated[str, Query(max_length=20)] = "enrolled",
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[TemplateOut]:
    rows, total = service.list_templates(db, actor=user, q=q, status=status, record_format=record_format, low_quality=low_quality,
                                         sort=sort, offset=offset, limit=limit)
    return Page[TemplateOut](items=[template_out(r) for r in rows], total=total, offset=offset, limit=limit)


@router.get("/templates/{template_id}", response_model=TemplateOut)
def get_template(template_id: str, db: DbSession, user: Annotated[User, require(Permission.BIOMETRICS_READ)]) -> TemplateOut:
    row, _record = service.get_template(db, actor=user, template_id=template_id)
    return template_out(row)


@router.get("/templates/{template_id}/record")
def download_template(
    template_id: str, db: DbSession, user: Annotated[User, require(Permission.BIOMETRICS_READ)],
    format: Annotated[str | None, Query(pattern="^(iso2005|iso2011|ansi2004|ansi2007)$")] = None,  # noqa: A002
) -> Response:
    """The minutiae record bytes (as stored, or converted); audited as a download."""
    target: RecordFormat | None = format  # type: ignore[assignment]
    data = service.download_template(db, actor=user, template_id=template_id, target=target)
    return Response(data, media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{template_id}.fmr"', "Cache-Control": "no-store"})


@router.post("/match", response_model=MatchOut)
async def match(
    db: DbSession,
    user: Annotated[User, require(Permission.BIOMETRICS_READ)],
    probe: Annotated[UploadFile | None, File()] = None,
    probe_template_id: Annotated[str | None, Form(max_length=32)] = None,
    reference: Annotated[UploadFile | None, File()] = None,
    reference_template_id: Annotated[str | None, Form(max_length=32)] = None,
    finger: Annotated[int, Form(ge=0, le=10)] = 0,
    ppi: Annotated[float | None, Form(gt=0)] = None,
) -> MatchOut:
    """1:1: Bozorth3 per finger, calibrated log2 likelihood ratio and its explanation."""
    first, first_id = await _probe(db, user, probe, probe_template_id, "probe", finger, ppi)
    second, second_id = await _probe(db, user, reference, reference_template_id, "reference", finger, ppi)
    return match_out(service.match(db, actor=user, probe=first, reference=second, probe_id=first_id, reference_id=second_id))


@router.post("/search", response_model=list[CandidateOut])
async def search(
    db: DbSession,
    user: Annotated[User, require(Permission.BIOMETRICS_READ)],
    probe: Annotated[UploadFile | None, File()] = None,
    probe_template_id: Annotated[str | None, Form(max_length=32)] = None,
    top: Annotated[int, Form(ge=1, le=1000)] = 10,
    shortlist: Annotated[int | None, Form(ge=1, le=5000)] = None,
    finger: Annotated[int, Form(ge=0, le=10)] = 0,
    ppi: Annotated[float | None, Form(gt=0)] = None,
) -> list[CandidateOut]:
    """1:N over the templates you may see: top persons with calibrated log2 LR and explanation."""
    record, probe_id = await _probe(db, user, probe, probe_template_id, "probe", finger, ppi)
    hits = service.search(db, actor=user, probe=record, top=top, shortlist=shortlist, probe_id=probe_id)
    return [CandidateOut(rank=rank, person_id=h.person_id, template_ids=list(h.template_ids), log2_lr=round(h.log2_lr, 3),
                         bozorth3=h.result.best_score, usable=h.result.usable, explanation=localise(h.result.explanation))
            for rank, h in enumerate(hits, 1)]


@router.post("/persons/{person_id}/revoke", response_model=RevokeOut)
def revoke_person(person_id: str, db: DbSession, user: Annotated[User, require(Permission.BIOMETRICS_ENROL)]) -> RevokeOut:
    """Delete every template and image of one person (tombstones keep the ids for the audit trail)."""
    return RevokeOut(person_id=person_id, revoked_template_ids=service.revoke_person(db, actor=user, person_id=person_id))


@router.get("/stats", response_model=StatsOut)
def stats(db: DbSession, user: Annotated[User, require(Permission.BIOMETRICS_READ)]) -> StatsOut:
    s = service.gallery_stats(db, actor=user)
    return StatsOut(active=s.active, revoked=s.revoked, persons=s.persons, low_quality=s.low_quality, images_kept=s.images_kept, by_format=s.by_format)


__all__: list[Any] = ["router"]
