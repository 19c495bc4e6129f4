"""Consular domain operations: registrations, location history, help requests, safety advice, crises, messages,
evacuation and statistics.

Every operation takes the session first and the acting user (`actor`) keyword-only, loads records through the
deny-by-default scope (`security.scope`: the mission of the consular district owns a record, the national
consular protection centre sees all of its state's records) and appends the hash-chained audit entry in the
caller's transaction. Reads of personal data (a registration, its location history, a manifest, the outbox)
are audited too, with ids only. Vulnerabilities are health data: they need `Permission.HEALTH_READ` to be read.

Duplicates are scored by the identification engine (`passage.identity.service.score_candidates`) on candidates
found by keyed blind indexes of the passport number and the date of birth.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import statistics as pystats
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, and_, delete, func, or_, select, union_all, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from passage.consular import evacuation, geo, rules
from passage.consular import messages as _messages  # noqa: F401 - registers the consular.code words messages name
from passage.consular.models import (
    AssemblyPoint,
    ConsularDistrict,
    Crisis,
    CrisisContact,
    HelpRequest,
    LocationFix,
    OutboxMessage,
    Registration,
    RequestEvent,
    SafetyAdvice,
    SeatAssignment,
    TransportLeg,
)
from passage.consular.schemas import (
    AdviceIn,
    AssemblyPointIn,
    AssignIn,
    CrisisIn,
    HelpRequestIn,
    ImportResult,
    ImportRowError,
    LegIn,
    LocationIn,
    RegistrationIn,
    RequestActionIn,
    TriageIn,
)
from passage.core.db import BULK_ROWS, analyze, check_version
from passage.core.errors import Conflict, FieldError, InvalidInput, NotFound
from passage.core.files import atomic_output, read_csv_rows
from passage.core.i18n import T_, Label
from passage.core.models import utcnow
from passage.core.settings import get_settings
from passage.security import audit, blind_index
from passage.security.actors import Actor
from passage.security.models import Organisation, OrganisationLevel, User
from passage.security.operations import require_permission
from passage.security.permissions import Permission, permissions_for
from passage.security.scope import get_visible, scoped_select, visible_clause

CSV_COLUMNS = (
    "family_name", "given_name", "sex", "birth_date", "passport_number", "id_number", "nationality", "phone", "email",
    "emergency_name", "emergency_phone", "language", "purpose", "destination_country", "city", "address", "latitude",
    "longitude", "arrival_on", "departure_on", "vulnerabilities", "household",
)
CSV_REQUIRED = ("family_name", "destination_country", "arrival_on")
MAX_IMPORT_ROWS = 50_000
DUPLICATE_CANDIDATES = 200
DUPLICATE_PROBABILITY = 0.5
PASSPORT_LOG2_BF = 20.0
"""A passport number that agrees: m about 0.95 (typing errors), u about 1e-6 among one state's travellers."""
LOCATION_HISTORY_DAYS = 90
"""Retention of past positions: kept for 90 days, and erased 30 days after the trip ended."""
AFTER_TRIP_DAYS = 30


def _require(session: Session, actor: Actor, permission: Permission, entity_type: str, operation: str) -> None:
    """The service asks, not the route (the foundation's operation protocol): a CLI run or another module's call
    meets the same check, refused and audited through `security.operations.refuse`."""
    require_permission(session, actor=actor, permission=permission, entity_type=entity_type, operation=operation)


def _has(user: User, permission: Permission) -> bool:
    return permission in permissions_for(user.role_set)


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or utcnow()


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _reference(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(5).upper()}"


# --- districts ---------------------------------------------------------------------------------------


def set_district(session: Session, *, actor: Actor, mission_id: str, country: str, admin_pcode: str = "",
                 bbox: Sequence[float] | None = None) -> ConsularDistrict:
    """Record that a mission covers a host country (or part of it, by P-code prefix and bounding box)."""
    _require(session, actor, Permission.USERS_MANAGE, "consular_district", "set_district")
    mission = session.get(Organisation, mission_id)
    if mission is None or mission.level != OrganisationLevel.MISSION:
        raise InvalidInput(T_("not a mission"), fields=[FieldError("mission_id", T_("must be an organisation of level mission"))])
    if bbox is not None and (len(bbox) != 4 or bbox[0] > bbox[2] or bbox[1] > bbox[3]):
        raise InvalidInput(T_("invalid district box"), fields=[FieldError("bbox", T_("expected [min_lon, min_lat, max_lon, max_lat]"))])
    district = ConsularDistrict(mission_id=mission_id, country=country.upper(), admin_pcode=admin_pcode, bbox=list(bbox) if bbox else None)
    session.add(district)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="consular_district", entity_id=district.id,
                 details={"mission_id": mission_id, "country": district.country})
    return district


def missions(session: Session) -> list[Organisation]:
    return list(session.scalars(select(Organisation).where(Organisation.level == OrganisationLevel.MISSION).order_by(Organisation.name)))


def districts(session: Session) -> list[ConsularDistrict]:
    return list(session.scalars(select(ConsularDistrict).order_by(ConsularDistrict.country, ConsularDistrict.admin_pcode)))


def mission_for(session: Session, *, country: str, latitude: float | None = None, longitude: float | None = None,
                field: str = "destination_country") -> str:
    """The mission whose consular district holds a place: a district box containing the point, else the whole country."""
    found = list(session.scalars(select(ConsularDistrict).where(ConsularDistrict.country == country)))
    if latitude is not None and longitude is not None:
        for district in found:
            if district.bbox and district.bbox[0] <= longitude <= district.bbox[2] and district.bbox[1] <= latitude <= district.bbox[3]:
                return district.mission_id
    for district in found:
        if not district.admin_pcode and not district.bbox:
            return district.mission_id
    if found:
        return found[0].mission_id
    raise InvalidInput(T_("no mission covers this country"), fields=[FieldError(field, T_("no consular district is set up for this country"))])


def _protecting_country(actor: User) -> str:
    organisation = actor.organisation
    if organisation.level == OrganisationLevel.MISSION or organisation.level == OrganisationLevel.NATIONAL:
        return organisation.country
    raise InvalidInput(T_("your organisation does not provide consular protection"))


def _check_district(actor: User, mission_id: str, field: str) -> None:
    """A mission's officer works within the mission's own district; the centre and gateways anywhere."""
    if actor.organisation.level == OrganisationLevel.MISSION and mission_id != actor.organisation_id:
        raise InvalidInput(T_("the place is in another mission's consular district"), fields=[FieldError(field, T_("outside your consular district"))])


# --- registrations -----------------------------------------------------------------------------------


def _location_document(location: LocationIn) -> dict[str, Any]:
    return {"latitude": location.latitude, "longitude": location.longitude, "city": location.city, "address": location.address}


def _passport_key(number: str) -> str | None:
    normalised = "".join(ch for ch in number.upper() if ch.isalnum())
    # the platform's blind-index key ring (separate from the encryption keys; `security.blind_index`)
    return blind_index.token(normalised, context="consular.passport")[1] if normalised else None


def _birth_key(birth: dt.date | None) -> str | None:
    return blind_index.token(birth.isoformat(), context="consular.birth_date")[1] if birth else None


def _identity_document(data: RegistrationIn) -> dict[str, Any]:
    identity = data.identity.model_dump()
    identity["birth_date"] = data.identity.birth_date.isoformat() if data.identity.birth_date else None
    return identity


def _find_duplicate(session: Session, *, registration: Registration, identity: dict[str, Any]) -> None:
    """Score earlier registrations sharing a passport or birth-date key with the identification engine."""
    from passage.identity import compare
    from passage.identity import service as identity_service

    keys = [k for k in (registration.passport_key,) if k]
    conditions: list[ColumnElement[bool]] = [Registration.passport_key == k for k in keys]
    if registration.birth_key:
        conditions.append(Registration.birth_key == registration.birth_key)
    if not conditions:
        return
    candidates = list(session.execute(
        select(Registration.id, Registration.identity, Registration.passport_key)
        .where(or_(*conditions), Registration.id != registration.id, Registration.protecting_country == registration.protecting_country,
               Registration.active.is_(True))
        .order_by(Registration.created_at.desc()).limit(DUPLICATE_CANDIDATES)
    ))
    if not candidates:
        return
    query = identity_service.person_query(query_id=registration.id, family_name=identity.get("family_name", ""), given_name=identity.get("given_name", ""),
                                          sex=identity.get("sex", ""), birth_date=identity.get("birth_date"), id_number=identity.get("id_number", ""))
    records = []
    extra: dict[str, float] = {}
    for candidate_id, other, passport_key in candidates:
        other_birth = dt.date.fromisoformat(other["birth_date"]) if other.get("birth_date") else None
        records.append(compare.Record(person_id=candidate_id, family_name=other.get("family_name", ""), given_name=other.get("given_name", ""),
                                      sex=other.get("sex", ""), birth_date=other_birth, birth_place="", id_number=other.get("id_number", "")))
        if passport_key and passport_key == registration.passport_key:
            extra[candidate_id] = PASSPORT_LOG2_BF
    population = session.scalar(select(func.count()).select_from(Registration).where(Registration.protecting_country == registration.protecting_country)) or 1
    scores = identity_service.score_candidates(query=query, candidates=records, population=population, extra_log2_bf=extra)
    best = scores[0] if scores else None
    if best is not None and best.probability >= DUPLICATE_PROBABILITY:
        registration.duplicate_status = "possible"
        registration.duplicate_of_id = best.person_id
        registration.duplicate_probability = best.probability


def _own_district_mission(session: Session, *, actor: User, country: str) -> str | None:
    """The actor's own mission when it covers part of `country` (the officer knows where the person is)."""
    if actor.organisation.level != OrganisationLevel.MISSION:
        return None
    own = session.scalar(select(ConsularDistrict.id).where(ConsularDistrict.mission_id == actor.organisation_id, ConsularDistrict.country == country).limit(1))
    return actor.organisation_id if own is not None else None


