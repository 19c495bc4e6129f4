"""Dialogue pages: events and calendar, event page with its forms, tracker, directory, report preview and download."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import Annotated, Any, Literal

from babel.dates import format_skeleton
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from passage.core.deps import DbSession
from passage.core.errors import FieldError, InvalidInput, PassageError
from passage.core.i18n import N_, T_, babel_locale, get_locale, localise
from passage.core.links import register_record_path
from passage.dialogue import messages, service
from passage.dialogue import models as m
from passage.dialogue import schemas as s
from passage.dialogue.attendance import country_name
from passage.dialogue.report import translation_status
from passage.dialogue.rules import PROVINCES, province_name
from passage.security.deps import require, user_has
from passage.security.models import User
from passage.security.permissions import Permission
from passage.security.schemas import PageNumber
from passage.web.panels import HomePanel, PanelItem
from passage.web.templating import NavItem, render

router = APIRouter(include_in_schema=False)
register_record_path("dialogue.event", "/dialogue/events/{id}")

NAV = [NavItem(N_("Dialogue"), "/dialogue", Permission.DIALOGUE_READ, order=70)]

Reader = Annotated[User, require(Permission.DIALOGUE_READ)]
Manager = Annotated[User, require(Permission.DIALOGUE_MANAGE)]

PAGE_SIZE = 20

EVENT_TYPES = messages.EVENT_TYPES
INSTITUTION_TYPES = messages.INSTITUTION_TYPES
ROLES = messages.ROLES
SESSION_KINDS = messages.SESSION_KINDS
OUTCOME_KINDS = messages.OUTCOME_KINDS
FOLLOW_UP_STATUSES = messages.FOLLOW_UP_STATUSES
TRACKER_STATUSES = messages.TRACKER_STATUSES
FUNCTIONS = messages.FUNCTIONS
FLAG_LABELS = messages.FLAGS
SORTS = messages.SORTS
DEFAULT_PROJECT = "EU-China Dialogue on Migration and Mobility Support Project"
DEFAULT_PROJECT_ZH = "支持中欧人员往来和移民领域对话项目"
LINKED_TYPES = list(messages.LINKED_TYPES.items())
"""Kinds of record a follow-up action may point at, in words (the stored value is `module.entity`)."""

TRANSLATION_PREFIX = "zh."
"""Form fields named `zh.<field>` hold the Chinese text of `<field>` beside its English field (`<field>_en` or `<field>`)."""


def _labels() -> dict[str, Any]:
    return {
        "linked_types": LINKED_TYPES,
        "event_types": EVENT_TYPES, "institution_types": INSTITUTION_TYPES, "roles": ROLES, "session_kinds": SESSION_KINDS,
        "outcome_kinds": OUTCOME_KINDS, "follow_up_statuses": FOLLOW_UP_STATUSES, "tracker_statuses": TRACKER_STATUSES,
        "functions": FUNCTIONS, "flag_labels": FLAG_LABELS, "sorts": SORTS, "provinces": PROVINCES,
        "province_name": lambda code: province_name(code, "zh" if get_locale() == "zh_Hans" else "en"),
        "country_name": lambda code: country_name(code, "zh" if get_locale() == "zh_Hans" else "en"),
        "zh": get_locale() == "zh_Hans",
    }


def _page(request: Request, template: str, context: dict[str, Any], *, status_code: int = 200) -> Response:
    return render(request, template, {**_labels(), **context}, status_code=status_code)


def _form_dict(form: Any, *, lists: tuple[str, ...] = ()) -> dict[str, Any]:
    """Form fields as a dict: blank text becomes None, repeated fields in `lists` become lists; the CSRF token is dropped."""
    data: dict[str, Any] = {}
    translations: dict[str, dict[str, str]] = {}
    for key in form:
        if key == "csrf_token":
            continue
        if key.startswith(TRANSLATION_PREFIX):
            value = form.get(key)
            if isinstance(value, str) and value.strip():
                translations[key.removeprefix(TRANSLATION_PREFIX)] = {"zh_Hans": value.strip()}
            data[key] = value.strip() if isinstance(value, str) and value.strip() else None
            continue
        if key in lists:
            data[key] = [v for v in form.getlist(key) if isinstance(v, str) and v.strip()]
        else:
            value = form.get(key)
            data[key] = value.strip() if isinstance(value, str) and value.strip() else None
    for key in lists:
        data.setdefault(key, [])
    data["translations"] = translations
    return data


def _fields(values: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The named fields of a submitted form plus its translations (what a service's schema accepts)."""
    return {**{k: values.get(k) for k in names}, "translations": values.get("translations") or {}}


