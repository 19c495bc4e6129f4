"""Security operations: organisations and users, login with a second factor, sessions and tokens."""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

import pyotp
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from passage.core.db import check_version
from passage.core.errors import (
    Conflict,
    FieldError,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    TooManyRequests,
)
from passage.core.i18n import N_, T_, Label
from passage.core.models import utcnow
from passage.core.settings import get_settings
from passage.security import audit
from passage.security.actors import Actor
from passage.security.models import (
    ApiToken,
    AuditEntry,
    LoginThrottle,
    Organisation,
    OrganisationLevel,
    Role,
    RoleGrantRequest,
    RoleGrantStatus,
    User,
    UserNotification,
    UserRole,
    WebSession,
)
from passage.security.passwords import hash_password, needs_rehash, verify_password
from passage.security.permissions import (
    ROLES_SEEING_PERSONAL_DATA,
    grantable_roles,
    needs_second_approval,
    requires_second_factor,
)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# --- organisations and users -------------------------------------------------------------------------


def create_organisation(
    session: Session,
    *,
    actor: Actor,
    name: str,
    country: str,
    level: OrganisationLevel,
    name_zh: str | None = None,
    province: str | None = None,
    parent_id: str | None = None,
) -> Organisation:
    if session.scalars(select(Organisation).where(Organisation.name == name)).first():
        raise Conflict(N_("an organisation with this name already exists"), fields=[FieldError("name", N_("already exists"))])
    organisation = Organisation(name=name, name_zh=name_zh, country=country.upper(), level=level, province=province, parent_id=parent_id)
    session.add(organisation)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="organisation", entity_id=organisation.id)
    return organisation


def _check_roles_fit(session: Session, organisation: Organisation, roles: list[Role] | set[Role]) -> None:
    allowed = grantable_roles(organisation.level, is_root=organisation.parent_id is None)
    unfit = sorted(set(roles) - allowed)
    if unfit:
        raise InvalidInput(
            N_("these roles do not fit the organisation"), fields=[FieldError("roles", T_("{role} cannot be held in this {level} organisation", role=Label("security.role", role), level=Label("security.organisation_level", organisation.level))) for role in unfit]
        )


def create_user(
    session: Session,
    *,
    actor: Actor,
    username: str,
    display_name: str,
    organisation_id: str,
    roles: list[Role],
    password: str,
    totp_secret: str | None = None,
) -> User:
    """Create a user. Roles must fit the organisation's kind. When an administrator (not the operator's CLI)
    grants a role that sees personal data, the user starts with the other roles only and a role-grant
    request waits for a second administrator (`approve_role_grant`)."""
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise InvalidInput(N_("unknown organisation"), fields=[FieldError("organisation_id", N_("no such organisation"))])
    if isinstance(actor, User) and not _may_administer(actor, organisation_id, session):
        raise NotFound(N_("organisation not found"))
    _check_roles_fit(session, organisation, roles)
    if session.scalars(select(User.id).where(User.username == username)).first():
        raise Conflict(N_("this username is taken"), fields=[FieldError("username", N_("already taken"))])
    pending = isinstance(actor, User) and needs_second_approval(frozenset(), set(roles))
    granted_now = [role for role in roles if role not in ROLES_SEEING_PERSONAL_DATA] if pending else roles
    user = User(
        username=username,
        display_name=display_name,
        organisation_id=organisation_id,
        password_hash=hash_password(password),
        totp_secret=totp_secret,
        roles=[UserRole(role=role) for role in granted_now],
    )
    session.add(user)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="user", entity_id=user.id, details={"roles": sorted(granted_now)})
    if pending and isinstance(actor, User):
        _request_role_grant(session, actor=actor, user=user, roles=roles)
    return user


def _request_role_grant(session: Session, *, actor: User, user: User, roles: list[Role] | set[Role]) -> RoleGrantRequest:
    session.execute(
        update(RoleGrantRequest)
        .where(RoleGrantRequest.user_id == user.id, RoleGrantRequest.status == RoleGrantStatus.PENDING)
        .values(status=RoleGrantStatus.REJECTED, decided_at=utcnow())
    )
    request = RoleGrantRequest(user_id=user.id, roles=sorted(str(r) for r in roles), requested_by=actor.id)
    session.add(request)
    session.flush()
    audit.record(
        session, actor=actor, action="request_role_grant", entity_type="user", entity_id=user.id,
        details={"request_id": request.id, "roles": request.roles},
    )
    return request


