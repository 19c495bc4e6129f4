"""Security operations: organisations and users, login with a second factor, sessions and tokens."""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

import pyotp
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

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
from passage.core.i18n import N_
from passage.core.models import utcnow
from passage.core.settings import get_settings
from passage.security import audit
from passage.security.actors import Actor
from passage.security.models import (
    ApiToken,
    AuditEntry,
    Organisation,
    OrganisationLevel,
    Role,
    User,
    UserRole,
    WebSession,
)
from passage.security.passwords import hash_password, needs_rehash, verify_password
from passage.security.permissions import requires_second_factor


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
        raise Conflict("an organisation with this name already exists", fields=[FieldError("name", "already exists")])
    organisation = Organisation(name=name, name_zh=name_zh, country=country.upper(), level=level, province=province, parent_id=parent_id)
    session.add(organisation)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="organisation", entity_id=organisation.id)
    return organisation


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
    if session.get(Organisation, organisation_id) is None:
        raise InvalidInput("unknown organisation", fields=[FieldError("organisation_id", "no such organisation")])
    if isinstance(actor, User) and not _may_administer(actor, organisation_id, session):
        raise NotFound("organisation not found")
    if session.scalars(select(User.id).where(User.username == username)).first():
        raise Conflict("this username is taken", fields=[FieldError("username", "already taken")])
    user = User(
        username=username,
        display_name=display_name,
        organisation_id=organisation_id,
        password_hash=hash_password(password),
        totp_secret=totp_secret,
        roles=[UserRole(role=role) for role in roles],
    )
    session.add(user)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="user", entity_id=user.id, details={"roles": sorted(roles)})
    return user


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
        raise NotFound("user not found")
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
        raise NotFound("user not found")
    if actor.id == user.id:
        raise Conflict("you cannot disable your own account")
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
        raise NotFound("user not found")
    user.is_active = True
    user.disabled_at = None
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    audit.record(session, actor=actor, action="enable", entity_type="user", entity_id=user.id)
    return user


def find_user(session: Session, *, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).first()


# --- login: rate limit, lockout, second factor -------------------------------------------------------


class LoginRateLimiter:
    """A sliding one-minute window of login attempts per client address and per username (in memory).

    A deployment with several worker processes keeps one limiter each; the lockout counter in the users
    table is shared, so an attacker spread across workers is still stopped by the account lockout.
    """

    def __init__(self) -> None:
        self._events: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()

    def hit(self, key: str, *, limit: int) -> None:
        now = time.monotonic()
        with self._lock:
            window = self._events[key]
            while window and now - window[0] > 60:
                window.popleft()
            if len(window) >= limit:
                raise TooManyRequests(N_("too many login attempts; wait a minute and try again"))
            window.append(now)

    def clear(self) -> None:
        with self._lock:
            self._events.clear()


rate_limiter = LoginRateLimiter()


@dataclass(frozen=True)
class PasswordCheck:
    user: User
    second_factor_required: bool


def check_password(session: Session, *, username: str, password: str, client: str) -> PasswordCheck:
    """First step of a login. Failures are audited by the caller in their own transaction (see `record_login_failure`)."""
    settings = get_settings()
    rate_limiter.hit(f"ip:{client}", limit=settings.login_rate_per_minute * 3)
    rate_limiter.hit(f"user:{username.lower()}", limit=settings.login_rate_per_minute)
    user = find_user(session, username=username)
    now = utcnow()
    if user is not None and user.locked_until is not None and _aware(user.locked_until) > now:
        raise NotAuthenticated(N_("this account is locked after repeated failures; try again later"))
    if not verify_password(user.password_hash if user else None, password) or user is None:
        raise NotAuthenticated(N_("wrong username or password"))
    if not user.is_active:
        raise NotAuthenticated(N_("this account is disabled"))
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return PasswordCheck(user=user, second_factor_required=requires_second_factor(user.role_set))


def record_login_failure(session: Session, *, username: str, reason: str) -> None:
    """Count a failed attempt (locking the account after too many) and audit it; call in its own transaction."""
    settings = get_settings()
    user = find_user(session, username=username)
    if user is not None:
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= settings.login_max_failures:
            user.locked_until = utcnow() + dt.timedelta(minutes=settings.login_lockout_minutes)
            user.failed_logins = 0
    audit.record(
        session,
        actor=None,
        actor_user_id=user.id if user else None,
        action="login",
        entity_type="user",
        entity_id=user.id if user else None,
        outcome="failed",
        details={"reason": reason},
    )


def verify_second_factor(user: User, code: str | None) -> bool:
    """RFC 6238 TOTP, 30-second step, one step of clock drift either way."""
    if not user.totp_secret or not code:
        return False
    return pyotp.TOTP(user.totp_secret).verify(code, valid_window=1)


def new_totp_secret() -> str:
    return pyotp.random_base32()


def enrol_second_factor(session: Session, *, user: User, secret: str, code: str) -> None:
    if not pyotp.TOTP(secret).verify(code, valid_window=1):
        raise InvalidInput("the code does not match; check the clock of your device", fields=[FieldError("code", "does not match")])
    user.totp_secret = secret
    audit.record(session, actor=user, action="enrol_second_factor", entity_type="user", entity_id=user.id)


def login_succeeded(session: Session, *, user: User, channel: str) -> None:
    user.failed_logins = 0
    user.locked_until = None
    audit.record(session, actor=user, action="login", entity_type="user", entity_id=user.id, details={"channel": channel})


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
    record = session.scalars(select(ApiToken).where(ApiToken.token_hash == token_digest(token))).first()
    if record is None or record.revoked_at is not None or _aware(record.expires_at) <= utcnow():
        raise NotAuthenticated(N_("the token is invalid, expired or revoked"))
    user = session.get(User, record.user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated(N_("the token is invalid, expired or revoked"))
    return user, record


def revoke_api_token(session: Session, *, user: User, token_id: str) -> None:
    record = session.get(ApiToken, token_id)
    if record is None or record.user_id != user.id:
        raise NotFound("token not found")
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
