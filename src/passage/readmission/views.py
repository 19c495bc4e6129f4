"""Readmission pages: inbox per role, case page with actions, new case, statistics with charts, agreements."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from passage.core.deps import DbSession
from passage.core.errors import FieldError, InvalidInput, NotFound, PassageError
from passage.core.i18n import N_, T_, in_language, label
from passage.core.inputs import whole_number
from passage.core.links import register_record_path
from passage.readmission import service, statistics, workflow
from passage.readmission.agreements import unverified_figures
from passage.readmission.api import case_detail, statistics_table
from passage.readmission.messages import (
    ACTION_LABELS,
    CATEGORY_LABELS,
    DEADLINE_LABELS,
    DUE_LABELS,
    FIELD_LABELS,
    FLAG_LABELS,
    GROUP_LABELS,
    HOLD_LABELS,
    METHOD_LABELS,
    PLACE_LABELS,
    REFUSAL_LABELS,
    SORT_LABELS,
    STATE_LABELS,
    UNIT_LABELS,
)
from passage.readmission.schemas import describe_span
from passage.security.actors import may
from passage.security.deps import require
from passage.security.models import Organisation, OrganisationLevel, User
from passage.security.operations import allowed_operations
from passage.security.permissions import Permission
from passage.web.panels import HomePanel, PanelItem
from passage.web.templating import NavItem, render

router = APIRouter(include_in_schema=False)
register_record_path("readmission.case", "/readmission/cases/{id}")
register_record_path("readmission.agreement", "/readmission/agreements/{id}")

NAV = [
    NavItem(N_("Readmission"), "/readmission", Permission.READMISSION_READ, order=10),
    NavItem(N_("Readmission statistics"), "/readmission/statistics", Permission.READMISSION_STATS, order=11),
    NavItem(N_("Agreements"), "/readmission/agreements", Permission.AGREEMENTS_READ, order=12),
]

PAGE_SIZE = 25

LABELS = {
    "state": STATE_LABELS, "action": ACTION_LABELS, "deadline": DEADLINE_LABELS, "field": FIELD_LABELS, "hold": HOLD_LABELS, "flag": FLAG_LABELS,
    "refusal": REFUSAL_LABELS, "method": METHOD_LABELS, "category": CATEGORY_LABELS, "place": PLACE_LABELS, "sort": SORT_LABELS, "due": DUE_LABELS, "group": GROUP_LABELS,
}


def _provinces(db: Session, user: User) -> list[Organisation]:
    return list(db.scalars(select(Organisation).where(Organisation.level == OrganisationLevel.PROVINCIAL, Organisation.country == user.organisation.country).order_by(Organisation.name)))


@router.get("/readmission")
def inbox(
    request: Request, db: DbSession, user: Annotated[User, require(Permission.READMISSION_READ)],
    state: Annotated[str | None, Query(max_length=32)] = None,
    due: Annotated[str | None, Query(max_length=10)] = None,
    agreement_id: Annotated[str | None, Query(max_length=64)] = None,
    requesting_state: Annotated[str | None, Query(max_length=2)] = None,
    province: Annotated[str | None, Query(max_length=20)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    mine: Annotated[str | None, Query(max_length=3)] = None,
    sort: Annotated[str, Query(max_length=12)] = "-updated",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """The inbox: what this user's organisation can see, with deadline flags; `mine=1` for cases needing my action."""
    if sort not in SORT_LABELS:
        sort = "-updated"
    filters = service.CaseFilter(
        state=state or None, due=due if due in DUE_LABELS else None, agreement_id=agreement_id or None, requesting_state=requesting_state or None,
        province=province or None, q=q or None, needs_action=mine == "1", sort=sort, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE,
    )
    rows, total, flags = service.list_cases(db, actor=user, filters=filters)
    query = {k: v for k, v in {"state": state, "due": due, "agreement_id": agreement_id, "requesting_state": requesting_state, "province": province, "q": q, "mine": mine, "sort": sort}.items() if v}
    return render(request, "readmission/inbox.html", {
        "cases": rows, "flags": flags, "total": total.value, "total_estimated": total.estimated, "page": page,
        # an estimated total may be short: while the page is full there is a next one
        "pages": max(1, math.ceil(total.value / PAGE_SIZE), page + 1 if total.estimated and len(rows) == PAGE_SIZE else 1), "query": query,
        "filters": filters, "labels": LABELS, "agreements": sorted(service._catalogue(db)), "provinces": ["CN-FJ", "CN-ZJ", "CN-GD"],
        "can_create": service.workflow_role(user) is workflow.Role.requesting_officer, "today": service.today_utc(),
        "show_names": True, "agreement_names": _agreement_names(db, request),
    })


