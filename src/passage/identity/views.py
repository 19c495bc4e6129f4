"""Identification pages: the registry search with its decision screen, and the index page for administrators.

The search form posts (names, dates and numbers never travel in a URL, so they stay out of access logs).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from passage.core.deps import DbSession
from passage.core.errors import FieldError, InvalidInput, PassageError
from passage.core.i18n import N_
from passage.identity import compare, dates, service
from passage.identity.explain import WORDS, strength
from passage.security.deps import require
from passage.security.models import User
from passage.security.permissions import Permission
from passage.web.templating import NavItem, register_globals, render

router = APIRouter(include_in_schema=False)

NAV = [
    NavItem(N_("Registry search"), "/identity", Permission.IDENTITY_SEARCH, order=13),
    NavItem(N_("Registry index"), "/identity/index", Permission.IDENTITY_INDEX_MANAGE, order=90),
]
register_globals(place=service.place_for_reader)
"""`{{ place(text) }}`: a place of birth in characters on Chinese pages (any module's template may use it)."""

def query_view(query: compare.Query) -> dict[str, Any]:
    """The query as the decision screen's first column shows it."""
    birth = query.birth_date
    iso = ""
    if birth is not None:
        iso = f"{birth.year:04d}" + (f"-{birth.month:02d}" if birth.month else "") + (f"-{birth.day:02d}" if birth.day else "")
    return {"name": " ".join(p for p in (query.family_name, query.given_name) if p) or query.full_name, "sex": query.sex,
            "birth_date": iso, "birth_place": query.birth_place, "id_number": query.id_number,
            "birth_provinces": service.place_provinces(query.birth_place) if query.birth_place else []}


def _query_from_form(values: dict[str, str]) -> compare.Query:
    sex = values.get("sex", "").upper()
    problems = []
    if sex not in ("", "M", "F"):
        problems.append(FieldError("sex", N_("male, female or not known")))
    birth = None
    raw_birth = values.get("birth_date", "").strip()
    if raw_birth:
        normalised = service.normalise_written_date(raw_birth) or raw_birth
        try:
            birth = dates.parse_partial(normalised, where="birth_date")
        except InvalidInput:
            problems.append(FieldError("birth_date", N_("a date such as 1985-03-12, 12.03.1985, 1985-03 or 1985")))
    for name, limit in (("name", 200), ("birth_place", 200), ("id_number", 32)):
        if len(values.get(name, "")) > limit:
            problems.append(FieldError(name, N_("too long")))
    if problems:
        raise InvalidInput(N_("Some fields need correcting."), fields=problems)
    query = compare.Query(full_name=values.get("name", "").strip(), sex=sex, birth_date=birth,
                          birth_place=values.get("birth_place", "").strip(), id_number=values.get("id_number", "").strip())
    if not query.usable():
        raise InvalidInput(N_("Enter at least a name, a date of birth or an ID number."), fields=[FieldError("name", N_("a name, a date of birth or an ID number is needed"))])
    return query


def _page(request: Request, *, status_code: int = 200, **context: Any) -> Response:
    return render(request, "identity/search.html", {"words": WORDS, "strength": strength, "index": service.index_status(), "values": {}, "field_errors": {},
                                                    "can_fingerprint": Permission.BIOMETRICS_READ in _granted(request), **context}, status_code=status_code)


def _granted(request: Request) -> frozenset[Permission]:
    from passage.security.permissions import permissions_for

    viewer = getattr(request.state, "viewer", None)
    return permissions_for(viewer.role_set) if viewer is not None else frozenset()


@router.get("/identity")
def search_page(request: Request, user: Annotated[User, require(Permission.IDENTITY_SEARCH)]) -> Response:
    """The registry search form (any romanisation or characters, date, place, ID number, optional fingerprint)."""
    return _page(request)


@router.post("/identity")
async def search_submit(request: Request, db: DbSession, user: Annotated[User, require(Permission.IDENTITY_SEARCH)]) -> Response:
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    probe: Any = None
    upload = form.get("fingerprint")
    try:
        if isinstance(upload, UploadFile) and upload.filename:
            from passage.biometrics import service as biometrics
            from passage.core.settings import get_settings

            data = await upload.read(get_settings().max_upload_bytes + 1)
            probe = biometrics.parse_upload(data, field="fingerprint").record
        query = _query_from_form(values)
        if not service.index_status().built:
            raise InvalidInput(N_("The registry index is not available on this server yet. An administrator can build it on the Registry index page."))
        result, candidates = service.identify(db, actor=user, query=query, top=10, fingerprint_probe=probe)
    except PassageError as error:
        db.rollback()
        return _page(request, values=values, error=error, field_errors={f.path: f.message for f in error.fields}, status_code=422)
    return _page(request, values=values, query=query_view(query), candidates=[c.as_dict() for c in candidates],
                 probability_not_in_registry=result.probability_not_in_registry, tied_beyond=result.tied_beyond,
                 fingerprint_used=probe is not None)


@router.get("/identity/index")
def index_page(request: Request, user: Annotated[User, require(Permission.IDENTITY_INDEX_MANAGE)]) -> Response:
    """What the index holds, and rebuild or update it from the registry extract with a progress bar."""
    return render(request, "identity/index.html", {"index": service.index_status(), "job": service.index_job(),
                                                   "registry_present": service.registry_path().exists()})


@router.get("/identity/index/progress")
def index_progress(request: Request, user: Annotated[User, require(Permission.IDENTITY_INDEX_MANAGE)]) -> Response:
    """The progress fragment the index page polls (htmx) while a job runs."""
    return render(request, "identity/_progress.html", {"job": service.index_job(), "index": service.index_status()})


@router.post("/identity/index")
async def index_start(request: Request, db: DbSession, user: Annotated[User, require(Permission.IDENTITY_INDEX_MANAGE)]) -> Response:
    form = await request.form()
    mode = str(form.get("mode", "update"))
    try:
        if mode not in ("update", "rebuild"):
            raise InvalidInput(N_("Choose to update or to rebuild the index."), fields=[FieldError("mode", N_("update or rebuild"))])
        service.start_index_job(db, actor=user, rebuild=mode == "rebuild")
    except PassageError as error:
        db.rollback()
        return render(request, "identity/index.html", {"index": service.index_status(), "job": service.index_job(), "error": error,
                                                       "registry_present": service.registry_path().exists()}, status_code=error.status)
    return RedirectResponse("/identity/index", status_code=303)
