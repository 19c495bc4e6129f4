"""Security API: tokens, the current user, user administration and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from passage.core.deps import DbSession
from passage.core.errors import NotAuthenticated, PassageError
from passage.core.i18n import N_
from passage.security import audit, service
from passage.security.deps import PUBLIC, Principal, client_address, get_principal, require
from passage.security.models import Organisation, Role, RoleGrantRequest, User
from passage.security.permissions import Permission
from passage.security.schemas import (
    AuditEntryOut,
    NotificationOut,
    Offset,
    OrganisationOut,
    Page,
    RoleGrantOut,
    TokenOut,
    TokenRequest,
    UserCreate,
    UserOut,
    UserUpdate,
)

router = APIRouter(tags=["security"], on_startup=[audit.startup], on_shutdown=[audit.shutdown])

AUTH_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"description": "Wrong username, password or second-factor code"},
    429: {"description": "Too many attempts; see the Retry-After header"},
}


def user_out(user: User, pending: RoleGrantRequest | None = None) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        organisation_id=user.organisation_id,
        roles=sorted(user.role_set),
        is_active=user.is_active,
        second_factor_enrolled=bool(user.totp_secret),
        pending_roles=[Role(r) for r in pending.roles] if pending is not None else None,
        version=user.version,
    )


@router.post("/auth/token", response_model=TokenOut, dependencies=[PUBLIC], responses=AUTH_RESPONSES)
def issue_token(body: TokenRequest, request: Request, db: DbSession) -> TokenOut:
    """Exchange username, password and (for roles that see personal data) a TOTP code for a bearer token.

    A TOTP code is accepted once only (RFC 6238 §5.2). Repeated failures from one address for one username
    are answered with 429 and `Retry-After` (exponential back-off), identically for unknown usernames.
    """
    client = client_address(request)
    second_factor_step = False
    try:
        check = service.check_password(db, username=body.username, password=body.password, client=client)
        if check.second_factor_required:
            second_factor_step = True
            if not service.use_second_factor(db, user=check.user, code=body.totp_code, client=client):
                raise NotAuthenticated(N_("a valid second-factor code (totp_code) is required"))
    except PassageError as exc:
        db.rollback()
        service.record_login_failure(db, username=body.username, reason=exc.code, client=client, second_factor=second_factor_step)
        db.commit()
        raise
    service.login_succeeded(db, user=check.user, channel="api", client=client)
    token, record = service.issue_api_token(db, user=check.user)
    return TokenOut(access_token=token, expires_at=record.expires_at)


@router.delete("/auth/token", status_code=204, dependencies=[require(Permission.PROFILE)])
def revoke_current_token(db: DbSession, principal: Annotated[Principal, Depends(get_principal)]) -> None:
    if principal.api_token is None:
        raise NotAuthenticated(N_("this request did not use a bearer token"))
    service.revoke_api_token(db, user=principal.user, token_id=principal.api_token.id)


@router.get("/me", response_model=UserOut)
def me(user: Annotated[User, require(Permission.PROFILE)]) -> UserOut:
    return user_out(user)


@router.get("/organisations", response_model=list[OrganisationOut])
def list_organisations(db: DbSession, user: Annotated[User, require(Permission.PROFILE)]) -> list[OrganisationOut]:
    """Organisation names are not personal data; every signed-in user may list them (for routing and filters)."""
    return [OrganisationOut.model_validate(o) for o in db.scalars(select(Organisation).order_by(Organisation.country, Organisation.name))]


@router.get("/users", response_model=Page[UserOut])
def list_users(
    db: DbSession,
    user: Annotated[User, require(Permission.USERS_READ)],
    q: Annotated[str | None, Query(max_length=100)] = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[UserOut]:
    rows, total = service.list_users(db, actor=user, q=q, offset=offset, limit=limit)
    return Page[UserOut](items=[user_out(u) for u in rows], total=total, offset=offset, limit=limit)


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserCreate, db: DbSession, user: Annotated[User, require(Permission.USERS_MANAGE)]) -> UserOut:
    """Create a user in an organisation the caller administers. Roles must fit the organisation's kind; roles
    that see personal data wait for a second administrator (`pending_roles`, `POST /role-grants/{id}/approve`)."""
    created = service.create_user(db, actor=user, **body.model_dump())
    return user_out(created, service.pending_role_grant(db, user_id=created.id))


@router.get("/users/{user_id}", response_model=UserOut)
def get_user(user_id: str, db: DbSession, user: Annotated[User, require(Permission.USERS_READ)]) -> UserOut:
    found = service.get_user_for_admin(db, actor=user, user_id=user_id)
    audit.record(db, actor=user, action="read", entity_type="user", entity_id=found.id)
    return user_out(found)


@router.patch("/users/{user_id}", response_model=UserOut)
def update_user(user_id: str, body: UserUpdate, db: DbSession, user: Annotated[User, require(Permission.USERS_MANAGE)]) -> UserOut:
    """Change a user. No one changes their own roles; adding a role that sees personal data waits for a second
    administrator's approval and is returned in `pending_roles`."""
    updated = service.update_user(db, actor=user, user_id=user_id, **body.model_dump())
    return user_out(updated, service.pending_role_grant(db, user_id=updated.id))