def _registration_mission(session: Session, *, actor: User, data: RegistrationIn) -> str:
    """The mission of the district the person is in. Without coordinates a mission's own registration stays with
    the mission when it covers part of that country (an officer knows their city); otherwise the country decides."""
    location = data.location
    if location.latitude is None:
        own = _own_district_mission(session, actor=actor, country=data.destination_country)
        if own is not None:
            return own
    mission_id = mission_for(session, country=data.destination_country, latitude=location.latitude, longitude=location.longitude)
    _check_district(actor, mission_id, "destination_country")
    return mission_id


def create_registration(session: Session, *, actor: User, data: RegistrationIn, check_duplicates: bool = True) -> Registration:
    """Register a national abroad (the app, the hotline, a mission); flags a likely earlier registration."""
    _require(session, actor, Permission.CONSULAR_SUBMIT, "consular_registration", "create")
    location = data.location
    mission_id = _registration_mission(session, actor=actor, data=data)
    identity = _identity_document(data)
    now = utcnow()
    tier = rules.priority_tier(data.vulnerabilities)
    registration = Registration(
        reference=_reference("REG"), mission_id=mission_id, protecting_country=_protecting_country(actor), source=data.source,
        identity=identity, contact=data.contact.model_dump(), language=data.language,
        passport_key=_passport_key(data.identity.passport_number), birth_key=_birth_key(data.identity.birth_date),
        purpose=data.purpose, destination_country=data.destination_country, arrival_on=data.arrival_on, departure_on=data.departure_on,
        location=_location_document(location), location_updated_at=now,
        grid_cell=geo.cell_of(location.latitude, location.longitude) if location.latitude is not None and location.longitude is not None else None,
        vulnerabilities=data.vulnerabilities, priority_tier=tier, household=data.household,
    )
    session.add(registration)
    session.flush()
    session.add(LocationFix(registration_id=registration.id, recorded_at=now, source=data.source, position=_location_document(location)))
    if check_duplicates:
        _find_duplicate(session, registration=registration, identity=identity)
    audit.record(session, actor=actor, action="create", entity_type="consular_registration", entity_id=registration.id,
                 details={"mission_id": mission_id, "source": data.source, "duplicate_status": registration.duplicate_status,
                          "duplicate_of_id": registration.duplicate_of_id})
    return registration


def load_registration(session: Session, *, actor: User, registration_id: str) -> Registration:
    return get_visible(session, Registration, registration_id, actor)


def registration_view(session: Session, *, actor: User, registration_id: str) -> dict[str, Any]:
    """A registration as shown to the officer; the read is audited; vulnerabilities withheld without the health permission."""
    _require(session, actor, Permission.CONSULAR_READ, "consular_registration", "read")
    registration = load_registration(session, actor=actor, registration_id=registration_id)
    health = _has(actor, Permission.HEALTH_READ)
    audit.record(session, actor=actor, action="read", entity_type="consular_registration", entity_id=registration.id,
                 details={"sensitive_groups_read": ["health"] if health else []})
    return {
        "id": registration.id, "reference": registration.reference, "mission_id": registration.mission_id, "version": registration.version,
        "destination_country": registration.destination_country, "arrival_on": registration.arrival_on, "departure_on": registration.departure_on,
        "priority_tier": registration.priority_tier, "duplicate_status": registration.duplicate_status, "active": registration.active,
        "source": registration.source, "language": registration.language, "purpose": registration.purpose,
        "identity": registration.identity, "contact": registration.contact, "location": registration.location,
        "location_updated_at": registration.location_updated_at,
        "vulnerabilities": registration.vulnerabilities if health else None, "household": registration.household,
        "duplicate_of_id": registration.duplicate_of_id, "duplicate_probability": registration.duplicate_probability,
        "withheld_fields": [] if health else ["vulnerabilities"],
    }


def list_registrations(session: Session, *, actor: User, country: str | None = None, reference: str | None = None,
                       duplicate_status: str | None = None, active: bool | None = True, offset: int = 0, limit: int = 50) -> tuple[list[Registration], int]:
    _require(session, actor, Permission.CONSULAR_READ, "consular_registration", "list")
    query = scoped_select(Registration, actor)
    if country:
        query = query.where(Registration.destination_country == country)
    if reference:
        query = query.where(Registration.reference == reference.strip().upper())
    if duplicate_status:
        query = query.where(Registration.duplicate_status == duplicate_status)
    if active is not None:
        query = query.where(Registration.active.is_(active))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(session.scalars(query.order_by(Registration.created_at.desc(), Registration.id).offset(offset).limit(limit)))
    return rows, total


def update_location(session: Session, *, actor: User, registration_id: str, location: LocationIn, source: str = "api",
                    version: int | None = None) -> Registration:
    """Record a new position: the history gains an encrypted entry, the grid cell follows."""
    _require(session, actor, Permission.CONSULAR_MANAGE, "consular_registration", "update_location")
    registration = load_registration(session, actor=actor, registration_id=registration_id)
    check_version(registration, version)
    now = utcnow()
    document = _location_document(location)
    registration.location = document
    registration.location_updated_at = now
    registration.grid_cell = geo.cell_of(location.latitude, location.longitude) if location.latitude is not None and location.longitude is not None else None
    session.add(LocationFix(registration_id=registration.id, recorded_at=now, source=source, position=document))
    session.flush()
    audit.record(session, actor=actor, action="update_location", entity_type="consular_registration", entity_id=registration.id,
                 details={"source": source})
    return registration


def location_history(session: Session, *, actor: User, registration_id: str) -> list[LocationFix]:
    """Past positions of one person, newest first; an audited read of sensitive data."""
    _require(session, actor, Permission.CONSULAR_MANAGE, "consular_location_history", "read")
    registration = load_registration(session, actor=actor, registration_id=registration_id)
    fixes = list(session.scalars(select(LocationFix).where(LocationFix.registration_id == registration.id).order_by(LocationFix.recorded_at.desc())))
    audit.record(session, actor=actor, action="read", entity_type="consular_location_history", entity_id=registration.id,
                 details={"entries": len(fixes)})
    return fixes


def resolve_duplicate(session: Session, *, actor: User, registration_id: str, decision: str, version: int | None = None) -> Registration:
    """An officer's decision on a flagged duplicate: `confirmed` retires the newer record, `distinct` clears the flag."""
    _require(session, actor, Permission.CONSULAR_MANAGE, "consular_registration", "resolve_duplicate")
    registration = load_registration(session, actor=actor, registration_id=registration_id)
    check_version(registration, version)
    if registration.duplicate_status != "possible":
        raise Conflict(T_("this registration is not flagged as a possible duplicate"))
    if decision == "confirmed":
        registration.duplicate_status = "confirmed"
        registration.active = False
    elif decision == "distinct":
        registration.duplicate_status = "distinct"
    else:
        raise InvalidInput(T_("unknown decision"), fields=[FieldError("decision", T_("confirmed or distinct"))])
    session.flush()
    audit.record(session, actor=actor, action="resolve_duplicate", entity_type="consular_registration", entity_id=registration.id,
                 details={"decision": decision, "duplicate_of_id": registration.duplicate_of_id})
    return registration


def _csv_registration(row: dict[str, str]) -> dict[str, Any]:
    def value(name: str) -> str:
        return row.get(name, "") or ""

    location: dict[str, Any] = {"city": value("city"), "address": value("address")}
    for name in ("latitude", "longitude"):
        if value(name):
            location[name] = value(name)
    return {
        "identity": {"family_name": value("family_name"), "given_name": value("given_name"), "sex": value("sex").upper(),
                     "birth_date": value("birth_date") or None, "passport_number": value("passport_number"), "id_number": value("id_number"),
                     "nationality": value("nationality").upper() or "CN"},
        "contact": {"phone": value("phone"), "email": value("email"), "emergency_name": value("emergency_name"), "emergency_phone": value("emergency_phone")},
        "language": value("language") or "zh", "purpose": value("purpose") or "tourism", "destination_country": value("destination_country").upper(),
        "arrival_on": value("arrival_on"), "departure_on": value("departure_on") or None, "location": location,
        "vulnerabilities": [v.strip() for v in value("vulnerabilities").replace(",", ";").split(";") if v.strip()],
        "household": value("household") or None, "source": "csv",
    }


def _row_errors(line: int, exc: ValidationError) -> list[ImportRowError]:
    errors = []
    for error in exc.errors():
        location = [str(part) for part in error["loc"] if not str(part).isdigit()]
        column = location[-1] if location else "row"
        if column in ("identity", "contact", "location") or not location:
            column = location[0] if location else "row"
        message = str(error["msg"]).removeprefix("Value error, ")
        errors.append(ImportRowError(line=line, field=column, message=message))
    return errors


def import_registrations(session: Session, *, actor: User, path: Path, dry_run: bool = False,
                         on_progress: Callable[[int, int], None] | None = None) -> ImportResult:
    """A mission's bulk CSV (columns in `docs/consular.md`). Every row is checked first; any error refuses the
    whole file with each row's line and column, so nothing is half-imported and no row is dropped silently."""
    _require(session, actor, Permission.CONSULAR_MANAGE, "consular_registration", "import")
    _header, rows = read_csv_rows(path, required=CSV_REQUIRED, optional=CSV_COLUMNS, allow_extra=False)
    if len(rows) > MAX_IMPORT_ROWS:
        raise InvalidInput(T_("{file}: at most {MAX_IMPORT_ROWS} rows per file", file=path.name, MAX_IMPORT_ROWS=MAX_IMPORT_ROWS))
    parsed: list[tuple[int, RegistrationIn]] = []
    errors: list[ImportRowError] = []
    for line, row in rows:
        try:
            data = RegistrationIn.model_validate(_csv_registration(row))
        except ValidationError as exc:
            errors.extend(_row_errors(line, exc))
            continue
        try:
            _registration_mission(session, actor=actor, data=data)
        except InvalidInput as exc:
            errors.extend(ImportRowError(line=line, field=f.path, message=f.message) for f in exc.fields)
            continue
        parsed.append((line, data))
    if errors:
        raise InvalidInput(
            f"{path.name}: {len(errors)} problem(s) in {len({e.line for e in errors})} row(s); nothing was imported",
            fields=[FieldError(f"line {e.line}, column {e.field}", e.message) for e in errors],
        )
    created = duplicates = 0
    if not dry_run:
        for index, (_line, data) in enumerate(parsed):
            registration = create_registration(session, actor=actor, data=data)
            created += 1
            duplicates += registration.duplicate_status == "possible"
            if on_progress and index % 50 == 0:
                on_progress(index + 1, len(parsed))
        audit.record(session, actor=actor, action="import", entity_type="consular_registration", entity_id=None,
                     details={"file": path.name, "rows": len(rows), "created": created, "possible_duplicates": duplicates})
        if created >= BULK_ROWS:
            session.flush()
            analyze(session, Registration.__tablename__)
    return ImportResult(rows=len(rows), created=created, possible_duplicates=duplicates, errors=[])


