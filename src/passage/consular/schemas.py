"""Consular API schemas (Pydantic v2): what clients send and what the API returns. Inputs forbid extra fields."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from passage.consular import rules
from passage.consular.evacuation import MODES
from passage.core.api_schemas import RequestModel

Country = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")


class StrictIn(RequestModel):
    """The platform's request base (`extra="forbid"`), with surrounding whitespace stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class IdentityIn(StrictIn):
    family_name: str = Field(min_length=1, max_length=100)
    given_name: str = Field(default="", max_length=100)
    sex: Literal["M", "F", "X", ""] = ""
    birth_date: dt.date | None = None
    passport_number: str = Field(default="", max_length=30)
    id_number: str = Field(default="", max_length=30)
    nationality: str = Field(default="CN", pattern=r"^[A-Z]{2}$")


class ContactIn(StrictIn):
    phone: str = Field(default="", max_length=40, pattern=r"^[+0-9 ()\-]*$")
    email: str = Field(default="", max_length=200)
    emergency_name: str = Field(default="", max_length=200)
    emergency_phone: str = Field(default="", max_length=40, pattern=r"^[+0-9 ()\-]*$")

    @model_validator(mode="after")
    def _reachable(self) -> ContactIn:
        if not self.phone and not self.email:
            raise ValueError("give a phone number or an email address")
        if self.email and ("@" not in self.email or " " in self.email):
            raise ValueError("the email address is not valid")
        return self


class LocationIn(StrictIn):
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    city: str = Field(default="", max_length=120)
    address: str = Field(default="", max_length=300)

    @model_validator(mode="after")
    def _city_or_coordinates(self) -> LocationIn:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        if self.latitude is None and not self.city:
            raise ValueError("give a city or coordinates")
        return self


class RegistrationIn(StrictIn):
    identity: IdentityIn
    contact: ContactIn
    language: Literal["zh", "en"] = "zh"
    purpose: Literal["tourism", "business", "study", "work", "family", "other"] = "tourism"
    destination_country: str = Country
    arrival_on: dt.date
    departure_on: dt.date | None = None
    location: LocationIn
    vulnerabilities: list[str] = Field(default_factory=list, max_length=10)
    household: str | None = Field(default=None, max_length=40)
    source: Literal["app", "hotline", "web", "api", "csv"] = "api"

    @field_validator("vulnerabilities")
    @classmethod
    def _known(cls, values: list[str]) -> list[str]:
        unknown = [v for v in values if v not in rules.VULNERABILITIES]
        if unknown:
            raise ValueError(f"unknown vulnerability; use {', '.join(rules.VULNERABILITIES)}")
        return sorted(set(values))

    @model_validator(mode="after")
    def _dates(self) -> RegistrationIn:
        if self.departure_on is not None and self.departure_on < self.arrival_on:
            raise ValueError("departure_on is before arrival_on")
        return self


class LocationUpdate(StrictIn):
    location: LocationIn
    version: int | None = None
    source: Literal["app", "hotline", "web", "api"] = "api"


class DuplicateOut(BaseModel):
    registration_id: str
    reference: str
    probability: float


class RegistrationSummary(BaseModel):
    id: str
    reference: str
    mission_id: str
    destination_country: str
    arrival_on: dt.date
    departure_on: dt.date | None
    priority_tier: int
    duplicate_status: str
    active: bool


class RegistrationOut(RegistrationSummary):
    version: int
    source: str
    language: str
    purpose: str
    identity: dict[str, Any]
    contact: dict[str, Any]
    location: dict[str, Any] | None
    location_updated_at: dt.datetime | None
    vulnerabilities: list[str] | None
    """None when withheld (needs the health permission)."""
    household: str | None
    duplicate_of_id: str | None
    duplicate_probability: float | None
    withheld_fields: list[str] = []


class LocationFixOut(BaseModel):
    recorded_at: dt.datetime
    source: str
    position: dict[str, Any]


class ImportRowError(BaseModel):
    line: int
    field: str
    message: str


class ImportResult(BaseModel):
    rows: int
    created: int
    possible_duplicates: int
    errors: list[ImportRowError]


