"""Consular tables: districts, registrations of nationals abroad and their location history, help requests,
safety advice, crises and contact status, the message outbox, and evacuation (assembly points, legs, seats).

Scope: a record is owned by the mission whose consular district it falls in (`mission_id`) and protected by the
state `protecting_country`; the national consular protection centre sees every record of its state
(`security.scope.RecordScope.protecting_country`). Identity, contact, location and vulnerabilities are encrypted
(`security.crypto`); only what queries need is in clear: the destination country, dates, a 0.01° grid cell
(about 1 km) for the crisis-area index, a priority tier for evacuation, and keyed blind indexes for duplicates.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from passage.core.models import Base, IdMixin, TimestampMixin, VersionedMixin, utcnow
from passage.security.crypto import EncryptedJSON, EncryptedText
from passage.security.scope import RecordScope

MISSION_SCOPE = RecordScope(owner_organisation="mission_id", protecting_country="protecting_country")


class ConsularDistrict(IdMixin, TimestampMixin, Base):
    """The part of a host country a mission covers: the whole country, or admin areas by P-code prefix."""

    __tablename__ = "consular_districts"
    __table_args__ = (UniqueConstraint("country", "admin_pcode", name="uq_consular_districts_country_pcode"),)

    mission_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    country: Mapped[str] = mapped_column(String(2), index=True)
    """Host country, ISO 3166-1 alpha-2."""
    admin_pcode: Mapped[str] = mapped_column(String(20), default="")
    """P-code prefix within the country (empty: the whole country, the fallback)."""
    bbox: Mapped[list[float] | None] = mapped_column(JSON)
    """[min_lon, min_lat, max_lon, max_lat] of the district, used to route registrations given as coordinates."""


class Registration(IdMixin, TimestampMixin, VersionedMixin, Base):
    """A national abroad: trip registration (12308 app style), by the person, the hotline or a mission."""

    __tablename__ = "consular_registrations"
    __scope__ = MISSION_SCOPE
    __table_args__ = (
        Index("ix_consular_registrations_country_cell", "destination_country", "grid_cell"),
        # Covers the crisis-area query (cell ranges plus the stay and state filters) so that interior cells are
        # answered from the index alone (an index-only scan on PostgreSQL, a covering index on SQLite).
        Index("ix_consular_registrations_area", "grid_cell", "protecting_country", "active", "arrival_on", "departure_on", "id"),
    )

    reference: Mapped[str] = mapped_column(String(30), unique=True)
    mission_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    protecting_country: Mapped[str] = mapped_column(String(2), index=True)
    source: Mapped[str] = mapped_column(String(20))
    """app, hotline, web, csv, api."""
    identity: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON("consular.registration.identity"))
    """family_name, given_name, sex, birth_date, passport_number, id_number, nationality."""
    contact: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON("consular.registration.contact"))
    """phone, email, emergency_name, emergency_phone."""
    language: Mapped[str] = mapped_column(String(5), default="zh")
    passport_key: Mapped[str | None] = mapped_column(String(64), index=True)
    """Blind index (HMAC) of the normalised passport number, for duplicate candidates."""
    birth_key: Mapped[str | None] = mapped_column(String(64), index=True)
    """Blind index of the date of birth, the blocking key for duplicate candidates across scripts."""
    purpose: Mapped[str] = mapped_column(String(20), default="tourism")
    destination_country: Mapped[str] = mapped_column(String(2), index=True)
    arrival_on: Mapped[dt.date] = mapped_column(Date)
    departure_on: Mapped[dt.date | None] = mapped_column(Date)
    location: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON("consular.registration.location"))
    """latitude, longitude, city, address: the latest known position."""
    location_updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    grid_cell: Mapped[int | None] = mapped_column(Integer)
    vulnerabilities: Mapped[list[str] | None] = mapped_column(EncryptedJSON("consular.registration.vulnerabilities"))
    priority_tier: Mapped[int] = mapped_column(Integer, default=2)
    """0 needs help or medical, 1 vulnerable, 2 other: what evacuation planning needs without decrypting."""
    household: Mapped[str | None] = mapped_column(String(40))
    """A travel group's own key: people with the same key are evacuated together."""
    duplicate_status: Mapped[str] = mapped_column(String(20), default="none")
    """none, possible (the identification engine found a likely earlier registration), confirmed, distinct."""
    duplicate_of_id: Mapped[str | None] = mapped_column(ForeignKey("consular_registrations.id"))
    duplicate_probability: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    history: Mapped[list[LocationFix]] = relationship(back_populates="registration", cascade="all, delete-orphan", order_by="LocationFix.recorded_at")


