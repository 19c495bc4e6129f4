"""AVRR tables. Voluntary-return data lives only in `avrr_*` tables, apart from forced-return (readmission) data.

The only bridge to a readmission case is `avrr_readmission_links`, whose `consent_id` is NOT NULL: a link
cannot exist without the person's explicit consent record. Names, health and psychosocial answers are
encrypted at rest (`passage.security.crypto`). `organisation_id` and `counsellor_id` are foreign keys to the
foundation's organisations and users; `*_by` and `actor_id` hold user ids as recorded (no foreign key, so a
retired account never blocks the case history).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from passage.core.models import Base, IdMixin, TimestampMixin, VersionedMixin, utcnow
from passage.security.crypto import EncryptedJSON, EncryptedText
from passage.security.scope import RecordScope

MONEY = Numeric(12, 2)


class AvrrCase(IdMixin, TimestampMixin, VersionedMixin, Base):
    """One AVRR case: an individual or a household, from counselling to closure."""

    __tablename__ = "avrr_cases"
    __scope__ = RecordScope(owner_organisation="organisation_id")

    reference: Mapped[str] = mapped_column(String(40), unique=True)
    programme_id: Mapped[str] = mapped_column(String(60), index=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    """Owning organisation (IOM office or national return counselling service), for record scoping."""
    stage: Mapped[str] = mapped_column(String(30), index=True, default="counselling")
    scheme_id: Mapped[str | None] = mapped_column(String(60))
    scheme_version: Mapped[str | None] = mapped_column(String(30))
    nationality: Mapped[str] = mapped_column(String(3))
    country_of_return: Mapped[str] = mapped_column(String(3), index=True)
    legal_status: Mapped[str] = mapped_column(String(40))
    asylum_stage: Mapped[str] = mapped_column(String(30), default="none")

    counselled_on: Mapped[dt.date | None] = mapped_column(Date)
    counsellor_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    decision_informed: Mapped[bool] = mapped_column(Boolean, default=False)
    decision_voluntary: Mapped[bool] = mapped_column(Boolean, default=False)
    decision: Mapped[str | None] = mapped_column(String(20))
    decided_on: Mapped[dt.date | None] = mapped_column(Date)
    applied_on: Mapped[dt.date | None] = mapped_column(Date)
    eligibility_decided_on: Mapped[dt.date | None] = mapped_column(Date)
    eligible: Mapped[bool | None] = mapped_column(Boolean)
    eligibility_decided_by: Mapped[str | None] = mapped_column(String(32))
    eligibility_reason: Mapped[str | None] = mapped_column(String(200))

    travel_document: Mapped[str | None] = mapped_column(String(30))
    medical_fitness: Mapped[str | None] = mapped_column(EncryptedText("avrr.case.medical_fitness"))
    vulnerability_screened: Mapped[bool] = mapped_column(Boolean, default=False)
    vulnerable: Mapped[bool] = mapped_column(Boolean, default=False)
    vulnerability_notes: Mapped[str | None] = mapped_column(EncryptedText("avrr.case.vulnerability_notes"))
    referral_made: Mapped[bool] = mapped_column(Boolean, default=False)
    itinerary_ref: Mapped[str | None] = mapped_column(String(60))
    escort_required: Mapped[bool] = mapped_column(Boolean, default=False)
    escort_assigned: Mapped[bool] = mapped_column(Boolean, default=False)
    allowances_paid_on: Mapped[dt.date | None] = mapped_column(Date)
    """Travel allowances (e.g. REAG/GARP Reisebeihilfe) handed over before departure."""
    departed_on: Mapped[dt.date | None] = mapped_column(Date, index=True)
    arrived_on: Mapped[dt.date | None] = mapped_column(Date)
    received_by: Mapped[str | None] = mapped_column(String(120))
    plan_due_on: Mapped[dt.date | None] = mapped_column(Date)
    plan_agreed_on: Mapped[dt.date | None] = mapped_column(Date)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    closure_reason: Mapped[str | None] = mapped_column(String(200))

    withdrawn_on: Mapped[dt.date | None] = mapped_column(Date)
    withdrawal_recorded_by: Mapped[str | None] = mapped_column(String(32))
    withdrawal_by_person: Mapped[bool | None] = mapped_column(Boolean)
    withdrawal_stated_reason: Mapped[str | None] = mapped_column(EncryptedText("avrr.case.withdrawal_reason"))

    members: Mapped[list[AvrrHouseholdMember]] = relationship(back_populates="case", cascade="all, delete-orphan")
    events: Mapped[list[AvrrStageEvent]] = relationship(back_populates="case", order_by="AvrrStageEvent.occurred_at")
    assistance: Mapped[list[AvrrAssistanceItem]] = relationship(back_populates="case", cascade="all, delete-orphan")
    consents: Mapped[list[AvrrConsentRecord]] = relationship(back_populates="case")
    monitoring: Mapped[list[AvrrMonitoringRound]] = relationship(back_populates="case", order_by="AvrrMonitoringRound.round_number")


class AvrrHouseholdMember(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "avrr_household_members"
    __table_args__ = (UniqueConstraint("case_id", "member_key"),)

    case_id: Mapped[str] = mapped_column(ForeignKey("avrr_cases.id", ondelete="CASCADE"), index=True)
    member_key: Mapped[str] = mapped_column(String(40))
    """The household's own member id (`m1`, `m2`...), as in household.json."""
    full_name: Mapped[str | None] = mapped_column(EncryptedText("avrr.member.full_name"))
    age: Mapped[int] = mapped_column(Integer)
    relationship_to_head: Mapped[str] = mapped_column(String(20))
    sex: Mapped[str | None] = mapped_column(String(1))

    case: Mapped[AvrrCase] = relationship(back_populates="members")


