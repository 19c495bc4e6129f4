"""Sign-in with a second factor, sign-out, user administration and the audit log viewer."""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from passage.core.deps import DbSession
from passage.core.errors import FieldError, Forbidden, NotAuthenticated, PassageError
from passage.core.files import csv_writer
from passage.core.i18n import N_, gettext, label, label_domains
from passage.core.settings import get_settings
from passage.security import audit, service
from passage.security.deps import PUBLIC, SESSION_COOKIE, client_address, require
from passage.security.models import Organisation, Role, User, WebSession
from passage.security.permissions import Permission, requires_second_factor
from passage.security.schemas import PageNumber
from passage.web.templating import NavItem, render, safe_next

router = APIRouter(include_in_schema=False)

NAV = [
    NavItem(N_("Users"), "/admin/users", Permission.USERS_READ, order=90),
    NavItem(N_("Role grants"), "/admin/role-grants", Permission.USERS_READ, order=91),
    NavItem(N_("Audit log"), "/admin/audit", Permission.AUDIT_READ, order=92),
]

LOGIN_CSRF_COOKIE = "passage_login_csrf"


def _set_session_cookie(response: Response, token: str) -> None:
    settings = get_settings()
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="lax", secure=settings.secure_cookies,
        max_age=settings.session_absolute_hours * 3600,
    )


@router.get("/login", dependencies=[PUBLIC])
def login_page(request: Request, next: Annotated[str | None, Query()] = None) -> Response:  # noqa: A002
    token = secrets.token_urlsafe(24)
    response = render(request, "security/login.html", {"next": safe_next(next), "login_csrf": token, "error": None})
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=get_settings().secure_cookies)
    return response


@router.post("/login", dependencies=[PUBLIC])
def login_submit(
    request: Request,
    db: DbSession,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=500)],
    login_csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",  # noqa: A002
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, login_csrf):
        return render(request, "security/login.html", {"next": safe_next(next), "login_csrf": expected, "error": N_("The form expired; please try again.")}, status_code=400)
    client = client_address(request)
    try:
        check = service.check_password(db, username=username, password=password, client=client)
    except PassageError as exc:
        db.rollback()
        service.record_login_failure(db, username=username, reason=exc.code, client=client)
        db.commit()
        refused = render(request, "security/login.html", {"next": safe_next(next), "login_csrf": expected, "error": exc.message}, status_code=exc.status)
        if "retry_after" in exc.extra:
            refused.headers["retry-after"] = str(exc.extra["retry_after"])
        return refused
    needs_factor = check.second_factor_required
    token, web_session = service.start_web_session(db, user=check.user, second_factor_passed=not needs_factor)
    if not needs_factor:
        service.login_succeeded(db, user=check.user, channel="web", client=client)
        target = safe_next(next)
    elif check.user.totp_secret:
        target = f"/login/second-factor?next={safe_next(next)}"
    else:
        web_session.pending_totp_secret = service.new_totp_secret()
        target = f"/login/enrol?next={safe_next(next)}"
    response = RedirectResponse(target, status_code=303)
    _set_session_cookie(response, token)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