def _agreement_names(db: Session, request: Request) -> dict[str, str]:
    """Agreement titles in the user's language (the inbox shows names, not slugs)."""
    from passage.core.i18n import get_locale

    chinese = get_locale().startswith("zh")
    return {a.id: (a.name_zh if chinese and a.name_zh else a.name) for a in service._catalogue(db).values()}


@router.get("/readmission/new")
def new_case_page(request: Request, db: DbSession, user: Annotated[User, require(Permission.READMISSION_CREATE)]) -> Response:
    return render(request, "readmission/new.html", _new_context(db, {}, []))


INTAKE_FIELDS = ("surname", "given_names", "name_in_characters", "date_of_birth", "place_of_birth", "sex", "nationality", "passport_number", "id_number",
                 "father_name", "mother_name", "languages", "civil_status", "last_addresses_in_requested_state", "physical_description", "special_needs",
                 "security_measures")
AGREE_LABELS = {"name": N_("name"), "birth_date": N_("date of birth"), "birth_place": N_("place of birth"), "sex": N_("sex"), "id_number": N_("ID number"),
                "document": N_("passport number")}


def countries() -> list[tuple[str, str]]:
    """ISO 3166-1 alpha-3 codes with the country's name in the user's language (pycountry and its iso3166-1 catalogue)."""
    import gettext as gettext_module

    import pycountry

    from passage.core.i18n import get_locale

    translations: gettext_module.NullTranslations = gettext_module.NullTranslations()
    if get_locale().startswith("zh"):
        try:
            translations = gettext_module.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["zh_CN"])
        except OSError:
            pass  # without the catalogue the English names are shown
    translate = translations.gettext
    rows = [(c.alpha_3, translate(getattr(c, "common_name", None) or c.name)) for c in pycountry.countries]
    return sorted(rows, key=lambda row: (row[0] != "CHN", row[1]))


def _new_context(db: Session, values: dict[str, Any], errors: list[FieldError]) -> dict[str, Any]:
    catalogue = service._catalogue(db)
    required = set()
    for agreement in catalogue.values():
        if agreement.id == (values.get("agreement_id") or "eu-china-draft"):
            required = set(agreement.latest().required_application_data)
    return {"agreements": [(a.id, a.name, a.name_zh) for a in catalogue.values()], "values": values, "errors": {e.path.removeprefix("application."): e.message for e in errors},
            "labels": LABELS, "fields": INTAKE_FIELDS, "list_fields": service.LIST_FIELDS, "countries": countries(), "required": required, "agree_labels": AGREE_LABELS}


@router.post("/readmission/new")
async def new_case_submit(request: Request, db: DbSession, user: Annotated[User, require(Permission.READMISSION_CREATE)]) -> Response:
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    application: dict[str, Any] = {}
    for name in service.APPLICATION_FIELDS:
        raw = values.get(name, "").strip()
        if raw:
            application[name] = [line.strip() for line in raw.splitlines() if line.strip()] if name in service.LIST_FIELDS else raw
    try:
        case = service.open_case(db, actor=user, agreement_id=values.get("agreement_id", ""), procedure=values.get("procedure", "readmission"),
                                 accelerated=values.get("accelerated") == "1", application=application, aliases_none=values.get("aliases_none") == "1",
                                 confirm_not_duplicate=values.get("not_duplicate") == "1")
    except service.PossibleDuplicates as warning:
        db.rollback()
        return render(request, "readmission/new.html", {**_new_context(db, values, []), "duplicates": warning.duplicates}, status_code=409)
    except InvalidInput as error:
        db.rollback()
        return render(request, "readmission/new.html", {**_new_context(db, values, error.fields), "error": N_("Please correct the fields marked below.")}, status_code=422)
    return RedirectResponse(f"/readmission/cases/{case.id}", status_code=303)