@router.post("/users/{user_id}/disable", response_model=UserOut)
def disable_user(user_id: str, db: DbSession, user: Annotated[User, require(Permission.USERS_MANAGE)]) -> UserOut:
    return user_out(service.disable_user(db, actor=user, user_id=user_id))


@router.post("/users/{user_id}/enable", response_model=UserOut)
def enable_user(user_id: str, db: DbSession, user: Annotated[User, require(Permission.USERS_MANAGE)]) -> UserOut:
    return user_out(service.enable_user(db, actor=user, user_id=user_id))


@router.get("/role-grants", response_model=Page[RoleGrantOut])
def list_role_grants(
    db: DbSession,
    user: Annotated[User, require(Permission.USERS_MANAGE)],
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[RoleGrantOut]:
    """Role grants waiting for a second administrator, for users the caller administers."""
    rows, total = service.list_role_grants(db, actor=user, offset=offset, limit=limit)
    return Page[RoleGrantOut](items=[RoleGrantOut.model_validate(r) for r in rows], total=total, offset=offset, limit=limit)


@router.post("/role-grants/{request_id}/approve", response_model=RoleGrantOut)
def approve_role_grant(request_id: str, db: DbSession, user: Annotated[User, require(Permission.USERS_MANAGE)]) -> RoleGrantOut:
    """Approve a role grant: only an administrator other than the one who asked, and not the user concerned (four eyes)."""
    return RoleGrantOut.model_validate(service.decide_role_grant(db, actor=user, request_id=request_id, approve=True))


@router.post("/role-grants/{request_id}/reject", response_model=RoleGrantOut)
def reject_role_grant(request_id: str, db: DbSession, user: Annotated[User, require(Permission.USERS_MANAGE)]) -> RoleGrantOut:
    return RoleGrantOut.model_validate(service.decide_role_grant(db, actor=user, request_id=request_id, approve=False))


@router.get("/me/notifications", response_model=Page[NotificationOut])
def my_notifications(
    db: DbSession,
    user: Annotated[User, require(Permission.PROFILE)],
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[NotificationOut]:
    """The caller's security notices: repeated failed sign-ins on the account, a locked second factor, roles granted."""
    rows, total = service.list_notifications(db, user=user, offset=offset, limit=limit)
    return Page[NotificationOut](items=[NotificationOut.model_validate(r) for r in rows], total=total, offset=offset, limit=limit)


@router.get("/audit", response_model=Page[AuditEntryOut])
def list_audit(
    db: DbSession,
    user: Annotated[User, require(Permission.AUDIT_READ)],
    action: Annotated[str | None, Query(max_length=60)] = None,
    entity_type: Annotated[str | None, Query(max_length=60)] = None,
    actor_user_id: Annotated[str | None, Query(max_length=32)] = None,
    outcome: Annotated[str | None, Query(max_length=20)] = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[AuditEntryOut]:
    rows, total = service.list_audit_entries(
        db, actor=user, action=action, entity_type=entity_type, actor_user_id=actor_user_id, outcome=outcome, offset=offset, limit=limit
    )
    items = [AuditEntryOut.model_validate(r) for r in rows]
    return Page[AuditEntryOut](items=items, total=total, offset=offset, limit=limit)


@router.get("/audit/verify")
def verify_audit(db: DbSession, user: Annotated[User, require(Permission.AUDIT_READ)]) -> dict[str, object]:
    report = audit.verify_chain(db)
    return {"ok": report.ok, "entries_checked": report.entries_checked, "first_bad_sequence": report.first_bad_sequence, "problem": report.problem,
            "unsealed": report.unsealed, "checkpoints_checked": report.checkpoints_checked}