# --- retention of location history ---------------------------------------------------------------------


RETENTION_POLICY = {
    "record_type": "consular_location_history",
    "description": f"past positions of nationals abroad: erased after {LOCATION_HISTORY_DAYS} days, and {AFTER_TRIP_DAYS} days after the trip ended",
    "keep_days": LOCATION_HISTORY_DAYS,
    "after_trip_days": AFTER_TRIP_DAYS,
}
"""The policy the foundation's retention job reads; `erase_location_history` applies it."""


def erase_location_history(session: Session, *, actor: Actor, today: dt.date | None = None) -> int:
    """Erase location history past the retention policy; the latest position stays on active trips. Audited (counts only)."""
    _require(session, actor, Permission.CONSULAR_MANAGE, "consular_location_history", "retention_erase")
    today = today or dt.date.today()
    cutoff = dt.datetime.combine(today - dt.timedelta(days=LOCATION_HISTORY_DAYS), dt.time(), tzinfo=dt.UTC)
    trip_ended = select(Registration.id).where(Registration.departure_on.is_not(None),
                                               Registration.departure_on < today - dt.timedelta(days=AFTER_TRIP_DAYS))
    old = session.execute(delete(LocationFix).where(LocationFix.recorded_at < cutoff).execution_options(synchronize_session=False))
    ended = session.execute(delete(LocationFix).where(LocationFix.registration_id.in_(trip_ended)).execution_options(synchronize_session=False))
    cleared = session.execute(update(Registration).where(Registration.id.in_(trip_ended), Registration.location.is_not(None))
                              .values(location=None, grid_cell=None).execution_options(synchronize_session=False))
    erased = int(old.rowcount or 0) + int(ended.rowcount or 0)  # type: ignore[attr-defined]
    audit.record(session, actor=actor, action="retention_erase", entity_type="consular_location_history", entity_id=None,
                 details={"entries_erased": erased, "current_positions_cleared": int(cleared.rowcount or 0),  # type: ignore[attr-defined]
                          "policy": RETENTION_POLICY["description"]})
    return erased


def _history_cutoffs(today: dt.date) -> tuple[dt.datetime, dt.date]:
    return (dt.datetime.combine(today - dt.timedelta(days=LOCATION_HISTORY_DAYS), dt.time(), tzinfo=dt.UTC),
            today - dt.timedelta(days=AFTER_TRIP_DAYS))


def registrations_with_expired_history(session: Session, *, today: dt.date) -> list[str]:
    """Registrations holding location history past `RETENTION_POLICY` (for the platform's retention job)."""
    cutoff, trip_end = _history_cutoffs(today)
    ended = select(Registration.id).where(Registration.departure_on.is_not(None), Registration.departure_on < trip_end)
    old = select(LocationFix.registration_id).where(LocationFix.recorded_at < cutoff)
    ended_with_data = select(Registration.id).where(Registration.id.in_(ended), or_(
        Registration.location.is_not(None), Registration.id.in_(select(LocationFix.registration_id))))
    return sorted(set(session.scalars(old)) | set(session.scalars(ended_with_data)))


def erase_registration_history(session: Session, *, actor: Actor, registration_id: str, today: dt.date) -> int:
    """`erase_location_history` for one registration (the retention job erases record by record). Audited."""
    _require(session, actor, Permission.CONSULAR_MANAGE, "consular_location_history", "retention_erase")
    cutoff, trip_end = _history_cutoffs(today)
    registration = session.get(Registration, registration_id)
    if registration is None:
        return 0
    trip_over = registration.departure_on is not None and registration.departure_on < trip_end
    condition = LocationFix.registration_id == registration_id
    if not trip_over:
        condition = and_(condition, LocationFix.recorded_at < cutoff)
    erased = int(session.execute(delete(LocationFix).where(condition).execution_options(synchronize_session=False)).rowcount or 0)  # type: ignore[attr-defined]
    if trip_over and registration.location is not None:
        registration.location = None
        registration.grid_cell = None
    audit.record(session, actor=actor, action="retention_erase", entity_type="consular_location_history", entity_id=registration_id,
                 details={"entries_erased": erased, "current_position_cleared": trip_over, "policy": RETENTION_POLICY["description"]})
    return erased


# --- help requests -----------------------------------------------------------------------------------


def _event(request: HelpRequest, *, actor: User | None, kind: str, at: dt.datetime, from_status: str | None = None,
           to_status: str | None = None, note: str | None = None, due_at: dt.datetime | None = None) -> None:
    request.events.append(RequestEvent(kind=kind, occurred_at=at, actor_id=actor.id if actor else None, from_status=from_status,
                                       to_status=to_status, note=note or None, due_at=due_at))


def create_help_request(session: Session, *, actor: User, data: HelpRequestIn) -> HelpRequest:
    """Receive a call for help; it goes to the mission of the district where the person is."""
    _require(session, actor, Permission.CONSULAR_SUBMIT, "consular_help_request", "create")
    registration: Registration | None = None
    if data.registration_id:
        if _is_gateway(actor):
            # A gateway reads nothing, but may name a registration of its own state when forwarding a call.
            registration = session.get(Registration, data.registration_id)
            if registration is None or registration.protecting_country != _protecting_country(actor):
                raise NotFound(T_("consular_registrations {registration_id} not found", registration_id=data.registration_id))
        else:
            registration = load_registration(session, actor=actor, registration_id=data.registration_id)
    if registration is not None:
        mission_id = registration.mission_id
    else:
        mission_id = _own_district_mission(session, actor=actor, country=data.country) or mission_for(session, country=data.country, field="country")
    if data.crisis_id:
        crisis = session.get(Crisis, data.crisis_id) if _is_gateway(actor) else load_crisis(session, actor=actor, crisis_id=data.crisis_id)
        if crisis is None or crisis.protecting_country != _protecting_country(actor):
            raise NotFound(T_("consular_crises {crisis_id} not found", crisis_id=data.crisis_id))
    received = _aware(data.received_at) or utcnow()
    if received > utcnow() + dt.timedelta(minutes=5):
        raise InvalidInput(T_("received_at is in the future"), fields=[FieldError("received_at", T_("must not be in the future"))])
    caller = {"name": data.caller_name, "phone": data.caller_phone} if (data.caller_name or data.caller_phone) else None
    request = HelpRequest(reference=_reference("HR"), mission_id=mission_id, protecting_country=_protecting_country(actor),
                          registration_id=registration.id if registration else None, crisis_id=data.crisis_id, channel=data.channel,
                          category=data.category, urgency=data.urgency, status="received", country=data.country, caller=caller,
                          summary=data.summary, received_at=received)
    _event(request, actor=actor, kind="status", at=received, to_status="received")
    session.add(request)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="consular_help_request", entity_id=request.id,
                 details={"mission_id": mission_id, "channel": data.channel, "category": data.category, "urgency": data.urgency})
    return request


def _is_gateway(actor: User) -> bool:
    from passage.security.models import Role

    return Role.CONSULAR_GATEWAY in actor.role_set and not _has(actor, Permission.CONSULAR_READ)


def load_help_request(session: Session, *, actor: User, request_id: str) -> HelpRequest:
    return get_visible(session, HelpRequest, request_id, actor)


def read_help_request(session: Session, *, actor: User, request_id: str) -> HelpRequest:
    _require(session, actor, Permission.CONSULAR_READ, "consular_help_request", "read")
    request = load_help_request(session, actor=actor, request_id=request_id)
    audit.record(session, actor=actor, action="read", entity_type="consular_help_request", entity_id=request.id)
    return request


def _change_status(request: HelpRequest, *, actor: User, target: str, at: dt.datetime, note: str | None = None) -> None:
    rules.check_request_transition(request.status, target)
    _event(request, actor=actor, kind="status", at=at, from_status=request.status, to_status=target, note=note)
    request.status = target


def triage(session: Session, *, actor: User, request_id: str, data: TriageIn, now: dt.datetime | None = None) -> HelpRequest:
    _require(session, actor, Permission.CONSULAR_MANAGE, "consular_help_request", "triage")
    request = load_help_request(session, actor=actor, request_id=request_id)
    check_version(request, data.version)
    at = _now(now)
    if data.category is not None and data.category not in rules.CATEGORIES:
        raise InvalidInput(T_("unknown category"), fields=[FieldError("category", T_("not a known category"))])
    _change_status(request, actor=actor, target="triaged", at=at, note=data.note)
    request.urgency = data.urgency
    request.category = data.category or request.category
    request.triaged_at = at
    if data.mission_id and data.mission_id != request.mission_id:
        _reassign_mission(session, request, data.mission_id)
    session.flush()
    audit.record(session, actor=actor, action="triage", entity_type="consular_help_request", entity_id=request.id,
                 details={"urgency": data.urgency, "mission_id": request.mission_id})
    return request


def _reassign_mission(session: Session, request: HelpRequest, mission_id: str) -> None:
    mission = session.get(Organisation, mission_id)
    if mission is None or mission.level != OrganisationLevel.MISSION or mission.country != request.protecting_country:
        raise InvalidInput(T_("not a mission of this state"), fields=[FieldError("mission_id", T_("unknown mission"))])
    request.mission_id = mission_id