class HelpRequestIn(StrictIn):
    channel: Literal["hotline", "app", "walk_in", "partner", "email"]
    category: str
    urgency: Literal["critical", "high", "medium", "low"]
    country: str = Country
    summary: str = Field(min_length=1, max_length=4000)
    registration_id: str | None = Field(default=None, max_length=32)
    caller_name: str = Field(default="", max_length=200)
    caller_phone: str = Field(default="", max_length=40, pattern=r"^[+0-9 ()\-]*$")
    crisis_id: str | None = Field(default=None, max_length=32)
    received_at: dt.datetime | None = None

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        if value not in rules.CATEGORIES:
            raise ValueError(f"unknown category; use {', '.join(rules.CATEGORIES)}")
        return value

    @model_validator(mode="after")
    def _who(self) -> HelpRequestIn:
        if not self.registration_id and not (self.caller_name or self.caller_phone):
            raise ValueError("give the registration or the caller's name or phone")
        return self


class TriageIn(StrictIn):
    version: int
    urgency: Literal["critical", "high", "medium", "low"]
    category: str | None = None
    mission_id: str | None = Field(default=None, max_length=32)
    note: str = Field(default="", max_length=4000)


class AssignIn(StrictIn):
    version: int
    mission_id: str | None = Field(default=None, max_length=32)
    officer_id: str | None = Field(default=None, max_length=32)


class RequestActionIn(StrictIn):
    version: int
    kind: Literal["contact", "note", "follow_up", "start", "resolve", "close", "reopen"]
    note: str = Field(default="", max_length=4000)
    due_at: dt.datetime | None = None
    outcome: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> RequestActionIn:
        if self.kind == "resolve" and self.outcome not in rules.OUTCOMES:
            raise ValueError(f"a resolution needs an outcome: {', '.join(rules.OUTCOMES)}")
        if self.kind == "follow_up" and self.due_at is None:
            raise ValueError("a follow-up needs due_at")
        return self


class TimerOut(BaseModel):
    name: str
    due_at: dt.datetime
    state: str
    remaining_seconds: int | None


class RequestEventOut(BaseModel):
    occurred_at: dt.datetime
    kind: str
    actor_id: str | None
    from_status: str | None
    to_status: str | None
    note: str | None
    due_at: dt.datetime | None


class HelpRequestSummary(BaseModel):
    id: str
    reference: str
    mission_id: str
    channel: str
    category: str
    urgency: str
    status: str
    country: str
    received_at: dt.datetime
    timers: list[TimerOut]


class HelpRequestOut(HelpRequestSummary):
    version: int
    registration_id: str | None
    crisis_id: str | None
    caller: dict[str, Any] | None
    summary: str
    first_contact_at: dt.datetime | None
    resolved_at: dt.datetime | None
    outcome: str | None
    assigned_to: str | None
    events: list[RequestEventOut]


class AdviceIn(StrictIn):
    country: str = Country
    level: int = Field(ge=1, le=4)
    title_en: str = Field(min_length=1, max_length=200)
    title_zh: str = Field(min_length=1, max_length=200)
    body_en: str = Field(min_length=1, max_length=20000)
    body_zh: str = Field(min_length=1, max_length=20000)
    effective_from: dt.date


class AdviceOut(BaseModel):
    country: str
    version: int
    level: int
    title_en: str
    title_zh: str
    body_en: str
    body_zh: str
    effective_from: dt.date
    published_at: dt.datetime


class CrisisIn(StrictIn):
    name_en: str = Field(min_length=1, max_length=200)
    name_zh: str = Field(min_length=1, max_length=200)
    crisis_type: str
    country: str = Country
    starts_on: dt.date
    ends_on: dt.date | None = None
    area: dict[str, Any] | None = None
    """GeoJSON Polygon or MultiPolygon; or give admin_pcodes."""
    admin_pcodes: list[str] = Field(default_factory=list, max_length=200)
    mission_id: str | None = Field(default=None, max_length=32)

    @field_validator("crisis_type")
    @classmethod
    def _type(cls, value: str) -> str:
        if value not in rules.CRISIS_TYPES:
            raise ValueError(f"unknown crisis type; use {', '.join(rules.CRISIS_TYPES)}")
        return value

    @model_validator(mode="after")
    def _area(self) -> CrisisIn:
        if self.area is None and not self.admin_pcodes:
            raise ValueError("give an area (a polygon) or admin_pcodes")
        if self.ends_on is not None and self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        return self