def _case_page(request: Request, db: Session, user: User, case_id: str, *, error: PassageError | None = None, status_code: int = 200, open_form: str | None = None) -> Response:
    case = service.read_case(db, actor=user, case_id=case_id)
    detail = case_detail(db, case, user)
    allowed = allowed_operations(user, case)
    actions = [t for t in service.allowed_for(user, case) if t.action in allowed]
    side = service.side_of(user, case)
    role = service.workflow_role(user)
    can_search = "search_registry" in allowed
    suggestion = service.suggest_province(db, case) if ("route" in allowed or "reroute" in allowed) else None
    return render(request, "readmission/case.html", {
        "case": detail, "actions": actions, "labels": LABELS, "side": side.value, "role": role.value,
        "provinces": _provinces(db, user) if ("route" in allowed or "reroute" in allowed) else [],
        "error": error, "field_errors": {f.path: f.message for f in (error.fields if error else [])}, "open_form": open_form,
        "evidence_types": [(e.code, e.shown("label"), e.category.value) for e in service.case_version(db, case).evidence_types],
        "agreement_name": service._catalogue(db)[case.agreement_slug].shown("name"),
        "can_edit": "edit" in allowed, "can_hold": "place_hold" in allowed, "can_flag": "set_flag" in allowed,
        "can_upload": "upload_evidence" in allowed, "can_identify": can_search, "can_decide": "decide_candidate" in allowed,
        "identity_search_available": _identity_index_built() if can_search else False,
        "can_fingerprint": may(user, Permission.BIOMETRICS_READ),
        "identity_query": _identity_query_view(case), "words": identity_words(), "strength": identity_strength,
        "countries": countries() if "edit" in allowed else [], "suggestion": suggestion, "can_reroute": "reroute" in allowed,
        "methods": service.VERIFICATION_METHODS, "refusals": service.REFUSAL_REASONS, "holds": list(HOLD_LABELS), "flag_kinds": service.FLAG_KINDS,
    }, status_code=status_code)


def identity_words() -> dict[str, Any]:
    from passage.identity.service import evidence_words

    return evidence_words()


def identity_strength(log2_bf: float) -> str:
    from passage.identity.service import evidence_strength

    return evidence_strength(log2_bf)


def _identity_query_view(case: Any) -> dict[str, Any]:
    """The case's person as the decision screen's query column."""
    from passage.identity.service import place_provinces

    return {"name": " ".join(p for p in (case.surname, case.given_names) if p), "characters": case.name_in_characters or "",
            "birth_date": case.date_of_birth or "", "birth_place": case.place_of_birth or "", "sex": case.sex or "", "id_number": case.id_number or "",
            "birth_provinces": place_provinces(case.place_of_birth) if case.place_of_birth else [],
            "photo_note": N_("photo on the case") if case.photo is not None else ""}


def _identity_index_built() -> bool:
    from passage.identity.service import index_status

    return index_status().built


@router.get("/readmission/cases/{case_id}")
def case_page(request: Request, case_id: str, db: DbSession, user: Annotated[User, require(Permission.READMISSION_READ)]) -> Response:
    return _case_page(request, db, user, case_id)


def _fail(request: Request, db: Session, user: User, case_id: str, error: PassageError, form: str) -> Response:
    db.rollback()
    if isinstance(error, NotFound):
        raise error
    return _case_page(request, db, user, case_id, error=error, status_code=error.status, open_form=form)


def _version(values: dict[str, str]) -> int:
    try:
        return int(values.get("version", ""))
    except ValueError:
        raise InvalidInput(N_("the form is incomplete"), fields=[FieldError("version", N_("required"))]) from None