def assign(session: Session, *, actor: User, request_id: str, data: AssignIn, now: dt.datetime | None = None) -> HelpRequest:
    """Assign to a mission (the centre routes) and/or to an officer of that mission."""
    _require(session, actor, Permission.CONSULAR_MANAGE, "consular_help_request", "assign")
    request = load_help_request(session, actor=actor, request_id=request_id)
    check_version(request, data.version)
    at = _now(now)
    if data.mission_id and data.mission_id != request.mission_id:
        _reassign_mission(session, request, data.mission_id)
    if data.officer_id:
        officer = session.get(User, data.officer_id)
        if officer is None or officer.organisation_id != request.mission_id or not _has(officer, Permission.CONSULAR_MANAGE):
            raise InvalidInput(T_("the officer cannot take this request"), fields=[FieldError("officer_id", T_("not a consular officer of the assigned mission"))])
        request.assigned_to = officer.id
    _change_status(request, actor=actor, target="assigned", at=at)
    _event(request, actor=actor, kind="assignment", at=at, note=None)
    session.flush()
    audit.record(session, actor=actor, action="assign", entity_type="consular_help_request", entity_id=request.id,
                 details={"mission_id": request.mission_id, "officer_id": request.assigned_to})
    return request


def act_on_request(session: Session, *, actor: User, request_id: str, data: RequestActionIn, now: dt.datetime | None = None) -> HelpRequest:
    """Contact, note, follow-up, start, resolve (with outcome), close, reopen; each is a timeline event."""
    _require(session, actor, Permission.CONSULAR_MANAGE, "consular_help_request", "act")
    request = load_help_request(session, actor=actor, request_id=request_id)
    check_version(request, data.version)
    at = _now(now)
    if data.kind == "contact":
        if request.status in ("resolved", "closed"):
            raise Conflict(T_("the request is resolved; reopen it first"))
        if request.first_contact_at is None:
            request.first_contact_at = at
        _event(request, actor=actor, kind="contact", at=at, note=data.note)
    elif data.kind == "note":
        _event(request, actor=actor, kind="note", at=at, note=data.note)
    elif data.kind == "follow_up":
        due = _aware(data.due_at)
        assert due is not None
        if due <= at:
            raise InvalidInput(T_("a follow-up must be due in the future"), fields=[FieldError("due_at", T_("must be after now"))])
        _event(request, actor=actor, kind="follow_up", at=at, note=data.note, due_at=due)
    elif data.kind == "start":
        _change_status(request, actor=actor, target="in_progress", at=at, note=data.note)
    elif data.kind == "resolve":
        _change_status(request, actor=actor, target="resolved", at=at, note=data.note)
        request.outcome = data.outcome
        request.resolved_at = at
    elif data.kind == "close":
        _change_status(request, actor=actor, target="closed", at=at, note=data.note)
        request.closed_at = at
    elif data.kind == "reopen":
        _change_status(request, actor=actor, target="in_progress", at=at, note=data.note)
        request.resolved_at = None
        request.outcome = None
    session.flush()
    audit.record(session, actor=actor, action=f"request_{data.kind}", entity_type="consular_help_request", entity_id=request.id,
                 details={"status": request.status, "outcome": request.outcome})
    return request


def timers(request: HelpRequest, *, now: dt.datetime | None = None) -> list[rules.Timer]:
    return rules.sla_state(urgency=request.urgency, received_at=_aware(request.received_at) or utcnow(),
                           first_contact_at=_aware(request.first_contact_at), resolved_at=_aware(request.resolved_at), now=_now(now))


def list_help_requests(session: Session, *, actor: User, status: str | None = None, urgency: str | None = None, category: str | None = None,
                       crisis_id: str | None = None, open_only: bool = False, breached_only: bool = False, offset: int = 0, limit: int = 50,
                       now: dt.datetime | None = None) -> tuple[list[HelpRequest], int]:
    _require(session, actor, Permission.CONSULAR_READ, "consular_help_request", "list")
    query = scoped_select(HelpRequest, actor)
    for column, value in ((HelpRequest.status, status), (HelpRequest.urgency, urgency), (HelpRequest.category, category), (HelpRequest.crisis_id, crisis_id)):
        if value:
            query = query.where(column == value)
    if open_only or breached_only:
        query = query.where(HelpRequest.status.not_in(("resolved", "closed")))
    if breached_only:
        # First contact overdue: received before now minus the allowance of the request's urgency.
        at = _now(now)
        query = query.where(or_(*[and_(HelpRequest.urgency == u, HelpRequest.first_contact_at.is_(None),
                                       HelpRequest.received_at < at - level.first_contact) for u, level in rules.SERVICE_LEVELS.items()]))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(session.scalars(query.order_by(HelpRequest.received_at.desc(), HelpRequest.id).offset(offset).limit(limit)))
    return rows, total


def open_follow_ups(request: HelpRequest) -> list[RequestEvent]:
    return [e for e in request.events if e.kind == "follow_up" and e.done_at is None]


# --- safety advice -----------------------------------------------------------------------------------


def publish_advice(session: Session, *, actor: User, data: AdviceIn) -> SafetyAdvice:
    """A new version of a country's advice (versions are never edited, so what a traveller was told is kept)."""
    _require(session, actor, Permission.CONSULAR_ADVICE, "consular_safety_advice", "publish")
    latest = session.scalar(select(func.max(SafetyAdvice.version)).where(SafetyAdvice.country == data.country)) or 0
    advice = SafetyAdvice(country=data.country, version=latest + 1, level=data.level, title_en=data.title_en, title_zh=data.title_zh,
                          body_en=data.body_en, body_zh=data.body_zh, effective_from=data.effective_from, published_by=actor.id)
    session.add(advice)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(T_("another version was published at the same time; try again")) from None
    audit.record(session, actor=actor, action="publish", entity_type="consular_safety_advice", entity_id=advice.id,
                 details={"country": data.country, "version": advice.version, "level": data.level})
    return advice


def current_advice(session: Session, *, country: str, on: dt.date | None = None) -> SafetyAdvice | None:
    """The newest version in force on `on` (today by default)."""
    on = on or dt.date.today()
    return session.scalars(select(SafetyAdvice).where(SafetyAdvice.country == country, SafetyAdvice.effective_from <= on)
                           .order_by(SafetyAdvice.version.desc()).limit(1)).first()


def advice_history(session: Session, *, country: str) -> list[SafetyAdvice]:
    return list(session.scalars(select(SafetyAdvice).where(SafetyAdvice.country == country).order_by(SafetyAdvice.version.desc())))


def advice_countries(session: Session) -> list[str]:
    return list(session.scalars(select(SafetyAdvice.country).distinct().order_by(SafetyAdvice.country)))


# --- crises ------------------------------------------------------------------------------------------


def _admin_area(session: Session, pcodes: Sequence[str]) -> geo.Area:
    from passage.dtm import service as dtm_service

    gazetteer = dtm_service.get_gazetteer(session, with_geometry=True)
    areas = []
    problems = []
    for index, code in enumerate(pcodes):
        area = gazetteer.get(code.strip().upper())
        if area is None:
            problems.append(FieldError(f"admin_pcodes.{index}", T_("unknown P-code; load the boundaries first (passage geo load)")))
        elif not area.geometry:
            problems.append(FieldError(f"admin_pcodes.{index}", T_("this area has no boundary geometry")))
        else:
            areas.append(geo.parse_area(area.geometry, path=f"admin_pcodes.{index}", check_crossing=False))
    if problems:
        raise InvalidInput(T_("unknown admin areas"), fields=problems)
    return geo.merge_areas(areas)


def create_crisis(session: Session, *, actor: User, data: CrisisIn) -> Crisis:
    """Declare a crisis over a drawn polygon or admin areas; the lead mission is the district's (or the one given)."""
    _require(session, actor, Permission.CONSULAR_MANAGE, "consular_crisis", "create")
    area = geo.parse_area(data.area) if data.area is not None else _admin_area(session, data.admin_pcodes)
    if data.mission_id:
        mission = session.get(Organisation, data.mission_id)
        if mission is None or mission.level != OrganisationLevel.MISSION:
            raise InvalidInput(T_("not a mission"), fields=[FieldError("mission_id", T_("unknown mission"))])
        mission_id = data.mission_id
    else:
        lat, lon = area.centroid()
        mission_id = mission_for(session, country=data.country, latitude=lat, longitude=lon, field="country")
    _check_district(actor, mission_id, "country")
    crisis = Crisis(reference=_reference("CRI"), mission_id=mission_id, protecting_country=_protecting_country(actor), name_en=data.name_en,
                    name_zh=data.name_zh, crisis_type=data.crisis_type, country=data.country, starts_on=data.starts_on, ends_on=data.ends_on,
                    area=area.as_geojson(), admin_pcodes=[c.strip().upper() for c in data.admin_pcodes])
    session.add(crisis)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="consular_crisis", entity_id=crisis.id,
                 details={"mission_id": mission_id, "type": data.crisis_type, "country": data.country})
    return crisis


def load_crisis(session: Session, *, actor: User, crisis_id: str) -> Crisis:
    return get_visible(session, Crisis, crisis_id, actor)


def list_crises(session: Session, *, actor: User, status: str | None = None) -> list[Crisis]:
    _require(session, actor, Permission.CONSULAR_READ, "consular_crisis", "list")
    query = scoped_select(Crisis, actor)
    if status:
        query = query.where(Crisis.status == status)
    return list(session.scalars(query.order_by(Crisis.starts_on.desc(), Crisis.id)))


