"""Consular API under `/api/v1/consular`: registrations (the app and the hotline's system), help requests, safety
advice, crises and contact status, the outbox a message gateway pulls, evacuation and statistics. Thin: the work is
in `service.py`.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Query, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import Response

from passage.consular import evacuation, service
from passage.consular.models import HelpRequest, Registration
from passage.consular.schemas import (
    AdviceIn,
    AdviceOut,
    AffectedOut,
    AssemblyPointIn,
    AssemblyPointOut,
    AssignIn,
    CheckInIn,
    ContactStatusIn,
    CrisisIn,
    CrisisOut,
    DashboardOut,
    HelpRequestIn,
    HelpRequestOut,
    HelpRequestSummary,
    ImportResult,
    LegIn,
    LegOut,
    LocationFixOut,
    LocationUpdate,
    MessageBatchIn,
    MessageBatchOut,
    OutboxItem,
    OutboxPage,
    OutboxReportIn,
    PlanParametersIn,
    RegistrationIn,
    RegistrationOut,
    RegistrationSummary,
    RequestActionIn,
    RequestEventOut,
    SeatIn,
    SeatOut,
    StatisticsOut,
    TimerOut,
    TriageIn,
)
from passage.core.deps import DbSession
from passage.core.errors import NotFound, PayloadTooLarge
from passage.core.i18n import T_
from passage.core.settings import get_settings
from passage.security.deps import PUBLIC, require
from passage.security.models import User
from passage.security.permissions import Permission
from passage.security.schemas import Page

router = APIRouter(prefix="/consular", tags=["consular"])

Reader = Annotated[User, require(Permission.CONSULAR_READ)]
Manager = Annotated[User, require(Permission.CONSULAR_MANAGE)]
Submitter = Annotated[User, require(Permission.CONSULAR_SUBMIT)]
Evacuator = Annotated[User, require(Permission.CONSULAR_EVACUATE)]
Publisher = Annotated[User, require(Permission.CONSULAR_ADVICE)]
Gateway = Annotated[User, require(Permission.CONSULAR_OUTBOX)]
Statistician = Annotated[User, require(Permission.CONSULAR_STATS)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]


def _summary(r: Registration) -> RegistrationSummary:
    return RegistrationSummary(id=r.id, reference=r.reference, mission_id=r.mission_id, destination_country=r.destination_country, arrival_on=r.arrival_on,
                               departure_on=r.departure_on, priority_tier=r.priority_tier, duplicate_status=r.duplicate_status, active=r.active)


# --- registrations -------------------------------------------------------------------------------------


@router.post("/registrations", response_model=RegistrationSummary, status_code=201)
def create_registration(body: RegistrationIn, db: DbSession, user: Submitter) -> RegistrationSummary:
    """Register a national abroad (the app, the hotline's system, a mission). A likely duplicate is flagged, not refused."""
    return _summary(service.create_registration(db, actor=user, data=body))


@router.get("/registrations", response_model=Page[RegistrationSummary])
def list_registrations(db: DbSession, user: Reader, country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
                       reference: Annotated[str | None, Query(max_length=30)] = None,
                       duplicate_status: Annotated[Literal["none", "possible", "confirmed", "distinct"] | None, Query()] = None,
                       offset: Offset = 0, limit: Limit = 50) -> Page[RegistrationSummary]:
    rows, total = service.list_registrations(db, actor=user, country=country, reference=reference, duplicate_status=duplicate_status, offset=offset, limit=limit)
    return Page[RegistrationSummary](items=[_summary(r) for r in rows], total=total, offset=offset, limit=limit)


@router.get("/registrations/{registration_id}", response_model=RegistrationOut)
def read_registration(registration_id: str, db: DbSession, user: Reader) -> RegistrationOut:
    return RegistrationOut.model_validate(service.registration_view(db, actor=user, registration_id=registration_id))


@router.post("/registrations/{registration_id}/location", response_model=RegistrationSummary)
def update_location(registration_id: str, body: LocationUpdate, db: DbSession, user: Manager) -> RegistrationSummary:
    return _summary(service.update_location(db, actor=user, registration_id=registration_id, location=body.location, source=body.source, version=body.version))


@router.get("/registrations/{registration_id}/location-history", response_model=list[LocationFixOut])
def location_history(registration_id: str, db: DbSession, user: Manager) -> list[LocationFixOut]:
    """Past positions (sensitive): audited on every read; erased by the retention policy."""
    return [LocationFixOut(recorded_at=f.recorded_at, source=f.source, position=f.position) for f in service.location_history(db, actor=user, registration_id=registration_id)]


@router.post("/registrations/{registration_id}/duplicate", response_model=RegistrationSummary)
def resolve_duplicate(registration_id: str, db: DbSession, user: Manager, decision: Annotated[Literal["confirmed", "distinct"], Query()],
                      version: Annotated[int | None, Query()] = None) -> RegistrationSummary:
    return _summary(service.resolve_duplicate(db, actor=user, registration_id=registration_id, decision=decision, version=version))


@router.post("/registrations/import", response_model=ImportResult)
async def import_registrations(db: DbSession, user: Manager, file: Annotated[UploadFile, File()], dry_run: bool = False) -> ImportResult:
    """A mission's bulk CSV; every row is checked, any error refuses the file with line and column, nothing half-imported."""
    limit = get_settings().max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(T_("the file is larger than {limit} bytes", limit=limit))
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / (Path(file.filename or "registrations.csv").name or "registrations.csv")
        path.write_bytes(data)
        return service.import_registrations(db, actor=user, path=path, dry_run=dry_run)


# --- help requests -------------------------------------------------------------------------------------


def _request_summary(r: HelpRequest) -> dict[str, Any]:
    return {"id": r.id, "reference": r.reference, "mission_id": r.mission_id, "channel": r.channel, "category": r.category, "urgency": r.urgency,
            "status": r.status, "country": r.country, "received_at": r.received_at,
            "timers": [TimerOut(name=t.name, due_at=t.due_at, state=t.state, remaining_seconds=t.remaining_seconds) for t in service.timers(r)]}


def _request_out(r: HelpRequest) -> HelpRequestOut:
    return HelpRequestOut(**_request_summary(r), version=r.version, registration_id=r.registration_id, crisis_id=r.crisis_id, caller=r.caller, summary=r.summary,
                          first_contact_at=r.first_contact_at, resolved_at=r.resolved_at, outcome=r.outcome, assigned_to=r.assigned_to,
                          events=[RequestEventOut(occurred_at=e.occurred_at, kind=e.kind, actor_id=e.actor_id, from_status=e.from_status, to_status=e.to_status,
                                                  note=e.note, due_at=e.due_at) for e in r.events])


@router.post("/help-requests", response_model=HelpRequestSummary, status_code=201)
def create_help_request(body: HelpRequestIn, db: DbSession, user: Submitter) -> HelpRequestSummary:
    return HelpRequestSummary(**_request_summary(service.create_help_request(db, actor=user, data=body)))


@router.get("/help-requests", response_model=Page[HelpRequestSummary])
def list_help_requests(db: DbSession, user: Reader, status: Annotated[str | None, Query(max_length=20)] = None,
                       urgency: Annotated[str | None, Query(max_length=10)] = None, category: Annotated[str | None, Query(max_length=30)] = None,
                       crisis_id: Annotated[str | None, Query(max_length=32)] = None, open_only: bool = False, breached_only: bool = False,
                       offset: Offset = 0, limit: Limit = 50) -> Page[HelpRequestSummary]:
    rows, total = service.list_help_requests(db, actor=user, status=status, urgency=urgency, category=category, crisis_id=crisis_id,
                                             open_only=open_only, breached_only=breached_only, offset=offset, limit=limit)
    return Page[HelpRequestSummary](items=[HelpRequestSummary(**_request_summary(r)) for r in rows], total=total, offset=offset, limit=limit)


@router.get("/help-requests/{request_id}", response_model=HelpRequestOut)
def read_help_request(request_id: str, db: DbSession, user: Reader) -> HelpRequestOut:
    return _request_out(service.read_help_request(db, actor=user, request_id=request_id))


@router.post("/help-requests/{request_id}/triage", response_model=HelpRequestOut)
def triage(request_id: str, body: TriageIn, db: DbSession, user: Manager) -> HelpRequestOut:
    return _request_out(service.triage(db, actor=user, request_id=request_id, data=body))


@router.post("/help-requests/{request_id}/assign", response_model=HelpRequestOut)
def assign(request_id: str, body: AssignIn, db: DbSession, user: Manager) -> HelpRequestOut:
    return _request_out(service.assign(db, actor=user, request_id=request_id, data=body))


@router.post("/help-requests/{request_id}/actions", response_model=HelpRequestOut)
def act(request_id: str, body: RequestActionIn, db: DbSession, user: Manager) -> HelpRequestOut:
    return _request_out(service.act_on_request(db, actor=user, request_id=request_id, data=body))


# --- safety advice (public: the 12308 app shows it to every traveller) -----------------------------------


def _advice_out(a: Any) -> AdviceOut:
    return AdviceOut(country=a.country, version=a.version, level=a.level, title_en=a.title_en, title_zh=a.title_zh, body_en=a.body_en, body_zh=a.body_zh,
                     effective_from=a.effective_from, published_at=a.published_at)


CountryPath = Annotated[str, PathParam(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]


@router.get("/advice/{country}", response_model=AdviceOut, dependencies=[PUBLIC])
def current_advice(country: CountryPath, db: DbSession, on: dt.date | None = None) -> AdviceOut:
    """The advice in force for a country (public, bilingual)."""
    advice = service.current_advice(db, country=country, on=on)
    if advice is None:
        raise NotFound(T_("no safety advice for {country}", country=country))
    return _advice_out(advice)


@router.get("/advice/{country}/versions", response_model=list[AdviceOut], dependencies=[PUBLIC])
def advice_versions(country: CountryPath, db: DbSession) -> list[AdviceOut]:
    """Every published version, newest first (what a traveller was told, and when)."""
    return [_advice_out(a) for a in service.advice_history(db, country=country)]


@router.post("/advice", response_model=AdviceOut, status_code=201)
def publish_advice(body: AdviceIn, db: DbSession, user: Publisher) -> AdviceOut:
    return _advice_out(service.publish_advice(db, actor=user, data=body))


# --- crises --------------------------------------------------------------------------------------------


def _crisis_out(c: Any) -> CrisisOut:
    return CrisisOut(id=c.id, reference=c.reference, version=c.version, mission_id=c.mission_id, name_en=c.name_en, name_zh=c.name_zh, crisis_type=c.crisis_type,
                     country=c.country, starts_on=c.starts_on, ends_on=c.ends_on, area=c.area, admin_pcodes=c.admin_pcodes, status=c.status)


@router.post("/crises", response_model=CrisisOut, status_code=201)
def create_crisis(body: CrisisIn, db: DbSession, user: Manager) -> CrisisOut:
    return _crisis_out(service.create_crisis(db, actor=user, data=body))


@router.get("/crises", response_model=list[CrisisOut])
def list_crises(db: DbSession, user: Reader, status: Annotated[Literal["active", "closed"] | None, Query()] = None) -> list[CrisisOut]:
    return [_crisis_out(c) for c in service.list_crises(db, actor=user, status=status)]


@router.get("/crises/{crisis_id}", response_model=CrisisOut)
def read_crisis(crisis_id: str, db: DbSession, user: Reader) -> CrisisOut:
    return _crisis_out(service.load_crisis(db, actor=user, crisis_id=crisis_id))


@router.get("/crises/{crisis_id}/people", response_model=AffectedOut)
def people_in_area(crisis_id: str, db: DbSession, user: Reader,
                   status: Annotated[Literal["not_contacted", "reached", "safe", "needs_help", "missing"] | None, Query()] = None,
                   tier: Annotated[int | None, Query(ge=0, le=2)] = None, offset: Offset = 0, limit: Limit = 100) -> AffectedOut:
    """Who is registered in the crisis area, with contact status (reached, safe, needs help, missing)."""
    return AffectedOut.model_validate(service.affected_people(db, actor=user, crisis_id=crisis_id, status=status, tier=tier, offset=offset, limit=limit))


@router.put("/crises/{crisis_id}/people/{registration_id}/status")
def set_contact_status(crisis_id: str, registration_id: str, body: ContactStatusIn, db: DbSession, user: Manager) -> dict[str, Any]:
    contact = service.set_contact_status(db, actor=user, crisis_id=crisis_id, registration_id=registration_id, status=body.status, note=body.note, version=body.version)
    return {"registration_id": registration_id, "status": contact.status, "version": contact.version}


@router.post("/crises/{crisis_id}/messages", response_model=MessageBatchOut, status_code=201)
def generate_messages(crisis_id: str, body: MessageBatchIn, db: DbSession, user: Manager) -> MessageBatchOut:
    """Mass messages per language into the outbox (no sending: a gateway pulls them)."""
    return MessageBatchOut.model_validate(service.generate_messages(db, actor=user, crisis_id=crisis_id, kind=body.kind, statuses=body.statuses))


# --- the outbox a gateway pulls -----------------------------------------------------------------------


@router.get("/outbox", response_model=OutboxPage)
def pull_outbox(db: DbSession, user: Gateway, after: Annotated[int, Query(ge=0)] = 0, limit: Limit = 100) -> OutboxPage:
    """Queued messages after the cursor (marked pulled); call again with `after=next_cursor`."""
    messages, cursor = service.pull_outbox(db, actor=user, after=after, limit=limit)
    return OutboxPage(items=[OutboxItem(id=m.id, batch_id=m.batch_id, crisis_id=m.crisis_id, language=m.language, kind=m.kind, recipient=m.recipient,
                                        body=m.body, created_at=m.created_at) for m in messages], next_cursor=cursor)


@router.post("/outbox/report")
def report_outbox(body: OutboxReportIn, db: DbSession, user: Gateway) -> dict[str, int]:
    return {"updated": service.report_outbox(db, actor=user, ids=body.ids, status=body.status)}


# --- evacuation ----------------------------------------------------------------------------------------


@router.post("/crises/{crisis_id}/assembly-points", response_model=AssemblyPointOut, status_code=201)
def add_assembly_point(crisis_id: str, body: AssemblyPointIn, db: DbSession, user: Evacuator) -> AssemblyPointOut:
    p = service.add_assembly_point(db, actor=user, crisis_id=crisis_id, data=body)
    return AssemblyPointOut(id=p.id, version=p.version, code=p.code, name=p.name, latitude=p.latitude, longitude=p.longitude, capacity=p.capacity)


@router.get("/crises/{crisis_id}/assembly-points", response_model=list[AssemblyPointOut])
def list_assembly_points(crisis_id: str, db: DbSession, user: Reader) -> list[AssemblyPointOut]:
    crisis = service.load_crisis(db, actor=user, crisis_id=crisis_id)
    return [AssemblyPointOut(id=p.id, version=p.version, code=p.code, name=p.name, latitude=p.latitude, longitude=p.longitude, capacity=p.capacity)
            for p in service.assembly_points(db, crisis=crisis)]


@router.post("/crises/{crisis_id}/legs", response_model=LegOut, status_code=201)
def add_leg(crisis_id: str, body: LegIn, db: DbSession, user: Evacuator) -> LegOut:
    return LegOut.model_validate(service.leg_out(service.add_leg(db, actor=user, crisis_id=crisis_id, data=body), 0))


@router.get("/crises/{crisis_id}/legs", response_model=list[LegOut])
def list_legs(crisis_id: str, db: DbSession, user: Reader) -> list[LegOut]:
    crisis = service.load_crisis(db, actor=user, crisis_id=crisis_id)
    taken = service.seats_taken(db, crisis=crisis)
    return [LegOut.model_validate(service.leg_out(leg, taken.get(leg.id, 0))) for leg in service.legs(db, crisis=crisis)]


@router.post("/crises/{crisis_id}/legs/{leg_id}/seats", response_model=SeatOut, status_code=201)
def assign_seat(crisis_id: str, leg_id: str, body: SeatIn, db: DbSession, user: Evacuator) -> SeatOut:
    a = service.assign_seat(db, actor=user, crisis_id=crisis_id, leg_id=leg_id, registration_id=body.registration_id, seat_number=body.seat_number)
    return SeatOut(id=a.id, leg_id=a.leg_id, seat_number=a.seat_number, registration_id=a.registration_id, status=a.status, version=a.version)


@router.delete("/crises/{crisis_id}/seats/{assignment_id}", status_code=204)
def release_seat(crisis_id: str, assignment_id: str, db: DbSession, user: Evacuator, version: Annotated[int | None, Query()] = None) -> Response:
    service.release_seat(db, actor=user, crisis_id=crisis_id, assignment_id=assignment_id, version=version)
    return Response(status_code=204)


@router.post("/crises/{crisis_id}/legs/{leg_id}/check-in", response_model=SeatOut)
def check_in(crisis_id: str, leg_id: str, body: CheckInIn, db: DbSession, user: Evacuator) -> SeatOut:
    a = service.check_in(db, actor=user, crisis_id=crisis_id, leg_id=leg_id, registration_id=body.registration_id, event=body.event)
    return SeatOut(id=a.id, leg_id=a.leg_id, seat_number=a.seat_number, registration_id=a.registration_id, status=a.status, version=a.version)


@router.get("/crises/{crisis_id}/legs/{leg_id}/manifest")
def leg_manifest(crisis_id: str, leg_id: str, db: DbSession, user: Evacuator) -> dict[str, Any]:
    """Passenger list with names and passport numbers (audited)."""
    leg, people = service.manifest(db, actor=user, crisis_id=crisis_id, leg_id=leg_id)
    return {"leg": service.leg_out(leg, len(people)), "passengers": people}


@router.post("/crises/{crisis_id}/evacuation/plan")
def plan(crisis_id: str, db: DbSession, user: Evacuator, body: PlanParametersIn | None = None) -> dict[str, Any]:
    """A plan for everyone in the area without a seat (not booked: review it, then POST it to /apply)."""
    parameters = evacuation.Parameters(**(body or PlanParametersIn()).model_dump())
    return service.plan_for_crisis(db, actor=user, crisis_id=crisis_id, parameters=parameters)


@router.post("/crises/{crisis_id}/evacuation/apply")
def apply_plan(crisis_id: str, body: dict[str, Any], db: DbSession, user: Evacuator) -> dict[str, int]:
    return {"seats_booked": service.apply_plan(db, actor=user, crisis_id=crisis_id, plan=body)}


@router.get("/crises/{crisis_id}/dashboard", response_model=DashboardOut)
def dashboard(crisis_id: str, db: DbSession, user: Reader) -> DashboardOut:
    return DashboardOut.model_validate(service.dashboard(db, actor=user, crisis_id=crisis_id))


# --- statistics ----------------------------------------------------------------------------------------


@router.get("/statistics", response_model=StatisticsOut)
def statistics(db: DbSession, user: Statistician, by: Annotated[Literal["crisis", "country", "category"], Query()] = "country",
               date_from: dt.date | None = None, date_to: dt.date | None = None) -> StatisticsOut:
    """Requests, time to first contact, outcomes and people evacuated; small cells suppressed."""
    return StatisticsOut.model_validate(service.statistics(db, actor=user, by=by, date_from=date_from, date_to=date_to))