@router.post("/readmission/cases/{case_id}/action")
async def case_action(request: Request, case_id: str, db: DbSession, user: Annotated[User, require(Permission.READMISSION_ACT)]) -> Response:
    form = await request.form()
    values = {k: str(v).strip() for k, v in form.items() if isinstance(v, str)}
    action = values.get("action", "")
    payload: dict[str, Any] = {k: v for k, v in values.items() if k not in {"action", "version", "csrf_token"} and v}
    try:
        if "escorts" in payload:
            # the typed text is read before the transition is tried, whatever the action (the service applies the
            # same rule again to the number, for API callers)
            payload["escorts"] = whole_number(payload["escorts"], field="escorts", maximum=service.MAX_ESCORTS)
        service.transition(db, actor=user, case_id=case_id, expected_version=_version(values), action=action, payload=payload)
    except PassageError as error:
        return _fail(request, db, user, case_id, error, action)
    return RedirectResponse(f"/readmission/cases/{case_id}", status_code=303)


@router.post("/readmission/cases/{case_id}/edit")
async def case_edit(request: Request, case_id: str, db: DbSession, user: Annotated[User, require(Permission.READMISSION_ACT)]) -> Response:
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    changes: dict[str, Any] = {}
    for name in service.APPLICATION_FIELDS:
        if name in values:
            raw = values[name].strip()
            changes[name] = ([line.strip() for line in raw.splitlines() if line.strip()] or None) if name in service.LIST_FIELDS else (raw or None)
    try:
        service.edit_application(db, actor=user, case_id=case_id, expected_version=_version(values), changes=changes, aliases_none=values.get("aliases_none") == "1")
        if values.get("alias", "").strip():
            case = service.load_case(db, actor=user, case_id=case_id)
            service.add_alias(db, actor=user, case_id=case_id, expected_version=case.version, alias=values["alias"], kind=values.get("alias_kind", "alias"))
    except PassageError as error:
        return _fail(request, db, user, case_id, error, "edit")
    return RedirectResponse(f"/readmission/cases/{case_id}", status_code=303)


@router.post("/readmission/cases/{case_id}/evidence")
async def case_upload(request: Request, case_id: str, db: DbSession, user: Annotated[User, require(Permission.READMISSION_ACT)],
                      file: Annotated[UploadFile, File()], version: Annotated[str, Form()], evidence_type: Annotated[str, Form(max_length=60)] = "", kind: Annotated[str, Form(max_length=10)] = "evidence") -> Response:
    from passage.core.settings import get_settings

    data = await file.read(get_settings().max_upload_bytes + 1)
    try:
        if kind == "photo":
            service.set_photo(db, actor=user, case_id=case_id, expected_version=_version({"version": version}), data=data, declared_media_type=file.content_type)
        else:
            service.upload_evidence(db, actor=user, case_id=case_id, expected_version=_version({"version": version}), evidence_type=evidence_type, data=data, declared_media_type=file.content_type, filename=file.filename)
    except PassageError as error:
        return _fail(request, db, user, case_id, error, "upload")
    return RedirectResponse(f"/readmission/cases/{case_id}", status_code=303)


@router.get("/readmission/cases/{case_id}/evidence/{document_id}")
def case_download(case_id: str, document_id: str, db: DbSession, user: Annotated[User, require(Permission.READMISSION_READ)]) -> Response:
    document, data = service.read_evidence(db, actor=user, case_id=case_id, document_id=document_id)
    return Response(data, media_type=document.media_type, headers={"content-disposition": f'attachment; filename="{document.id}"', "cache-control": "no-store"})


@router.post("/readmission/cases/{case_id}/safeguards")
async def case_safeguards(request: Request, case_id: str, db: DbSession, user: Annotated[User, require(Permission.READMISSION_ACT)]) -> Response:
    """Holds (place, lift) and flags (raise, clear), one form each on the case page."""
    form = await request.form()
    values = {k: str(v).strip() for k, v in form.items() if isinstance(v, str)}
    operation = values.get("operation", "")
    try:
        version = _version(values)
        if operation == "place_hold":
            service.place_hold(db, actor=user, case_id=case_id, expected_version=version, kind=values.get("kind", ""), reason=values.get("reason", ""))
        elif operation == "lift_hold":
            service.lift_hold(db, actor=user, case_id=case_id, expected_version=version, hold_id=values.get("hold_id", ""), reason=values.get("reason", ""))
        elif operation in {"set_flag", "clear_flag"}:
            service.set_flag(db, actor=user, case_id=case_id, expected_version=version, kind=values.get("kind", ""), note=values.get("note") or None, active=operation == "set_flag")
        else:
            raise InvalidInput(N_("unknown operation"), fields=[FieldError("operation", N_("place_hold, lift_hold, set_flag or clear_flag"))])
    except PassageError as error:
        return _fail(request, db, user, case_id, error, operation)
    return RedirectResponse(f"/readmission/cases/{case_id}", status_code=303)


