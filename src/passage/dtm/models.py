"""DTM tables: admin areas and their name variants, the master list of locations and sites, rounds, figures."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from passage.core.models import Base, IdMixin, TimestampMixin, VersionedMixin


class AdminAreaRecord(Base, IdMixin, TimestampMixin):
    """One COD-AB administrative area (levels 0-3) with its P-code, parent and boundary."""

    __tablename__ = "dtm_admin_area"

    pcode: Mapped[str] = mapped_column(String(32), unique=True)
    level: Mapped[int] = mapped_column(Integer, index=True)
    name_en: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str | None] = mapped_column(String(200))
    parent_pcode: Mapped[str | None] = mapped_column(ForeignKey("dtm_admin_area.pcode"), index=True)
    geometry: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    source: Mapped[str | None] = mapped_column(String(300))


class AreaNameVariant(Base, IdMixin, TimestampMixin):
    """A known other spelling of an area's name, accepted by the P-code/name check."""

    __tablename__ = "dtm_area_name_variant"
    __table_args__ = (UniqueConstraint("pcode", "normalised", name="pcode_normalised"),)

    pcode: Mapped[str] = mapped_column(ForeignKey("dtm_admin_area.pcode"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    normalised: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(16), default="en")


class Location(Base, IdMixin, TimestampMixin, VersionedMixin):
    """The master list: an assessed location, a displacement site or a flow monitoring point.

    `id` is the stable id that never changes; `code` is the operation's own human code (for a site,
    the site id enumerators write on the form) and is unique too.
    """

    __tablename__ = "dtm_location"

    code: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)  # location | site | flow_point
    name: Mapped[str] = mapped_column(String(200))
    admin_pcode: Mapped[str] = mapped_column(ForeignKey("dtm_admin_area.pcode"), index=True)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    site_type: Mapped[str | None] = mapped_column(String(40))
    management: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class AssessmentRound(Base, IdMixin, TimestampMixin, VersionedMixin):
    """A numbered DTM assessment round of one operation (e.g. "Nigeria", round 45)."""

    __tablename__ = "dtm_round"
    __table_args__ = (UniqueConstraint("operation", "number", name="operation_number"),)

    operation: Mapped[str] = mapped_column(String(100), index=True)
    number: Mapped[int] = mapped_column(Integer)
    reporting_date: Mapped[dt.date] = mapped_column(Date)
    period_start: Mapped[dt.date | None] = mapped_column(Date)
    period_end: Mapped[dt.date | None] = mapped_column(Date)
    title: Mapped[str | None] = mapped_column(String(200))


class DisplacementFigure(Base, IdMixin, TimestampMixin):
    """Figures from one baseline or site assessment submission in one round.

    `admin_pcode` is the lowest admin area the figures belong to (admin 2 or 3 for a baseline, the
    site's area for a site). The sex and age breakdown, reasons, shelter and sector needs are kept as
    JSON lists and objects, never as composite strings. `issues` lists the consistency checks the row
    failed (check code and field) at the time it was recorded.
    """

    __tablename__ = "dtm_figure"
    __table_args__ = (UniqueConstraint("round_id", "component", "submission_uuid", name="round_component_uuid"),)

    round_id: Mapped[str] = mapped_column(ForeignKey("dtm_round.id"), index=True)
    component: Mapped[str] = mapped_column(String(16), index=True)  # baseline | site
    submission_uuid: Mapped[str] = mapped_column(String(64))
    location_id: Mapped[str | None] = mapped_column(ForeignKey("dtm_location.id"), index=True)
    admin_pcode: Mapped[str] = mapped_column(ForeignKey("dtm_admin_area.pcode"), index=True)
    admin_level: Mapped[int] = mapped_column(Integer)
    reported_name: Mapped[str | None] = mapped_column(String(200))
    assessment_date: Mapped[dt.date | None] = mapped_column(Date)
    avg_household_size: Mapped[float | None] = mapped_column(Float)
    idp_households: Mapped[int | None] = mapped_column(Integer)
    idp_individuals: Mapped[int | None] = mapped_column(Integer)
    returnee_households: Mapped[int | None] = mapped_column(Integer)
    returnee_individuals: Mapped[int | None] = mapped_column(Integer)
    males: Mapped[int | None] = mapped_column(Integer)
    females: Mapped[int | None] = mapped_column(Integer)
    breakdown: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    origin_pcode: Mapped[str | None] = mapped_column(String(32))
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    shelter: Mapped[list[str]] = mapped_column(JSON, default=list)
    needs: Mapped[list[str]] = mapped_column(JSON, default=list)
    services: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    issues: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    notes: Mapped[str | None] = mapped_column(Text)


class FlowCount(Base, IdMixin, TimestampMixin):
    """One count line at a flow monitoring point: direction, nationality, transport mode, sex and age."""

    __tablename__ = "dtm_flow_count"
    __table_args__ = (UniqueConstraint("submission_uuid", "line", name="submission_line"),)

    round_id: Mapped[str | None] = mapped_column(ForeignKey("dtm_round.id"), index=True)
    location_id: Mapped[str] = mapped_column(ForeignKey("dtm_location.id"), index=True)
    submission_uuid: Mapped[str] = mapped_column(String(64))
    line: Mapped[int] = mapped_column(Integer)
    observed_on: Mapped[dt.date] = mapped_column(Date, index=True)
    direction: Mapped[str] = mapped_column(String(16))
    nationality: Mapped[str] = mapped_column(String(3))
    transport_mode: Mapped[str] = mapped_column(String(24))
    adult_males: Mapped[int] = mapped_column(Integer)
    adult_females: Mapped[int] = mapped_column(Integer)
    boys: Mapped[int] = mapped_column(Integer)
    girls: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