class LocationFix(IdMixin, Base):
    """One past position of a registration: sensitive, encrypted, audited on read, erased by retention."""

    __tablename__ = "consular_location_history"

    registration_id: Mapped[str] = mapped_column(ForeignKey("consular_registrations.id", ondelete="CASCADE"), index=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    source: Mapped[str] = mapped_column(String(20))
    position: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON("consular.location_history.position"))

    registration: Mapped[Registration] = relationship(back_populates="history")


class HelpRequest(IdMixin, TimestampMixin, VersionedMixin, Base):
    """A distress case: a call to the hotline, a message from the app, a walk-in, a partner's referral."""

    __tablename__ = "consular_help_requests"
    __scope__ = MISSION_SCOPE

    reference: Mapped[str] = mapped_column(String(30), unique=True)
    mission_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    protecting_country: Mapped[str] = mapped_column(String(2), index=True)
    registration_id: Mapped[str | None] = mapped_column(ForeignKey("consular_registrations.id"), index=True)
    crisis_id: Mapped[str | None] = mapped_column(ForeignKey("consular_crises.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(30), index=True)
    urgency: Mapped[str] = mapped_column(String(10), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True, default="received")
    country: Mapped[str] = mapped_column(String(2), index=True)
    """Where the person is (ISO 3166-1 alpha-2)."""
    caller: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON("consular.help_request.caller"))
    """name and phone of the person asking, when not a registered national."""
    summary: Mapped[str] = mapped_column(EncryptedText("consular.help_request.summary"))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    triaged_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    first_contact_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(20))
    assigned_to: Mapped[str | None] = mapped_column(String(32))
    """User id of the officer in charge (no foreign key: a retired account never blocks the case history)."""

    events: Mapped[list[RequestEvent]] = relationship(back_populates="request", cascade="all, delete-orphan", order_by="RequestEvent.occurred_at")


class RequestEvent(IdMixin, Base):
    """The append-only timeline of a help request: status changes, contacts, notes and follow-ups."""

    __tablename__ = "consular_request_events"

    request_id: Mapped[str] = mapped_column(ForeignKey("consular_help_requests.id", ondelete="CASCADE"), index=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    kind: Mapped[str] = mapped_column(String(20))
    """status, contact, note, follow_up, assignment."""
    actor_id: Mapped[str | None] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(EncryptedText("consular.request_event.note"))
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    request: Mapped[HelpRequest] = relationship(back_populates="events")


class SafetyAdvice(IdMixin, Base):
    """One version of the safety advice for a destination country, in English and Chinese; versions are never edited."""

    __tablename__ = "consular_safety_advice"
    __table_args__ = (UniqueConstraint("country", "version", name="uq_consular_safety_advice_country_version"),)

    country: Mapped[str] = mapped_column(String(2), index=True)
    version: Mapped[int] = mapped_column(Integer)
    level: Mapped[int] = mapped_column(Integer)
    """1 exercise normal caution, 2 increased caution, 3 reconsider travel, 4 leave / do not travel."""
    title_en: Mapped[str] = mapped_column(String(200))
    title_zh: Mapped[str] = mapped_column(String(200))
    body_en: Mapped[str] = mapped_column(Text)
    body_zh: Mapped[str] = mapped_column(Text)
    effective_from: Mapped[dt.date] = mapped_column(Date)
    published_by: Mapped[str] = mapped_column(String(32))
    published_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Crisis(IdMixin, TimestampMixin, VersionedMixin, Base):
    """A crisis: an area (a drawn polygon or admin areas), a period and a type."""

    __tablename__ = "consular_crises"
    __scope__ = MISSION_SCOPE

    reference: Mapped[str] = mapped_column(String(30), unique=True)
    mission_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    """The lead mission."""
    protecting_country: Mapped[str] = mapped_column(String(2), index=True)
    name_en: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200))
    crisis_type: Mapped[str] = mapped_column(String(30))
    country: Mapped[str] = mapped_column(String(2), index=True)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    area: Mapped[dict[str, Any]] = mapped_column(JSON)
    """GeoJSON Polygon or MultiPolygon (from the map, or the union of the chosen admin areas)."""
    admin_pcodes: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(10), default="active")