@router.post("/readmission/cases/{case_id}/candidates")
async def case_candidate(request: Request, case_id: str, db: DbSession, user: Annotated[User, require(Permission.READMISSION_ACT, Permission.IDENTITY_DECIDE)]) -> Response:
    form = await request.form()
    values = {k: str(v).strip() for k, v in form.items() if isinstance(v, str)}
    try:
        service.decide_candidate(db, actor=user, case_id=case_id, expected_version=_version(values), verification_id=values.get("verification_id", ""), registry_id=values.get("registry_id", ""), decision=values.get("decision", ""))
    except PassageError as error:
        return _fail(request, db, user, case_id, error, "identify")
    return RedirectResponse(f"/readmission/cases/{case_id}#identify", status_code=303)


@router.post("/readmission/cases/{case_id}/identify")
async def case_identify(request: Request, case_id: str, db: DbSession, user: Annotated[User, require(Permission.READMISSION_ACT, Permission.IDENTITY_SEARCH, Permission.IDENTITY_DECIDE)]) -> Response:
    """Search the registry for the case's person; the ranked candidates are stored on the case."""
    from starlette.datastructures import UploadFile as StarletteUpload

    form = await request.form()
    values = {k: str(v).strip() for k, v in form.items() if isinstance(v, str)}
    upload = form.get("fingerprint")
    try:
        probe = None
        if isinstance(upload, StarletteUpload) and upload.filename:
            from passage.biometrics import service as biometrics
            from passage.core.settings import get_settings

            probe = biometrics.parse_upload(await upload.read(get_settings().max_upload_bytes + 1), field="fingerprint").record
        service.search_registry(db, actor=user, case_id=case_id, expected_version=_version(values), fingerprint_probe=probe)
    except PassageError as error:
        if isinstance(error, NotFound) and "identity index" in error.message:
            error = InvalidInput(N_("The registry index is not available on this server yet. An administrator can build it on the Registry index page."))
        return _fail(request, db, user, case_id, error, "identify")
    return RedirectResponse(f"/readmission/cases/{case_id}#identify", status_code=303)


@router.post("/readmission/cases/{case_id}/reroute")
async def case_reroute(request: Request, case_id: str, db: DbSession, user: Annotated[User, require(Permission.READMISSION_ACT)]) -> Response:
    """The central authority sends the case to another provincial bureau (audited, on the timeline)."""
    form = await request.form()
    values = {k: str(v).strip() for k, v in form.items() if isinstance(v, str)}
    try:
        service.reroute(db, actor=user, case_id=case_id, expected_version=_version(values), province_org_id=values.get("province_org_id", ""), reason=values.get("reason", ""))
    except PassageError as error:
        return _fail(request, db, user, case_id, error, "reroute")
    return RedirectResponse(f"/readmission/cases/{case_id}", status_code=303)


def _group_value(db: Session, request: Request, group_by: str, value: Any) -> str:
    """A statistics group as the reader reads it (agreement names and provinces in the reader's language)."""
    if not value:
        return "-"
    if group_by == "agreement_id":
        return _agreement_names(db, request).get(str(value), str(value))
    if group_by == "province":
        return label("readmission.province", value)
    return str(value)


