"""AVRR pages: counsellor inbox, case file, incentive calculator, monitoring calendar and programme dashboard."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from passage.avrr import messages, service
from passage.avrr.models import AvrrCase, AvrrMonitoringRound
from passage.avrr.payloads import (
    AssistanceIn,
    CaseCreate,
    ConsentIn,
    LinkIn,
    MonitoringIn,
    PaymentIn,
    TransitionIn,
    WithdrawalIn,
)
from passage.avrr.rules import add_months
from passage.avrr.stages import ASSISTANCE_LABELS, STAGE_LABELS, AssistanceKind, Stage
from passage.avrr.sustainability import DIMENSIONS, load_scoring_config
from passage.core.app import validation_message
from passage.core.deps import DbSession
from passage.core.errors import FieldError, Forbidden, PassageError
from passage.core.i18n import N_, T_, get_locale, gettext, localise
from passage.security.deps import require
from passage.security.models import User
from passage.security.permissions import Permission, permissions_for
from passage.security.scope import visible_clause
from passage.web.panels import HomePanel, PanelItem
from passage.web.templating import NavItem, render

router = APIRouter(include_in_schema=False)

NAV = [
    NavItem(N_("AVRR cases"), "/avrr/cases", Permission.AVRR_READ, order=30),
    NavItem(N_("Incentive calculator"), "/avrr/calculator", Permission.AVRR_READ, order=31),
    NavItem(N_("Monitoring calendar"), "/avrr/calendar", Permission.AVRR_READ, order=32),
    NavItem(N_("AVRR dashboard"), "/avrr/dashboard", Permission.AVRR_STATS, order=33),
]

STAGE_NAMES = messages.STAGE
KIND_NAMES = messages.ASSISTANCE_KIND
DIMENSION_NAMES = messages.DIMENSION
EVENT_NAMES = messages.EVENT
CODE_NAMES = messages.CODE_NAMES
"""Labels of the codes shown on the pages (the API keeps the codes)."""
PAGE_SIZE = 20
MEMBER_ROWS = 6
assert set(STAGE_NAMES) == {s.value for s in STAGE_LABELS} and set(KIND_NAMES) == {k.value for k in ASSISTANCE_LABELS}

Reader = Annotated[User, require(Permission.AVRR_READ)]
Manager = Annotated[User, require(Permission.AVRR_MANAGE)]


def _granted(user: User) -> frozenset[Permission]:
    return permissions_for(user.role_set)


def _errors(exc: Exception) -> dict[str, str]:
    """Field path -> message, for inline validation next to each field (never a personal value)."""
    if isinstance(exc, ValidationError):
        return {".".join(str(p) for p in e["loc"]) or "form": localise(validation_message(e)) for e in exc.errors()}
    if isinstance(exc, PassageError):
        found = {f.path: localise(f.message) for f in exc.fields if isinstance(f, FieldError)}
        found.setdefault("form", localise(exc.message))
        return found
    raise exc


def _blank_to_none(form: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if v != "" else None) for k, v in form.items()}


def _programme_name(programme_id: str) -> str:
    """A programme's name in the user's language (its id only when it has no name)."""
    from passage.core.i18n import get_locale

    config = service.programmes().get(programme_id)
    if config is None:
        return programme_id
    chinese = get_locale().startswith("zh") and config.name_zh
    return (config.name_zh if chinese else config.name) or programme_id


def _scheme_title(scheme_id: str) -> Markup:
    """A scheme's title in the reader's language (its latest version's), for choosing a scheme; the programme's
    legal name (StarthilfePlus) is kept and marked translate="no"."""
    latest = service.scheme_registry().versions(scheme_id)[-1]
    return messages.published(latest.title, latest.translations, field="title", original_terms=latest.original_terms,
                              original_language=latest.original_language)


def _labels() -> dict[str, Any]:
    return {"stage_names": STAGE_NAMES, "kind_names": KIND_NAMES, "dimension_names": DIMENSION_NAMES,
            "event_names": EVENT_NAMES, "code": lambda value: gettext(CODE_NAMES[value]) if value in CODE_NAMES else value,
            "programme_name": _programme_name, "published": messages.published, "stored_message": messages.stored_message,
            "basis": messages.line_basis, "rule_name": messages.rule_name}


# --- inbox -----------------------------------------------------------------------------------------


@router.get("/avrr")
def avrr_root(user: Reader) -> Response:
    return RedirectResponse("/avrr/cases", status_code=303)


@router.get("/avrr/cases")
def inbox(
    request: Request,
    db: DbSession,
    user: Reader,
    stage: Annotated[str | None, Query(max_length=30)] = None,
    counsellor: Annotated[str | None, Query(max_length=32)] = None,
    overdue: Annotated[str | None, Query(max_length=3)] = None,
    q: Annotated[str | None, Query(max_length=40)] = None,
    sort: Annotated[str, Query(max_length=20)] = "-counselled_on",
    page: Annotated[int, Query(ge=1, le=10000)] = 1,
) -> Response:
    filters = {"stage": stage or "", "counsellor": counsellor or "", "overdue": overdue or "", "q": q or "", "sort": sort}
    errors: dict[str, str] = {}
    try:
        items, total = service.list_cases(db, actor=user, stage=stage or None, counsellor_id=counsellor or None,
                                          overdue_plan=overdue == "yes", q=q or None, sort=sort,
                                          offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    except PassageError as exc:
        errors, items, total = _errors(exc), [], 0
    names = dict(service.counsellors(db, actor=user))
    pages = max(1, -(-total // PAGE_SIZE))
    query = {k: v for k, v in filters.items() if v}  # the pager URL-encodes it
    return render(request, "avrr/inbox.html", {
        "cases": items, "total": total, "page": page, "pages": pages, "filters": filters, "query": query,
        "counsellors": names, "stages": [s.value for s in Stage], "errors": errors, **_labels(),
        "sorts": [("-counselled_on", N_("Newest counselling first")), ("counselled_on", N_("Oldest counselling first")),
                  ("reference", N_("Reference")), ("stage", N_("Stage")), ("plan_due_on", N_("Plan due date"))],
    }, status_code=422 if errors else 200)


@router.get("/avrr/cases/new")
def new_case_page(request: Request, user: Manager) -> Response:
    return _new_case(request, {}, {})


def _new_case(request: Request, values: dict[str, Any], errors: dict[str, str]) -> Response:
    return render(request, "avrr/new_case.html", {
        **_labels(), "values": values, "errors": errors, "programmes": sorted(service.programmes()),
        "schemes": [(sid, _scheme_title(sid)) for sid in service.scheme_registry().scheme_ids()], "member_rows": MEMBER_ROWS,
        "legal_statuses": ["asylum_seeker", "rejected_asylum_seeker", "tolerated", "recognised_refugee",
                           "subsidiary_protection", "trafficking_victim", "irregular_stay", "other_residence_permit"],
        "asylum_stages": ["none", "pending", "first_negative", "appeal_pending", "final_negative", "positive"],
        "relationships": ["head", "spouse", "child", "parent", "sibling", "grandchild", "other_relative", "other"],
    }, status_code=422 if errors else 200)


def _members(form: dict[str, Any]) -> list[dict[str, Any]]:
    members = []
    for i in range(MEMBER_ROWS):
        age = form.get(f"members.{i}.age")
        if age in (None, ""):
            continue
        members.append({"member_id": f"m{i + 1}", "age": age, "relationship": form.get(f"members.{i}.relationship"),
                        "sex": form.get(f"members.{i}.sex") or None, "full_name": form.get(f"members.{i}.full_name") or None})
    return members


def _member_errors(errors: dict[str, str], members: list[dict[str, Any]]) -> dict[str, str]:
    """Map `members.N.field` (position among filled rows) back to the row the user typed in."""
    rows = [int(m["member_id"][1:]) - 1 for m in members]
    out = {}
    for path, message in errors.items():
        parts = path.split(".")
        if parts[0] == "members" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(rows):
            parts[1] = str(rows[int(parts[1])])
        out[".".join(parts)] = message
    return out


@router.post("/avrr/cases/new")
async def create_case(request: Request, db: DbSession, user: Manager) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    members = _members(form)
    try:
        data = CaseCreate.model_validate({
            "programme_id": form.get("programme_id"), "scheme_id": form.get("scheme_id") or None,
            "nationality": (form.get("nationality") or "").upper(), "country_of_return": (form.get("country_of_return") or "").upper(),
            "legal_status": form.get("legal_status"), "asylum_stage": form.get("asylum_stage") or "none", "members": members,
            "counselling": {"held_on": form.get("held_on"), "informed": form.get("informed") == "on",
                            "voluntary": form.get("voluntary") == "on", "decision": form.get("decision") or "undecided",
                            "decided_on": form.get("decided_on") or None},
        })
        case = service.create_case(db, actor=user, data=data)
    except (ValidationError, PassageError) as exc:
        db.rollback()
        return _new_case(request, form, _member_errors(_errors(exc), members))
    return RedirectResponse(f"/avrr/cases/{case.id}", status_code=303)


# --- case file -------------------------------------------------------------------------------------


def _case_page(request: Request, db: Session, user: User, case_id: str, *, errors: dict[str, str] | None = None,
               action: str | None = None, values: dict[str, Any] | None = None) -> Response:
    case = service.read_case(db, actor=user, case_id=case_id)
    record = service.load_case(db, actor=user, case_id=case_id)
    incentives = None
    if record.scheme_id:
        try:
            incentives = service.case_incentives(record, on=record.eligibility_decided_on or record.decided_on or dt.date.today())
        except PassageError as exc:
            incentives = {"error": localise(exc.message)}
    actors = dict(db.execute(select(User.id, User.display_name).where(
        User.id.in_({e.actor_id for e in case.events} | {case.counsellor_id or ""}))).tuples().all())
    return render(request, "avrr/case.html", {
        "case": case, "incentives": incentives, "actors": actors, "errors": errors or {}, "action": action,
        "values": values or {}, "health": Permission.HEALTH_READ in _granted(user),
        "can_manage": Permission.AVRR_MANAGE in _granted(user), "kinds": [k.value for k in AssistanceKind],
        "today": dt.date.today(), **_labels(),
    }, status_code=422 if errors else 200)


@router.get("/avrr/cases/{case_id}")
def case_file(request: Request, case_id: str, db: DbSession, user: Reader) -> Response:
    return _case_page(request, db, user, case_id)


BOOLEAN_FACTS = {"travel": ("vulnerability_screened", "vulnerable", "referral_made", "escort_required", "escort_assigned")}
FACT_FIELDS = ("applied_on", "travel_document", "medical_fitness", "vulnerability_notes", "itinerary_ref",
               "allowances_paid_on", "departed_on", "arrived_on", "received_by", "plan_agreed_on", "closure_reason")


def _transition_payload(form: dict[str, Any]) -> dict[str, Any]:
    target = form.get("to_stage") or ""
    payload: dict[str, Any] = {"to_stage": target, "version": form.get("version"), "occurred_on": form.get("occurred_on") or None}
    for name in FACT_FIELDS:
        if form.get(name):
            payload[name] = form[name]
    for name in BOOLEAN_FACTS.get(target, ()):
        payload[name] = form.get(name) == "on"
    if target == "application":
        payload["counselling"] = {"held_on": form.get("held_on"), "informed": form.get("informed") == "on",
                                  "voluntary": form.get("voluntary") == "on", "decision": form.get("decision") or "undecided",
                                  "decided_on": form.get("decided_on") or None}
    if target == "pre_departure" or (target == "closed" and form.get("eligible") in ("yes", "no")):
        payload["eligibility"] = {"eligible": form.get("eligible") == "yes", "reason": form.get("eligibility_reason") or None}
    return payload


async def _form(request: Request) -> dict[str, Any]:
    return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}


def _action_result(request: Request, db: Session, user: User, case_id: str, action: str, form: dict[str, Any],
                   run: Any, refusal: str | None = None) -> Response:
    try:
        run()
    except Forbidden as exc:
        if refusal is None:
            raise
        # the service audited the refusal (the foundation's refusal path); the page shows why
        return _case_page(request, db, user, case_id, errors=_errors(exc), action=action, values=form)
    except (ValidationError, PassageError) as exc:
        if isinstance(exc, PassageError) and exc.status == 404:
            raise
        db.rollback()
        return _case_page(request, db, user, case_id, errors=_errors(exc), action=action, values=form)
    return RedirectResponse(f"/avrr/cases/{case_id}#{action}", status_code=303)


@router.post("/avrr/cases/{case_id}/transition")
async def transition(request: Request, case_id: str, db: DbSession, user: Manager) -> Response:
    form = await _form(request)
    return _action_result(request, db, user, case_id, "transition", form, lambda: service.transition_case(
        db, actor=user, case_id=case_id, data=TransitionIn.model_validate(_transition_payload(form))), refusal="health")


@router.post("/avrr/cases/{case_id}/withdraw")
async def withdraw(request: Request, case_id: str, db: DbSession, user: Manager) -> Response:
    form = _blank_to_none(await _form(request))
    return _action_result(request, db, user, case_id, "withdrawal", form, lambda: service.withdraw_case(
        db, actor=user, case_id=case_id, data=WithdrawalIn.model_validate(
            {"version": form.get("version"), "withdrawn_on": form.get("withdrawn_on"), "stated_reason": form.get("stated_reason")})))


@router.post("/avrr/cases/{case_id}/consents")
async def consent(request: Request, case_id: str, db: DbSession, user: Manager) -> Response:
    form = _blank_to_none(await _form(request))
    return _action_result(request, db, user, case_id, "consent", form, lambda: service.record_consent(
        db, actor=user, case_id=case_id, data=ConsentIn.model_validate(
            {k: form.get(k) for k in ("purpose", "given_on", "form_ref")})))


@router.post("/avrr/cases/{case_id}/link")
async def link(request: Request, case_id: str, db: DbSession, user: Manager) -> Response:
    form = _blank_to_none(await _form(request))
    return _action_result(request, db, user, case_id, "link", form, lambda: service.link_readmission_case(
        db, actor=user, case_id=case_id, readmission_case_id=LinkIn.model_validate(
            {"readmission_case_id": form.get("readmission_case_id")}).readmission_case_id), refusal="no_link_consent")


@router.post("/avrr/cases/{case_id}/assistance")
async def assistance(request: Request, case_id: str, db: DbSession, user: Manager) -> Response:
    form = _blank_to_none(await _form(request))
    tranches = [{"number": n, "amount": form.get(f"tranches.{n - 1}.amount"), "due_from": form.get(f"tranches.{n - 1}.due_from"),
                 "due_to": form.get(f"tranches.{n - 1}.due_to")} for n in (1, 2)
                if form.get(f"tranches.{n - 1}.amount") or n == 1]
    return _action_result(request, db, user, case_id, "assistance", form, lambda: service.add_assistance(
        db, actor=user, case_id=case_id, data=AssistanceIn.model_validate(
            {"kind": form.get("kind"), "budget": form.get("budget"), "currency": form.get("currency") or "EUR",
             "description": form.get("description"), "tranches": tranches})))


@router.post("/avrr/cases/{case_id}/tranches/{tranche_id}/pay")
async def pay(request: Request, case_id: str, tranche_id: str, db: DbSession, user: Manager) -> Response:
    form = _blank_to_none(await _form(request))
    return _action_result(request, db, user, case_id, f"pay-{tranche_id}", form, lambda: service.pay_tranche(
        db, actor=user, case_id=case_id, tranche_id=tranche_id, data=PaymentIn.model_validate(
            {k: form.get(k) for k in ("version", "amount", "paid_on", "proof_ref")})))


# --- monitoring survey -----------------------------------------------------------------------------


def _survey_page(request: Request, db: Session, user: User, case_id: str, round_number: int, *,
                 values: dict[str, Any] | None = None, errors: dict[str, str] | None = None) -> Response:
    case = service.load_case(db, actor=user, case_id=case_id)
    found = next((r for r in case.monitoring if r.round_number == round_number), None)
    if found is None:
        from passage.core.errors import NotFound

        raise NotFound(T_("monitoring round {round_number} not found", round_number=round_number))
    config = load_scoring_config(service.programme_config(case.programme_id).scoring_config)
    zh = get_locale() == "zh_Hans"
    groups = [(dim, [(item.name, item.zh if zh else item.en,
                      [(c.name, c.zh if zh else c.en) for c in config.scales[item.scale]])
                     for item in config.items if item.dimension == dim]) for dim in DIMENSIONS]
    return render(request, "avrr/survey.html", {
        "case": case, "round": found, "groups": groups, "values": values or {}, "errors": errors or {},
        "config": config, "today": dt.date.today(), **_labels(),
    }, status_code=422 if errors else 200)


@router.get("/avrr/cases/{case_id}/monitoring/{round_number}")
def survey_page(request: Request, case_id: str, round_number: int, db: DbSession, user: Manager) -> Response:
    return _survey_page(request, db, user, case_id, round_number)


@router.post("/avrr/cases/{case_id}/monitoring/{round_number}")
async def survey_submit(request: Request, case_id: str, round_number: int, db: DbSession, user: Manager) -> Response:
    form = await _form(request)
    answers = {k[len("answers."):]: v for k, v in form.items() if k.startswith("answers.") and v}
    try:
        data = MonitoringIn.model_validate({"version": form.get("version"), "interview_date": form.get("interview_date"),
                                            "interview_mode": form.get("interview_mode"), "consent": form.get("consent"),
                                            "answers": answers if form.get("consent") == "yes" else {}})
        service.submit_monitoring(db, actor=user, case_id=case_id, round_number=round_number, data=data)
    except (ValidationError, PassageError) as exc:
        if isinstance(exc, PassageError) and exc.status == 404:
            raise
        db.rollback()
        return _survey_page(request, db, user, case_id, round_number, values=form, errors=_errors(exc))
    return RedirectResponse(f"/avrr/cases/{case_id}#monitoring", status_code=303)


# --- calculator ------------------------------------------------------------------------------------


class _CalculatorForm(BaseModel):
    scheme: str
    date: dt.date


@router.get("/avrr/calculator")
def calculator_page(request: Request, user: Reader) -> Response:
    return _calculator(request, {"date": dt.date.today().isoformat(), "nationality": "", "legal_status": "rejected_asylum_seeker"}, None, {})


def _calculator(request: Request, values: dict[str, Any], result: dict[str, Any] | None, errors: dict[str, str]) -> Response:
    registry = service.scheme_registry()
    return render(request, "avrr/calculator.html", {
        **_labels(), "values": values, "result": result, "errors": errors, "member_rows": MEMBER_ROWS,
        "schemes": [(v.scheme_id, v.version, messages.published(v.title, v.translations, field="title", original_terms=v.original_terms,
                                                               original_language=v.original_language),
                     v.effective_from, v.effective_to) for sid in registry.scheme_ids() for v in registry.versions(sid)],
        "legal_statuses": ["asylum_seeker", "rejected_asylum_seeker", "tolerated", "recognised_refugee",
                           "subsidiary_protection", "trafficking_victim", "irregular_stay", "other_residence_permit"],
        "asylum_stages": ["none", "pending", "first_negative", "appeal_pending", "final_negative", "positive"],
        "relationships": ["head", "spouse", "child", "parent", "sibling", "grandchild", "other_relative", "other"],
    }, status_code=422 if errors else 200)


@router.post("/avrr/calculator")
async def calculator_submit(request: Request, user: Reader) -> Response:
    form = await _form(request)
    members = [{k: v for k, v in m.items() if k != "full_name" and v is not None} for m in _members(form)]
    household: dict[str, Any] = {"nationality": (form.get("nationality") or "").upper(), "legal_status": form.get("legal_status"),
                                 "asylum_stage": form.get("asylum_stage") or "none", "members": members,
                                 "departure_within_deadline": form.get("departure_within_deadline") == "on",
                                 "appeal_lodged": form.get("appeal_lodged") == "on"}
    if form.get("planned_departure_date"):
        household["planned_departure_date"] = form["planned_departure_date"]
    if form.get("travel_cost_estimate"):
        household["travel_cost_estimate"] = form["travel_cost_estimate"]
    try:
        chosen = _CalculatorForm.model_validate({"scheme": form.get("scheme"), "date": form.get("date")})
        result = service.calculate(scheme=chosen.scheme, household=household, on=chosen.date)
    except (ValidationError, PassageError) as exc:
        return _calculator(request, form, None, _member_errors(_errors(exc), members))
    return _calculator(request, form, result, {})


# --- calendar --------------------------------------------------------------------------------------


@router.get("/avrr/calendar")
def calendar(
    request: Request, db: DbSession, user: Reader,
    month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
    open_only: Annotated[str | None, Query(max_length=3)] = None,
) -> Response:
    today = dt.date.today()
    first = dt.date.fromisoformat(f"{month}-01") if month else today.replace(day=1)
    last = add_months(first, 1) - dt.timedelta(days=1)
    entries = service.monitoring_calendar(db, actor=user, start=first, end=last, open_only=open_only == "yes")
    overdue_before = [e for e in service.monitoring_calendar(db, actor=user, start=add_months(first, -12),
                                                             end=first - dt.timedelta(days=1), open_only=True)
                      if e.overdue]
    by_day: dict[dt.date, list[service.CalendarEntry]] = {}
    for entry in entries:
        by_day.setdefault(entry.due_on, []).append(entry)
    return render(request, "avrr/calendar.html", {
        "first": first, "by_day": sorted(by_day.items()), "overdue_before": overdue_before, "open_only": open_only == "yes",
        "previous": add_months(first, -1).strftime("%Y-%m"), "next": add_months(first, 1).strftime("%Y-%m"),
        "month": first.strftime("%Y-%m"), "total": len(entries),
        "can_manage": Permission.AVRR_MANAGE in _granted(user),
    })


# --- dashboard -------------------------------------------------------------------------------------


@router.get("/avrr/dashboard")
def dashboard(
    request: Request, db: DbSession, user: Annotated[User, require(Permission.AVRR_STATS)],
    programme: Annotated[str | None, Query(max_length=60)] = None,
    by: Annotated[str, Query(pattern=r"^(country_of_return|year|programme_id|assistance_kind)$")] = "country_of_return",
) -> Response:
    stats = service.programme_statistics(db, actor=user, programme_id=programme or None)
    cohorts = service.cohort_report(db, actor=user, by=[by], programme_id=programme or None)  # type: ignore[list-item]
    chart = {
        "returns": stats.returns_per_country_month,
        "planned": stats.planned_vs_delivered,
        "cohorts": [{"cohort": str(next(iter(r.cohort.values()))), "rounds": [
            {"round": s.round_number, "n": s.n, "share": s.share_above_threshold,
             "median": {d: (s.distributions[d].median if d in s.distributions else None) for d in (*DIMENSIONS, "composite")}}
            for s in r.rounds]} for r in cohorts.reports],
        "labels": {"returnees": gettext("Returnees"), "planned": gettext("Planned"), "delivered": gettext("Delivered"),
                   "share": gettext("Share at or above the threshold"), "median": gettext("Median composite score"),
                   "round": gettext("Round")},
    }
    return render(request, "avrr/dashboard.html", {
        "stats": stats, "cohorts": cohorts, "programme": programme or "", "by": by, "programmes": sorted(service.programmes()),
        "chart_json": json.dumps(chart, default=str), "dimensions": (*DIMENSIONS, "composite"), **_labels(),
        "cohort_keys": [("country_of_return", N_("Country of return")), ("year", N_("Year of return")),
                        ("programme_id", N_("Programme")), ("assistance_kind", N_("Kind of assistance"))],
    })


# --- home panel ------------------------------------------------------------------------------------


def home_panel(session: Session, user: User) -> HomePanel | None:
    """Caseworkers see overdue plans, monitoring surveys due soon and cases waiting in counselling."""
    if Permission.AVRR_READ not in _granted(user):
        return None
    today = dt.date.today()
    visible = visible_clause(AvrrCase, user)
    overdue_plans = session.scalar(select(func.count()).select_from(AvrrCase).where(
        visible, AvrrCase.plan_agreed_on.is_(None), AvrrCase.plan_due_on < today,
        AvrrCase.stage.in_([Stage.ARRIVAL.value, Stage.REINTEGRATION_PLAN.value]))) or 0
    surveys_due = session.scalar(select(func.count()).select_from(AvrrMonitoringRound).join(
        AvrrCase, AvrrCase.id == AvrrMonitoringRound.case_id).where(
        visible, AvrrMonitoringRound.completed_on.is_(None), AvrrMonitoringRound.due_on <= today + dt.timedelta(days=30),
        AvrrCase.stage.not_in([Stage.CLOSED.value, Stage.WITHDRAWN.value]))) or 0
    counselling = session.scalar(select(func.count()).select_from(AvrrCase).where(
        visible, AvrrCase.stage == Stage.COUNSELLING.value)) or 0
    return HomePanel(title=N_("Voluntary return and reintegration"), order=30, more_href="/avrr/cases", items=[
        PanelItem(localise(T_("Reintegration plans overdue: {count}", count=overdue_plans)), "/avrr/cases?overdue=yes"),
        PanelItem(localise(T_("Monitoring surveys due within 30 days: {count}", count=surveys_due)), "/avrr/calendar?open_only=yes"),
        PanelItem(localise(T_("Cases in counselling: {count}", count=counselling)), "/avrr/cases?stage=counselling"),
    ])