def _half_signed_in(request: Request, db: DbSession, *, csrf_token: str | None = None) -> tuple[User, WebSession]:
    """The user between password and second factor; with `csrf_token`, also checks the form's token."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise NotAuthenticated(N_("sign in first"))
    user, web_session = service.user_for_web_session(db, token=cookie)
    if csrf_token is not None and not hmac.compare_digest(csrf_token, web_session.csrf_token):
        raise NotAuthenticated(N_("the form expired; sign in again"))
    return user, web_session


def _enrol_page(request: Request, user: User, web_session: WebSession, next_path: str, error: str | None, status_code: int = 200) -> Response:
    secret = web_session.pending_totp_secret
    if not secret:
        raise NotAuthenticated(N_("sign in again to enrol a second factor"))
    uri = f"otpauth://totp/Passage:{user.username}?secret={secret}&issuer=Passage"
    qr_svg = segno.make(uri, error="m").svg_inline(scale=4)
    context = {"next": safe_next(next_path), "csrf_token": web_session.csrf_token, "secret": secret, "qr_svg": qr_svg, "error": error}
    return render(request, "security/enrol.html", context, status_code=status_code)


@router.get("/login/second-factor", dependencies=[PUBLIC])
def second_factor_page(request: Request, db: DbSession, next: Annotated[str | None, Query()] = None) -> Response:  # noqa: A002
    user, web_session = _half_signed_in(request, db)
    return render(request, "security/second_factor.html", {"next": safe_next(next), "csrf_token": web_session.csrf_token, "error": None})


def _complete_second_factor(request: Request, db: DbSession, user: User, web_session: WebSession, next_path: str) -> Response:
    service.end_web_session(db, token=request.cookies.get(SESSION_COOKIE, ""))
    # A fresh session token once fully signed in (no session fixation, ASVS 4.0.3 V3.2.1).
    token, _ = service.start_web_session(db, user=user, second_factor_passed=True)
    service.login_succeeded(db, user=user, channel="web", client=client_address(request))
    response = RedirectResponse(safe_next(next_path), status_code=303)
    _set_session_cookie(response, token)
    return response


@router.post("/login/second-factor", dependencies=[PUBLIC])
def second_factor_submit(
    request: Request,
    db: DbSession,
    code: Annotated[str, Form(max_length=12)],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",  # noqa: A002
) -> Response:
    user, web_session = _half_signed_in(request, db, csrf_token=csrf_token)
    if web_session.second_factor_passed:
        return RedirectResponse(safe_next(next), status_code=303)
    client = client_address(request)
    context = {"next": safe_next(next), "csrf_token": csrf_token}
    try:
        # The back-off of this account and address, and the account's second-factor lock, apply here too.
        accepted = service.use_second_factor(db, user=user, code=code.strip(), client=client)
    except PassageError as exc:
        refused = render(request, "security/second_factor.html", {**context, "error": exc.message}, status_code=exc.status)
        if "retry_after" in exc.extra:
            refused.headers["retry-after"] = str(exc.extra["retry_after"])
        return refused
    if not accepted:
        username, session_hash = user.username, web_session.token_hash
        db.rollback()
        service.record_login_failure(db, username=username, reason="second_factor", client=client, second_factor=True)
        ended = service.record_second_factor_failure(db, web_session_hash=session_hash)
        db.commit()
        if ended:
            response = RedirectResponse("/login", status_code=303)
            response.delete_cookie(SESSION_COOKIE)
            return response
        return render(request, "security/second_factor.html", {**context, "error": N_("The code is not valid. Check the time on your device and try again.")}, status_code=401)
    return _complete_second_factor(request, db, user, web_session, next)


@router.get("/login/enrol", dependencies=[PUBLIC])
def enrol_page(request: Request, db: DbSession, next: Annotated[str | None, Query()] = None) -> Response:  # noqa: A002
    user, web_session = _half_signed_in(request, db)
    return _enrol_page(request, user, web_session, next or "/", None)


@router.post("/login/enrol", dependencies=[PUBLIC])
def enrol_submit(
    request: Request,
    db: DbSession,
    code: Annotated[str, Form(max_length=12)],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",  # noqa: A002
) -> Response:
    user, web_session = _half_signed_in(request, db, csrf_token=csrf_token)
    secret = web_session.pending_totp_secret
    if not secret:
        raise NotAuthenticated(N_("sign in again to enrol a second factor"))
    try:
        service.enrol_second_factor(db, user=user, secret=secret, code=code.strip())
    except PassageError:
        return _enrol_page(request, user, web_session, next, N_("The code does not match. Check the time on your device and try again."), status_code=422)
    return _complete_second_factor(request, db, user, web_session, next)


@router.post("/logout", dependencies=[PUBLIC])
def logout(request: Request, db: DbSession, csrf_token: Annotated[str, Form()] = "") -> Response:
    """End the session. The form's CSRF token (or the X-CSRF-Token header) must match the session's, so that
    another site cannot sign a user out (ASVS 4.0.3 V4.2.2)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        supplied = request.headers.get("x-csrf-token") or csrf_token
        try:
            _, web_session = service.user_for_web_session(db, token=cookie)
        except NotAuthenticated:
            web_session = None
        if web_session is not None:
            if not supplied or not hmac.compare_digest(supplied, web_session.csrf_token):
                raise Forbidden(N_("the form is stale or forged (CSRF check failed); reload the page and try again"))
            service.end_web_session(db, token=cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# --- administration ----------------------------------------------------------------------------------

PAGE_SIZE = 25


@router.get("/admin/users")
def users_page(
    request: Request,
    db: DbSession,
    user: Annotated[User, require(Permission.USERS_READ)],
    q: Annotated[str | None, Query(max_length=100)] = None,
    page: PageNumber = 1,
) -> Response:
    rows, total = service.list_users(db, actor=user, q=q, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    organisations = service.administered_organisation_ids(db, actor=user)
    org_choices = db.scalars(select(Organisation).where(Organisation.id.in_(organisations)).order_by(Organisation.name)).all()
    return render(request, "security/users.html", {
        "users": rows, "q": q or "", "page": page, "pages": max(1, -(-total // PAGE_SIZE)), "total": total,
        "organisations": org_choices, "roles": list(Role), "error": None,
    })


@router.post("/admin/users")
def users_create(
    request: Request,
    db: DbSession,
    user: Annotated[User, require(Permission.USERS_MANAGE)],
    username: Annotated[str, Form()],
    display_name: Annotated[str, Form()],
    organisation_id: Annotated[str, Form()],
    password: Annotated[str, Form()],
    roles: Annotated[list[str], Form()],
) -> Response:
    from pydantic import ValidationError

    from passage.security.schemas import UserCreate

    try:
        body = UserCreate(username=username, display_name=display_name, organisation_id=organisation_id, password=password, roles=roles)  # type: ignore[arg-type]
    except ValidationError as exc:
        messages = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise PassageError(f"the new user is not valid: {messages}") from None
    service.create_user(db, actor=user, **body.model_dump())
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/{user_id}/disable")
def users_disable(user_id: str, db: DbSession, user: Annotated[User, require(Permission.USERS_MANAGE)]) -> Response:
    service.disable_user(db, actor=user, user_id=user_id)
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/{user_id}/enable")
def users_enable(user_id: str, db: DbSession, user: Annotated[User, require(Permission.USERS_MANAGE)]) -> Response:
    service.enable_user(db, actor=user, user_id=user_id)
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/admin/role-grants")
def role_grants_page(
    request: Request,
    db: DbSession,
    user: Annotated[User, require(Permission.USERS_READ)],
    page: PageNumber = 1,
) -> Response:
    """Pending requests to give roles that see personal data: a second administrator approves or rejects each
    (four eyes); the administrator who asked, and the user concerned, see the request without the buttons."""
    rows, total = service.list_role_grants(db, actor=user, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    people_ids = {r.user_id for r in rows} | {r.requested_by for r in rows}
    people = {p.id: p for p in db.scalars(select(User).where(User.id.in_(people_ids)))} if people_ids else {}
    return render(request, "security/role_grants.html", {
        "grants": rows, "people": people, "page": page, "pages": max(1, -(-total // PAGE_SIZE)), "total": total,
    })


@router.post("/admin/role-grants/{request_id}/approve")
def role_grant_approve(request_id: str, db: DbSession, user: Annotated[User, require(Permission.USERS_MANAGE)]) -> Response:
    service.decide_role_grant(db, actor=user, request_id=request_id, approve=True)
    return RedirectResponse("/admin/role-grants", status_code=303)


@router.post("/admin/role-grants/{request_id}/reject")
def role_grant_reject(request_id: str, db: DbSession, user: Annotated[User, require(Permission.USERS_MANAGE)]) -> Response:
    service.decide_role_grant(db, actor=user, request_id=request_id, approve=False)
    return RedirectResponse("/admin/role-grants", status_code=303)


AUDIT_PAGE = 50
AUDIT_CSV_MAX = 100_000
ENTITY_WORDS = {
    "api_token": N_("API token"),
    "audit_log": N_("Audit log"),
    "avrr_assistance": N_("AVRR assistance"),
    "avrr_case": N_("AVRR case"),
    "avrr_cohort_report": N_("AVRR cohort report"),
    "avrr_consent": N_("AVRR consent"),
    "avrr_cost": N_("AVRR cost"),
    "avrr_forced_return_cost": N_("Forced-return cost"),
    "avrr_monitoring_round": N_("AVRR monitoring round"),
    "avrr_readmission_link": N_("AVRR link to a readmission case"),
    "avrr_reintegration_survey": N_("Reintegration survey"),
    "avrr_statistics": N_("AVRR statistics"),
    "avrr_tranche": N_("AVRR tranche"),
    "biometric_template": N_("Fingerprint template"),
    "consular_assembly_point": N_("Assembly point"),
    "consular_crisis": N_("Consular crisis"),
    "consular_crisis_contact": N_("Crisis contact"),
    "consular_crisis_people": N_("People affected by a crisis"),
    "consular_district": N_("Consular district"),
    "consular_help_request": N_("Request for consular help"),
    "consular_location_history": N_("Location history"),
    "consular_manifest": N_("Passenger manifest"),
    "consular_outbox": N_("Outgoing messages"),
    "consular_registration": N_("Consular registration"),
    "consular_safety_advice": N_("Safety advice"),
    "consular_seat": N_("Seat"),
    "consular_statistics": N_("Consular statistics"),
    "consular_transport_leg": N_("Transport leg"),
    "dialogue_attendance_statement": N_("Attendance statement"),
    "dialogue_evaluation": N_("Dialogue evaluation"),
    "dialogue_event": N_("Dialogue event"),
    "dialogue_focal_point": N_("Focal point"),
    "dialogue_follow_up": N_("Follow-up action"),
    "dialogue_institution": N_("Institution"),
    "dialogue_institution_attendance": N_("Institution attendance"),
    "dialogue_opening_remark": N_("Opening remarks"),
    "dialogue_outcome": N_("Dialogue outcome"),
    "dialogue_participant": N_("Participant"),
    "dialogue_participant_contact": N_("Participant contact details"),
    "dialogue_participation": N_("Participation"),
    "dialogue_session": N_("Dialogue session"),
    "dtm_admin_areas": N_("DTM administrative areas"),
    "dtm_baseline_assessment": N_("DTM baseline assessment"),
    "dtm_flow_counts": N_("DTM flow counts"),
    "dtm_flow_monitoring": N_("DTM flow monitoring"),
    "dtm_location": N_("DTM location"),
    "dtm_round": N_("DTM round"),
    "dtm_site_assessment": N_("DTM site assessment"),
    "form_version": N_("Form version"),
    "forms_import_batch": N_("Form import batch"),
    "forms_quarantine": N_("Quarantined submissions"),
    "forms_quarantine_entry": N_("Quarantined submission"),
    "forms_submission": N_("Form submission"),
    "identity_registry": N_("Registry"),
    "key_ring": N_("Encryption keys"),
    "mobility_dataset": N_("Mobility dataset"),
    "mobility_run": N_("Mobility analysis run"),
    "organisation": N_("Organisation"),
    "readmission_agreement": N_("Readmission agreement"),
    "readmission_calendar_notice": N_("Holiday notice"),
    "readmission_case": N_("Readmission case"),
    "readmission_evidence_document": N_("Evidence document"),
    "readmission_statistics": N_("Readmission statistics"),
    "role_grant_request": N_("Role-grant request"),
    "route": N_("Page"),
    "session": N_("Sign-in session"),
    "user": N_("User"),
}
"""Every record type the audit log names (the modules' `entity_type`s), in words."""
DETAIL_WORDS = {
    "fields": N_("fields"), "count": N_("rows"), "offset": N_("from row"), "search": N_("searched by"), "cases": N_("cases"), "candidates": N_("candidates"),
    "decision": N_("decision"), "agreement": N_("agreement"), "version": N_("version"), "action": N_("action"), "from": N_("from"), "to": N_("to"),
    "effects": N_("effects"), "operation": N_("operation"), "reason": N_("reason"), "from_province": N_("from bureau"), "to_province": N_("to bureau"),
    "verification_id": N_("verification"), "rank": N_("rank"), "closed_others": N_("other candidates closed"), "top": N_("candidates asked"),
    "batch_id": N_("batch"), "by_language": N_("by language"), "category": N_("category"), "channel": N_("channel"), "crisis_id": N_("crisis"),
    "kind": N_("kind"), "leg_id": N_("transport leg"), "messages": N_("messages"), "method": N_("method"), "missing": N_("missing permission"),
    "mission_id": N_("mission"), "mode": N_("mode of transport"), "officer_id": N_("officer"), "organisation_id": N_("organisation"), "outcome": N_("outcome"),
    "people": N_("people"), "placed": N_("placed"), "registration_id": N_("registration"), "seats": N_("seats"), "status": N_("status"),
    "unplaced": N_("not placed"), "urgency": N_("urgency"), "path": N_("page"), "role": N_("role"), "roles": N_("roles"), "username": N_("user name"),
    "records": N_("records"), "rows": N_("rows"), "format": N_("format"), "person_id": N_("person"), "probe_id": N_("probe"), "template_ids": N_("templates"),
    "candidate_person_ids": N_("candidate persons"), "candidate_template_ids": N_("candidate templates"), "usable": N_("usable"), "threshold": N_("threshold"),
    "gallery_size": N_("gallery size"), "group_by": N_("grouped by"), "own_cases": N_("own cases"), "state": N_("state"), "requesting": N_("requesting state"),
    "reference_id": N_("reference"), "focal_point_ids": N_("focal points"), "email": N_("e-mail"), "phone": N_("telephone"), "primary": N_("primary"),
    "secondary": N_("secondary"), "consent_id": N_("consent"), "case_id": N_("case"), "event_id": N_("event"), "dataset_id": N_("dataset"),
    "source": N_("source"), "form_id": N_("form"), "programme_id": N_("programme"), "system_job": N_("system job"), "currency": N_("currency"),
    "evidence_type": N_("evidence type"), "answered": N_("answered"), "consent": N_("consent"), "purpose": N_("purpose"), "item_id": N_("item"),
    "document_id": N_("document"), "submission_id": N_("submission"), "participant_id": N_("participant"), "speaker_ids": N_("speakers"),
    "component": N_("component"), "form_key": N_("form"), "alias_id": N_("alias"), "institution_id": N_("institution"), "sha256": N_("checksum (SHA-256)"),
    "accepted": N_("accepted"), "added": N_("added"), "already_recorded": N_("already recorded"),
    "amount": N_("amount"), "analysis": N_("analysis"), "by_level": N_("by level"), "by_person": N_("by person"),
    "chair_id": N_("chair"), "checks": N_("checks"), "consent_to_list": N_("consent to be listed"),
    "contact_fields": N_("contact fields"), "country": N_("country"), "created": N_("created"),
    "duplicate_of_id": N_("duplicate of"), "duplicate_status": N_("duplicate status"), "duplicates": N_("duplicates"),
    "engine": N_("engine"), "hold_id": N_("hold"), "image_kept": N_("image kept"), "in_area": N_("in the area"),
    "level": N_("level"), "linked_type": N_("linked record type"), "links_ended": N_("links ended"),
    "listed": N_("listed"), "members": N_("members"), "names_recorded": N_("names recorded"),
    "not_stored": N_("not stored"), "number": N_("number"), "outcome_id": N_("outcome"),
    "parameters": N_("parameters"), "quarantined": N_("quarantined"),
    "quarantined_by_reason": N_("quarantined by reason"), "questions": N_("questions"),
    "readmission_case_id": N_("readmission case"), "reason_stated": N_("reason stated"), "record_ref": N_("record"),
    "recorded": N_("recorded"), "registrations": N_("registrations"), "responses": N_("responses"),
    "returnees": N_("returnees"), "round": N_("round"), "rows_kept": N_("rows kept"),
    "rows_published": N_("rows published"), "rows_read": N_("rows read"), "run_id": N_("run"), "size": N_("size"),
    "speaker_id": N_("speaker"), "tranche": N_("tranche"), "tranches": N_("tranches"), "type": N_("type"),
    "updated": N_("updated"), "values_redacted": N_("values withheld"), "variants_added": N_("variants added"),
}
VALUE_WORDS = {
    "accident": N_("accident"), "crime_victim": N_("victim of crime"), "detention": N_("detention"), "lost_documents": N_("lost documents"),
    "missing_person": N_("missing person"), "natural_disaster": N_("natural disaster"), "app": N_("app"), "hotline": N_("hotline"), "partner": N_("partner"),
    "walk_in": N_("in person"), "web": N_("website"), "alert": N_("alert"), "bus": N_("bus"), "charter_flight": N_("charter flight"), "ship": N_("ship"),
    "assigned": N_("assigned"), "critical": N_("critical"), "high": N_("high"), "medium": N_("medium"), "low": N_("low"), "permission": N_("permission"),
    "ok": N_("ok"), "failed": N_("failed"), "refused": N_("refused"), "confirmed": N_("confirmed"), "rejected": N_("rejected"), "side": N_("side"), "state": N_("state"),
    "email": N_("e-mail"), "phone": N_("telephone"), "sms": N_("text message"), "post": N_("post"),
}
"""Stored codes that appear as audit detail values, in words."""
CODE_VALUE = re.compile(r"[a-z][a-z0-9]*(?:[:_.][a-z0-9_]+)+")
"""A detail value that is still a code (a permission such as `readmission:read`): shown as code."""


def _module_hooks(name: str) -> list[object]:
    """A value every module's views may define (e.g. `AUDIT_ACTION_LABELS`), in module order."""
    import importlib
    import importlib.util

    from passage import MODULES

    found = []
    for module in MODULES:
        if importlib.util.find_spec(f"passage.{module}") is None or importlib.util.find_spec(f"passage.{module}.views") is None:
            continue
        value = getattr(importlib.import_module(f"passage.{module}.views"), name, None)
        if value is not None:
            found.append(value)
    return found


ACTION_WORDS = {
    "add_alias": N_("Alias added"),
    "apply_plan": N_("Plan applied"),
    "approve_role_grant": N_("Role grant approved"),
    "assign": N_("Assigned"),
    "assign_seat": N_("Seat assigned"),
    "backup": N_("Backed up"),
    "batch": N_("Batch run"),
    "candidate_confirmed": N_("Candidate confirmed"),
    "candidate_rejected": N_("Candidate rejected"),
    "checkpoint": N_("Checkpoint set"),
    "close": N_("Closed"),
    "complete": N_("Completed"),
    "consent": N_("Consent recorded"),
    "consent_withdrawn": N_("Consent withdrawn"),
    "contact_status": N_("Contact status recorded"),
    "create": N_("Created"),
    "dedupe": N_("Duplicates searched"),
    "deem_accepted": N_("Deemed accepted"),
    "demo_load": N_("Demo data loaded"),
    "disable": N_("Disabled"),
    "disburse": N_("Paid out"),
    "drop_images": N_("Images deleted"),
    "duplicate_check": N_("Duplicate check"),
    "edit": N_("Edited"),
    "enable": N_("Enabled"),
    "enrol": N_("Enrolled"),
    "enrol_second_factor": N_("Second factor enrolled"),
    "erase": N_("Erased"),
    "evacuation_arrived": N_("Arrived after evacuation"),
    "evacuation_boarded": N_("Boarded for evacuation"),
    "evacuation_checked_in": N_("Checked in for evacuation"),
    "evidence": N_("Evidence opened"),
    "export": N_("Exported"),
    "fail": N_("Failed"),
    "generate_messages": N_("Messages generated"),
    "image": N_("Image opened"),
    "import": N_("Imported"),
    "lift_hold": N_("Hold lifted"),
    "link": N_("Linked"),
    "list": N_("Listed"),
    "load": N_("Loaded"),
    "login": N_("Signed in"),
    "logout": N_("Signed out"),
    "match": N_("Matched"),
    "place_hold": N_("Hold placed"),
    "plan": N_("Planned"),
    "publish": N_("Published"),
    "pull": N_("Pulled"),
    "read": N_("Opened"),
    "rebuild_index": N_("Index rebuilt"),
    "recompute_deadlines": N_("Deadlines recomputed"),
    "record_candidates": N_("Registry candidates recorded"),
    "record_figures": N_("Figures recorded"),
    "record_flows": N_("Flows recorded"),
    "refresh_affected": N_("Affected people refreshed"),
    "refused": N_("Refused"),
    "release_seat": N_("Seat released"),
    "report": N_("Report produced"),
    "request_contact": N_("Contact requested"),
    "request_role_grant": N_("Role grant requested"),
    "reroute": N_("Re-routed"),
    "resolve_duplicate": N_("Duplicate resolved"),
    "restore": N_("Restored"),
    "retention.run": N_("Retention run"),
    "retention_erase": N_("Erased after retention"),
    "revalidate": N_("Checked again"),
    "revoke": N_("Revoked"),
    "revoke_token": N_("Token revoked"),
    "rotate_blind_index_key": N_("Search-index key rotated"),
    "rotate_keys": N_("Keys rotated"),
    "search": N_("Searched"),
    "set_photo": N_("Photo added"),
    "statistics": N_("Statistics viewed"),
    "submit": N_("Submitted"),
    "transition": N_("State changed"),
    "triage": N_("Triaged"),
    "update": N_("Changed"),
    "update_location": N_("Location updated"),
    "upload_evidence": N_("Evidence uploaded"),
    "verify": N_("Verified"),
    "withdraw": N_("Withdrawn"),
    "skip": N_("Sequence number not used (rolled back)"),
}
"""The audit actions every module records (a module's views may name its own with `AUDIT_ACTION_LABELS`)."""


def _action_words() -> dict[str, str]:
    words: dict[str, str] = dict(ACTION_WORDS)
    for table in _module_hooks("AUDIT_ACTION_LABELS"):
        words.update(table)  # type: ignore[call-overload]
    return words


def _labels(db: Session, entries: list[Any]) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Usernames of the actors, and a label (reference, username, name) for each record the modules can name."""
    user_ids = {e.actor_user_id for e in entries if e.actor_user_id}
    users = {u.id: u.username for u in db.scalars(select(User).where(User.id.in_(user_ids)))} if user_ids else {}
    wanted: dict[str, set[str]] = {}
    for e in entries:
        if e.entity_id:
            wanted.setdefault(e.entity_type, set()).add(e.entity_id)
    records: dict[tuple[str, str], str] = {}
    if wanted.get("user"):
        records |= {("user", u.id): u.username for u in db.scalars(select(User).where(User.id.in_(wanted["user"])))}
    if wanted.get("organisation"):
        records |= {("organisation", o.id): o.local_name for o in db.scalars(select(Organisation).where(Organisation.id.in_(wanted["organisation"])))}
    for labeller in _module_hooks("audit_record_labels"):
        records |= labeller(db, wanted)  # type: ignore[operator]
    return users, records


def _registered_label(code: str) -> str | None:
    """The English word for a stored code that some module registered in a label domain (`i18n.define_labels`:
    states, stages, fields, kinds…), or None. The audit log holds every module's codes; this names them without
    copying each module's tables here."""
    if not code.islower() or (not CODE_VALUE.fullmatch(code) and not code.isalpha()):
        return None
    for entries in label_domains().values():
        if code in entries:
            return entries[code]
    return None


def _value_in_words(value: Any, known_ids: dict[str, str], *, quote_verbatim: bool = False) -> str:
    """One detail value as the reader reads it: a known id as its label, a stored code as its word (`VALUE_WORDS`),
    a language code as the language's name, a number in the locale's format. Anything else is the value as stored
    (a field's code, a name someone typed): with `quote_verbatim` (the CSV export, which has no markup) it is
    quoted `like this`, so that a reader sees it is not Passage's words."""
    from passage.core.i18n import format_language, gettext, localise

    if isinstance(value, bool):
        return gettext(N_("yes")) if value else gettext(N_("no"))
    if isinstance(value, (int, float)):
        return localise(value)
    text = str(value)
    if text in known_ids:
        return known_ids[text]
    if text in VALUE_WORDS:
        return gettext(VALUE_WORDS[text])
    worded = _registered_label(text)
    if worded is not None:
        return gettext(worded)
    if text in ("en", "zh", "zh_Hans", "fr", "nl", "de"):
        return format_language(text.split("_")[0])
    return f"`{text}`" if quote_verbatim and re.search(r"[A-Za-z]", text) else text


def _details_in_words(details: dict[str, Any], users: dict[str, str], records: dict[tuple[str, str], str], *,
                      quote_verbatim: bool = False) -> list[tuple[str, str, bool]]:
    """Each detail as (label, value in words, whether the value is a code to show as code); ids become labels where
    known, lists are joined, stored codes and languages are put in words."""
    from passage.core.i18n import gettext

    known_ids = {rid: label for (_, rid), label in records.items()} | users
    out = []
    def words(value: Any) -> str:
        return _value_in_words(value, known_ids, quote_verbatim=quote_verbatim)

    for key, value in details.items():
        if isinstance(value, list):
            text = ", ".join(words(v) for v in value) or "—"
        elif isinstance(value, dict):
            text = "; ".join(f"{words(k)}: {words(v)}" for k, v in value.items())
        elif value is None:
            text = "—"
        else:
            text = words(value)
        is_code = bool(text) and all(CODE_VALUE.fullmatch(part) for part in text.split(", "))
        out.append((gettext(DETAIL_WORDS[key]) if key in DETAIL_WORDS else key.replace("_", " "), text, is_code))
    return out


def _audit_filters(db: Session, user_name: str | None, record: str | None, since: str | None, until: str | None) -> tuple[dict[str, Any], list[FieldError]]:
    """Read the filter form: a username, a record's label or id, a date range (YYYY-MM-DD)."""
    problems: list[FieldError] = []
    parsed: dict[str, Any] = {"actor_user_id": None, "entity_id": None, "since": None, "until": None}
    if user_name:
        found = db.scalar(select(User.id).where(User.username == user_name.strip()))
        if found is None:
            problems.append(FieldError("user", N_("no user with this name")))
        parsed["actor_user_id"] = found or "-"
    if record:
        resolved = record.strip()
        for resolver in _module_hooks("audit_record_id"):
            resolved = resolver(db, resolved) or resolved  # type: ignore[operator]
        parsed["entity_id"] = resolved
    for name, raw in (("since", since), ("until", until)):
        if raw:
            try:
                parsed[name] = dt.date.fromisoformat(raw)
            except ValueError:
                problems.append(FieldError(name, N_("a date such as 2026-12-07")))
    if parsed["since"] and parsed["until"] and parsed["since"] > parsed["until"]:
        problems.append(FieldError("until", N_("the end date is before the start date")))
    return parsed, problems


@router.get("/admin/audit")
def audit_page(
    request: Request,
    db: DbSession,
    user: Annotated[User, require(Permission.AUDIT_READ)],
    action: Annotated[str | None, Query(max_length=60)] = None,
    entity_type: Annotated[str | None, Query(max_length=60)] = None,
    outcome: Annotated[str | None, Query(max_length=20)] = None,
    actor: Annotated[str | None, Query(max_length=80)] = None,
    record: Annotated[str | None, Query(max_length=80)] = None,
    since: Annotated[str | None, Query(max_length=10)] = None,
    until: Annotated[str | None, Query(max_length=10)] = None,
    page: PageNumber = 1,
    verify: Annotated[bool, Query()] = False,
) -> Response:
    """The audit log with usernames, record labels and details in words; filters by user, dates, action and record."""
    parsed, problems = _audit_filters(db, actor, record, since, until)
    rows: list[Any] = []
    total = 0
    if not problems:
        rows, total = service.list_audit_entries(
            db, actor=user, action=action or None, entity_type=entity_type or None, outcome=outcome or None,
            offset=(page - 1) * AUDIT_PAGE, limit=AUDIT_PAGE, **parsed,
        )
    report = audit.verify_chain(db) if verify else None
    users, records = _labels(db, rows)
    actions, types = service.audit_filter_choices(db)
    filters = {"action": action or "", "entity_type": entity_type or "", "outcome": outcome or "", "actor": actor or "", "record": record or "",
               "since": since or "", "until": until or ""}
    return render(request, "security/audit.html", {
        "entries": [{"e": e, "user": users.get(e.actor_user_id or "", e.actor_user_id and N_("unknown user") or N_("system")),
                     "record": records.get((e.entity_type, e.entity_id or ""), e.entity_id or ""), "details": _details_in_words(e.details or {}, users, records)}
                    for e in rows],
        "total": total, "page": page, "pages": max(1, -(-total // AUDIT_PAGE)), "report": report, "filters": filters, "query": {k: v for k, v in filters.items() if v},
        "actions": actions, "types": types, "action_words": _action_words(), "entity_words": ENTITY_WORDS, "problems": problems,
        "usernames": sorted(db.scalars(select(User.username))),
    }, status_code=422 if problems else 200)


AUDIT_CSV_HEADERS = (N_("Sequence"), N_("Time (UTC)"), N_("User"), N_("Action"), N_("Record type"), N_("Record"), N_("Record id"), N_("Outcome"),
                     N_("Details"), N_("Entry hash"))


@router.get("/admin/audit.csv")
def audit_csv(
    db: DbSession,
    user: Annotated[User, require(Permission.AUDIT_READ)],
    action: Annotated[str | None, Query(max_length=60)] = None,
    entity_type: Annotated[str | None, Query(max_length=60)] = None,
    outcome: Annotated[str | None, Query(max_length=20)] = None,
    actor: Annotated[str | None, Query(max_length=80)] = None,
    record: Annotated[str | None, Query(max_length=80)] = None,
    since: Annotated[str | None, Query(max_length=10)] = None,
    until: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    """The filtered log as CSV for oversight bodies (at most 100,000 rows; the export is itself audited)."""
    import io

    from passage.core.errors import InvalidInput

    parsed, problems = _audit_filters(db, actor, record, since, until)
    if problems:
        raise InvalidInput(N_("the filters are not valid"), fields=problems)
    rows, _ = service.list_audit_entries(db, actor=user, action=action or None, entity_type=entity_type or None, outcome=outcome or None,
                                         offset=0, limit=AUDIT_CSV_MAX, audit_as="export", **parsed)
    users, records = _labels(db, rows)
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    # the reader's language: headers, actions, record types and outcomes in words (the codes stay in the API)
    writer.writerow([gettext(h) for h in AUDIT_CSV_HEADERS])
    action_words = _action_words()
    for e in rows:
        # a value as stored (a field's code, a name someone typed) is quoted `like this`: a spreadsheet has no markup
        details = "; ".join(f"{label}: {text}" for label, text, _code in _details_in_words(e.details or {}, users, records, quote_verbatim=True))
        cells = [str(e.sequence), e.occurred_at.strftime("%Y-%m-%d %H:%M:%S"), users.get(e.actor_user_id or "", e.actor_user_id or gettext(N_("system"))),
                 gettext(action_words[e.action]) if e.action in action_words else e.action,
                 gettext(ENTITY_WORDS[e.entity_type]) if e.entity_type in ENTITY_WORDS else e.entity_type.replace("_", " "),
                 records.get((e.entity_type, e.entity_id or ""), ""), e.entity_id or "", label("security.outcome", e.outcome), details, e.entry_hash or ""]  # empty until sealed
        # a cell starting with = + - @ would run as a formula in a spreadsheet (OWASP CSV injection)
        writer.writerow(["'" + c if c[:1] in ("=", "+", "-", "@", "\t", "\r") else c for c in cells])
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": 'attachment; filename="audit-log.csv"', "cache-control": "no-store"})


__all__ = ["router", "requires_second_factor"]