def close_crisis(session: Session, *, actor: User, crisis_id: str, ends_on: dt.date, version: int | None = None) -> Crisis:
    _require(session, actor, Permission.CONSULAR_MANAGE, "consular_crisis", "close")
    crisis = load_crisis(session, actor=actor, crisis_id=crisis_id)
    check_version(crisis, version)
    if ends_on < crisis.starts_on:
        raise InvalidInput(T_("the crisis cannot end before it starts"), fields=[FieldError("ends_on", T_("before starts_on"))])
    crisis.status, crisis.ends_on = "closed", ends_on
    session.flush()
    audit.record(session, actor=actor, action="close", entity_type="consular_crisis", entity_id=crisis.id)
    return crisis


def registrations_in_area(session: Session, *, area: geo.Area, conditions: Sequence[ColumnElement[bool]] = ()) -> list[str]:
    """Ids of registrations whose current position is inside `area`, through the grid index (see `geo`).

    Interior cells are accepted from the index alone; only registrations in boundary cells have their
    encrypted position decrypted and tested exactly.

    Each run of interior cells is its own range select, the runs joined by UNION ALL: the database then answers
    every run with an index-only scan of the covering index `ix_consular_registrations_area` (an OR of ranges makes
    PostgreSQL take a bitmap scan instead, which reads every heap page of the answer: 2.5x slower at 1,000,000
    registrations, `bench/consular/bench_area.py`). Boundary candidates need their encrypted position from the
    row, so they stay one bitmap scan per batch of ranges.
    """
    cover = geo.grid_cover(area)
    found: list[str] = []
    for batch in geo.chunks(cover.interior):
        parts = [select(Registration.id).where(Registration.grid_cell.between(a, b), *conditions) for a, b in batch]
        runs = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery()
        # one row of comma-joined ids (string_agg / group_concat) instead of one row per id: the per-row cost of the
        # driver and the ORM was most of the time at 180,000 ids (ids are hex, so the comma is a safe separator)
        joined = session.scalar(select(func.aggregate_strings(runs.c.id, ",")))
        if joined:
            found.extend(joined.split(","))
    for batch in geo.chunks(cover.boundary):
        rows = session.execute(select(Registration.id, Registration.location).where(or_(*[Registration.grid_cell.between(a, b) for a, b in batch]), *conditions))
        for registration_id, location in rows:
            if location and location.get("latitude") is not None and geo.point_in_area(float(location["latitude"]), float(location["longitude"]), area):
                found.append(registration_id)
    return found


def _crisis_conditions(crisis: Crisis, actor: User | None) -> list[ColumnElement[bool]]:
    end = crisis.ends_on or dt.date.max
    conditions: list[ColumnElement[bool]] = [
        Registration.active.is_(True), Registration.protecting_country == crisis.protecting_country, Registration.arrival_on <= end,
        or_(Registration.departure_on.is_(None), Registration.departure_on >= crisis.starts_on),
    ]
    if actor is not None:
        conditions.append(visible_clause(Registration, actor))
    return conditions


def refresh_affected(session: Session, *, actor: User | None, crisis: Crisis) -> int:
    """Find who is registered in the area now and add them to the crisis with status `not_contacted`; returns how many were added."""
    inside = set(registrations_in_area(session, area=geo.parse_area(crisis.area, check_crossing=False), conditions=_crisis_conditions(crisis, None)))
    known = set(session.scalars(select(CrisisContact.registration_id).where(CrisisContact.crisis_id == crisis.id)))
    new = sorted(inside - known)
    if new:
        session.execute(CrisisContact.__table__.insert(), [  # type: ignore[attr-defined]
            {"id": secrets.token_hex(16), "crisis_id": crisis.id, "registration_id": rid, "status": "not_contacted", "version": 1,
             "created_at": utcnow(), "updated_at": utcnow()} for rid in new
        ])
    if new or actor is not None:
        audit.record(session, actor=actor, action="refresh_affected", entity_type="consular_crisis", entity_id=crisis.id,
                     details={"in_area": len(inside), "added": len(new)})
    return len(new)


def affected_people(session: Session, *, actor: User, crisis_id: str, status: str | None = None, tier: int | None = None,
                    offset: int = 0, limit: int = 100) -> dict[str, Any]:
    """Who is registered in the crisis area (within the actor's scope), with contact status; audited."""
    _require(session, actor, Permission.CONSULAR_READ, "consular_crisis", "people")
    crisis = load_crisis(session, actor=actor, crisis_id=crisis_id)
    refresh_affected(session, actor=actor, crisis=crisis)
    base = (select(CrisisContact, Registration).join(Registration, Registration.id == CrisisContact.registration_id)
            .where(CrisisContact.crisis_id == crisis.id, visible_clause(Registration, actor)))
    counts = dict(session.execute(select(CrisisContact.status, func.count()).join(Registration, Registration.id == CrisisContact.registration_id)
                                  .where(CrisisContact.crisis_id == crisis.id, visible_clause(Registration, actor)).group_by(CrisisContact.status)).tuples().all())
    if status:
        base = base.where(CrisisContact.status == status)
    if tier is not None:
        base = base.where(Registration.priority_tier == tier)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.execute(base.order_by(Registration.priority_tier, Registration.reference).offset(offset).limit(limit)).all()
    unlocated = session.scalar(select(func.count()).select_from(Registration).where(
        Registration.destination_country == crisis.country, Registration.grid_cell.is_(None), *_crisis_conditions(crisis, actor))) or 0
    audit.record(session, actor=actor, action="read", entity_type="consular_crisis_people", entity_id=crisis.id,
                 details={"listed": len(rows), "status": status})
    return {
        "crisis_id": crisis.id, "total": total, "by_status": {s: counts.get(s, 0) for s in rules.CONTACT_STATUSES}, "unlocated_in_country": unlocated,
        "items": [{"registration_id": r.id, "reference": r.reference, "contact_status": c.status, "priority_tier": r.priority_tier,
                   "language": r.language, "contact_version": c.version} for c, r in rows],
        "offset": offset, "limit": limit,
    }


def set_contact_status(session: Session, *, actor: User, crisis_id: str, registration_id: str, status: str, note: str = "",
                       version: int | None = None) -> CrisisContact:
    _require(session, actor, Permission.CONSULAR_MANAGE, "consular_crisis_contact", "contact_status")
    crisis = load_crisis(session, actor=actor, crisis_id=crisis_id)
    registration = load_registration(session, actor=actor, registration_id=registration_id)
    if status not in rules.CONTACT_STATUSES:
        raise InvalidInput(T_("unknown contact status"), fields=[FieldError("status", T_("not a contact status"))])
    contact = session.scalars(select(CrisisContact).where(CrisisContact.crisis_id == crisis.id, CrisisContact.registration_id == registration.id)).first()
    if contact is None:
        raise NotFound(T_("this person is not listed in the crisis area"))
    check_version(contact, version)
    contact.status, contact.updated_by, contact.note = status, actor.id, note or None
    if status == "needs_help" and registration.priority_tier > 0:
        registration.priority_tier = 0
    session.flush()
    audit.record(session, actor=actor, action="contact_status", entity_type="consular_crisis_contact", entity_id=contact.id,
                 details={"crisis_id": crisis.id, "registration_id": registration.id, "status": status})
    return contact


# --- mass messages and the outbox ------------------------------------------------------------------------


def generate_messages(session: Session, *, actor: User, crisis_id: str, kind: str = "alert", statuses: Sequence[str] = ()) -> dict[str, Any]:
    """Write one message per person in the area, in the person's language, into the outbox (nothing is sent)."""
    _require(session, actor, Permission.CONSULAR_MANAGE, "consular_crisis", "generate_messages")
    crisis = load_crisis(session, actor=actor, crisis_id=crisis_id)
    refresh_affected(session, actor=None, crisis=crisis)
    advice = current_advice(session, country=crisis.country)
    query = (select(CrisisContact.registration_id, Registration.language, Registration.contact, Registration.mission_id)
             .join(Registration, Registration.id == CrisisContact.registration_id)
             .where(CrisisContact.crisis_id == crisis.id, visible_clause(Registration, actor)))
    if statuses:
        query = query.where(CrisisContact.status.in_(list(statuses)))
    itineraries = _first_legs(session, crisis) if kind == "evacuation" else {}
    batch_id = secrets.token_hex(16)
    rows = []
    by_language: Counter[str] = Counter()
    skipped = 0
    now = utcnow()
    values = {
        "crisis_en": crisis.name_en, "crisis_zh": crisis.name_zh,
        "advice_en": advice.title_en if advice else "Follow the instructions of local authorities and stay in a safe place.",
        "advice_zh": advice.title_zh if advice else "请听从当地政府指示，留在安全地点。",
    }
    for registration_id, language, contact, mission_id in session.execute(query):
        phone = (contact or {}).get("phone")
        if not phone:
            skipped += 1
            continue
        if kind == "evacuation":
            first = itineraries.get(registration_id)
            if first is None:
                continue
            point = first[0] if language != "zh" else (dict(first[2].get("name") or {}).get("zh_Hans") or first[0])
            body = rules.render_message("evacuation", language, point=point, report_at=first[1], **values)
        else:
            body = rules.render_message("alert", language, **values)
        rows.append({"batch_id": batch_id, "crisis_id": crisis.id, "mission_id": mission_id, "registration_id": registration_id, "kind": kind,
                     "language": language, "recipient": phone, "body": body, "created_at": now, "status": "queued"})
        by_language[language] += 1
    if rows:
        session.execute(OutboxMessage.__table__.insert(), rows)  # type: ignore[attr-defined]
    audit.record(session, actor=actor, action="generate_messages", entity_type="consular_crisis", entity_id=crisis.id,
                 details={"batch_id": batch_id, "kind": kind, "messages": len(rows), "by_language": dict(by_language)})
    return {"batch_id": batch_id, "messages": len(rows), "by_language": dict(by_language), "skipped_without_phone": skipped}