def _errors(exc: PassageError) -> dict[str, str]:
    """Field path -> message; a refusal without fields goes under `_form`."""
    if not exc.fields:
        return {"_form": localise(exc.message)}
    errors: dict[str, str] = {}
    for f in exc.fields:
        parts = f.path.split(".")
        # `translations.title.zh_Hans` is the form's `zh.title`; a whole-translations refusal goes on the form
        name = (TRANSLATION_PREFIX + parts[1] if len(parts) > 1 else "_form") if parts[0] == "translations" else parts[0]
        errors[name] = localise(f.message)
    return errors


# ---- list and calendar ----------------------------------------------------------------------------


@router.get("/dialogue")
def events_page(
    request: Request, db: DbSession, user: Reader,
    q: Annotated[str | None, Query(max_length=100)] = None,
    event_type: Annotated[str | None, Query(max_length=20)] = None,
    year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
    sort: Annotated[Literal["start", "-start", "title"], Query()] = "-start",
    page: PageNumber = 1,
) -> Response:
    chosen_type = event_type if event_type in EVENT_TYPES else None
    start = dt.date(year, 1, 1) if year else None
    end = dt.date(year, 12, 31) if year else None
    rows, total = service.search_events(db, q=q, event_type=chosen_type, start=start, end=end, sort=sort, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    flags = {e.id: len(service.flags_out(e)) for e in rows}
    return _page(request, "dialogue/events.html", {
        "events": rows, "flags": flags, "total": total, "q": q or "", "event_type": chosen_type or "", "year": year or "",
        "sort": sort, "page": page, "pages": max(1, -(-total // PAGE_SIZE)),
        "can_manage": user_has(user, Permission.DIALOGUE_MANAGE),
    })


@router.get("/dialogue/calendar")
def calendar_page(request: Request, db: DbSession, user: Reader, month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None) -> Response:
    today = dt.date.today()
    year, number = (int(month[:4]), int(month[5:])) if month else (today.year, today.month)
    if not 1 <= number <= 12:
        raise InvalidInput(T_("Unknown month"), fields=[FieldError(path="month", message=T_("must be YYYY-MM with a month from 01 to 12"))])
    first = dt.date(year, number, 1)
    last = dt.date(year, number, calendar.monthrange(year, number)[1])
    events = service.list_events(db, start=first, end=last)
    weeks = []
    for week in calendar.Calendar(firstweekday=0).monthdatescalendar(year, number):
        weeks.append([
            {"date": day, "in_month": day.month == number, "events": [e for e in events if e.start_date <= day <= e.end_date]}
            for day in week
        ])
    previous = (first - dt.timedelta(days=1)).strftime("%Y-%m")
    following = (last + dt.timedelta(days=1)).strftime("%Y-%m")
    weekdays = [N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun")]
    return _page(request, "dialogue/calendar.html", {
        "weeks": weeks, "first": first, "previous": previous, "following": following, "weekdays": weekdays, "events": events,
        "month_name": format_skeleton("yMMMM", first, locale=babel_locale()),
    })


# ---- creating an event ----------------------------------------------------------------------------


def _institution_choices(db: Session) -> list[m.Institution]:
    rows, _ = service.list_institutions(db, limit=1000)
    return rows


def _event_form(request: Request, db: Session, values: dict[str, Any], errors: dict[str, str], *, status_code: int = 200) -> Response:
    return _page(request, "dialogue/event_form.html", {"values": values, "errors": errors, "institutions": _institution_choices(db)}, status_code=status_code)


@router.get("/dialogue/events/new")
def new_event_page(request: Request, db: DbSession, user: Manager) -> Response:
    own = [i.id for i in _institution_choices(db) if i.organisation_id == user.organisation_id]
    return _event_form(request, db, {"project_en": DEFAULT_PROJECT, "zh.project": DEFAULT_PROJECT_ZH, "event_type": "workshop", "organiser_institution_ids": own}, {})


@router.post("/dialogue/events")
async def create_event_submit(request: Request, db: DbSession, user: Manager) -> Response:
    values = _form_dict(await request.form(), lists=("organiser_institution_ids",))
    try:
        event = service.create_event(db, actor=user, data={k: v for k, v in values.items() if not k.startswith(TRANSLATION_PREFIX)})
    except InvalidInput as exc:
        db.rollback()
        return _event_form(request, db, values, _errors(exc), status_code=422)
    return RedirectResponse(f"/dialogue/events/{event.id}", status_code=303)


# ---- the event page and its forms -----------------------------------------------------------------


def _event_page(request: Request, db: Session, user: User, event_id: str, *, form: str | None = None, values: dict[str, Any] | None = None,
                errors: dict[str, str] | None = None, status_code: int = 200) -> Response:
    event = service.get_event(db, event_ref=event_id)
    detail = service.event_detail(db, event_id=event.id)
    participants = service.participants_for(
        db, actor=user, event_id=event.id, viewer_organisation_id=user.organisation_id,
        contacts_permitted=user_has(user, Permission.DIALOGUE_CONTACTS_READ),
    )
    names = {p.id: p.name for p in participants}
    institutions = {i.id: i for i in _institution_choices(db)}
    is_organiser = user.organisation_id in service.organiser_organisation_ids(event)
    return _page(request, "dialogue/event.html", {
        "event": event, "detail": detail, "participants": participants, "names": names, "institutions": institutions,
        "can_manage": user_has(user, Permission.DIALOGUE_MANAGE), "is_organiser": is_organiser,
        "form": form, "values": values or {}, "errors": errors or {}, "link_href": service.link_href,
        "today": dt.date.today(),
    }, status_code=status_code)


@router.get("/dialogue/events/{event_id}")
def event_page(request: Request, event_id: str, db: DbSession, user: Reader) -> Response:
    return _event_page(request, db, user, event_id)


async def _submit(request: Request, db: Session, user: User, event_id: str, form_name: str, action: Any, *, lists: tuple[str, ...] = ()) -> Response:
    values = _form_dict(await request.form(), lists=lists)
    try:
        action(values)
    except InvalidInput as exc:
        db.rollback()
        return _event_page(request, db, user, event_id, form=form_name, values=values, errors=_errors(exc), status_code=422)
    return RedirectResponse(f"/dialogue/events/{event_id}#{form_name}", status_code=303)


@router.post("/dialogue/events/{event_id}/participants")
async def register_submit(request: Request, event_id: str, db: DbSession, user: Manager) -> Response:
    def act(values: dict[str, Any]) -> None:
        contact = None
        if values.get("email") or values.get("phone") or values.get("consent_given"):
            contact = {"email": values.get("email"), "phone": values.get("phone"), "consent_given": values.get("consent_given") == "yes",
                       "consent_date": values.get("consent_date")}
        data = _fields(values, ("name", "name_zh", "honorific", "position_en", "institution_id"))
        role = values.get("role") or "participant"
        service.register_participant(db, actor=user, event_id=event_id, data={**data, "contact": contact}, role=role)

    return await _submit(request, db, user, event_id, "register", act)


@router.post("/dialogue/events/{event_id}/sessions")
async def session_submit(request: Request, event_id: str, db: DbSession, user: Manager) -> Response:
    def act(values: dict[str, Any]) -> None:
        observations = [line.strip() for line in (values.get("observations_en") or "").splitlines() if line.strip()]
        chinese = [line.strip() for line in (values.get("observations_zh") or "").splitlines() if line.strip()]
        translations = {k: v for k, v in (values.get("translations") or {}).items() if k != "observations"}
        data = {**{k: values.get(k) for k in ("number", "day", "title_en", "kind", "abstract_en", "chair_id")}, "translations": translations,
                "speaker_ids": values["speaker_ids"], "observations_en": observations, "observations_zh": chinese}
        service.record_session(db, actor=user, event_id=event_id, data=data)

    return await _submit(request, db, user, event_id, "session", act, lists=("speaker_ids",))


@router.post("/dialogue/events/{event_id}/outcomes")
async def outcome_submit(request: Request, event_id: str, db: DbSession, user: Manager) -> Response:
    def act(values: dict[str, Any]) -> None:
        service.add_outcome(db, actor=user, event_id=event_id, data=_fields(values, ("kind", "text_en")))

    return await _submit(request, db, user, event_id, "outcome", act)


@router.post("/dialogue/events/{event_id}/follow-ups")
async def follow_up_submit(request: Request, event_id: str, db: DbSession, user: Manager) -> Response:
    def act(values: dict[str, Any]) -> None:
        outcome_id = values.get("outcome_id")
        event = service.get_event(db, event_ref=event_id)
        if not outcome_id or outcome_id not in {o.id for o in event.outcomes}:
            raise InvalidInput(T_("Choose a recommendation"), fields=[FieldError(path="outcome_id", message=T_("choose a recommendation of this event"))])
        data = _fields(values, ("title", "owner_institution_id", "due_date", "evidence", "linked_type", "linked_id"))
        data["status"] = values.get("status") or "planned"
        service.add_follow_up(db, actor=user, outcome_id=outcome_id, data=data)

    return await _submit(request, db, user, event_id, "follow-up", act)


# ---- translations ---------------------------------------------------------------------------------


def _translations_page(request: Request, db: Session, event_id: str, *, values: dict[str, Any] | None = None,
                       errors: dict[str, str] | None = None, status_code: int = 200) -> Response:
    event = service.get_event(db, event_ref=event_id)
    rows = [
        {"key": f"{prefix}.{field}", "part": part, "field": field, "source": record.source_text(field), "text": record.translation(field, "zh_Hans")}
        for prefix, record, part in service.translatable_parts(event)
        for field in record.TRANSLATED
        if record.source_text(field)
    ]
    return _page(request, "dialogue/translations.html", {
        "event": event, "rows": rows, "values": values or {}, "errors": errors or {}, "status": translation_status(event)["zh_Hans"],
    }, status_code=status_code)


@router.get("/dialogue/events/{event_id}/translations")
def translations_page(request: Request, event_id: str, db: DbSession, user: Manager) -> Response:
    """Every published text of the event, English beside Chinese, for the translator."""
    return _translations_page(request, db, event_id)


@router.post("/dialogue/events/{event_id}/translations")
async def translations_submit(request: Request, event_id: str, db: DbSession, user: Manager) -> Response:
    form = await request.form()
    values = {key: str(form.get(key) or "") for key in form if key not in ("csrf_token", "version")}
    version = form.get("version")
    try:
        service.update_translations(db, actor=user, event_id=event_id, expected_version=int(str(version)) if version else None,
                                    locale="zh_Hans", values=values)
    except InvalidInput as exc:
        db.rollback()
        return _translations_page(request, db, event_id, values=values, errors=_errors(exc), status_code=422)
    return RedirectResponse(f"/dialogue/events/{event_id}/report?lang=zh", status_code=303)


# ---- report ---------------------------------------------------------------------------------------

_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.S)
_STYLE = re.compile(r"<style>(.*?)</style>", re.S)


@router.get("/dialogue/events/{event_id}/report")
def report_page(
    request: Request, event_id: str, db: DbSession, user: Reader,
    lang: Annotated[Literal["en", "zh"] | None, Query()] = None,
    format: Annotated[Literal["html", "pdf"], Query()] = "html",  # noqa: A002 - same parameter as the API
) -> Response:
    """Preview (HTML inside the site) or download (PDF) of the summary report in either language (default: the reader's)."""
    from passage.dialogue.report import render_report_html, render_report_pdf

    lang = lang or ("zh" if get_locale() == "zh_Hans" else "en")

    event = service.get_event(db, event_ref=event_id)
    if format == "pdf":
        name = f"dialogue-report-{event.key or event.id}-{lang}.pdf"
        return Response(render_report_pdf(event, lang=lang), media_type="application/pdf", headers={"content-disposition": f'attachment; filename="{name}"'})
    html = render_report_html(event, lang=lang)
    body = _BODY.search(html)
    style = _STYLE.search(html)
    # The report's own stylesheet is scoped to the preview box so it does not restyle the site.
    css = re.sub(r"@page\s*\{.*?\}\s*\}", "", style.group(1), flags=re.S) if style else ""
    css = re.sub(r"(^|\})\s*([^@{}][^{}]*)\{", lambda mt: mt.group(1) + " " + ", ".join(f".report-preview {sel.strip()}".replace(".report-preview body", ".report-preview") for sel in mt.group(2).split(",")) + " {", css)
    status = translation_status(event)
    return _page(request, "dialogue/report_preview.html", {
        "event": event, "lang": lang, "report_body": body.group(1) if body else html, "report_css": css,
        "report_lang": "zh-Hans" if lang == "zh" else "en", "status": [status[locale] for locale in ("zh_Hans", "en")],
        "can_manage": user_has(user, Permission.DIALOGUE_MANAGE),
    })


# ---- tracker and directory ------------------------------------------------------------------------


@router.get("/dialogue/tracker")
def tracker_page(
    request: Request, db: DbSession, user: Reader,
    show: Annotated[Literal["all", "recurring", "acted_on", "overdue"], Query()] = "all",
) -> Response:
    groups = service.tracker_out(db, as_of=dt.date.today())
    counts = {"all": len(groups), "recurring": sum(g.recurs for g in groups), "acted_on": sum(g.status == "acted_on" for g in groups),
              "overdue": sum(g.status == "overdue" for g in groups)}
    if show == "recurring":
        groups = [g for g in groups if g.recurs]
    elif show in ("acted_on", "overdue"):
        groups = [g for g in groups if g.status == show]
    outcomes = {o.id: o for o in db.scalars(select(m.Outcome).where(m.Outcome.kind == "recommendation"))}
    events = {e.id: e for e in service.list_events(db)}
    return _page(request, "dialogue/tracker.html", {"groups": groups, "show": show, "counts": counts, "outcomes": outcomes, "events": events})


@router.get("/dialogue/directory")
def directory_page(request: Request, db: DbSession, user: Reader, institution_id: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    entries = service.directory(db, actor=user, institution_id=institution_id or None)
    return _page(request, "dialogue/directory.html", {"entries": entries, "institution_id": institution_id or "", "institutions": _institution_choices(db)})


# ---- home panel -----------------------------------------------------------------------------------


def home_panel(session: Session, user: User) -> HomePanel | None:
    """Follow-up actions overdue or due within 60 days."""
    if not user_has(user, Permission.DIALOGUE_READ):
        return None
    today = dt.date.today()
    due = service.follow_ups_due(session, as_of=today)
    items = []
    for action in due[:6]:
        outcome = service.get_outcome(session, outcome_id=action.outcome_id)
        note = T_("overdue since {date}", date=action.due_date) if action.due_date < today else T_("due {date}", date=action.due_date)
        items.append(PanelItem(label=action.in_language("title").text, href=f"/dialogue/events/{outcome.event_id}#follow-ups", note=localise(note)))
    # no items: the home page shows its empty state as text, not as a link
    return HomePanel(title=N_("Dialogue follow-ups due"), items=items, more_href="/dialogue/tracker", order=70)


__all__ = ["NAV", "home_panel", "router", "s"]
