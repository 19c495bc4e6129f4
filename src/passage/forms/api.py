"""Forms API under /api/v1/forms: upload forms, import exports, quarantine, submissions, web entry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile

from passage.core.deps import DbSession
from passage.core.settings import get_settings
from passage.forms import service
from passage.forms.models import Form, FormVersion, QuarantineEntry, QuarantineStatus, Submission
from passage.forms.schemas import (
    FormOut,
    FormVersionOut,
    ImportOut,
    LoadOut,
    QuarantineEntryOut,
    QuarantineFix,
    RevalidateIn,
    RevalidationOut,
    SubmissionIn,
    SubmissionOut,
)
from passage.forms.uploads import check_media, check_xlsform, inspect_in_worker, sniff_export, spooled
from passage.security.deps import require
from passage.security.models import User
from passage.security.permissions import Permission
from passage.security.schemas import Offset, Page

router = APIRouter(prefix="/forms", tags=["forms"])

Reader = Annotated[User, require(Permission.FORMS_READ)]
Manager = Annotated[User, require(Permission.FORMS_MANAGE)]
Submitter = Annotated[User, require(Permission.FORMS_SUBMIT)]


async def read_upload(upload: UploadFile) -> bytes:
    """The uploaded bytes, reading at most one byte past the limit (413 is raised by the checks)."""
    return await upload.read(get_settings().max_upload_bytes + 1)


def form_out(form: Form) -> FormOut:
    return FormOut.model_validate(form)


def entry_out(entry: QuarantineEntry) -> QuarantineEntryOut:
    return QuarantineEntryOut(
        id=entry.id, form_id=entry.form_id, form_version_id=entry.form_version_id, batch_id=entry.batch_id,
        row_number=entry.row_number, sheet=entry.sheet, uuid=entry.uuid, field=entry.field, reason=entry.reason,
        errors=entry.errors, data=entry.data, status=QuarantineStatus(entry.status).value, submission_id=entry.submission_id,
        version=entry.version,
    )


def submission_out(submission: Submission) -> SubmissionOut:
    return SubmissionOut.model_validate(submission)


@router.post("", response_model=LoadOut, status_code=201)
async def upload_form(
    db: DbSession, user: Manager, file: Annotated[UploadFile, File()], media: Annotated[list[UploadFile] | None, File()] = None
) -> LoadOut:
    """Load an XLSForm (.xlsx or .xls) as a new version of its form, owned by the user's organisation; `media` are
    its attachments (CSV, XML or GeoJSON lists for select_*_from_file, pulldata() and instance())."""
    content = await read_upload(file)
    filename = file.filename or "form.xlsx"
    check_xlsform(content, filename)
    attachments = {upload.filename or "media.csv": await read_upload(upload) for upload in (media or []) if upload.filename}
    for name, data in attachments.items():
        check_media(data, name)
    if not filename.lower().endswith(".xls"):  # an .xlsx is a zip: its expanded size is checked in a limited worker
        with spooled(content, ".xlsx") as path:
            inspect_in_worker(path, "xlsform")
    result = service.load_form(db, actor=user, content=content, filename=filename, attachments=attachments)
    return LoadOut(form=form_out(result.form), version=FormVersionOut.model_validate(result.version), created=result.created,
                   warnings=result.definition.warnings)


@router.get("", response_model=Page[FormOut])
def list_forms(
    db: DbSession, user: Reader,
    offset: Offset = 0, limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[FormOut]:
    forms, total = service.page_forms(db, actor=user, offset=offset, limit=limit)
    return Page[FormOut](items=[form_out(f) for f in forms], total=total, offset=offset, limit=limit)


@router.get("/{form_ref}", response_model=FormOut)
def get_form(form_ref: str, db: DbSession, user: Reader) -> FormOut:
    return form_out(service.get_form(db, form_ref=form_ref, actor=user))


@router.get("/{form_ref}/versions", response_model=list[FormVersionOut])
def list_versions(form_ref: str, db: DbSession, user: Reader) -> list[FormVersionOut]:
    versions: list[FormVersion] = service.list_versions(db, form_ref=form_ref, actor=user)
    return [FormVersionOut.model_validate(v) for v in versions]


@router.post("/{form_ref}/imports", response_model=ImportOut, status_code=201)
async def import_export(form_ref: str, db: DbSession, user: Manager, file: Annotated[UploadFile, File()]) -> ImportOut:
    """Import a Kobo/ODK export (CSV or XLSX): accepted, quarantined by reason, duplicates skipped."""
    content = await read_upload(file)
    filename = file.filename or "export.csv"
    suffix = sniff_export(content, filename)
    with spooled(content, suffix) as path:
        # A limited worker reads the file first: a decompression bomb exhausts it, not this server.
        inspect_in_worker(path, suffix)
        report = service.import_export(db, actor=user, form_ref=form_ref, path=path, filename=filename)
    return ImportOut(**vars(report))


@router.get("/{form_ref}/quarantine", response_model=Page[QuarantineEntryOut])
def list_quarantine(
    form_ref: str, db: DbSession, user: Manager,
    status: Annotated[QuarantineStatus | None, Query()] = QuarantineStatus.OPEN,
    reason: Annotated[str | None, Query(max_length=40)] = None,
    offset: Offset = 0, limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[QuarantineEntryOut]:
    total = service.count_quarantine(db, form_ref=form_ref, status=status, reason=reason, actor=user)
    entries = service.list_quarantine(db, form_ref=form_ref, status=status, reason=reason, limit=limit, offset=offset, actor=user)
    return Page[QuarantineEntryOut](items=[entry_out(e) for e in entries], total=total, offset=offset, limit=limit)


@router.post("/{form_ref}/quarantine/revalidate", response_model=RevalidationOut)
def revalidate(form_ref: str, body: RevalidateIn, db: DbSession, user: Manager) -> RevalidationOut:
    report = service.revalidate_quarantine(db, actor=user, form_ref=form_ref, use_current_version=body.use_current_version)
    return RevalidationOut(**vars(report))


@router.post("/quarantine/{entry_id}/fix", response_model=QuarantineEntryOut)
def fix_entry(entry_id: str, body: QuarantineFix, db: DbSession, user: Manager) -> QuarantineEntryOut:
    """Apply fixes and re-validate: 200 with status `accepted`, or still `open` with the new errors; 409 on a stale version."""
    entry = service.fix_quarantine_entry(db, actor=user, entry_id=entry_id, changes=body.changes, expected_version=body.version)
    return entry_out(entry)


@router.get("/{form_ref}/submissions", response_model=Page[SubmissionOut])
def list_submissions(
    form_ref: str, db: DbSession, user: Reader,
    source: Annotated[str | None, Query(pattern="^(import|web|quarantine)$")] = None,
    offset: Offset = 0, limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[SubmissionOut]:
    rows, total = service.list_submissions(db, form_ref=form_ref, actor=user, offset=offset, limit=limit, source=source)
    return Page[SubmissionOut](items=[submission_out(s) for s in rows], total=total, offset=offset, limit=limit)


@router.post("/{form_ref}/submissions", response_model=SubmissionOut, status_code=201)
def submit(form_ref: str, body: SubmissionIn, db: DbSession, user: Submitter) -> SubmissionOut:
    """A web submission, validated exactly like an imported row; 422 with one field path per error."""
    return submission_out(service.submit_entry(db, actor=user, form_ref=form_ref, data=body.data, submission_uuid=body.uuid))
