"""Consular pages: overview, registrations (form and CSV), help requests with timers, safety advice, crises with
maps (draw the area, see who is inside and their contact status), messages, and the evacuation dashboard."""

from __future__ import annotations

import datetime as dt
import json
import math
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from passage.consular import evacuation, geo, messages, rules, service
from passage.consular.models import Crisis, HelpRequest, Registration
from passage.consular.schemas import (
    AdviceIn,
    AssemblyPointIn,
    AssignIn,
    CrisisIn,
    HelpRequestIn,
    LegIn,
    RegistrationIn,
    RequestActionIn,
    TriageIn,
)
from passage.core.app import validation_message
from passage.core.deps import DbSession
from passage.core.errors import FieldError, PassageError
from passage.core.i18n import N_, T_, get_locale, gettext, localise
from passage.security.deps import require
from passage.security.models import User
from passage.security.permissions import Permission, permissions_for
from passage.security.scope import visible_clause
from passage.web.panels import HomePanel, PanelItem
from passage.web.templating import NavItem, render

router = APIRouter(include_in_schema=False)

NAV = [NavItem(N_("Consular protection"), "/consular", Permission.CONSULAR_READ, order=45)]

Reader = Annotated[User, require(Permission.CONSULAR_READ)]
Manager = Annotated[User, require(Permission.CONSULAR_MANAGE)]
Evacuator = Annotated[User, require(Permission.CONSULAR_EVACUATE)]
Publisher = Annotated[User, require(Permission.CONSULAR_ADVICE)]
PAGE_SIZE = 50