def _first_legs(session: Session, crisis: Crisis) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Per person: the assembly point's name, the report time (UTC) of their first planned leg, and the point's
    published names in other languages (so a Chinese message names the point in Chinese)."""
    report = dt.timedelta(minutes=evacuation.Parameters().report_minutes)
    rows = session.execute(
        select(SeatAssignment.registration_id, TransportLeg.departs_at, AssemblyPoint.name, AssemblyPoint.translations)
        .join(TransportLeg, TransportLeg.id == SeatAssignment.leg_id).join(AssemblyPoint, AssemblyPoint.id == TransportLeg.origin_point_id)
        .where(SeatAssignment.crisis_id == crisis.id).order_by(TransportLeg.departs_at.desc())
    )
    out: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for registration_id, departs_at, point, translations in rows:
        out[registration_id] = (point, ((_aware(departs_at) or utcnow()) - report).strftime("%Y-%m-%d %H:%M UTC"), dict(translations or {}))
    return out


def outbox_batch(session: Session, *, actor: User, batch_id: str) -> list[OutboxMessage]:
    messages = list(session.scalars(select(OutboxMessage).where(OutboxMessage.batch_id == batch_id).order_by(OutboxMessage.id)))
    if not messages:
        raise NotFound(T_("outbox batch {batch_id} not found", batch_id=batch_id))
    load_crisis(session, actor=actor, crisis_id=messages[0].crisis_id)
    visible_missions = {m.mission_id for m in messages}
    if actor.organisation.level == OrganisationLevel.MISSION and visible_missions - {actor.organisation_id}:
        messages = [m for m in messages if m.mission_id == actor.organisation_id]
    return messages


def write_outbox_file(session: Session, *, actor: User, batch_id: str, path: Path) -> int:
    """The batch as JSON lines (one message per line), written atomically; an audited export of contact data."""
    _require(session, actor, Permission.CONSULAR_MANAGE, "consular_outbox", "export")
    messages = outbox_batch(session, actor=actor, batch_id=batch_id)
    with atomic_output(path) as handle:
        for m in messages:
            handle.write(json.dumps({"id": m.id, "batch_id": m.batch_id, "crisis_id": m.crisis_id, "language": m.language, "kind": m.kind,
                                     "recipient": m.recipient, "body": m.body, "created_at": m.created_at.isoformat()}, ensure_ascii=False) + "\n")
    audit.record(session, actor=actor, action="export", entity_type="consular_outbox", entity_id=batch_id, details={"messages": len(messages)})
    return len(messages)


def pull_outbox(session: Session, *, actor: User, after: int = 0, limit: int = 100) -> tuple[list[OutboxMessage], int]:
    """For a gateway: queued messages after the cursor, marked pulled. Returns (messages, next cursor)."""
    _require(session, actor, Permission.CONSULAR_OUTBOX, "consular_outbox", "pull")
    query = select(OutboxMessage).where(OutboxMessage.id > after, OutboxMessage.status.in_(("queued", "pulled")))
    if actor.organisation.level == OrganisationLevel.MISSION:
        query = query.where(OutboxMessage.mission_id == actor.organisation_id)
    messages = list(session.scalars(query.order_by(OutboxMessage.id).limit(limit)))
    now = utcnow()
    for m in messages:
        m.status, m.pulled_at = "pulled", now
    session.flush()
    cursor = messages[-1].id if messages else after
    audit.record(session, actor=actor, action="pull", entity_type="consular_outbox", entity_id=None,
                 details={"after": after, "messages": len(messages), "cursor": cursor})
    return messages, cursor


def report_outbox(session: Session, *, actor: User, ids: Sequence[int], status: str) -> int:
    """A gateway reports messages sent or failed."""
    _require(session, actor, Permission.CONSULAR_OUTBOX, "consular_outbox", "report")
    found = list(session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(list(ids)))))
    missing = sorted(set(ids) - {m.id for m in found})
    if missing:
        raise InvalidInput(T_("unknown message ids"), fields=[FieldError("ids", T_("{count} id(s) not in the outbox, first {missing}", count=len(missing), missing=missing[0]))])
    now = utcnow()
    for m in found:
        m.status, m.reported_at = status, now
    session.flush()
    audit.record(session, actor=actor, action="report", entity_type="consular_outbox", entity_id=None, details={"messages": len(found), "status": status})
    return len(found)


# --- evacuation: network -----------------------------------------------------------------------------


def add_assembly_point(session: Session, *, actor: User, crisis_id: str, data: AssemblyPointIn) -> AssemblyPoint:
    _require(session, actor, Permission.CONSULAR_EVACUATE, "consular_assembly_point", "create")
    crisis = load_crisis(session, actor=actor, crisis_id=crisis_id)
    if data.capacity < 0:
        raise InvalidInput(T_("negative capacity"), fields=[FieldError("capacity", T_("must not be negative"))])
    point = AssemblyPoint(crisis_id=crisis.id, code=data.code, name=data.name, translations=data.translations, latitude=data.latitude, longitude=data.longitude, capacity=data.capacity)
    session.add(point)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(T_("an assembly point with this code exists in the crisis"), extra={"field": "code"}) from None
    audit.record(session, actor=actor, action="create", entity_type="consular_assembly_point", entity_id=point.id, details={"crisis_id": crisis.id})
    return point


def _point_by_code(session: Session, crisis: Crisis, code: str, field: str) -> AssemblyPoint:
    point = session.scalars(select(AssemblyPoint).where(AssemblyPoint.crisis_id == crisis.id, AssemblyPoint.code == code)).first()
    if point is None:
        raise InvalidInput(T_("unknown assembly point"), fields=[FieldError(field, T_("no assembly point with this code in the crisis"))])
    return point


def add_leg(session: Session, *, actor: User, crisis_id: str, data: LegIn) -> TransportLeg:
    _require(session, actor, Permission.CONSULAR_EVACUATE, "consular_transport_leg", "create")
    crisis = load_crisis(session, actor=actor, crisis_id=crisis_id)
    problems = []
    if data.seats < 0:
        problems.append(FieldError("seats", T_("must not be negative")))
    departs, arrives = _aware(data.departs_at), _aware(data.arrives_at)
    assert departs is not None and arrives is not None
    if arrives <= departs:
        problems.append(FieldError("arrives_at", T_("must be after departs_at")))
    if data.destination_point is not None and data.destination_point == data.origin_point:
        problems.append(FieldError("destination_point", T_("must differ from origin_point")))
    if problems:
        raise InvalidInput(T_("the transport leg is not valid"), fields=problems)
    origin = _point_by_code(session, crisis, data.origin_point, "origin_point")
    destination = _point_by_code(session, crisis, data.destination_point, "destination_point") if data.destination_point else None
    leg = TransportLeg(crisis_id=crisis.id, code=data.code, translations=data.translations, mode=data.mode, origin_point_id=origin.id, destination_point_id=destination.id if destination else None,
                       destination_name=data.destination_name, departs_at=departs, arrives_at=arrives, seats=data.seats)
    session.add(leg)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(T_("a leg with this code exists in the crisis"), extra={"field": "code"}) from None
    audit.record(session, actor=actor, action="create", entity_type="consular_transport_leg", entity_id=leg.id, details={"crisis_id": crisis.id, "mode": data.mode})
    return leg


def assembly_points(session: Session, *, crisis: Crisis) -> list[AssemblyPoint]:
    return list(session.scalars(select(AssemblyPoint).where(AssemblyPoint.crisis_id == crisis.id).order_by(AssemblyPoint.code)))


def legs(session: Session, *, crisis: Crisis) -> list[TransportLeg]:
    return list(session.scalars(select(TransportLeg).where(TransportLeg.crisis_id == crisis.id).order_by(TransportLeg.departs_at, TransportLeg.code)))


def seats_taken(session: Session, *, crisis: Crisis) -> dict[str, int]:
    return dict(session.execute(select(SeatAssignment.leg_id, func.count()).where(SeatAssignment.crisis_id == crisis.id).group_by(SeatAssignment.leg_id)).tuples().all())


def _pure_network(points: Sequence[AssemblyPoint], legs_: Sequence[TransportLeg]) -> tuple[list[evacuation.AssemblyPoint], list[evacuation.Leg]]:
    return (
        [evacuation.AssemblyPoint(p.id, p.latitude, p.longitude, p.capacity) for p in points],
        [evacuation.Leg(leg.id, leg.mode, leg.origin_point_id, leg.destination_point_id, _aware(leg.departs_at) or utcnow(), _aware(leg.arrives_at) or utcnow(), leg.seats)
         for leg in legs_ if leg.status != "cancelled"],
    )


# --- evacuation: seats -------------------------------------------------------------------------------


def assign_seat(session: Session, *, actor: User, crisis_id: str, leg_id: str, registration_id: str, seat_number: int | None = None) -> SeatAssignment:
    """Put one person on one seat. Refuses a full leg, a seat that does not exist, a leg overlapping another of
    the person's legs; of two officers taking the same seat at once, the unique constraint lets one win (409)."""
    _require(session, actor, Permission.CONSULAR_EVACUATE, "consular_seat", "assign_seat")
    crisis = load_crisis(session, actor=actor, crisis_id=crisis_id)
    registration = load_registration(session, actor=actor, registration_id=registration_id)
    leg = session.scalars(select(TransportLeg).where(TransportLeg.id == leg_id, TransportLeg.crisis_id == crisis.id)).first()
    if leg is None:
        raise NotFound(T_("consular_transport_legs {leg_id} not found", leg_id=leg_id))
    if leg.status != "scheduled":
        raise Conflict(T_("the leg is {status}; seats can only be given on a scheduled leg", status=Label("consular.code", leg.status)))
    existing = list(session.scalars(select(TransportLeg).join(SeatAssignment, SeatAssignment.leg_id == TransportLeg.id)
                                    .where(SeatAssignment.registration_id == registration.id, SeatAssignment.crisis_id == crisis.id)))
    pure = {leg.id: _pure_network([], [leg])[1][0]}
    for other in existing:
        if other.id == leg.id:
            raise Conflict(T_("this person already has a seat on this leg"))
        pure[other.id] = _pure_network([], [other])[1][0]
        clash = evacuation.overlapping([pure[leg.id], pure[other.id]])
        if clash:
            raise InvalidInput(T_("overlapping legs for one person"),
                               fields=[FieldError("leg_id", T_("leg {code} overlaps leg {code2} already given to this person", code=leg.code, code2=other.code))])
    taken = set(session.scalars(select(SeatAssignment.seat_number).where(SeatAssignment.leg_id == leg.id)))
    if seat_number is None:
        seat_number = next((n for n in range(1, leg.seats + 1) if n not in taken), None)
        if seat_number is None:
            raise Conflict(T_("the leg is full"), extra={"seats": leg.seats})
    elif not 1 <= seat_number <= leg.seats:
        raise InvalidInput(T_("no such seat"), fields=[FieldError("seat_number", T_("seats are numbered 1 to {seats}", seats=leg.seats))])
    elif seat_number in taken:
        raise Conflict(T_("the seat is already taken"), extra={"seat_number": seat_number})
    assignment = SeatAssignment(crisis_id=crisis.id, leg_id=leg.id, seat_number=seat_number, registration_id=registration.id, assigned_by=actor.id)
    session.add(assignment)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(T_("the seat was taken by someone else a moment ago; choose another"), extra={"seat_number": seat_number}) from None
    audit.record(session, actor=actor, action="assign_seat", entity_type="consular_seat", entity_id=assignment.id,
                 details={"crisis_id": crisis.id, "leg_id": leg.id, "seat": seat_number, "registration_id": registration.id})
    return assignment