class AvrrStageEvent(IdMixin, Base):
    """Append-only timeline of a case: every transition, withdrawal and notable step."""

    __tablename__ = "avrr_stage_events"

    case_id: Mapped[str] = mapped_column(ForeignKey("avrr_cases.id", ondelete="CASCADE"), index=True)
    from_stage: Mapped[str | None] = mapped_column(String(30))
    to_stage: Mapped[str] = mapped_column(String(30))
    occurred_on: Mapped[dt.date] = mapped_column(Date)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor_id: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Ids and field names only, never personal values."""

    case: Mapped[AvrrCase] = relationship(back_populates="events")


class AvrrConsentRecord(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "avrr_consent_records"

    case_id: Mapped[str] = mapped_column(ForeignKey("avrr_cases.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(40))
    given_on: Mapped[dt.date] = mapped_column(Date)
    withdrawn_on: Mapped[dt.date | None] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(32))
    form_ref: Mapped[str] = mapped_column(String(80))

    case: Mapped[AvrrCase] = relationship(back_populates="consents")


class AvrrReadmissionLink(IdMixin, TimestampMixin, Base):
    """The only bridge to forced-return data; `consent_id` is required by the schema itself."""

    __tablename__ = "avrr_readmission_links"
    __table_args__ = (UniqueConstraint("case_id", "readmission_case_id"),)

    case_id: Mapped[str] = mapped_column(ForeignKey("avrr_cases.id", ondelete="CASCADE"), index=True)
    readmission_case_id: Mapped[str] = mapped_column(String(32))
    """Id of the readmission case; deliberately no foreign key, so the two data sets stay separable."""
    consent_id: Mapped[str] = mapped_column(ForeignKey("avrr_consent_records.id"), nullable=False)
    linked_by: Mapped[str] = mapped_column(String(32))
    unlinked_on: Mapped[dt.date | None] = mapped_column(Date)
    """Set when the consent is withdrawn; the link is then no longer followed."""


class AvrrAssistanceItem(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "avrr_assistance_items"

    case_id: Mapped[str] = mapped_column(ForeignKey("avrr_cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30), index=True)
    description: Mapped[str | None] = mapped_column(String(300))
    budget: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))

    case: Mapped[AvrrCase] = relationship(back_populates="assistance")
    tranches: Mapped[list[AvrrTranche]] = relationship(back_populates="item", cascade="all, delete-orphan",
                                                       order_by="AvrrTranche.number")


class AvrrTranche(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "avrr_tranches"
    __table_args__ = (UniqueConstraint("item_id", "number"),)

    item_id: Mapped[str] = mapped_column(ForeignKey("avrr_assistance_items.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    due_from: Mapped[dt.date] = mapped_column(Date)
    due_to: Mapped[dt.date] = mapped_column(Date)
    paid_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    paid_on: Mapped[dt.date | None] = mapped_column(Date)
    proof_ref: Mapped[str | None] = mapped_column(String(80))
    paid_by: Mapped[str | None] = mapped_column(String(32))

    item: Mapped[AvrrAssistanceItem] = relationship(back_populates="tranches")


class AvrrMonitoringRound(IdMixin, TimestampMixin, VersionedMixin, Base):
    """One scheduled reintegration sustainability survey and, once done, its scores."""

    __tablename__ = "avrr_monitoring_rounds"
    __table_args__ = (UniqueConstraint("case_id", "round_number"),)

    case_id: Mapped[str] = mapped_column(ForeignKey("avrr_cases.id", ondelete="CASCADE"), index=True)
    round_number: Mapped[int] = mapped_column(Integer)
    months_after_arrival: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[dt.date] = mapped_column(Date, index=True)
    completed_on: Mapped[dt.date | None] = mapped_column(Date)
    submission_ref: Mapped[str | None] = mapped_column(String(64))
    """Id of the forms-engine submission holding the answers."""
    answers: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON("avrr.monitoring.answers"))
    scoring_config: Mapped[str | None] = mapped_column(String(60))
    economic: Mapped[float | None] = mapped_column(Float)
    social: Mapped[float | None] = mapped_column(Float)
    psychosocial: Mapped[float | None] = mapped_column(Float)
    composite: Mapped[float | None] = mapped_column(Float)

    case: Mapped[AvrrCase] = relationship(back_populates="monitoring")


class AvrrCostRecord(IdMixin, TimestampMixin, Base):
    """A cost booked to a case (tickets, escorts, assistance, staff time), for cost per returnee."""

    __tablename__ = "avrr_cost_records"

    case_id: Mapped[str] = mapped_column(ForeignKey("avrr_cases.id", ondelete="CASCADE"), index=True)
    category: Mapped[str] = mapped_column(String(30))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    booked_on: Mapped[dt.date] = mapped_column(Date)


class AvrrForcedReturnCost(IdMixin, TimestampMixin, Base):
    """An aggregate forced-return cost figure (no person, no case link), the comparator for cost per returnee.

    Supplied by the organisation from its readmission or enforcement accounts; only counts and sums are kept
    here, so voluntary-return data never joins forced-return case data.
    """

    __tablename__ = "avrr_forced_return_costs"
    __scope__ = RecordScope(owner_organisation="organisation_id")

    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    booked_on: Mapped[dt.date] = mapped_column(Date)
    returnees: Mapped[int] = mapped_column(Integer)
    cost: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    source: Mapped[str] = mapped_column(String(120))
    recorded_by: Mapped[str] = mapped_column(String(32))
