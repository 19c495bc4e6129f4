"""Sign-in with a second factor, sign-out, user administration and the audit log viewer."""

from __future__ import annotations

import datetime as dt
import hmac
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
from passage.core.i18n import N_, gettext, label
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
    NavItem(N_("Audit log"), "/admin/audit", Permission.AUDIT_READ, order=91),
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


AUDIT_PAGE = 50
AUDIT_CSV_MAX = 100_000
ENTITY_WORDS = {
    "readmission_case": N_("Readmission case"), "user": N_("User"), "organisation": N_("Organisation"), "audit_log": N_("Audit log"),
    "identity_registry": N_("Registry"), "session": N_("Sign-in session"), "readmission_evidence_document": N_("Evidence document"),
}
DETAIL_WORDS = {
    "fields": N_("fields"), "count": N_("rows"), "offset": N_("from row"), "search": N_("searched by"), "cases": N_("cases"), "candidates": N_("candidates"),
    "decision": N_("decision"), "agreement": N_("agreement"), "version": N_("version"), "action": N_("action"), "from": N_("from"), "to": N_("to"),
    "effects": N_("effects"), "operation": N_("operation"), "reason": N_("reason"), "from_province": N_("from bureau"), "to_province": N_("to bureau"),
    "verification_id": N_("verification"), "rank": N_("rank"), "closed_others": N_("other candidates closed"), "top": N_("candidates asked"),
}


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


def _action_words() -> dict[str, str]:
    words: dict[str, str] = {"login": N_("Signed in"), "logout": N_("Signed out"), "read": N_("Opened"), "list": N_("Listed"), "search": N_("Searched"),
                             "create": N_("Created"), "update": N_("Changed"), "refused": N_("Refused")}
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
        records |= {("organisation", o.id): o.name for o in db.scalars(select(Organisation).where(Organisation.id.in_(wanted["organisation"])))}
    for labeller in _module_hooks("audit_record_labels"):
        records |= labeller(db, wanted)  # type: ignore[operator]
    return users, records


def _details_in_words(details: dict[str, Any], users: dict[str, str], records: dict[tuple[str, str], str]) -> list[tuple[str, str]]:
    """Each detail as (label, value in words); ids become labels where known, lists are joined."""
    from passage.core.i18n import gettext

    known_ids = {rid: label for (_, rid), label in records.items()} | users
    out = []
    for key, value in details.items():
        if isinstance(value, list):
            text = ", ".join(known_ids.get(str(v), str(v)) for v in value) or "—"
        elif isinstance(value, dict):
            text = "; ".join(f"{k}: {v}" for k, v in value.items())
        elif isinstance(value, bool):
            text = gettext(N_("yes")) if value else gettext(N_("no"))
        elif value is None:
            text = "—"
        else:
            text = known_ids.get(str(value), str(value))
        out.append((gettext(DETAIL_WORDS[key]) if key in DETAIL_WORDS else key.replace("_", " "), text))
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
        details = "; ".join(f"{label}: {text}" for label, text in _details_in_words(e.details or {}, users, records))
        cells = [str(e.sequence), e.occurred_at.strftime("%Y-%m-%d %H:%M:%S"), users.get(e.actor_user_id or "", e.actor_user_id or gettext(N_("system"))),
                 gettext(action_words[e.action]) if e.action in action_words else e.action,
                 gettext(ENTITY_WORDS[e.entity_type]) if e.entity_type in ENTITY_WORDS else e.entity_type.replace("_", " "),
                 records.get((e.entity_type, e.entity_id or ""), ""), e.entity_id or "", label("security.outcome", e.outcome), details, e.entry_hash]
        # a cell starting with = + - @ would run as a formula in a spreadsheet (OWASP CSV injection)
        writer.writerow(["'" + c if c[:1] in ("=", "+", "-", "@", "\t", "\r") else c for c in cells])
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": 'attachment; filename="audit-log.csv"', "cache-control": "no-store"})


__all__ = ["router", "requires_second_factor"]