class CrisisContact(IdMixin, TimestampMixin, VersionedMixin, Base):
    """Contact status of one registered national in one crisis."""

    __tablename__ = "consular_crisis_contacts"
    __table_args__ = (UniqueConstraint("crisis_id", "registration_id", name="uq_consular_crisis_contacts_pair"),)

    crisis_id: Mapped[str] = mapped_column(ForeignKey("consular_crises.id", ondelete="CASCADE"), index=True)
    registration_id: Mapped[str] = mapped_column(ForeignKey("consular_registrations.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="not_contacted", index=True)
    updated_by: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(EncryptedText("consular.crisis_contact.note"))


class OutboxMessage(Base):
    """A generated message waiting for a gateway to pull it; Passage itself never sends."""

    __tablename__ = "consular_outbox"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(String(32), index=True)
    crisis_id: Mapped[str] = mapped_column(ForeignKey("consular_crises.id", ondelete="CASCADE"), index=True)
    mission_id: Mapped[str] = mapped_column(String(32), index=True)
    registration_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(5))
    recipient: Mapped[str] = mapped_column(EncryptedText("consular.outbox.recipient"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(12), default="queued", index=True)
    """queued, pulled, sent, failed (reported back by the gateway)."""
    pulled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reported_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AssemblyPoint(IdMixin, TimestampMixin, VersionedMixin, Base):
    """A place where evacuees gather for transport (MEND guide §4), holding at most `capacity` people at once."""

    __tablename__ = "consular_assembly_points"
    __table_args__ = (UniqueConstraint("crisis_id", "code", name="uq_consular_assembly_points_code"),)

    crisis_id: Mapped[str] = mapped_column(ForeignKey("consular_crises.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(200))
    translations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """The name in other languages, published to evacuees: {"name": {locale: text}} (docs/consular.md, "Languages")."""
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    capacity: Mapped[int] = mapped_column(Integer)


class TransportLeg(IdMixin, TimestampMixin, VersionedMixin, Base):
    """A bus, charter flight or ship from an assembly point to another one or to safety."""

    __tablename__ = "consular_transport_legs"
    __table_args__ = (UniqueConstraint("crisis_id", "code", name="uq_consular_transport_legs_code"),)

    crisis_id: Mapped[str] = mapped_column(ForeignKey("consular_crises.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(30))
    mode: Mapped[str] = mapped_column(String(20))
    origin_point_id: Mapped[str] = mapped_column(ForeignKey("consular_assembly_points.id"), index=True)
    destination_point_id: Mapped[str | None] = mapped_column(ForeignKey("consular_assembly_points.id"))
    destination_name: Mapped[str] = mapped_column(String(200))
    translations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """The destination's name in other languages: {"destination_name": {locale: text}}."""
    departs_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    arrives_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    seats: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default="scheduled")
    """scheduled, departed, arrived, cancelled."""


class SeatAssignment(IdMixin, TimestampMixin, VersionedMixin, Base):
    """One person on one seat of one leg. The unique constraints make a double booking impossible: of two
    officers taking the same seat at once, the second commit fails and is answered with 409."""

    __tablename__ = "consular_seat_assignments"
    __table_args__ = (
        UniqueConstraint("leg_id", "seat_number", name="uq_consular_seat_assignments_seat"),
        UniqueConstraint("leg_id", "registration_id", name="uq_consular_seat_assignments_person"),
    )

    crisis_id: Mapped[str] = mapped_column(ForeignKey("consular_crises.id", ondelete="CASCADE"), index=True)
    leg_id: Mapped[str] = mapped_column(ForeignKey("consular_transport_legs.id", ondelete="CASCADE"), index=True)
    seat_number: Mapped[int] = mapped_column(Integer)
    registration_id: Mapped[str] = mapped_column(ForeignKey("consular_registrations.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="planned", index=True)
    """planned, checked_in, departed, arrived, no_show."""
    assigned_by: Mapped[str] = mapped_column(String(32))
    checked_in_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    departed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    arrived_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
