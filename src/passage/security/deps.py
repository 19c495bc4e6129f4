"""Who is asking, and may they: authentication and the per-route permission declaration.

Every route declares its permission with `require(Permission.X)` (an `Annotated` alias yields the
user), or declares itself public with `PUBLIC`. `tests/security/test_routes.py` walks every route and
fails on one that declares neither. A refusal is audited in its own committed transaction before the
403 is raised, so the refusal survives the request's rollback.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from passage.core import i18n
from passage.core.deps import DbSession, get_db
from passage.core.errors import Forbidden, NotAuthenticated
from passage.core.i18n import N_
from passage.security import audit
from passage.security.models import ApiToken, Role, User, WebSession, organisation_name
from passage.security.permissions import ROLE_LABELS, Permission, permissions_for, requires_second_factor
from passage.security.service import user_for_api_token, user_for_web_session
from passage.web.templating import register_globals

register_globals(Permission=Permission, role_label=lambda role: i18n.gettext(ROLE_LABELS[Role(role)]))
"""Templates show and hide by permission and name roles in the reader's language."""

SESSION_COOKIE = "passage_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class ViewerOrganisation:
    id: str
    name: str
    country: str
    name_zh: str | None = None

    @property
    def local_name(self) -> str:
        return organisation_name(self.name, self.name_zh)


@dataclass(frozen=True)
class Viewer:
    """A detached snapshot of who is signed in, for templates and error pages (no lazy loads after rollback)."""

    id: str
    username: str
    display_name: str
    organisation_id: str
    organisation: ViewerOrganisation
    roles: frozenset[Role]
    csrf_token: str

    @property
    def role_set(self) -> frozenset[Role]:
        return self.roles

    @property
    def permissions(self) -> frozenset[Permission]:
        """What the viewer's roles grant (pages show a link or a button only when it is granted)."""
        return permissions_for(self.roles)

    @classmethod
    def of(cls, user: User, csrf_token: str = "") -> Viewer:
        organisation = user.organisation
        return cls(
            id=user.id, username=user.username, display_name=user.display_name, organisation_id=user.organisation_id,
            organisation=ViewerOrganisation(organisation.id, organisation.name, organisation.country, organisation.name_zh),
            roles=user.role_set, csrf_token=csrf_token,
        )


@dataclass
class Principal:
    user: User
    web_session: WebSession | None = None
    api_token: ApiToken | None = None


async def csrf_supplied(request: Request) -> str | None:
    """The CSRF token sent with an unsafe request (header for htmx and fetch, hidden field for plain forms)."""
    if request.method in SAFE_METHODS:
        return None
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def get_principal(request: Request, db: DbSession, csrf: Annotated[str | None, Depends(csrf_supplied)]) -> Principal:
    """Bearer token first (API clients), then the session cookie (browsers, with CSRF on unsafe methods)."""
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        user, token = user_for_api_token(db, token=authorization[7:].strip())
        principal = Principal(user=user, api_token=token)
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise NotAuthenticated(N_("sign in first"))
        user, web_session = user_for_web_session(db, token=cookie)
        if requires_second_factor(user.role_set) and not web_session.second_factor_passed:
            raise NotAuthenticated(N_("complete the second factor first"))
        if request.method not in SAFE_METHODS:
            if not csrf or not hmac.compare_digest(csrf, web_session.csrf_token):
                raise Forbidden(N_("the form is stale or forged (CSRF check failed); reload the page and try again"))
        principal = Principal(user=user, web_session=web_session)
    request.state.principal = principal
    request.state.viewer = Viewer.of(principal.user, principal.web_session.csrf_token if principal.web_session else "")
    return principal


def client_address(request: Request) -> str:
    """The client's address. Uvicorn rewrites it from X-Forwarded-For only when the peer is one of the
    configured `trusted_proxies` (see `passage serve`), so a client cannot choose its own address."""
    return request.client.host if request.client else "unknown"


def audit_refusal(db: Session, *, user: User, request: Request, reason: str, details: dict[str, Any] | None = None) -> None:
    """Record a refused access in a transaction of its own (the request's own change is abandoned)."""
    audit.record_refusal(
        db, actor=user, entity_type="route", entity_id=request.url.path[:64],
        details={"reason": reason, "method": request.method, **(details or {})},
    )


def require(*permissions: Permission) -> Any:
    """`Annotated[User, require(Permission.X)]`: authenticate, then check the role grants every permission."""

    async def dependency(request: Request, db: DbSession, principal: Annotated[Principal, Depends(get_principal)]) -> User:
        # in memory, so on the event loop (no trip to the thread pool); only a refusal writes, in the pool
        granted = permissions_for(principal.user.role_set)
        missing = [p.value for p in permissions if p not in granted]
        if missing:
            await run_in_threadpool(audit_refusal, db, user=principal.user, request=request, reason="permission", details={"missing": missing})
            raise Forbidden(N_("your role does not allow this"))
        return principal.user

    dependency.__passage_permissions__ = permissions  # type: ignore[attr-defined]
    return Depends(dependency)


def _public() -> None:
    return None


_public.__passage_public__ = True  # type: ignore[attr-defined]
PUBLIC = Depends(_public)
"""Declares a route public (login, health, static assets, the public DTM read API): `dependencies=[PUBLIC]`."""


def user_has(user: User, permission: Permission) -> bool:
    return permission in permissions_for(user.role_set)


__all__ = ["PUBLIC", "Principal", "SESSION_COOKIE", "audit_refusal", "client_address", "get_db", "get_principal", "require", "user_has"]