@router.get("/readmission/statistics")
def statistics_page(
    request: Request, db: DbSession, user: Annotated[User, require(Permission.READMISSION_STATS)],
    group_by: Annotated[str, Query(max_length=20)] = "requesting_state",
    granularity: Annotated[str, Query(pattern="^(month|quarter|year)$")] = "quarter",
) -> Response:
    """Figures per agreement, requesting state, province or period, with charts and a CSV download."""
    if group_by not in statistics.GROUP_KEYS:
        group_by = "requesting_state"
    rows = statistics_table(db, user, group_by=[group_by], granularity=granularity, agreement_id=None)
    # The charts show the reader's own cases when there are any, else the disclosure-controlled figures.
    charted = [r for r in rows if r["scope"] == "own" and not r["total"]] or [r for r in rows if not r["total"]]
    chart = {
        "labels": [_group_value(db, request, group_by, r["group"].get(group_by)) for r in charted],
        "applications": [r["applications"] for r in charted], "median": [r["reply_days_median"] for r in charted], "p90": [r["reply_days_p90"] for r in charted],
        "within": [None if r["answered_within_limit_share"] is None else round(100 * r["answered_within_limit_share"], 1) for r in charted],
    }
    return render(request, "readmission/statistics.html", {"rows": rows, "group_by": group_by, "granularity": granularity, "chart_json": json.dumps(chart), "labels": LABELS, "group_keys": statistics.GROUP_KEYS,
                                                                  "agreement_names": _agreement_names(db, request)})


@router.get("/readmission/agreements")
def agreements_page(request: Request, db: DbSession, user: Annotated[User, require(Permission.AGREEMENTS_READ)]) -> Response:
    catalogue = service._catalogue(db)
    return render(request, "readmission/agreements.html", {"agreements": [(a, len(unverified_figures(a))) for a in catalogue.values()]})


@router.get("/readmission/agreements/{agreement_id}")
def agreement_page(request: Request, agreement_id: str, db: DbSession, user: Annotated[User, require(Permission.AGREEMENTS_READ)]) -> Response:
    agreement = service._catalogue(db).get(agreement_id)
    if agreement is None:
        raise NotFound(T_("agreement {agreement_id} not found", agreement_id=agreement_id))
    unverified = set(unverified_figures(agreement))
    return render(request, "readmission/agreement.html", {"agreement": agreement, "unverified": unverified, "labels": LABELS,
                                                          "unverified_words": unverified_in_words(agreement), "units": UNIT_LABELS,
                                                          "document": json.dumps(agreement.model_dump(mode="json"), ensure_ascii=False, indent=2)})


FIGURE_LABELS = {
    "effective_citation": N_("Date the version takes effect"), "readmission.clock_start_citation": N_("When the reply time starts"),
    "readmission.reply_limit": N_("Reply time limit"), "readmission.extension.limit": N_("Extension of the reply time"),
    "readmission.silence_means_acceptance": N_("Silence means acceptance"), "readmission.accelerated.reply_limit": N_("Reply time limit, accelerated procedure"),
    "readmission.accelerated.application_limit": N_("Time to apply, accelerated procedure"), "readmission.accelerated.border_region_citation": N_("Border region of the accelerated procedure"),
    "readmission.accelerated.silence_means_acceptance": N_("Silence means acceptance, accelerated procedure"), "readmission.transfer_limit": N_("Transfer time limit"),
    "transit.reply_limit": N_("Transit reply time limit"), "transit.transit_limit": N_("Time to carry out the transit"), "transit.silence_means_consent": N_("Silence means consent to transit"),
    "travel_document.validity": N_("Validity of the travel document"), "travel_document.issue_limit": N_("Time to issue the travel document"),
    "travel_document.issue_rule_citation": N_("Rule for issuing the travel document"), "travel_document.reissue_normal_limit": N_("Time to reissue the travel document"),
    "travel_document.reissue_max_limit": N_("Latest time to reissue the travel document"), "evidence_types": N_("Evidence type"),
    "data_protection.retention_after_closure": N_("How long data are kept after the case closes"), "data_protection.shared_fields_citation": N_("Data that may be shared"),
    "required_application_data_citation": N_("Data an application must contain"),
}