def script_json(value: Any) -> str:
    """JSON for a `<script type="application/json">` block: `<`, `>` and `&` escaped so no value can close the tag."""
    return json.dumps(value, ensure_ascii=False, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def label(value: str | None) -> str:
    return gettext(rules.LABELS[value]) if value in rules.LABELS else (value or "–")


def _context(**values: Any) -> dict[str, Any]:
    return {"label": label, "rules": rules, "published": messages.published, "as_written": messages.as_written, **values}


def _errors(exc: PassageError | ValidationError) -> dict[str, str]:
    if isinstance(exc, ValidationError):
        out = {}
        for error in exc.errors():
            path = ".".join(str(p) for p in error["loc"]) or "form"
            out[path] = localise(validation_message(error)) if error.get("type") != "value_error" else str(error["msg"]).removeprefix("Value error, ")
        return out
    return {f.path: localise(f.message) for f in exc.fields} or {"form": localise(exc.message)}


def _granted(user: User) -> frozenset[Permission]:
    return permissions_for(user.role_set)


# --- overview ------------------------------------------------------------------------------------------


@router.get("/consular")
def overview(request: Request, db: DbSession, user: Reader) -> Response:
    crises = service.list_crises(db, actor=user, status="active")
    open_requests, open_total = service.list_help_requests(db, actor=user, open_only=True, limit=10)
    _breached, breached_total = service.list_help_requests(db, actor=user, breached_only=True, limit=1)
    registrations = db.scalar(select(func.count()).select_from(Registration).where(visible_clause(Registration, user), Registration.active.is_(True))) or 0
    possible = db.scalar(select(func.count()).select_from(Registration).where(visible_clause(Registration, user), Registration.duplicate_status == "possible")) or 0
    return render(request, "consular/overview.html", _context(
        crises=crises, requests=open_requests, open_total=open_total, breached_total=breached_total, registrations=registrations,
        possible_duplicates=possible, timers={r.id: service.timers(r) for r in open_requests},
    ))


# --- registrations -------------------------------------------------------------------------------------


def _registrations_page(request: Request, db: Session, user: User, *, country: str, reference: str, duplicates: str, page: int,
                        errors: dict[str, str] | None = None, values: dict[str, str] | None = None, import_errors: list[FieldError] | None = None,
                        notice: str | None = None, status_code: int = 200) -> Response:
    rows, total = service.list_registrations(db, actor=user, country=country or None, reference=reference or None,
                                             duplicate_status=duplicates or None, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return render(request, "consular/registrations.html", _context(
        rows=rows, total=total, page=page, pages=max(1, math.ceil(total / PAGE_SIZE)), country=country, reference=reference, duplicates=duplicates,
        errors=errors or {}, values=values or {}, import_errors=import_errors or [], notice=notice,
    ), status_code=status_code)


@router.get("/consular/registrations")
def registrations_page(request: Request, db: DbSession, user: Reader, country: Annotated[str, Query(max_length=2)] = "",
                       reference: Annotated[str, Query(max_length=30)] = "", duplicates: Annotated[str, Query(max_length=12)] = "",
                       page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    return _registrations_page(request, db, user, country=country.upper(), reference=reference, duplicates=duplicates, page=page)


REGISTRATION_FIELDS = ("family_name", "given_name", "sex", "birth_date", "passport_number", "phone", "email", "language", "purpose",
                       "destination_country", "city", "latitude", "longitude", "arrival_on", "departure_on", "household")


@router.post("/consular/registrations")
async def register_submit(request: Request, db: DbSession, user: Manager) -> Response:
    form = await request.form()
    values = {name: str(form.get(name, "") or "").strip() for name in REGISTRATION_FIELDS}
    vulnerabilities = [str(v) for v in form.getlist("vulnerabilities")]
    document = service._csv_registration({**values, "vulnerabilities": ";".join(vulnerabilities)})
    document["source"] = "web"
    try:
        data = RegistrationIn.model_validate(document)
        with db.begin_nested():
            registration = service.create_registration(db, actor=user, data=data)
    except (ValidationError, PassageError) as exc:
        return _registrations_page(request, db, user, country="", reference="", duplicates="", page=1, errors=_errors(exc), values=values, status_code=422)
    return RedirectResponse(f"/consular/registrations/{registration.id}", status_code=303)


@router.post("/consular/registrations/import")
async def import_submit(request: Request, db: DbSession, user: Manager, file: Annotated[UploadFile, File()]) -> Response:
    data = await file.read(20 * 1024 * 1024 + 1)
    try:
        if len(data) > 20 * 1024 * 1024:
            raise PassageError(gettext(N_("The file is larger than 20 MB.")))
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / (Path(file.filename or "registrations.csv").name or "registrations.csv")
            path.write_bytes(data)
            with db.begin_nested():
                result = service.import_registrations(db, actor=user, path=path)
    except PassageError as exc:
        return _registrations_page(request, db, user, country="", reference="", duplicates="", page=1,
                                   import_errors=[FieldError(f.path, localise(f.message)) for f in exc.fields] or [FieldError("file", localise(exc.message))], status_code=422)
    notice = gettext(N_("Imported {created} registrations; {duplicates} flagged as possible duplicates.")).format(created=result.created, duplicates=result.possible_duplicates)
    return _registrations_page(request, db, user, country="", reference="", duplicates="", page=1, notice=notice)


@router.get("/consular/registrations/{registration_id}")
def registration_page(registration_id: str, request: Request, db: DbSession, user: Reader, history: bool = False) -> Response:
    view = service.registration_view(db, actor=user, registration_id=registration_id)
    fixes = service.location_history(db, actor=user, registration_id=registration_id) if history and Permission.CONSULAR_MANAGE in _granted(user) else None
    duplicate = db.get(Registration, view["duplicate_of_id"]) if view["duplicate_of_id"] else None
    location = view["location"] or {}
    point = {"latitude": location.get("latitude"), "longitude": location.get("longitude")} if location.get("latitude") is not None else None
    return render(request, "consular/registration.html", _context(r=view, fixes=fixes, duplicate_reference=duplicate.reference if duplicate else None,
                                                                  point_json=script_json(point)))


@router.post("/consular/registrations/{registration_id}/duplicate")
def duplicate_submit(registration_id: str, db: DbSession, user: Manager, decision: Annotated[str, Form(max_length=10)], version: Annotated[int, Form()]) -> Response:
    service.resolve_duplicate(db, actor=user, registration_id=registration_id, decision=decision, version=version)
    return RedirectResponse(f"/consular/registrations/{registration_id}", status_code=303)


# --- help requests -------------------------------------------------------------------------------------


def _requests_page(request: Request, db: Session, user: User, *, status: str, urgency: str, breached: bool, page: int,
                   errors: dict[str, str] | None = None, values: dict[str, str] | None = None, status_code: int = 200) -> Response:
    rows, total = service.list_help_requests(db, actor=user, status=status or None, urgency=urgency or None, breached_only=breached,
                                             offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return render(request, "consular/requests.html", _context(
        rows=rows, total=total, page=page, pages=max(1, math.ceil(total / PAGE_SIZE)), status=status, urgency=urgency, breached=breached,
        timers={r.id: service.timers(r) for r in rows}, errors=errors or {}, values=values or {},
    ), status_code=status_code)


@router.get("/consular/requests")
def requests_page(request: Request, db: DbSession, user: Reader, status: Annotated[str, Query(max_length=20)] = "",
                  urgency: Annotated[str, Query(max_length=10)] = "", breached: bool = False, page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    return _requests_page(request, db, user, status=status, urgency=urgency, breached=breached, page=page)


@router.post("/consular/requests")
async def request_submit(request: Request, db: DbSession, user: Manager) -> Response:
    form = await request.form()
    names = ("channel", "category", "urgency", "country", "summary", "caller_name", "caller_phone", "registration_reference")
    values = {name: str(form.get(name, "") or "").strip() for name in names}
    try:
        registration_id = None
        if values["registration_reference"]:
            found, _total = service.list_registrations(db, actor=user, reference=values["registration_reference"], active=None, limit=1)
            if not found:
                raise PassageError(T_("unknown registration"), fields=[FieldError("registration_reference", gettext(N_("No registration with this reference in your district.")))])
            registration_id = found[0].id
        data = HelpRequestIn.model_validate({"channel": values["channel"], "category": values["category"], "urgency": values["urgency"],
                                             "country": values["country"].upper(), "summary": values["summary"], "caller_name": values["caller_name"],
                                             "caller_phone": values["caller_phone"], "registration_id": registration_id})
        with db.begin_nested():
            created = service.create_help_request(db, actor=user, data=data)
    except (ValidationError, PassageError) as exc:
        return _requests_page(request, db, user, status="", urgency="", breached=False, page=1, errors=_errors(exc), values=values, status_code=422)
    return RedirectResponse(f"/consular/requests/{created.id}", status_code=303)


def _request_page(request: Request, db: Session, user: User, request_id: str, *, errors: dict[str, str] | None = None, status_code: int = 200) -> Response:
    record = service.read_help_request(db, actor=user, request_id=request_id)
    return render(request, "consular/request.html", _context(
        r=record, timers=service.timers(record), follow_ups=service.open_follow_ups(record), missions=service.missions(db),
        allowed=rules.TRANSITIONS.get(record.status, ()), errors=errors or {},
    ), status_code=status_code)


@router.get("/consular/requests/{request_id}")
def request_page(request_id: str, request: Request, db: DbSession, user: Reader) -> Response:
    return _request_page(request, db, user, request_id)


@router.post("/consular/requests/{request_id}/action")
async def request_action(request_id: str, request: Request, db: DbSession, user: Manager) -> Response:
    form = await request.form()
    action = str(form.get("action", ""))
    version = str(form.get("version", "0"))
    try:
        with db.begin_nested():
            if action == "triage":
                service.triage(db, actor=user, request_id=request_id, data=TriageIn.model_validate({
                    "version": version, "urgency": form.get("urgency"), "note": str(form.get("note", "") or "")}))
            elif action == "assign":
                service.assign(db, actor=user, request_id=request_id, data=AssignIn.model_validate({
                    "version": version, "mission_id": str(form.get("mission_id", "") or "") or None}))
            else:
                due = str(form.get("due_at", "") or "")
                service.act_on_request(db, actor=user, request_id=request_id, data=RequestActionIn.model_validate({
                    "version": version, "kind": action, "note": str(form.get("note", "") or ""), "outcome": str(form.get("outcome", "") or "") or None,
                    "due_at": due + ":00+00:00" if len(due) == 16 else (due or None)}))
    except (ValidationError, PassageError) as exc:
        return _request_page(request, db, user, request_id, errors=_errors(exc), status_code=409 if isinstance(exc, PassageError) and exc.status == 409 else 422)
    return RedirectResponse(f"/consular/requests/{request_id}", status_code=303)


# --- safety advice -------------------------------------------------------------------------------------


@router.get("/consular/advice")
def advice_page(request: Request, db: DbSession, user: Reader, country: Annotated[str, Query(max_length=2)] = "") -> Response:
    return _advice_page(request, db, country=country.upper())


def _advice_page(request: Request, db: Session, *, country: str, errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                 status_code: int = 200) -> Response:
    countries = service.advice_countries(db)
    selected = country or (countries[0] if countries else "")
    history = service.advice_history(db, country=selected) if selected else []
    current = service.current_advice(db, country=selected) if selected else None
    return render(request, "consular/advice.html", _context(countries=countries, country=selected, history=history, current=current,
                                                            errors=errors or {}, values=values or {}), status_code=status_code)


@router.post("/consular/advice")
async def advice_submit(request: Request, db: DbSession, user: Publisher) -> Response:
    form = await request.form()
    names = ("country", "level", "title_en", "title_zh", "body_en", "body_zh", "effective_from")
    values = {name: str(form.get(name, "") or "").strip() for name in names}
    try:
        data = AdviceIn.model_validate({**values, "country": values["country"].upper()})
        with db.begin_nested():
            service.publish_advice(db, actor=user, data=data)
    except (ValidationError, PassageError) as exc:
        return _advice_page(request, db, country=values["country"].upper(), errors=_errors(exc), values=values, status_code=422)
    return RedirectResponse(f"/consular/advice?country={data.country}", status_code=303)


# --- crises --------------------------------------------------------------------------------------------


def _density(db: Session, user: User, country: str) -> list[dict[str, Any]]:
    """Registered nationals per 0.1° square (about 11 km) in a country: where people are, without showing anyone."""
    cells = db.execute(select(Registration.grid_cell, func.count()).where(visible_clause(Registration, user), Registration.active.is_(True),
                                                                           Registration.destination_country == country, Registration.grid_cell.is_not(None))
                       .group_by(Registration.grid_cell)).all()
    squares: dict[tuple[int, int], int] = {}
    for cell, n in cells:
        row, column = divmod(int(cell or 0), geo.GRID_COLUMNS)
        key = (row // 10, column // 10)
        squares[key] = squares.get(key, 0) + int(n)
    return [{"latitude": (r * 10 + 5) * 0.01 - 90, "longitude": (c * 10 + 5) * 0.01 - 180, "count": n} for (r, c), n in squares.items()]


def _crises_page(request: Request, db: Session, user: User, *, country: str, errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                 status_code: int = 200) -> Response:
    crises = service.list_crises(db, actor=user)
    return render(request, "consular/crises.html", _context(
        crises=crises, errors=errors or {}, values=values or {"country": country}, country=country, density_json=script_json(_density(db, user, country)) if country else "[]",
        crisis_types=rules.CRISIS_TYPES,
    ), status_code=status_code)


@router.get("/consular/crises")
def crises_page(request: Request, db: DbSession, user: Reader, country: Annotated[str, Query(max_length=2)] = "ID") -> Response:
    return _crises_page(request, db, user, country=country.upper())


@router.post("/consular/crises")
async def crisis_submit(request: Request, db: DbSession, user: Manager) -> Response:
    form = await request.form()
    names = ("name_en", "name_zh", "crisis_type", "country", "starts_on", "ends_on", "area", "admin_pcodes")
    values = {name: str(form.get(name, "") or "").strip() for name in names}
    try:
        area = None
        if values["area"]:
            try:
                area = json.loads(values["area"])
            except json.JSONDecodeError:
                raise PassageError(T_("invalid area"), fields=[FieldError("area", gettext(N_("Draw the area on the map, or paste GeoJSON.")))]) from None
        data = CrisisIn.model_validate({
            "name_en": values["name_en"], "name_zh": values["name_zh"], "crisis_type": values["crisis_type"], "country": values["country"].upper(),
            "starts_on": values["starts_on"], "ends_on": values["ends_on"] or None, "area": area,
            "admin_pcodes": [c for c in values["admin_pcodes"].replace(",", " ").split() if c]})
        with db.begin_nested():
            crisis = service.create_crisis(db, actor=user, data=data)
    except (ValidationError, PassageError) as exc:
        return _crises_page(request, db, user, country=values["country"].upper() or "ID", errors=_errors(exc), values=values, status_code=422)
    return RedirectResponse(f"/consular/crises/{crisis.id}", status_code=303)


def _crisis_page(request: Request, db: Session, user: User, crisis_id: str, *, status: str, page: int, notice: str | None = None,
                 errors: dict[str, str] | None = None, plan: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    crisis = service.load_crisis(db, actor=user, crisis_id=crisis_id)
    people = service.affected_people(db, actor=user, crisis_id=crisis.id, status=status or None, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    board = service.dashboard(db, actor=user, crisis_id=crisis.id)
    points = service.assembly_points(db, crisis=crisis)
    legs = service.legs(db, crisis=crisis)
    advice = service.current_advice(db, country=crisis.country)
    network = {"points": [{"code": p.code, "name": p.name, "latitude": p.latitude, "longitude": p.longitude, "capacity": p.capacity} for p in points]}
    return render(request, "consular/crisis.html", _context(
        crisis=crisis, people=people, board=board, points=points, legs=legs, advice=advice, status=status, page=page, modes=evacuation.MODES,
        pages=max(1, math.ceil(people["total"] / PAGE_SIZE)), notice=notice, errors=errors or {}, plan=plan,
        area_json=script_json(crisis.area), network_json=script_json(network), point_names={p.id: messages.published(p, "name") for p in points},
        taken={leg["id"]: leg["seats_taken"] for leg in board["legs"]},
    ), status_code=status_code)


@router.get("/consular/crises/{crisis_id}")
def crisis_page(crisis_id: str, request: Request, db: DbSession, user: Reader, status: Annotated[str, Query(max_length=20)] = "",
                page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    return _crisis_page(request, db, user, crisis_id, status=status, page=page)


@router.get("/consular/crises/{crisis_id}/dashboard")
def dashboard_fragment(crisis_id: str, request: Request, db: DbSession, user: Reader) -> Response:
    """The dashboard panels alone, polled by the crisis page (htmx) so the counts stay live."""
    board = service.dashboard(db, actor=user, crisis_id=crisis_id)
    return render(request, "consular/_dashboard_fragment.html", _context(board=board, crisis_id=crisis_id))


@router.post("/consular/crises/{crisis_id}/status")
def contact_status_submit(crisis_id: str, request: Request, db: DbSession, user: Manager, registration_id: Annotated[str, Form(max_length=32)],
                          status: Annotated[str, Form(max_length=20)], version: Annotated[int, Form()]) -> Response:
    try:
        with db.begin_nested():
            service.set_contact_status(db, actor=user, crisis_id=crisis_id, registration_id=registration_id, status=status, version=version)
    except PassageError as exc:
        return _crisis_page(request, db, user, crisis_id, status="", page=1, errors=_errors(exc), status_code=exc.status)
    return RedirectResponse(f"/consular/crises/{crisis_id}", status_code=303)


@router.post("/consular/crises/{crisis_id}/messages")
def messages_submit(crisis_id: str, request: Request, db: DbSession, user: Manager, kind: Annotated[str, Form(max_length=20)] = "alert") -> Response:
    if kind not in ("alert", "evacuation"):
        kind = "alert"
    result = service.generate_messages(db, actor=user, crisis_id=crisis_id, kind=kind)
    notice = gettext(N_("{messages} messages written to the outbox (Chinese {zh}, English {en}); {skipped} people have no phone number.")).format(
        messages=result["messages"], zh=result["by_language"].get("zh", 0), en=result["by_language"].get("en", 0), skipped=result["skipped_without_phone"])
    return _crisis_page(request, db, user, crisis_id, status="", page=1, notice=notice)


@router.post("/consular/crises/{crisis_id}/plan")
def plan_submit(crisis_id: str, request: Request, db: DbSession, user: Evacuator, apply: Annotated[str, Form(max_length=3)] = "no") -> Response:
    try:
        with db.begin_nested():
            plan = service.plan_for_crisis(db, actor=user, crisis_id=crisis_id, parameters=evacuation.Parameters())
            if apply == "yes":
                booked = service.apply_plan(db, actor=user, crisis_id=crisis_id, plan=plan)
                notice = gettext(N_("{booked} seats booked.")).format(booked=booked)
                return _crisis_page(request, db, user, crisis_id, status="", page=1, notice=notice)
    except PassageError as exc:
        return _crisis_page(request, db, user, crisis_id, status="", page=1, errors=_errors(exc), status_code=exc.status)
    return _crisis_page(request, db, user, crisis_id, status="", page=1, plan=plan)


@router.post("/consular/crises/{crisis_id}/assembly-points")
async def assembly_point_submit(crisis_id: str, request: Request, db: DbSession, user: Evacuator) -> Response:
    form = await request.form()
    values = {name: str(form.get(name, "") or "").strip() for name in ("code", "name", "latitude", "longitude", "capacity")}
    try:
        data = AssemblyPointIn.model_validate({**values, "translations": messages.translations_from_form(form, "name")})
        with db.begin_nested():
            service.add_assembly_point(db, actor=user, crisis_id=crisis_id, data=data)
    except (ValidationError, PassageError) as exc:
        return _crisis_page(request, db, user, crisis_id, status="", page=1, errors=_errors(exc), status_code=422)
    return RedirectResponse(f"/consular/crises/{crisis_id}#network", status_code=303)


@router.post("/consular/crises/{crisis_id}/legs")
async def leg_submit(crisis_id: str, request: Request, db: DbSession, user: Evacuator) -> Response:
    form = await request.form()
    names = ("code", "mode", "origin_point", "destination_point", "destination_name", "departs_at", "arrives_at", "seats")
    values = {name: str(form.get(name, "") or "").strip() for name in names}
    try:
        document: dict[str, Any] = {**values, "destination_point": values["destination_point"] or None,
                                    "translations": messages.translations_from_form(form, "destination_name")}
        for name in ("departs_at", "arrives_at"):
            # The form's datetime-local has no zone: the page says times are UTC.
            document[name] = values[name] + ":00+00:00" if len(values[name]) == 16 else values[name]
        data = LegIn.model_validate(document)
        with db.begin_nested():
            service.add_leg(db, actor=user, crisis_id=crisis_id, data=data)
    except (ValidationError, PassageError) as exc:
        return _crisis_page(request, db, user, crisis_id, status="", page=1, errors=_errors(exc), status_code=422)
    return RedirectResponse(f"/consular/crises/{crisis_id}#network", status_code=303)


@router.get("/consular/crises/{crisis_id}/legs/{leg_id}")
def manifest_page(crisis_id: str, leg_id: str, request: Request, db: DbSession, user: Evacuator) -> Response:
    crisis = service.load_crisis(db, actor=user, crisis_id=crisis_id)
    leg, people = service.manifest(db, actor=user, crisis_id=crisis.id, leg_id=leg_id)
    return render(request, "consular/manifest.html", _context(crisis=crisis, leg=leg, people=people))


@router.post("/consular/crises/{crisis_id}/legs/{leg_id}/check-in")
def check_in_submit(crisis_id: str, leg_id: str, request: Request, db: DbSession, user: Evacuator, registration_id: Annotated[str, Form(max_length=32)],
                    event: Annotated[str, Form(max_length=12)]) -> Response:
    try:
        with db.begin_nested():
            service.check_in(db, actor=user, crisis_id=crisis_id, leg_id=leg_id, registration_id=registration_id, event=event)
    except PassageError as exc:
        crisis = service.load_crisis(db, actor=user, crisis_id=crisis_id)
        leg, people = service.manifest(db, actor=user, crisis_id=crisis.id, leg_id=leg_id)
        return render(request, "consular/manifest.html", _context(crisis=crisis, leg=leg, people=people, error=localise(exc.message)), status_code=exc.status)
    return RedirectResponse(f"/consular/crises/{crisis_id}/legs/{leg_id}", status_code=303)


# --- statistics ----------------------------------------------------------------------------------------


@router.get("/consular/statistics")
def statistics_page(request: Request, db: DbSession, user: Annotated[User, require(Permission.CONSULAR_STATS)],
                    by: Annotated[str, Query(max_length=10)] = "country") -> Response:
    if by not in service.STAT_DIMENSIONS:
        by = "country"
    result = service.statistics(db, actor=user, by=by)
    names = {c.id: service.crisis_label(c, get_locale()) for c in db.scalars(select(Crisis).where(visible_clause(Crisis, user)))} if by == "crisis" else {}
    return render(request, "consular/statistics.html", _context(result=result, by=by, names=names))


# --- home panel ----------------------------------------------------------------------------------------


def home_panel(session: Session, user: User) -> HomePanel | None:
    """Consular officers see active crises, open help requests and breached first-contact timers."""
    if Permission.CONSULAR_READ not in _granted(user):
        return None
    now = dt.datetime.now(dt.UTC)
    crises = service.list_crises(session, actor=user, status="active")
    _rows, open_total = service.list_help_requests(session, actor=user, open_only=True, limit=1, now=now)
    _late, breached = service.list_help_requests(session, actor=user, breached_only=True, limit=1, now=now)
    items = [PanelItem(service.crisis_label(c, get_locale()), f"/consular/crises/{c.id}", label(c.crisis_type)) for c in crises[:3]]
    items.append(PanelItem(localise(T_("Open help requests: {count}", count=open_total)), "/consular/requests?status="))
    items.append(PanelItem(localise(T_("First contact overdue: {count}", count=breached)), "/consular/requests?breached=true"))
    return HomePanel(title=gettext(N_("Consular protection")), items=items, more_href="/consular", order=45)


__all__ = ["HelpRequest", "NAV", "home_panel", "router"]
