"""Forms pages: forms and versions, web entry with device-equivalent validation, import, quarantine, submissions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from passage.core.deps import DbSession
from passage.core.errors import InvalidInput, PassageError
from passage.core.i18n import N_, P_, T_, gettext, localise
from passage.forms import messages, service
from passage.forms.api import read_upload
from passage.forms.entry import parse_entry_form, repeat_counts
from passage.forms.models import Form as FormModel
from passage.forms.models import QuarantineStatus
from passage.forms.render import render_form
from passage.forms.uploads import check_media, check_xlsform, sniff_export, spooled
from passage.forms.validation import REASONS, SubmissionError
from passage.security.deps import require, user_has
from passage.security.models import User
from passage.security.permissions import Permission
from passage.security.schemas import PageNumber
from passage.web.panels import HomePanel, PanelItem
from passage.web.templating import NavItem, render

router = APIRouter(include_in_schema=False)

NAV = [NavItem(N_("Forms"), "/forms", Permission.FORMS_READ, order=40)]

PAGE_SIZE = 25

REASON_LABELS = messages.REASON
STATUS_LABELS = messages.STATUS
SOURCE_LABELS = messages.SOURCE


def _language() -> str:
    return messages.form_language()


def _title(db: Session, form: FormModel) -> str:
    """The form's title in the reader's language (from its current version's `passage_title::<language>`)."""
    if not form.current_version_id:
        return form.title
    return messages.form_title(service.get_definition(db, version_id=form.current_version_id), form.title)


def _translated(table: Mapping[str, str], code: str) -> str:
    return gettext(table[code]) if code in table else code


def _labels() -> dict[str, Any]:
    return {
        "reason_label": lambda code: _translated(REASON_LABELS, str(code)),
        "status_label": lambda code: _translated(STATUS_LABELS, str(code)),
        "source_label": lambda code: _translated(SOURCE_LABELS, str(code)),
        "error_text": messages.error_text, "stored_message": messages.stored_message,
    }


def _form_and_definition(db: Session, form_ref: str, user: User) -> tuple[FormModel, Any]:
    form = service.get_form(db, form_ref=form_ref, actor=user)
    return form, service.get_definition(db, version_id=form.current_version_id)


# --- forms and versions --------------------------------------------------------------------------------


@router.get("/forms")
def forms_page(
    request: Request, db: DbSession, user: Annotated[User, require(Permission.FORMS_READ)],
    q: Annotated[str | None, Query(max_length=100)] = None,
    sort: Annotated[str, Query(pattern="^(key|title|updated)$")] = "key",
    page: PageNumber = 1,
) -> Response:
    return _forms_page(request, db, user, q=q, sort=sort, page=page, error=None)


def _forms_page(request: Request, db: Session, user: User, *, q: str | None, sort: str, page: int, error: str | None, status_code: int = 200) -> Response:
    shown, total = service.page_forms(db, actor=user, q=q, sort=sort, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    waiting = {form.id: count for form, count in service.open_quarantine_counts(db, actor=user)}
    return render(request, "forms/list.html", {
        "forms": shown, "titles": {f.id: _title(db, f) for f in shown}, "q": q or "", "sort": sort, "page": page, "pages": max(1, -(-total // PAGE_SIZE)), "total": total,
        "waiting": waiting, "error": error,
    }, status_code=status_code)


@router.post("/forms")
async def forms_upload(request: Request, db: DbSession, user: Annotated[User, require(Permission.FORMS_MANAGE)],
                       file: Annotated[UploadFile, File()], media: Annotated[list[UploadFile] | None, File()] = None) -> Response:
    content = await read_upload(file)
    filename = file.filename or "form.xlsx"
    attachments = {upload.filename or "media.csv": await read_upload(upload) for upload in (media or []) if upload.filename}
    try:
        check_xlsform(content, filename)
        for name, data in attachments.items():
            check_media(data, name)
        result = service.load_form(db, actor=user, content=content, filename=filename, attachments=attachments)
    except PassageError as exc:
        db.rollback()
        return _forms_page(request, db, user, q=None, sort="key", page=1, error=exc.one_line(), status_code=exc.status)
    return RedirectResponse(f"/forms/{result.form.id}", status_code=303)


@router.get("/forms/{form_ref}")
def form_page(form_ref: str, request: Request, db: DbSession, user: Annotated[User, require(Permission.FORMS_READ)]) -> Response:
    form = service.get_form(db, form_ref=form_ref, actor=user)
    versions = service.list_versions(db, form_ref=form.id, actor=user)
    batches = service.list_batches(db, form_ref=form.id, actor=user)
    reasons = service.quarantine_reasons(db, form_ref=form.id, actor=user)
    definition = service.get_definition(db, version_id=form.current_version_id) if form.current_version_id else None
    return render(request, "forms/form.html", {
        "form": form, "title": _title(db, form), "versions": versions, "batches": batches, "open_quarantine": sum(reasons.values()),
        "not_evaluated": definition.unevaluated if definition is not None else [],
        "submissions": service.count_submissions(db, form_ref=form.id, actor=user), **_labels(),
    })


# --- web entry -------------------------------------------------------------------------------------------


def _entry_response(request: Request, form: FormModel, definition: Any, data: dict[str, Any], errors: list[SubmissionError],
                    *, fragment: bool = False, status_code: int = 200, saved: str | None = None) -> Response:
    page = render_form(definition, language=_language(), values=data, errors=errors)
    template = "forms/_entry_fields.html" if fragment else "forms/entry.html"
    return render(request, template, {"form": form, "page": page, "errors": errors, "saved": saved, **_labels()}, status_code=status_code)


@router.get("/forms/{form_ref}/entry")
def entry_page(form_ref: str, request: Request, db: DbSession, user: Annotated[User, require(Permission.FORMS_SUBMIT)],
               saved: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    form, definition = _form_and_definition(db, form_ref, user)
    return _entry_response(request, form, definition, {}, [], saved=saved)


@router.post("/forms/{form_ref}/entry/fields")
async def entry_fields(form_ref: str, request: Request, db: DbSession, user: Annotated[User, require(Permission.FORMS_SUBMIT)]) -> Response:
    """The fields re-rendered for the values entered so far: relevance, choice filters and calculations (htmx)."""
    form, definition = _form_and_definition(db, form_ref, user)
    posted = await request.form()
    data = parse_entry_form(definition, [(k, v) for k, v in posted.multi_items() if isinstance(v, str)])
    return _entry_response(request, form, definition, data, [], fragment=True)


@router.post("/forms/{form_ref}/entry")
async def entry_submit(form_ref: str, request: Request, db: DbSession, user: Annotated[User, require(Permission.FORMS_SUBMIT)]) -> Response:
    form, definition = _form_and_definition(db, form_ref, user)
    posted = await request.form()
    pairs = [(k, v) for k, v in posted.multi_items() if isinstance(v, str)]
    data = parse_entry_form(definition, pairs)
    action = str(posted.get("_action") or "submit")
    if action.startswith(("add:", "remove:")):
        verb, _, path = action.partition(":")
        data = repeat_counts(definition, data, add=path if verb == "add" else None, remove=path if verb == "remove" else None)
        return _entry_response(request, form, definition, data, [])
    try:
        submission = service.submit_entry(db, actor=user, form_ref=form.id, data=data)
    except InvalidInput as exc:
        db.rollback()
        errors = [e if isinstance(e, SubmissionError) else SubmissionError(e.path, e.message, "type") for e in exc.fields]
        return _entry_response(request, form, definition, data, errors, status_code=422)
    return RedirectResponse(f"/forms/{form.id}/entry?saved={submission.id}", status_code=303)


# --- import ----------------------------------------------------------------------------------------------


@router.get("/forms/{form_ref}/import")
def import_page(form_ref: str, request: Request, db: DbSession, user: Annotated[User, require(Permission.FORMS_MANAGE)]) -> Response:
    form = service.get_form(db, form_ref=form_ref, actor=user)
    return render(request, "forms/import.html", {"form": form, "title": _title(db, form), "report": None, "error": None, **_labels()})


@router.post("/forms/{form_ref}/import")
async def import_submit(form_ref: str, request: Request, db: DbSession, user: Annotated[User, require(Permission.FORMS_MANAGE)],
                        file: Annotated[UploadFile, File()]) -> Response:
    form = service.get_form(db, form_ref=form_ref, actor=user)
    content = await read_upload(file)
    filename = file.filename or "export.csv"
    try:
        suffix = sniff_export(content, filename)
        with spooled(content, suffix) as path:
            report = service.import_export(db, actor=user, form_ref=form.id, path=path, filename=filename)
    except PassageError as exc:
        db.rollback()
        form = service.get_form(db, form_ref=form_ref, actor=user)
        return render(request, "forms/import.html", {"form": form, "title": _title(db, form), "report": None, "error": exc.one_line(), **_labels()}, status_code=exc.status)
    return render(request, "forms/import.html", {"form": form, "title": _title(db, form), "report": report, "error": None, **_labels()})


# --- quarantine ------------------------------------------------------------------------------------------


@router.get("/forms/{form_ref}/quarantine")
def quarantine_page(
    form_ref: str, request: Request, db: DbSession, user: Annotated[User, require(Permission.FORMS_MANAGE)],
    reason: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str, Query(pattern="^(open|accepted|duplicate|superseded)$")] = "open",
    page: PageNumber = 1,
) -> Response:
    return _quarantine_page(request, db, user, form_ref, reason=reason or None, status=status, page=page)


def _quarantine_page(request: Request, db: Session, user: User, form_ref: str, *, reason: str | None, status: str, page: int,
                     message: str | None = None, status_code: int = 200) -> Response:
    form = service.get_form(db, form_ref=form_ref, actor=user)
    if reason is not None and reason not in REASONS:
        reason = None
    total = service.count_quarantine(db, form_ref=form.id, status=status, reason=reason, actor=user)
    entries = service.list_quarantine(db, form_ref=form.id, status=status, reason=reason, limit=PAGE_SIZE,
                                      offset=(page - 1) * PAGE_SIZE, actor=user)
    definition = service.get_definition(db, version_id=form.current_version_id) if form.current_version_id else None
    field_labels = {item.path: (item.label(_language()) or item.name) for item in definition.walk()} if definition is not None else {}
    return render(request, "forms/quarantine.html", {"title": _title(db, form), "field_labels": field_labels,
        "form": form, "entries": entries, "total": total, "reason": reason or "", "status": status, "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)), "reasons": service.quarantine_reasons(db, form_ref=form.id, actor=user),
        "statuses": list(STATUS_LABELS), "message": message, "fix_value": service.fix_value, **_labels(),
    }, status_code=status_code)


@router.post("/forms/{form_ref}/quarantine/{entry_id}/fix")
async def quarantine_fix(form_ref: str, entry_id: str, request: Request, db: DbSession,
                         user: Annotated[User, require(Permission.FORMS_MANAGE)]) -> Response:
    posted = await request.form()
    changes = {str(k)[len("field:"):]: v for k, v in posted.multi_items() if str(k).startswith("field:") and isinstance(v, str)}
    version_text = str(posted.get("version") or "")
    if not version_text.isdigit():
        raise InvalidInput(T_("the fix is not valid"), fields=[SubmissionError("version", "a record version is required", "type")])
    entry = service.fix_quarantine_entry(db, actor=user, entry_id=entry_id, changes=changes, expected_version=int(version_text))
    outcome = "accepted" if entry.status == QuarantineStatus.ACCEPTED else ("duplicate" if entry.status == QuarantineStatus.DUPLICATE else "open")
    return RedirectResponse(f"/forms/{form_ref}/quarantine?fixed={outcome}", status_code=303)


@router.post("/forms/{form_ref}/quarantine/revalidate")
def quarantine_revalidate(form_ref: str, request: Request, db: DbSession,
                          user: Annotated[User, require(Permission.FORMS_MANAGE)]) -> Response:
    report = service.revalidate_quarantine(db, actor=user, form_ref=form_ref)
    message = gettext(N_("Re-validated {checked} rows: {accepted} accepted, {duplicates} duplicates, {still_open} still open.")).format(**vars(report))
    return _quarantine_page(request, db, user, form_ref, reason=None, status="open", page=1, message=message)


# --- submissions -----------------------------------------------------------------------------------------


@router.get("/forms/{form_ref}/submissions")
def submissions_page(
    form_ref: str, request: Request, db: DbSession, user: Annotated[User, require(Permission.FORMS_READ)],
    source: Annotated[str | None, Query(pattern="^(|import|web|quarantine)$")] = None,
    page: PageNumber = 1,
) -> Response:
    form = service.get_form(db, form_ref=form_ref, actor=user)
    rows, total = service.list_submissions(db, form_ref=form.id, actor=user, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE, source=source or None)
    definition = service.get_definition(db, version_id=form.current_version_id)
    labels = {item.path: (item.label(_language()) or item.name) for item in definition.walk()}
    return render(request, "forms/submissions.html", {
        "form": form, "title": _title(db, form), "rows": rows, "total": total, "page": page, "pages": max(1, -(-total // PAGE_SIZE)),
        "choice_text": lambda key, value: _answer(definition, key, value), "source": source or "", "sources": list(SOURCE_LABELS), "field_labels": labels, **_labels(),
    })


def _answer(definition: Any, key: str, value: Any) -> str:
    """An answer as the reader reads it: a choice's label in the reader's language (the form author's label), a
    multiple choice as its labels, a number in the locale's format, anything else as given."""
    item = next((f for f in definition.walk() if f.path == key), None)
    if item is None or not item.list_name:
        return localise(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)
    picked = value if isinstance(value, list) else str(value).split()
    return ", ".join(definition.choice_label(item.name, str(v), _language()) for v in picked)


def home_panel(session: Session, user: User) -> HomePanel | None:
    """Quarantined rows waiting to be fixed, per form (for users who manage forms)."""
    if not user_has(user, Permission.FORMS_MANAGE):
        return None
    waiting = service.open_quarantine_counts(session, actor=user)
    if not waiting:
        return None
    items = [PanelItem(label=_title(session, form), href=f"/forms/{form.id}/quarantine",
                       note=P_("{n} row waiting", "{n} rows waiting", count).render())
             for form, count in waiting[:5]]
    return HomePanel(title=gettext(N_("Quarantined rows waiting")), items=items, more_href="/forms", order=40)


__all__ = ["NAV", "home_panel", "router"]
