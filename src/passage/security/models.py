"""Security tables: organisations, users and roles, sessions, API tokens, data keys and the audit log."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from passage.core import i18n
from passage.core.models import Base, IdMixin, TimestampMixin, VersionedMixin, enum_column_type, utcnow
from passage.security.crypto import EncryptedText


class OrganisationLevel(enum.StrEnum):
    NATIONAL = "national"
    PROVINCIAL = "provincial"
    INTERNATIONAL = "international"
    MISSION = "mission"
    """An embassy or consulate abroad; its consular district is recorded by the consular module."""


class Role(enum.StrEnum):
    REQUESTING_OFFICER = "requesting_officer"
    CENTRAL_OFFICER = "central_officer"
    PROVINCIAL_OFFICER = "provincial_officer"
    IOM_CASEWORKER = "iom_caseworker"
    ANALYST = "analyst"
    ADMIN = "admin"
    CONSULAR_OFFICER = "consular_officer"
    """Works at a mission abroad: nationals, help requests and evacuations of its own consular district."""
    CONSULAR_CENTRE = "consular_centre"
    """Works at the national centre for consular protection: sees every mission's records."""
    CONSULAR_GATEWAY = "consular_gateway"
    """A system account (the hotline's system, the travellers' app, the SMS gateway): submits and pulls, reads nothing else."""


class Organisation(IdMixin, TimestampMixin, VersionedMixin, Base):
    """An authority or agency: a requesting state's return service, a requested state's ministry or bureau, IOM."""

    __tablename__ = "organisations"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    name_zh: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2), index=True)
    """ISO 3166-1 alpha-2 country code; `XX` for an international organisation."""
    level: Mapped[OrganisationLevel] = mapped_column(enum_column_type(OrganisationLevel, 20))
    province: Mapped[str | None] = mapped_column(String(10))
    """ISO 3166-2 subdivision code (e.g. `CN-FJ`) for a provincial organisation."""
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("organisations.id"))

    parent: Mapped[Organisation | None] = relationship(remote_side="Organisation.id")

    @property
    def local_name(self) -> str:
        """The name in the reader's language: `name_zh` on Chinese pages when it is known."""
        return organisation_name(self.name, self.name_zh)


def organisation_name(name: str, name_zh: str | None, *, locale: str | None = None) -> str:
    """An organisation's name as the reader reads it (Chinese pages show `name_zh` when the record has one)."""
    return name_zh if name_zh and (locale or i18n.get_locale()) == "zh_Hans" else name


class User(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_secret: Mapped[str | None] = mapped_column(EncryptedText("security.users.totp_secret"))
    """None until the second factor is enrolled."""
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    """Failed sign-in steps since the last success, from any address (drives the owner's notification)."""
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    """Set when the second factor is being guessed (the password is then known to someone else); honoured
    at every sign-in step. Wrong passwords never set it: they slow down one address, not the owner."""
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    """The RFC 6238 time step of the last accepted code; a code of this step or earlier is never accepted again (§5.2)."""
    preferred_locale: Mapped[str] = mapped_column(String(10), default="en")
    disabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    organisation: Mapped[Organisation] = relationship(lazy="joined")
    roles: Mapped[list[UserRole]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def role_set(self) -> frozenset[Role]:
        return frozenset(r.role for r in self.roles)


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[Role] = mapped_column(enum_column_type(Role, 30), primary_key=True)


class WebSession(Base):
    """A browser session; the cookie holds a random token, the table holds only its SHA-256."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    second_factor_passed: Mapped[bool] = mapped_column(Boolean, default=False)
    second_factor_failures: Mapped[int] = mapped_column(Integer, default=0)
    """Wrong codes typed in this half-signed-in session; at the limit the session ends (password again)."""
    pending_totp_secret: Mapped[str | None] = mapped_column(EncryptedText("security.web_sessions.pending_totp_secret"))
    """A second-factor secret offered during enrolment, kept until the user confirms it with a code."""
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LoginThrottle(Base):
    """Failed sign-in attempts for one (username, client address) pair, with an exponential back-off.

    Keyed by a SHA-256 of the lower-cased username and the address, so an unknown username is throttled
    exactly like a known one (no account enumeration), and a stranger's failures from their address never
    block the owner signing in from theirs (OWASP Authentication Cheat Sheet, "Account Lockout").
    """

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_failure_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class UserNotification(IdMixin, Base):
    """A security notice for a user (failed sign-ins on their account, a role granted): listed at `/api/v1/me/notifications`."""

    __tablename__ = "user_notifications"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class RoleGrantStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class RoleGrantRequest(IdMixin, Base):
    """A request to give a user roles that see personal data; a second administrator must approve it (four eyes)."""

    __tablename__ = "role_grant_requests"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    roles: Mapped[list[str]] = mapped_column(JSON)
    """The complete role set the user will have once approved."""
    requested_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[RoleGrantStatus] = mapped_column(enum_column_type(RoleGrantStatus, 20), default=RoleGrantStatus.PENDING, index=True)
    decided_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ApiToken(IdMixin, Base):
    """A revocable bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    label: Mapped[str | None] = mapped_column(String(100))


class DataKey(Base):
    """A data-encryption key, stored only wrapped (AES-GCM) under a key-encryption key from the key ring."""

    __tablename__ = "data_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kek_id: Mapped[str] = mapped_column(String(32), index=True)
    wrapped_key: Mapped[bytes] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class AuditEntry(Base):
    """One entry of the append-only audit log, written in the transaction of what it records.

    `sequence` is taken at insert (a database sequence on PostgreSQL); the sealer later fills `key_id`,
    `previous_hash` and `entry_hash = HMAC-SHA256(key[key_id], previous_hash || canonical JSON)`; see `audit.py`.
    Until then the three are NULL. `details` holds ids, field names and outcomes, never personal values.
    """

    __tablename__ = "audit_log"
    __table_args__ = (UniqueConstraint("sequence", name="uq_audit_log_sequence"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    sequence: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor_user_id: Mapped[str | None] = mapped_column(String(32), index=True)
    actor_organisation_id: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(60), index=True)
    entity_type: Mapped[str] = mapped_column(String(60), index=True)
    entity_id: Mapped[str | None] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(20), default="ok")
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    key_id: Mapped[str | None] = mapped_column(String(32), default=None)
    previous_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    entry_hash: Mapped[str | None] = mapped_column(String(64), default=None)


class AuditCheckpoint(Base):
    """A signed head of the audit chain (Ed25519); the same line is appended to the published checkpoint file."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    sequence: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), index=True)
    entry_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[str] = mapped_column(String(32))
    signature: Mapped[str] = mapped_column(String(200))


def after_upgrade(engine: Engine) -> None:
    """Run by `passage.core.schema.upgrade_database` after the migrations: the data-encryption key is created here,
    once, outside any request (creating it lazily inside a request's transaction would need a second writer on SQLite)."""
    from passage.core.settings import get_settings
    from passage.security.crypto import KeyRing, ensure_active_data_key

    ensure_active_data_key(engine, KeyRing(get_settings().key_file))