def release_seat(session: Session, *, actor: User, crisis_id: str, assignment_id: str, version: int | None = None) -> None:
    _require(session, actor, Permission.CONSULAR_EVACUATE, "consular_seat", "release_seat")
    crisis = load_crisis(session, actor=actor, crisis_id=crisis_id)
    assignment = session.scalars(select(SeatAssignment).where(SeatAssignment.id == assignment_id, SeatAssignment.crisis_id == crisis.id)).first()
    if assignment is None:
        raise NotFound(T_("consular_seat_assignments {assignment_id} not found", assignment_id=assignment_id))
    load_registration(session, actor=actor, registration_id=assignment.registration_id)
    check_version(assignment, version)
    if assignment.status != "planned":
        raise Conflict(T_("the person is already {status}; the seat cannot be released", status=Label("consular.code", assignment.status)))
    session.delete(assignment)
    session.flush()
    audit.record(session, actor=actor, action="release_seat", entity_type="consular_seat", entity_id=assignment_id, details={"crisis_id": crisis.id})


CHECK_IN_ORDER = {"planned": 0, "checked_in": 1, "departed": 2, "arrived": 3}


def check_in(session: Session, *, actor: User, crisis_id: str, leg_id: str, registration_id: str, event: str) -> SeatAssignment:
    """Record a person checked in at the assembly point, departed, arrived, or not shown; forward only."""
    _require(session, actor, Permission.CONSULAR_EVACUATE, "consular_seat", "check_in")
    crisis = load_crisis(session, actor=actor, crisis_id=crisis_id)
    registration = load_registration(session, actor=actor, registration_id=registration_id)
    assignment = session.scalars(select(SeatAssignment).where(SeatAssignment.leg_id == leg_id, SeatAssignment.registration_id == registration.id,
                                                              SeatAssignment.crisis_id == crisis.id)).first()
    if assignment is None:
        raise NotFound(T_("this person has no seat on this leg"))
    now = utcnow()
    if event == "no_show":
        if assignment.status not in ("planned", "checked_in"):
            raise Conflict(T_("the person is already {status}", status=Label("consular.code", assignment.status)))
    elif event in CHECK_IN_ORDER:
        if assignment.status == "no_show" or CHECK_IN_ORDER[event] <= CHECK_IN_ORDER.get(assignment.status, 0):
            raise Conflict(T_("the person is already {status}", status=Label("consular.code", assignment.status)), extra={"allowed": [e for e, n in CHECK_IN_ORDER.items() if n > CHECK_IN_ORDER.get(assignment.status, 0)]})
    else:
        raise InvalidInput(T_("unknown event"), fields=[FieldError("event", T_("checked_in, departed, arrived or no_show"))])
    assignment.status = event
    if event == "checked_in":
        assignment.checked_in_at = now
    elif event == "departed":
        assignment.departed_at = now
        assignment.checked_in_at = assignment.checked_in_at or now
    elif event == "arrived":
        assignment.arrived_at = now
    session.flush()
    audit.record(session, actor=actor, action=f"evacuation_{event}", entity_type="consular_seat", entity_id=assignment.id,
                 details={"crisis_id": crisis.id, "leg_id": leg_id, "registration_id": registration.id})
    return assignment


def manifest(session: Session, *, actor: User, crisis_id: str, leg_id: str) -> tuple[TransportLeg, list[dict[str, Any]]]:
    """The passenger list of a leg with names and passport numbers, for the carrier and check-in; an audited read."""
    _require(session, actor, Permission.CONSULAR_EVACUATE, "consular_manifest", "read")
    crisis = load_crisis(session, actor=actor, crisis_id=crisis_id)
    leg = session.scalars(select(TransportLeg).where(TransportLeg.id == leg_id, TransportLeg.crisis_id == crisis.id)).first()
    if leg is None:
        raise NotFound(T_("consular_transport_legs {leg_id} not found", leg_id=leg_id))
    rows = session.execute(select(SeatAssignment, Registration).join(Registration, Registration.id == SeatAssignment.registration_id)
                           .where(SeatAssignment.leg_id == leg.id, visible_clause(Registration, actor)).order_by(SeatAssignment.seat_number)).all()
    people = [{"seat": a.seat_number, "registration_id": r.id, "reference": r.reference, "family_name": r.identity.get("family_name", ""),
               "given_name": r.identity.get("given_name", ""), "passport_number": r.identity.get("passport_number", ""),
               "priority_tier": r.priority_tier, "status": a.status} for a, r in rows]
    audit.record(session, actor=actor, action="read", entity_type="consular_manifest", entity_id=leg.id, details={"crisis_id": crisis.id, "people": len(people)})
    return leg, people


# --- evacuation: planning ----------------------------------------------------------------------------


def _evacuees(session: Session, crisis: Crisis, actor: User, exclude: set[str]) -> list[evacuation.Evacuee]:
    refresh_affected(session, actor=None, crisis=crisis)
    rows = session.execute(select(Registration.id, Registration.location, Registration.priority_tier, Registration.household, CrisisContact.status)
                           .join(CrisisContact, CrisisContact.registration_id == Registration.id)
                           .where(CrisisContact.crisis_id == crisis.id, visible_clause(Registration, actor), CrisisContact.status != "missing")
                           .order_by(Registration.created_at, Registration.id))
    out = []
    for registration_id, location, tier, household, status in rows:
        if registration_id in exclude or not location or location.get("latitude") is None:
            continue
        effective = 0 if status == "needs_help" else tier
        out.append(evacuation.Evacuee(registration_id, float(location["latitude"]), float(location["longitude"]), effective, household))
    return out


def plan_for_crisis(session: Session, *, actor: User, crisis_id: str, parameters: evacuation.Parameters | None = None) -> dict[str, Any]:
    """Plan the evacuation of everyone in the area without a seat yet; returns the plan document (ids only, no names)."""
    _require(session, actor, Permission.CONSULAR_EVACUATE, "consular_crisis", "plan")
    crisis = load_crisis(session, actor=actor, crisis_id=crisis_id)
    parameters = parameters or evacuation.Parameters()
    points_db, legs_db = assembly_points(session, crisis=crisis), legs(session, crisis=crisis)
    points, pure_legs = _pure_network(points_db, legs_db)
    booked: dict[str, set[int]] = {}
    seated: set[str] = set()
    for leg_id, seat, registration_id in session.execute(select(SeatAssignment.leg_id, SeatAssignment.seat_number, SeatAssignment.registration_id)
                                                           .where(SeatAssignment.crisis_id == crisis.id)):
        booked.setdefault(leg_id, set()).add(seat)
        seated.add(registration_id)
    people = _evacuees(session, crisis, actor, seated)
    plan = evacuation.plan_evacuation(points, pure_legs, people, parameters=parameters, taken=booked)
    problems = evacuation.verify_plan(plan, points, pure_legs, parameters=parameters)
    if problems:  # a planner defect must never reach the officers as a plan
        raise Conflict(T_("the plan failed its own checks"), extra={"problems": problems[:10]})
    measured = evacuation.metrics(plan, pure_legs, people)
    codes = {leg.id: leg.code for leg in legs_db}
    point_codes = {p.id: p.code for p in points_db}
    audit.record(session, actor=actor, action="plan", entity_type="consular_crisis", entity_id=crisis.id,
                 details={"people": measured.people, "placed": measured.placed, "unplaced": measured.unplaced})
    return {
        "format": "passage.consular.evacuation-plan/1", "crisis_id": crisis.id, "crisis_reference": crisis.reference,
        "generated_at": utcnow().isoformat(timespec="seconds"), "parameters": vars(parameters),
        "summary": vars(measured), "already_seated": len(seated),
        "legs": [{"leg_id": leg.id, "code": leg.code, "mode": leg.mode, "seats": leg.seats, "seats_planned": plan.seats_used.get(leg.id, 0) - len(booked.get(leg.id, ())),
                  "seats_already_taken": len(booked.get(leg.id, ())), "departs_at": (_aware(leg.departs_at) or utcnow()).isoformat()} for leg in legs_db],
        "assignments": [{"registration_id": a.person_id, "tier": a.tier, "origin_point": point_codes[a.origin_point_id],
                         "legs": [{"leg_id": leg_id, "code": codes[leg_id], "seat": seat} for leg_id, seat in zip(a.legs, a.seats, strict=True)],
                         "departs_at": a.departs_at.isoformat(), "arrives_at": a.arrives_at.isoformat()} for a in plan.assignments],
        "unplaced": [{"registration_id": person, "reason": reason} for person, reason in plan.unplaced],
    }