class CrisisOut(BaseModel):
    id: str
    reference: str
    version: int
    mission_id: str
    name_en: str
    name_zh: str
    crisis_type: str
    country: str
    starts_on: dt.date
    ends_on: dt.date | None
    area: dict[str, Any]
    admin_pcodes: list[str]
    status: str


class PersonInArea(BaseModel):
    registration_id: str
    reference: str
    contact_status: str
    priority_tier: int
    language: str


class AffectedOut(BaseModel):
    crisis_id: str
    total: int
    by_status: dict[str, int]
    unlocated_in_country: int
    """Registered in the crisis country with a city but no coordinates: not placed inside or outside."""
    items: list[PersonInArea]
    offset: int
    limit: int


class ContactStatusIn(StrictIn):
    status: Literal["not_contacted", "reached", "safe", "needs_help", "missing"]
    note: str = Field(default="", max_length=2000)
    version: int | None = None


class MessageBatchIn(StrictIn):
    kind: Literal["alert", "evacuation"] = "alert"
    statuses: list[Literal["not_contacted", "reached", "safe", "needs_help", "missing"]] = Field(default_factory=list)
    """Only people with one of these contact statuses (all when empty)."""


class MessageBatchOut(BaseModel):
    batch_id: str
    messages: int
    by_language: dict[str, int]
    skipped_without_phone: int


class OutboxItem(BaseModel):
    id: int
    batch_id: str
    crisis_id: str
    language: str
    kind: str
    recipient: str
    body: str
    created_at: dt.datetime


class OutboxPage(BaseModel):
    items: list[OutboxItem]
    next_cursor: int


class OutboxReportIn(StrictIn):
    ids: list[int] = Field(min_length=1, max_length=1000)
    status: Literal["sent", "failed"]


class AssemblyPointIn(StrictIn):
    code: str = Field(min_length=1, max_length=30)
    name: str = Field(min_length=1, max_length=200)
    translations: dict[str, dict[str, str]] = Field(default_factory=dict, description='the name in other languages: {"name": {"zh_Hans": "..."}}')
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    capacity: int


class AssemblyPointOut(AssemblyPointIn):
    id: str
    version: int


class LegIn(StrictIn):
    code: str = Field(min_length=1, max_length=30)
    mode: str
    origin_point: str = Field(min_length=1, max_length=30, description="assembly point code")
    destination_point: str | None = Field(default=None, max_length=30, description="assembly point code, or none when the leg reaches safety")
    destination_name: str = Field(min_length=1, max_length=200)
    translations: dict[str, dict[str, str]] = Field(default_factory=dict, description='the destination in other languages: {"destination_name": {"zh_Hans": "..."}}')
    departs_at: dt.datetime
    arrives_at: dt.datetime
    seats: int

    @field_validator("mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        if value not in MODES:
            raise ValueError(f"unknown mode; use {', '.join(MODES)}")
        return value


class LegOut(BaseModel):
    id: str
    version: int
    code: str
    mode: str
    origin_point_id: str
    destination_point_id: str | None
    destination_name: str
    translations: dict[str, dict[str, str]] = Field(default_factory=dict)
    departs_at: dt.datetime
    arrives_at: dt.datetime
    seats: int
    seats_taken: int
    status: str


class SeatIn(StrictIn):
    registration_id: str = Field(max_length=32)
    seat_number: int | None = Field(default=None, ge=1)
    """A given seat, or the lowest free one."""


class SeatOut(BaseModel):
    id: str
    leg_id: str
    seat_number: int
    registration_id: str
    status: str
    version: int


class CheckInIn(StrictIn):
    registration_id: str = Field(max_length=32)
    event: Literal["checked_in", "departed", "arrived", "no_show"]


class PlanParametersIn(StrictIn):
    report_minutes: int = Field(default=120, ge=0, le=24 * 60)
    transfer_minutes: int = Field(default=90, ge=0, le=24 * 60)
    nearest_points: int = Field(default=3, ge=1, le=20)


class DashboardOut(BaseModel):
    crisis_id: str
    in_area: int
    planned: int
    checked_in: int
    moved: int
    arrived: int
    missing: int
    no_show: int
    unplaced: int
    legs: list[LegOut]


class StatisticsOut(BaseModel):
    by: list[str]
    threshold: int
    rows: list[dict[str, Any]]
    suppressed_cells: int
