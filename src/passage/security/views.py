"""Sign-in with a second factor, sign-out, user administration and the audit log viewer."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

import segno
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from passage.core.deps import DbSession
from passage.core.errors import Forbidden, NotAuthenticated, PassageError
from passage.core.i18n import N_
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
        raise NotAuthenticated("sign in first")
    user, web_session = service.user_for_web_session(db, token=cookie)
    if csrf_token is not None and not hmac.compare_digest(csrf_token, web_session.csrf_token):
        raise NotAuthenticated("the form expired; sign in again")
    return user, web_session


def _enrol_page(request: Request, user: User, web_session: WebSession, next_path: str, error: str | None, status_code: int = 200) -> Response:
    secret = web_session.pending_totp_secret
    if not secret:
        raise NotAuthenticated("sign in again to enrol a second factor")
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
        raise NotAuthenticated("sign in again to enrol a second factor")
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
                raise Forbidden("the form is stale or forged (CSRF check failed); reload the page and try again")
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


@router.get("/admin/audit")
def audit_page(
    request: Request,
    db: DbSession,
    user: Annotated[User, require(Permission.AUDIT_READ)],
    action: Annotated[str | None, Query(max_length=60)] = None,
    entity_type: Annotated[str | None, Query(max_length=60)] = None,
    outcome: Annotated[str | None, Query(max_length=20)] = None,
    page: PageNumber = 1,
    verify: Annotated[bool, Query()] = False,
) -> Response:
    rows, total = service.list_audit_entries(
        db, actor=user, action=action or None, entity_type=entity_type or None, actor_user_id=None, outcome=outcome or None,
        offset=(page - 1) * 50, limit=50,
    )
    report = audit.verify_chain(db) if verify else None
    return render(request, "security/audit.html", {
        "entries": rows, "total": total, "page": page, "pages": max(1, -(-total // 50)), "report": report,
        "filters": {"action": action or "", "entity_type": entity_type or "", "outcome": outcome or ""},
    })


__all__ = ["router", "requires_second_factor"]