def pending_role_grant(session: Session, *, user_id: str) -> RoleGrantRequest | None:
    return session.scalars(
        select(RoleGrantRequest).where(RoleGrantRequest.user_id == user_id, RoleGrantRequest.status == RoleGrantStatus.PENDING)
    ).first()


def list_role_grants(session: Session, *, actor: User, offset: int, limit: int) -> tuple[list[RoleGrantRequest], int]:
    """Pending role-grant requests for users the actor administers, oldest first."""
    statement = (
        select(RoleGrantRequest)
        .join(User, User.id == RoleGrantRequest.user_id)
        .where(RoleGrantRequest.status == RoleGrantStatus.PENDING, User.organisation_id.in_(administered_organisation_ids(session, actor=actor)))
    )
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = list(session.scalars(statement.order_by(RoleGrantRequest.requested_at).offset(offset).limit(limit)))
    return rows, total


def decide_role_grant(session: Session, *, actor: User, request_id: str, approve: bool) -> RoleGrantRequest:
    """Approve or reject a pending role grant. The approver must be an administrator of the user's organisation,
    different from the one who asked and not the user concerned (four eyes: no path, not even the operator's CLI,
    decides without a second named person). The decision is audited and the user is notified."""
    request = session.get(RoleGrantRequest, request_id)
    if request is None or request.status != RoleGrantStatus.PENDING:
        raise NotFound(N_("role-grant request not found"))
    user = get_user_for_admin(session, actor=actor, user_id=request.user_id)
    if actor.id in (request.requested_by, request.user_id):
        raise Forbidden(N_("a second administrator must decide on this request (four eyes)"))
    request.status = RoleGrantStatus.APPROVED if approve else RoleGrantStatus.REJECTED
    request.decided_by = actor.id
    request.decided_at = utcnow()
    if approve:
        _check_roles_fit(session, user.organisation, [Role(r) for r in request.roles])
        user.roles = [UserRole(role=Role(r)) for r in request.roles]
        user.updated_at = utcnow()
    session.flush()
    audit.record(
        session, actor=actor, action="approve_role_grant" if approve else "reject_role_grant", entity_type="user", entity_id=user.id,
        details={"request_id": request.id, "roles": request.roles, "requested_by": request.requested_by},
    )
    notify_user(session, user_id=user.id, kind="roles_granted" if approve else "roles_refused", details={"roles": request.roles})
    return request


def _organisation_subtree(session: Session, root_id: str) -> set[str]:
    ids = {root_id}
    frontier = {root_id}
    while frontier:
        children = set(session.scalars(select(Organisation.id).where(Organisation.parent_id.in_(frontier))).all())
        frontier = children - ids
        ids |= children
    return ids


def _may_administer(actor: User, organisation_id: str, session: Session) -> bool:
    """An administrator manages users of their own organisation and the organisations below it."""
    return Role.ADMIN in actor.role_set and organisation_id in _organisation_subtree(session, actor.organisation_id)


def administered_organisation_ids(session: Session, *, actor: User) -> list[str]:
    """Ids of the organisations whose users the actor administers: their own and every one below it."""
    return list(_organisation_subtree(session, actor.organisation_id))


def list_users(session: Session, *, actor: User, q: str | None, offset: int, limit: int) -> tuple[list[User], int]:
    """A page of the users the actor administers (username order), with the total; the listing is audited."""
    statement = select(User).where(User.organisation_id.in_(administered_organisation_ids(session, actor=actor)))
    if q:
        statement = statement.where(User.username.contains(q) | User.display_name.contains(q))
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = list(session.scalars(statement.order_by(User.username).offset(offset).limit(limit)))
    audit.record(session, actor=actor, action="list", entity_type="user", details={"count": len(rows)})
    return rows, total