def apply_plan(session: Session, *, actor: User, crisis_id: str, plan: dict[str, Any]) -> int:
    """Book the seats of a plan document. All or nothing: if any seat was taken since, nothing is booked (409)."""
    _require(session, actor, Permission.CONSULAR_EVACUATE, "consular_crisis", "apply_plan")
    crisis = load_crisis(session, actor=actor, crisis_id=crisis_id)
    if plan.get("crisis_id") != crisis.id or plan.get("format") != "passage.consular.evacuation-plan/1":
        raise InvalidInput(T_("this is not a plan for this crisis"), fields=[FieldError("crisis_id", T_("does not match"))])
    leg_ids = {leg.id for leg in legs(session, crisis=crisis)}
    visible = set(session.scalars(select(CrisisContact.registration_id).join(Registration, Registration.id == CrisisContact.registration_id)
                                  .where(CrisisContact.crisis_id == crisis.id, visible_clause(Registration, actor))))
    now = utcnow()
    rows = []
    for index, item in enumerate(plan.get("assignments", [])):
        if item.get("registration_id") not in visible:
            raise InvalidInput(T_("the plan names someone outside the crisis or your scope"), fields=[FieldError(f"assignments.{index}.registration_id", T_("unknown"))])
        for leg in item.get("legs", []):
            if leg.get("leg_id") not in leg_ids:
                raise InvalidInput(T_("the plan names an unknown leg"), fields=[FieldError(f"assignments.{index}.legs", T_("unknown leg"))])
            rows.append({"id": secrets.token_hex(16), "crisis_id": crisis.id, "leg_id": leg["leg_id"], "seat_number": int(leg["seat"]),
                         "registration_id": item["registration_id"], "status": "planned", "assigned_by": actor.id, "version": 1,
                         "created_at": now, "updated_at": now})
    seats = {leg.id: leg.seats for leg in legs(session, crisis=crisis)}
    for row in rows:
        if not 1 <= row["seat_number"] <= seats[row["leg_id"]]:
            raise InvalidInput(T_("the plan names a seat that does not exist"), fields=[FieldError("assignments", T_("seat {seat_number}", seat_number=row['seat_number']))])
    try:
        with session.begin_nested():
            if rows:
                session.execute(SeatAssignment.__table__.insert(), rows)  # type: ignore[attr-defined]
    except IntegrityError:
        raise Conflict(T_("some seats of the plan were taken since it was made; plan again")) from None
    audit.record(session, actor=actor, action="apply_plan", entity_type="consular_crisis", entity_id=crisis.id, details={"seats": len(rows)})
    return len(rows)


def dashboard(session: Session, *, actor: User, crisis_id: str) -> dict[str, Any]:
    """People planned, checked in, moved, arrived and missing; counts only, live from the seat records."""
    _require(session, actor, Permission.CONSULAR_READ, "consular_crisis", "dashboard")
    crisis = load_crisis(session, actor=actor, crisis_id=crisis_id)
    refresh_affected(session, actor=None, crisis=crisis)
    scoped = visible_clause(Registration, actor)
    per_person = session.execute(
        select(SeatAssignment.registration_id, SeatAssignment.status, TransportLeg.destination_point_id, TransportLeg.departs_at)
        .join(TransportLeg, TransportLeg.id == SeatAssignment.leg_id).join(Registration, Registration.id == SeatAssignment.registration_id)
        .where(SeatAssignment.crisis_id == crisis.id, scoped)).all()
    people: dict[str, list[tuple[str, str | None, dt.datetime]]] = {}
    for registration_id, status, destination, departs in per_person:
        people.setdefault(registration_id, []).append((status, destination, departs))
    planned = len(people)
    checked_in = moved = arrived = no_show = 0
    for entries in people.values():
        entries.sort(key=lambda e: e[2])
        first_status, last = entries[0][0], entries[-1]
        if first_status == "no_show":
            no_show += 1
        if first_status in ("checked_in", "departed", "arrived"):
            checked_in += 1
        if first_status in ("departed", "arrived"):
            moved += 1
        if last[1] is None and last[0] == "arrived":
            arrived += 1
    contacts = dict(session.execute(select(CrisisContact.status, func.count()).join(Registration, Registration.id == CrisisContact.registration_id)
                                    .where(CrisisContact.crisis_id == crisis.id, scoped).group_by(CrisisContact.status)).tuples().all())
    in_area = sum(contacts.values())
    taken = seats_taken(session, crisis=crisis)
    return {
        "crisis_id": crisis.id, "in_area": in_area, "planned": planned, "checked_in": checked_in, "moved": moved, "arrived": arrived,
        "missing": contacts.get("missing", 0), "no_show": no_show, "unplaced": max(0, in_area - planned - contacts.get("missing", 0)),
        "legs": [leg_out(leg, taken.get(leg.id, 0)) for leg in legs(session, crisis=crisis)],
    }


def leg_out(leg: TransportLeg, seats_taken_count: int) -> dict[str, Any]:
    return {"id": leg.id, "version": leg.version, "code": leg.code, "mode": leg.mode, "origin_point_id": leg.origin_point_id,
            "destination_point_id": leg.destination_point_id, "destination_name": leg.destination_name, "departs_at": _aware(leg.departs_at),
            "arrives_at": _aware(leg.arrives_at), "seats": leg.seats, "seats_taken": seats_taken_count, "status": leg.status}


# --- statistics --------------------------------------------------------------------------------------


STAT_DIMENSIONS = ("crisis", "country", "category")


def disclose(rows: list[dict[str, Any]], *, count_fields: Sequence[str], derived_fields: Sequence[str], n_field: str) -> tuple[list[dict[str, Any]], int, int]:
    """The one place consular statistics pass disclosure control before anyone sees them.

    Small cells are suppressed with the deployment's redaction threshold (`settings.redaction_threshold`, the
    FlowKit rule of withholding counts of 15 or fewer): a count at or below it is withheld, and a derived
    figure (a median) over a group at or below it is withheld too. When the foundation's single disclosure
    function lands, this body calls it instead; callers do not change.
    """
    threshold = get_settings().redaction_threshold
    suppressed = 0
    out = []
    for row in rows:
        row = dict(row)
        for name in count_fields:
            value = row.get(name)
            if isinstance(value, int) and 0 < value <= threshold:
                row[name] = None
                suppressed += 1
        if (row.get(n_field) or 0) <= threshold:
            for name in derived_fields:
                if row.get(name) is not None:
                    row[name] = None
                    suppressed += 1
        out.append(row)
    return out, threshold, suppressed


def statistics(session: Session, *, actor: User, by: str = "country", date_from: dt.date | None = None, date_to: dt.date | None = None) -> dict[str, Any]:
    """Requests, hours to first contact (median), outcomes and people evacuated, by crisis, country or category."""
    _require(session, actor, Permission.CONSULAR_STATS, "consular_statistics", "statistics")
    if by not in STAT_DIMENSIONS:
        raise InvalidInput(T_("unknown grouping"), fields=[FieldError("by", T_("one of {STAT_DIMENSIONS}", STAT_DIMENSIONS=', '.join(STAT_DIMENSIONS)))])
    query = select(HelpRequest.id, HelpRequest.crisis_id, HelpRequest.country, HelpRequest.category, HelpRequest.received_at,
                   HelpRequest.first_contact_at, HelpRequest.outcome).where(visible_clause(HelpRequest, actor))
    if date_from:
        query = query.where(HelpRequest.received_at >= dt.datetime.combine(date_from, dt.time(), tzinfo=dt.UTC))
    if date_to:
        query = query.where(HelpRequest.received_at < dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC))
    groups: dict[str, dict[str, Any]] = {}
    for _id, crisis_id, country, category, received, first_contact, outcome in session.execute(query):
        key = {"crisis": crisis_id or "", "country": country, "category": category}[by]
        group = groups.setdefault(key, {"requests": 0, "hours": [], "outcomes": Counter()})
        group["requests"] += 1
        if first_contact is not None:
            group["hours"].append(((_aware(first_contact) or utcnow()) - (_aware(received) or utcnow())).total_seconds() / 3600)
        if outcome:
            group["outcomes"][outcome] += 1
    evacuated: Counter[str] = Counter()
    if by in ("crisis", "country"):
        moved = select(SeatAssignment.crisis_id, Crisis.country, func.count(func.distinct(SeatAssignment.registration_id))).join(
            Crisis, Crisis.id == SeatAssignment.crisis_id).join(Registration, Registration.id == SeatAssignment.registration_id).where(
            SeatAssignment.status.in_(("departed", "arrived")), visible_clause(Registration, actor)).group_by(SeatAssignment.crisis_id, Crisis.country)
        for crisis_id, country, n in session.execute(moved):
            evacuated[crisis_id if by == "crisis" else country] += int(n)
    rows = []
    for key in sorted(set(groups) | set(evacuated)):
        group = groups.get(key, {"requests": 0, "hours": [], "outcomes": Counter()})
        row: dict[str, Any] = {by: key or None, "requests": group["requests"], "with_first_contact": len(group["hours"]),
                               "median_hours_to_first_contact": round(pystats.median(group["hours"]), 2) if group["hours"] else None,
                               "evacuated": evacuated.get(key, 0)}
        for outcome in rules.OUTCOMES:
            row[f"outcome_{outcome}"] = group["outcomes"].get(outcome, 0)
        rows.append(row)
    counts = ["requests", "with_first_contact", "evacuated", *[f"outcome_{o}" for o in rules.OUTCOMES]]
    published, threshold, suppressed = disclose(rows, count_fields=counts, derived_fields=["median_hours_to_first_contact"], n_field="with_first_contact")
    audit.record(session, actor=actor, action="statistics", entity_type="consular_statistics", entity_id=None, details={"by": by, "rows": len(rows)})
    return {"by": [by], "threshold": threshold, "rows": published, "suppressed_cells": suppressed}


def crisis_label(crisis: Crisis, locale: str) -> str:
    return crisis.name_zh if locale == "zh_Hans" else crisis.name_en


def ids_of(items: Iterable[Any]) -> list[str]:
    return [item.id for item in items]