def unverified_in_words(agreement: Any) -> list[dict[str, Any]]:
    """Each unverified figure of an agreement as a sentence: which figure, its value, and its citation in words
    (instead of a path into the agreement's data)."""
    document = agreement.model_dump(mode="json")
    out = []
    for path in sorted(unverified_figures(agreement)):
        node: Any = document
        for part in path.split("."):
            node = node[int(part)] if isinstance(node, list) else node.get(part, {})
        parts = path.split(".")
        version = int(parts[1]) + 1 if len(parts) > 1 and parts[1].isdigit() else None
        inner = [p for p in parts[2:] if p != "citation"]
        key = ".".join(inner)
        label = FIELD_LABELS.get(key) or next((v for k, v in FIGURE_LABELS.items() if key == k or key.startswith(k + ".") or (k == "evidence_types" and key.startswith(k))), None)
        parent: Any = document
        for part in parts[:-1] if parts[-1] == "citation" else parts:
            parent = parent[int(part)] if isinstance(parent, list) else parent.get(part, {})
        value: Any = ""
        if isinstance(parent, dict) and "value" in parent:
            value = parent["value"]
        elif isinstance(parent, dict) and "label" in parent:
            value = in_language(parent["label"], parent.get("translations"), "label")
        unit = parent.get("unit") if isinstance(parent, dict) else None
        translations = node.get("translations")
        out.append({"version": version, "label": label or key.replace("_", " ").replace(".", " · "), "value": value, "unit": unit,
                    "span": describe_span(int(value), unit) if unit and isinstance(value, int) else None,
                    "source": in_language(node.get("source", ""), translations, "source"), "article": in_language(node.get("article", ""), translations, "article"),
                    "note": in_language(node.get("note", ""), translations, "note")})
    return out


def home_panel(session: Session, user: User) -> HomePanel | None:
    """The user's cases needing action, overdue first."""
    from passage.security.permissions import permissions_for

    if Permission.READMISSION_READ not in permissions_for(user.role_set):
        return None
    rows, total, flags = service.list_cases(session, actor=user, filters=service.CaseFilter(needs_action=True, sort="due", limit=6), audit_list=False, with_person=False)
    from passage.core.i18n import format_number, gettext

    items = []
    for case in rows:
        info = flags[case.id]
        note = gettext(STATE_LABELS.get(case.state, case.state))
        if info["overdue"]:
            note += " · " + gettext(N_("Overdue"))
        elif info["soon"]:
            note += " · " + gettext(N_("Due within 3 days"))
        items.append(PanelItem(label=case.reference, href=f"/readmission/cases/{case.id}", note=note))
    shown = gettext(N_("about {count}")).format(count=format_number(total.value)) if total.estimated else format_number(total.value)
    return HomePanel(title=gettext(N_("Readmission cases needing your action")) + f" ({shown})", items=items, more_href="/readmission?mine=1", order=10)


RECORD_PATHS = {"agreement": "/readmission/agreements/{id}", "case": "/readmission/cases/{id}"}
"""Pages of this module's records, for links from other modules (the Dialogue's follow-up actions)."""

AUDIT_ACTION_LABELS = {f"readmission.{key}": label for key, label in ACTION_LABELS.items()} | {
    "readmission.duplicate_check": N_("Duplicate check at intake"),
    "readmission.duplicate_overridden": N_("Case opened although a possible duplicate was shown"), "readmission.rebuild_blind_index": N_("Search index of cases rebuilt"),
}
"""Audit-log actions of this module in words (read by the audit log page)."""


def audit_record_labels(session: Session, wanted: dict[str, set[str]]) -> dict[tuple[str, str], str]:
    """Case references for the audit log's record column."""
    from passage.readmission.models import ReadmissionCase

    ids = wanted.get("readmission_case", set())
    if not ids:
        return {}
    return {("readmission_case", case_id): reference for case_id, reference in session.execute(
        select(ReadmissionCase.id, ReadmissionCase.reference).where(ReadmissionCase.id.in_(ids)))}


def audit_record_id(session: Session, label: str) -> str | None:
    """A case reference typed in the audit log's record filter, as the case id."""
    from passage.readmission.models import ReadmissionCase

    return session.scalar(select(ReadmissionCase.id).where(ReadmissionCase.reference == label.strip().upper()))