def list_audit_entries(
    session: Session, *, actor: User, action: str | None, entity_type: str | None, actor_user_id: str | None,
    outcome: str | None, offset: int, limit: int, entity_id: str | None = None, since: dt.date | None = None, until: dt.date | None = None,
    audit_as: str = "list",
) -> tuple[list[AuditEntry], int]:
    """A page of the audit log, newest first, with the total; reading the log is itself audited.

    `since`/`until` are UTC days, both included; `entity_id` narrows to one record."""
    statement = select(AuditEntry)
    if entity_id:
        statement = statement.where(AuditEntry.entity_id == entity_id)
    if since:
        statement = statement.where(AuditEntry.occurred_at >= dt.datetime.combine(since, dt.time(0), tzinfo=dt.UTC))
    if until:
        statement = statement.where(AuditEntry.occurred_at < dt.datetime.combine(until + dt.timedelta(days=1), dt.time(0), tzinfo=dt.UTC))
    if action:
        statement = statement.where(AuditEntry.action == action)
    if entity_type:
        statement = statement.where(AuditEntry.entity_type == entity_type)
    if actor_user_id:
        statement = statement.where(AuditEntry.actor_user_id == actor_user_id)
    if outcome:
        statement = statement.where(AuditEntry.outcome == outcome)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = list(session.scalars(statement.order_by(AuditEntry.sequence.desc()).offset(offset).limit(limit)))
    audit.record(session, actor=actor, action=audit_as, entity_type="audit_log", details={"count": len(rows)})
    return rows, total


def audit_filter_choices(session: Session) -> tuple[list[str], list[str]]:
    """The actions and record types that occur in the log (for the filter lists)."""
    actions = sorted(a for a in session.scalars(select(AuditEntry.action).distinct()) if a)
    types = sorted(t for t in session.scalars(select(AuditEntry.entity_type).distinct()) if t)
    return actions, types


def get_user_for_admin(session: Session, *, actor: User, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None or not _may_administer(actor, user.organisation_id, session):
        raise NotFound(N_("user not found"))
    return user


def update_user(session: Session, *, actor: User, user_id: str, version: int, display_name: str | None = None,
                roles: list[Role] | None = None, preferred_locale: str | None = None) -> User:
    user = get_user_for_admin(session, actor=actor, user_id=user_id)
    check_version(user, version)
    changed: list[str] = []
    if display_name is not None and display_name != user.display_name:
        user.display_name = display_name
        changed.append("display_name")
    if roles is not None and set(roles) != user.role_set:
        if actor.id == user.id:
            raise Forbidden(N_("no one can change their own roles; ask another administrator"))
        _check_roles_fit(session, user.organisation, roles)
        if needs_second_approval(user.role_set, set(roles)):
            _request_role_grant(session, actor=actor, user=user, roles=roles)
            changed.append("roles_requested")
        else:
            user.roles = [UserRole(role=role) for role in roles]
            changed.append("roles")
    if preferred_locale is not None and preferred_locale != user.preferred_locale:
        user.preferred_locale = preferred_locale
        changed.append("preferred_locale")
    if changed:
        user.updated_at = utcnow()
    session.flush()
    audit.record(session, actor=actor, action="update", entity_type="user", entity_id=user.id, details={"fields": changed})
    return user


def disable_user(session: Session, *, actor: Actor, user_id: str) -> User:
    """Disable a user and end every session and token at once (a job, e.g. the CLI, acts on any user)."""
    user = get_user_for_admin(session, actor=actor, user_id=user_id) if isinstance(actor, User) else session.get(User, user_id)
    if user is None:
        raise NotFound(N_("user not found"))
    if actor.id == user.id:
        raise Conflict(N_("you cannot disable your own account"))
    user.is_active = False
    user.disabled_at = utcnow()
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow()))
    session.flush()
    audit.record(session, actor=actor, action="disable", entity_type="user", entity_id=user.id)
    return user


def enable_user(session: Session, *, actor: Actor, user_id: str) -> User:
    user = get_user_for_admin(session, actor=actor, user_id=user_id) if isinstance(actor, User) else session.get(User, user_id)
    if user is None:
        raise NotFound(N_("user not found"))
    user.is_active = True
    user.disabled_at = None
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    audit.record(session, actor=actor, action="enable", entity_type="user", entity_id=user.id)
    return user


def find_user(session: Session, *, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).first()


# --- login: rate limit, back-off, second factor ------------------------------------------------------


class LoginRateLimiter:
    """Sliding one-minute windows of events per key (in memory): all attempts per client address, failures per user.

    A deployment with several worker processes keeps one limiter each; the back-off per (username, address)
    and the second-factor lock live in the database, so an attacker spread across workers is still stopped.
    """

    def __init__(self) -> None:
        self._events: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()

    def _window(self, key: str, now: float) -> collections.deque[float]:
        window = self._events[key]
        while window and now - window[0] > 60:
            window.popleft()
        return window

    def check(self, key: str, *, limit: int) -> None:
        """Refuse when the key already has `limit` events in the last minute; records nothing."""
        with self._lock:
            if len(self._window(key, time.monotonic())) >= limit:
                raise TooManyRequests(N_("too many sign-in attempts; wait a minute and try again"), extra={"retry_after": 60})

    def record(self, key: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._window(key, now).append(now)

    def hit(self, key: str, *, limit: int) -> None:
        """`check`, then `record`: for limits on every attempt."""
        with self._lock:
            now = time.monotonic()
            window = self._window(key, now)
            if len(window) >= limit:
                raise TooManyRequests(N_("too many sign-in attempts; wait a minute and try again"), extra={"retry_after": 60})
            window.append(now)

    def clear(self) -> None:
        with self._lock:
            self._events.clear()


rate_limiter = LoginRateLimiter()


def _throttle_key(username: str, client: str) -> str:
    # The username as typed (lower-cased), not the user id: unknown usernames are throttled identically.
    return hashlib.sha256(f"signin\x00{username.strip().lower()}\x00{client}".encode()).hexdigest()


def _second_factor_key(user_id: str) -> str:
    return hashlib.sha256(f"totp\x00{user_id}".encode()).hexdigest()


def backoff_seconds(failures: int) -> int:
    """Exponential back-off after repeated failures of one (username, address) pair: 0 for the first
    `login_backoff_after` failures, then 2, 4, 8 ... seconds, capped at `login_lockout_minutes`.
    (OWASP Authentication Cheat Sheet: throttle per account and source rather than lock the account.)"""
    settings = get_settings()
    excess = failures - settings.login_backoff_after
    if excess <= 0:
        return 0
    return int(min(2**excess, settings.login_lockout_minutes * 60))


def _refuse_while_throttled(session: Session, key: str) -> None:
    throttle = session.get(LoginThrottle, key)
    if throttle is not None and throttle.blocked_until is not None:
        remaining = (_aware(throttle.blocked_until) - utcnow()).total_seconds()
        if remaining > 0:
            wait = int(remaining) + 1
            raise TooManyRequests(
                N_("too many failed sign-in attempts from this address; wait and try again"), extra={"retry_after": wait}
            )


def _refuse_if_second_factor_locked(user: User) -> None:
    if user.locked_until is not None and _aware(user.locked_until) > utcnow():
        raise NotAuthenticated(N_("sign-in to this account is paused after repeated wrong codes; try again later"))


@dataclass(frozen=True)
class PasswordCheck:
    user: User
    second_factor_required: bool


def check_password(session: Session, *, username: str, password: str, client: str) -> PasswordCheck:
    """First step of a login. Failures are recorded by the caller in their own transaction (`record_login_failure`).

    An unknown username and a wrong password get the same answer, the same Argon2 cost and the same
    back-off; the second-factor lock is only mentioned to someone who has just shown the right password.
    """
    settings = get_settings()
    rate_limiter.hit(f"ip:{client}", limit=settings.login_rate_per_minute * 3)
    rate_limiter.check(f"user:{username.strip().lower()}", limit=settings.login_rate_per_minute * 3)
    _refuse_while_throttled(session, _throttle_key(username, client))
    user = find_user(session, username=username)
    if not verify_password(user.password_hash if user else None, password) or user is None:
        raise NotAuthenticated(N_("wrong username or password"))
    if not user.is_active:
        raise NotAuthenticated(N_("this account is disabled"))
    _refuse_if_second_factor_locked(user)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return PasswordCheck(user=user, second_factor_required=requires_second_factor(user.role_set))


def _count_failure(session: Session, key: str, *, now: dt.datetime) -> LoginThrottle:
    throttle = session.get(LoginThrottle, key)
    if throttle is None:
        throttle = LoginThrottle(key=key, failures=0)
        session.add(throttle)
    throttle.failures = (throttle.failures or 0) + 1
    throttle.last_failure_at = now
    delay = backoff_seconds(throttle.failures)
    throttle.blocked_until = now + dt.timedelta(seconds=delay) if delay else None
    return throttle


def notify_user(session: Session, *, user_id: str, kind: str, details: dict[str, object] | None = None) -> UserNotification:
    """Leave a security notice for a user; listed for them at `GET /api/v1/me/notifications`."""
    notice = UserNotification(user_id=user_id, kind=kind, details=details or {})
    session.add(notice)
    session.flush()
    return notice


def record_login_failure(session: Session, *, username: str, reason: str, client: str = "unknown", second_factor: bool = False) -> None:
    """Count a failed sign-in step and audit it; call in its own transaction (the request's is rolled back).

    Every failure advances the back-off of this (username, address) pair. On a known account it also counts
    towards the owner's notification; a wrong second-factor code (the password was right) counts towards the
    account's second-factor lock, which is honoured at every step until it expires.
    """
    settings = get_settings()
    now = utcnow()
    if reason != TooManyRequests.code:
        _count_failure(session, _throttle_key(username, client), now=now)
        rate_limiter.record(f"user:{username.strip().lower()}")
    user = find_user(session, username=username)
    if user is not None and reason != TooManyRequests.code:
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins == settings.login_max_failures:
            notify_user(session, user_id=user.id, kind="failed_sign_ins", details={"failures": user.failed_logins})
        if second_factor:
            guesses = _count_failure(session, _second_factor_key(user.id), now=now)
            if guesses.failures >= settings.totp_user_max_failures:
                user.locked_until = now + dt.timedelta(minutes=settings.login_lockout_minutes)
                guesses.failures = 0
                notify_user(session, user_id=user.id, kind="second_factor_locked", details={"minutes": settings.login_lockout_minutes})
    audit.record(
        session,
        actor=None,
        actor_user_id=user.id if user else None,
        action="login",
        entity_type="user",
        entity_id=user.id if user else None,
        outcome="failed",
        details={"reason": reason, "step": "second_factor" if second_factor else "password"},
    )


TOTP_STEP_SECONDS = 30


def _matching_step(secret: str, code: str, *, at: float) -> int | None:
    """The RFC 6238 time step (30 s, SHA-1, 6 digits) within one step of clock drift whose code is `code`."""
    totp = pyotp.TOTP(secret)
    current = int(at) // TOTP_STEP_SECONDS
    found: int | None = None
    for step in (current - 1, current, current + 1):
        # Compare every candidate (no early exit), in constant time.
        if hmac.compare_digest(totp.at(step * TOTP_STEP_SECONDS), code):
            found = step
    return found


def use_second_factor(session: Session, *, user: User, code: str | None, client: str = "unknown") -> bool:
    """Check a TOTP code and consume it: RFC 6238 §5.2, a verifier must not accept the second attempt of
    the same OTP, so the accepted time step is stored and only later steps are accepted afterwards. The
    store is a conditional UPDATE, so two requests racing with one code cannot both win.

    The second-factor lock and the per-address limit are honoured here too (not only at the password step).
    """
    settings = get_settings()
    _refuse_if_second_factor_locked(user)
    _refuse_while_throttled(session, _throttle_key(user.username, client))
    rate_limiter.hit(f"totp-ip:{client}", limit=settings.login_rate_per_minute * 3)
    if not user.totp_secret or not code or not code.isdigit() or len(code) != 6:
        return False
    step = _matching_step(user.totp_secret, code, at=time.time())
    if step is None:
        return False
    result = session.execute(
        update(User)
        .where(User.id == user.id, (User.totp_last_step.is_(None)) | (User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return False
    set_committed_value(user, "totp_last_step", step)
    return True


def verify_second_factor(user: User, code: str | None) -> bool:
    """Whether `code` is a current code of the user's secret, without consuming it (sign-in uses `use_second_factor`)."""
    if not user.totp_secret or not code:
        return False
    return _matching_step(user.totp_secret, code, at=time.time()) is not None


def record_second_factor_failure(session: Session, *, web_session_hash: str) -> bool:
    """Count a wrong code in a half-signed-in session; returns True when the session was ended at the limit."""
    record = session.get(WebSession, web_session_hash)
    if record is None:
        return True
    record.second_factor_failures = (record.second_factor_failures or 0) + 1
    if record.second_factor_failures >= get_settings().totp_session_max_failures:
        session.delete(record)
        return True
    return False


def new_totp_secret() -> str:
    return pyotp.random_base32()


def enrol_second_factor(session: Session, *, user: User, secret: str, code: str) -> None:
    step = _matching_step(secret, code, at=time.time()) if code.isdigit() and len(code) == 6 else None
    if step is None:
        raise InvalidInput(N_("the code does not match; check the clock of your device"), fields=[FieldError("code", N_("does not match"))])
    user.totp_secret = secret
    # The enrolment code counts as used (RFC 6238 §5.2).
    user.totp_last_step = step
    audit.record(session, actor=user, action="enrol_second_factor", entity_type="user", entity_id=user.id)


def login_succeeded(session: Session, *, user: User, channel: str, client: str = "unknown") -> None:
    user.failed_logins = 0
    session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_([_throttle_key(user.username, client), _second_factor_key(user.id)])))
    audit.record(session, actor=user, action="login", entity_type="user", entity_id=user.id, details={"channel": channel})


def list_notifications(session: Session, *, user: User, offset: int, limit: int) -> tuple[list[UserNotification], int]:
    """The user's own security notices, newest first."""
    statement = select(UserNotification).where(UserNotification.user_id == user.id)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = list(session.scalars(statement.order_by(UserNotification.created_at.desc()).offset(offset).limit(limit)))
    return rows, total


# --- API tokens --------------------------------------------------------------------------------------


def issue_api_token(session: Session, *, user: User, label: str | None = None) -> tuple[str, ApiToken]:
    token = "pst_" + secrets.token_urlsafe(32)
    record = ApiToken(
        token_hash=token_digest(token),
        user_id=user.id,
        expires_at=utcnow() + dt.timedelta(hours=get_settings().api_token_hours),
        label=label,
    )
    session.add(record)
    session.flush()
    return token, record


def user_for_api_token(session: Session, *, token: str) -> tuple[User, ApiToken]:
    # the token, its user and the user's roles in one round trip (a row per role): this runs on every API request
    statement = select(ApiToken, User).join(User, User.id == ApiToken.user_id).where(ApiToken.token_hash == token_digest(token)).options(joinedload(User.roles))
    found = session.execute(statement).unique().first()
    if found is None:
        raise NotAuthenticated(N_("the token is invalid, expired or revoked"))
    record, user = found
    if record.revoked_at is not None or _aware(record.expires_at) <= utcnow() or not user.is_active:
        raise NotAuthenticated(N_("the token is invalid, expired or revoked"))
    return user, record


def revoke_api_token(session: Session, *, user: User, token_id: str) -> None:
    record = session.get(ApiToken, token_id)
    if record is None or record.user_id != user.id:
        raise NotFound(N_("token not found"))
    record.revoked_at = utcnow()
    audit.record(session, actor=user, action="revoke_token", entity_type="api_token", entity_id=token_id)


# --- web sessions ------------------------------------------------------------------------------------


def start_web_session(session: Session, *, user: User, second_factor_passed: bool) -> tuple[str, WebSession]:
    token = secrets.token_urlsafe(32)
    record = WebSession(
        token_hash=token_digest(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        second_factor_passed=second_factor_passed,
    )
    session.add(record)
    session.flush()
    return token, record


def user_for_web_session(session: Session, *, token: str) -> tuple[User, WebSession]:
    """Resolve a session cookie, enforcing the idle and absolute timeouts (ASVS 4.0.3 V3.3.2, V3.3.4)."""
    settings = get_settings()
    record = session.get(WebSession, token_digest(token))
    if record is None:
        raise NotAuthenticated(N_("your session has ended; sign in again"))
    now = utcnow()
    idle_limit = dt.timedelta(minutes=settings.session_idle_minutes)
    absolute_limit = dt.timedelta(hours=settings.session_absolute_hours)
    if now - _aware(record.last_seen_at) > idle_limit or now - _aware(record.created_at) > absolute_limit:
        session.delete(record)
        raise NotAuthenticated(N_("your session has timed out; sign in again"))
    user = session.get(User, record.user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated(N_("your session has ended; sign in again"))
    # Touch at most once a minute, so that reads do not write on every request.
    if now - _aware(record.last_seen_at) > dt.timedelta(minutes=1):
        record.last_seen_at = now
    return user, record


def end_web_session(session: Session, *, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == token_digest(token)))


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def require_active(user: User) -> None:
    if not user.is_active:
        raise Forbidden(N_("this account is disabled"))
